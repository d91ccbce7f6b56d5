//! Files served as they are: site media (photos, videos) and theme assets (CSS, fonts).
//! Opened beneath their root only ([`crate::fsx::Root`]), typed from an allow-list of
//! extensions, with validators, and with single `Range` requests for video seeking.

use std::io::SeekFrom;
use std::os::unix::fs::MetadataExt;
use std::time::SystemTime;

use bytes::Bytes;
use futures_util::TryStreamExt;
use http_body_util::{BodyExt, StreamBody};
use hyper::body::Frame;
use hyper::header::{self, HeaderMap, HeaderValue};
use hyper::{Response, StatusCode};
use tokio::io::{AsyncReadExt, AsyncSeekExt};
use tokio_util::io::ReaderStream;

use super::budget::FileBudget;
use super::range::{self, RangeOutcome};
use super::response::{full, header_str, http_date, Body, ServeError};
use crate::fsx::{RelPath, Root};
use crate::observe::tally;
use crate::page::not_modified;

/// Bytes read from a file per body frame: also how much a client must take within the send
/// timeout for a download to count as progressing.
pub const CHUNK: usize = 64 * 1024;

/// Content-Type by extension; anything else is refused (404), which also keeps stray files
/// (backups, sources) from being served.
pub fn content_type(path: &str) -> Option<&'static str> {
    let ext = path.rsplit_once('.')?.1.to_ascii_lowercase();
    Some(match ext.as_str() {
        "jpg" | "jpeg" => "image/jpeg",
        "png" => "image/png",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "avif" => "image/avif",
        "svg" => "image/svg+xml",
        "ico" => "image/x-icon",
        "mp4" | "m4v" => "video/mp4",
        "webm" => "video/webm",
        "ogv" => "video/ogg",
        "vtt" => "text/vtt; charset=utf-8",
        "pdf" => "application/pdf",
        "css" => "text/css; charset=utf-8",
        "js" => "text/javascript; charset=utf-8",
        "woff2" => "font/woff2",
        "woff" => "font/woff",
        "ttf" => "font/ttf",
        "txt" => "text/plain; charset=utf-8",
        _ => return None,
    })
}

/// Whether a file with more than one hard link may be served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HardLinks {
    /// Served like any file (theme assets: the operator's own folder).
    Allowed,
    /// Refused with 404 and a log line (site media, unless `--media-hardlinks`): `openat2`
    /// confines the path, but a hard link is the file itself, and one planted in a site's
    /// folder could point at any file of the same filesystem.
    Refused,
}

/// Serves `rel` beneath `root`, honouring conditional and Range headers. With a `budget`
/// (every request of a client connection), the file is opened only once a permit of it is
/// held, and the permit lives as long as the response body.
pub async fn serve(
    root: &Root,
    rel: &RelPath,
    headers: &HeaderMap,
    links: HardLinks,
    budget: Option<&FileBudget>,
) -> Result<Response<Body>, ServeError> {
    let ctype = content_type(rel.as_str()).ok_or(ServeError::NotFound)?;
    let permit = match budget {
        Some(b) => Some(b.acquire().await?),
        None => None,
    };
    // openat2 on a cached dentry is a few microseconds: not worth a thread hop.
    let (file, meta) = root.open_file_meta(rel).map_err(|_| ServeError::NotFound)?;
    if links == HardLinks::Refused && meta.nlink() > 1 {
        tally::HARD_LINKS.hit_with(format_args!(
            "refused {rel}: it has {} hard links (a hard link can expose any file of the \
             filesystem; replace it with a copy, or serve with --media-hardlinks)",
            meta.nlink()
        ));
        return Err(ServeError::NotFound);
    }
    let size = meta.len();
    let modified = meta.modified().unwrap_or(SystemTime::UNIX_EPOCH);
    let etag = format!(
        "\"{:x}-{:x}-{:x}.{:x}\"",
        meta.ino(),
        size,
        meta.mtime(),
        meta.mtime_nsec()
    );

    let mut resp = Response::new(full(Bytes::new()));
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(ctype));
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    h.insert(
        header::ETAG,
        HeaderValue::from_str(&etag).expect("hex ETag"),
    );
    h.insert(header::LAST_MODIFIED, http_date(modified));
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=3600"),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    if ctype == "image/svg+xml" {
        // An SVG opened directly must not run script in the site's origin.
        h.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static("default-src 'none'; style-src 'unsafe-inline'; sandbox"),
        );
    }

    if not_modified(
        header_str(headers, header::IF_NONE_MATCH),
        header_str(headers, header::IF_MODIFIED_SINCE),
        &etag,
        modified,
    ) {
        *resp.status_mut() = StatusCode::NOT_MODIFIED;
        return Ok(resp);
    }

    let (start, len) = match range::evaluate(
        header_str(headers, header::RANGE),
        header_str(headers, header::IF_RANGE),
        size,
        &etag,
        Some(modified),
    ) {
        RangeOutcome::Full => (0, size),
        RangeOutcome::Partial { start, end } => {
            *resp.status_mut() = StatusCode::PARTIAL_CONTENT;
            resp.headers_mut().insert(
                header::CONTENT_RANGE,
                HeaderValue::from_str(&format!("bytes {start}-{end}/{size}")).expect("ASCII"),
            );
            (start, end - start + 1)
        }
        RangeOutcome::Unsatisfiable => {
            *resp.status_mut() = StatusCode::RANGE_NOT_SATISFIABLE;
            resp.headers_mut().insert(
                header::CONTENT_RANGE,
                HeaderValue::from_str(&format!("bytes */{size}")).expect("ASCII"),
            );
            return Ok(resp);
        }
    };
    resp.headers_mut()
        .insert(header::CONTENT_LENGTH, HeaderValue::from(len));

    let mut file = tokio::fs::File::from_std(file);
    if start > 0 {
        file.seek(SeekFrom::Start(start))
            .await
            .map_err(|_| ServeError::NotFound)?;
    }
    // The permit moves into the stream, so that it is given back when the body is finished
    // or dropped (an abandoned response included), not when this function returns.
    let stream = ReaderStream::with_capacity(file.take(len), CHUNK).map_ok(move |bytes| {
        let _held = &permit;
        Frame::data(bytes)
    });
    *resp.body_mut() = BodyExt::boxed(StreamBody::new(stream));
    Ok(resp)
}
