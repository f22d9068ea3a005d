//! Contract: throttling.
use crate::prelude::*;

contract! {
    failures_are_reserved_and_withdrawn => sqlite_failures_are_reserved_and_withdrawn, postgres_failures_are_reserved_and_withdrawn;
    failures_are_counted_within_the_window => sqlite_failures_are_counted_within_the_window, postgres_failures_are_counted_within_the_window;
    pending_attempts_are_not_failures => sqlite_pending_attempts_are_not_failures, postgres_pending_attempts_are_not_failures;
    failures_of_two_subjects_are_counted_at_once => sqlite_failures_of_two_subjects_are_counted_at_once, postgres_failures_of_two_subjects_are_counted_at_once;
}

/// An attempt in flight is pending: counted apart from failures until it is settled as one;
/// clearing the failures leaves it; an old pending record (abandoned) counts as nothing.
pub(crate) async fn pending_attempts_are_not_failures(store: Arc<dyn Store>) {
    let s = "user:pending";
    let alive_since = t0() - Duration::seconds(60);
    let old = store
        .record_attempt(s, t0() - Duration::minutes(5))
        .await
        .unwrap();
    let a = store.record_attempt(s, t0()).await.unwrap();
    let b = store.record_attempt(s, t0()).await.unwrap();
    let window = t0() - Duration::minutes(15);
    let seen = |before| {
        let store = store.clone();
        async move {
            store
                .count_failures(s, window, before, alive_since)
                .await
                .unwrap()
        }
    };
    assert_eq!(
        seen(None).await,
        FailureCount {
            count: 0,
            pending: 2,
            last_at: None
        },
        "the abandoned one ({old}) is not counted"
    );
    assert_eq!(seen(Some(b)).await.pending, 1, "only the attempts before b");
    store.settle_attempt(a).await.unwrap();
    let after = seen(None).await;
    assert_eq!((after.count, after.pending), (1, 1));
    assert_eq!(after.last_at, Some(t0()));
    assert_eq!(
        store.clear_failures(s).await.unwrap(),
        1,
        "the failure, not the pending one"
    );
    assert_eq!(seen(None).await.pending, 1);
    store.delete_failure(b).await.unwrap();
    assert_eq!(seen(None).await, FailureCount::default());
}

/// Two subjects counted in one query, each before its own id, in the order asked.
pub(crate) async fn failures_of_two_subjects_are_counted_at_once(store: Arc<dyn Store>) {
    let (user, ip) = ("user:each", "ip:each");
    store.record_failure(user, t0()).await.unwrap();
    let mine_user = store.record_attempt(user, t0()).await.unwrap();
    store.record_attempt(ip, t0()).await.unwrap();
    let mine_ip = store.record_attempt(ip, t0()).await.unwrap();
    let since = t0() - Duration::minutes(15);
    let counts = store
        .count_failures_each(
            &[(user, Some(mine_user)), (ip, Some(mine_ip))],
            since,
            since,
        )
        .await
        .unwrap();
    assert_eq!((counts[0].count, counts[0].pending), (1, 0));
    assert_eq!((counts[1].count, counts[1].pending), (0, 1));
    let alone = store
        .count_failures_each(&[("user:nobody", None)], since, since)
        .await
        .unwrap();
    assert_eq!(alone, vec![FailureCount::default()]);
}

/// An attempt is recorded before it is judged: later attempts see it (ids grow with insertion
/// order), and a successful one is withdrawn.
pub(crate) async fn failures_are_reserved_and_withdrawn(store: Arc<dyn Store>) {
    let s = "user:reserve";
    let a = store.record_failure(s, t0()).await.unwrap();
    let b = store.record_failure(s, t0()).await.unwrap();
    assert!(b > a);
    assert_eq!(
        store
            .count_failures(s, t0(), Some(b), t0() - Duration::days(3650))
            .await
            .unwrap()
            .count,
        1
    );
    assert_eq!(
        store
            .count_failures(s, t0(), Some(a), t0() - Duration::days(3650))
            .await
            .unwrap()
            .count,
        0
    );
    assert_eq!(
        store
            .count_failures(s, t0(), None, t0() - Duration::days(3650))
            .await
            .unwrap()
            .count,
        2
    );
    store.delete_failure(a).await.unwrap();
    assert_eq!(
        store
            .count_failures(s, t0(), None, t0() - Duration::days(3650))
            .await
            .unwrap()
            .count,
        1
    );
    assert_eq!(
        store
            .count_failures(s, t0(), Some(b), t0() - Duration::days(3650))
            .await
            .unwrap()
            .count,
        0
    );
    // Ids keep growing after a delete.
    let c = store.record_failure(s, t0()).await.unwrap();
    assert!(c > b);
}

pub(crate) async fn failures_are_counted_within_the_window(store: Arc<dyn Store>) {
    let alice = "user:alice";
    let ip = "ip:192.0.2.1";
    assert_eq!(
        store
            .count_failures(alice, t0(), None, t0() - Duration::days(3650))
            .await
            .unwrap(),
        FailureCount::default()
    );

    // Recorded out of order; the last one carries nanoseconds, stored to the microsecond.
    store
        .record_failure(alice, t0() + Duration::seconds(1))
        .await
        .unwrap();
    store.record_failure(alice, t0()).await.unwrap();
    store
        .record_failure(
            alice,
            t0() + Duration::minutes(2) + Duration::nanoseconds(789),
        )
        .await
        .unwrap();
    store
        .record_failure(ip, t0() + Duration::minutes(1))
        .await
        .unwrap();
    let last = t0() + Duration::minutes(2);

    assert_eq!(
        store
            .count_failures(alice, t0(), None, t0() - Duration::days(3650))
            .await
            .unwrap(),
        FailureCount {
            pending: 0,
            count: 3,
            last_at: Some(last)
        }
    );
    // `since` is inclusive.
    assert_eq!(
        store
            .count_failures(
                alice,
                t0() + Duration::seconds(1),
                None,
                t0() - Duration::days(3650)
            )
            .await
            .unwrap()
            .count,
        2
    );
    assert_eq!(
        store
            .count_failures(
                alice,
                t0() + Duration::seconds(1) + Duration::microseconds(1),
                None,
                t0() - Duration::days(3650)
            )
            .await
            .unwrap(),
        FailureCount {
            pending: 0,
            count: 1,
            last_at: Some(last)
        }
    );
    assert_eq!(
        store
            .count_failures(
                alice,
                t0() + Duration::minutes(3),
                None,
                t0() - Duration::days(3650)
            )
            .await
            .unwrap(),
        FailureCount::default()
    );
    assert_eq!(
        store
            .count_failures(ip, t0(), None, t0() - Duration::days(3650))
            .await
            .unwrap(),
        FailureCount {
            pending: 0,
            count: 1,
            last_at: Some(t0() + Duration::minutes(1))
        }
    );
    // Subjects are exact.
    assert_eq!(
        store
            .count_failures("user:Alice", t0(), None, t0() - Duration::days(3650))
            .await
            .unwrap()
            .count,
        0
    );

    assert_eq!(store.clear_failures(alice).await.unwrap(), 3);
    assert_eq!(
        store
            .count_failures(alice, t0(), None, t0() - Duration::days(3650))
            .await
            .unwrap(),
        FailureCount::default()
    );
    assert_eq!(store.clear_failures(alice).await.unwrap(), 0);
    assert_eq!(
        store
            .count_failures(ip, t0(), None, t0() - Duration::days(3650))
            .await
            .unwrap()
            .count,
        1
    );

    // Purging drops only records older than a day.
    let now = t0() + Duration::days(1) + Duration::minutes(1) + Duration::seconds(30);
    store
        .record_failure(ip, t0() + Duration::days(1))
        .await
        .unwrap();
    let report = store.purge_expired(now).await.unwrap();
    assert_eq!(report.auth_failures, 1);
    assert_eq!(
        store
            .count_failures(ip, t0(), None, t0() - Duration::days(3650))
            .await
            .unwrap(),
        FailureCount {
            pending: 0,
            count: 1,
            last_at: Some(t0() + Duration::days(1))
        }
    );
    assert_eq!(store.purge_expired(now).await.unwrap().auth_failures, 0);
}
