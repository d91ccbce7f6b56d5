//! The stylesheet lint: what a theme module may contain before libxslt compiles it.
//!
//! It runs on the main file of a theme and, from the confined loader, on every module it
//! imports or includes, before libxslt sees them. It refuses:
//!
//! - on libxslt before 1.1.38 ([`super::versions::sort_avt_unsafe`]), `xsl:sort` with an
//!   attribute value template in `data-type`, `order`, `lang` or `case-order`: those
//!   versions write into the shared compiled stylesheet while sorting (libxslt issue #78),
//!   which corrupts the heap when several threads render; 1.1.38 fixed it, and there such a
//!   sort is allowed;
//! - extension namespaces outside [`ALLOWED_FUNCTIONS`] in `extension-element-prefixes`,
//!   any extension element (the allowed modules contribute none; `exsl:document`,
//!   `saxon:output`, `xalan:write` and `xsl:document` write files), and calls of extension
//!   functions outside the allow-list, including names given to `function-available` and
//!   `element-available`. An unknown extension namespace makes libxslt look for a plugin
//!   (`$LIBXSLT_PLUGINS_PATH/<namespace>.so`) and `dlopen` it, at compile time and again at
//!   every call during transforms, so refusing them keeps that code path unreachable;
//! - `disable-output-escaping="yes"`, which would pass a site's text through as markup;
//! - an element of the XSLT namespace that XSLT 1.0 does not define (`xsl:value-off`): libxslt
//!   reports it but still compiles the theme, whose pages would then lack what it should
//!   write. The message suggests the instruction meant.
//!
//! # The allow-list and why
//!
//! Only pure, deterministic functions: a page must be a function of its site file, its theme
//! and the publisher's parameters, because ETags and `304 Not Modified` are computed from
//! exactly those. EXSLT `common` (`exsl:node-set`, `exsl:object-type`), `strings` (`str:*`;
//! `str:padding` is capped at 100,000 characters by libexslt), `math` except `math:random`, and
//! `sets`. Refused: `date` (`date:date-time()` reads the clock), `dyn` (`dyn:evaluate`
//! compiles expressions from data, out of this lint's sight), `func` (user functions; its
//! `func:result` had a memory-safety flaw, CVE-2025-11731, with no fix on this libxslt),
//! `crypto`, and the libxslt, Saxon, Xalan and XT vendor namespaces.
//!
//! Every message names the file and line and says what to do instead.

use super::dom::{Node, XSLT_NS};

/// Extension functions themes may call: namespace, usual prefix, local names. These modules
/// and only these are registered with libxslt at start-up.
pub const ALLOWED_FUNCTIONS: &[(&str, &str, &[&str])] = &[
    (
        "http://exslt.org/common",
        "exsl",
        &["node-set", "object-type"],
    ),
    (
        "http://exslt.org/strings",
        "str",
        &[
            "tokenize",
            "split",
            "encode-uri",
            "decode-uri",
            "padding",
            "align",
            "concat",
            "replace",
        ],
    ),
    (
        "http://exslt.org/math",
        "math",
        &[
            "min", "max", "highest", "lowest", "constant", "abs", "sqrt", "power", "log", "sin",
            "cos", "tan", "asin", "acos", "atan", "atan2", "exp",
        ],
    ),
    (
        "http://exslt.org/sets",
        "set",
        &[
            "difference",
            "intersection",
            "distinct",
            "has-same-node",
            "leading",
            "trailing",
        ],
    ),
];

/// Namespaces in which libxslt or libexslt implement extension elements (or might load a
/// plugin for one): an element in one of them is never a plain literal result element here.
const EXTENSION_NAMESPACES: &[&str] = &[
    "http://exslt.org/",
    "http://xmlsoft.org/XSLT/",
    "http://icl.com/saxon",
    "http://saxon.sf.net/",
    "http://nwalsh.com/xslt/ext/",
    "org.apache.xalan.xslt.extensions.Redirect",
    "http://xml.apache.org/xalan",
    "http://www.jclark.com/xt",
];

/// The elements of XSLT 1.0 (section B of the recommendation). libxslt reports any other
/// element in the XSLT namespace as a compilation error but still returns a stylesheet,
/// which would then skip it at every render.
const XSLT_ELEMENTS: &[&str] = &[
    "apply-imports",
    "apply-templates",
    "attribute",
    "attribute-set",
    "call-template",
    "choose",
    "comment",
    "copy",
    "copy-of",
    "decimal-format",
    "element",
    "fallback",
    "for-each",
    "if",
    "import",
    "include",
    "key",
    "message",
    "namespace-alias",
    "number",
    "otherwise",
    "output",
    "param",
    "preserve-space",
    "processing-instruction",
    "sort",
    "strip-space",
    "stylesheet",
    "template",
    "text",
    "transform",
    "value-of",
    "variable",
    "when",
    "with-param",
];

/// The candidate closest to `word` by edit distance, if it is at most two edits away.
fn nearest<'a>(word: &str, candidates: &[&'a str]) -> Option<&'a str> {
    fn distance(a: &str, b: &str) -> usize {
        let b: Vec<char> = b.chars().collect();
        let mut row: Vec<usize> = (0..=b.len()).collect();
        for (i, ca) in a.chars().enumerate() {
            let mut prev = row[0];
            row[0] = i + 1;
            for (j, cb) in b.iter().enumerate() {
                let cur = row[j + 1];
                row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
                prev = cur;
            }
        }
        row[b.len()]
    }
    candidates
        .iter()
        .map(|c| (distance(word, c), *c))
        .filter(|(d, _)| *d <= 2)
        .min()
        .map(|(_, c)| c)
}

/// XSLT attributes whose whole value is an XPath expression or pattern.
const EXPRESSION_ATTRIBUTES: &[&str] =
    &["select", "test", "match", "use", "count", "from", "value"];

const ALLOWED_HINT: &str = "themes may call only XSLT 1.0 functions and exsl:node-set, \
    exsl:object-type, str:*, math:* (not math:random) and set:* from EXSLT (see SECURITY.md)";

/// One thing the lint refuses: where, and what to do instead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LintProblem {
    /// The module and line of the construct.
    pub at: super::Location,
    /// What is wrong and what to do instead.
    pub what: String,
}

impl std::fmt::Display for LintProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.at, self.what)
    }
}

/// Checks one stylesheet module (`root` is its root element); `file` names it in messages.
/// Returns every problem found (displayed as `file:line: what; what to do`).
pub fn lint_module(root: Node<'_>, file: &str) -> Result<(), Vec<LintProblem>> {
    let mut problems = Vec::new();
    for node in root.descendants() {
        check_element(node, file, &mut problems);
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems)
    }
}

/// Checks one element and its attributes (not its children).
fn check_element(node: Node<'_>, file: &str, problems: &mut Vec<LintProblem>) {
    let mut problem = |what: String| {
        problems.push(LintProblem {
            at: super::Location {
                file: file.to_owned(),
                line: u32::try_from(node.line()).ok().filter(|&l| l > 0),
            },
            what,
        })
    };
    let ns = node.namespace().unwrap_or("");
    let qname = match node.prefix() {
        Some(p) => format!("{p}:{}", node.name()),
        None => node.name().to_owned(),
    };
    let is_xslt = ns == XSLT_NS;
    if is_xslt {
        match node.name() {
            "sort" if super::versions::sort_avt_unsafe() => {
                for attr in ["data-type", "order", "lang", "case-order"] {
                    if node.attr(attr).is_some_and(|v| v.contains('{')) {
                        problem(format!(
                            "xsl:sort with an attribute value template in {attr} is not \
                             thread-safe on this libxslt; write a literal value (or one xsl:sort \
                             per case inside xsl:choose)"
                        ));
                    }
                }
            }
            "document" => problem(
                "xsl:document writes files and is not allowed; a theme produces one page"
                    .to_owned(),
            ),
            "text" | "value-of"
                if node.attr("disable-output-escaping").as_deref() == Some("yes") =>
            {
                problem(
                    "disable-output-escaping=\"yes\" would let a site's text inject markup \
                     or script into its pages; remove it (build elements with XSLT instead)"
                        .to_owned(),
                )
            }
            name if !XSLT_ELEMENTS.contains(&name) => problem(format!(
                "xsl:{name} is not an XSLT 1.0 instruction{}; libxslt would skip it and the \
                 pages would silently lose what it should write",
                nearest(name, XSLT_ELEMENTS)
                    .map(|n| format!(" (did you mean xsl:{n}?)"))
                    .unwrap_or_default()
            )),
            _ => {}
        }
    } else if !ns.is_empty() && EXTENSION_NAMESPACES.iter().any(|e| ns.starts_with(e)) {
        problem(format!(
            "extension element {qname} ({ns}) is not allowed (extension elements can write \
             files or load plugins); remove it and use XSLT 1.0 instructions"
        ));
    }

    for attr in node.attributes() {
        let attr_is_xslt = attr.namespace == Some(XSLT_NS);
        let declares_extensions = attr.name == "extension-element-prefixes"
            && ((is_xslt && attr.namespace.is_none()) || (!is_xslt && attr_is_xslt));
        if declares_extensions {
            for prefix in attr.value.split_ascii_whitespace() {
                let lookup = if prefix == "#default" {
                    None
                } else {
                    Some(prefix)
                };
                match node.lookup_namespace(lookup) {
                    Some(uri) if allowed_namespace(&uri) => {}
                    Some(uri) => problem(format!(
                        "extension-element-prefixes names {prefix} = {uri}, which is not an \
                         allowed extension namespace: an unknown one makes libxslt look for a \
                         plugin to load; remove it ({ALLOWED_HINT})"
                    )),
                    None => problem(format!(
                        "extension-element-prefixes names {prefix}, which has no namespace \
                         declaration here; remove it"
                    )),
                }
            }
            continue;
        }
        let expressions: Vec<&str> =
            if is_xslt && attr.namespace.is_none() && EXPRESSION_ATTRIBUTES.contains(&attr.name) {
                vec![attr.value.as_str()]
            } else if attr_is_xslt && !is_xslt {
                // xsl:use-attribute-sets, xsl:version... on literal result elements: no
                // expressions.
                Vec::new()
            } else {
                avt_expressions(&attr.value)
            };
        for expr in expressions {
            for call in calls(expr) {
                if let Some(what) = check_call(&node, &call) {
                    problem(what);
                }
            }
        }
    }
}

fn allowed_namespace(uri: &str) -> bool {
    ALLOWED_FUNCTIONS.iter().any(|(ns, _, _)| *ns == uri)
}

fn allowed_function(uri: &str, local: &str) -> bool {
    ALLOWED_FUNCTIONS
        .iter()
        .any(|(ns, _, names)| *ns == uri && names.contains(&local))
}

/// What is wrong with one function call, if anything.
fn check_call(node: &Node<'_>, call: &Call<'_>) -> Option<String> {
    match call.prefix {
        Some(prefix) => {
            let shown = format!("{prefix}:{}()", call.local);
            match node.lookup_namespace(Some(prefix)) {
                None => Some(format!(
                    "{shown}: prefix {prefix} has no namespace declaration; declare it or \
                     remove the call"
                )),
                Some(uri) if allowed_function(&uri, call.local) => None,
                Some(uri) => Some(format!(
                    "{shown} ({uri}) is not an allowed extension function; {ALLOWED_HINT}"
                )),
            }
        }
        None if call.local == "function-available" || call.local == "element-available" => {
            let elements = call.local == "element-available";
            let Some(name) = call.literal_arg else {
                return Some(format!(
                    "{}() must be given a string literal, so the name can be checked here",
                    call.local
                ));
            };
            let (prefix, local) = name.trim().split_once(':')?;
            let uri = node.lookup_namespace(Some(prefix))?;
            let fine = if elements {
                uri == XSLT_NS
            } else {
                allowed_function(&uri, local)
            };
            (!fine).then(|| {
                format!(
                    "{}('{name}') asks about {uri}, which is not allowed here (libxslt would \
                     look for a plugin to load); {ALLOWED_HINT}",
                    call.local
                )
            })
        }
        None => None,
    }
}

/// A function call found in an XPath expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call<'a> {
    /// The prefix, for an extension function.
    pub prefix: Option<&'a str>,
    /// The local name.
    pub local: &'a str,
    /// The first argument, when it is a string literal.
    pub literal_arg: Option<&'a str>,
}

/// The function calls of an XPath 1.0 expression or pattern: a name (possibly prefixed) that
/// is followed by `(`, outside string literals, that is not a variable reference. Node tests
/// such as `text()` come out as unprefixed calls, which the lint ignores. Axis names
/// (`child::`) and name tests (`p:name`, `p:*`) are not calls.
pub fn calls(expr: &str) -> Vec<Call<'_>> {
    let b = expr.as_bytes();
    // Every delimiter is ASCII, so slicing at them always falls on a UTF-8 boundary; bytes of
    // multi-byte characters count as name characters.
    let name_start = |c: u8| c.is_ascii_alphabetic() || c == b'_' || c >= 0x80;
    let name_char = |c: u8| name_start(c) || c.is_ascii_digit() || c == b'-' || c == b'.';
    let skip_space = |mut i: usize| {
        while i < b.len() && b[i].is_ascii_whitespace() {
            i += 1;
        }
        i
    };
    let mut out = Vec::new();
    let mut i = 0;
    let mut prev = 0u8;
    while i < b.len() {
        let c = b[i];
        if c == b'\'' || c == b'"' {
            i = match b[i + 1..].iter().position(|&d| d == c) {
                Some(p) => i + 1 + p + 1,
                None => b.len(),
            };
            prev = c;
            continue;
        }
        if !name_start(c) {
            if !c.is_ascii_whitespace() {
                prev = c;
            }
            i += 1;
            continue;
        }
        let start = i;
        while i < b.len() && name_char(b[i]) {
            i += 1;
        }
        let mut prefix = None;
        let mut local = &expr[start..i];
        if i + 1 < b.len() && b[i] == b':' && name_start(b[i + 1]) {
            let local_start = i + 1;
            i = local_start;
            while i < b.len() && name_char(b[i]) {
                i += 1;
            }
            prefix = Some(local);
            local = &expr[local_start..i];
        }
        let is_variable = prev == b'$';
        prev = b'a';
        if is_variable {
            continue;
        }
        let open = skip_space(i);
        if open < b.len() && b[open] == b'(' {
            let arg = skip_space(open + 1);
            let literal_arg = match b.get(arg) {
                Some(&q) if q == b'\'' || q == b'"' => b[arg + 1..]
                    .iter()
                    .position(|&d| d == q)
                    .map(|p| &expr[arg + 1..arg + 1 + p]),
                _ => None,
            };
            out.push(Call {
                prefix,
                local,
                literal_arg,
            });
        }
    }
    out
}

/// The expressions inside an attribute value template: each `{...}` (a `}` inside a string
/// literal does not end it; `{{` is a literal brace).
pub fn avt_expressions(value: &str) -> Vec<&str> {
    let b = value.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] != b'{' {
            i += 1;
            continue;
        }
        if b.get(i + 1) == Some(&b'{') {
            i += 2;
            continue;
        }
        let start = i + 1;
        let mut j = start;
        let mut quote = 0u8;
        while j < b.len() {
            let c = b[j];
            if quote != 0 {
                if c == quote {
                    quote = 0;
                }
            } else if c == b'\'' || c == b'"' {
                quote = c;
            } else if c == b'}' {
                break;
            }
            j += 1;
        }
        out.push(&value[start..j]);
        i = j + 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(expr: &str) -> Vec<String> {
        calls(expr)
            .into_iter()
            .map(|c| match c.prefix {
                Some(p) => format!("{p}:{}", c.local),
                None => c.local.to_owned(),
            })
            .collect()
    }

    #[test]
    fn finds_function_calls_and_nothing_else() {
        assert_eq!(
            names("str:tokenize($x, ',')[1] | exsl:node-set ($t)/a:b"),
            ["str:tokenize", "exsl:node-set"]
        );
        assert_eq!(names("child::p:x/text() | ancestor::*"), ["text"]);
        assert_eq!(names("'evil:call()' and \"x:y(\""), Vec::<String>::new());
        assert_eq!(names("$p:v(1)"), Vec::<String>::new());
        assert_eq!(names("a:*[b:c('x')]"), ["b:c"]);
        assert_eq!(names("count(é:f(1))"), ["count", "é:f"]);
        let fa = calls("function-available( 'dyn:evaluate' )");
        assert_eq!(fa[0].literal_arg, Some("dyn:evaluate"));
        assert_eq!(calls("function-available($n)")[0].literal_arg, None);
        // Unterminated literals and trailing names must not panic.
        assert_eq!(names("f('"), ["f"]);
        assert_eq!(names("a:"), Vec::<String>::new());
    }

    #[test]
    fn finds_expressions_in_attribute_value_templates() {
        assert_eq!(
            avt_expressions("a{x:f()}b{{c}}{'}'}{y}"),
            ["x:f()", "'}'", "y"]
        );
        assert_eq!(avt_expressions("{unterminated"), ["unterminated"]);
        assert!(avt_expressions("plain mailto:x(y)").is_empty());
    }
}
