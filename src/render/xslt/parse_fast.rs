//! A faster parser for the site documents the exporter writes, building the very tree
//! libxml2's own parser builds, or declining so that libxml2 parses instead.
//!
//! Why: libxml2 2.9's parser leaves its fast path for the rest of a text node at the first
//! non-ASCII byte and decodes every following character through a function call. French text
//! has accents in nearly every sentence, and on a ~100-line theme the parse cost more than the
//! transform: callgrind put it at 542,000 instructions per site, 47 % of a page. Here the
//! document is checked as UTF-8 once, scanned with `memchr`, and the tree is built with
//! libxml2's own node constructors, field for field as its SAX2 builder does (same
//! dictionary, same line numbers): about 267,000 instructions.
//!
//! What is accepted is a strict subset of XML, the one the exporter writes: UTF-8 declared by
//! exactly `<?xml version="1.0" encoding="UTF-8"?>`, an optional `xml-stylesheet` instruction
//! before the root, elements and attributes with ASCII names and no namespace, text, the five
//! predefined entities and character references. Anything else (a comment, CDATA, a DOCTYPE,
//! a namespace, a carriage return, a control character, `</a >`, more than 200 levels or 64
//! attributes on one element, a malformed construct of any kind) returns `None`, and libxml2
//! parses the document with the options it would have had without this module, and with its
//! own error messages. The tokenizer is written here rather than taken from
//! quick-xml because quick-xml validates UTF-8 again for every event and costs about 145,000
//! instructions per site on its own; the subset is small enough to scan by hand, and the
//! differential tests below (sample sites, generated corpus sites, edge cases and a proptest
//! over fragments) hold both parsers to the same trees.

use std::ffi::{c_int, CStr};
use std::fmt::Write;
use std::ptr;

use libxslt::bindings as ffi;

/// The one XML declaration accepted, as the exporter writes it.
const DECL: &str = r#"<?xml version="1.0" encoding="UTF-8"?>"#;

/// Deeper documents go to libxml2, which refuses more than 256 levels without XML_PARSE_HUGE.
const MAX_DEPTH: usize = 200;

/// More attributes on one element go to libxml2: the duplicate check here walks the element's
/// attributes for each new one (as libxml2 2.9's does), which must not become a quadratic
/// cost; the exporter writes at most a handful.
const MAX_ATTRIBUTES: usize = 64;

/// Slots of the builder's name cache.
const NAME_CACHE: usize = 64;

/// libxml2's dictionary size limit without XML_PARSE_HUGE (XML_MAX_DICTIONARY_LIMIT).
const DICT_LIMIT: usize = 10_000_000;

/// What libxml2 sets on a document it parsed well-formed, without validation or XML 1.0
/// fifth-edition fallbacks.
const PARSED_PROPERTIES: c_int = (ffi::xmlDocProperties_XML_DOC_WELLFORMED
    | ffi::xmlDocProperties_XML_DOC_NSVALID
    | ffi::xmlDocProperties_XML_DOC_DTDVALID) as c_int;

/// Parses `bytes` into a new libxml2 document, as `xmlCtxtReadMemory(…, url, NULL, options)`
/// would, or returns `None` when the document is outside the accepted subset (or memory ran
/// out), having freed whatever it built.
///
/// `options` must be the caller's parse options; only `XML_PARSE_NONET | XML_PARSE_COMPACT`
/// is mirrored, anything else declines.
pub(super) fn parse(bytes: &[u8], url: &CStr, options: c_int) -> Option<ffi::xmlDocPtr> {
    let wanted =
        (ffi::xmlParserOption_XML_PARSE_NONET | ffi::xmlParserOption_XML_PARSE_COMPACT) as c_int;
    if options != wanted {
        return None;
    }
    if !bytes.starts_with(DECL.as_bytes()) || !plain(bytes) {
        return None;
    }
    let mut builder = Builder::new(url, options, bytes)?;
    builder.build(bytes).map(|()| builder.finish())
}

/// Whether the bytes hold nothing the builder leaves to libxml2 wholesale: control
/// characters but tab and line feed (a carriage return would need line-end normalisation),
/// `<!` (comments, CDATA, DOCTYPE), `]]>` (an error in text), and U+FFFE / U+FFFF (not XML
/// characters).
fn plain(bytes: &[u8]) -> bool {
    let control = bytes.iter().fold(false, |acc, &b| {
        acc | ((b < 0x20) & (b != b'\t') & (b != b'\n'))
    });
    !control
        && memchr::memmem::find(bytes, b"<!").is_none()
        && memchr::memmem::find(bytes, b"]]>").is_none()
        && !memchr::memchr_iter(0xEF, bytes).any(|i| {
            bytes.get(i + 1) == Some(&0xBF) && matches!(bytes.get(i + 2), Some(0xBE | 0xBF))
        })
}

/// A byte of an ASCII XML name without a colon.
fn name_byte(c: u8) -> bool {
    NAME_BYTES[usize::from(c)]
}

/// [`name_byte`] as a table: names are scanned a byte at a time.
static NAME_BYTES: [bool; 256] = {
    let mut t = [false; 256];
    let mut c = 0;
    while c < 256 {
        let b = c as u8;
        t[c] = b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.');
        c += 1;
    }
    t
};

/// The `>` closing the tag whose attributes start at `from`, stepping over quoted values
/// (which may hold a `>`); `None` if the document ends first.
fn tag_end(src: &[u8], from: usize) -> Option<usize> {
    let mut pos = from;
    loop {
        let at = pos + memchr::memchr3(b'>', b'"', b'\'', &src[pos..])?;
        if src[at] == b'>' {
            return Some(at);
        }
        pos = at + 1 + memchr::memchr(src[at], &src[at + 1..])? + 1;
    }
}

/// An ASCII XML name without a colon, the only names the builder handles.
fn plain_name(name: &str) -> bool {
    let b = name.as_bytes();
    match b.first() {
        Some(c) if c.is_ascii_alphabetic() || *c == b'_' => {}
        _ => return false,
    }
    b[1..].iter().all(|&c| name_byte(c))
}

/// The character a reference names (`amp`, `#233`, `#xE9`), if it is one libxml2 accepts
/// without a DTD.
fn reference(name: &str) -> Option<char> {
    match name {
        "amp" => return Some('&'),
        "lt" => return Some('<'),
        "gt" => return Some('>'),
        "quot" => return Some('"'),
        "apos" => return Some('\''),
        _ => {}
    }
    let num = name.strip_prefix('#')?;
    // libxml2 takes a lowercase `x` only, and digits only: no sign, no space.
    let (digits, radix) = match num.strip_prefix('x') {
        Some(hex) => (hex, 16),
        None => (num, 10),
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    let value = u32::from_str_radix(digits, radix).ok()?;
    let c = char::from_u32(value)?;
    // XML's Char production; char::from_u32 already refused surrogates.
    let ok = matches!(value, 0x9 | 0xA | 0xD | 0x20..=0xD7FF | 0xE000..=0xFFFD | 0x10000..);
    ok.then_some(c)
}

/// Appends an attribute value to `out`, decoded and normalised as libxml2 does for an
/// attribute without a DTD: references replaced, each literal tab or line feed made a space.
/// `None` for a `<` or a reference libxml2 would refuse.
fn attribute_value(raw: &str, out: &mut String) -> Option<()> {
    let mut rest = raw;
    while let Some(i) = rest
        .bytes()
        .position(|b| matches!(b, b'&' | b'<' | b'\t' | b'\n'))
    {
        out.push_str(&rest[..i]);
        match rest.as_bytes()[i] {
            b'&' => {
                let end = memchr::memchr(b';', &rest.as_bytes()[i..])? + i;
                out.push(reference(&rest[i + 1..end])?);
                rest = &rest[end + 1..];
                continue;
            }
            b'<' => return None,
            _ => out.push(' '),
        }
        rest = &rest[i + 1..];
    }
    out.push_str(rest);
    Some(())
}

/// The next attribute of a start tag's attribute text (`attributes_raw`: everything after
/// the name): its name, raw value and the rest, `Some(None)` at the end, with libxml2's
/// syntax: whitespace before each attribute, optional whitespace around `=`, single or double
/// quotes. `None` for anything else.
#[allow(clippy::type_complexity)]
fn next_attribute(raw: &str) -> Option<Option<(&str, &str, &str)>> {
    let is_space = |c: char| matches!(c, ' ' | '\t' | '\n');
    let trimmed = raw.trim_start_matches(is_space);
    if trimmed.is_empty() {
        return Some(None);
    }
    if trimmed.len() == raw.len() {
        // libxml2: "attributes construct error" without whitespace before a name.
        return None;
    }
    let eq = memchr::memchr(b'=', trimmed.as_bytes())?;
    let name = trimmed[..eq].trim_end_matches(is_space);
    if !plain_name(name) || name.starts_with("xmlns") {
        return None;
    }
    let after = trimmed[eq + 1..].trim_start_matches(is_space);
    let quote = after.chars().next().filter(|q| matches!(q, '"' | '\''))?;
    let close = memchr::memchr(quote as u8, &after.as_bytes()[1..])? + 1;
    Some(Some((name, &after[1..close], &after[close + 1..])))
}

/// Whether a text holds only XML whitespace (what may stand outside the root element).
fn blank(s: &str) -> bool {
    s.bytes().all(|b| matches!(b, b' ' | b'\t' | b'\n'))
}

struct Builder {
    doc: ffi::xmlDocPtr,
    dict: ffi::xmlDictPtr,
    /// Open elements, innermost last; empty outside the root.
    stack: Vec<ffi::xmlNodePtr>,
    root: ffi::xmlNodePtr,
    /// Text of the current run (between two pieces of markup), references decoded.
    text: String,
    /// Line of the current run's first piece.
    text_line: u16,
    /// Line of the last position asked for (1-based), and where the next line feed not
    /// yet counted is (the end of the document when none is left).
    line: usize,
    next_lf: usize,
    /// An attribute value being decoded (kept to reuse its allocation).
    value: String,
    /// Names recently interned, by hash: the dictionary's copy and its length.
    names: [(*const u8, usize); NAME_CACHE],
}

impl Builder {
    fn new(url: &CStr, options: c_int, src: &[u8]) -> Option<Builder> {
        // SAFETY: plain constructors; every pointer is checked, and from here on owned by
        // the builder until `finish` hands the document over (Drop frees it otherwise).
        unsafe {
            let doc = ffi::xmlNewDoc(c"1.0".as_ptr().cast());
            if doc.is_null() {
                return None;
            }
            let dict = ffi::xmlDictCreate();
            if dict.is_null() {
                ffi::xmlFreeDoc(doc);
                return None;
            }
            ffi::xmlDictSetLimit(dict, DICT_LIMIT);
            // The document owns the dictionary's only reference, as after libxml2's parse.
            (*doc).dict = dict;
            (*doc).URL = ffi::xmlPathToURI(url.as_ptr().cast());
            (*doc).encoding = ffi::xmlStrdup(c"UTF-8".as_ptr().cast());
            // -2: an XML declaration without `standalone`.
            (*doc).standalone = -2;
            (*doc).properties = PARSED_PROPERTIES;
            (*doc).parseFlags = options;
            Some(Builder {
                doc,
                dict,
                stack: Vec::with_capacity(16),
                root: ptr::null_mut(),
                text: String::with_capacity(256),
                text_line: 1,
                line: 1,
                next_lf: memchr::memchr(b'\n', src).unwrap_or(src.len()),
                value: String::new(),
                names: [(ptr::null(), 0); NAME_CACHE],
            })
        }
    }

    /// Hands the finished document over.
    fn finish(mut self) -> ffi::xmlDocPtr {
        std::mem::replace(&mut self.doc, ptr::null_mut())
    }

    /// The line of byte `pos` of `src` (1-based); positions only ever move forward.
    fn line_at(&mut self, src: &[u8], pos: usize) -> u16 {
        while self.next_lf < pos {
            self.line += 1;
            let from = self.next_lf + 1;
            self.next_lf = memchr::memchr(b'\n', &src[from..]).map_or(src.len(), |i| from + i);
        }
        // libxml2 stores lines in 16 bits and saturates (without XML_PARSE_BIG_LINES).
        u16::try_from(self.line).unwrap_or(u16::MAX)
    }

    fn build(&mut self, src: &[u8]) -> Option<()> {
        // Checked once here; every slice taken below starts and ends at an ASCII delimiter,
        // hence on a character boundary. With SIMD: std's check was 6 % of a parse.
        let text = simdutf8::basic::from_utf8(src).ok()?;
        // Names of the open elements, for their end tags.
        let mut names: Vec<&str> = Vec::with_capacity(16);
        let mut pos = DECL.len();
        loop {
            let next = memchr::memchr2(b'<', b'&', &src[pos..]).map(|i| pos + i);
            let stop = next.unwrap_or(src.len());
            if stop > pos {
                let piece = &text[pos..stop];
                if self.stack.is_empty() {
                    if !blank(piece) {
                        return None;
                    }
                } else {
                    self.start_run(src, pos, piece);
                    self.text.push_str(piece);
                }
            }
            let Some(at) = next else {
                return (self.stack.is_empty() && !self.root.is_null()).then_some(());
            };
            if src[at] == b'&' {
                if self.stack.is_empty() {
                    return None;
                }
                // The longest reference accepted, `&#x10FFFF;`, has 8 bytes between & and ;.
                let window = &src[at + 1..src.len().min(at + 12)];
                let semi = at + 1 + memchr::memchr(b';', window)?;
                self.start_run(src, at, "");
                self.text.push(reference(&text[at + 1..semi])?);
                pos = semi + 1;
                continue;
            }
            match src.get(at + 1) {
                Some(b'/') => {
                    let close = at + 2 + memchr::memchr(b'>', &src[at + 2..])?;
                    if names.pop()? != &text[at + 2..close] {
                        return None;
                    }
                    self.flush_text()?;
                    self.stack.pop()?;
                    pos = close + 1;
                }
                Some(b'?') => {
                    let end = at + 2 + memchr::memmem::find(&src[at + 2..], b"?>")?;
                    let body = &text[at + 2..end];
                    let split = body.find([' ', '\t', '\n']).unwrap_or(body.len());
                    let (target, content) = body.split_at(split);
                    if !self.root.is_null() || target != "xml-stylesheet" {
                        return None;
                    }
                    let line = self.line_at(src, end + 2);
                    self.instruction(target, content, line)?;
                    pos = end + 2;
                }
                _ => {
                    let name_end = at + 1 + src[at + 1..].iter().position(|&c| !name_byte(c))?;
                    if !matches!(src[name_end], b' ' | b'\t' | b'\n' | b'/' | b'>') {
                        return None;
                    }
                    let gt = tag_end(src, name_end)?;
                    let empty = src[gt - 1] == b'/' && gt > name_end;
                    let attrs = &text[name_end..if empty { gt - 1 } else { gt }];
                    let node = self.open(src, gt + 1, &text[at + 1..name_end], attrs)?;
                    if !empty {
                        self.stack.push(node);
                        names.push(&text[at + 1..name_end]);
                    }
                    pos = gt + 1;
                }
            }
        }
    }

    /// An element's start tag (or empty tag) ending at `end`: its text run before it ends,
    /// and the element is made and linked.
    fn open(&mut self, src: &[u8], end: usize, name: &str, attrs: &str) -> Option<ffi::xmlNodePtr> {
        self.flush_text()?;
        if (self.stack.is_empty() && !self.root.is_null()) || self.stack.len() >= MAX_DEPTH {
            return None;
        }
        if !plain_name(name) {
            return None;
        }
        // libxml2 numbers an element with the line its start tag ends on.
        let line = self.line_at(src, end);
        self.element(name, attrs, line)
    }

    /// Notes the line number libxml2 gives the text node of a run whose first piece (the
    /// text before any reference) is `first`, starting at `start`. libxml2 makes the node at
    /// its first hand-over: its ASCII loop hands over what it read at the first non-ASCII
    /// byte; a piece that starts with one goes through a 300-byte buffer, handed over once the
    /// character that filled it is read; a reference is handed over at once.
    fn start_run(&mut self, src: &[u8], start: usize, first: &str) {
        if !self.text.is_empty() {
            return;
        }
        // `is_ascii` reads a word at a time: most pieces (indentation, names, numbers) are
        // plain ASCII.
        let read = if first.is_ascii() {
            first.len()
        } else if first.as_bytes()[0].is_ascii() {
            first
                .bytes()
                .position(|b| !b.is_ascii())
                .unwrap_or(first.len())
        } else {
            first
                .char_indices()
                .map(|(i, c)| i + c.len_utf8())
                .find(|&end| end >= 300)
                .unwrap_or(first.len())
        };
        self.text_line = self.line_at(src, start + read);
    }

    /// Ends the current text run: one text node, as libxml2 coalesces a run's pieces.
    fn flush_text(&mut self) -> Option<()> {
        if self.text.is_empty() {
            return Some(());
        }
        let parent = *self.stack.last()?;
        let text = std::mem::take(&mut self.text);
        let node = self.text_node(text.as_bytes(), self.text_line);
        self.text = text;
        self.text.clear();
        let node = node?;
        // SAFETY: both nodes are alive and belong to our document.
        unsafe { append(parent, node) };
        Some(())
    }

    /// A text node, made by libxml2's own constructor (`xmlNewDocTextLen`), which copies the
    /// content: libxml2's SAX2 builder would store short content inside the node
    /// (XML_PARSE_COMPACT) or in the dictionary, but doing that here would mean sizing and
    /// initialising libxml2's node struct ourselves, whose layout is the library's business.
    /// The tree is the same: only where the bytes of a text live differs.
    fn text_node(&self, s: &[u8], line: u16) -> Option<ffi::xmlNodePtr> {
        let len = c_int::try_from(s.len()).ok()?;
        // SAFETY: `s` is valid for `len` bytes; the node is libxml2's, owned by the caller
        // until it is linked into the document; `line` is a public field of every version.
        unsafe {
            let node = ffi::xmlNewDocTextLen(self.doc, s.as_ptr(), len);
            if node.is_null() {
                return None;
            }
            (*node).line = line;
            Some(node)
        }
    }

    /// An element with its attributes, linked as the last child of the open element (or as
    /// the root), as `xmlSAX2StartElementNs` makes it.
    fn element(&mut self, name: &str, raw_attrs: &str, line: u16) -> Option<ffi::xmlNodePtr> {
        let name = self.intern(name)?;
        // SAFETY: the document and dictionary are ours and alive; the name is owned by the
        // dictionary (the node "eats" it, and xmlFreeNode knows not to free dictionary
        // strings); the new node is linked into our tree before anything else can fail, so
        // Drop frees it with the document.
        let node = unsafe {
            let node =
                ffi::xmlNewDocNodeEatName(self.doc, ptr::null_mut(), name.cast_mut(), ptr::null());
            if node.is_null() {
                return None;
            }
            (*node).line = line;
            match self.stack.last() {
                Some(&parent) => append(parent, node),
                None => {
                    append(self.doc.cast(), node);
                    self.root = node;
                }
            }
            node
        };
        let mut value = std::mem::take(&mut self.value);
        let mut rest = raw_attrs;
        let mut count = 0;
        while let Some((attr_name, raw, next)) = next_attribute(rest)? {
            rest = next;
            count += 1;
            if count > MAX_ATTRIBUTES {
                return None;
            }
            value.clear();
            attribute_value(raw, &mut value)?;
            let attr_name = self.intern(attr_name)?;
            // SAFETY: as above; names of one dictionary are equal exactly when their
            // pointers are, which makes the duplicate check a pointer walk over the node's
            // attributes; xmlNewNsPropEatName links the new one at the end of that list, and
            // its one text child is linked to it at once.
            unsafe {
                let mut a = (*node).properties;
                while !a.is_null() {
                    if (*a).name == attr_name {
                        return None;
                    }
                    a = (*a).next;
                }
                let attr = ffi::xmlNewNsPropEatName(
                    node,
                    ptr::null_mut(),
                    attr_name.cast_mut(),
                    ptr::null(),
                );
                if attr.is_null() {
                    return None;
                }
                let text = self.text_node(value.as_bytes(), line)?;
                (*attr).children = text;
                (*attr).last = text;
                (*text).parent = attr.cast();
            }
        }
        self.value = value;
        Some(node)
    }

    /// A processing instruction before the root, linked as a child of the document.
    fn instruction(&mut self, target: &str, content: &str, line: u16) -> Option<()> {
        // libxml2 skips the blanks after the target; with no data at all the content is NULL.
        let data = if content.is_empty() {
            None
        } else {
            Some(std::ffi::CString::new(content.trim_start_matches([' ', '\t', '\n'])).ok()?)
        };
        let target = std::ffi::CString::new(target).ok()?;
        // SAFETY: both strings are NUL-terminated and outlive the call, which copies them;
        // the new node is linked into our document at once.
        unsafe {
            let pi = ffi::xmlNewDocPI(
                self.doc,
                target.as_ptr().cast(),
                data.as_ref().map_or(ptr::null(), |d| d.as_ptr().cast()),
            );
            if pi.is_null() {
                return None;
            }
            (*pi).line = line;
            append(self.doc.cast(), pi);
        }
        Some(())
    }

    /// The dictionary's copy of a name. A site has about 40 distinct names for 200 elements
    /// and attributes: a small cache in front of the dictionary finds most of them for a
    /// fifth of what xmlDictLookup costs (248 instructions, callgrind).
    fn intern(&mut self, name: &str) -> Option<*const u8> {
        let bytes = name.as_bytes();
        // Length and end bytes tell a site's few dozen names apart well enough; a collision
        // only costs a dictionary lookup.
        let hash = match bytes {
            [first, .., last] => bytes.len() * 7 + usize::from(*first) * 3 + usize::from(*last),
            _ => bytes.len(),
        };
        let slot = &mut self.names[hash % NAME_CACHE];
        if !slot.0.is_null()
            && slot.1 == bytes.len()
            // SAFETY: a cached pointer is a string of our document's dictionary, alive as
            // long as the builder, immutable and at least `slot.1` bytes long.
            && unsafe { std::slice::from_raw_parts(slot.0, slot.1) } == bytes
        {
            return Some(slot.0);
        }
        let len = c_int::try_from(bytes.len()).ok()?;
        // SAFETY: the dictionary is alive; the bytes are read for `len` only.
        let p = unsafe { ffi::xmlDictLookup(self.dict, bytes.as_ptr(), len) };
        if p.is_null() {
            return None;
        }
        *slot = (p, bytes.len());
        Some(p)
    }
}

impl Drop for Builder {
    fn drop(&mut self) {
        if !self.doc.is_null() {
            // SAFETY: the document (and the dictionary it holds) is ours and never handed out.
            unsafe { ffi::xmlFreeDoc(self.doc) };
        }
    }
}

/// Links `child` as the last child of `parent` (an element, or the document cast to a node:
/// libxml2's structs share their first fields for exactly this use).
///
/// # Safety
/// Both must be alive, of the same document, and `child` must be unlinked.
unsafe fn append(parent: ffi::xmlNodePtr, child: ffi::xmlNodePtr) {
    // SAFETY: per the contract above.
    unsafe {
        (*child).parent = parent;
        let last = (*parent).last;
        if last.is_null() {
            (*parent).children = child;
        } else {
            (*last).next = child;
            (*child).prev = last;
        }
        (*parent).last = child;
    }
}

/// A namespace, for a dump.
///
/// # Safety
/// `ns` is NULL or a live namespace.
unsafe fn ns_text(ns: *const ffi::xmlNs) -> String {
    if ns.is_null() {
        return "-".into();
    }
    // SAFETY: per the contract.
    unsafe { format!("{}={}", c_text((*ns).prefix), c_text((*ns).href)) }
}

/// A libxml2 string, quoted, for a dump.
fn c_text(s: *const u8) -> String {
    if s.is_null() {
        return "NULL".into();
    }
    // SAFETY: libxml2 strings are NUL-terminated and alive with their document.
    let s = unsafe { CStr::from_ptr(s.cast()) };
    format!("{:?}", s.to_string_lossy())
}

/// Everything of a tree that XPath, XSLT or a message can see, as text: two documents with
/// the same dump are the same to a transform. Panics if a link between nodes is inconsistent
/// (parent, previous, last, document). For the differential tests and fuzz target; `d` must
/// be a live document.
pub(super) fn dump(d: ffi::xmlDocPtr) -> String {
    let mut out = String::new();
    // SAFETY: the document is alive; only reads, following libxml2's own links.
    unsafe {
        writeln!(
            out,
            "doc version={} encoding={} url={} standalone={} charset={} compression={} \
             properties={} flags={} subsets={}/{} dict={}",
            c_text((*d).version),
            c_text((*d).encoding),
            c_text((*d).URL),
            (*d).standalone,
            (*d).charset,
            (*d).compression,
            (*d).properties,
            (*d).parseFlags,
            (*d).intSubset.is_null(),
            (*d).extSubset.is_null(),
            !(*d).dict.is_null(),
        )
        .unwrap();
        let mut prev: ffi::xmlNodePtr = ptr::null_mut();
        let mut child = (*d).children;
        while !child.is_null() {
            assert_eq!((*child).parent, d.cast(), "parent link");
            assert_eq!((*child).prev, prev, "prev link");
            dump_node(child, d, 1, &mut out);
            prev = child;
            child = (*child).next;
        }
        assert_eq!((*d).last, prev, "last link");
    }
    out
}

/// # Safety
/// `n` is a live node of the live document `d`.
unsafe fn dump_node(n: ffi::xmlNodePtr, d: ffi::xmlDocPtr, depth: usize, out: &mut String) {
    // SAFETY: as in `dump`.
    unsafe {
        assert_eq!((*n).doc, d, "doc link");
        let pad = "  ".repeat(depth);
        match (*n).type_ {
            ffi::xmlElementType_XML_ELEMENT_NODE => {
                writeln!(
                    out,
                    "{pad}element {} ns {} line {}",
                    c_text((*n).name),
                    ns_text((*n).ns),
                    (*n).line
                )
                .unwrap();
                let mut def = (*n).nsDef;
                while !def.is_null() {
                    writeln!(out, "{pad}  xmlns {}", ns_text(def)).unwrap();
                    def = (*def).next;
                }
                let mut a = (*n).properties;
                let mut prev_attr: *mut ffi::xmlAttr = ptr::null_mut();
                while !a.is_null() {
                    assert_eq!((*a).parent, n, "attribute parent");
                    assert_eq!((*a).prev, prev_attr, "attribute prev");
                    write!(
                        out,
                        "{pad}  @{} ns {} atype={}",
                        c_text((*a).name),
                        ns_text((*a).ns),
                        (*a).atype
                    )
                    .unwrap();
                    let mut t = (*a).children;
                    while !t.is_null() {
                        assert_eq!((*t).parent, a.cast(), "attribute text parent");
                        write!(out, " [{} {}]", (*t).type_, c_text((*t).content)).unwrap();
                        if (*t).next.is_null() {
                            assert_eq!((*a).last, t);
                        }
                        t = (*t).next;
                    }
                    out.push('\n');
                    prev_attr = a;
                    a = (*a).next;
                }
            }
            ffi::xmlElementType_XML_TEXT_NODE => {
                assert_eq!((*n).name, ptr::addr_of!(ffi::xmlStringText).cast());
                writeln!(out, "{pad}text {} line {}", c_text((*n).content), (*n).line).unwrap();
            }
            t => {
                writeln!(
                    out,
                    "{pad}node type {t} {} {} line {}",
                    c_text((*n).name),
                    c_text((*n).content),
                    (*n).line
                )
                .unwrap();
            }
        }
        let mut prev: ffi::xmlNodePtr = ptr::null_mut();
        let mut child = (*n).children;
        while !child.is_null() {
            assert_eq!((*child).parent, n, "parent link");
            assert_eq!((*child).prev, prev, "prev link");
            dump_node(child, d, depth + 1, out);
            prev = child;
            child = (*child).next;
        }
        assert_eq!((*n).last, prev, "last link");
    }
}

#[cfg(test)]
mod tests {
    use std::ffi::CString;
    use std::path::Path;

    use super::*;

    const OPTIONS: c_int = super::super::SAFE_PARSE_OPTIONS;

    /// libxml2's own parse, the reference these tests hold the scanner to (None when libxml2
    /// refuses the document).
    fn libxml2(xml: &str) -> Option<super::super::Document> {
        super::super::clear_messages();
        super::super::parse_raw(xml.as_bytes(), "/sites/a b/site.xml", ptr::null_mut()).ok()
    }

    fn fast(xml: &str) -> Option<super::super::Document> {
        super::super::thread_setup();
        let url = CString::new("/sites/a b/site.xml").unwrap();
        parse(xml.as_bytes(), &url, OPTIONS)
            .and_then(ptr::NonNull::new)
            .map(super::super::Document::own)
    }

    /// The fast parser accepts `xml` and builds libxml2's tree.
    #[track_caller]
    fn assert_same(xml: &str) {
        let slow = libxml2(xml).unwrap_or_else(|| panic!("libxml2 refuses {xml:?}"));
        let quick = fast(xml).unwrap_or_else(|| panic!("the fast parser declines {xml:?}"));
        same_dump(&dump(quick.ptr.as_ptr()), &dump(slow.ptr.as_ptr()), xml);
    }

    /// Compares two dumps, showing the first line that differs rather than both trees.
    #[track_caller]
    fn same_dump(quick: &str, slow: &str, xml: &str) {
        if let Some((q, s)) = quick.lines().zip(slow.lines()).find(|(q, s)| q != s) {
            panic!("fast: {q}\nlibxml2: {s}\nin {xml:?}");
        }
        assert_eq!(quick.lines().count(), slow.lines().count(), "{xml:?}");
    }

    /// The fast parser leaves `xml` to libxml2.
    #[track_caller]
    fn assert_declined(xml: &str) {
        assert!(fast(xml).is_none(), "accepted: {xml:?}");
    }

    const D: &str = r#"<?xml version="1.0" encoding="UTF-8"?>"#;

    #[test]
    fn every_sample_site_is_parsed_as_libxml2_parses_it() {
        if !crate::render::xslt::engine::proven_here(crate::render::xslt::engine::FastPath::Scanner)
        {
            return;
        }
        let sites = Path::new(env!("CARGO_MANIFEST_DIR")).join("sample-sites");
        let files = crate::site::list_site_files(&sites).unwrap();
        for rel in &files {
            assert_same(&std::fs::read_to_string(sites.join(rel)).unwrap());
        }
        assert!(files.len() >= 10, "{} sample sites", files.len());
    }

    // The generated corpus's sites get the same comparison in the benchmark tools' tests
    // (bench/tools/tests/corpus_parse.rs): the generator is not part of this crate.

    #[test]
    fn the_accepted_subset_is_parsed_as_libxml2_parses_it() {
        if !crate::render::xslt::engine::proven_here(crate::render::xslt::engine::FastPath::Scanner)
        {
            return;
        }
        for body in [
            "<a/>",
            "<a></a>",
            "<a>x</a>",
            "<a>\n  <b>Crème brûlée à 4,50 €</b>\n  <c/>\n</a>",
            "<a>AT&amp;T &lt;b&gt; &quot;q&quot; &apos;s&apos;</a>",
            "<a>&#233;t&#xE9; &#x1F600; &#9;tab&#10;lf&#13;cr &#60;&#38;</a>",
            "<a>&amp;</a>",
            "<a>0123456789abcde</a>",
            "<a>0123456789abcdef</a>",
            "<a><b/>                                                  <c/></a>",
            "<a><b/>                                                                       <c/></a>",
            "<a>\n\n\n<b\n  x='1'\n  y=\"2\"\n/>\n</a>",
            "<a x='it\"s' y=\"it's\" z=\"\" w=\"a\tb\nc\" v=\"&amp;&lt;&#10;&#9;\"/>",
            "<a x = \"1\"\ty\n=\n'2' />",
            "<a_b-c.d e.f=\"1\"><_/></a_b-c.d>",
            "<a>]]</a>",
            "<a>x > y</a>",
        ] {
            assert_same(&format!("{D}\n{body}\n"));
            assert_same(&format!("{D}{body}"));
        }
        // Line numbers of text nodes, where libxml2's two character loops number differently.
        for text in [
            "\n\né\n\n".to_owned(),
            "x\ny&amp;\nz".to_owned(),
            "&#233;\n\nx".to_owned(),
            format!("é{}", "ab\n".repeat(200)),
            format!("{}é{}", "ab\n".repeat(50), "cd\n".repeat(150)),
            format!("é{}€\n{}", "a".repeat(297), "b\n".repeat(3)),
            format!("é{}\n{}", "a".repeat(297), "b\n".repeat(3)),
        ] {
            assert_same(&format!("{D}\n<a>{text}<b/>{text}</a>"));
        }
        for prolog in [
            "<?xml-stylesheet type=\"text/xsl\" href=\"classic.xsl\"?>",
            "<?xml-stylesheet?>",
            "<?xml-stylesheet ?>",
            "<?xml-stylesheet \n\t href='a?b' ?>",
            "\n\n<?xml-stylesheet href='x'?>\n\n",
        ] {
            assert_same(&format!("{D}{prolog}<a/>\n"));
        }
    }

    /// Malformed UTF-8 (truncated, overlong, a surrogate, past U+10FFFF) is declined, and
    /// libxml2 then refuses the document.
    #[test]
    fn malformed_utf8_is_left_to_libxml2() {
        let url = CString::new("bad.xml").unwrap();
        for bad in [
            &b"\xC3"[..],
            b"\xC3\x28",
            b"\xC0\xAF",
            b"\xE0\x80\xAF",
            b"\xED\xA0\x80",
            b"\xF4\x90\x80\x80",
            b"\xFF",
        ] {
            let mut xml = format!("{D}<a>caf\u{e9} ").into_bytes();
            xml.extend_from_slice(bad);
            xml.extend_from_slice(b"</a>");
            super::super::thread_setup();
            assert!(parse(&xml, &url, OPTIONS).is_none(), "accepted: {bad:?}");
            super::super::clear_messages();
            assert!(
                super::super::parse_raw(&xml, "bad.xml", ptr::null_mut()).is_err(),
                "libxml2 accepted: {bad:?}"
            );
        }
    }

    #[test]
    fn anything_else_is_left_to_libxml2() {
        let declined = [
            // Not the exporter's declaration, or none.
            "<a/>".to_owned(),
            "\u{feff}<?xml version=\"1.0\" encoding=\"UTF-8\"?><a/>".to_owned(),
            "<?xml version=\"1.0\"?><a/>".to_owned(),
            "<?xml version='1.0' encoding='UTF-8'?><a/>".to_owned(),
            format!("{D}<?xml version=\"1.0\"?><a/>"),
        ]
        .into_iter()
        .chain(
            [
                // Constructs the builder does not make.
                "<!-- c --><a/>",
                "<a><!-- c --></a>",
                "<a><![CDATA[x]]></a>",
                "<!DOCTYPE a><a/>",
                "<a xmlns='urn:x'/>",
                "<a xmlns:p='urn:x'><p:b/></a>",
                "<a xml:lang='fr'/>",
                "<a>&nbsp;</a>",
                "<a><?pi x?></a>",
                "<?other x?><a/>",
                "<a>\r\n</a>",
                "<a x='\r'/>",
                "<é/>",
                "<a é='1'/>",
                // Not well-formed.
                "",
                "<a>",
                "<a></b>",
                "<a/><b/>",
                "text<a/>",
                "<a/>text",
                "<a/>&amp;",
                "<a>]]></a>",
                "<a>\u{1}</a>",
                "<a>\u{fffe}</a>",
                "<a>\u{ffff}</a>",
                "<a>&#0;</a>",
                "<a>&#1;</a>",
                "<a>&#xD800;</a>",
                "<a>&#x110000;</a>",
                "<a>&#99999999999999999999;</a>",
                "<a>&#X41;</a>",
                "<a>&#+65;</a>",
                "<a>&#;</a>",
                "<a>&amp</a>",
                "<a>& b</a>",
                "<a x='1' x='2'/>",
                "<a x='1'y='2'/>",
                "<a x=1/>",
                "<a x/>",
                "<a x='<'/>",
                "<a x='&foo;'/>",
                "<a x='&#1;'/>",
                "<a x='&amp'/>",
                "<1a/>",
                "<a b c='1'/>",
                "< a/>",
                "<a/ >",
                "</a>",
            ]
            .map(|body| format!("{D}{body}")),
        );
        let mut both = 0;
        for xml in declined {
            assert_declined(&xml);
            both += usize::from(libxml2(&xml).is_none());
        }
        assert!(both > 30, "{both} of them are errors for libxml2 too");
        let attrs = |n: usize| (0..n).map(|i| format!(" a{i}='{i}'")).collect::<String>();
        assert_declined(&format!("{D}<a{}/>", attrs(MAX_ATTRIBUTES + 1)));
        assert_same(&format!("{D}<a{}/>", attrs(MAX_ATTRIBUTES)));
        let deep = format!(
            "{D}{}{}",
            "<a>".repeat(MAX_DEPTH + 1),
            "</a>".repeat(MAX_DEPTH + 1)
        );
        assert_declined(&deep);
        assert_same(&format!(
            "{D}{}{}",
            "<a>".repeat(MAX_DEPTH),
            "</a>".repeat(MAX_DEPTH)
        ));
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2000))]
        /// Documents stitched from fragments that are valid, invalid or outside the subset:
        /// whenever the fast parser accepts one, libxml2 accepts it too and builds the same
        /// tree.
        #[test]
        fn whatever_the_fast_parser_accepts_libxml2_parses_the_same(
            parts in proptest::collection::vec(proptest::sample::select(vec![
                "<a>", "</a>", "<b x='1'>", "</b>", "<c/>", "<d y=\"&amp;&#10;\tz\"/>",
                "text", "é", " ", "\n", "\t", "&amp;", "&lt;", "&#233;", "&#x20;", "&#0;",
                "&bad;", "&", "<", ">", "]]>", "]]", "\r", "\u{1}", "<!--c-->", "<![CDATA[x]]>",
                "<?xml-stylesheet href='s'?>", "<?pi?>", "<a x='1' x='2'>", "<a x='<'>",
                "<e xmlns='u'>", "</e>", "\u{a0}", "€", "'", "\"", "=", "/", "<a", "/>",
                "<a x='>'>", "<b\n>", "</b >", "<c/ >", "<a b='1'c='2'>", "<a\tb = \"&lt;\">",
                "&#x41;", "&#65", "&#;", "&#xZ;", "<?xml-stylesheet?>", "<?xml-stylesheet", "?>",
                "<a:b>", "<é>", "<a x='1\n2'>", "<a x=\"'\">", "<-a>", "<a-.b_>", "</a-.b_>",
            ]), 0..24),
            wrap in proptest::bool::ANY,
        ) {
            if !crate::render::xslt::engine::proven_here(crate::render::xslt::engine::FastPath::Scanner) {
                return Ok(());
            }
            let body: String = parts.concat();
            let xml = if wrap { format!("{D}\n<root>{body}</root>\n") } else { format!("{D}{body}") };
            if let Some(quick) = fast(&xml) {
                let slow = libxml2(&xml);
                proptest::prop_assert!(slow.is_some(), "libxml2 refuses what was accepted: {:?}", xml);
                same_dump(&dump(quick.ptr.as_ptr()), &dump(slow.unwrap().ptr.as_ptr()), &xml);
            }
        }
    }
}
