//! Sealing private keys at rest: ChaCha20-Poly1305 (RFC 8439, `ring::aead`, the AEAD of
//! the crypto provider rustls already uses here), with a 32-byte key read from a file only
//! the publishers can read (`--cert-key-file`), a random 96-bit nonce per sealing, and the
//! Redis key of the entry as associated data: a sealed value copied under another host's
//! entry, or sealed with another key, does not open.
//!
//! Sealed form: `v1:` then base64 (standard, padded) of nonce || ciphertext || tag.

use std::path::Path;

use base64::Engine as _;
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, CHACHA20_POLY1305, NONCE_LEN};
use ring::rand::{SecureRandom, SystemRandom};

use super::TlsError;

const PREFIX: &str = "v1:";

/// Seals and opens values with the publishers' key.
pub struct Sealer {
    key: LessSafeKey,
    rng: SystemRandom,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sealer(..)")
    }
}

impl Sealer {
    /// A sealer for the 32 bytes of `key`.
    pub fn new(key: &[u8; 32]) -> Sealer {
        let unbound = UnboundKey::new(&CHACHA20_POLY1305, key).expect("32 bytes is the key length");
        Sealer {
            key: LessSafeKey::new(unbound),
            rng: SystemRandom::new(),
        }
    }

    /// Reads the key from `path`: exactly 32 bytes, not readable by other users.
    pub fn from_file(path: &Path) -> Result<Sealer, TlsError> {
        use std::os::unix::fs::PermissionsExt;
        let bad = |detail: String| TlsError::SealingKey {
            path: path.to_owned(),
            detail,
        };
        let meta = std::fs::metadata(path).map_err(|e| bad(e.to_string()))?;
        if meta.permissions().mode() & 0o007 != 0 {
            return Err(bad(
                "other users may read it: chmod o-rwx it (the key opens every site's private key)"
                    .into(),
            ));
        }
        let bytes = std::fs::read(path).map_err(|e| bad(e.to_string()))?;
        let key: [u8; 32] = bytes.as_slice().try_into().map_err(|_| {
            bad(format!(
                "{} bytes, not 32: make one with `head -c 32 /dev/urandom > {}`",
                bytes.len(),
                path.display()
            ))
        })?;
        Ok(Sealer::new(&key))
    }

    /// Seals `plain`, bound to `context` (the Redis key it is stored under).
    pub fn seal(&self, context: &str, plain: &[u8]) -> String {
        let mut nonce = [0u8; NONCE_LEN];
        self.rng
            .fill(&mut nonce)
            .expect("the system random source is available");
        let mut buf = plain.to_vec();
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(context.as_bytes()),
                &mut buf,
            )
            .expect("a key-sized input always seals");
        let mut out = nonce.to_vec();
        out.extend_from_slice(&buf);
        format!(
            "{PREFIX}{}",
            base64::engine::general_purpose::STANDARD.encode(out)
        )
    }

    /// Opens what [`Sealer::seal`] sealed for the same `context`.
    pub fn open(&self, context: &str, sealed: &str) -> Result<Vec<u8>, TlsError> {
        let refuse = |why: &str| TlsError::Unseal {
            context: context.to_owned(),
            detail: why.to_owned(),
        };
        let body = sealed
            .strip_prefix(PREFIX)
            .ok_or_else(|| refuse("not a sealed value (no v1: prefix)"))?;
        let raw = base64::engine::general_purpose::STANDARD
            .decode(body)
            .map_err(|_| refuse("not base64"))?;
        if raw.len() < NONCE_LEN + CHACHA20_POLY1305.tag_len() {
            return Err(refuse("too short"));
        }
        let (nonce, rest) = raw.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| refuse("bad nonce"))?;
        let mut buf = rest.to_vec();
        let plain = self
            .key
            .open_in_place(nonce, Aad::from(context.as_bytes()), &mut buf)
            .map_err(|_| refuse("does not open: sealed with another key, or for another entry"))?;
        Ok(plain.to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_binds_the_context_and_the_key() {
        let s = Sealer::new(&[7; 32]);
        let sealed = s.seal("vitrine:cert:a.example", b"secret key");
        assert!(sealed.starts_with("v1:"));
        assert!(!sealed.contains("secret"));
        assert_eq!(
            s.open("vitrine:cert:a.example", &sealed).unwrap(),
            b"secret key"
        );
        assert_ne!(
            sealed,
            s.seal("vitrine:cert:a.example", b"secret key"),
            "fresh nonces"
        );
        let moved = s.open("vitrine:cert:b.example", &sealed).unwrap_err();
        assert!(moved.to_string().contains("another entry"), "{moved}");
        let other = Sealer::new(&[8; 32]);
        assert!(other.open("vitrine:cert:a.example", &sealed).is_err());
        assert!(s.open("vitrine:cert:a.example", "v1:AAAA").is_err());
        assert!(s.open("vitrine:cert:a.example", "plain").is_err());
    }
}
