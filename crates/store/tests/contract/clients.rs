//! Contract: clients.
use crate::prelude::*;

contract! {
    clients_upsert_is_idempotent => sqlite_clients_upsert_is_idempotent, postgres_clients_upsert_is_idempotent;
}

pub(crate) async fn clients_upsert_is_idempotent(store: Arc<dyn Store>) {
    let c = client("app");
    assert!(store.upsert_client(&c).await.unwrap());
    assert!(
        !store.upsert_client(&c).await.unwrap(),
        "identical upsert changes nothing"
    );
    assert_eq!(store.get_client("app").await.unwrap(), Some(c.clone()));

    let mut changed = c.clone();
    changed.redirect_uris.push("https://app.example/cb3".into());
    changed.trusted = true;
    changed.require_mfa = true;
    assert!(store.upsert_client(&changed).await.unwrap());
    assert_eq!(
        store.get_client("app").await.unwrap(),
        Some(changed.clone())
    );

    let mut new_secret = changed.clone();
    new_secret.secret_hash = Some(vec![8; 32]);
    assert!(store.upsert_client(&new_secret).await.unwrap());
    assert!(!store.upsert_client(&new_secret).await.unwrap());

    let mut public = client("spa");
    public.secret_hash = None;
    public.auth_method = AuthMethod::None;
    public.grant_types = vec![GrantType::AuthorizationCode];
    public.scopes = vec![];
    public.post_logout_redirect_uris = vec![];
    assert!(store.upsert_client(&public).await.unwrap());
    assert!(!store.upsert_client(&public).await.unwrap());
    assert_eq!(store.get_client("spa").await.unwrap(), Some(public.clone()));

    let ids: Vec<String> = store
        .list_clients()
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.client_id)
        .collect();
    assert_eq!(ids, vec!["app", "spa"]);

    assert_eq!(store.get_client("nope").await.unwrap(), None);
    assert!(store.delete_client("spa").await.unwrap());
    assert!(!store.delete_client("spa").await.unwrap());
    assert_eq!(store.list_clients().await.unwrap(), vec![new_secret]);
}
