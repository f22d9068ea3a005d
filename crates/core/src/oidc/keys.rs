//! Signing keys: generated on first start, stored with the private half encrypted (AES-256-GCM,
//! AAD = kid), published at `/jwks`, rotated with publish-before-use.
//!
//! Lifecycle of a key: created (published in the JWKS) → active from `activates_at` (signs) →
//! retired at the next key's `activates_at` (still published, so tokens it signed keep verifying)
//! → deleted once every token it could have signed has expired. Private-key operations go through
//! OpenSSL (josekit), not RustCrypto `rsa` (RUSTSEC-2023-0071).
use std::sync::{Arc, RwLock};

use chrono::{DateTime, Duration, Utc};
use josekit::jwk::KeyPair;
use josekit::jws::{ES256, EdDSA, JwsHeader, JwsSigner, JwsVerifier, RS256};
use josekit::jwt::JwtPayload;
use serde_json::{Map, Value};

use crate::crypto::Cipher;
use crate::model::{SigningAlg, SigningKeyRecord};
use crate::oidc::error::{ProviderError, ProviderResult};
use crate::secret::{b64url, random_bytes};
use crate::store::Store;

struct LoadedKey {
    kid: String,
    alg: SigningAlg,
    signer: Box<dyn JwsSigner>,
    verifier: Box<dyn JwsVerifier>,
    activates_at: DateTime<Utc>,
    retired_at: Option<DateTime<Utc>>,
}

impl LoadedKey {
    fn signs_at(&self, now: DateTime<Utc>) -> bool {
        self.activates_at <= now && self.retired_at.is_none_or(|r| r > now)
    }
}

struct KeyRing {
    keys: Vec<LoadedKey>,
    jwks: Arc<[u8]>,
    /// What the ring was built from, to skip rebuilding when nothing changed.
    fingerprint: Vec<(String, Option<DateTime<Utc>>)>,
}

/// The loaded key set, shared by every request. Cheap to read; rebuilt on rotation.
pub struct KeyManager {
    store: Arc<dyn Store>,
    cipher: Cipher,
    ring: RwLock<Arc<KeyRing>>,
}

impl std::fmt::Debug for KeyManager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyManager").finish_non_exhaustive()
    }
}

/// Generate a key pair for `alg`; the private key is encrypted under `cipher` with the kid as AAD.
pub fn generate(
    alg: SigningAlg,
    cipher: &Cipher,
    now: DateTime<Utc>,
    activates_at: DateTime<Utc>,
) -> ProviderResult<SigningKeyRecord> {
    let kid = format!(
        "{}-{}",
        alg.as_str().to_ascii_lowercase(),
        b64url(&random_bytes::<9>())
    );
    let (der, mut jwk) = match alg {
        SigningAlg::RS256 => {
            let kp = RS256
                .generate_key_pair(2048)
                .map_err(ProviderError::internal)?;
            (kp.to_der_private_key(), kp.to_jwk_public_key())
        }
        SigningAlg::ES256 => {
            let kp = ES256.generate_key_pair().map_err(ProviderError::internal)?;
            (kp.to_der_private_key(), kp.to_jwk_public_key())
        }
        SigningAlg::EdDSA => {
            let kp = EdDSA
                .generate_key_pair(josekit::jwk::alg::ed::EdCurve::Ed25519)
                .map_err(ProviderError::internal)?;
            (kp.to_der_private_key(), kp.to_jwk_public_key())
        }
    };
    jwk.set_key_id(kid.clone());
    jwk.set_algorithm(alg.as_str());
    jwk.set_key_use("sig");
    Ok(SigningKeyRecord {
        private_enc: cipher.encrypt(&der, kid.as_bytes()),
        public_jwk: Value::Object(jwk.as_ref().clone()).to_string(),
        kid,
        alg,
        created_at: now,
        activates_at,
        retired_at: None,
    })
}

fn load(rec: &SigningKeyRecord, cipher: &Cipher) -> ProviderResult<LoadedKey> {
    let der = cipher
        .decrypt(&rec.private_enc, rec.kid.as_bytes())
        .map_err(|e| {
            ProviderError::Internal(format!("cannot decrypt signing key {}: {e}", rec.kid))
        })?;
    let jwk: Map<String, Value> =
        serde_json::from_str(&rec.public_jwk).map_err(ProviderError::internal)?;
    let jwk = josekit::jwk::Jwk::from_map(jwk).map_err(ProviderError::internal)?;
    let (signer, verifier): (Box<dyn JwsSigner>, Box<dyn JwsVerifier>) = match rec.alg {
        SigningAlg::RS256 => (
            Box::new(
                RS256
                    .signer_from_der(&der)
                    .map_err(ProviderError::internal)?,
            ),
            Box::new(
                RS256
                    .verifier_from_jwk(&jwk)
                    .map_err(ProviderError::internal)?,
            ),
        ),
        SigningAlg::ES256 => (
            Box::new(
                ES256
                    .signer_from_der(&der)
                    .map_err(ProviderError::internal)?,
            ),
            Box::new(
                ES256
                    .verifier_from_jwk(&jwk)
                    .map_err(ProviderError::internal)?,
            ),
        ),
        SigningAlg::EdDSA => (
            Box::new(
                EdDSA
                    .signer_from_der(&der)
                    .map_err(ProviderError::internal)?,
            ),
            Box::new(
                EdDSA
                    .verifier_from_jwk(&jwk)
                    .map_err(ProviderError::internal)?,
            ),
        ),
    };
    Ok(LoadedKey {
        kid: rec.kid.clone(),
        alg: rec.alg,
        signer,
        verifier,
        activates_at: rec.activates_at,
        retired_at: rec.retired_at,
    })
}

fn fingerprint(recs: &[SigningKeyRecord]) -> Vec<(String, Option<DateTime<Utc>>)> {
    let mut f: Vec<_> = recs.iter().map(|r| (r.kid.clone(), r.retired_at)).collect();
    f.sort();
    f
}

fn build_ring(recs: &[SigningKeyRecord], cipher: &Cipher) -> ProviderResult<KeyRing> {
    let mut keys = Vec::with_capacity(recs.len());
    let mut jwks = Vec::with_capacity(recs.len());
    for rec in recs {
        keys.push(load(rec, cipher)?);
        jwks.push(serde_json::from_str::<Value>(&rec.public_jwk).map_err(ProviderError::internal)?);
    }
    // Newest first, so the first usable key for an algorithm is the one to sign with.
    keys.sort_by_key(|k| std::cmp::Reverse(k.activates_at));
    let body = serde_json::json!({ "keys": jwks }).to_string();
    Ok(KeyRing {
        keys,
        jwks: Arc::from(body.into_bytes()),
        fingerprint: fingerprint(recs),
    })
}

impl KeyManager {
    /// Load the key set, generating a first key for each enabled algorithm that has none.
    pub async fn init(
        store: Arc<dyn Store>,
        cipher: Cipher,
        algorithms: &[SigningAlg],
        now: DateTime<Utc>,
    ) -> ProviderResult<Self> {
        let existing = store.list_signing_keys().await?;
        let missing: Vec<SigningAlg> = algorithms
            .iter()
            .copied()
            .filter(|alg| {
                !existing
                    .iter()
                    .any(|k| k.alg == *alg && k.retired_at.is_none())
            })
            .collect();
        if !missing.is_empty() {
            let fresh = missing
                .into_iter()
                .map(|alg| generate(alg, &cipher, now, now))
                .collect::<ProviderResult<Vec<_>>>()?;
            let inserted = store.insert_initial_signing_keys(&fresh).await?;
            tracing::info!(inserted, "generated initial signing keys");
        }
        let recs = store.list_signing_keys().await?;
        let ring = build_ring(&recs, &cipher)?;
        Ok(Self {
            store,
            cipher,
            ring: RwLock::new(Arc::new(ring)),
        })
    }

    fn ring(&self) -> Arc<KeyRing> {
        self.ring.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Pick up keys added or retired by another process (CLI rotation, another replica).
    /// Returns true if the ring changed.
    pub async fn reload(&self) -> ProviderResult<bool> {
        let recs = self.store.list_signing_keys().await?;
        if fingerprint(&recs) == self.ring().fingerprint {
            return Ok(false);
        }
        let ring = build_ring(&recs, &self.cipher)?;
        *self.ring.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(ring);
        Ok(true)
    }

    /// The JWKS document, ready to send.
    pub fn jwks(&self) -> Arc<[u8]> {
        self.ring().jwks.clone()
    }

    /// Sign `claims` as a JWT with the newest active key of `alg` (falling back to RS256, which is
    /// always enabled). `typ` is the JOSE header type (`JWT`, `at+jwt`, `logout+jwt`).
    pub fn sign(
        &self,
        alg: SigningAlg,
        typ: &str,
        claims: Map<String, Value>,
        now: DateTime<Utc>,
    ) -> ProviderResult<(String, SigningAlg)> {
        let ring = self.ring();
        let key = ring
            .keys
            .iter()
            .find(|k| k.alg == alg && k.signs_at(now))
            .or_else(|| {
                ring.keys
                    .iter()
                    .find(|k| k.alg == SigningAlg::RS256 && k.signs_at(now))
            })
            .ok_or_else(|| {
                ProviderError::Internal(format!("no active signing key for {}", alg.as_str()))
            })?;
        let mut header = JwsHeader::new();
        header.set_token_type(typ);
        header.set_key_id(key.kid.clone());
        let payload = JwtPayload::from_map(claims).map_err(ProviderError::internal)?;
        let jwt = josekit::jwt::encode_with_signer(&payload, &header, key.signer.as_ref())
            .map_err(ProviderError::internal)?;
        Ok((jwt, key.alg))
    }

    /// Verify a JWT signed by one of our published keys; returns its claims, header `typ` and alg.
    /// Time-based claims are the caller's to check.
    pub fn verify(&self, token: &str) -> Option<(Map<String, Value>, Option<String>, SigningAlg)> {
        let ring = self.ring();
        let header = josekit::jwt::decode_header(token).ok()?;
        let kid = header.claim("kid")?.as_str()?.to_string();
        let typ = header
            .claim("typ")
            .and_then(Value::as_str)
            .map(str::to_string);
        let key = ring.keys.iter().find(|k| k.kid == kid)?;
        let (payload, _) = josekit::jwt::decode_with_verifier(token, key.verifier.as_ref()).ok()?;
        Some((payload.claims_set().clone(), typ, key.alg))
    }

    pub fn summary(&self) -> Vec<KeySummary> {
        self.ring()
            .keys
            .iter()
            .map(|k| KeySummary {
                kid: k.kid.clone(),
                alg: k.alg,
                activates_at: k.activates_at,
                retired_at: k.retired_at,
            })
            .collect()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeySummary {
    pub kid: String,
    pub alg: SigningAlg,
    pub activates_at: DateTime<Utc>,
    pub retired_at: Option<DateTime<Utc>>,
}

/// Rotate `alg`: publish a new key now that starts signing after `publish_ahead` (at least one
/// JWKS cache lifetime, so relying parties have fetched it before they meet a token it signed),
/// and retire the current keys of that algorithm at the same instant.
pub async fn rotate(
    store: &dyn Store,
    cipher: &Cipher,
    alg: SigningAlg,
    now: DateTime<Utc>,
    publish_ahead: Duration,
) -> ProviderResult<SigningKeyRecord> {
    let switch_at = now + publish_ahead;
    let new = generate(alg, cipher, now, switch_at)?;
    store.insert_signing_key(&new).await?;
    for old in store.list_signing_keys().await? {
        if old.alg == alg && old.kid != new.kid && old.retired_at.is_none() {
            store.retire_signing_key(&old.kid, switch_at).await?;
        }
    }
    Ok(new)
}

/// Delete keys retired long enough ago that no unexpired token can carry their signature.
pub async fn purge_retired(
    store: &dyn Store,
    now: DateTime<Utc>,
    longest_token_life: Duration,
) -> ProviderResult<u64> {
    let mut n = 0;
    for k in store.list_signing_keys().await? {
        if k.retired_at.is_some_and(|r| r + longest_token_life < now)
            && store.delete_signing_key(&k.kid).await?
        {
            n += 1;
        }
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_load_sign_and_verify_for_every_alg() {
        let cipher = Cipher::new("k1", &[3u8; 32], &[]).unwrap();
        let now = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        let recs: Vec<_> = SigningAlg::ALL
            .iter()
            .map(|a| generate(*a, &cipher, now, now).unwrap())
            .collect();
        let ring = build_ring(&recs, &cipher).unwrap();
        let jwks: Value = serde_json::from_slice(&ring.jwks).unwrap();
        assert_eq!(jwks["keys"].as_array().unwrap().len(), 3);
        for k in jwks["keys"].as_array().unwrap() {
            assert!(
                k.get("d").is_none(),
                "private material must not be published"
            );
            assert_eq!(k["use"], "sig");
        }
        for rec in &recs {
            let key = ring.keys.iter().find(|k| k.kid == rec.kid).unwrap();
            let mut header = JwsHeader::new();
            header.set_key_id(key.kid.clone());
            let mut payload = JwtPayload::new();
            payload.set_subject("s");
            let jwt =
                josekit::jwt::encode_with_signer(&payload, &header, key.signer.as_ref()).unwrap();
            assert!(josekit::jwt::decode_with_verifier(&jwt, key.verifier.as_ref()).is_ok());
        }
        let wrong = Cipher::new("k1", &[4u8; 32], &[]).unwrap();
        assert!(load(&recs[0], &wrong).is_err());
    }

    #[test]
    fn key_signs_only_inside_its_window() {
        let cipher = Cipher::new("k1", &[3u8; 32], &[]).unwrap();
        let now = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        let mut rec =
            generate(SigningAlg::ES256, &cipher, now, now + Duration::minutes(10)).unwrap();
        rec.retired_at = Some(now + Duration::minutes(20));
        let k = load(&rec, &cipher).unwrap();
        assert!(!k.signs_at(now));
        assert!(k.signs_at(now + Duration::minutes(10)));
        assert!(!k.signs_at(now + Duration::minutes(20)));
    }
}
