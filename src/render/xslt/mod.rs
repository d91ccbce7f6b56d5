//! The only module that touches libxml2 and libxslt (through the `libxslt` crate's raw
//! `bindings` and the C files of `c/`). Everything above it sees safe types:
//! [`Document`] (a private, parsed input), [`Stylesheet`] (compiled once, shared by threads),
//! [`transform`], [`Schema`] (the site XML contract in RELAX NG, compiled once, shared by
//! threads) and [`engine()`] (which libraries are in use and which fast paths are on).
//!
//! # Files
//!
//! - `init.rs`: process-wide set-up (allocator hooks, loaders, security preferences);
//! - `engine.rs`: built and loaded versions, the fast paths and their start-up self-test;
//! - `diagnostics.rs`: what the libraries report, and where ([`Location`]), as data;
//! - `loader.rs`: the confined loader of imports, includes and `document()`;
//! - `budget.rs`: the memory and time budget of a transform;
//! - `dom.rs`: documents and a read-only view of their trees, for the lint;
//! - `lint.rs`: what a theme module may contain;
//! - `parse.rs`, `stylesheet.rs`, `transform.rs`, `schema.rs`: the operations;
//! - `compat.rs`: what differs between library versions on the Rust side;
//! - `sys.rs` and `c/`: the C side, compiled against the installed headers;
//! - the fast paths: `parse_fast.rs`, `html_writer.rs`, `xpath_fast.rs` (with
//!   `c/xpath_fast.c`), `unstream.rs`, `arena.rs`, `c/ns_intern.c`.
//!
//! # The libraries' contract
//!
//! Every libxml2/libxslt object is made and freed by the library's own constructor and
//! destructor; the C files only read or set fields that exist, at the same place, in every
//! supported version. Each fast path leans on how a version behaves, so it is on only where
//! [`engine()`] allows it: proven versions, the loaded libraries equal to those built against,
//! and a start-up self-test that renders a probe page with and without the fast paths.
//!
//! # Thread model
//!
//! libxslt is designed for one compiled stylesheet to be applied concurrently from many threads
//! (upstream's `testThreads.c` does exactly that), under conditions this module enforces:
//!
//! 1. global initialisation ([`init`]) runs once, before any parse or transform, and installs
//!    every process-wide hook (entity loader, libxslt document loader, security preferences,
//!    error handlers);
//! 2. every transform gets its own input document (libxslt mutates the input: strip-space,
//!    document-order indexes) and its own transform context; a [`Document`] is owned, never
//!    shared;
//! 3. a [`Stylesheet`] is freed only when its last `Arc` is dropped, so never while in use;
//! 4. stylesheets that libxslt before 1.1.38 would write into during a transform (`xsl:sort`
//!    with attribute value templates, libxslt issue #78) are refused at compile time there.
//!
//! # Safety defaults
//!
//! Parsing never loads DTDs or external entities, never touches the network and refuses any
//! DOCTYPE. libxslt's own loader (used by `xsl:import`, `xsl:include` and `document()`) is
//! replaced by one that reads only files beneath the allowed roots of the current thread and
//! parses them with the same safe options. The security preferences forbid writing files,
//! creating directories and any network access; reading is confined to the same roots.
//! Every module is checked by [`lint`] before libxslt compiles it; imports and
//! includes are bounded in depth and refused in cycles; no libxslt plugin can be loaded.
//!
//! # Budgets
//!
//! A transform is bounded in template depth, XSLT instructions and XPath steps (libxslt's and
//! libxml2's own counters), and in memory and wall-clock time by the allocation hooks of
//! `Budget` (see [`Limits`]), which stop it from the thread running it. Messages are bounded too
//! ([`MAX_MESSAGES`], [`MAX_MESSAGE_BYTES`]).
//!
//! # Memory
//!
//! All libxml2 memory goes through the same hooks, to mimalloc, except during a page render
//! ([`render_scope`]) when the arena fast path is on: there it comes from the render thread's
//! arena, and the render's trees are dropped at once when it ends, without being walked
//! (`arena.rs` says what keeps that sound).
//!
//! # Evaluation
//!
//! With the unstream fast path, before libxslt compiles a module its multi-step paths are
//! wrapped in parentheses, so that libxml2 evaluates them step by step rather than by
//! streaming over the whole document (`unstream.rs`).

use std::cell::{Cell, RefCell};
use std::ffi::{c_char, c_int, c_ulong, c_void, CStr, CString};
use std::path::{Path, PathBuf};
use std::ptr::{self, NonNull};
use std::sync::atomic::{AtomicPtr, Ordering};
use std::sync::Once;
use std::time::{Duration, Instant};

use bytes::Bytes;
use libmimalloc_sys as mimalloc;
use libxslt::bindings as ffi;

mod arena;
mod budget;
mod compat;
mod diagnostics;
mod dom;
pub mod engine;
mod html_writer;
mod init;
pub mod lint;
mod loader;
mod parse;
mod parse_fast;
mod schema;
mod stylesheet;
mod sys;
mod transform;
mod unstream;
mod version_number;
mod versions;
mod xpath_fast;

#[cfg(test)]
mod tests;

use budget::*;
use compat::*;
pub use diagnostics::Location;
use diagnostics::*;
use dom::*;
pub use dom::{Attribute, Document, Node};
pub use engine::{engine, Engine, FastPath, FastPaths, Versions};
pub use init::init;
use init::*;
use loader::*;
use parse::*;
pub use parse::{compare_parsers, parse_document};
pub use schema::{Schema, SchemaError, SchemaProblem, SITE_RNG};
pub use stylesheet::{OutputSpec, Stylesheet};
use sys::*;
use transform::*;
pub use transform::{render_scope, transform, Limits};

/// Largest XML file (site, stylesheet or `document()` target) this module parses.
pub const MAX_XML_BYTES: usize = 1 << 20;

/// Most documents one compile or transform may load through `xsl:import`, `xsl:include` or
/// `document()` (a module included from several places is loaded each time).
const MAX_LOADS: usize = 64;

/// Deepest `xsl:import`/`xsl:include` nesting (the main file is level 0). libxslt 1.1.35 has
/// no such limit (1.1.39 added one of 40) and only partial cycle checks (a cycle through both
/// an import and an include recurses until the stack overflows), so the loader enforces both.
pub const MAX_NESTING: usize = 16;

/// Messages kept per operation (parse, compile or transform): hostile input can produce
/// hundreds of thousands (one per undeclared namespace prefix, one per `xsl:message`...).
/// Beyond, they are only counted, so an error logs at most about
/// `MAX_MESSAGES * MAX_MESSAGE_BYTES` bytes, then "N more errors suppressed".
pub const MAX_MESSAGES: usize = 16;

const NO_DIAGNOSTIC: &str = "no diagnostic given";

/// Bytes kept of one message (libxml2 quotes names and values, which may be huge).
pub const MAX_MESSAGE_BYTES: usize = 400;

/// Parse options for every document: no network, no entity substitution, no DTD loading,
/// no XInclude, no HUGE (which would lift libxml2's entity-amplification and depth limits).
/// COMPACT stores short text nodes inside the node instead of a separate allocation; parsed
/// documents are only read (libxslt never edits a text node of its input), which is the
/// condition libxml2 sets for it.
const SAFE_PARSE_OPTIONS: c_int =
    (ffi::xmlParserOption_XML_PARSE_NONET | ffi::xmlParserOption_XML_PARSE_COMPACT) as c_int;

/// The variable libxslt reads to find extension plugins, and the value that disables them.
const PLUGINS_ENV: &str = "LIBXSLT_PLUGINS_PATH";
const NO_PLUGINS: &str = "/dev/null";

const XSLT_LOAD_STYLESHEET: ffi::xsltLoadType = 1;
const XSLT_LOAD_DOCUMENT: ffi::xsltLoadType = 2;

#[derive(Debug, thiserror::Error)]
pub enum XmlError {
    /// The document is not well-formed XML.
    #[error("{file}: not well-formed XML: {messages}")]
    Parse {
        /// The file (or URL) being parsed.
        file: String,
        /// libxml2's messages, with line numbers.
        messages: String,
        /// Where the fault is (the file itself, or a document it loads).
        at: Box<Location>,
    },
    /// The document declares a DOCTYPE, which the data contract forbids.
    #[error("{file}: DOCTYPE declarations are not allowed")]
    Doctype {
        /// The file being parsed.
        file: String,
    },
    /// The file exceeds [`MAX_XML_BYTES`].
    #[error("{file}: {size} bytes is over the {MAX_XML_BYTES}-byte limit")]
    TooLarge {
        /// The file being parsed.
        file: String,
        /// Its size.
        size: usize,
    },
    /// The file could not be read.
    #[error("{file}: {source}")]
    Io {
        /// The file being read.
        file: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The stylesheet did not compile (or was refused by the safety lint).
    #[error("{file}: stylesheet does not compile: {messages}")]
    Compile {
        /// The stylesheet's main file.
        file: String,
        /// libxslt's messages, with line numbers.
        messages: String,
        /// The module and line at fault (maybe an imported module, not the main file).
        at: Box<Location>,
    },
    /// The transform failed; no output is produced.
    #[error("transform failed: {messages}")]
    Transform {
        /// libxslt's messages.
        messages: String,
        /// The stylesheet module and line at fault, when libxslt said.
        at: Option<Box<Location>>,
    },
}

impl XmlError {
    /// The place to fix this error, as libxml2 and libxslt reported it, if known.
    pub fn location(&self) -> Option<Location> {
        match self {
            XmlError::Parse { at, .. } | XmlError::Compile { at, .. } => Some((**at).clone()),
            XmlError::Transform { at, .. } => at.as_deref().cloned(),
            XmlError::Doctype { file }
            | XmlError::TooLarge { file, .. }
            | XmlError::Io { file, .. } => Some(diagnostics::at(file, None)),
        }
    }
}
