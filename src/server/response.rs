//! Building responses: the one mapping from errors to HTTP status ([`error_response`]),
//! content negotiation for compression, conditional-request checks and header helpers.

use std::io::Write;
use std::time::SystemTime;

use bytes::Bytes;
use http_body_util::{combinators::BoxBody, BodyExt, Full};
use hyper::header::{self, HeaderValue};
use hyper::{Response, StatusCode};

use crate::observe::tally;
use crate::render::{Overloaded, RenderError};
use crate::site::{HostError, MapError, SiteError};

/// Response body type of the publisher: a whole buffer or a streamed file.
pub type Body = BoxBody<Bytes, std::io::Error>;

/// Everything that can stop a request before a normal answer.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// Missing, duplicated or malformed Host.
    #[error("bad Host: {0}")]
    Host(#[from] HostError),
    /// No site for this host.
    #[error("no site for host {0}")]
    UnknownHost(String),
    /// The domain map could not answer.
    #[error("{0}")]
    Map(#[from] MapError),
    /// The site file named by the map is bad or missing.
    #[error("{0}")]
    Site(#[from] SiteError),
    /// Parsing or transforming failed.
    #[error("host {host}, site file {file}: {source}")]
    Render {
        /// The requested host.
        host: String,
        /// The site file (relative to the sites root).
        file: String,
        /// What failed.
        source: RenderError,
    },
    /// The render queue is full.
    #[error("{0}")]
    Overloaded(#[from] Overloaded),
    /// The open-file budget (of the connection or the process) is spent.
    #[error("too many files open at once; retry shortly")]
    FilesBusy,
    /// A file route (media, assets) found nothing.
    #[error("not found")]
    NotFound,
    /// Only GET and HEAD are served.
    #[error("method not allowed")]
    MethodNotAllowed,
    /// The request declares a body; nothing served here takes one.
    #[error("request with a body")]
    BodyNotAllowed,
}

/// The one place that maps an error to a status code.
pub fn status_of(err: &ServeError) -> StatusCode {
    match err {
        ServeError::Host(_) => StatusCode::BAD_REQUEST,
        ServeError::UnknownHost(_) | ServeError::NotFound => StatusCode::NOT_FOUND,
        ServeError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
        ServeError::BodyNotAllowed => StatusCode::PAYLOAD_TOO_LARGE,
        // The answer is unknown rather than negative: ask the client to come back.
        ServeError::Map(MapError::Unavailable { .. } | MapError::Saturated { .. })
        | ServeError::Overloaded(_)
        | ServeError::FilesBusy => StatusCode::SERVICE_UNAVAILABLE,
        // One broken entry of the map: that host only, until an operator fixes it.
        ServeError::Map(MapError::BadEntry { .. }) => StatusCode::SERVICE_UNAVAILABLE,
        // The map points to a file that is not (or not yet) there: an inconsistency an
        // operator must fix; 503 keeps search engines from dropping the site meanwhile.
        ServeError::Site(SiteError::Unreadable { .. }) => StatusCode::SERVICE_UNAVAILABLE,
        ServeError::Map(_) | ServeError::Site(_) | ServeError::Render { .. } => {
            StatusCode::INTERNAL_SERVER_ERROR
        }
    }
}

/// The neutral page sent for an error (never a half-rendered page).
pub fn error_response(err: &ServeError) -> Response<Body> {
    let status = status_of(err);
    // A map outage is logged once when it starts and once when it ends
    // (`site::last_known`), not once per request it fails; a spent file budget has its own
    // tally (`server::budget`).
    let logged_elsewhere = matches!(
        err,
        ServeError::Map(MapError::Unavailable { .. }) | ServeError::FilesBusy
    );
    if status.is_server_error() && !logged_elsewhere {
        // One line per interval, not per request: a broken site asked 1,000 times a second
        // must not become 1,000 log lines a second.
        tally::SERVER_ERRORS.hit_with(format_args!("{} {err}", status.as_u16()));
    } else {
        tracing::debug!(status = status.as_u16(), "{err}");
    }
    let (title, text) = match err {
        ServeError::UnknownHost(_) => ("No site here", "There is no site at this address."),
        ServeError::Host(_) => ("Bad request", "The request's Host header is not valid."),
        ServeError::NotFound => ("Not found", "This file does not exist."),
        ServeError::MethodNotAllowed => ("Method not allowed", "Only GET and HEAD are served."),
        ServeError::BodyNotAllowed => ("Content too large", "Requests here carry no body."),
        _ if status == StatusCode::SERVICE_UNAVAILABLE => (
            "Temporarily unavailable",
            "This site cannot be shown right now. Please try again in a moment.",
        ),
        _ => (
            "Server error",
            "This page cannot be shown right now. The error has been logged.",
        ),
    };
    let html = format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
         <title>{title}</title></head><body style=\"font-family:system-ui,sans-serif;\
         max-width:32rem;margin:4rem auto;padding:0 1rem;color:#333\"><h1>{title}</h1>\
         <p>{text}</p></body></html>\n"
    );
    let mut resp = Response::new(full(Bytes::from(html)));
    *resp.status_mut() = status;
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    if status == StatusCode::SERVICE_UNAVAILABLE {
        let retry = if matches!(
            err,
            ServeError::Overloaded(_)
                | ServeError::FilesBusy
                | ServeError::Map(MapError::Saturated { .. })
        ) {
            "1"
        } else {
            "5"
        };
        h.insert(header::RETRY_AFTER, HeaderValue::from_static(retry));
    }
    if status == StatusCode::METHOD_NOT_ALLOWED {
        h.insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
    }
    resp
}

/// A whole-buffer body.
pub fn full(bytes: Bytes) -> Body {
    Full::new(bytes).map_err(|never| match never {}).boxed()
}

/// Content codings this server produces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Coding {
    /// No compression.
    Identity,
    /// gzip.
    Gzip,
    /// Brotli.
    Brotli,
}

impl Coding {
    /// The `Content-Encoding` token, if any.
    pub fn token(self) -> Option<&'static str> {
        match self {
            Coding::Identity => None,
            Coding::Gzip => Some("gzip"),
            Coding::Brotli => Some("br"),
        }
    }

    /// The suffix that keeps each coding's ETag distinct (they are different bytes).
    pub fn etag_suffix(self) -> &'static str {
        match self {
            Coding::Identity => "",
            Coding::Gzip => "-gz",
            Coding::Brotli => "-br",
        }
    }

    /// Picks the coding from an `Accept-Encoding` value: brotli, then gzip, when accepted with
    /// a non-zero quality.
    pub fn negotiate(accept: Option<&str>) -> Coding {
        let Some(accept) = accept else {
            return Coding::Identity;
        };
        let mut br = false;
        let mut gzip = false;
        for item in accept.split(',') {
            let mut parts = item.split(';');
            let token = parts.next().unwrap_or("").trim();
            let q_zero = parts.any(|p| {
                p.trim()
                    .strip_prefix("q=")
                    .and_then(|q| q.trim().parse::<f32>().ok())
                    .is_some_and(|q| q <= 0.0)
            });
            if q_zero {
                continue;
            }
            if token.eq_ignore_ascii_case("br") {
                br = true;
            } else if token.eq_ignore_ascii_case("gzip") || token.eq_ignore_ascii_case("x-gzip") {
                gzip = true;
            }
        }
        if br {
            Coding::Brotli
        } else if gzip {
            Coding::Gzip
        } else {
            Coding::Identity
        }
    }

    /// Compresses `body` (fast settings: pages are compressed on every request).
    pub fn encode(self, body: &[u8]) -> std::io::Result<Bytes> {
        match self {
            Coding::Identity => Ok(Bytes::copy_from_slice(body)),
            Coding::Gzip => {
                let mut enc = flate2::write::GzEncoder::new(
                    Vec::with_capacity(body.len() / 3),
                    flate2::Compression::new(4),
                );
                enc.write_all(body)?;
                Ok(Bytes::from(enc.finish()?))
            }
            Coding::Brotli => {
                let mut out = Vec::with_capacity(body.len() / 3);
                {
                    let mut w = brotli::CompressorWriter::new(&mut out, 4096, 3, 18);
                    w.write_all(body)?;
                }
                Ok(Bytes::from(out))
            }
        }
    }
}

/// Whether a conditional GET/HEAD can be answered 304: `If-None-Match` (weak comparison,
/// RFC 9110 §13.1.2) takes precedence over `If-Modified-Since`.
pub fn not_modified(
    if_none_match: Option<&str>,
    if_modified_since: Option<&str>,
    etag: &str,
    last_modified: SystemTime,
) -> bool {
    if let Some(inm) = if_none_match {
        let ours = etag.trim_start_matches("W/");
        return inm.split(',').any(|t| {
            let t = t.trim();
            t == "*" || t.trim_start_matches("W/") == ours
        });
    }
    if let Some(ims) = if_modified_since.and_then(|v| httpdate::parse_http_date(v).ok()) {
        return truncate_secs(last_modified) <= ims;
    }
    false
}

fn truncate_secs(t: SystemTime) -> SystemTime {
    let secs = t
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(secs)
}

/// A header's value as text, if present and visible ASCII.
pub fn header_str(headers: &hyper::HeaderMap, name: header::HeaderName) -> Option<&str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// An HTTP-date header value.
pub fn http_date(t: SystemTime) -> HeaderValue {
    HeaderValue::from_str(&httpdate::fmt_http_date(t)).expect("HTTP dates are ASCII")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negotiates_codings() {
        assert_eq!(Coding::negotiate(None), Coding::Identity);
        assert_eq!(Coding::negotiate(Some("gzip, deflate")), Coding::Gzip);
        assert_eq!(Coding::negotiate(Some("gzip, deflate, br")), Coding::Brotli);
        assert_eq!(Coding::negotiate(Some("br;q=0, gzip")), Coding::Gzip);
        assert_eq!(Coding::negotiate(Some("identity")), Coding::Identity);
    }

    #[test]
    fn compressed_bodies_round_trip() {
        use std::io::Read;
        let body = "<p>Boulangerie Martin – pain au levain</p>".repeat(50);
        let gz = Coding::Gzip.encode(body.as_bytes()).unwrap();
        let mut out = String::new();
        flate2::read::GzDecoder::new(&gz[..])
            .read_to_string(&mut out)
            .unwrap();
        assert_eq!(out, body);
        let br = Coding::Brotli.encode(body.as_bytes()).unwrap();
        let mut out = Vec::new();
        brotli::Decompressor::new(&br[..], 4096)
            .read_to_end(&mut out)
            .unwrap();
        assert_eq!(out, body.as_bytes());
    }

    #[test]
    fn conditional_checks() {
        let t = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_700_000_000);
        let date = httpdate::fmt_http_date(t);
        assert!(not_modified(Some("\"a\", \"b\""), None, "\"b\"", t));
        assert!(not_modified(Some("W/\"b\""), None, "\"b\"", t));
        assert!(!not_modified(Some("\"c\""), Some(&date), "\"b\"", t));
        assert!(not_modified(None, Some(&date), "\"b\"", t));
        let later = t + std::time::Duration::from_secs(5);
        assert!(!not_modified(None, Some(&date), "\"b\"", later));
    }
}
