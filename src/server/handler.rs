//! The request pipeline, top to bottom:
//!
//! 1. **Method**: GET and HEAD only (405 otherwise), without a body (413). `/healthz`
//!    answers here, for any host.
//! 2. **Host**: `:authority` or the single `Host` header, normalised (400 if invalid).
//! 3. **Resolve**: one map lookup, host -> site XML path (404 unknown host, 503 map down).
//! 4. **HTTPS** (plain listener, when there is an HTTPS one): ACME HTTP-01 challenges
//!    answered from the shared store; a host with a certificate gets a 308 to `https://`.
//!    (The site's own policy, alias redirects and HSTS, is in its XML: step 6 reads it.)
//! 5. **Dispatch**: `/assets/…` (theme assets, shared by every site, so only for a mapped
//!    host: an unknown name or a bare address gets the neutral 404), `/media/…` (the site's
//!    files, with Range; files with several hard links refused; each open file drawn from
//!    its connection's and the process's budget, [`super::budget`]), `/robots.txt`,
//!    `/sitemap.xml`, or a page: `/` is the first page, `/<page-id>` a named one.
//! 6. **Render** ([`crate::page`]'s page step, on the render pool, never on the reactor):
//!    read the XML fresh from disk, find its theme from the prolog, send a declared alias
//!    of a site whose aliases redirect to its main domain (301), answer 304 if the client's
//!    ETag or date still matches (before any parse), else parse, transform, compress.
//!    `robots.txt` and `sitemap.xml` parse without a transform (and redirect the same way).
//!    Media and theme assets are served on every mapped name: pages link them relative to
//!    the main domain, and reading the site file for each photo would cost a read for
//!    nothing.
//! 7. **Respond**: headers from the theme's `xsl:output`, ETag/Last-Modified, `Vary`, and
//!    on HTTPS the site's `Strict-Transport-Security` if it opted in.
//! 8. **Log**: with `--access-log`, the request's line is handed to the log's writer
//!    thread without waiting ([`crate::observe::access_log`]); a full buffer drops it,
//!    counted.
//!
//! Every failure becomes a [`ServeError`], turned into a response in one place
//! ([`super::response::error_response`]).

use std::sync::Arc;
use std::time::{Instant, SystemTime};

use bytes::Bytes;
use hyper::body::Incoming;
use hyper::header::{self, HeaderMap, HeaderValue};
use hyper::{Method, Request, Response, StatusCode, Version};

use super::budget::FileBudget;
use super::conn::{Addresses, Secure};
use super::files;
use super::response::{error_response, full, header_str, http_date, Body, ServeError};
use super::{AppState, Https};
use crate::fsx::RelPath;
use crate::observe::access_log;
use crate::page::{self, Answer, Coding, Conditional, Validators};
use crate::render::Outline;
use crate::site::Host;

/// Handles one request; never fails (errors become error pages).
pub async fn handle(state: Arc<AppState>, req: Request<Incoming>) -> Response<Body> {
    let started = (SystemTime::now(), Instant::now());
    let head = req.method() == Method::HEAD;
    let (routed, note) = access_log::observe(route(&state, &req)).await;
    let mut resp = match routed {
        Ok(resp) => resp,
        Err(err) => error_response(&err),
    };
    if resp.status() == StatusCode::PAYLOAD_TOO_LARGE && req.version() <= Version::HTTP_11 {
        // The unread body would be parsed as the next request: end the connection instead.
        resp.headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    if head {
        // HEAD gets the GET headers (Content-Length included) and no body.
        if let Some(len) = hyper::body::Body::size_hint(resp.body()).exact() {
            if !resp.headers().contains_key(header::CONTENT_LENGTH) {
                resp.headers_mut()
                    .insert(header::CONTENT_LENGTH, HeaderValue::from(len));
            }
        }
        *resp.body_mut() = full(Bytes::new());
    }
    // 8. Log
    if let Some(log) = &state.access_log {
        log.record(log_entry(&req, &resp, started, note));
    }
    resp
}

/// The access-log entry of an answered request: reference-counted clones, no formatting.
fn log_entry(
    req: &Request<Incoming>,
    resp: &Response<Body>,
    (time, clock): (SystemTime, Instant),
    note: access_log::Note,
) -> access_log::Entry {
    let mut hosts = req.headers().get_all(header::HOST).iter();
    let host_header = match (hosts.next(), hosts.next()) {
        (Some(one), None) => Some(one.clone()),
        _ => None,
    };
    let addresses = req.extensions().get::<Addresses>();
    let bytes = hyper::body::Body::size_hint(resp.body())
        .exact()
        .or_else(|| {
            let len = header_str(resp.headers(), header::CONTENT_LENGTH)?;
            len.parse().ok()
        })
        .unwrap_or(0);
    access_log::Entry {
        time,
        elapsed: clock.elapsed(),
        host_header,
        client: addresses.and_then(|a| a.peer).map(|p| p.ip()),
        port: addresses.map_or(0, |a| a.local_port),
        method: req.method().clone(),
        uri: req.uri().clone(),
        version: req.version(),
        status: resp.status().as_u16(),
        bytes,
        referer: req.headers().get(header::REFERER).cloned(),
        user_agent: req.headers().get(header::USER_AGENT).cloned(),
        coding: resp.headers().get(header::CONTENT_ENCODING).cloned(),
        note,
    }
}

/// Whether a request announces a body: chunked, or a `Content-Length` other than 0.
fn declares_body(headers: &HeaderMap) -> bool {
    headers.contains_key(header::TRANSFER_ENCODING)
        || headers
            .get_all(header::CONTENT_LENGTH)
            .iter()
            .any(|v| v.to_str().ok().and_then(|v| v.trim().parse::<u64>().ok()) != Some(0))
}

/// How the request arrived: what a redirect keeps and whether HSTS may be sent.
struct Arrival {
    /// On the HTTPS listener.
    secure: bool,
    /// The port the client named in its `Host`, if any.
    port: Option<u16>,
}

impl Arrival {
    fn of(req: &Request<Incoming>) -> Arrival {
        let named = req.uri().authority().cloned().or_else(|| {
            req.headers()
                .get(header::HOST)
                .and_then(|h| h.to_str().ok())
                .and_then(|h| h.parse::<hyper::http::uri::Authority>().ok())
        });
        Arrival {
            secure: req.extensions().get::<Secure>().is_some_and(|s| s.0),
            port: named.and_then(|a| a.port_u16()),
        }
    }
}

/// What the path asks for, once the site is known.
enum Target {
    Asset(String),
    Page(String),
    Media(String),
    Robots,
    Sitemap,
}

async fn route(
    state: &Arc<AppState>,
    req: &Request<Incoming>,
) -> Result<Response<Body>, ServeError> {
    // 1. Method
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return Err(ServeError::MethodNotAllowed);
    }
    // A GET or HEAD body has no meaning (RFC 9110 §9.3.1) and nothing here reads one; it is
    // refused before anything else is done, and never read.
    if declares_body(req.headers()) {
        return Err(ServeError::BodyNotAllowed);
    }
    let path = req.uri().path();
    if path == "/healthz" {
        let mut resp = Response::new(full(Bytes::from_static(b"ok\n")));
        resp.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        return Ok(resp);
    }

    // 2. Host
    let host_lines: Vec<&[u8]> = req
        .headers()
        .get_all(header::HOST)
        .iter()
        .map(|v| v.as_bytes())
        .collect();
    let host = Host::from_request(req.uri().authority().map(|a| a.as_str()), &host_lines)?;

    // 3. Resolve
    let pages = &state.pages;
    let rel = pages.resolve(&host).await?;

    // 4. HTTPS: on the plain listener, ACME's HTTP-01 challenges are answered (from the
    // shared store, whichever publisher started the order) and a host with a certificate
    // is sent to HTTPS.
    let arrival = Arrival::of(req);
    if let (false, Some(https)) = (arrival.secure, &state.https) {
        if let Some(token) = path.strip_prefix("/.well-known/acme-challenge/") {
            return acme_challenge(https, token).await;
        }
        if https.front.has_cert(&host).await {
            return Ok(to_https(&host, https.port, req.uri()));
        }
    }

    // 5. Dispatch
    let target = if let Some(rest) = path.strip_prefix("/assets/") {
        Target::Asset(rest.to_owned())
    } else if let Some(rest) = path.strip_prefix("/media/") {
        Target::Media(rest.to_owned())
    } else if path == "/robots.txt" {
        Target::Robots
    } else if path == "/sitemap.xml" {
        Target::Sitemap
    } else {
        Target::Page(page::page_id(path))
    };
    match target {
        Target::Asset(rest) => {
            let rel = RelPath::from_url_path(&rest).map_err(|_| ServeError::NotFound)?;
            files::serve(
                &state.assets,
                &rel,
                req.headers(),
                files::HardLinks::Allowed,
                req.extensions().get::<FileBudget>(),
            )
            .await
        }
        Target::Media(rest) => {
            let site_dir = rel.as_str().rsplit_once('/').map(|(d, _)| d).unwrap_or("");
            let media = RelPath::from_url_path(&rest).map_err(|_| ServeError::NotFound)?;
            let full_rel = RelPath::parse(&format!("{site_dir}/media/{}", media.as_str()))
                .map_err(|_| ServeError::NotFound)?;
            let links = if state.media_hardlinks {
                files::HardLinks::Allowed
            } else {
                files::HardLinks::Refused
            };
            let budget = req.extensions().get::<FileBudget>();
            files::serve(&pages.sites, &full_rel, req.headers(), links, budget).await
        }
        Target::Robots | Target::Sitemap => {
            let (outline, modified, policy) = pages.outline(host.clone(), rel).await?;
            if let Some(main) = policy.redirect_for(&host) {
                return Ok(to_main(state, &arrival, main, req.uri()).await);
            }
            let mut resp = if matches!(target, Target::Robots) {
                robots(&outline, &host)
            } else {
                sitemap(&outline, &host, modified)
            };
            set_hsts(&mut resp, &arrival, policy.hsts.as_deref());
            Ok(resp)
        }
        Target::Page(page) => page_response(state, host, rel, page, req, &arrival).await,
    }
}

async fn page_response(
    state: &AppState,
    host: Host,
    rel: RelPath,
    page: String,
    req: &Request<Incoming>,
    arrival: &Arrival,
) -> Result<Response<Body>, ServeError> {
    let headers = req.headers();
    let coding = Coding::negotiate(header_str(headers, header::ACCEPT_ENCODING));
    let conditional = Conditional {
        if_none_match: header_str(headers, header::IF_NONE_MATCH).map(str::to_owned),
        if_modified_since: header_str(headers, header::IF_MODIFIED_SINCE).map(str::to_owned),
    };
    // 6. Render, off the reactor.
    let answer = state
        .pages
        .page(host, rel, page, coding, conditional)
        .await?;

    // 7. Respond
    let (mut resp, hsts) = match answer {
        Answer::ToMain(main) => return Ok(to_main(state, arrival, &main, req.uri()).await),
        Answer::NotModified(validators, hsts) => {
            let mut resp = Response::new(full(Bytes::new()));
            *resp.status_mut() = StatusCode::NOT_MODIFIED;
            set_validators(resp.headers_mut(), &validators);
            (resp, hsts)
        }
        Answer::Page(page) => {
            let mut resp = Response::new(full(page.body));
            if !page.found {
                *resp.status_mut() = StatusCode::NOT_FOUND;
            }
            let h = resp.headers_mut();
            if let Ok(v) = HeaderValue::from_str(&page.content_type) {
                h.insert(header::CONTENT_TYPE, v);
            }
            if let Some(token) = page.coding.token() {
                h.insert(header::CONTENT_ENCODING, HeaderValue::from_static(token));
            }
            h.insert(
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            );
            set_validators(h, &page.validators);
            (resp, page.hsts)
        }
    };
    resp.headers_mut()
        .insert(header::VARY, HeaderValue::from_static("Accept-Encoding"));
    set_hsts(&mut resp, arrival, hsts.as_deref());
    Ok(resp)
}

/// The site's HSTS value, on HTTPS only (RFC 6797 §7.2: a browser ignores it over plain
/// HTTP, where anyone on the path could have added it).
fn set_hsts(resp: &mut Response<Body>, arrival: &Arrival, hsts: Option<&str>) {
    if let (true, Some(v)) = (arrival.secure, hsts) {
        if let Ok(v) = HeaderValue::from_str(v) {
            resp.headers_mut()
                .insert(header::STRICT_TRANSPORT_SECURITY, v);
        }
    }
}

/// 301 from an alias to the same path on the site's main domain: over HTTPS when the
/// request came that way or the main domain has a certificate (one hop instead of two),
/// else over plain HTTP on the port the client named.
async fn to_main(
    state: &AppState,
    arrival: &Arrival,
    main: &str,
    uri: &hyper::Uri,
) -> Response<Body> {
    let https_port = match &state.https {
        Some(https) if arrival.secure => Some(https.port),
        Some(https) => match Host::parse(main.as_bytes()) {
            Ok(m) if https.front.has_cert(&m).await => Some(https.port),
            _ => None,
        },
        None => None,
    };
    let location = match https_port {
        Some(port) => url("https", main, port, 443, uri),
        None => url("http", main, arrival.port.unwrap_or(80), 80, uri),
    };
    let mut resp = redirect(StatusCode::MOVED_PERMANENTLY, &location);
    // A site may switch its aliases to `serve`: browsers must not remember this for ever.
    resp.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("max-age=3600"),
    );
    resp
}

/// `scheme://host[:port]/path?query`, the port left out when it is the scheme's default.
fn url(scheme: &str, host: &str, port: u16, default_port: u16, uri: &hyper::Uri) -> String {
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    if port == default_port {
        format!("{scheme}://{host}{path}")
    } else {
        format!("{scheme}://{host}:{port}{path}")
    }
}

fn redirect(status: StatusCode, location: &str) -> Response<Body> {
    let mut resp = Response::new(full(Bytes::new()));
    *resp.status_mut() = status;
    if let Ok(v) = HeaderValue::from_str(location) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    resp
}

fn set_validators(h: &mut HeaderMap, validators: &Validators) {
    if let Ok(v) = HeaderValue::from_str(&validators.etag) {
        h.insert(header::ETAG, v);
    }
    h.insert(header::LAST_MODIFIED, http_date(validators.last_modified));
    // Revalidate every time: a regenerated site must be visible on the next request.
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
}

/// The key authorisation of an HTTP-01 token, if an order of any publisher stored it.
async fn acme_challenge(https: &Https, token: &str) -> Result<Response<Body>, ServeError> {
    // Tokens are base64url (RFC 8555 §8.3): anything else is not ours.
    if token.is_empty()
        || token.len() > 256
        || !token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err(ServeError::NotFound);
    }
    match https.front.store().token_get(token).await {
        Ok(Some(key_authorization)) => {
            Ok(text_response(key_authorization, "application/octet-stream"))
        }
        Ok(None) => Err(ServeError::NotFound),
        Err(e) => Err(ServeError::Page(e.into())),
    }
}

/// 308 to the same URL over HTTPS (308 keeps the method; a 301 may turn a HEAD into a GET in
/// old clients, and these URLs are only ever GET or HEAD anyway).
fn to_https(host: &Host, port: u16, uri: &hyper::Uri) -> Response<Body> {
    let location = url("https", host.as_str(), port, 443, uri);
    redirect(StatusCode::PERMANENT_REDIRECT, &location)
}

fn text_response(body: String, content_type: &'static str) -> Response<Body> {
    let mut resp = Response::new(full(Bytes::from(body)));
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    resp
}

fn canonical_host<'a>(outline: &'a Outline, host: &'a Host) -> &'a str {
    outline.main_domain().unwrap_or(host.as_str())
}

fn robots(outline: &Outline, host: &Host) -> Response<Body> {
    let body = format!(
        "User-agent: *\nAllow: /\nSitemap: https://{}/sitemap.xml\n",
        canonical_host(outline, host)
    );
    text_response(body, "text/plain; charset=utf-8")
}

fn sitemap(outline: &Outline, host: &Host, modified: SystemTime) -> Response<Body> {
    let base = canonical_host(outline, host);
    let lastmod = httpdate_to_w3c(modified);
    let mut body = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<urlset xmlns=\"http://www.sitemaps.org/schemas/sitemap/0.9\">\n",
    );
    for (i, page) in outline.pages.iter().enumerate() {
        // Page ids are [a-z0-9-] (schema-checked), so they need no escaping in a URL or XML.
        let loc = if i == 0 {
            format!("https://{base}/")
        } else {
            format!("https://{base}/{page}")
        };
        body.push_str(&format!(
            "  <url><loc>{loc}</loc><lastmod>{lastmod}</lastmod></url>\n"
        ));
    }
    body.push_str("</urlset>\n");
    text_response(body, "application/xml; charset=utf-8")
}

/// `YYYY-MM-DD` of a time, for sitemap `lastmod`.
fn httpdate_to_w3c(t: SystemTime) -> String {
    let days = t
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs() / 86_400)
        .unwrap_or(0) as i64;
    // Civil-from-days (Howard Hinnant's algorithm), to avoid a date crate for one field.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    format!("{y:04}-{m:02}-{d:02}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn w3c_dates() {
        let t = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_795_000_000);
        assert_eq!(httpdate_to_w3c(t), "2026-11-18");
        assert_eq!(httpdate_to_w3c(SystemTime::UNIX_EPOCH), "1970-01-01");
    }
}
