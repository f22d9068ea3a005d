//! Contract: users.
use crate::prelude::*;

contract! {
    users_crud => sqlite_users_crud, postgres_users_crud;
    deleting_a_user_cascades => sqlite_deleting_a_user_cascades, postgres_deleting_a_user_cascades;
    timestamps_round_trip_at_microsecond_precision => sqlite_timestamps_round_trip_at_microsecond_precision, postgres_timestamps_round_trip_at_microsecond_precision;
}

pub(crate) async fn users_crud(store: Arc<dyn Store>) {
    let mut alice = User::new("alice", t0());
    alice.email = Some("alice@example.com".into());
    alice.email_verified = true;
    alice.name = Some("Alice Liddell".into());
    alice.given_name = Some("Alice".into());
    alice.family_name = Some("Liddell".into());
    alice.phone_number = Some("+1 555 0100".into());
    alice.phone_number_verified = true;
    alice.address = Some("1 Rabbit Hole\nWonderland".into());
    alice.password_hash = Some("$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into());
    store.create_user(&alice).await.unwrap();
    let bob = new_user(&store, "bob").await;

    // Username is unique.
    let dup = User::new("alice", t0());
    assert!(matches!(
        store.create_user(&dup).await,
        Err(StoreError::Conflict(_))
    ));

    assert_eq!(store.get_user(alice.id).await.unwrap(), Some(alice.clone()));
    assert_eq!(
        store.find_user_by_username("alice").await.unwrap(),
        Some(alice.clone())
    );
    assert_eq!(store.find_user_by_username("carol").await.unwrap(), None);
    assert_eq!(store.get_user(Uuid::new_v4()).await.unwrap(), None);
    let names: Vec<String> = store
        .list_users()
        .await
        .unwrap()
        .into_iter()
        .map(|u| u.username)
        .collect();
    assert_eq!(names, vec!["alice", "bob"]);

    let later = t0() + Duration::hours(1);
    assert!(
        store
            .set_password_hash(bob.id, "$argon2id$new", later)
            .await
            .unwrap()
    );
    assert!(
        !store
            .set_password_hash(Uuid::new_v4(), "$argon2id$new", later)
            .await
            .unwrap()
    );
    let b = store.get_user(bob.id).await.unwrap().unwrap();
    assert_eq!(b.password_hash.as_deref(), Some("$argon2id$new"));
    assert_eq!(b.updated_at, later);
    assert_eq!(b.created_at, t0());

    assert!(store.set_disabled(bob.id, true, later).await.unwrap());
    assert!(store.get_user(bob.id).await.unwrap().unwrap().disabled);
    assert!(store.set_disabled(bob.id, false, later).await.unwrap());
    assert!(!store.get_user(bob.id).await.unwrap().unwrap().disabled);
    assert!(
        !store
            .set_disabled(Uuid::new_v4(), true, later)
            .await
            .unwrap()
    );

    // Same email and phone: verification flags survive; other fields are overwritten.
    let same = ProfileUpdate {
        name: Some("Alice L.".into()),
        given_name: None,
        family_name: Some("Liddell".into()),
        email: Some("alice@example.com".into()),
        phone_number: Some("+1 555 0100".into()),
        address: None,
    };
    assert!(store.update_profile(alice.id, &same, later).await.unwrap());
    let a = store.get_user(alice.id).await.unwrap().unwrap();
    assert_eq!(a.name.as_deref(), Some("Alice L."));
    assert_eq!(a.given_name, None);
    assert_eq!(a.address, None);
    assert!(a.email_verified && a.phone_number_verified);
    assert_eq!(a.updated_at, later);
    assert_eq!(a.password_hash, alice.password_hash);

    // A new email or phone number is unverified.
    let changed = ProfileUpdate {
        email: Some("alice@new.example".into()),
        phone_number: None,
        ..same.clone()
    };
    assert!(
        store
            .update_profile(alice.id, &changed, later)
            .await
            .unwrap()
    );
    let a = store.get_user(alice.id).await.unwrap().unwrap();
    assert_eq!(a.email.as_deref(), Some("alice@new.example"));
    assert!(!a.email_verified);
    assert_eq!(a.phone_number, None);
    assert!(!a.phone_number_verified);
    assert!(
        !store
            .update_profile(Uuid::new_v4(), &same, later)
            .await
            .unwrap()
    );

    assert!(store.delete_user(bob.id).await.unwrap());
    assert!(!store.delete_user(bob.id).await.unwrap());
    assert_eq!(store.get_user(bob.id).await.unwrap(), None);
}

pub(crate) async fn deleting_a_user_cascades(store: Arc<dyn Store>) {
    let alice = new_user(&store, "alice").await;
    let bob = new_user(&store, "bob").await;
    let far = t0() + Duration::days(30);

    let g = grant(Some(alice.id), far);
    let r = refresh(g.id, far);
    store.create_grant(&g, Some(&r)).await.unwrap();
    let s = session(Some(alice.id), far);
    assert!(store.session_create(&s).await.unwrap());
    let c = code(alice.id, far);
    store.insert_code(&c).await.unwrap();
    store
        .put_consent(&Consent {
            user_id: alice.id,
            client_id: "app".into(),
            scopes: strings(&["openid"]),
            granted_at: t0(),
        })
        .await
        .unwrap();
    store
        .audit(&event("login", Some(alice.id), t0()))
        .await
        .unwrap();
    store
        .link_identity(&identity("corp", "a-1", alice.id))
        .await
        .unwrap();

    // Bob's rows must survive.
    let bg = grant(Some(bob.id), far);
    store.create_grant(&bg, None).await.unwrap();
    let bs = session(Some(bob.id), far);
    assert!(store.session_create(&bs).await.unwrap());
    let bi = identity("corp", "b-1", bob.id);
    store.link_identity(&bi).await.unwrap();

    assert!(store.delete_user(alice.id).await.unwrap());
    assert_eq!(store.get_grant(g.id).await.unwrap(), None);
    assert_eq!(store.find_refresh(&r.token_hash).await.unwrap(), None);
    assert_eq!(store.session_load(&s.id_hash, t0()).await.unwrap(), None);
    assert_eq!(
        store.redeem_code(&c.code_hash, t0()).await.unwrap(),
        Redeemed::NotFound
    );
    assert_eq!(store.get_consent(alice.id, "app").await.unwrap(), None);
    assert_eq!(store.get_identity("corp", "a-1").await.unwrap(), None);
    // The audit trail outlives the user.
    let kept = store
        .list_audit(&AuditFilter {
            user_id: Some(alice.id),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(kept.len(), 1);

    assert!(store.get_grant(bg.id).await.unwrap().is_some());
    assert_eq!(store.get_identity("corp", "b-1").await.unwrap(), Some(bi));
    assert!(
        store
            .session_load(&bs.id_hash, t0())
            .await
            .unwrap()
            .is_some()
    );
}

pub(crate) async fn timestamps_round_trip_at_microsecond_precision(store: Arc<dyn Store>) {
    // Nanoseconds are truncated the same way on both backends.
    let with_nanos = DateTime::from_timestamp(1_700_000_000, 123_456_789).unwrap();
    let u = User::new("nano", with_nanos);
    store.create_user(&u).await.unwrap();
    let got = store.get_user(u.id).await.unwrap().unwrap();
    assert_eq!(
        got.created_at,
        DateTime::from_timestamp(1_700_000_000, 123_456_000).unwrap()
    );

    // Whole seconds and sub-second values compare correctly against each other.
    let whole = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
    let s = session(None, whole + Duration::milliseconds(500));
    assert!(store.session_create(&s).await.unwrap());
    assert!(
        store
            .session_load(&s.id_hash, whole)
            .await
            .unwrap()
            .is_some()
    );
    assert!(
        store
            .session_load(&s.id_hash, whole + Duration::microseconds(499_999))
            .await
            .unwrap()
            .is_some()
    );
    assert!(
        store
            .session_load(&s.id_hash, whole + Duration::milliseconds(500))
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        store
            .session_load(&s.id_hash, whole + Duration::seconds(1))
            .await
            .unwrap()
            .is_none()
    );
}
