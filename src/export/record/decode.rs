//! Decoding one JSON line into a [`Record`], and the errors a line can have.
//!
//! Each problem is a [`FieldError`] with the JSON path of the field at fault (empty for the
//! line as a whole); the caller adds the line number. [`sniff_id`] reads the site id of a line
//! that failed, so that its errors name the site.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::formats::valid_slug;
use super::limits::MAX_LINE_BYTES;
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
    #[error("{}", .problem)]
    Json {
        /// Where and why.
        problem: FieldError,
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
            RecordError::Json { problem } => vec![problem.clone()],
            RecordError::Invalid { problems } => problems.clone(),
            other => vec![FieldError {
                path: String::new(),
                reason: other.to_string(),
            }],
        }
    }
}

/// Decodes one JSON line into a [`Record`] (not yet checked: see [`Record::check`]).
pub fn parse_line(line: &[u8]) -> Result<Record, RecordError> {
    if line.len() > MAX_LINE_BYTES {
        return Err(RecordError::TooLong { len: line.len() });
    }
    let text = std::str::from_utf8(line).map_err(|e| RecordError::NotUtf8 {
        offset: e.valid_up_to(),
    })?;
    let mut de = serde_json::Deserializer::from_str(text);
    let record: Record = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        RecordError::Json {
            problem: FieldError {
                path: if path == "." { String::new() } else { path },
                reason: json_reason(&inner),
            },
        }
    })?;
    de.end().map_err(|e| RecordError::Json {
        problem: FieldError {
            path: String::new(),
            reason: json_reason(&e),
        },
    })?;
    Ok(record)
}

/// serde_json's message without its "at line 1 column N" suffix, then the column alone (a
/// record is one line, so the line is the file's, reported by the caller).
fn json_reason(e: &serde_json::Error) -> String {
    let msg = e.to_string();
    let msg = match msg.rfind(" at line ") {
        Some(i) => msg[..i].to_owned(),
        None => msg,
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
