//! Content codings of pages: which one a client accepts ([`Coding::negotiate`]) and the
//! compression itself, done on the render thread with the render.

use std::io::Write;

use bytes::Bytes;

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
}
