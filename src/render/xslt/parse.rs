//! Parsing site files, stylesheets and loaded documents with the safe options.

use super::*;

pub(super) fn parse_raw(
    bytes: &[u8],
    name: &str,
    dict: ffi::xmlDictPtr,
) -> Result<Document, XmlError> {
    thread_setup();
    if bytes.len() > MAX_XML_BYTES {
        return Err(XmlError::TooLarge {
            file: name.to_owned(),
            size: bytes.len(),
        });
    }
    let url = CString::new(name.replace('\0', "")).unwrap_or_default();
    // SAFETY: the buffer and URL outlive the call; a non-NULL dict is a live libxslt
    // dictionary handed to the loader; the returned document (or NULL) is ours.
    let doc = unsafe {
        vitrine_read_memory(
            bytes.as_ptr().cast(),
            bytes.len() as c_int,
            url.as_ptr(),
            dict,
            SAFE_PARSE_OPTIONS,
        )
    };
    let Some(ptr) = NonNull::new(doc) else {
        let (messages, at) = take_messages();
        return Err(XmlError::Parse {
            file: name.to_owned(),
            messages,
            at: Box::new(at.of_parse(name)),
        });
    };
    let doc = Document::own(ptr);
    // SAFETY: the document is alive; intSubset/extSubset are plain fields.
    let has_doctype =
        unsafe { !(*ptr.as_ptr()).intSubset.is_null() || !(*ptr.as_ptr()).extSubset.is_null() };
    if has_doctype {
        return Err(XmlError::Doctype {
            file: name.to_owned(),
        });
    }
    Ok(doc)
}

/// Parses one document from memory with the safe options. `name` is used in messages and as
/// the base URI. A site file in the exporter's subset of XML is built by the scanner of
/// `parse_fast.rs` (the same tree, faster) when [`FastPath::Scanner`] is on; anything else,
/// libxml2 parses.
pub fn parse_document(bytes: &[u8], name: &str) -> Result<Document, XmlError> {
    parse_document_with(bytes, name, engine().active.has(FastPath::Scanner)).map(|(doc, _)| doc)
}

/// [`parse_document`], with the scanner or without it; says whether the scanner built it.
pub(super) fn parse_document_with(
    bytes: &[u8],
    name: &str,
    scanner: bool,
) -> Result<(Document, bool), XmlError> {
    clear_messages();
    if scanner && bytes.len() <= MAX_XML_BYTES {
        thread_setup();
        let url = CString::new(name.replace('\0', "")).unwrap_or_default();
        if let Some(ptr) = parse_fast::parse(bytes, &url, SAFE_PARSE_OPTIONS).and_then(NonNull::new)
        {
            return Ok((Document::own(ptr), true));
        }
    }
    parse_raw(bytes, name, ptr::null_mut()).map(|doc| (doc, false))
}

/// The two parsers of [`parse_document`] side by side, for the differential fuzz target and
/// the benchmark tools' test on their generated corpus (both outside this crate, hence
/// public but hidden): the dump of the tree the fast parser builds (`None` when it declines
/// the document) and, only then, of the tree libxml2 builds (`None` when libxml2 refuses
/// it). Whenever the first is `Some`, the second must be the same.
#[doc(hidden)]
pub fn compare_parsers(bytes: &[u8]) -> (Option<String>, Option<String>) {
    clear_messages();
    thread_setup();
    if bytes.len() > MAX_XML_BYTES {
        return (None, None);
    }
    let fast = parse_fast::parse(bytes, c"fuzz.xml", SAFE_PARSE_OPTIONS)
        .and_then(NonNull::new)
        .map(|ptr| {
            // Owned, so that it is freed once dumped.
            let doc = Document::own(ptr);
            parse_fast::dump(doc.ptr.as_ptr())
        });
    if fast.is_none() {
        return (None, None);
    }
    let slow = parse_raw(bytes, "fuzz.xml", ptr::null_mut())
        .ok()
        .map(|doc| parse_fast::dump(doc.ptr.as_ptr()));
    (fast, slow)
}
