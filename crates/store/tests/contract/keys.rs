//! Contract: signing keys.
use crate::prelude::*;

contract! {
    signing_keys_crud => sqlite_signing_keys_crud, postgres_signing_keys_crud;
    initial_signing_keys_only_fill_gaps => sqlite_initial_signing_keys_only_fill_gaps, postgres_initial_signing_keys_only_fill_gaps;
    concurrent_initial_signing_keys_insert_one_per_alg => sqlite_concurrent_initial_signing_keys_insert_one_per_alg, postgres_concurrent_initial_signing_keys_insert_one_per_alg;
}

pub(crate) async fn signing_keys_crud(store: Arc<dyn Store>) {
    assert_eq!(store.list_signing_keys().await.unwrap(), vec![]);
    let k1 = key("k1", SigningAlg::RS256);
    let k2 = SigningKeyRecord {
        created_at: t0() + Duration::seconds(1),
        activates_at: t0() + Duration::days(1),
        ..key("k2", SigningAlg::EdDSA)
    };
    store.insert_signing_key(&k1).await.unwrap();
    store.insert_signing_key(&k2).await.unwrap();
    assert!(matches!(
        store.insert_signing_key(&k1).await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(
        store.list_signing_keys().await.unwrap(),
        vec![k1.clone(), k2.clone()]
    );

    let at = t0() + Duration::days(2);
    assert!(store.retire_signing_key("k1", at).await.unwrap());
    assert!(
        !store
            .retire_signing_key("k1", at + Duration::days(1))
            .await
            .unwrap(),
        "retirement is never postponed"
    );
    assert!(
        store
            .retire_signing_key("k1", at - Duration::days(1))
            .await
            .unwrap(),
        "retirement may be brought forward"
    );
    assert!(!store.retire_signing_key("nope", at).await.unwrap());
    let listed = store.list_signing_keys().await.unwrap();
    assert_eq!(listed[0].retired_at, Some(at - Duration::days(1)));
    assert_eq!(listed[1], k2);

    assert!(store.delete_signing_key("k1").await.unwrap());
    assert!(!store.delete_signing_key("k1").await.unwrap());
    assert_eq!(store.list_signing_keys().await.unwrap(), vec![k2]);
}

pub(crate) async fn initial_signing_keys_only_fill_gaps(store: Arc<dyn Store>) {
    // RS256 has an active key, ES256 only a retired one, EdDSA none.
    store
        .insert_signing_key(&key("rs-old", SigningAlg::RS256))
        .await
        .unwrap();
    let es_retired = SigningKeyRecord {
        retired_at: Some(t0()),
        ..key("es-old", SigningAlg::ES256)
    };
    store.insert_signing_key(&es_retired).await.unwrap();

    let batch = vec![
        key("rs-new", SigningAlg::RS256),
        key("es-new", SigningAlg::ES256),
        key("ed-new", SigningAlg::EdDSA),
    ];
    assert_eq!(store.insert_initial_signing_keys(&batch).await.unwrap(), 2);
    let kids: BTreeSet<String> = store
        .list_signing_keys()
        .await
        .unwrap()
        .into_iter()
        .map(|k| k.kid)
        .collect();
    assert_eq!(
        kids,
        ["rs-old", "es-old", "es-new", "ed-new"]
            .into_iter()
            .map(String::from)
            .collect()
    );

    // Second start: nothing to do.
    let again = vec![
        key("rs-3", SigningAlg::RS256),
        key("es-3", SigningAlg::ES256),
        key("ed-3", SigningAlg::EdDSA),
    ];
    assert_eq!(store.insert_initial_signing_keys(&again).await.unwrap(), 0);

    // Two keys of one algorithm in one batch: only the first goes in.
    store.retire_signing_key("ed-new", t0()).await.unwrap();
    let two = vec![
        key("ed-a", SigningAlg::EdDSA),
        key("ed-b", SigningAlg::EdDSA),
    ];
    assert_eq!(store.insert_initial_signing_keys(&two).await.unwrap(), 1);
    let active_ed: Vec<String> = store
        .list_signing_keys()
        .await
        .unwrap()
        .into_iter()
        .filter(|k| k.alg == SigningAlg::EdDSA && k.retired_at.is_none())
        .map(|k| k.kid)
        .collect();
    assert_eq!(active_ed, vec!["ed-a"]);
    assert_eq!(store.insert_initial_signing_keys(&[]).await.unwrap(), 0);
}

pub(crate) async fn concurrent_initial_signing_keys_insert_one_per_alg(store: Arc<dyn Store>) {
    let mut tasks = Vec::new();
    for i in 0..6 {
        let store = store.clone();
        let batch: Vec<SigningKeyRecord> = SigningAlg::ALL
            .iter()
            .map(|alg| key(&format!("{}-{i}", alg.as_str()), *alg))
            .collect();
        tasks.push(tokio::spawn(async move {
            store.insert_initial_signing_keys(&batch).await.unwrap()
        }));
    }
    let mut total = 0;
    for t in tasks {
        total += t.await.unwrap();
    }
    assert_eq!(total, 3);
    let keys = store.list_signing_keys().await.unwrap();
    for alg in SigningAlg::ALL {
        assert_eq!(
            keys.iter()
                .filter(|k| k.alg == alg && k.retired_at.is_none())
                .count(),
            1,
            "{alg:?}"
        );
    }
}
