//! Serialises an HTML result tree to bytes, exactly as libxml2 2.9's
//! `htmlDocContentDumpFormatOutput` does with formatting off, for the trees Vitrine's themes
//! produce; anything it does not know (namespaces, an attribute value that is not plain text)
//! makes it give up, and the caller uses libxml2's serialiser instead.
//!
//! Why: libxml2 looks every element up in its HTML table by case-insensitive binary search,
//! every attribute in the boolean list by linear case-insensitive search, and allocates an
//! escaped copy of every text and attribute value before appending it to a growing buffer;
//! that was 14 % of a page's instructions (callgrind). This writer appends straight into one
//! `Vec`, remembers each element name's lookup for the rest of the page, and escapes in
//! place. Byte-for-byte equality with libxml2 is what the tests check, on every sample page
//! and on generated hostile text.

use std::ffi::CStr;

use super::ffi;

extern "C" {
    fn vitrine_html_tag_flags(name: *const u8) -> std::ffi::c_int;
    fn vitrine_text_noenc_name() -> *const u8;
    fn vitrine_text_name() -> *const u8;
}

const EMPTY: i32 = 2;
const NO_END_TAG_WHEN_EMPTY: i32 = 4;

/// libxml2's list of attributes written minimised (`<option selected>`).
const BOOLEAN_ATTRS: [&[u8]; 13] = [
    b"checked",
    b"compact",
    b"declare",
    b"defer",
    b"disabled",
    b"ismap",
    b"multiple",
    b"nohref",
    b"noresize",
    b"noshade",
    b"nowrap",
    b"readonly",
    b"selected",
];

/// Element names seen in this document and their flags. Names come from the transform's
/// dictionary, so the same name is almost always the same pointer.
struct TagCache(Vec<(*const u8, i32)>);

impl TagCache {
    /// # Safety
    /// `name` is a live NUL-terminated string.
    unsafe fn flags(&mut self, name: *const u8) -> i32 {
        if let Some(&(_, f)) = self.0.iter().find(|(p, _)| *p == name) {
            return f;
        }
        // SAFETY: as the caller promises; htmlTagLookup only reads the name.
        let f = unsafe { vitrine_html_tag_flags(name) };
        self.0.push((name, f));
        f
    }
}

/// # Safety
/// `p` is a live NUL-terminated string.
unsafe fn bytes<'a>(p: *const u8) -> &'a [u8] {
    // SAFETY: as the caller promises.
    unsafe { CStr::from_ptr(p.cast()).to_bytes() }
}

/// Writes the document, or returns `None` when it holds something this writer does not
/// reproduce exactly (then nothing of `out` is meaningful).
///
/// # Safety
/// `doc` is a live result document that nothing else reads or writes during the call, on
/// which `htmlSetMetaEncoding` has already run (as libxslt does before serialising).
pub(super) unsafe fn write_document(doc: ffi::xmlDocPtr, out: &mut Vec<u8>) -> Option<()> {
    // SAFETY: (whole function) every pointer followed is a link of the live tree (children,
    // next, parent, properties) or a string it owns, read-only, as the caller guarantees.
    unsafe {
        let noenc = vitrine_text_noenc_name();
        let text_name = vitrine_text_name();
        let mut tags = TagCache(Vec::with_capacity(32));
        let d = &*doc;
        // libxslt writes nothing for an empty result or one holding only a DTD.
        if d.children.is_null()
            || ((*d.children).type_ == ffi::xmlElementType_XML_DTD_NODE
                && (*d.children).next.is_null())
        {
            return Some(());
        }
        if !d.intSubset.is_null() {
            write_doctype(&*d.intSubset, out);
        }
        let root = doc as ffi::xmlNodePtr;
        let mut parent = root;
        let mut cur = d.children;
        loop {
            let n = &*cur;
            match n.type_ {
                ffi::xmlElementType_XML_ELEMENT_NODE => {
                    if !n.ns.is_null() || !n.nsDef.is_null() || n.parent != parent {
                        return None;
                    }
                    let flags = tags.flags(n.name);
                    out.push(b'<');
                    out.extend_from_slice(bytes(n.name));
                    let mut attr = n.properties;
                    while !attr.is_null() {
                        write_attribute(&*attr, n, out)?;
                        attr = (*attr).next;
                    }
                    if flags & EMPTY != 0 {
                        out.push(b'>');
                    } else if n.children.is_null() {
                        if flags & NO_END_TAG_WHEN_EMPTY != 0 {
                            out.push(b'>');
                        } else {
                            out.extend_from_slice(b"></");
                            out.extend_from_slice(bytes(n.name));
                            out.push(b'>');
                        }
                    } else {
                        out.push(b'>');
                        parent = cur;
                        cur = n.children;
                        continue;
                    }
                }
                ffi::xmlElementType_XML_TEXT_NODE if !n.content.is_null() => {
                    let raw = (n.name != text_name && n.name == noenc)
                        || (!parent.is_null()
                            && parent != root
                            && is_raw_text_element(bytes((*parent).name)));
                    if raw {
                        out.extend_from_slice(bytes(n.content));
                    } else {
                        escape(bytes(n.content), false, out);
                    }
                }
                ffi::xmlElementType_XML_COMMENT_NODE if !n.content.is_null() => {
                    out.extend_from_slice(b"<!--");
                    out.extend_from_slice(bytes(n.content));
                    out.extend_from_slice(b"-->");
                }
                ffi::xmlElementType_XML_PI_NODE if !n.name.is_null() => {
                    out.extend_from_slice(b"<?");
                    out.extend_from_slice(bytes(n.name));
                    if !n.content.is_null() {
                        out.push(b' ');
                        out.extend_from_slice(bytes(n.content));
                    }
                    out.push(b'>');
                }
                ffi::xmlElementType_XML_ENTITY_REF_NODE => {
                    out.push(b'&');
                    out.extend_from_slice(bytes(n.name));
                    out.push(b';');
                }
                // HTML_PRESERVE_NODE in libxml2's HTML serialiser.
                ffi::xmlElementType_XML_CDATA_SECTION_NODE if !n.content.is_null() => {
                    out.extend_from_slice(bytes(n.content));
                }
                // The DTD node (written above from intSubset) and anything else libxml2's
                // serialiser skips.
                _ => {}
            }
            // Next node: the next sibling, else close parents until one has a sibling.
            loop {
                let c = &*cur;
                if !c.next.is_null() {
                    cur = c.next;
                    break;
                }
                cur = parent;
                if cur == root {
                    out.push(b'\n');
                    return Some(());
                }
                parent = (*cur).parent;
                out.extend_from_slice(b"</");
                out.extend_from_slice(bytes((*cur).name));
                out.push(b'>');
            }
        }
    }
}

fn is_raw_text_element(name: &[u8]) -> bool {
    name.eq_ignore_ascii_case(b"script") || name.eq_ignore_ascii_case(b"style")
}

fn write_doctype(dtd: &ffi::xmlDtd, out: &mut Vec<u8>) {
    out.extend_from_slice(b"<!DOCTYPE ");
    // SAFETY: a DTD node's name, ExternalID and SystemID are NULL or NUL-terminated strings
    // of the live tree.
    unsafe {
        if !dtd.name.is_null() {
            out.extend_from_slice(bytes(dtd.name));
        }
        if !dtd.ExternalID.is_null() {
            out.extend_from_slice(b" PUBLIC ");
            write_quoted(bytes(dtd.ExternalID), out);
            if !dtd.SystemID.is_null() {
                out.push(b' ');
                write_quoted(bytes(dtd.SystemID), out);
            }
        } else if !dtd.SystemID.is_null() && bytes(dtd.SystemID) != b"about:legacy-compat" {
            out.extend_from_slice(b" SYSTEM ");
            write_quoted(bytes(dtd.SystemID), out);
        }
    }
    out.extend_from_slice(b">\n");
}

/// # Safety
/// `attr` and `elem` are live nodes of the tree being written, `attr` one of `elem`'s.
unsafe fn write_attribute(
    attr: &ffi::xmlAttr,
    elem: &ffi::xmlNode,
    out: &mut Vec<u8>,
) -> Option<()> {
    if !attr.ns.is_null() {
        return None;
    }
    // SAFETY: attribute and element names are NUL-terminated strings of the live tree.
    let name = unsafe { bytes(attr.name) };
    out.push(b' ');
    out.extend_from_slice(name);
    if attr.children.is_null() || BOOLEAN_ATTRS.iter().any(|b| b.eq_ignore_ascii_case(name)) {
        return Some(());
    }
    // The value as xmlNodeListGetString builds it: each text child escaped, concatenated.
    let mut value = Vec::new();
    let mut child = attr.children;
    while !child.is_null() {
        // SAFETY: children of a live attribute are live nodes.
        let c = unsafe { &*child };
        if c.type_ != ffi::xmlElementType_XML_TEXT_NODE {
            return None;
        }
        if !c.content.is_null() {
            // SAFETY: text content is a NUL-terminated string of the live tree.
            escape(unsafe { bytes(c.content) }, true, &mut value);
        }
        child = c.next;
    }
    out.push(b'=');
    // SAFETY: as above.
    let elem_name = unsafe { bytes(elem.name) };
    let uri = name.eq_ignore_ascii_case(b"href")
        || name.eq_ignore_ascii_case(b"action")
        || name.eq_ignore_ascii_case(b"src")
        || (name.eq_ignore_ascii_case(b"name") && elem_name.eq_ignore_ascii_case(b"a"));
    if uri {
        let start = value
            .iter()
            .position(|b| !matches!(b, b' ' | b'\t' | b'\n' | b'\r'))
            .unwrap_or(value.len());
        let mut escaped = Vec::with_capacity(value.len() - start + 8);
        uri_escape(&value[start..], &mut escaped);
        write_quoted(&escaped, out);
    } else {
        write_quoted(&value, out);
    }
    Some(())
}

/// xmlBufWriteQuotedString.
fn write_quoted(s: &[u8], out: &mut Vec<u8>) {
    if s.contains(&b'"') {
        if s.contains(&b'\'') {
            out.push(b'"');
            for &b in s {
                if b == b'"' {
                    out.extend_from_slice(b"&quot;");
                } else {
                    out.push(b);
                }
            }
            out.push(b'"');
        } else {
            out.push(b'\'');
            out.extend_from_slice(s);
            out.push(b'\'');
        }
    } else {
        out.push(b'"');
        out.extend_from_slice(s);
        out.push(b'"');
    }
}

/// xmlURIEscapeStr(value, "@/:=?;#%&,+<>"): everything but unreserved characters and that
/// list becomes %XX.
fn uri_escape(s: &[u8], out: &mut Vec<u8>) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &b in s {
        let keep = b.is_ascii_alphanumeric() || b"-_.!~*'()@/:=?;#%&,+<>".contains(&b);
        if keep {
            out.push(b);
        } else {
            out.extend_from_slice(&[b'%', HEX[(b >> 4) as usize], HEX[(b & 15) as usize]]);
        }
    }
}

/// Bytes that `escape` does not copy as they are: `<`, `>`, `&`, and the control characters
/// other than tab, line feed and carriage return. A table, because this test runs on every
/// byte of every page.
static SPECIAL: [bool; 256] = {
    let mut t = [false; 256];
    let mut b = 0;
    while b < 0x20 {
        t[b] = !matches!(b as u8, b'\t' | b'\n' | b'\r');
        b += 1;
    }
    t[b'<' as usize] = true;
    t[b'>' as usize] = true;
    t[b'&' as usize] = true;
    t
};

/// xmlEncodeEntitiesInternal for an HTML document (`attr`: the attribute flavour, which
/// keeps `&{...}` and `<!--...-->` as they are).
fn escape(s: &[u8], attr: bool, out: &mut Vec<u8>) {
    let mut i = 0;
    // Runs of bytes copied as they are are appended in one go.
    let mut run = 0;
    while i < s.len() {
        let b = s[i];
        if !SPECIAL[usize::from(b)] {
            i += 1;
            continue;
        }
        out.extend_from_slice(&s[run..i]);
        match b {
            b'<' => {
                if attr && s[i + 1..].starts_with(b"!--") {
                    if let Some(end) = find(&s[i..], b"-->") {
                        out.extend_from_slice(&s[i..i + end + 3]);
                        i += end + 3;
                        run = i;
                        continue;
                    }
                }
                out.extend_from_slice(b"&lt;");
            }
            b'>' => out.extend_from_slice(b"&gt;"),
            b'&' => {
                if attr && s.get(i + 1) == Some(&b'{') {
                    if let Some(end) = s[i..].iter().position(|&c| c == b'}') {
                        out.extend_from_slice(&s[i..=i + end]);
                        i += end + 1;
                        run = i;
                        continue;
                    }
                }
                out.extend_from_slice(b"&amp;");
            }
            // Other control characters: libxml2 drops them.
            _ => {}
        }
        i += 1;
        run = i;
    }
    out.extend_from_slice(&s[run..]);
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}
