//! Decoding one JSON line into a [`Record`], and the errors a line can have.
//!
//! Each problem is a [`FieldError`] with the JSON path of the field at fault (empty for the
//! line as a whole); the caller adds the line number. [`sniff_id`] reads the site id of a line
//! that failed, so that its errors name the site.

use std::fmt;

use serde::{Deserialize, Serialize};

use serde_path_to_error::Segment;

use super::formats::valid_slug;
use super::limits::{MAX_LINE_BYTES, MAX_PROBLEMS};
use super::rules::Rules;
use super::types::Record;

/// One problem of a record, at a field path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    /// Path of the field (`pages[1].sections[0].blocks[2].services[0].price.amount`), empty for
    /// the record as a whole.
    pub path: String,
    /// What is wrong and what is expected.
    pub reason: String,
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            f.write_str(&self.reason)
        } else {
            write!(f, "{}: {}", self.path, self.reason)
        }
    }
}

/// Why a line is not an acceptable record.
#[derive(Debug, Clone, thiserror::Error)]
pub enum RecordError {
    /// Longer than [`MAX_LINE_BYTES`]; not decoded.
    #[error("line of {len} bytes is over the {MAX_LINE_BYTES}-byte limit for one record")]
    TooLong {
        /// Its length in bytes.
        len: usize,
    },
    /// Not UTF-8.
    #[error("line is not valid UTF-8 (byte {offset}); records are UTF-8 JSON")]
    NotUtf8 {
        /// Offset of the first bad byte.
        offset: usize,
    },
    /// Not JSON, or JSON of the wrong shape (missing field, unknown field, wrong type).
    #[error("{}", list(.problems))]
    Json {
        /// Where and why: every fault of the shape, not only the first serde meets (at most
        /// [`MAX_PROBLEMS`], then one saying how many more); a syntax error is one.
        problems: Vec<FieldError>,
    },
    /// Decoded, but breaks the rules of the data contract.
    #[error("{}", list(.problems))]
    Invalid {
        /// The problems (at most [`MAX_PROBLEMS`](super::MAX_PROBLEMS)).
        problems: Vec<FieldError>,
    },
}

fn list(problems: &[FieldError]) -> String {
    problems
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

impl RecordError {
    /// The problems as field errors.
    pub fn problems(&self) -> Vec<FieldError> {
        match self {
            RecordError::Json { problems } | RecordError::Invalid { problems } => problems.clone(),
            other => vec![FieldError {
                path: String::new(),
                reason: other.to_string(),
            }],
        }
    }
}

/// Decodes one JSON line into a [`Record`] (not yet checked: see [`Record::check`]). A line of
/// the wrong shape gets every shape fault (see [`RecordError::Json`]).
pub fn parse_line(line: &[u8]) -> Result<Record, RecordError> {
    decode(line).map_err(|failure| match failure {
        Failure::Line(e) => e,
        Failure::Shape { problems, .. } => RecordError::Json { problems },
    })
}

impl Rules {
    /// Decodes and checks one line: [`parse_line`] then [`Record::check`], with every fault
    /// of the record when it has faults of both kinds. A line of the wrong shape is also
    /// checked against the rules, its faulty fields set aside, so that an operator fixing a
    /// record sees all of its problems at once instead of one per export.
    pub fn check_line(&self, line: &[u8]) -> Result<Record, RecordError> {
        check_line(line, self)
    }
}

fn check_line(line: &[u8], rules: &Rules) -> Result<Record, RecordError> {
    match decode(line) {
        Ok(mut record) => record.check(rules).map(|()| record),
        Err(Failure::Line(e)) => Err(e),
        Err(Failure::Shape {
            mut problems,
            repaired,
        }) => {
            if let Some(mut repaired) = repaired {
                if let Err(e) = repaired.record.check(rules) {
                    problems.extend(e.problems().into_iter().filter(|p| {
                        // Faults of the stand-ins put where the shape was wrong are not the
                        // record's; nor is the count of the check's own cap.
                        !p.path.is_empty()
                            && !repaired.paths.iter().any(|base| under(&p.path, base))
                    }));
                }
                problems = capped(problems);
            }
            Err(RecordError::Json { problems })
        }
    }
}

/// Why [`decode`] failed.
enum Failure {
    /// The line as a whole: too long, not UTF-8, not JSON, or trailing characters.
    Line(RecordError),
    /// JSON of the wrong shape: every fault found, and the record with stand-in values
    /// where the faults were, when one could be made.
    Shape {
        problems: Vec<FieldError>,
        repaired: Option<Box<Repaired>>,
    },
}

/// A record of the wrong shape made decodable, and the paths where values were changed.
struct Repaired {
    record: Record,
    paths: Vec<String>,
}

fn decode(line: &[u8]) -> Result<Record, Failure> {
    if line.len() > MAX_LINE_BYTES {
        return Err(Failure::Line(RecordError::TooLong { len: line.len() }));
    }
    let text = std::str::from_utf8(line).map_err(|e| {
        Failure::Line(RecordError::NotUtf8 {
            offset: e.valid_up_to(),
        })
    })?;
    let mut de = serde_json::Deserializer::from_str(text);
    let record: Record = match serde_path_to_error::deserialize(&mut de) {
        Ok(record) => record,
        Err(e) => {
            let fault = Fault::of(&e);
            let problem = FieldError {
                path: fault.path.clone(),
                reason: json_reason(e.inner()),
            };
            if e.inner().classify() != serde_json::error::Category::Data {
                return Err(Failure::Line(RecordError::Json {
                    problems: vec![problem],
                }));
            }
            return Err(every_fault(text, problem, fault));
        }
    };
    de.end().map_err(|e| {
        Failure::Line(RecordError::Json {
            problems: vec![FieldError {
                path: String::new(),
                reason: json_reason(&e),
            }],
        })
    })?;
    Ok(record)
}

/// One shape fault as serde_path_to_error reports it, and where a value must change to get
/// past it.
struct Fault {
    /// The path reported (for a missing field, the object that lacks it).
    path: String,
    /// The value to change: the field itself, missing or unknown included.
    target: Vec<Segment>,
    kind: FaultKind,
}

#[derive(PartialEq)]
enum FaultKind {
    Unknown,
    Missing,
    Invalid,
}

impl Fault {
    fn of(e: &serde_path_to_error::Error<serde_json::Error>) -> Fault {
        let path = e.path().to_string();
        let path = if path == "." { String::new() } else { path };
        let mut target: Vec<Segment> = e.path().iter().cloned().collect();
        let msg = e.inner().to_string();
        let kind = if msg.starts_with("unknown field `") {
            FaultKind::Unknown
        } else if let Some(name) = msg
            .strip_prefix("missing field `")
            .and_then(|rest| rest.split('`').next())
        {
            target.push(Segment::Map {
                key: name.to_owned(),
            });
            FaultKind::Missing
        } else {
            FaultKind::Invalid
        };
        Fault { path, target, kind }
    }

    fn target_path(&self) -> String {
        let mut out = String::new();
        for seg in &self.target {
            match seg {
                Segment::Seq { index } => out.push_str(&format!("[{index}]")),
                Segment::Map { key } | Segment::Enum { variant: key } => {
                    if !out.is_empty() {
                        out.push('.');
                    }
                    out.push_str(key);
                }
                Segment::Unknown => out.push_str(".?"),
            }
        }
        out
    }
}

/// Stand-ins tried, in turn, for a value of the wrong shape or a missing one: serde stops at
/// the first fault, so each is replaced by something of the right shape to find the next.
/// Beyond the plain JSON values: `"closed"` is a day of the hours, `{"p": "-"}` a block
/// (an enum that no plain value decodes to).
fn stand_ins() -> [serde_json::Value; 8] {
    use serde_json::json;
    [
        json!(""),
        json!(0),
        json!(false),
        json!([]),
        json!({}),
        json!("closed"),
        json!({"p": "-"}),
        json!(null),
    ]
}

/// Every shape fault of `text`, whose first is `first`: the faulty value is replaced by a
/// stand-in (or an unknown field removed) and the line decoded again, until it decodes or
/// [`MAX_PROBLEMS`] are found. A fault under a stand-in (a struct stand-in lacking fields)
/// is the stand-in's, not the record's: it is repaired in turn but not reported.
fn every_fault(text: &str, first: FieldError, fault: Fault) -> Failure {
    let mut problems = vec![first];
    let Ok(mut value) = serde_json::from_str::<serde_json::Value>(text) else {
        return Failure::Shape {
            problems,
            repaired: None,
        };
    };
    let mut paths: Vec<String> = Vec::new();
    let mut tries: Vec<(String, usize)> = Vec::new();
    let mut fault = fault;
    // Each step fixes one fault; a bound, since a stand-in can fail in turn.
    for _ in 0..(MAX_PROBLEMS + 1) * stand_ins().len() {
        let target = fault.target_path();
        if fault.target.is_empty() || !repair(&mut value, &fault, &target, &mut tries) {
            break;
        }
        if !paths.iter().any(|p| under(&target, p)) {
            paths.push(target);
        }
        match serde_path_to_error::deserialize::<_, Record>(&value) {
            Ok(record) => {
                return Failure::Shape {
                    problems,
                    repaired: Some(Box::new(Repaired { record, paths })),
                }
            }
            Err(e) => {
                fault = Fault::of(&e);
                if !paths.iter().any(|p| under(&fault.target_path(), p)) {
                    problems.push(FieldError {
                        path: fault.path.clone(),
                        reason: json_reason(e.inner()),
                    });
                    if problems.len() > MAX_PROBLEMS {
                        // The rest is not searched: the count would cost a decode per
                        // fault, and ten are enough to start fixing.
                        problems.truncate(MAX_PROBLEMS);
                        problems.push(FieldError {
                            path: String::new(),
                            reason: "and more problems".to_owned(),
                        });
                        break;
                    }
                }
            }
        }
    }
    Failure::Shape {
        problems,
        repaired: None,
    }
}

/// Applies the next fix for `fault` at `target`; false when there is none left.
fn repair(
    value: &mut serde_json::Value,
    fault: &Fault,
    target: &str,
    tries: &mut Vec<(String, usize)>,
) -> bool {
    let Some((last, parent)) = fault.target.split_last() else {
        return false;
    };
    let Some(parent) = walk(value, parent) else {
        return false;
    };
    if fault.kind == FaultKind::Unknown {
        return match (parent, last) {
            (serde_json::Value::Object(map), Segment::Map { key }) => map.remove(key).is_some(),
            _ => false,
        };
    }
    let n = match tries.iter_mut().find(|(t, _)| t == target) {
        Some((_, n)) => {
            *n += 1;
            *n
        }
        None => {
            tries.push((target.to_owned(), 0));
            0
        }
    };
    let Some(stand_in) = stand_ins().into_iter().nth(n) else {
        return false;
    };
    match (parent, last) {
        (serde_json::Value::Object(map), Segment::Map { key } | Segment::Enum { variant: key }) => {
            map.insert(key.clone(), stand_in);
            true
        }
        (serde_json::Value::Array(items), Segment::Seq { index }) if *index < items.len() => {
            items[*index] = stand_in;
            true
        }
        _ => false,
    }
}

/// The value at `path` inside `value`.
fn walk<'v>(
    mut value: &'v mut serde_json::Value,
    path: &[Segment],
) -> Option<&'v mut serde_json::Value> {
    for seg in path {
        value = match (value, seg) {
            (serde_json::Value::Array(items), Segment::Seq { index }) => items.get_mut(*index)?,
            (
                serde_json::Value::Object(map),
                Segment::Map { key } | Segment::Enum { variant: key },
            ) => map.get_mut(key)?,
            _ => return None,
        };
    }
    Some(value)
}

/// Whether the field at `path` is `base` or inside it.
fn under(path: &str, base: &str) -> bool {
    match path.strip_prefix(base) {
        Some(rest) => rest.is_empty() || rest.starts_with('.') || rest.starts_with('['),
        None => false,
    }
}

/// At most [`MAX_PROBLEMS`], then one saying how many more.
fn capped(mut problems: Vec<FieldError>) -> Vec<FieldError> {
    if problems.len() > MAX_PROBLEMS {
        let more = problems.len() - MAX_PROBLEMS;
        problems.truncate(MAX_PROBLEMS);
        problems.push(FieldError {
            path: String::new(),
            reason: format!("and {more} more problems"),
        });
    }
    problems
}

/// Longest message of one shape fault, in characters.
const MAX_REASON_CHARS: usize = 300;

/// serde_json's message without its "at line 1 column N" suffix, then the column alone (a
/// record is one line, so the line is the file's, reported by the caller).
fn json_reason(e: &serde_json::Error) -> String {
    let msg = e.to_string();
    let msg = match msg.rfind(" at line ") {
        Some(i) => msg[..i].to_owned(),
        None => msg,
    };
    // serde quotes the value it refused, whole: a 2 MiB string where an object belongs
    // would make a 2 MiB message, ten times over with every fault listed.
    let msg = if msg.chars().count() > MAX_REASON_CHARS {
        let mut short: String = msg.chars().take(MAX_REASON_CHARS).collect();
        short.push('…');
        short
    } else {
        msg
    };
    let msg = if e.is_syntax() {
        format!("not valid JSON: {msg}")
    } else if e.is_eof() {
        format!("incomplete JSON: {msg}")
    } else {
        msg
    };
    if e.column() > 0 {
        format!("{msg} (column {})", e.column())
    } else {
        msg
    }
}

/// The `id` of a line that failed to decode, if it has a readable one: errors name the site.
pub fn sniff_id(line: &[u8]) -> Option<String> {
    #[derive(Deserialize)]
    struct IdOnly {
        id: String,
    }
    let id = serde_json::from_slice::<IdOnly>(line).ok()?.id;
    (valid_slug(&id)).then_some(id)
}

/// Every fault of a record, through [`Rules::check_line`]; the rest of the record format's
/// tests are in `tests`, whose [`MINIMAL`](super::tests::MINIMAL) record these edit.
#[cfg(test)]
mod every_fault_tests {
    use super::{FieldError, Rules, MAX_PROBLEMS};
    use crate::export::record::tests::MINIMAL;

    fn with(edit: impl FnOnce(&mut serde_json::Value)) -> Vec<u8> {
        let mut v: serde_json::Value = serde_json::from_str(MINIMAL).unwrap();
        edit(&mut v);
        serde_json::to_vec(&v).unwrap()
    }

    fn problems(line: &[u8]) -> Vec<FieldError> {
        match Rules::with_themes(["classic", "light", "modern"]).check_line(line) {
            Err(e) => e.problems(),
            Ok(_) => vec![],
        }
    }

    /// The paths and the reasons, for assertions that name both.
    fn listed(p: &[FieldError]) -> Vec<String> {
        p.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn a_record_with_three_faults_of_shape_lists_three() {
        let p = problems(&with(|v| {
            v["colour"] = "red".into();
            v.as_object_mut().unwrap().remove("lang");
            v["theme"] = 3.into();
        }));
        let l = listed(&p);
        assert_eq!(p.len(), 3, "{l:#?}");
        assert!(
            l.iter().any(|e| e.contains("unknown field `colour`")),
            "{l:#?}"
        );
        assert!(
            l.iter().any(|e| e.contains("missing field `lang`")),
            "{l:#?}"
        );
        assert!(
            l.iter()
                .any(|e| e.starts_with("theme: invalid type: integer `3`")),
            "{l:#?}"
        );
        // The first is serde's own, with its column.
        assert!(l[0].contains("(column "), "{l:#?}");
    }

    #[test]
    fn shape_faults_and_rule_faults_of_one_record_are_listed_together() {
        let p = problems(&with(|v| {
            v["theme"] = serde_json::json!(["classic"]);
            v["lang"] = "xx_bad".into();
            v["contact"]["address"]["postcode"] = "!".into();
        }));
        let paths: Vec<&str> = p.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(
            paths,
            ["theme", "lang", "contact.address.postcode"],
            "{p:#?}"
        );

        // Stand-ins are not the record's faults: a struct of the wrong type, a missing page
        // title, an unknown kind of block and a string where a price should be are each one
        // fault, and nothing is reported inside them.
        let p = problems(&with(|v| {
            v["contact"] = "rue de la Paix".into();
            v["pages"][0].as_object_mut().unwrap().remove("title");
            v["pages"][0]["sections"][0]["blocks"] = serde_json::json!([
                {"paragraph": "x"},
                {"services": [{"name": "n", "price": "1.30"}]},
                {"p": "ok"}
            ]);
            v["identity"]["name"] = " ".into();
        }));
        let l = listed(&p);
        assert_eq!(p.len(), 5, "{l:#?}");
        for want in [
            "contact: invalid type: string",
            "pages[0]: missing field `title`",
            "pages[0].sections[0].blocks[0]: unknown variant `paragraph`",
            "pages[0].sections[0].blocks[1].services[0].price: invalid type: string",
            "identity.name: must not be empty or blank",
        ] {
            assert!(l.iter().any(|e| e.starts_with(want)), "{want}: {l:#?}");
        }
    }

    #[test]
    fn a_record_with_many_shape_faults_lists_the_first_ones_then_says_there_are_more() {
        let p = problems(&with(|v| {
            for i in 0..MAX_PROBLEMS + 5 {
                v[format!("extra{i:02}")] = i.into();
            }
        }));
        assert_eq!(p.len(), MAX_PROBLEMS + 1, "{p:#?}");
        assert_eq!(p[MAX_PROBLEMS].path, "");
        assert_eq!(p[MAX_PROBLEMS].reason, "and more problems", "{p:#?}");
        let long = "x".repeat(100_000);
        let p = problems(&with(|v| {
            v["contact"] = long.as_str().into();
            v["identity"] = long.as_str().into();
        }));
        assert_eq!(p.len(), 2, "{p:#?}");
        assert!(p.iter().all(|e| e.reason.len() < 1000), "bounded reasons");
        // Not JSON at all is one fault: nothing past it can be read.
        assert_eq!(problems(b"{\"id\": \"x\", oops}").len(), 1);
    }
}
