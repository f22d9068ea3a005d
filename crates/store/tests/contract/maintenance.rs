//! Contract: maintenance.
use crate::prelude::*;

contract! {
    purge_expired_counts => sqlite_purge_expired_counts, postgres_purge_expired_counts;
    ping_answers => sqlite_ping_answers, postgres_ping_answers;
    purge_goes_past_one_batch => sqlite_purge_goes_past_one_batch, postgres_purge_goes_past_one_batch;
}

/// The purge deletes in batches of 2,000 rows; more than two batches' worth all go, and a row
/// that must stay stays.
pub(crate) async fn purge_goes_past_one_batch(store: Arc<dyn Store>) {
    let now = t0() + Duration::days(3);
    for i in 0..4_001 {
        store
            .record_failure(&format!("user:u{}", i % 7), t0())
            .await
            .unwrap();
    }
    store
        .record_failure("user:u0", now - Duration::minutes(1))
        .await
        .unwrap();
    let report = store.purge_expired(now).await.unwrap();
    assert_eq!(report.auth_failures, 4_001);
    assert_eq!(
        store.purge_expired(now).await.unwrap().auth_failures,
        0,
        "nothing is left over for the next run"
    );
    let recent = store
        .count_failures("user:u0", now - Duration::hours(1), None, now)
        .await
        .unwrap();
    assert_eq!(recent.count, 1, "the recent failure stays");
}

pub(crate) async fn purge_expired_counts(store: Arc<dyn Store>) {
    let alice = new_user(&store, "alice").await;
    let now = t0() + Duration::days(1);
    let past = now - Duration::minutes(1);
    let future = now + Duration::days(1);

    // Codes: two expired (one used, one not), one live.
    let used = code(alice.id, past);
    let unused = code(alice.id, past);
    let live_code = code(alice.id, future);
    for c in [&used, &unused, &live_code] {
        store.insert_code(c).await.unwrap();
    }
    store.redeem_code(&used.code_hash, t0()).await.unwrap();

    // Sessions: one expired, one live.
    let dead_session = session(Some(alice.id), past);
    let live_session = session(Some(alice.id), future);
    store.session_create(&dead_session).await.unwrap();
    store.session_create(&live_session).await.unwrap();

    // A live grant with one expired and one live refresh token.
    let live_grant = grant(Some(alice.id), future);
    let dead_token = refresh(live_grant.id, past);
    let live_token = refresh(live_grant.id, future);
    store
        .create_grant(&live_grant, Some(&dead_token))
        .await
        .unwrap();
    store
        .rotate_refresh(&dead_token.token_hash, &live_token, None, t0())
        .await
        .unwrap();

    // An expired grant (with an expired token) and an expired, revoked grant; a revoked live one stays.
    let dead_grant = grant(Some(alice.id), past);
    store
        .create_grant(
            &dead_grant,
            Some(&refresh(dead_grant.id, past - Duration::minutes(1))),
        )
        .await
        .unwrap();
    let revoked_dead = grant(Some(alice.id), past);
    store.create_grant(&revoked_dead, None).await.unwrap();
    store.revoke_grant(revoked_dead.id, t0()).await.unwrap();
    let revoked_live = grant(Some(alice.id), future);
    store.create_grant(&revoked_live, None).await.unwrap();
    store.revoke_grant(revoked_live.id, t0()).await.unwrap();

    // Failed attempts: older than a day before `now` go; exactly a day old and newer stay.
    store
        .record_failure("user:alice", now - Duration::days(2))
        .await
        .unwrap();
    store
        .record_failure(
            "ip:192.0.2.1",
            now - Duration::days(1) - Duration::microseconds(1),
        )
        .await
        .unwrap();
    store
        .record_failure("user:alice", now - Duration::days(1))
        .await
        .unwrap();
    store
        .record_failure("user:alice", now - Duration::minutes(1))
        .await
        .unwrap();

    // Revoked self-contained tokens: listed until they would have expired.
    assert!(store.revoke_token(b"gone", past).await.unwrap());
    assert!(store.revoke_token(b"live", future).await.unwrap());
    assert!(!store.revoke_token(b"live", future).await.unwrap(), "once");

    let report = store.purge_expired(now).await.unwrap();
    assert_eq!(
        report,
        PurgeReport {
            codes: 2,
            refresh_tokens: 2,
            grants: 2,
            sessions: 1,
            auth_failures: 2,
            client_assertions: 0,
            revoked_tokens: 1,
        }
    );
    assert!(!store.token_is_revoked(b"gone").await.unwrap());
    assert!(store.token_is_revoked(b"live").await.unwrap());
    let since_forever = DateTime::from_timestamp(0, 0).unwrap();
    assert_eq!(
        store
            .count_failures(
                "user:alice",
                since_forever,
                None,
                t0() - Duration::days(3650)
            )
            .await
            .unwrap(),
        FailureCount {
            pending: 0,
            count: 2,
            last_at: Some(now - Duration::minutes(1))
        }
    );
    assert_eq!(
        store
            .count_failures(
                "ip:192.0.2.1",
                since_forever,
                None,
                t0() - Duration::days(3650)
            )
            .await
            .unwrap()
            .count,
        0
    );

    assert!(matches!(
        store.redeem_code(&live_code.code_hash, now).await.unwrap(),
        Redeemed::Fresh(_)
    ));
    assert!(
        store
            .session_load(&live_session.id_hash, now)
            .await
            .unwrap()
            .is_some()
    );
    assert!(
        store
            .find_refresh(&live_token.token_hash)
            .await
            .unwrap()
            .is_some()
    );
    assert_eq!(
        store.find_refresh(&dead_token.token_hash).await.unwrap(),
        None
    );
    assert!(store.get_grant(live_grant.id).await.unwrap().is_some());
    assert!(store.get_grant(revoked_live.id).await.unwrap().is_some());
    assert_eq!(store.get_grant(dead_grant.id).await.unwrap(), None);

    assert_eq!(
        store.purge_expired(now).await.unwrap(),
        PurgeReport::default()
    );
}

pub(crate) async fn ping_answers(store: Arc<dyn Store>) {
    store.ping().await.unwrap();
}
