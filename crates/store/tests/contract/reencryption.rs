//! Contract: re-encryption.
use crate::prelude::*;

contract! {
    secrets_are_re_encrypted_in_place => sqlite_secrets_are_re_encrypted_in_place, postgres_secrets_are_re_encrypted_in_place;
}

pub(crate) async fn secrets_are_re_encrypted_in_place(store: Arc<dyn Store>) {
    let k1 = key("k1", SigningAlg::ES256);
    let k2 = key("k2", SigningAlg::EdDSA);
    store.insert_signing_key(&k1).await.unwrap();
    store.insert_signing_key(&k2).await.unwrap();
    let new_private = vec![9u8; 48];
    assert!(
        store
            .set_signing_key_private("k1", &k1.private_enc, &new_private)
            .await
            .unwrap()
    );
    assert!(
        !store
            .set_signing_key_private("nope", &[1], &[2])
            .await
            .unwrap()
    );
    // Compare-and-swap: a stale `old` changes nothing.
    assert!(
        !store
            .set_signing_key_private("k2", &[0xde, 0xad], &new_private)
            .await
            .unwrap()
    );
    assert_eq!(
        store.list_signing_keys().await.unwrap(),
        vec![
            SigningKeyRecord {
                private_enc: new_private,
                ..k1
            },
            k2
        ]
    );

    let alice = new_user(&store, "alice").await;
    let bob = new_user(&store, "bob").await;
    let cred = totp(alice.id);
    store.enable_totp(&cred, &hashes(2)).await.unwrap();
    assert!(store.accept_totp_step(alice.id, 7).await.unwrap());
    let new_secret = hash();
    assert!(
        !store
            .set_totp_secret(alice.id, b"stale", &new_secret)
            .await
            .unwrap(),
        "a re-enrollment in between is not overwritten"
    );
    assert!(
        store
            .set_totp_secret(alice.id, &cred.secret_enc, &new_secret)
            .await
            .unwrap()
    );
    assert!(
        !store
            .set_totp_secret(bob.id, &cred.secret_enc, &new_secret)
            .await
            .unwrap()
    );
    assert!(
        !store
            .set_totp_secret(Uuid::new_v4(), &new_secret, &new_secret)
            .await
            .unwrap()
    );
    // Only the secret changes: the replay guard and the codes are kept.
    assert_eq!(
        store.get_totp(alice.id).await.unwrap(),
        Some(TotpCredential {
            secret_enc: new_secret,
            last_step: Some(7),
            ..cred
        })
    );
    assert_eq!(store.backup_codes_remaining(alice.id).await.unwrap(), 2);
}
