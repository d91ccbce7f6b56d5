//! Parsed documents and a read-only view of their trees.

use super::*;

/// The XSLT namespace.
pub const XSLT_NS: &str = "http://www.w3.org/1999/XSL/Transform";

/// A parsed XML document, owned by one thread at a time and never shared.
pub struct Document {
    pub(super) ptr: NonNull<ffi::xmlDoc>,
    /// Set when the document was built in a render arena, which it then keeps alive.
    pub(super) arena: Option<arena::Adopted>,
}

// SAFETY: a Document is the only owner of its libxml2 tree; moving it to another thread moves
// that exclusive ownership (libxml2 trees have no thread affinity), and it is not Sync.
unsafe impl Send for Document {}

impl Drop for Document {
    fn drop(&mut self) {
        match self.arena {
            Some(tag) => {
                // SAFETY: we own the document and nothing else references it once we drop;
                // its arena slot is not reused while `tag` counts it (see `arena`).
                unsafe { free_arena_doc(self.ptr.as_ptr(), tag.whole) };
                arena::release(tag);
            }
            // SAFETY: as above.
            None => unsafe { ffi::xmlFreeDoc(self.ptr.as_ptr()) },
        }
    }
}

/// Frees a document built in a render arena. When all its blocks are arena blocks (`whole`,
/// and no block of this render overflowed since), there is nothing to free but its
/// dictionary's reference to a parent dictionary, if it has one: the tree is not walked.
///
/// # Safety
/// `doc` is a document of the caller's, built in an arena slot that is still reserved for it.
pub(super) unsafe fn free_arena_doc(doc: ffi::xmlDocPtr, whole: bool) {
    // SAFETY: per the contract; xmlDictFree only drops this document's reference (and the
    // parent's, once the last one goes), its own blocks being arena blocks.
    unsafe {
        if whole && arena::whole() {
            let dict = (*doc).dict;
            if !dict.is_null() {
                ffi::xmlDictFree(dict);
            }
        } else {
            ffi::xmlFreeDoc(doc);
        }
    }
}

impl Document {
    /// Takes ownership of a document libxml2 (or the scanner) just built on this thread.
    pub(super) fn own(ptr: NonNull<ffi::xmlDoc>) -> Document {
        Document {
            ptr,
            arena: arena::adopt(ptr.as_ptr().cast()),
        }
    }

    pub(super) fn into_raw(self) -> ffi::xmlDocPtr {
        let p = self.ptr.as_ptr();
        if let Some(tag) = self.arena {
            // Handed to libxslt, which frees it before the render ends (document()).
            arena::release(tag);
        }
        std::mem::forget(self);
        p
    }

    /// The name the document was parsed under (its base URI), for messages.
    pub fn name(&self) -> String {
        // SAFETY: the document is alive; URL is NULL or a NUL-terminated string it owns.
        unsafe {
            let url = (*self.ptr.as_ptr()).URL;
            if url.is_null() {
                return String::new();
            }
            CStr::from_ptr(url.cast()).to_string_lossy().into_owned()
        }
    }

    /// Wraps the multi-step paths of the XSLT instructions of this stylesheet module in
    /// parentheses (see [`unstream`]); returns how many.
    pub(super) fn unstream_paths(&mut self) -> usize {
        let changes: Vec<(NonNull<ffi::xmlNode>, CString, CString)> = self
            .root()
            .into_iter()
            .flat_map(|root| root.descendants())
            .filter(|node| node.namespace() == Some(XSLT_NS))
            .flat_map(|node| {
                node.attributes()
                    .filter(|a| a.namespace.is_none())
                    .filter_map(move |a| {
                        let new = unstream::unstream(a.name, &a.value)?;
                        Some((
                            node.ptr,
                            CString::new(a.name).ok()?,
                            CString::new(new).ok()?,
                        ))
                    })
            })
            .collect();
        for (node, name, value) in &changes {
            // SAFETY: `node` is an element of this document, which `&mut self` keeps alive and
            // unshared; the strings are NUL-terminated. xmlSetProp replaces the value of the
            // existing attribute in place (freeing its old text children, which nothing
            // references: `changes` holds copies).
            unsafe { ffi::xmlSetProp(node.as_ptr(), name.as_ptr().cast(), value.as_ptr().cast()) };
        }
        changes.len()
    }

    /// The root element.
    pub fn root(&self) -> Option<Node<'_>> {
        // SAFETY: the document is alive for 'self; the root pointer is NULL or a valid node.
        let root = unsafe { ffi::xmlDocGetRootElement(self.ptr.as_ptr()) };
        NonNull::new(root).map(|ptr| Node {
            ptr,
            _doc: std::marker::PhantomData,
        })
    }
}

/// One attribute of a [`Node`].
#[derive(Debug, Clone)]
pub struct Attribute<'a> {
    /// Local name.
    pub name: &'a str,
    /// Namespace URI, if the attribute is prefixed.
    pub namespace: Option<&'a str>,
    /// Value.
    pub value: String,
}

/// A read-only view of an element of a [`Document`].
#[derive(Clone, Copy)]
pub struct Node<'a> {
    pub(super) ptr: NonNull<ffi::xmlNode>,
    pub(super) _doc: std::marker::PhantomData<&'a Document>,
}

impl<'a> Node<'a> {
    /// The element's local name.
    pub fn name(&self) -> &'a str {
        // SAFETY: element names are NUL-terminated UTF-8 strings owned by the document, which
        // outlives 'a.
        unsafe {
            let name = (*self.ptr.as_ptr()).name;
            if name.is_null() {
                return "";
            }
            CStr::from_ptr(name.cast()).to_str().unwrap_or("")
        }
    }

    /// The element children, in document order.
    pub fn children(&self) -> impl Iterator<Item = Node<'a>> {
        // SAFETY: the child list belongs to the document, alive for 'a.
        let mut next = unsafe { (*self.ptr.as_ptr()).children };
        std::iter::from_fn(move || loop {
            let cur = NonNull::new(next)?;
            // SAFETY: `cur` is a valid node of the same, alive document.
            unsafe {
                next = (*cur.as_ptr()).next;
                if (*cur.as_ptr()).type_ == ffi::xmlElementType_XML_ELEMENT_NODE {
                    return Some(Node {
                        ptr: cur,
                        _doc: std::marker::PhantomData,
                    });
                }
            }
        })
    }

    /// This element and every element beneath it, in document order.
    pub fn descendants(&self) -> impl Iterator<Item = Node<'a>> {
        let mut stack = vec![*self];
        std::iter::from_fn(move || {
            let node = stack.pop()?;
            let first = stack.len();
            stack.extend(node.children());
            stack[first..].reverse();
            Some(node)
        })
    }

    /// The first child element called `name`.
    pub fn child(&self, name: &str) -> Option<Node<'a>> {
        self.children().find(|c| c.name() == name)
    }

    /// An attribute's value.
    pub fn attr(&self, name: &str) -> Option<String> {
        let cname = CString::new(name).ok()?;
        // SAFETY: the node is alive; xmlGetProp returns a fresh xmlMalloc'd string or NULL,
        // which we copy and free with libxml2's own deallocator.
        unsafe {
            let v = ffi::xmlGetProp(self.ptr.as_ptr(), cname.as_ptr().cast());
            if v.is_null() {
                return None;
            }
            let s = CStr::from_ptr(v.cast()).to_string_lossy().into_owned();
            if let Some(free) = ffi::xmlFree {
                free(v.cast());
            }
            Some(s)
        }
    }

    /// The element's namespace URI.
    pub fn namespace(&self) -> Option<&'a str> {
        // SAFETY: `ns` is NULL or a namespace record owned by the document (alive for 'a),
        // whose href is a NUL-terminated string or NULL.
        unsafe {
            let ns = (*self.ptr.as_ptr()).ns;
            if ns.is_null() || (*ns).href.is_null() {
                return None;
            }
            CStr::from_ptr((*ns).href.cast()).to_str().ok()
        }
    }

    /// The element's namespace prefix, if it has one.
    pub fn prefix(&self) -> Option<&'a str> {
        // SAFETY: as in `namespace`.
        unsafe {
            let ns = (*self.ptr.as_ptr()).ns;
            if ns.is_null() || (*ns).prefix.is_null() {
                return None;
            }
            CStr::from_ptr((*ns).prefix.cast()).to_str().ok()
        }
    }

    /// The line of the element's start tag in its file.
    pub fn line(&self) -> i64 {
        // SAFETY: the node is alive; xmlGetLineNo only reads it.
        let line: std::ffi::c_long = unsafe { ffi::xmlGetLineNo(self.ptr.as_ptr()) };
        // c_long is 32 bits on some targets, 64 on others.
        #[allow(clippy::useless_conversion)]
        i64::from(line)
    }

    /// The namespace URI bound to `prefix` (`None`: the default namespace) where this element
    /// is.
    pub fn lookup_namespace(&self, prefix: Option<&str>) -> Option<String> {
        let cprefix = match prefix {
            Some(p) => Some(CString::new(p).ok()?),
            None => None,
        };
        // SAFETY: the node and its document are alive; xmlSearchNs only reads the tree and
        // returns NULL or a namespace record owned by it.
        unsafe {
            let node = self.ptr.as_ptr();
            let ns = ffi::xmlSearchNs(
                (*node).doc,
                node,
                cprefix.as_ref().map_or(ptr::null(), |p| p.as_ptr().cast()),
            );
            if ns.is_null() || (*ns).href.is_null() {
                return None;
            }
            Some(
                CStr::from_ptr((*ns).href.cast())
                    .to_string_lossy()
                    .into_owned(),
            )
        }
    }

    /// The element's attributes, in document order.
    pub fn attributes(&self) -> impl Iterator<Item = Attribute<'a>> {
        // SAFETY: the attribute list belongs to the document, alive for 'a.
        let mut next = unsafe { (*self.ptr.as_ptr()).properties };
        std::iter::from_fn(move || {
            let cur = NonNull::new(next)?;
            // SAFETY: `cur` is a valid attribute of the same, alive document; its name and
            // namespace strings are NUL-terminated and owned by the document;
            // xmlNodeGetContent returns a fresh string we copy and free.
            unsafe {
                let a = cur.as_ptr();
                next = (*a).next;
                let name = if (*a).name.is_null() {
                    ""
                } else {
                    CStr::from_ptr((*a).name.cast()).to_str().unwrap_or("")
                };
                let ns = (*a).ns;
                let namespace = if ns.is_null() || (*ns).href.is_null() {
                    None
                } else {
                    CStr::from_ptr((*ns).href.cast()).to_str().ok()
                };
                let v = ffi::xmlNodeGetContent(a.cast());
                let value = if v.is_null() {
                    String::new()
                } else {
                    let s = CStr::from_ptr(v.cast()).to_string_lossy().into_owned();
                    if let Some(free) = ffi::xmlFree {
                        free(v.cast());
                    }
                    s
                };
                Some(Attribute {
                    name,
                    namespace,
                    value,
                })
            }
        })
    }

    /// The concatenated text content.
    pub fn text(&self) -> String {
        // SAFETY: as in `attr`: a fresh string we copy and free.
        unsafe {
            let v = ffi::xmlNodeGetContent(self.ptr.as_ptr());
            if v.is_null() {
                return String::new();
            }
            let s = CStr::from_ptr(v.cast()).to_string_lossy().into_owned();
            if let Some(free) = ffi::xmlFree {
                free(v.cast());
            }
            s
        }
    }
}
