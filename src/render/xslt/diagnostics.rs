//! What libxml2 and libxslt report: every message of the current operation on this thread,
//! bounded in count and size.

use super::*;

thread_local! {
    /// Messages libxml2/libxslt reported on this thread during the current operation.
    pub(super) static MESSAGES: RefCell<Messages> = const { RefCell::new(Messages::new()) };
}

pub(super) struct Messages {
    pub(super) lines: Vec<String>,
    pub(super) dropped: usize,
}

impl Messages {
    pub(super) const fn new() -> Self {
        Messages {
            lines: Vec::new(),
            dropped: 0,
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

    pub(super) fn take(&mut self) -> String {
        let mut out = self.lines.join("; ");
        if self.dropped > 0 {
            out.push_str(&format!(" ({} more errors suppressed)", self.dropped));
        }
        if out.is_empty() {
            out.push_str(NO_DIAGNOSTIC);
        }
        self.lines.clear();
        self.dropped = 0;
        out
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

pub(super) fn take_messages() -> String {
    MESSAGES.with(|m| m.borrow_mut().take())
}

pub(super) fn clear_messages() {
    MESSAGES.with(|m| {
        let mut m = m.borrow_mut();
        m.lines.clear();
        m.dropped = 0;
    });
}

/// Receives every formatted libxml2/libxslt message (from the C trampoline).
#[no_mangle]
pub(super) extern "C" fn vitrine_xml_message(_ctx: *mut c_void, msg: *const c_char) {
    if msg.is_null() {
        return;
    }
    MESSAGES.with(|m| {
        m.borrow_mut().note(|| {
            // SAFETY: the trampoline passes a NUL-terminated buffer that lives for this call.
            unsafe { CStr::from_ptr(msg) }
                .to_string_lossy()
                .into_owned()
        })
    });
}

/// libxml2's structured error callback: keeps file and line with the message.
pub(super) extern "C" fn structured_error(_ctx: *mut c_void, error: ffi::xmlErrorPtr) {
    if error.is_null() {
        return;
    }
    MESSAGES.with(|m| {
        m.borrow_mut().note(|| {
            // SAFETY: libxml2 passes a valid error record for the duration of the callback;
            // its strings are NUL-terminated or NULL.
            unsafe {
                let e = &*error;
                let msg = if e.message.is_null() {
                    String::from("unknown error")
                } else {
                    CStr::from_ptr(e.message).to_string_lossy().into_owned()
                };
                format!("line {}: {}", e.line, msg.trim_end())
            }
        })
    });
}
