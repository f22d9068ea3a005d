//! Contract: sessions.
use crate::prelude::*;

contract! {
    sessions_lifecycle => sqlite_sessions_lifecycle, postgres_sessions_lifecycle;
    end_user_sessions_keeps_one_and_moves_the_epoch => sqlite_end_user_sessions_keeps_one_and_moves_the_epoch, postgres_end_user_sessions_keeps_one_and_moves_the_epoch;
    sessions_are_counted_while_unexpired => sqlite_sessions_are_counted_while_unexpired, postgres_sessions_are_counted_while_unexpired;
}

pub(crate) async fn sessions_lifecycle(store: Arc<dyn Store>) {
    let alice = new_user(&store, "alice").await;
    let exp = t0() + Duration::hours(1);
    let anon = session(None, exp);
    assert!(store.session_create(&anon).await.unwrap());

    // Collision: false, and the stored row is untouched.
    let clash = SessionRecord {
        data: b"other".to_vec(),
        user_id: Some(alice.id),
        ..anon.clone()
    };
    assert!(!store.session_create(&clash).await.unwrap());
    assert_eq!(
        store.session_load(&anon.id_hash, t0()).await.unwrap(),
        Some(anon.clone())
    );

    // Expired sessions are not loaded.
    assert_eq!(store.session_load(&anon.id_hash, exp).await.unwrap(), None);
    assert_eq!(store.session_load(&hash(), t0()).await.unwrap(), None);

    // Save overwrites everything, including the user and the expiry (login, then touch).
    let logged_in = SessionRecord {
        user_id: Some(alice.id),
        data: vec![0, 159, 146, 150, 255],
        expires_at: exp + Duration::hours(1),
        ..anon.clone()
    };
    store.session_save(&logged_in).await.unwrap();
    assert_eq!(
        store.session_load(&anon.id_hash, exp).await.unwrap(),
        Some(logged_in.clone())
    );
    assert_eq!(
        store.sessions_for_user(alice.id, t0()).await.unwrap(),
        vec![logged_in.clone()]
    );

    // Save never creates: a session deleted while a request was in flight stays deleted.
    let fresh = session(Some(alice.id), exp);
    store.session_save(&fresh).await.unwrap();
    assert_eq!(
        store.session_load(&fresh.id_hash, t0()).await.unwrap(),
        None
    );
    assert!(store.session_create(&fresh).await.unwrap());
    let mut listed = store.sessions_for_user(alice.id, t0()).await.unwrap();
    listed.sort_by(|a, b| a.id_hash.cmp(&b.id_hash));
    let mut expected = vec![logged_in.clone(), fresh.clone()];
    expected.sort_by(|a, b| a.id_hash.cmp(&b.id_hash));
    assert_eq!(listed, expected);
    // Only unexpired sessions are listed.
    assert_eq!(
        store.sessions_for_user(alice.id, exp).await.unwrap(),
        vec![logged_in.clone()]
    );

    store.session_delete(&fresh.id_hash).await.unwrap();
    store.session_delete(&fresh.id_hash).await.unwrap();
    assert_eq!(
        store.session_load(&fresh.id_hash, t0()).await.unwrap(),
        None
    );
}

pub(crate) async fn end_user_sessions_keeps_one_and_moves_the_epoch(store: Arc<dyn Store>) {
    let alice = new_user(&store, "alice").await;
    let bob = new_user(&store, "bob").await;
    let exp = t0() + Duration::hours(1);
    let a: Vec<SessionRecord> = (0..3).map(|_| session(Some(alice.id), exp)).collect();
    let b = session(Some(bob.id), exp);
    let anon = session(None, exp);
    for s in a.iter().chain([&b, &anon]) {
        assert!(store.session_create(s).await.unwrap());
    }

    let ended = store
        .end_user_sessions(alice.id, Some(&a[1].id_hash))
        .await
        .unwrap()
        .unwrap();
    assert_eq!((ended.epoch, ended.ended), (1, 2));
    let kept = SessionRecord {
        epoch: 1,
        ..a[1].clone()
    };
    assert_eq!(
        store.sessions_for_user(alice.id, t0()).await.unwrap(),
        vec![kept.clone()],
        "the kept session moved to the new epoch"
    );
    let user = store.get_user(alice.id).await.unwrap().unwrap();
    assert_eq!(user.session_epoch, 1);

    // A request in flight with an ended session's cookie saves after the end: nothing returns.
    store.session_save(&a[0]).await.unwrap();
    assert_eq!(store.session_load(&a[0].id_hash, t0()).await.unwrap(), None);
    // A login that read the user before the end carries the old epoch: its session is void,
    // neither loaded nor listed.
    let stale = session(Some(alice.id), exp);
    assert!(store.session_create(&stale).await.unwrap());
    assert_eq!(
        store.session_load(&stale.id_hash, t0()).await.unwrap(),
        None
    );
    assert_eq!(
        store.sessions_for_user(alice.id, t0()).await.unwrap(),
        vec![kept.clone()]
    );
    // A stale copy of the kept session's data cannot lower its epoch.
    store.session_save(&a[1]).await.unwrap();
    assert_eq!(
        store.session_load(&a[1].id_hash, t0()).await.unwrap(),
        Some(kept.clone())
    );

    let again = store
        .end_user_sessions(alice.id, Some(&a[1].id_hash))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(again.epoch, 2);
    assert_eq!(
        again.ended, 1,
        "only the void row is left to delete besides the kept one"
    );
    let all = store.end_user_sessions(alice.id, None).await.unwrap();
    assert_eq!(all.map(|e| (e.epoch, e.ended)), Some((3, 1)));
    assert_eq!(
        store.sessions_for_user(alice.id, t0()).await.unwrap(),
        vec![]
    );
    assert_eq!(
        store.end_user_sessions(Uuid::new_v4(), None).await.unwrap(),
        None,
        "an unknown user"
    );

    assert_eq!(
        store.sessions_for_user(bob.id, t0()).await.unwrap(),
        vec![b.clone()]
    );
    assert!(
        store
            .session_load(&anon.id_hash, t0())
            .await
            .unwrap()
            .is_some()
    );
}

pub(crate) async fn sessions_are_counted_while_unexpired(store: Arc<dyn Store>) {
    assert_eq!(store.count_sessions(t0()).await.unwrap(), 0);
    let alice = new_user(&store, "alice").await;
    for (user, ttl) in [(None, 1), (Some(alice.id), 1), (None, 3)] {
        let s = session(user, t0() + Duration::hours(ttl));
        assert!(store.session_create(&s).await.unwrap());
    }
    assert_eq!(store.count_sessions(t0()).await.unwrap(), 3);
    assert_eq!(
        store
            .count_sessions(t0() + Duration::hours(2))
            .await
            .unwrap(),
        1
    );
}
