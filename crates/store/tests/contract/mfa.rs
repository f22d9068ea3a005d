//! Contract: second factors.
use crate::prelude::*;

contract! {
    totp_enable_conflict_disable => sqlite_totp_enable_conflict_disable, postgres_totp_enable_conflict_disable;
    totp_steps_are_not_replayed => sqlite_totp_steps_are_not_replayed, postgres_totp_steps_are_not_replayed;
    concurrent_totp_step_has_one_winner => sqlite_concurrent_totp_step_has_one_winner, postgres_concurrent_totp_step_has_one_winner;
    backup_codes_are_single_use => sqlite_backup_codes_are_single_use, postgres_backup_codes_are_single_use;
    concurrent_backup_code_redemption_has_one_winner => sqlite_concurrent_backup_code_redemption_has_one_winner, postgres_concurrent_backup_code_redemption_has_one_winner;
}

pub(crate) async fn totp_enable_conflict_disable(store: Arc<dyn Store>) {
    let alice = new_user(&store, "alice").await;
    let bob = new_user(&store, "bob").await;
    assert_eq!(store.get_totp(alice.id).await.unwrap(), None);
    assert_eq!(store.list_totp().await.unwrap(), vec![]);

    let cred = totp(alice.id);
    let codes = hashes(3);
    store.enable_totp(&cred, &codes).await.unwrap();
    assert_eq!(store.get_totp(alice.id).await.unwrap(), Some(cred.clone()));
    assert_eq!(store.backup_codes_remaining(alice.id).await.unwrap(), 3);

    // A double-submitted confirmation conflicts and changes nothing: the first secret and the
    // first set of codes stay, the second set was never stored.
    let second = TotpCredential {
        created_at: t0() + Duration::minutes(1),
        ..totp(alice.id)
    };
    let other_codes = hashes(2);
    assert!(matches!(
        store.enable_totp(&second, &other_codes).await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(store.get_totp(alice.id).await.unwrap(), Some(cred.clone()));
    assert_eq!(store.backup_codes_remaining(alice.id).await.unwrap(), 3);
    assert_eq!(
        store
            .redeem_backup_code(alice.id, &other_codes[0], t0())
            .await
            .unwrap(),
        None
    );

    // Unknown user: refused by the foreign key.
    assert!(matches!(
        store.enable_totp(&totp(Uuid::new_v4()), &hashes(1)).await,
        Err(StoreError::Conflict(_))
    ));

    // Every field round-trips, including a last step.
    let bob_cred = TotpCredential {
        last_step: Some(56_666_666),
        created_at: DateTime::from_timestamp(1_700_000_100, 999_999_000).unwrap(),
        ..totp(bob.id)
    };
    store.enable_totp(&bob_cred, &hashes(2)).await.unwrap();
    assert_eq!(
        store.get_totp(bob.id).await.unwrap(),
        Some(bob_cred.clone())
    );
    let mut listed = store.list_totp().await.unwrap();
    listed.sort_by_key(|c| c.user_id);
    let mut expected = vec![cred.clone(), bob_cred.clone()];
    expected.sort_by_key(|c| c.user_id);
    assert_eq!(listed, expected);

    // Disabling removes the credential and every backup code.
    assert!(store.disable_totp(alice.id).await.unwrap());
    assert_eq!(store.get_totp(alice.id).await.unwrap(), None);
    assert_eq!(store.backup_codes_remaining(alice.id).await.unwrap(), 0);
    assert_eq!(
        store
            .redeem_backup_code(alice.id, &codes[0], t0())
            .await
            .unwrap(),
        None
    );
    assert!(!store.disable_totp(alice.id).await.unwrap());
    assert!(!store.disable_totp(Uuid::new_v4()).await.unwrap());
    assert_eq!(store.list_totp().await.unwrap(), vec![bob_cred.clone()]);

    // ...and it can be enabled again afterwards.
    let again = totp(alice.id);
    store.enable_totp(&again, &hashes(1)).await.unwrap();
    assert_eq!(store.get_totp(alice.id).await.unwrap(), Some(again));
    assert_eq!(store.backup_codes_remaining(alice.id).await.unwrap(), 1);

    // Deleting the user deletes their credential and codes.
    assert!(store.delete_user(bob.id).await.unwrap());
    assert_eq!(store.get_totp(bob.id).await.unwrap(), None);
    assert_eq!(store.backup_codes_remaining(bob.id).await.unwrap(), 0);
    assert_eq!(store.list_totp().await.unwrap().len(), 1);
    assert_eq!(store.backup_codes_remaining(alice.id).await.unwrap(), 1);
}

pub(crate) async fn totp_steps_are_not_replayed(store: Arc<dyn Store>) {
    let alice = new_user(&store, "alice").await;
    let bob = new_user(&store, "bob").await;
    // No credential, nothing to accept.
    assert!(!store.accept_totp_step(alice.id, 100).await.unwrap());

    store.enable_totp(&totp(alice.id), &[]).await.unwrap();
    store.enable_totp(&totp(bob.id), &[]).await.unwrap();
    assert!(store.accept_totp_step(alice.id, 100).await.unwrap());
    assert!(
        !store.accept_totp_step(alice.id, 100).await.unwrap(),
        "same step replayed"
    );
    assert!(
        !store.accept_totp_step(alice.id, 99).await.unwrap(),
        "earlier step"
    );
    assert!(store.accept_totp_step(alice.id, 101).await.unwrap());
    assert_eq!(
        store.get_totp(alice.id).await.unwrap().unwrap().last_step,
        Some(101)
    );
    // Steps are per user.
    assert!(store.accept_totp_step(bob.id, 100).await.unwrap());
    assert_eq!(
        store.get_totp(bob.id).await.unwrap().unwrap().last_step,
        Some(100)
    );
    // Large steps (far-future clocks, 64-bit) are fine.
    assert!(store.accept_totp_step(alice.id, i64::MAX).await.unwrap());
    assert!(!store.accept_totp_step(alice.id, i64::MAX).await.unwrap());
}

pub(crate) async fn concurrent_totp_step_has_one_winner(store: Arc<dyn Store>) {
    let alice = new_user(&store, "alice").await;
    store.enable_totp(&totp(alice.id), &[]).await.unwrap();
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let store = store.clone();
        let user = alice.id;
        tasks.push(tokio::spawn(async move {
            store.accept_totp_step(user, 56_666_667).await.unwrap()
        }));
    }
    let mut accepted = 0;
    for t in tasks {
        if t.await.unwrap() {
            accepted += 1;
        }
    }
    assert_eq!(accepted, 1);
    assert_eq!(
        store.get_totp(alice.id).await.unwrap().unwrap().last_step,
        Some(56_666_667)
    );
}

pub(crate) async fn backup_codes_are_single_use(store: Arc<dyn Store>) {
    let alice = new_user(&store, "alice").await;
    let bob = new_user(&store, "bob").await;
    let codes = hashes(3);
    store.enable_totp(&totp(alice.id), &codes).await.unwrap();
    let later = t0() + Duration::hours(1);

    assert_eq!(
        store
            .redeem_backup_code(alice.id, &codes[0], later)
            .await
            .unwrap(),
        Some(2)
    );
    assert_eq!(
        store
            .redeem_backup_code(alice.id, &codes[0], later)
            .await
            .unwrap(),
        None,
        "a code works once"
    );
    assert_eq!(
        store
            .redeem_backup_code(alice.id, &hash(), later)
            .await
            .unwrap(),
        None
    );
    // Codes belong to one user.
    assert_eq!(
        store
            .redeem_backup_code(bob.id, &codes[1], later)
            .await
            .unwrap(),
        None
    );
    assert_eq!(store.backup_codes_remaining(alice.id).await.unwrap(), 2);
    assert_eq!(
        store
            .redeem_backup_code(alice.id, &codes[1], later)
            .await
            .unwrap(),
        Some(1)
    );
    assert_eq!(store.backup_codes_remaining(alice.id).await.unwrap(), 1);

    // A new set replaces the old one entirely, used and unused codes alike.
    let fresh = hashes(4);
    store
        .replace_backup_codes(alice.id, &fresh, later)
        .await
        .unwrap();
    assert_eq!(store.backup_codes_remaining(alice.id).await.unwrap(), 4);
    assert_eq!(
        store
            .redeem_backup_code(alice.id, &codes[2], later)
            .await
            .unwrap(),
        None,
        "old set no longer works"
    );
    assert_eq!(
        store
            .redeem_backup_code(alice.id, &fresh[3], later)
            .await
            .unwrap(),
        Some(3)
    );
    // TOTP itself is untouched by replacing codes.
    assert!(store.get_totp(alice.id).await.unwrap().is_some());

    // Enabling TOTP replaces whatever set the user had.
    let stale = hashes(2);
    store
        .replace_backup_codes(bob.id, &stale, t0())
        .await
        .unwrap();
    assert_eq!(store.backup_codes_remaining(bob.id).await.unwrap(), 2);
    let bob_codes = hashes(1);
    store.enable_totp(&totp(bob.id), &bob_codes).await.unwrap();
    assert_eq!(store.backup_codes_remaining(bob.id).await.unwrap(), 1);
    assert_eq!(
        store
            .redeem_backup_code(bob.id, &stale[0], later)
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store
            .redeem_backup_code(bob.id, &bob_codes[0], later)
            .await
            .unwrap(),
        Some(0)
    );

    // An empty set is allowed; an unknown user is refused.
    store
        .replace_backup_codes(alice.id, &[], later)
        .await
        .unwrap();
    assert_eq!(store.backup_codes_remaining(alice.id).await.unwrap(), 0);
    assert_eq!(
        store.backup_codes_remaining(Uuid::new_v4()).await.unwrap(),
        0
    );
    assert!(matches!(
        store
            .replace_backup_codes(Uuid::new_v4(), &hashes(1), later)
            .await,
        Err(StoreError::Conflict(_))
    ));
    // A set with a duplicate is refused as a whole; the previous set stays.
    let kept = hashes(2);
    store
        .replace_backup_codes(alice.id, &kept, later)
        .await
        .unwrap();
    let dup = vec![kept[0].clone(), hash(), kept[0].clone()];
    assert!(matches!(
        store.replace_backup_codes(alice.id, &dup, later).await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(store.backup_codes_remaining(alice.id).await.unwrap(), 2);
    assert_eq!(
        store
            .redeem_backup_code(alice.id, &kept[1], later)
            .await
            .unwrap(),
        Some(1)
    );
}

pub(crate) async fn concurrent_backup_code_redemption_has_one_winner(store: Arc<dyn Store>) {
    let alice = new_user(&store, "alice").await;
    let codes = hashes(3);
    store.enable_totp(&totp(alice.id), &codes).await.unwrap();
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let store = store.clone();
        let user = alice.id;
        let h = codes[1].clone();
        tasks.push(tokio::spawn(async move {
            store.redeem_backup_code(user, &h, t0()).await.unwrap()
        }));
    }
    let mut winners = Vec::new();
    for t in tasks {
        if let Some(remaining) = t.await.unwrap() {
            winners.push(remaining);
        }
    }
    assert_eq!(winners, vec![2]);
    assert_eq!(store.backup_codes_remaining(alice.id).await.unwrap(), 2);
}
