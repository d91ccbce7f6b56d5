//! The certificate part of `vitrine check --redis`: every mapped domain must have a usable
//! certificate in the store, not within two weeks of its end. Only reported when the
//! store shows HTTPS is in use (an ACME account or any certificate): a deployment without
//! HTTPS has nothing to fix.

use std::time::Duration;

use super::{Kind, Problem};
use crate::map::redis::RedisMap;
use crate::map::MapError;
use crate::tls::entry::{now_secs, CertEntry};

/// How close to its end a certificate is reported.
pub const EXPIRY_WARNING: Duration = Duration::from_secs(14 * 24 * 3600);

/// The certificate problems of the mapped hosts `entries` (host, map value).
pub async fn problems(
    store: &RedisMap,
    entries: &[(String, String)],
) -> Result<Vec<Problem>, MapError> {
    let in_use = store.account_get().await?.is_some() || !store.cert_hosts().await?.is_empty();
    if !in_use {
        return Ok(Vec::new());
    }
    let soon = now_secs() + EXPIRY_WARNING.as_secs() as i64;
    let mut out = Vec::new();
    for (host, _) in entries {
        let problem = match store.cert_get(host).await? {
            None => Some((
                Kind::NoCertificate,
                "no certificate in the store".to_owned(),
            )),
            Some(raw) => match CertEntry::parse(host, &raw) {
                Err(e) => Some((Kind::NoCertificate, e.to_string())),
                Ok(e) if e.not_after < now_secs() => Some((
                    Kind::CertificateExpiring,
                    format!("the certificate expired {}", httpdate_of(e.not_after)),
                )),
                Ok(e) if e.not_after < soon => Some((
                    Kind::CertificateExpiring,
                    format!("the certificate expires {}", httpdate_of(e.not_after)),
                )),
                Ok(_) => None,
            },
        };
        if let Some((kind, message)) = problem {
            out.push(Problem::new(kind, message).host(host));
        }
    }
    Ok(out)
}

fn httpdate_of(secs: i64) -> String {
    httpdate::fmt_http_date(std::time::UNIX_EPOCH + Duration::from_secs(secs.max(0) as u64))
}
