//! Contract: codes, grants, refresh tokens.
use crate::prelude::*;

contract! {
    codes_are_single_use => sqlite_codes_are_single_use, postgres_codes_are_single_use;
    concurrent_code_redemption_has_one_winner => sqlite_concurrent_code_redemption_has_one_winner, postgres_concurrent_code_redemption_has_one_winner;
    refresh_rotation_detects_reuse => sqlite_refresh_rotation_detects_reuse, postgres_refresh_rotation_detects_reuse;
    concurrent_rotation_has_one_winner => sqlite_concurrent_rotation_has_one_winner, postgres_concurrent_rotation_has_one_winner;
    create_grant_is_atomic => sqlite_create_grant_is_atomic, postgres_create_grant_is_atomic;
    grant_activity_follows_revocation_and_expiry => sqlite_grant_activity_follows_revocation_and_expiry, postgres_grant_activity_follows_revocation_and_expiry;
    revoke_user_grants_counts_active_grants => sqlite_revoke_user_grants_counts_active_grants, postgres_revoke_user_grants_counts_active_grants;
}

pub(crate) async fn codes_are_single_use(store: Arc<dyn Store>) {
    let alice = new_user(&store, "alice").await;
    let c = code(alice.id, t0() + Duration::minutes(1));
    store.insert_code(&c).await.unwrap();
    assert!(matches!(
        store.insert_code(&c).await,
        Err(StoreError::Conflict(_))
    ));

    assert_eq!(
        store.redeem_code(&c.code_hash, t0()).await.unwrap(),
        Redeemed::Fresh(c.clone())
    );
    assert_eq!(
        store.redeem_code(&c.code_hash, t0()).await.unwrap(),
        Redeemed::AlreadyUsed(c.grant_id)
    );
    assert_eq!(
        store.redeem_code(&hash(), t0()).await.unwrap(),
        Redeemed::NotFound
    );

    // Expiry is the caller's to check: an expired code still redeems once.
    let old = code(alice.id, t0() - Duration::minutes(1));
    store.insert_code(&old).await.unwrap();
    assert!(matches!(
        store.redeem_code(&old.code_hash, t0()).await.unwrap(),
        Redeemed::Fresh(_)
    ));

    // A code with every optional field set round-trips too.
    let mut full = code(alice.id, t0() + Duration::minutes(1));
    full.nonce = Some("abc".into());
    full.claims = ClaimsRequest::from_json(r#"{"userinfo":{"email":null}}"#);
    assert!(full.claims.is_some());
    full.acr = Some("1".into());
    full.code_challenge = None;
    full.scopes = vec![];
    full.amr = vec![];
    store.insert_code(&full).await.unwrap();
    assert_eq!(
        store.redeem_code(&full.code_hash, t0()).await.unwrap(),
        Redeemed::Fresh(full)
    );
}

pub(crate) async fn concurrent_code_redemption_has_one_winner(store: Arc<dyn Store>) {
    let alice = new_user(&store, "alice").await;
    let c = code(alice.id, t0() + Duration::minutes(1));
    store.insert_code(&c).await.unwrap();
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let store = store.clone();
        let h = c.code_hash.clone();
        tasks.push(tokio::spawn(async move {
            store.redeem_code(&h, t0()).await.unwrap()
        }));
    }
    let mut fresh = 0;
    for t in tasks {
        match t.await.unwrap() {
            Redeemed::Fresh(_) => fresh += 1,
            Redeemed::AlreadyUsed(g) => assert_eq!(g, c.grant_id),
            Redeemed::NotFound => panic!("code vanished"),
        }
    }
    assert_eq!(fresh, 1);
}

pub(crate) async fn refresh_rotation_detects_reuse(store: Arc<dyn Store>) {
    let alice = new_user(&store, "alice").await;
    let far = t0() + Duration::days(30);
    let g = grant(Some(alice.id), far);
    let r1 = refresh(g.id, far);
    store.create_grant(&g, Some(&r1)).await.unwrap();
    assert_eq!(store.get_grant(g.id).await.unwrap(), Some(g.clone()));
    assert_eq!(
        store.find_refresh(&r1.token_hash).await.unwrap(),
        Some(r1.clone())
    );

    let now = t0() + Duration::hours(1);
    let r2 = RefreshToken {
        created_at: now,
        ..refresh(g.id, far)
    };
    assert_eq!(
        store
            .rotate_refresh(&r1.token_hash, &r2, None, now)
            .await
            .unwrap(),
        Redeemed::Fresh(())
    );
    assert_eq!(
        store
            .find_refresh(&r1.token_hash)
            .await
            .unwrap()
            .unwrap()
            .used_at,
        Some(now)
    );
    assert_eq!(
        store.find_refresh(&r2.token_hash).await.unwrap(),
        Some(r2.clone())
    );

    // Presenting r1 again is reuse; nothing new is stored.
    let r3 = refresh(g.id, far);
    assert_eq!(
        store
            .rotate_refresh(&r1.token_hash, &r3, None, now)
            .await
            .unwrap(),
        Redeemed::AlreadyUsed(g.id)
    );
    assert_eq!(store.find_refresh(&r3.token_hash).await.unwrap(), None);
    assert_eq!(
        store.rotate_refresh(&hash(), &r3, None, now).await.unwrap(),
        Redeemed::NotFound
    );
    assert_eq!(store.find_refresh(&r3.token_hash).await.unwrap(), None);

    // The new token must belong to the same grant; a refused rotation leaves r2 unused.
    let other = grant(Some(alice.id), far);
    store.create_grant(&other, None).await.unwrap();
    let foreign = refresh(other.id, far);
    assert!(matches!(
        store
            .rotate_refresh(&r2.token_hash, &foreign, None, now)
            .await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(
        store
            .find_refresh(&r2.token_hash)
            .await
            .unwrap()
            .unwrap()
            .used_at,
        None
    );
    assert_eq!(store.find_refresh(&foreign.token_hash).await.unwrap(), None);

    assert_eq!(
        store
            .rotate_refresh(&r2.token_hash, &r3, None, now)
            .await
            .unwrap(),
        Redeemed::Fresh(())
    );

    // A client_credentials grant has no user and no refresh token.
    let mut cc = grant(None, far);
    cc.sid = None;
    cc.auth_time = None;
    cc.amr = vec![];
    cc.acr = None;
    cc.nonce = None;
    cc.claims = None;
    store.create_grant(&cc, None).await.unwrap();
    assert_eq!(store.get_grant(cc.id).await.unwrap(), Some(cc));
    assert_eq!(store.get_grant(Uuid::new_v4()).await.unwrap(), None);
}

pub(crate) async fn concurrent_rotation_has_one_winner(store: Arc<dyn Store>) {
    let alice = new_user(&store, "alice").await;
    let far = t0() + Duration::days(30);
    let g = grant(Some(alice.id), far);
    let r1 = refresh(g.id, far);
    store.create_grant(&g, Some(&r1)).await.unwrap();
    let mut tasks = Vec::new();
    for _ in 0..6 {
        let store = store.clone();
        let old = r1.token_hash.clone();
        let new = refresh(g.id, far);
        tasks.push(tokio::spawn(async move {
            store.rotate_refresh(&old, &new, None, t0()).await.unwrap()
        }));
    }
    let mut fresh = 0;
    for t in tasks {
        match t.await.unwrap() {
            Redeemed::Fresh(()) => fresh += 1,
            Redeemed::AlreadyUsed(id) => assert_eq!(id, g.id),
            Redeemed::NotFound => panic!("token vanished"),
        }
    }
    assert_eq!(fresh, 1);
}

pub(crate) async fn create_grant_is_atomic(store: Arc<dyn Store>) {
    let alice = new_user(&store, "alice").await;
    let far = t0() + Duration::days(30);
    let g1 = grant(Some(alice.id), far);
    let r1 = refresh(g1.id, far);
    store.create_grant(&g1, Some(&r1)).await.unwrap();

    // The grant insert succeeds, the refresh token collides: neither may remain.
    let g2 = grant(Some(alice.id), far);
    let r_dup = RefreshToken {
        grant_id: g2.id,
        ..r1.clone()
    };
    assert!(matches!(
        store.create_grant(&g2, Some(&r_dup)).await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(store.get_grant(g2.id).await.unwrap(), None);
    assert_eq!(store.find_refresh(&r1.token_hash).await.unwrap(), Some(r1));

    // Same grant id twice.
    assert!(matches!(
        store.create_grant(&g1, None).await,
        Err(StoreError::Conflict(_))
    ));

    // A grant for a user that does not exist is refused.
    let ghost = grant(Some(Uuid::new_v4()), far);
    assert!(matches!(
        store.create_grant(&ghost, None).await,
        Err(StoreError::Conflict(_))
    ));
}

pub(crate) async fn grant_activity_follows_revocation_and_expiry(store: Arc<dyn Store>) {
    let alice = new_user(&store, "alice").await;
    let g = grant(Some(alice.id), t0() + Duration::hours(1));
    store.create_grant(&g, None).await.unwrap();
    assert!(store.grant_is_active(g.id, t0()).await.unwrap());
    assert!(
        store
            .grant_is_active(g.id, t0() + Duration::minutes(59))
            .await
            .unwrap()
    );
    assert!(
        !store
            .grant_is_active(g.id, t0() + Duration::hours(1))
            .await
            .unwrap()
    );
    assert!(
        !store
            .grant_is_active(g.id, t0() + Duration::hours(2))
            .await
            .unwrap()
    );
    assert!(!store.grant_is_active(Uuid::new_v4(), t0()).await.unwrap());

    let later = t0() + Duration::minutes(10);
    assert!(store.revoke_grant(g.id, later).await.unwrap());
    assert!(
        !store
            .revoke_grant(g.id, later + Duration::minutes(1))
            .await
            .unwrap(),
        "revocation is idempotent"
    );
    assert!(!store.grant_is_active(g.id, t0()).await.unwrap());
    assert_eq!(
        store.get_grant(g.id).await.unwrap().unwrap().revoked_at,
        Some(later)
    );
    assert!(!store.revoke_grant(Uuid::new_v4(), later).await.unwrap());
}

pub(crate) async fn revoke_user_grants_counts_active_grants(store: Arc<dyn Store>) {
    let alice = new_user(&store, "alice").await;
    let bob = new_user(&store, "bob").await;
    let far = t0() + Duration::days(1);
    let a1 = grant(Some(alice.id), far);
    let a2 = grant(Some(alice.id), far);
    let revoked = grant(Some(alice.id), far);
    let expired = grant(Some(alice.id), t0() - Duration::minutes(1));
    let b1 = grant(Some(bob.id), far);
    for g in [&a1, &a2, &revoked, &expired, &b1] {
        store.create_grant(g, None).await.unwrap();
    }
    assert!(store.revoke_grant(revoked.id, t0()).await.unwrap());

    assert_eq!(store.revoke_user_grants(alice.id, t0()).await.unwrap(), 2);
    assert_eq!(store.revoke_user_grants(alice.id, t0()).await.unwrap(), 0);
    assert!(!store.grant_is_active(a1.id, t0()).await.unwrap());
    assert!(!store.grant_is_active(a2.id, t0()).await.unwrap());
    assert!(store.grant_is_active(b1.id, t0()).await.unwrap());
    assert_eq!(
        store
            .revoke_user_grants(Uuid::new_v4(), t0())
            .await
            .unwrap(),
        0
    );
}
