//! Contract: passkeys.
use crate::prelude::*;

contract! {
    handle_is_made_once_and_found_again => sqlite_handle_is_made_once_and_found_again, postgres_handle_is_made_once_and_found_again;
    passkeys_are_listed_renamed_and_removed_per_user => sqlite_passkeys_are_listed_renamed_and_removed_per_user, postgres_passkeys_are_listed_renamed_and_removed_per_user;
    a_credential_id_belongs_to_one_account => sqlite_a_credential_id_belongs_to_one_account, postgres_a_credential_id_belongs_to_one_account;
    counter_must_move_forward => sqlite_counter_must_move_forward, postgres_counter_must_move_forward;
    concurrent_use_of_one_counter_has_one_winner => sqlite_concurrent_use_of_one_counter_has_one_winner, postgres_concurrent_use_of_one_counter_has_one_winner;
}

fn passkey(
    user_id: Uuid,
    credential_id: &[u8],
    name: &str,
    at: DateTime<Utc>,
) -> PasskeyCredential {
    PasskeyCredential {
        id: Uuid::new_v4(),
        user_id,
        credential_id: credential_id.to_vec(),
        name: name.into(),
        credential: format!("{{\"cred\":\"{name}\"}}"),
        counter: 5,
        backup_eligible: true,
        backup_state: false,
        aaguid: Some(Uuid::from_u128(0x08987058_cadc_4b81_b6e1_30de50dcbe96)),
        created_at: at,
        last_used_at: None,
    }
}

fn used(p: &PasskeyCredential, counter: i64, at: DateTime<Utc>) -> PasskeyUse {
    PasskeyUse {
        id: p.id,
        credential: format!("{{\"counter\":{counter}}}"),
        counter,
        backup_state: true,
        at,
    }
}

pub(crate) async fn handle_is_made_once_and_found_again(store: Arc<dyn Store>) {
    let alice = new_user(&store, "alice").await;
    let bob = new_user(&store, "bob").await;
    let first = Uuid::new_v4();
    assert_eq!(store.webauthn_handle(alice.id, first).await.unwrap(), first);
    // A later (or concurrent) registration keeps the handle already made.
    assert_eq!(
        store
            .webauthn_handle(alice.id, Uuid::new_v4())
            .await
            .unwrap(),
        first
    );
    let bobs = store.webauthn_handle(bob.id, Uuid::new_v4()).await.unwrap();
    assert_ne!(bobs, first);
    assert_eq!(
        store.user_by_webauthn_handle(first).await.unwrap(),
        Some(alice.id)
    );
    assert_eq!(
        store.user_by_webauthn_handle(bobs).await.unwrap(),
        Some(bob.id)
    );
    assert_eq!(
        store.user_by_webauthn_handle(Uuid::new_v4()).await.unwrap(),
        None
    );
    // Deleting the account deletes its handle.
    store.delete_user(alice.id).await.unwrap();
    assert_eq!(store.user_by_webauthn_handle(first).await.unwrap(), None);
}

pub(crate) async fn passkeys_are_listed_renamed_and_removed_per_user(store: Arc<dyn Store>) {
    let alice = new_user(&store, "alice").await;
    let bob = new_user(&store, "bob").await;
    assert_eq!(store.list_passkeys(alice.id).await.unwrap(), vec![]);
    let laptop = passkey(alice.id, b"cred-laptop", "Laptop", t0());
    let phone = passkey(
        alice.id,
        b"cred-phone",
        "Phone",
        t0() + Duration::minutes(1),
    );
    let bobs = passkey(bob.id, b"cred-bob", "Key", t0());
    for p in [&phone, &laptop, &bobs] {
        store.add_passkey(p).await.unwrap();
    }
    assert_eq!(
        store.list_passkeys(alice.id).await.unwrap(),
        vec![laptop.clone(), phone.clone()],
        "oldest first, only alice's"
    );
    assert_eq!(
        store.passkey_by_credential_id(b"cred-phone").await.unwrap(),
        Some(phone.clone())
    );
    assert_eq!(store.passkey_by_credential_id(b"nope").await.unwrap(), None);

    assert!(
        store
            .rename_passkey(alice.id, phone.id, "Work phone")
            .await
            .unwrap()
    );
    assert!(
        !store
            .rename_passkey(bob.id, phone.id, "Stolen")
            .await
            .unwrap(),
        "bob cannot rename alice's passkey"
    );
    assert_eq!(
        store
            .passkey_by_credential_id(b"cred-phone")
            .await
            .unwrap()
            .unwrap()
            .name,
        "Work phone"
    );

    assert!(
        !store.delete_passkey(bob.id, laptop.id).await.unwrap(),
        "bob cannot remove alice's passkey"
    );
    assert!(store.delete_passkey(alice.id, laptop.id).await.unwrap());
    assert!(!store.delete_passkey(alice.id, laptop.id).await.unwrap());
    assert_eq!(store.list_passkeys(alice.id).await.unwrap().len(), 1);

    assert_eq!(store.delete_passkeys(alice.id).await.unwrap(), 1);
    assert_eq!(store.list_passkeys(alice.id).await.unwrap(), vec![]);
    assert_eq!(store.list_passkeys(bob.id).await.unwrap(), vec![bobs]);
}

pub(crate) async fn a_credential_id_belongs_to_one_account(store: Arc<dyn Store>) {
    let alice = new_user(&store, "alice").await;
    let bob = new_user(&store, "bob").await;
    store
        .add_passkey(&passkey(alice.id, b"same", "A", t0()))
        .await
        .unwrap();
    assert!(matches!(
        store
            .add_passkey(&passkey(bob.id, b"same", "B", t0()))
            .await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(store.list_passkeys(bob.id).await.unwrap(), vec![]);
}

pub(crate) async fn counter_must_move_forward(store: Arc<dyn Store>) {
    let alice = new_user(&store, "alice").await;
    let key = passkey(alice.id, b"k", "Key", t0());
    store.add_passkey(&key).await.unwrap();
    let later = t0() + Duration::minutes(3);
    assert!(
        !store
            .record_passkey_use(&used(&key, 5, later))
            .await
            .unwrap(),
        "same counter"
    );
    assert!(
        !store
            .record_passkey_use(&used(&key, 4, later))
            .await
            .unwrap(),
        "lower counter"
    );
    let unchanged = store.passkey_by_credential_id(b"k").await.unwrap().unwrap();
    assert_eq!(unchanged, key, "a refused use changes nothing");

    assert!(
        store
            .record_passkey_use(&used(&key, 6, later))
            .await
            .unwrap()
    );
    let now = store.passkey_by_credential_id(b"k").await.unwrap().unwrap();
    assert_eq!(now.counter, 6);
    assert_eq!(now.credential, "{\"counter\":6}");
    assert!(now.backup_state);
    assert_eq!(now.last_used_at, Some(later));

    // Authenticators without a counter report 0 every time: always accepted.
    let synced = PasskeyCredential {
        counter: 0,
        ..passkey(alice.id, b"synced", "Synced", t0())
    };
    store.add_passkey(&synced).await.unwrap();
    assert!(
        store
            .record_passkey_use(&used(&synced, 0, later))
            .await
            .unwrap()
    );
    assert!(
        store
            .record_passkey_use(&used(&synced, 0, later))
            .await
            .unwrap()
    );
}

pub(crate) async fn concurrent_use_of_one_counter_has_one_winner(store: Arc<dyn Store>) {
    let alice = new_user(&store, "alice").await;
    let key = passkey(alice.id, b"k", "Key", t0());
    store.add_passkey(&key).await.unwrap();
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let store = store.clone();
        let u = used(&key, 9, t0());
        tasks.push(tokio::spawn(async move {
            store.record_passkey_use(&u).await.unwrap()
        }));
    }
    let mut accepted = 0;
    for t in tasks {
        if t.await.unwrap() {
            accepted += 1;
        }
    }
    assert_eq!(accepted, 1);
}
