//! Contract: federation.
use crate::prelude::*;

contract! {
    identities_link_and_conflict => sqlite_identities_link_and_conflict, postgres_identities_link_and_conflict;
    create_user_with_identity_is_atomic => sqlite_create_user_with_identity_is_atomic, postgres_create_user_with_identity_is_atomic;
    identities_touch => sqlite_identities_touch, postgres_identities_touch;
    identities_list_and_unlink => sqlite_identities_list_and_unlink, postgres_identities_list_and_unlink;
    users_are_found_by_email_case_insensitively => sqlite_users_are_found_by_email_case_insensitively, postgres_users_are_found_by_email_case_insensitively;
    deleting_a_user_unlinks_identities => sqlite_deleting_a_user_unlinks_identities, postgres_deleting_a_user_unlinks_identities;
}

pub(crate) async fn identities_link_and_conflict(store: Arc<dyn Store>) {
    let alice = new_user(&store, "alice").await;
    let bob = new_user(&store, "bob").await;
    assert_eq!(store.get_identity("corp", "a-1").await.unwrap(), None);

    // Every field round-trips, with and without an email.
    let a1 = identity("corp", "a-1", alice.id);
    store.link_identity(&a1).await.unwrap();
    assert_eq!(
        store.get_identity("corp", "a-1").await.unwrap(),
        Some(a1.clone())
    );
    let a2 = FederatedIdentity {
        email: None,
        created_at: DateTime::from_timestamp(1_700_000_100, 999_999_000).unwrap(),
        last_login_at: DateTime::from_timestamp(1_700_000_200, 1_000).unwrap(),
        ..identity("social", "a-1", alice.id)
    };
    store.link_identity(&a2).await.unwrap();
    assert_eq!(
        store.get_identity("social", "a-1").await.unwrap(),
        Some(a2.clone())
    );
    // Nanoseconds are truncated to microseconds like every other timestamp.
    let nanos = FederatedIdentity {
        last_login_at: DateTime::from_timestamp(1_700_000_000, 123_456_789).unwrap(),
        ..identity("corp", "nanos", bob.id)
    };
    store.link_identity(&nanos).await.unwrap();
    assert_eq!(
        store
            .get_identity("corp", "nanos")
            .await
            .unwrap()
            .unwrap()
            .last_login_at,
        DateTime::from_timestamp(1_700_000_000, 123_456_000).unwrap()
    );

    // The pair is the key: linking it again conflicts, to the same user or to another, and the
    // first link is kept as it was.
    let again = FederatedIdentity {
        email: Some("other@corp.example".into()),
        last_login_at: t0() + Duration::hours(1),
        ..a1.clone()
    };
    assert!(matches!(
        store.link_identity(&again).await,
        Err(StoreError::Conflict(_))
    ));
    assert!(matches!(
        store.link_identity(&identity("corp", "a-1", bob.id)).await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(
        store.get_identity("corp", "a-1").await.unwrap(),
        Some(a1.clone())
    );

    // Both parts are case-sensitive, and neither alone is a key.
    assert_eq!(store.get_identity("corp", "A-1").await.unwrap(), None);
    assert_eq!(store.get_identity("Corp", "a-1").await.unwrap(), None);
    let b1 = identity("corp", "A-1", bob.id);
    store.link_identity(&b1).await.unwrap();
    assert_eq!(store.get_identity("corp", "A-1").await.unwrap(), Some(b1));
    assert_eq!(store.get_identity("corp", "a-1").await.unwrap(), Some(a1));

    // Unknown user: refused by the foreign key, nothing written.
    assert!(matches!(
        store
            .link_identity(&identity("corp", "ghost", Uuid::new_v4()))
            .await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(store.get_identity("corp", "ghost").await.unwrap(), None);
}

pub(crate) async fn create_user_with_identity_is_atomic(store: Arc<dyn Store>) {
    // Both written together, every user field included.
    let mut carol = User::new("carol", t0());
    carol.email = Some("carol@corp.example".into());
    carol.email_verified = true;
    carol.name = Some("Carol".into());
    let c1 = identity("corp", "c-1", carol.id);
    store.create_user_with_identity(&carol, &c1).await.unwrap();
    assert_eq!(store.get_user(carol.id).await.unwrap(), Some(carol.clone()));
    assert_eq!(
        store.get_identity("corp", "c-1").await.unwrap(),
        Some(c1.clone())
    );
    assert_eq!(
        store.list_identities(carol.id).await.unwrap(),
        vec![c1.clone()]
    );

    // Username taken: Conflict, and the identity is not linked.
    let taken = User::new("carol", t0());
    assert!(matches!(
        store
            .create_user_with_identity(&taken, &identity("corp", "c-2", taken.id))
            .await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(store.get_identity("corp", "c-2").await.unwrap(), None);
    assert_eq!(store.get_user(taken.id).await.unwrap(), None);
    assert_eq!(store.get_user(carol.id).await.unwrap(), Some(carol.clone()));

    // Identity already linked: Conflict, and the user is not created (the user insert had
    // succeeded inside the transaction and is rolled back).
    let dave = User::new("dave", t0());
    assert!(matches!(
        store
            .create_user_with_identity(&dave, &identity("corp", "c-1", dave.id))
            .await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(store.get_user(dave.id).await.unwrap(), None);
    assert_eq!(store.find_user_by_username("dave").await.unwrap(), None);
    assert_eq!(store.get_identity("corp", "c-1").await.unwrap(), Some(c1));
    assert_eq!(store.list_users().await.unwrap(), vec![carol]);

    // Nothing was left behind: both names and the pair are still usable.
    let d1 = identity("corp", "c-2", dave.id);
    store.create_user_with_identity(&dave, &d1).await.unwrap();
    assert_eq!(store.get_user(dave.id).await.unwrap(), Some(dave.clone()));
    assert_eq!(store.list_identities(dave.id).await.unwrap(), vec![d1]);
}

pub(crate) async fn identities_touch(store: Arc<dyn Store>) {
    let alice = new_user(&store, "alice").await;
    let a1 = identity("corp", "a-1", alice.id);
    let a2 = identity("corp", "a-2", alice.id);
    store.link_identity(&a1).await.unwrap();
    store.link_identity(&a2).await.unwrap();

    let later = t0() + Duration::days(3);
    assert!(
        store
            .touch_identity("corp", "a-1", Some("new@corp.example"), later)
            .await
            .unwrap()
    );
    let touched = FederatedIdentity {
        email: Some("new@corp.example".into()),
        last_login_at: later,
        ..a1.clone()
    };
    assert_eq!(
        store.get_identity("corp", "a-1").await.unwrap(),
        Some(touched.clone())
    );
    // Only that identity changed.
    assert_eq!(store.get_identity("corp", "a-2").await.unwrap(), Some(a2));

    // The upstream may stop reporting an email: it is cleared.
    let latest = later + Duration::hours(1);
    assert!(
        store
            .touch_identity("corp", "a-1", None, latest)
            .await
            .unwrap()
    );
    assert_eq!(
        store.get_identity("corp", "a-1").await.unwrap(),
        Some(FederatedIdentity {
            email: None,
            last_login_at: latest,
            ..touched
        })
    );

    // Unknown pairs are not created.
    assert!(
        !store
            .touch_identity("corp", "nobody", None, later)
            .await
            .unwrap()
    );
    assert!(
        !store
            .touch_identity("CORP", "a-1", None, later)
            .await
            .unwrap()
    );
    assert_eq!(store.get_identity("corp", "nobody").await.unwrap(), None);
}

pub(crate) async fn identities_list_and_unlink(store: Arc<dyn Store>) {
    let alice = new_user(&store, "alice").await;
    let bob = new_user(&store, "bob").await;
    assert_eq!(store.list_identities(alice.id).await.unwrap(), vec![]);

    // Linked out of order; listed by upstream then subject, by bytes (uppercase first, "10"
    // before "9") on every backend.
    let expected = vec![
        identity("Zeta", "1", alice.id),
        identity("corp", "10", alice.id),
        identity("corp", "9", alice.id),
        identity("corp", "B", alice.id),
        identity("corp", "a", alice.id),
        identity("social", "1", alice.id),
    ];
    for i in [5, 2, 4, 0, 3, 1] {
        store.link_identity(&expected[i]).await.unwrap();
    }
    let bobs = identity("corp", "b", bob.id);
    store.link_identity(&bobs).await.unwrap();
    assert_eq!(store.list_identities(alice.id).await.unwrap(), expected);
    assert_eq!(
        store.list_identities(bob.id).await.unwrap(),
        vec![bobs.clone()]
    );
    assert_eq!(store.list_identities(Uuid::new_v4()).await.unwrap(), vec![]);

    // Only the user it is linked to can unlink it.
    assert!(!store.unlink_identity(bob.id, "corp", "a").await.unwrap());
    assert!(
        !store
            .unlink_identity(Uuid::new_v4(), "corp", "a")
            .await
            .unwrap()
    );
    assert!(!store.unlink_identity(alice.id, "corp", "b").await.unwrap());
    assert!(!store.unlink_identity(alice.id, "corp", "A").await.unwrap());
    assert_eq!(store.list_identities(alice.id).await.unwrap(), expected);
    assert_eq!(store.get_identity("corp", "b").await.unwrap(), Some(bobs));

    assert!(store.unlink_identity(alice.id, "corp", "a").await.unwrap());
    assert!(!store.unlink_identity(alice.id, "corp", "a").await.unwrap());
    assert_eq!(store.get_identity("corp", "a").await.unwrap(), None);
    let mut rest = expected.clone();
    rest.remove(4);
    assert_eq!(store.list_identities(alice.id).await.unwrap(), rest);

    // An unlinked pair can be linked again, to anyone.
    let relinked = identity("corp", "a", bob.id);
    store.link_identity(&relinked).await.unwrap();
    assert_eq!(
        store.get_identity("corp", "a").await.unwrap(),
        Some(relinked)
    );
}

pub(crate) async fn users_are_found_by_email_case_insensitively(store: Arc<dyn Store>) {
    // Emails are not unique; created out of name order: results are sorted by username, by
    // bytes (uppercase first).
    let with_email = |name: &str, email: Option<&str>| {
        let mut u = User::new(name, t0());
        u.email = email.map(str::to_string);
        u
    };
    let users = [
        with_email("mallory", Some("mallory@example.com")),
        with_email("alice", Some("alice@example.com")),
        with_email("Zoe", Some("ALICE@Example.COM")),
        with_email("bob", Some("Alice@example.com")),
        with_email("nobody", None),
        with_email("percent", Some("a%@example.com")),
    ];
    for u in &users {
        store.create_user(u).await.unwrap();
    }
    let expected = vec![users[2].clone(), users[1].clone(), users[3].clone()];
    for query in [
        "alice@example.com",
        "ALICE@EXAMPLE.COM",
        "aLiCe@ExAmPlE.cOm",
    ] {
        assert_eq!(
            store.find_users_by_email(query).await.unwrap(),
            expected,
            "{query}"
        );
    }
    assert_eq!(
        store
            .find_users_by_email("MALLORY@example.com")
            .await
            .unwrap(),
        vec![users[0].clone()]
    );

    // Equality, not a pattern or a prefix.
    assert_eq!(
        store.find_users_by_email("alice@example.co").await.unwrap(),
        vec![]
    );
    assert_eq!(
        store
            .find_users_by_email("alice@example.com ")
            .await
            .unwrap(),
        vec![]
    );
    assert_eq!(
        store
            .find_users_by_email("a_ice@example.com")
            .await
            .unwrap(),
        vec![]
    );
    assert_eq!(
        store.find_users_by_email("A%@EXAMPLE.COM").await.unwrap(),
        vec![users[5].clone()]
    );
    assert_eq!(store.find_users_by_email("").await.unwrap(), vec![]);

    // A changed email is found under the new address only.
    let profile = ProfileUpdate {
        email: Some("Bob@Example.org".into()),
        ..Default::default()
    };
    assert!(
        store
            .update_profile(users[3].id, &profile, t0())
            .await
            .unwrap()
    );
    let bob = store.get_user(users[3].id).await.unwrap().unwrap();
    assert_eq!(
        store.find_users_by_email("bob@example.org").await.unwrap(),
        vec![bob]
    );
    assert_eq!(
        store
            .find_users_by_email("alice@example.com")
            .await
            .unwrap(),
        vec![users[2].clone(), users[1].clone()]
    );
}

pub(crate) async fn deleting_a_user_unlinks_identities(store: Arc<dyn Store>) {
    let alice = new_user(&store, "alice").await;
    let bob = new_user(&store, "bob").await;
    for i in [
        identity("corp", "a-1", alice.id),
        identity("social", "a-1", alice.id),
    ] {
        store.link_identity(&i).await.unwrap();
    }
    let b1 = identity("corp", "b-1", bob.id);
    store.link_identity(&b1).await.unwrap();

    assert!(store.delete_user(alice.id).await.unwrap());
    assert_eq!(store.list_identities(alice.id).await.unwrap(), vec![]);
    assert_eq!(store.get_identity("corp", "a-1").await.unwrap(), None);
    assert_eq!(store.get_identity("social", "a-1").await.unwrap(), None);
    assert_eq!(store.list_identities(bob.id).await.unwrap(), vec![b1]);

    // The freed pair can be linked to someone else.
    let moved = identity("corp", "a-1", bob.id);
    store.link_identity(&moved).await.unwrap();
    assert_eq!(
        store.get_identity("corp", "a-1").await.unwrap(),
        Some(moved)
    );
}
