//! One host's certificate as the store keeps it ([`CertEntry`], JSON under
//! `vitrine:cert:<host>`), and as rustls serves it ([`CertEntry::certified_key`]).

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::sign::CertifiedKey;
use serde::{Deserialize, Serialize};

use super::seal::Sealer;
use super::TlsError;
use crate::map::redis::certs::CERT_PREFIX;

/// A stored certificate: the chain in clear, the private key sealed.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct CertEntry {
    /// The chain, leaf first, PEM.
    pub chain_pem: String,
    /// The leaf's private key (PKCS#8 PEM), sealed for this entry (see [`super::seal`]).
    pub key_sealed: String,
    /// The leaf's validity, seconds since the epoch.
    pub not_before: i64,
    /// End of the leaf's validity, seconds since the epoch.
    pub not_after: i64,
}

/// Seconds since the epoch, now.
pub fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

impl CertEntry {
    /// An entry for `host` from a PEM chain and its private key (PEM), sealing the key.
    pub fn new(
        host: &str,
        chain_pem: &str,
        key_pem: &str,
        sealer: &Sealer,
    ) -> Result<CertEntry, TlsError> {
        let leaf = CertificateDer::pem_slice_iter(chain_pem.as_bytes())
            .next()
            .ok_or_else(|| bad(host, "the chain holds no certificate"))?
            .map_err(|e| bad(host, &format!("the chain is not PEM: {e}")))?;
        let (not_before, not_after) = validity(host, &leaf)?;
        Ok(CertEntry {
            chain_pem: chain_pem.to_owned(),
            key_sealed: sealer.seal(&context(host), key_pem.as_bytes()),
            not_before,
            not_after,
        })
    }

    /// Parses a stored entry of `host`.
    pub fn parse(host: &str, raw: &str) -> Result<CertEntry, TlsError> {
        serde_json::from_str(raw).map_err(|e| bad(host, &format!("not a certificate entry: {e}")))
    }

    /// The JSON stored.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("plain fields serialise")
    }

    /// When to renew: two thirds into the validity, or `threshold` before its end if that
    /// comes first.
    pub fn renew_at(&self, threshold: Option<Duration>) -> i64 {
        let life = (self.not_after - self.not_before).max(0);
        let two_thirds = self.not_before + life * 2 / 3;
        match threshold {
            Some(t) => two_thirds.min(self.not_after - t.as_secs() as i64),
            None => two_thirds,
        }
    }

    /// The chain and key as rustls serves them, checking that the key opens for `host`,
    /// matches the leaf and that the leaf names `host`.
    pub fn certified_key(&self, host: &str, sealer: &Sealer) -> Result<CertifiedKey, TlsError> {
        let chain: Vec<CertificateDer<'static>> =
            CertificateDer::pem_slice_iter(self.chain_pem.as_bytes())
                .collect::<Result<_, _>>()
                .map_err(|e| bad(host, &format!("the chain is not PEM: {e}")))?;
        let leaf = chain
            .first()
            .ok_or_else(|| bad(host, "the chain holds no certificate"))?;
        names_host(host, leaf)?;
        let key_pem = sealer.open(&context(host), &self.key_sealed)?;
        let key = PrivateKeyDer::from_pem_slice(&key_pem)
            .map_err(|e| bad(host, &format!("the private key is not PEM: {e}")))?;
        let signing = rustls::crypto::ring::sign::any_supported_type(&key)
            .map_err(|e| bad(host, &format!("unsupported private key: {e}")))?;
        let certified = CertifiedKey::new(chain, signing);
        certified.keys_match().map_err(|e| {
            bad(
                host,
                &format!("the key does not match the certificate: {e}"),
            )
        })?;
        Ok(certified)
    }
}

/// The associated data a host's key is sealed with: its Redis key.
fn context(host: &str) -> String {
    format!("{CERT_PREFIX}{host}")
}

fn bad(host: &str, detail: &str) -> TlsError {
    TlsError::BadEntry {
        host: host.to_owned(),
        detail: detail.to_owned(),
    }
}

fn parsed<'a>(
    host: &str,
    der: &'a CertificateDer<'_>,
) -> Result<x509_parser::certificate::X509Certificate<'a>, TlsError> {
    x509_parser::parse_x509_certificate(der.as_ref())
        .map(|(_, c)| c)
        .map_err(|e| bad(host, &format!("the leaf certificate does not parse: {e}")))
}

fn validity(host: &str, der: &CertificateDer<'_>) -> Result<(i64, i64), TlsError> {
    let cert = parsed(host, der)?;
    Ok((
        cert.validity().not_before.timestamp(),
        cert.validity().not_after.timestamp(),
    ))
}

/// Whether the leaf's subject alternative names include `host` (exactly: Vitrine orders
/// one name per certificate, never wildcards).
fn names_host(host: &str, der: &CertificateDer<'_>) -> Result<(), TlsError> {
    let cert = parsed(host, der)?;
    let names = cert
        .subject_alternative_name()
        .ok()
        .flatten()
        .map(|san| {
            san.value
                .general_names
                .iter()
                .filter_map(|n| match n {
                    x509_parser::extensions::GeneralName::DNSName(d) => {
                        Some(d.to_ascii_lowercase())
                    }
                    _ => None,
                })
                .collect::<Vec<_>>()
        })
        .unwrap_or_default();
    if names.iter().any(|n| n == host) {
        Ok(())
    } else {
        Err(bad(
            host,
            &format!("the certificate is for {names:?}, not this host (a foreign entry): delete it with `vitrine certs revoke {host}`"),
        ))
    }
}

/// A shared handle on a served certificate.
pub type Served = Arc<CertifiedKey>;
