//! The size limits of the data contract, and the page ids the publisher routes itself.
//!
//! Decoding refuses a line over [`MAX_LINE_BYTES`] before parsing it, and stops a day at
//! [`MAX_SMALL`] periods and an inline text at [`MAX_ITEMS`] runs; the checks enforce the rest,
//! each with the field path.

/// Longest accepted JSON line, in bytes. A site XML is at most 1 MiB and its record is
/// smaller than its XML; a longer line is refused without being decoded.
pub const MAX_LINE_BYTES: usize = 2 << 20;
/// Longest single-line text (names, titles, captions, legal lines...), in characters.
pub const MAX_LINE_CHARS: usize = 300;
/// Longest inline text (a paragraph, a list item, a service description), in characters,
/// all runs together.
pub const MAX_INLINE_CHARS: usize = 5_000;
/// Deepest nesting of `em`/`strong`/`a` runs.
pub const MAX_INLINE_DEPTH: usize = 4;
/// Most domains per site.
pub const MAX_DOMAINS: usize = 20;
/// Most pages per site.
pub const MAX_PAGES: usize = 30;
/// Most sections per page.
pub const MAX_SECTIONS: usize = 30;
/// Most blocks per section.
pub const MAX_BLOCKS: usize = 50;
/// Most entries in one list, services block or gallery; most runs in one inline text.
pub const MAX_ITEMS: usize = 100;
/// Most phones, street lines, closures, opening periods of one day.
pub const MAX_SMALL: usize = 10;
/// Most problems reported per record.
pub const MAX_PROBLEMS: usize = 10;
/// Page ids the publisher routes itself.
pub const RESERVED_PAGE_IDS: [&str; 5] =
    ["media", "assets", "healthz", "robots.txt", "sitemap.xml"];
