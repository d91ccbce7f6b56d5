//! TLS and certificates: the HTTPS listener's handshakes ([`front`]), the certificates as
//! stored and served ([`entry`]), private keys sealed at rest ([`seal`]) and their
//! ordering and renewal with ACME ([`acme`]). The store itself is Redis, shared by every
//! publisher, through [`crate::map::redis::certs`].

pub mod acme;
pub mod entry;
pub mod front;
pub mod seal;

pub use front::TlsFront;
pub use seal::Sealer;

/// Errors of the TLS room.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// The sealing key file is unusable.
    #[error("sealing key {path}: {detail}")]
    SealingKey {
        /// The file.
        path: std::path::PathBuf,
        /// What is wrong and what to do.
        detail: String,
    },
    /// A sealed value does not open.
    #[error("{context}: sealed value refused: {detail}")]
    Unseal {
        /// The Redis key it was read from.
        context: String,
        /// Why.
        detail: String,
    },
    /// A store entry is corrupt, foreign or expired.
    #[error("certificate entry of {host}: {detail}")]
    BadEntry {
        /// The host.
        host: String,
        /// Why it is refused.
        detail: String,
    },
    /// The ClientHello names no host.
    #[error("TLS handshake without SNI: refused (every site is reached by its name)")]
    NoSni,
    /// The SNI name is not in the domain map.
    #[error(
        "TLS handshake for {0:?}, which is not in the domain map: refused, no certificate ordered"
    )]
    NotMapped(String),
    /// A mapped host has no certificate (yet).
    #[error("no certificate for {0} yet: it is ordered; the next handshake should succeed")]
    NoCertificate(String),
    /// The map or the store could not answer.
    #[error("{0}")]
    Map(String),
    /// The handshake itself failed.
    #[error("TLS handshake: {0}")]
    Handshake(String),
    /// The ACME server refused or failed.
    #[error("ACME: {0}")]
    Acme(String),
}
