//! Back-office records: one professional per JSON line, the exporter's input format.
//!
//! This module owns the record types (serde, `deny_unknown_fields`, so a misspelt field is an
//! error rather than silently dropped), the decoding of one line with the JSON path of a
//! syntax or type error ([`parse_line`]), and the rules a record must satisfy before it becomes a
//! site XML ([`Record::check`]), each problem named by its field path
//! (`pages[1].sections[0].blocks[2].services[0].price.amount`). The rules are those of the
//! data contract (README, "The data contract" and "Back-office records"), checked here so that
//! the operator gets a field path instead of a RELAX NG message about the generated XML.
//!
//! Nothing here parses markup: inline text is plain strings and runs
//! (`"text"`, `{"em": …}`, `{"strong": …}`, `{"a": …, "href": "…"}`), so a `<` typed in the back
//! office is a `<` on the page.
//!
//! The parts:
//! * `types`: the record types, field for field ([`Record`], [`Page`], [`Block`], [`Inline`]…).
//! * `serde_impl`: hand-written serde for the compact forms (a day, a period, inline text and
//!   its runs, a decimal).
//! * `limits`: the contract's size limits and the page ids the publisher routes itself.
//! * `decode`: one line into a [`Record`] ([`parse_line`], [`sniff_id`]), and the errors a
//!   line can have, each with its field path ([`FieldError`], [`RecordError`]).
//! * `rules`: [`Record::check`], part by part, against [`Rules`] (the themes that exist).
//! * `checker`: the problem collector the rules write to, which keeps the field path, and the
//!   checks many fields share.
//! * `formats`: what a well-formed value is (ids, dates, decimals, links, domains…).
//! * `tests`: the unit tests; `tests::MINIMAL` is the smallest valid record.

mod checker;
mod decode;
mod formats;
mod limits;
mod rules;
mod serde_impl;
#[cfg(test)]
pub(crate) mod tests;
mod types;

pub use decode::{parse_line, sniff_id, FieldError, RecordError};
pub use formats::{normalise_domain, valid_media_src, valid_slug};
pub use limits::{
    MAX_BLOCKS, MAX_DOMAINS, MAX_INLINE_CHARS, MAX_INLINE_DEPTH, MAX_ITEMS, MAX_LINE_BYTES,
    MAX_LINE_CHARS, MAX_PAGES, MAX_PROBLEMS, MAX_SECTIONS, MAX_SMALL, RESERVED_PAGE_IDS,
};
pub use rules::Rules;
pub use types::{
    Address, Aliases, Block, Closure, Contact, Country, Day, Decimal, Geo, Hours, HttpsPolicy,
    Identity, Inline, Legal, Logo, Page, Period, Phone, PhoneKind, Photo, Price, Record,
    Registration, Run, Section, Service, Video, VideoType,
};
