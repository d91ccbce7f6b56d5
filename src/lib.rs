//! Vitrine publishes professional mini-sites: for every request it resolves the Host through
//! a domain map, reads that site's XML fresh from disk, applies the site's XSL theme and
//! answers with HTML. No page cache: a regenerated site is live on the next request.
//!
//! # Layout
//!
//! * [`site`]: host normalisation, site file paths, confined reads of site files.
//! * [`map`]: the domain map, host -> site file (Redis, the only module talking to it, or
//!   in-memory), and what is served while Redis is down.
//! * [`render`]: compiled themes, the render thread pool, page rendering; [`render::xslt`] is
//!   the only module touching libxml2/libxslt.
//! * [`server`]: the HTTP server and the request pipeline ([`server::handler`]), which calls
//!   [`page`] for pages.
//! * [`tls`]: the HTTPS listener's handshakes, certificates sealed in the shared store,
//!   ACME ordering and renewal.
//! * [`watch`]: stylesheet hot reload.
//! * [`replay`]: access-log replay against a server (`vitrine replay`), with its report. The
//!   generators of benchmark inputs are the `vitrine-bench` tool's (`bench/tools`).
//! * [`fsx`]: opening files beneath a root, with no escape.
//! * [`export`]: back-office records to site XML files and domain map entries.
//! * [`cli`] and [`cmd`]: the command line, one module per subcommand.
//! * [`page`]: one page of one site, the same steps for the server, `vitrine render` and
//!   the static tree of every page ([`page::static_tree`]).
//! * [`observe`]: the log, and repeated events logged once per interval.
//! * [`check`]: the pre-deploy check of stylesheets, site XMLs, renders and the domain map.

pub mod check;
pub mod cli;
pub mod cmd;
pub mod export;
pub mod fsx;
pub mod map;
pub mod observe;
pub mod page;
pub mod render;
pub mod replay;
pub mod server;
pub mod site;
pub mod tls;
pub mod watch;
