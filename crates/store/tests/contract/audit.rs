//! Contract: audit.
use crate::prelude::*;

contract! {
    audit_filters_and_order => sqlite_audit_filters_and_order, postgres_audit_filters_and_order;
    audit_retention_purges_old_events => sqlite_audit_retention_purges_old_events, postgres_audit_retention_purges_old_events;
}

pub(crate) async fn audit_retention_purges_old_events(store: Arc<dyn Store>) {
    let old = event("login", None, t0() - Duration::days(91));
    let edge = event("login", None, t0() - Duration::days(90));
    let recent = event("login", None, t0());
    for e in [&old, &edge, &recent] {
        store.audit(e).await.unwrap();
    }
    let cutoff = t0() - Duration::days(90);
    assert_eq!(store.purge_audit(cutoff).await.unwrap(), 1);
    assert_eq!(store.purge_audit(cutoff).await.unwrap(), 0);
    let left = store.list_audit(&AuditFilter::default()).await.unwrap();
    assert_eq!(left, vec![recent, edge]);
}

pub(crate) async fn audit_filters_and_order(store: Arc<dyn Store>) {
    let alice = Uuid::new_v4();
    let bob = Uuid::new_v4();
    let e1 = event("login", Some(alice), t0());
    let e2 = event("login_failed", Some(bob), t0() + Duration::seconds(1));
    let e3 = AuditEvent {
        client_id: None,
        ip: None,
        detail: serde_json::Value::Null,
        ..event("login", Some(bob), t0() + Duration::seconds(2))
    };
    let e4 = event("key_rotated", None, t0() + Duration::seconds(3));
    // Inserted out of order: the list is ordered by time, not insertion.
    for e in [&e3, &e1, &e4, &e2] {
        store.audit(e).await.unwrap();
    }

    let all = store.list_audit(&AuditFilter::default()).await.unwrap();
    assert_eq!(all, vec![e4.clone(), e3.clone(), e2.clone(), e1.clone()]);

    let logins = store
        .list_audit(&AuditFilter {
            kind: Some("login".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(logins, vec![e3.clone(), e1.clone()]);

    let bobs = store
        .list_audit(&AuditFilter {
            user_id: Some(bob),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(bobs, vec![e3.clone(), e2.clone()]);

    let since = store
        .list_audit(&AuditFilter {
            since: Some(t0() + Duration::seconds(2)),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(since, vec![e4.clone(), e3.clone()]);

    let combined = store
        .list_audit(&AuditFilter {
            user_id: Some(bob),
            kind: Some("login".into()),
            since: Some(t0()),
            limit: 10,
        })
        .await
        .unwrap();
    assert_eq!(combined, vec![e3.clone()]);

    let limited = store
        .list_audit(&AuditFilter {
            limit: 2,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(limited, vec![e4.clone(), e3.clone()]);

    assert_eq!(
        store
            .list_audit(&AuditFilter {
                kind: Some("nothing".into()),
                ..Default::default()
            })
            .await
            .unwrap(),
        vec![]
    );

    // limit <= 0 means 100.
    for i in 0..105 {
        store
            .audit(&event("bulk", None, t0() + Duration::seconds(10 + i)))
            .await
            .unwrap();
    }
    assert_eq!(
        store
            .list_audit(&AuditFilter {
                limit: 0,
                ..Default::default()
            })
            .await
            .unwrap()
            .len(),
        100
    );
    assert_eq!(
        store
            .list_audit(&AuditFilter {
                limit: -5,
                ..Default::default()
            })
            .await
            .unwrap()
            .len(),
        100
    );
    assert_eq!(
        store
            .list_audit(&AuditFilter {
                limit: 1000,
                ..Default::default()
            })
            .await
            .unwrap()
            .len(),
        109
    );
}
