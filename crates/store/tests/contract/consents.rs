//! Contract: consents.
use crate::prelude::*;

contract! {
    consents_crud => sqlite_consents_crud, postgres_consents_crud;
}

pub(crate) async fn consents_crud(store: Arc<dyn Store>) {
    let alice = new_user(&store, "alice").await;
    let bob = new_user(&store, "bob").await;
    assert_eq!(store.get_consent(alice.id, "app").await.unwrap(), None);

    let c1 = Consent {
        user_id: alice.id,
        client_id: "app".into(),
        scopes: strings(&["openid", "profile"]),
        granted_at: t0(),
    };
    store.put_consent(&c1).await.unwrap();
    assert_eq!(
        store.get_consent(alice.id, "app").await.unwrap(),
        Some(c1.clone())
    );

    let c1b = Consent {
        scopes: strings(&["openid", "profile", "email"]),
        granted_at: t0() + Duration::days(1),
        ..c1.clone()
    };
    store.put_consent(&c1b).await.unwrap();
    assert_eq!(
        store.get_consent(alice.id, "app").await.unwrap(),
        Some(c1b.clone())
    );

    let c2 = Consent {
        user_id: alice.id,
        client_id: "another".into(),
        scopes: vec![],
        granted_at: t0(),
    };
    store.put_consent(&c2).await.unwrap();
    let cb = Consent {
        user_id: bob.id,
        ..c1.clone()
    };
    store.put_consent(&cb).await.unwrap();

    assert_eq!(
        store.list_consents(alice.id).await.unwrap(),
        vec![c2.clone(), c1b.clone()]
    );
    assert_eq!(store.list_consents(bob.id).await.unwrap(), vec![cb]);

    assert!(store.delete_consent(alice.id, "app").await.unwrap());
    assert!(!store.delete_consent(alice.id, "app").await.unwrap());
    assert_eq!(store.list_consents(alice.id).await.unwrap(), vec![c2]);
}
