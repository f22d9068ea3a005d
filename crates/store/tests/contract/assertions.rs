//! Contract: client assertion replay.
use crate::prelude::*;

contract! {
    assertion_jtis_are_single_use => sqlite_assertion_jtis_are_single_use, postgres_assertion_jtis_are_single_use;
}

pub(crate) async fn assertion_jtis_are_single_use(store: Arc<dyn Store>) {
    let exp = t0() + Duration::minutes(5);
    assert!(store.remember_assertion("rp", b"jti-1", exp).await.unwrap());
    assert!(
        !store.remember_assertion("rp", b"jti-1", exp).await.unwrap(),
        "replay"
    );
    assert!(
        store
            .remember_assertion("other", b"jti-1", exp)
            .await
            .unwrap(),
        "per client"
    );
    // Purged once expired, and then harmless to accept again (the assertion itself expired).
    let report = store
        .purge_expired(exp + Duration::seconds(1))
        .await
        .unwrap();
    assert_eq!(report.client_assertions, 2);
}
