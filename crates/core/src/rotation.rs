//! Re-encryption of secrets at rest under the cipher's primary key.
use crate::authn::enrollment::totp_aad;
use crate::crypto::Cipher;
use crate::oidc::error::{ProviderError, ProviderResult};
use crate::secret::Secret;
use crate::store::Store;

/// `lanyard keys rotate-encryption`: re-encrypt every TOTP secret and signing key under the
/// cipher's primary key (old keys must still be configured to decrypt). Each row is swapped
/// only if it still holds what was read, so a concurrent re-enrollment is never overwritten.
/// Returns how many of each were re-encrypted.
pub async fn reencrypt_all(store: &dyn Store, cipher: &Cipher) -> ProviderResult<(u64, u64)> {
    let mut totps = 0;
    for cred in store.list_totp().await? {
        let aad = totp_aad(cred.user_id);
        let plain = Secret::new(cipher.decrypt(&cred.secret_enc, &aad).map_err(|e| {
            ProviderError::Internal(format!("TOTP secret of {}: {e}", cred.user_id))
        })?);
        if store
            .set_totp_secret(
                cred.user_id,
                &cred.secret_enc,
                &cipher.encrypt(plain.expose(), &aad),
            )
            .await?
        {
            totps += 1;
        }
    }
    let mut keys = 0;
    for key in store.list_signing_keys().await? {
        let aad = key.kid.as_bytes();
        let plain = Secret::new(
            cipher
                .decrypt(&key.private_enc, aad)
                .map_err(|e| ProviderError::Internal(format!("signing key {}: {e}", key.kid)))?,
        );
        if store
            .set_signing_key_private(
                &key.kid,
                &key.private_enc,
                &cipher.encrypt(plain.expose(), aad),
            )
            .await?
        {
            keys += 1;
        }
    }
    Ok((totps, keys))
}
