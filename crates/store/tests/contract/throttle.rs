//! Contract: throttling.
use crate::prelude::*;

contract! {
    failures_are_reserved_and_withdrawn => sqlite_failures_are_reserved_and_withdrawn, postgres_failures_are_reserved_and_withdrawn;
    failures_are_counted_within_the_window => sqlite_failures_are_counted_within_the_window, postgres_failures_are_counted_within_the_window;
}

/// An attempt is recorded before it is judged: later attempts see it (ids grow with insertion
/// order), and a successful one is withdrawn.
pub(crate) async fn failures_are_reserved_and_withdrawn(store: Arc<dyn Store>) {
    let s = "user:reserve";
    let a = store.record_failure(s, t0()).await.unwrap();
    let b = store.record_failure(s, t0()).await.unwrap();
    assert!(b > a);
    assert_eq!(
        store.count_failures(s, t0(), Some(b)).await.unwrap().count,
        1
    );
    assert_eq!(
        store.count_failures(s, t0(), Some(a)).await.unwrap().count,
        0
    );
    assert_eq!(store.count_failures(s, t0(), None).await.unwrap().count, 2);
    store.delete_failure(a).await.unwrap();
    assert_eq!(store.count_failures(s, t0(), None).await.unwrap().count, 1);
    assert_eq!(
        store.count_failures(s, t0(), Some(b)).await.unwrap().count,
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
        store.count_failures(alice, t0(), None).await.unwrap(),
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
        store.count_failures(alice, t0(), None).await.unwrap(),
        FailureCount {
            count: 3,
            last_at: Some(last)
        }
    );
    // `since` is inclusive.
    assert_eq!(
        store
            .count_failures(alice, t0() + Duration::seconds(1), None)
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
                None
            )
            .await
            .unwrap(),
        FailureCount {
            count: 1,
            last_at: Some(last)
        }
    );
    assert_eq!(
        store
            .count_failures(alice, t0() + Duration::minutes(3), None)
            .await
            .unwrap(),
        FailureCount::default()
    );
    assert_eq!(
        store.count_failures(ip, t0(), None).await.unwrap(),
        FailureCount {
            count: 1,
            last_at: Some(t0() + Duration::minutes(1))
        }
    );
    // Subjects are exact.
    assert_eq!(
        store
            .count_failures("user:Alice", t0(), None)
            .await
            .unwrap()
            .count,
        0
    );

    assert_eq!(store.clear_failures(alice).await.unwrap(), 3);
    assert_eq!(
        store.count_failures(alice, t0(), None).await.unwrap(),
        FailureCount::default()
    );
    assert_eq!(store.clear_failures(alice).await.unwrap(), 0);
    assert_eq!(store.count_failures(ip, t0(), None).await.unwrap().count, 1);

    // Purging drops only records older than a day.
    let now = t0() + Duration::days(1) + Duration::minutes(1) + Duration::seconds(30);
    store
        .record_failure(ip, t0() + Duration::days(1))
        .await
        .unwrap();
    let report = store.purge_expired(now).await.unwrap();
    assert_eq!(report.auth_failures, 1);
    assert_eq!(
        store.count_failures(ip, t0(), None).await.unwrap(),
        FailureCount {
            count: 1,
            last_at: Some(t0() + Duration::days(1))
        }
    );
    assert_eq!(store.purge_expired(now).await.unwrap().auth_failures, 0);
}
