//! Building responses: the one mapping from errors to HTTP status ([`error_response`]),
//! content negotiation for compression, conditional-request checks and header helpers.

use std::time::SystemTime;

use bytes::Bytes;
use http_body_util::{combinators::BoxBody, BodyExt, Full};
use hyper::header::{self, HeaderValue};
use hyper::{Response, StatusCode};

use crate::map::MapError;
use crate::observe::tally;
use crate::page::PageError;
use crate::site::{HostError, SiteError};

/// Response body type of the publisher: a whole buffer or a streamed file.
pub type Body = BoxBody<Bytes, std::io::Error>;

/// Everything that can stop a request before a normal answer.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// Missing, duplicated or malformed Host.
    #[error("bad Host: {0}")]
    Host(#[from] HostError),
    /// The page step failed: resolve, read, render or encode.
    #[error("{0}")]
    Page(#[from] PageError),
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
        ServeError::NotFound => StatusCode::NOT_FOUND,
        ServeError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
        ServeError::BodyNotAllowed => StatusCode::PAYLOAD_TOO_LARGE,
        ServeError::FilesBusy => StatusCode::SERVICE_UNAVAILABLE,
        ServeError::Page(err) => match err {
            PageError::UnknownHost { .. } | PageError::UnknownPage { .. } => StatusCode::NOT_FOUND,
            PageError::BadHost { .. } => StatusCode::BAD_REQUEST,
            // The answer is unknown rather than negative: ask the client to come back.
            PageError::Map(MapError::Unavailable { .. } | MapError::Saturated { .. })
            | PageError::Overloaded(_) => StatusCode::SERVICE_UNAVAILABLE,
            // One broken entry of the map: that host only, until an operator fixes it.
            PageError::Map(MapError::BadEntry { .. }) => StatusCode::SERVICE_UNAVAILABLE,
            // The map points to a file that is not (or not yet) there: an inconsistency an
            // operator must fix; 503 keeps search engines from dropping the site meanwhile.
            PageError::Site(SiteError::Unreadable { .. }) => StatusCode::SERVICE_UNAVAILABLE,
            PageError::Map(_)
            | PageError::Site(_)
            | PageError::Render { .. }
            | PageError::Encode { .. } => StatusCode::INTERNAL_SERVER_ERROR,
        },
    }
}

/// The neutral page sent for an error (never a half-rendered page).
pub fn error_response(err: &ServeError) -> Response<Body> {
    let status = status_of(err);
    // A map outage is logged once when it starts and once when it ends
    // (`map::last_known`), not once per request it fails; a spent file budget has its own
    // tally (`server::budget`).
    let logged_elsewhere = matches!(
        err,
        ServeError::Page(PageError::Map(MapError::Unavailable { .. })) | ServeError::FilesBusy
    );
    if status.is_server_error() && !logged_elsewhere {
        // One line per interval, not per request: a broken site asked 1,000 times a second
        // must not become 1,000 log lines a second.
        tally::SERVER_ERRORS.hit_with(format_args!("{} {err}", status.as_u16()));
    } else {
        tracing::debug!(status = status.as_u16(), "{err}");
    }
    let (title, text) = match err {
        ServeError::Page(PageError::UnknownHost { .. }) => {
            ("No site here", "There is no site at this address.")
        }
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
            ServeError::Page(PageError::Overloaded(_) | PageError::Map(MapError::Saturated { .. }))
                | ServeError::FilesBusy
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

/// A header's value as text, if present and visible ASCII.
pub fn header_str(headers: &hyper::HeaderMap, name: header::HeaderName) -> Option<&str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// An HTTP-date header value.
pub fn http_date(t: SystemTime) -> HeaderValue {
    HeaderValue::from_str(&httpdate::fmt_http_date(t)).expect("HTTP dates are ASCII")
}
