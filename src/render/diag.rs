//! Where an XML or XSLT error is: the file and line an operator must open, extracted from what
//! libxml2 and libxslt said. Kept apart from [`super::xslt`] because it only reads their
//! messages (no FFI), and because every reporter (hot-reload logs, `vitrine check`, the
//! export summary) needs the same answer.
//!
//! The messages come in three shapes that matter here:
//! - libxslt's context line, `compilation error: file PATH line N element NAME` (also
//!   `runtime error: ...`): names the stylesheet file that holds the fault, which may be an
//!   imported `common/*.xsl` rather than the theme being compiled;
//! - a nested parse failure reported by the loader, `PATH: not well-formed XML: line N: ...`;
//! - libxml2's structured errors on the parsed file itself, `line N: ...`.

use serde::Serialize;

use super::xslt::XmlError;

/// A file and, when known, a 1-based line in it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Location {
    /// The file, as libxml2/libxslt named it (absolute for stylesheets).
    pub file: String,
    /// The line, when the message gives one.
    pub line: Option<u32>,
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}:{line}", self.file),
            None => f.write_str(&self.file),
        }
    }
}

/// The place to fix `err`, if it can be told.
pub fn locate(err: &XmlError) -> Option<Location> {
    match err {
        XmlError::Parse { file, messages } => Some(
            nested_parse(messages)
                .or_else(|| first_line(messages).map(|line| at(file, Some(line))))
                .unwrap_or_else(|| at(file, None)),
        ),
        XmlError::Compile { file, messages } => Some(
            libxslt_context(messages)
                .or_else(|| nested_parse(messages))
                .unwrap_or_else(|| at(file, first_line(messages))),
        ),
        XmlError::Transform { messages } => {
            libxslt_context(messages).or_else(|| nested_parse(messages))
        }
        XmlError::Doctype { file }
        | XmlError::TooLarge { file, .. }
        | XmlError::Io { file, .. } => Some(at(file, None)),
        #[allow(unreachable_patterns)]
        _ => None,
    }
}

fn at(file: &str, line: Option<u32>) -> Location {
    Location {
        file: file.to_owned(),
        line,
    }
}

fn leading_number(s: &str) -> Option<u32> {
    let digits: String = s.chars().take_while(|c| c.is_ascii_digit()).collect();
    digits.parse().ok()
}

/// `... error: file PATH line N element ...` (libxslt's xsltPrintErrorContext).
fn libxslt_context(messages: &str) -> Option<Location> {
    for (i, _) in messages.match_indices("error: file ") {
        let rest = &messages[i + "error: file ".len()..];
        let Some(sep) = rest.find(" line ") else {
            continue;
        };
        let file = &rest[..sep];
        if let Some(line) = leading_number(&rest[sep + " line ".len()..]) {
            return Some(at(file, (line > 0).then_some(line)));
        }
    }
    None
}

/// `PATH: not well-formed XML: line N: ...`, pushed by the loader for an imported file.
fn nested_parse(messages: &str) -> Option<Location> {
    const MARK: &str = ": not well-formed XML: ";
    let i = messages.find(MARK)?;
    let start = messages[..i].rfind("; ").map_or(0, |j| j + 2);
    let file = &messages[start..i];
    let rest = &messages[i + MARK.len()..];
    Some(at(file, first_line(rest)))
}

/// The first `line N:` with N > 0 (libxml2 reports line 0 when it has no position).
fn first_line(messages: &str) -> Option<u32> {
    messages
        .match_indices("line ")
        .filter_map(|(i, _)| leading_number(&messages[i + 5..]))
        .find(|&n| n > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locates_the_imported_file_of_a_compile_error() {
        let err = XmlError::Compile {
            file: "/s/classic.xsl".into(),
            messages: "line 0: Invalid expression; compilation error: file /s/common/contact.xsl line 33 element value-of; xsl:value-of : could not compile select expression '((('".into(),
        };
        assert_eq!(locate(&err), Some(at("/s/common/contact.xsl", Some(33))));
    }

    #[test]
    fn locates_parse_errors_in_the_file_or_in_an_import() {
        let own = XmlError::Parse {
            file: "/s/light.xsl".into(),
            messages: "line 60: Opening and ending tag mismatch: foo line 60 and xsl:template"
                .into(),
        };
        assert_eq!(locate(&own), Some(at("/s/light.xsl", Some(60))));
        let nested = XmlError::Compile {
            file: "/s/light.xsl".into(),
            messages: "/s/common/base.xsl: not well-formed XML: line 12: Premature end of data; compilation error: something".into(),
        };
        assert_eq!(locate(&nested), Some(at("/s/common/base.xsl", Some(12))));
        let transform = XmlError::Transform {
            messages: "runtime error: file /s/x.xsl line 7 element call-template; xsltApplySequenceConstructor: A potential infinite template recursion was detected.".into(),
        };
        assert_eq!(locate(&transform), Some(at("/s/x.xsl", Some(7))));
        assert_eq!(
            locate(&XmlError::Transform {
                messages: "no diagnostic given".into()
            }),
            None
        );
    }
}
