//! Encryption at rest for signing keys (and, later, TOTP seeds): AES-256-GCM with a random
//! 96-bit nonce per message and caller-supplied associated data that binds a ciphertext to the
//! row it belongs to. The stored form is `key_id || nonce || ciphertext+tag` so that the key can be
//! rotated while old rows remain readable.
use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};

use crate::secret::{Secret, random_bytes};

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CryptoError {
    #[error("encryption key must be 32 bytes (base64 or hex encoded), got {0} bytes")]
    BadKeyLength(usize),
    #[error("ciphertext was encrypted under key id {0:?}, which is not configured")]
    UnknownKey(String),
    #[error("ciphertext is malformed or was tampered with")]
    Corrupt,
}

/// The set of configured data-encryption keys. The first one encrypts; all of them decrypt.
#[derive(Clone, Debug)]
pub struct Cipher {
    keys: Vec<(String, Secret<[u8; 32]>)>,
}

impl Cipher {
    pub fn new(
        primary_id: &str,
        primary: &[u8],
        older: &[(String, Vec<u8>)],
    ) -> Result<Self, CryptoError> {
        let mut keys = vec![(primary_id.to_string(), Secret::new(to_key(primary)?))];
        for (id, key) in older {
            keys.push((id.clone(), Secret::new(to_key(key)?)));
        }
        Ok(Self { keys })
    }

    pub fn primary_key_id(&self) -> &str {
        &self.keys[0].0
    }

    /// A keyed hash under the primary key: SHA-256(key || context || 0 || data). For values that
    /// must be looked up but not be readable from a database dump.
    pub fn keyed_hash(&self, context: &[u8], data: &[u8]) -> [u8; 32] {
        use sha2::{Digest, Sha256};
        let mut h = Sha256::new();
        h.update(self.keys[0].1.expose());
        h.update(context);
        h.update([0u8]);
        h.update(data);
        h.finalize().into()
    }

    pub fn encrypt(&self, plaintext: &[u8], aad: &[u8]) -> Vec<u8> {
        let (id, key) = &self.keys[0];
        let cipher = Aes256Gcm::new(key.expose().into());
        let nonce_bytes = random_bytes::<12>();
        let nonce = Nonce::from(nonce_bytes);
        // AES-GCM encryption only fails for inputs larger than 64 GiB.
        #[allow(clippy::expect_used)]
        let ct = cipher
            .encrypt(
                &nonce,
                Payload {
                    msg: plaintext,
                    aad,
                },
            )
            .expect("AES-GCM input within size limits");
        let mut out = Vec::with_capacity(1 + id.len() + 12 + ct.len());
        out.push(id.len() as u8);
        out.extend_from_slice(id.as_bytes());
        out.extend_from_slice(&nonce_bytes);
        out.extend_from_slice(&ct);
        out
    }

    pub fn decrypt(&self, blob: &[u8], aad: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let id_len = *blob.first().ok_or(CryptoError::Corrupt)? as usize;
        if blob.len() < 1 + id_len + 12 + 16 {
            return Err(CryptoError::Corrupt);
        }
        let id = std::str::from_utf8(&blob[1..1 + id_len]).map_err(|_| CryptoError::Corrupt)?;
        let (_, key) = self
            .keys
            .iter()
            .find(|(k, _)| k == id)
            .ok_or_else(|| CryptoError::UnknownKey(id.to_string()))?;
        let nonce_bytes: [u8; 12] = blob[1 + id_len..1 + id_len + 12]
            .try_into()
            .map_err(|_| CryptoError::Corrupt)?;
        let cipher = Aes256Gcm::new(key.expose().into());
        cipher
            .decrypt(
                &Nonce::from(nonce_bytes),
                Payload {
                    msg: &blob[1 + id_len + 12..],
                    aad,
                },
            )
            .map_err(|_| CryptoError::Corrupt)
    }

    /// The key id a stored blob was encrypted under, if it parses.
    pub fn key_id_of(blob: &[u8]) -> Option<&str> {
        let id_len = *blob.first()? as usize;
        std::str::from_utf8(blob.get(1..1 + id_len)?).ok()
    }
}

fn to_key(bytes: &[u8]) -> Result<[u8; 32], CryptoError> {
    bytes
        .try_into()
        .map_err(|_| CryptoError::BadKeyLength(bytes.len()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cipher() -> Cipher {
        Cipher::new("k1", &[7u8; 32], &[]).unwrap()
    }

    #[test]
    fn round_trip_with_aad() {
        let c = cipher();
        let blob = c.encrypt(b"seed", b"user-1");
        assert_eq!(c.decrypt(&blob, b"user-1").unwrap(), b"seed");
        assert!(!blob.windows(4).any(|w| w == b"seed"));
    }

    #[test]
    fn wrong_aad_or_tamper_fails() {
        let c = cipher();
        let mut blob = c.encrypt(b"seed", b"user-1");
        assert_eq!(c.decrypt(&blob, b"user-2"), Err(CryptoError::Corrupt));
        let last = blob.len() - 1;
        blob[last] ^= 1;
        assert_eq!(c.decrypt(&blob, b"user-1"), Err(CryptoError::Corrupt));
    }

    #[test]
    fn old_keys_still_decrypt_after_rotation() {
        let old = cipher();
        let blob = old.encrypt(b"seed", b"");
        let rotated = Cipher::new("k2", &[9u8; 32], &[("k1".into(), vec![7u8; 32])]).unwrap();
        assert_eq!(rotated.decrypt(&blob, b"").unwrap(), b"seed");
        assert_eq!(Cipher::key_id_of(&rotated.encrypt(b"x", b"")), Some("k2"));
        let unknown = Cipher::new("k3", &[1u8; 32], &[]).unwrap();
        assert_eq!(
            unknown.decrypt(&blob, b""),
            Err(CryptoError::UnknownKey("k1".into()))
        );
    }

    #[test]
    fn short_keys_are_rejected() {
        assert_eq!(
            Cipher::new("k", &[0u8; 16], &[]).err(),
            Some(CryptoError::BadKeyLength(16))
        );
    }
}
