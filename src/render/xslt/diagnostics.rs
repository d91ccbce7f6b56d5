//! What libxml2 and libxslt report: every message of the current operation on this thread,
//! bounded in count and size, and where the fault is ([`Location`]), kept as data from the
//! moment it is reported: libxml2's structured errors carry file and line; libxslt 1.1's
//! only report is its context line (`compilation error: file PATH line N element NAME`),
//! read once, here, as it arrives; the loader adds the location of a nested failure (a
//! module that does not parse, or that the lint refuses).

use super::*;

thread_local! {
    /// Messages libxml2/libxslt reported on this thread during the current operation.
    pub(super) static MESSAGES: RefCell<Messages> = const { RefCell::new(Messages::new()) };
}

/// A file and, when known, a 1-based line in it: the place an operator must open.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
pub struct Location {
    /// The file, as libxml2/libxslt named it (absolute for stylesheets).
    pub file: String,
    /// The line, when it is known.
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

/// Where the faults of one operation were reported, by kind of report.
#[derive(Debug, Clone, Default)]
pub(super) struct Where {
    /// libxslt's context line: the stylesheet module and line of the instruction at fault.
    pub(super) context: Option<Location>,
    /// A nested failure reported by the loader (an imported module).
    pub(super) nested: Option<Location>,
    /// libxml2's first structured error with a line: `file` is `None` when libxml2 gave none.
    pub(super) first: Option<(Option<String>, u32)>,
}

impl Where {
    fn first_in(&self, file: &str) -> Option<Location> {
        self.first.as_ref().map(|(f, line)| Location {
            file: f.clone().unwrap_or_else(|| file.to_owned()),
            line: Some(*line),
        })
    }

    /// For a document that did not parse: the nested failure, else the first line
    /// libxml2 gave, else the file alone.
    pub(super) fn of_parse(&self, file: &str) -> Location {
        self.nested
            .clone()
            .or_else(|| self.first_in(file))
            .unwrap_or_else(|| at(file, None))
    }

    /// For a stylesheet that did not compile: a nested failure (an imported module that did
    /// not parse or was refused: the cause, while libxslt's context then only names the
    /// `xsl:include`), else libxslt's context, else the first line libxml2 gave, else the
    /// main file.
    pub(super) fn of_compile(&self, file: &str) -> Location {
        self.nested
            .clone()
            .or_else(|| self.context.clone())
            .or_else(|| self.first_in(file))
            .unwrap_or_else(|| at(file, None))
    }

    /// For a transform that failed: libxslt's context or a nested failure, if any.
    pub(super) fn of_transform(&self) -> Option<Location> {
        self.context.clone().or_else(|| self.nested.clone())
    }
}

pub(super) fn at(file: &str, line: Option<u32>) -> Location {
    Location {
        file: file.to_owned(),
        line,
    }
}

pub(super) struct Messages {
    pub(super) lines: Vec<String>,
    pub(super) dropped: usize,
    pub(super) at: Where,
}

impl Messages {
    pub(super) const fn new() -> Self {
        Messages {
            lines: Vec::new(),
            dropped: 0,
            at: Where {
                context: None,
                nested: None,
                first: None,
            },
        }
    }

    /// Records a nested failure's location, unless one is known already.
    pub(super) fn nested_at(&mut self, location: Option<Location>) {
        if self.at.nested.is_none() {
            self.at.nested = location;
        }
    }

    pub(super) fn push(&mut self, line: String) {
        self.note(|| line);
    }

    /// Keeps the message `make` builds, or only counts it once the quota is used, without
    /// building it.
    pub(super) fn note(&mut self, make: impl FnOnce() -> String) {
        if self.lines.len() >= MAX_MESSAGES {
            self.dropped += 1;
            return;
        }
        let line = make();
        let line = line.trim_end();
        if line.is_empty() {
            return;
        }
        let mut line = line.to_owned();
        if line.len() > MAX_MESSAGE_BYTES {
            line.truncate(line.floor_char_boundary_compat(MAX_MESSAGE_BYTES));
            line.push_str("...");
        }
        self.lines.push(line);
    }

    pub(super) fn take(&mut self) -> (String, Where) {
        let at = std::mem::take(&mut self.at);
        let mut out = self.lines.join("; ");
        if self.dropped > 0 {
            out.push_str(&format!(" ({} more errors suppressed)", self.dropped));
        }
        if out.is_empty() {
            out.push_str(NO_DIAGNOSTIC);
        }
        self.lines.clear();
        self.dropped = 0;
        (out, at)
    }
}

pub(super) trait FloorCharBoundary {
    fn floor_char_boundary_compat(&self, index: usize) -> usize;
}

impl FloorCharBoundary for String {
    fn floor_char_boundary_compat(&self, index: usize) -> usize {
        let mut i = index.min(self.len());
        while !self.is_char_boundary(i) {
            i -= 1;
        }
        i
    }
}

/// The messages of the current operation, and where they place the fault.
pub(super) fn take_messages() -> (String, Where) {
    MESSAGES.with(|m| m.borrow_mut().take())
}

pub(super) fn clear_messages() {
    MESSAGES.with(|m| {
        let _ = m.borrow_mut().take();
    });
}

/// Whether libxslt reported an error with its context line during the current operation.
pub(super) fn compilation_error_reported() -> bool {
    MESSAGES.with(|m| m.borrow().at.context.is_some())
}

fn leading_number(s: &str) -> Option<u32> {
    let digits: String = s.chars().take_while(|c| c.is_ascii_digit()).collect();
    digits.parse().ok()
}

/// libxslt's context line, `... error: file PATH line N element ...` (xsltPrintErrorContext,
/// libxslt's only way of saying where a fault is).
fn libxslt_context(message: &str) -> Option<Location> {
    for (i, _) in message.match_indices("error: file ") {
        let rest = &message[i + "error: file ".len()..];
        let Some(sep) = rest.find(" line ") else {
            continue;
        };
        if let Some(line) = leading_number(&rest[sep + " line ".len()..]) {
            return Some(at(&rest[..sep], (line > 0).then_some(line)));
        }
    }
    None
}

/// Receives every formatted libxml2/libxslt message (from the C trampoline).
#[no_mangle]
pub(super) extern "C" fn vitrine_xml_message(_ctx: *mut c_void, msg: *const c_char) {
    if msg.is_null() {
        return;
    }
    MESSAGES.with(|m| {
        let mut m = m.borrow_mut();
        if m.at.context.is_none() {
            // Read even past the message quota: where the fault is matters more than its text.
            // SAFETY: the trampoline passes a NUL-terminated buffer that lives for this call.
            let text = unsafe { CStr::from_ptr(msg) }.to_string_lossy();
            m.at.context = libxslt_context(&text);
            let text = text.into_owned();
            m.note(|| text);
        } else {
            m.note(|| {
                // SAFETY: as above.
                unsafe { CStr::from_ptr(msg) }
                    .to_string_lossy()
                    .into_owned()
            });
        }
    });
}

/// libxml2's structured error callback: keeps the message, and file and line as data.
pub(super) extern "C" fn structured_error(_ctx: *mut c_void, error: ErrorPtr) {
    if error.is_null() {
        return;
    }
    // SAFETY: libxml2 passes a valid error record for the duration of the callback; its
    // strings are NUL-terminated or NULL.
    let (message, file, line) = unsafe {
        let e = &*error;
        let text = |p: *mut c_char| {
            (!p.is_null()).then(|| CStr::from_ptr(p).to_string_lossy().into_owned())
        };
        (text(e.message), text(e.file), e.line)
    };
    MESSAGES.with(|m| {
        let mut m = m.borrow_mut();
        if line > 0 && m.at.first.is_none() {
            m.at.first = Some((file, u32::try_from(line).unwrap_or(0)));
        }
        m.note(|| {
            let msg = message.unwrap_or_else(|| String::from("unknown error"));
            format!("line {line}: {}", msg.trim_end())
        });
    });
}
