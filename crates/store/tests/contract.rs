//! Contract suite: one set of behaviour tests for `lanyard_core::store::Store`, run against every
//! backend. SQLite (a temporary file) always runs; PostgreSQL runs when
//! `LANYARD_TEST_DATABASE_URL` is set (e.g. `postgres://postgres@127.0.0.1:5432/test`), each test
//! in a database of its own.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use lanyard_core::model::*;
use lanyard_core::oidc::claims::ClaimsRequest;
use lanyard_core::store::{Store, StoreError};
use lanyard_store::Database;
use uuid::Uuid;

const PG_ENV: &str = "LANYARD_TEST_DATABASE_URL";

/// A fixed instant with microsecond precision (what both backends store).
fn t0() -> DateTime<Utc> {
    DateTime::from_timestamp(1_700_000_000, 123_456_000).unwrap()
}

fn hash() -> Vec<u8> {
    let mut h = Uuid::new_v4().as_bytes().to_vec();
    h.extend_from_slice(Uuid::new_v4().as_bytes());
    h
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

async fn sqlite_db() -> (tempfile::TempDir, Database) {
    let dir = tempfile::tempdir().unwrap();
    // A directory that does not exist yet: connect must create it.
    let url = format!("sqlite://{}/nested/lanyard.db", dir.path().display());
    let db = Database::connect(&url, 4).await.unwrap();
    assert_eq!(db.migrate().await.unwrap(), vec![1, 2, 3, 4, 5, 6]);
    (dir, db)
}

#[cfg(unix)]
#[tokio::test]
async fn a_new_sqlite_database_is_private_to_its_owner() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("private.db");
    let db = Database::connect(&format!("sqlite://{}", path.display()), 2)
        .await
        .unwrap();
    db.migrate().await.unwrap();
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "{mode:o}");
}

/// A migrated database of its own for one test, or None (with a note) when PostgreSQL tests are
/// not configured. `finish` drops it when the test passed; a failed test leaves it to inspect.
async fn postgres_db(test: &str) -> Option<PgTestDb> {
    let Some(base) = std::env::var(PG_ENV).ok().filter(|v| !v.is_empty()) else {
        println!("{test}: skipped, {PG_ENV} is not set");
        return None;
    };
    let url = lanyard_store::testing::fresh_postgres_database(&base)
        .await
        .unwrap();
    let db = Database::connect(&url, 4).await.unwrap();
    assert_eq!(db.migrate().await.unwrap(), vec![1, 2, 3, 4, 5, 6]);
    Some(PgTestDb { db, base, url })
}

struct PgTestDb {
    db: Database,
    base: String,
    url: String,
}

impl PgTestDb {
    async fn finish(self) {
        self.db.close().await;
        lanyard_store::testing::drop_postgres_database(&self.base, &self.url)
            .await
            .unwrap();
    }
}

/// Declares each contract test once per backend: `name => sqlite_name, postgres_name;`.
macro_rules! contract {
    ($($test:ident => $sqlite:ident, $postgres:ident;)*) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $sqlite() {
                let (_dir, db) = sqlite_db().await;
                let store = db.store();
                assert_eq!(store.backend(), "sqlite");
                $test(store).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $postgres() {
                let Some(pg) = postgres_db(stringify!($postgres)).await else { return };
                let store = pg.db.store();
                assert_eq!(store.backend(), "postgres");
                $test(store).await;
                pg.finish().await;
            }
        )*
    };
}

contract! {
    assertion_jtis_are_single_use => sqlite_assertion_jtis_are_single_use, postgres_assertion_jtis_are_single_use;
    failures_are_reserved_and_withdrawn => sqlite_failures_are_reserved_and_withdrawn, postgres_failures_are_reserved_and_withdrawn;
    users_crud => sqlite_users_crud, postgres_users_crud;
    deleting_a_user_cascades => sqlite_deleting_a_user_cascades, postgres_deleting_a_user_cascades;
    timestamps_round_trip_at_microsecond_precision => sqlite_timestamps_round_trip_at_microsecond_precision, postgres_timestamps_round_trip_at_microsecond_precision;
    clients_upsert_is_idempotent => sqlite_clients_upsert_is_idempotent, postgres_clients_upsert_is_idempotent;
    codes_are_single_use => sqlite_codes_are_single_use, postgres_codes_are_single_use;
    concurrent_code_redemption_has_one_winner => sqlite_concurrent_code_redemption_has_one_winner, postgres_concurrent_code_redemption_has_one_winner;
    refresh_rotation_detects_reuse => sqlite_refresh_rotation_detects_reuse, postgres_refresh_rotation_detects_reuse;
    concurrent_rotation_has_one_winner => sqlite_concurrent_rotation_has_one_winner, postgres_concurrent_rotation_has_one_winner;
    create_grant_is_atomic => sqlite_create_grant_is_atomic, postgres_create_grant_is_atomic;
    grant_activity_follows_revocation_and_expiry => sqlite_grant_activity_follows_revocation_and_expiry, postgres_grant_activity_follows_revocation_and_expiry;
    revoke_user_grants_counts_active_grants => sqlite_revoke_user_grants_counts_active_grants, postgres_revoke_user_grants_counts_active_grants;
    consents_crud => sqlite_consents_crud, postgres_consents_crud;
    signing_keys_crud => sqlite_signing_keys_crud, postgres_signing_keys_crud;
    initial_signing_keys_only_fill_gaps => sqlite_initial_signing_keys_only_fill_gaps, postgres_initial_signing_keys_only_fill_gaps;
    concurrent_initial_signing_keys_insert_one_per_alg => sqlite_concurrent_initial_signing_keys_insert_one_per_alg, postgres_concurrent_initial_signing_keys_insert_one_per_alg;
    sessions_lifecycle => sqlite_sessions_lifecycle, postgres_sessions_lifecycle;
    end_user_sessions_keeps_one_and_moves_the_epoch => sqlite_end_user_sessions_keeps_one_and_moves_the_epoch, postgres_end_user_sessions_keeps_one_and_moves_the_epoch;
    audit_filters_and_order => sqlite_audit_filters_and_order, postgres_audit_filters_and_order;
    audit_retention_purges_old_events => sqlite_audit_retention_purges_old_events, postgres_audit_retention_purges_old_events;
    sessions_are_counted_while_unexpired => sqlite_sessions_are_counted_while_unexpired, postgres_sessions_are_counted_while_unexpired;
    purge_expired_counts => sqlite_purge_expired_counts, postgres_purge_expired_counts;
    ping_answers => sqlite_ping_answers, postgres_ping_answers;
    totp_enable_conflict_disable => sqlite_totp_enable_conflict_disable, postgres_totp_enable_conflict_disable;
    totp_steps_are_not_replayed => sqlite_totp_steps_are_not_replayed, postgres_totp_steps_are_not_replayed;
    concurrent_totp_step_has_one_winner => sqlite_concurrent_totp_step_has_one_winner, postgres_concurrent_totp_step_has_one_winner;
    backup_codes_are_single_use => sqlite_backup_codes_are_single_use, postgres_backup_codes_are_single_use;
    concurrent_backup_code_redemption_has_one_winner => sqlite_concurrent_backup_code_redemption_has_one_winner, postgres_concurrent_backup_code_redemption_has_one_winner;
    failures_are_counted_within_the_window => sqlite_failures_are_counted_within_the_window, postgres_failures_are_counted_within_the_window;
    groups_membership => sqlite_groups_membership, postgres_groups_membership;
    secrets_are_re_encrypted_in_place => sqlite_secrets_are_re_encrypted_in_place, postgres_secrets_are_re_encrypted_in_place;
    identities_link_and_conflict => sqlite_identities_link_and_conflict, postgres_identities_link_and_conflict;
    create_user_with_identity_is_atomic => sqlite_create_user_with_identity_is_atomic, postgres_create_user_with_identity_is_atomic;
    identities_touch => sqlite_identities_touch, postgres_identities_touch;
    identities_list_and_unlink => sqlite_identities_list_and_unlink, postgres_identities_list_and_unlink;
    users_are_found_by_email_case_insensitively => sqlite_users_are_found_by_email_case_insensitively, postgres_users_are_found_by_email_case_insensitively;
    deleting_a_user_unlinks_identities => sqlite_deleting_a_user_unlinks_identities, postgres_deleting_a_user_unlinks_identities;
}

// ---------------------------------------------------------------------------------------------
// Fixtures

async fn new_user(store: &Arc<dyn Store>, username: &str) -> User {
    let u = User::new(username, t0());
    store.create_user(&u).await.unwrap();
    u
}

fn grant(user_id: Option<Uuid>, expires_at: DateTime<Utc>) -> Grant {
    Grant {
        id: Uuid::new_v4(),
        client_id: "app".into(),
        user_id,
        scopes: strings(&["openid", "profile", "offline_access"]),
        sid: Some("sid-1".into()),
        auth_time: Some(t0() - Duration::minutes(5)),
        amr: strings(&["pwd", "otp"]),
        acr: Some("urn:lanyard:mfa".into()),
        nonce: Some("n-0S6_WzA2Mj".into()),
        claims: ClaimsRequest::from_json(r#"{"id_token":{"email":{"essential":true}}}"#),
        created_at: t0(),
        expires_at,
        revoked_at: None,
    }
}

fn refresh(grant_id: Uuid, expires_at: DateTime<Utc>) -> RefreshToken {
    RefreshToken {
        token_hash: hash(),
        grant_id,
        created_at: t0(),
        expires_at,
        used_at: None,
        successor_enc: None,
    }
}

fn code(user_id: Uuid, expires_at: DateTime<Utc>) -> AuthCode {
    AuthCode {
        code_hash: hash(),
        grant_id: Uuid::new_v4(),
        client_id: "app".into(),
        user_id,
        redirect_uri: "https://app.example/cb".into(),
        code_challenge: Some("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM".into()),
        nonce: None,
        scopes: strings(&["openid", "email"]),
        claims: None,
        sid: "sid-1".into(),
        auth_time: t0(),
        amr: strings(&["pwd"]),
        acr: None,
        created_at: t0(),
        expires_at,
    }
}

fn key(kid: &str, alg: SigningAlg) -> SigningKeyRecord {
    SigningKeyRecord {
        kid: kid.into(),
        alg,
        public_jwk: format!(r#"{{"kid":"{kid}","kty":"OKP"}}"#),
        private_enc: vec![1, 2, 3, kid.len() as u8],
        created_at: t0(),
        activates_at: t0(),
        retired_at: None,
    }
}

fn session(user_id: Option<Uuid>, expires_at: DateTime<Utc>) -> SessionRecord {
    SessionRecord {
        id_hash: hash(),
        user_id,
        epoch: 0,
        data: b"{\"k\":1}".to_vec(),
        expires_at,
    }
}

fn totp(user_id: Uuid) -> TotpCredential {
    TotpCredential {
        user_id,
        secret_enc: hash(),
        last_step: None,
        created_at: t0(),
    }
}

fn identity(upstream: &str, subject: &str, user_id: Uuid) -> FederatedIdentity {
    FederatedIdentity {
        upstream: upstream.into(),
        subject: subject.into(),
        user_id,
        email: Some(format!("{subject}@{upstream}.example")),
        created_at: t0(),
        last_login_at: t0() + Duration::seconds(1),
    }
}

fn hashes(n: usize) -> Vec<Vec<u8>> {
    (0..n).map(|_| hash()).collect()
}

fn client(id: &str) -> Client {
    Client {
        client_id: id.into(),
        name: format!("Client {id}"),
        secret_hash: Some(vec![7; 32]),
        redirect_uris: strings(&["https://app.example/cb", "https://app.example/cb2"]),
        post_logout_redirect_uris: strings(&["https://app.example/"]),
        grant_types: vec![GrantType::AuthorizationCode, GrantType::RefreshToken],
        auth_method: AuthMethod::ClientSecretBasic,
        scopes: strings(&["profile", "email"]),
        trusted: false,
        id_token_alg: SigningAlg::ES256,
        require_pkce: true,
        require_mfa: false,
        backchannel_logout_uri: None,
        backchannel_logout_session_required: false,
        logo_uri: None,
        policy_uri: None,
        tos_uri: None,
        jwks: None,
        jwks_uri: None,
        userinfo_signed_response_alg: None,
        pairwise_sector: None,
        secret_enc: None,
        registration_token_hash: None,
        managed_by: "config".into(),
    }
}

fn event(kind: &str, user_id: Option<Uuid>, at: DateTime<Utc>) -> AuditEvent {
    AuditEvent {
        id: Uuid::new_v4(),
        at,
        kind: kind.into(),
        user_id,
        client_id: Some("app".into()),
        ip: Some("192.0.2.1".into()),
        detail: serde_json::json!({ "ok": true, "n": 1, "list": ["a", "b"] }),
    }
}

// ---------------------------------------------------------------------------------------------
// Users

async fn users_crud(store: Arc<dyn Store>) {
    let mut alice = User::new("alice", t0());
    alice.email = Some("alice@example.com".into());
    alice.email_verified = true;
    alice.name = Some("Alice Liddell".into());
    alice.given_name = Some("Alice".into());
    alice.family_name = Some("Liddell".into());
    alice.phone_number = Some("+1 555 0100".into());
    alice.phone_number_verified = true;
    alice.address = Some("1 Rabbit Hole\nWonderland".into());
    alice.password_hash = Some("$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into());
    store.create_user(&alice).await.unwrap();
    let bob = new_user(&store, "bob").await;

    // Username is unique.
    let dup = User::new("alice", t0());
    assert!(matches!(
        store.create_user(&dup).await,
        Err(StoreError::Conflict(_))
    ));

    assert_eq!(store.get_user(alice.id).await.unwrap(), Some(alice.clone()));
    assert_eq!(
        store.find_user_by_username("alice").await.unwrap(),
        Some(alice.clone())
    );
    assert_eq!(store.find_user_by_username("carol").await.unwrap(), None);
    assert_eq!(store.get_user(Uuid::new_v4()).await.unwrap(), None);
    let names: Vec<String> = store
        .list_users()
        .await
        .unwrap()
        .into_iter()
        .map(|u| u.username)
        .collect();
    assert_eq!(names, vec!["alice", "bob"]);

    let later = t0() + Duration::hours(1);
    assert!(
        store
            .set_password_hash(bob.id, "$argon2id$new", later)
            .await
            .unwrap()
    );
    assert!(
        !store
            .set_password_hash(Uuid::new_v4(), "$argon2id$new", later)
            .await
            .unwrap()
    );
    let b = store.get_user(bob.id).await.unwrap().unwrap();
    assert_eq!(b.password_hash.as_deref(), Some("$argon2id$new"));
    assert_eq!(b.updated_at, later);
    assert_eq!(b.created_at, t0());

    assert!(store.set_disabled(bob.id, true, later).await.unwrap());
    assert!(store.get_user(bob.id).await.unwrap().unwrap().disabled);
    assert!(store.set_disabled(bob.id, false, later).await.unwrap());
    assert!(!store.get_user(bob.id).await.unwrap().unwrap().disabled);
    assert!(
        !store
            .set_disabled(Uuid::new_v4(), true, later)
            .await
            .unwrap()
    );

    // Same email and phone: verification flags survive; other fields are overwritten.
    let same = ProfileUpdate {
        name: Some("Alice L.".into()),
        given_name: None,
        family_name: Some("Liddell".into()),
        email: Some("alice@example.com".into()),
        phone_number: Some("+1 555 0100".into()),
        address: None,
    };
    assert!(store.update_profile(alice.id, &same, later).await.unwrap());
    let a = store.get_user(alice.id).await.unwrap().unwrap();
    assert_eq!(a.name.as_deref(), Some("Alice L."));
    assert_eq!(a.given_name, None);
    assert_eq!(a.address, None);
    assert!(a.email_verified && a.phone_number_verified);
    assert_eq!(a.updated_at, later);
    assert_eq!(a.password_hash, alice.password_hash);

    // A new email or phone number is unverified.
    let changed = ProfileUpdate {
        email: Some("alice@new.example".into()),
        phone_number: None,
        ..same.clone()
    };
    assert!(
        store
            .update_profile(alice.id, &changed, later)
            .await
            .unwrap()
    );
    let a = store.get_user(alice.id).await.unwrap().unwrap();
    assert_eq!(a.email.as_deref(), Some("alice@new.example"));
    assert!(!a.email_verified);
    assert_eq!(a.phone_number, None);
    assert!(!a.phone_number_verified);
    assert!(
        !store
            .update_profile(Uuid::new_v4(), &same, later)
            .await
            .unwrap()
    );

    assert!(store.delete_user(bob.id).await.unwrap());
    assert!(!store.delete_user(bob.id).await.unwrap());
    assert_eq!(store.get_user(bob.id).await.unwrap(), None);
}

async fn deleting_a_user_cascades(store: Arc<dyn Store>) {
    let alice = new_user(&store, "alice").await;
    let bob = new_user(&store, "bob").await;
    let far = t0() + Duration::days(30);

    let g = grant(Some(alice.id), far);
    let r = refresh(g.id, far);
    store.create_grant(&g, Some(&r)).await.unwrap();
    let s = session(Some(alice.id), far);
    assert!(store.session_create(&s).await.unwrap());
    let c = code(alice.id, far);
    store.insert_code(&c).await.unwrap();
    store
        .put_consent(&Consent {
            user_id: alice.id,
            client_id: "app".into(),
            scopes: strings(&["openid"]),
            granted_at: t0(),
        })
        .await
        .unwrap();
    store
        .audit(&event("login", Some(alice.id), t0()))
        .await
        .unwrap();
    store
        .link_identity(&identity("corp", "a-1", alice.id))
        .await
        .unwrap();

    // Bob's rows must survive.
    let bg = grant(Some(bob.id), far);
    store.create_grant(&bg, None).await.unwrap();
    let bs = session(Some(bob.id), far);
    assert!(store.session_create(&bs).await.unwrap());
    let bi = identity("corp", "b-1", bob.id);
    store.link_identity(&bi).await.unwrap();

    assert!(store.delete_user(alice.id).await.unwrap());
    assert_eq!(store.get_grant(g.id).await.unwrap(), None);
    assert_eq!(store.find_refresh(&r.token_hash).await.unwrap(), None);
    assert_eq!(store.session_load(&s.id_hash, t0()).await.unwrap(), None);
    assert_eq!(
        store.redeem_code(&c.code_hash, t0()).await.unwrap(),
        Redeemed::NotFound
    );
    assert_eq!(store.get_consent(alice.id, "app").await.unwrap(), None);
    assert_eq!(store.get_identity("corp", "a-1").await.unwrap(), None);
    // The audit trail outlives the user.
    let kept = store
        .list_audit(&AuditFilter {
            user_id: Some(alice.id),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(kept.len(), 1);

    assert!(store.get_grant(bg.id).await.unwrap().is_some());
    assert_eq!(store.get_identity("corp", "b-1").await.unwrap(), Some(bi));
    assert!(
        store
            .session_load(&bs.id_hash, t0())
            .await
            .unwrap()
            .is_some()
    );
}

async fn timestamps_round_trip_at_microsecond_precision(store: Arc<dyn Store>) {
    // Nanoseconds are truncated the same way on both backends.
    let with_nanos = DateTime::from_timestamp(1_700_000_000, 123_456_789).unwrap();
    let u = User::new("nano", with_nanos);
    store.create_user(&u).await.unwrap();
    let got = store.get_user(u.id).await.unwrap().unwrap();
    assert_eq!(
        got.created_at,
        DateTime::from_timestamp(1_700_000_000, 123_456_000).unwrap()
    );

    // Whole seconds and sub-second values compare correctly against each other.
    let whole = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
    let s = session(None, whole + Duration::milliseconds(500));
    assert!(store.session_create(&s).await.unwrap());
    assert!(
        store
            .session_load(&s.id_hash, whole)
            .await
            .unwrap()
            .is_some()
    );
    assert!(
        store
            .session_load(&s.id_hash, whole + Duration::microseconds(499_999))
            .await
            .unwrap()
            .is_some()
    );
    assert!(
        store
            .session_load(&s.id_hash, whole + Duration::milliseconds(500))
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        store
            .session_load(&s.id_hash, whole + Duration::seconds(1))
            .await
            .unwrap()
            .is_none()
    );
}

// ---------------------------------------------------------------------------------------------
// Clients

async fn clients_upsert_is_idempotent(store: Arc<dyn Store>) {
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

// ---------------------------------------------------------------------------------------------
// Codes, grants, refresh tokens

async fn codes_are_single_use(store: Arc<dyn Store>) {
    let alice = new_user(&store, "alice").await;
    let c = code(alice.id, t0() + Duration::minutes(1));
    store.insert_code(&c).await.unwrap();
    assert!(matches!(
        store.insert_code(&c).await,
        Err(StoreError::Conflict(_))
    ));

    assert_eq!(
        store.redeem_code(&c.code_hash, t0()).await.unwrap(),
        Redeemed::Fresh(c.clone())
    );
    assert_eq!(
        store.redeem_code(&c.code_hash, t0()).await.unwrap(),
        Redeemed::AlreadyUsed(c.grant_id)
    );
    assert_eq!(
        store.redeem_code(&hash(), t0()).await.unwrap(),
        Redeemed::NotFound
    );

    // Expiry is the caller's to check: an expired code still redeems once.
    let old = code(alice.id, t0() - Duration::minutes(1));
    store.insert_code(&old).await.unwrap();
    assert!(matches!(
        store.redeem_code(&old.code_hash, t0()).await.unwrap(),
        Redeemed::Fresh(_)
    ));

    // A code with every optional field set round-trips too.
    let mut full = code(alice.id, t0() + Duration::minutes(1));
    full.nonce = Some("abc".into());
    full.claims = ClaimsRequest::from_json(r#"{"userinfo":{"email":null}}"#);
    assert!(full.claims.is_some());
    full.acr = Some("1".into());
    full.code_challenge = None;
    full.scopes = vec![];
    full.amr = vec![];
    store.insert_code(&full).await.unwrap();
    assert_eq!(
        store.redeem_code(&full.code_hash, t0()).await.unwrap(),
        Redeemed::Fresh(full)
    );
}

async fn concurrent_code_redemption_has_one_winner(store: Arc<dyn Store>) {
    let alice = new_user(&store, "alice").await;
    let c = code(alice.id, t0() + Duration::minutes(1));
    store.insert_code(&c).await.unwrap();
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let store = store.clone();
        let h = c.code_hash.clone();
        tasks.push(tokio::spawn(async move {
            store.redeem_code(&h, t0()).await.unwrap()
        }));
    }
    let mut fresh = 0;
    for t in tasks {
        match t.await.unwrap() {
            Redeemed::Fresh(_) => fresh += 1,
            Redeemed::AlreadyUsed(g) => assert_eq!(g, c.grant_id),
            Redeemed::NotFound => panic!("code vanished"),
        }
    }
    assert_eq!(fresh, 1);
}

async fn refresh_rotation_detects_reuse(store: Arc<dyn Store>) {
    let alice = new_user(&store, "alice").await;
    let far = t0() + Duration::days(30);
    let g = grant(Some(alice.id), far);
    let r1 = refresh(g.id, far);
    store.create_grant(&g, Some(&r1)).await.unwrap();
    assert_eq!(store.get_grant(g.id).await.unwrap(), Some(g.clone()));
    assert_eq!(
        store.find_refresh(&r1.token_hash).await.unwrap(),
        Some(r1.clone())
    );

    let now = t0() + Duration::hours(1);
    let r2 = RefreshToken {
        created_at: now,
        ..refresh(g.id, far)
    };
    assert_eq!(
        store
            .rotate_refresh(&r1.token_hash, &r2, None, now)
            .await
            .unwrap(),
        Redeemed::Fresh(())
    );
    assert_eq!(
        store
            .find_refresh(&r1.token_hash)
            .await
            .unwrap()
            .unwrap()
            .used_at,
        Some(now)
    );
    assert_eq!(
        store.find_refresh(&r2.token_hash).await.unwrap(),
        Some(r2.clone())
    );

    // Presenting r1 again is reuse; nothing new is stored.
    let r3 = refresh(g.id, far);
    assert_eq!(
        store
            .rotate_refresh(&r1.token_hash, &r3, None, now)
            .await
            .unwrap(),
        Redeemed::AlreadyUsed(g.id)
    );
    assert_eq!(store.find_refresh(&r3.token_hash).await.unwrap(), None);
    assert_eq!(
        store.rotate_refresh(&hash(), &r3, None, now).await.unwrap(),
        Redeemed::NotFound
    );
    assert_eq!(store.find_refresh(&r3.token_hash).await.unwrap(), None);

    // The new token must belong to the same grant; a refused rotation leaves r2 unused.
    let other = grant(Some(alice.id), far);
    store.create_grant(&other, None).await.unwrap();
    let foreign = refresh(other.id, far);
    assert!(matches!(
        store
            .rotate_refresh(&r2.token_hash, &foreign, None, now)
            .await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(
        store
            .find_refresh(&r2.token_hash)
            .await
            .unwrap()
            .unwrap()
            .used_at,
        None
    );
    assert_eq!(store.find_refresh(&foreign.token_hash).await.unwrap(), None);

    assert_eq!(
        store
            .rotate_refresh(&r2.token_hash, &r3, None, now)
            .await
            .unwrap(),
        Redeemed::Fresh(())
    );

    // A client_credentials grant has no user and no refresh token.
    let mut cc = grant(None, far);
    cc.sid = None;
    cc.auth_time = None;
    cc.amr = vec![];
    cc.acr = None;
    cc.nonce = None;
    cc.claims = None;
    store.create_grant(&cc, None).await.unwrap();
    assert_eq!(store.get_grant(cc.id).await.unwrap(), Some(cc));
    assert_eq!(store.get_grant(Uuid::new_v4()).await.unwrap(), None);
}

async fn concurrent_rotation_has_one_winner(store: Arc<dyn Store>) {
    let alice = new_user(&store, "alice").await;
    let far = t0() + Duration::days(30);
    let g = grant(Some(alice.id), far);
    let r1 = refresh(g.id, far);
    store.create_grant(&g, Some(&r1)).await.unwrap();
    let mut tasks = Vec::new();
    for _ in 0..6 {
        let store = store.clone();
        let old = r1.token_hash.clone();
        let new = refresh(g.id, far);
        tasks.push(tokio::spawn(async move {
            store.rotate_refresh(&old, &new, None, t0()).await.unwrap()
        }));
    }
    let mut fresh = 0;
    for t in tasks {
        match t.await.unwrap() {
            Redeemed::Fresh(()) => fresh += 1,
            Redeemed::AlreadyUsed(id) => assert_eq!(id, g.id),
            Redeemed::NotFound => panic!("token vanished"),
        }
    }
    assert_eq!(fresh, 1);
}

async fn create_grant_is_atomic(store: Arc<dyn Store>) {
    let alice = new_user(&store, "alice").await;
    let far = t0() + Duration::days(30);
    let g1 = grant(Some(alice.id), far);
    let r1 = refresh(g1.id, far);
    store.create_grant(&g1, Some(&r1)).await.unwrap();

    // The grant insert succeeds, the refresh token collides: neither may remain.
    let g2 = grant(Some(alice.id), far);
    let r_dup = RefreshToken {
        grant_id: g2.id,
        ..r1.clone()
    };
    assert!(matches!(
        store.create_grant(&g2, Some(&r_dup)).await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(store.get_grant(g2.id).await.unwrap(), None);
    assert_eq!(store.find_refresh(&r1.token_hash).await.unwrap(), Some(r1));

    // Same grant id twice.
    assert!(matches!(
        store.create_grant(&g1, None).await,
        Err(StoreError::Conflict(_))
    ));

    // A grant for a user that does not exist is refused.
    let ghost = grant(Some(Uuid::new_v4()), far);
    assert!(matches!(
        store.create_grant(&ghost, None).await,
        Err(StoreError::Conflict(_))
    ));
}

async fn grant_activity_follows_revocation_and_expiry(store: Arc<dyn Store>) {
    let alice = new_user(&store, "alice").await;
    let g = grant(Some(alice.id), t0() + Duration::hours(1));
    store.create_grant(&g, None).await.unwrap();
    assert!(store.grant_is_active(g.id, t0()).await.unwrap());
    assert!(
        store
            .grant_is_active(g.id, t0() + Duration::minutes(59))
            .await
            .unwrap()
    );
    assert!(
        !store
            .grant_is_active(g.id, t0() + Duration::hours(1))
            .await
            .unwrap()
    );
    assert!(
        !store
            .grant_is_active(g.id, t0() + Duration::hours(2))
            .await
            .unwrap()
    );
    assert!(!store.grant_is_active(Uuid::new_v4(), t0()).await.unwrap());

    let later = t0() + Duration::minutes(10);
    assert!(store.revoke_grant(g.id, later).await.unwrap());
    assert!(
        !store
            .revoke_grant(g.id, later + Duration::minutes(1))
            .await
            .unwrap(),
        "revocation is idempotent"
    );
    assert!(!store.grant_is_active(g.id, t0()).await.unwrap());
    assert_eq!(
        store.get_grant(g.id).await.unwrap().unwrap().revoked_at,
        Some(later)
    );
    assert!(!store.revoke_grant(Uuid::new_v4(), later).await.unwrap());
}

async fn revoke_user_grants_counts_active_grants(store: Arc<dyn Store>) {
    let alice = new_user(&store, "alice").await;
    let bob = new_user(&store, "bob").await;
    let far = t0() + Duration::days(1);
    let a1 = grant(Some(alice.id), far);
    let a2 = grant(Some(alice.id), far);
    let revoked = grant(Some(alice.id), far);
    let expired = grant(Some(alice.id), t0() - Duration::minutes(1));
    let b1 = grant(Some(bob.id), far);
    for g in [&a1, &a2, &revoked, &expired, &b1] {
        store.create_grant(g, None).await.unwrap();
    }
    assert!(store.revoke_grant(revoked.id, t0()).await.unwrap());

    assert_eq!(store.revoke_user_grants(alice.id, t0()).await.unwrap(), 2);
    assert_eq!(store.revoke_user_grants(alice.id, t0()).await.unwrap(), 0);
    assert!(!store.grant_is_active(a1.id, t0()).await.unwrap());
    assert!(!store.grant_is_active(a2.id, t0()).await.unwrap());
    assert!(store.grant_is_active(b1.id, t0()).await.unwrap());
    assert_eq!(
        store
            .revoke_user_grants(Uuid::new_v4(), t0())
            .await
            .unwrap(),
        0
    );
}

async fn consents_crud(store: Arc<dyn Store>) {
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

// ---------------------------------------------------------------------------------------------
// Signing keys

async fn signing_keys_crud(store: Arc<dyn Store>) {
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

async fn initial_signing_keys_only_fill_gaps(store: Arc<dyn Store>) {
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

async fn concurrent_initial_signing_keys_insert_one_per_alg(store: Arc<dyn Store>) {
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

// ---------------------------------------------------------------------------------------------
// Sessions

async fn sessions_lifecycle(store: Arc<dyn Store>) {
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

async fn end_user_sessions_keeps_one_and_moves_the_epoch(store: Arc<dyn Store>) {
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

async fn sessions_are_counted_while_unexpired(store: Arc<dyn Store>) {
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

// ---------------------------------------------------------------------------------------------
// Audit

async fn audit_retention_purges_old_events(store: Arc<dyn Store>) {
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

async fn audit_filters_and_order(store: Arc<dyn Store>) {
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

// ---------------------------------------------------------------------------------------------
// Maintenance

async fn purge_expired_counts(store: Arc<dyn Store>) {
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
        }
    );
    let since_forever = DateTime::from_timestamp(0, 0).unwrap();
    assert_eq!(
        store
            .count_failures("user:alice", since_forever, None)
            .await
            .unwrap(),
        FailureCount {
            count: 2,
            last_at: Some(now - Duration::minutes(1))
        }
    );
    assert_eq!(
        store
            .count_failures("ip:192.0.2.1", since_forever, None)
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

async fn ping_answers(store: Arc<dyn Store>) {
    store.ping().await.unwrap();
}

// ---------------------------------------------------------------------------------------------
// Second factors

async fn totp_enable_conflict_disable(store: Arc<dyn Store>) {
    let alice = new_user(&store, "alice").await;
    let bob = new_user(&store, "bob").await;
    assert_eq!(store.get_totp(alice.id).await.unwrap(), None);
    assert_eq!(store.list_totp().await.unwrap(), vec![]);

    let cred = totp(alice.id);
    let codes = hashes(3);
    store.enable_totp(&cred, &codes).await.unwrap();
    assert_eq!(store.get_totp(alice.id).await.unwrap(), Some(cred.clone()));
    assert_eq!(store.backup_codes_remaining(alice.id).await.unwrap(), 3);

    // A double-submitted confirmation conflicts and changes nothing: the first secret and the
    // first set of codes stay, the second set was never stored.
    let second = TotpCredential {
        created_at: t0() + Duration::minutes(1),
        ..totp(alice.id)
    };
    let other_codes = hashes(2);
    assert!(matches!(
        store.enable_totp(&second, &other_codes).await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(store.get_totp(alice.id).await.unwrap(), Some(cred.clone()));
    assert_eq!(store.backup_codes_remaining(alice.id).await.unwrap(), 3);
    assert_eq!(
        store
            .redeem_backup_code(alice.id, &other_codes[0], t0())
            .await
            .unwrap(),
        None
    );

    // Unknown user: refused by the foreign key.
    assert!(matches!(
        store.enable_totp(&totp(Uuid::new_v4()), &hashes(1)).await,
        Err(StoreError::Conflict(_))
    ));

    // Every field round-trips, including a last step.
    let bob_cred = TotpCredential {
        last_step: Some(56_666_666),
        created_at: DateTime::from_timestamp(1_700_000_100, 999_999_000).unwrap(),
        ..totp(bob.id)
    };
    store.enable_totp(&bob_cred, &hashes(2)).await.unwrap();
    assert_eq!(
        store.get_totp(bob.id).await.unwrap(),
        Some(bob_cred.clone())
    );
    let mut listed = store.list_totp().await.unwrap();
    listed.sort_by_key(|c| c.user_id);
    let mut expected = vec![cred.clone(), bob_cred.clone()];
    expected.sort_by_key(|c| c.user_id);
    assert_eq!(listed, expected);

    // Disabling removes the credential and every backup code.
    assert!(store.disable_totp(alice.id).await.unwrap());
    assert_eq!(store.get_totp(alice.id).await.unwrap(), None);
    assert_eq!(store.backup_codes_remaining(alice.id).await.unwrap(), 0);
    assert_eq!(
        store
            .redeem_backup_code(alice.id, &codes[0], t0())
            .await
            .unwrap(),
        None
    );
    assert!(!store.disable_totp(alice.id).await.unwrap());
    assert!(!store.disable_totp(Uuid::new_v4()).await.unwrap());
    assert_eq!(store.list_totp().await.unwrap(), vec![bob_cred.clone()]);

    // ...and it can be enabled again afterwards.
    let again = totp(alice.id);
    store.enable_totp(&again, &hashes(1)).await.unwrap();
    assert_eq!(store.get_totp(alice.id).await.unwrap(), Some(again));
    assert_eq!(store.backup_codes_remaining(alice.id).await.unwrap(), 1);

    // Deleting the user deletes their credential and codes.
    assert!(store.delete_user(bob.id).await.unwrap());
    assert_eq!(store.get_totp(bob.id).await.unwrap(), None);
    assert_eq!(store.backup_codes_remaining(bob.id).await.unwrap(), 0);
    assert_eq!(store.list_totp().await.unwrap().len(), 1);
    assert_eq!(store.backup_codes_remaining(alice.id).await.unwrap(), 1);
}

async fn totp_steps_are_not_replayed(store: Arc<dyn Store>) {
    let alice = new_user(&store, "alice").await;
    let bob = new_user(&store, "bob").await;
    // No credential, nothing to accept.
    assert!(!store.accept_totp_step(alice.id, 100).await.unwrap());

    store.enable_totp(&totp(alice.id), &[]).await.unwrap();
    store.enable_totp(&totp(bob.id), &[]).await.unwrap();
    assert!(store.accept_totp_step(alice.id, 100).await.unwrap());
    assert!(
        !store.accept_totp_step(alice.id, 100).await.unwrap(),
        "same step replayed"
    );
    assert!(
        !store.accept_totp_step(alice.id, 99).await.unwrap(),
        "earlier step"
    );
    assert!(store.accept_totp_step(alice.id, 101).await.unwrap());
    assert_eq!(
        store.get_totp(alice.id).await.unwrap().unwrap().last_step,
        Some(101)
    );
    // Steps are per user.
    assert!(store.accept_totp_step(bob.id, 100).await.unwrap());
    assert_eq!(
        store.get_totp(bob.id).await.unwrap().unwrap().last_step,
        Some(100)
    );
    // Large steps (far-future clocks, 64-bit) are fine.
    assert!(store.accept_totp_step(alice.id, i64::MAX).await.unwrap());
    assert!(!store.accept_totp_step(alice.id, i64::MAX).await.unwrap());
}

async fn concurrent_totp_step_has_one_winner(store: Arc<dyn Store>) {
    let alice = new_user(&store, "alice").await;
    store.enable_totp(&totp(alice.id), &[]).await.unwrap();
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let store = store.clone();
        let user = alice.id;
        tasks.push(tokio::spawn(async move {
            store.accept_totp_step(user, 56_666_667).await.unwrap()
        }));
    }
    let mut accepted = 0;
    for t in tasks {
        if t.await.unwrap() {
            accepted += 1;
        }
    }
    assert_eq!(accepted, 1);
    assert_eq!(
        store.get_totp(alice.id).await.unwrap().unwrap().last_step,
        Some(56_666_667)
    );
}

async fn backup_codes_are_single_use(store: Arc<dyn Store>) {
    let alice = new_user(&store, "alice").await;
    let bob = new_user(&store, "bob").await;
    let codes = hashes(3);
    store.enable_totp(&totp(alice.id), &codes).await.unwrap();
    let later = t0() + Duration::hours(1);

    assert_eq!(
        store
            .redeem_backup_code(alice.id, &codes[0], later)
            .await
            .unwrap(),
        Some(2)
    );
    assert_eq!(
        store
            .redeem_backup_code(alice.id, &codes[0], later)
            .await
            .unwrap(),
        None,
        "a code works once"
    );
    assert_eq!(
        store
            .redeem_backup_code(alice.id, &hash(), later)
            .await
            .unwrap(),
        None
    );
    // Codes belong to one user.
    assert_eq!(
        store
            .redeem_backup_code(bob.id, &codes[1], later)
            .await
            .unwrap(),
        None
    );
    assert_eq!(store.backup_codes_remaining(alice.id).await.unwrap(), 2);
    assert_eq!(
        store
            .redeem_backup_code(alice.id, &codes[1], later)
            .await
            .unwrap(),
        Some(1)
    );
    assert_eq!(store.backup_codes_remaining(alice.id).await.unwrap(), 1);

    // A new set replaces the old one entirely, used and unused codes alike.
    let fresh = hashes(4);
    store
        .replace_backup_codes(alice.id, &fresh, later)
        .await
        .unwrap();
    assert_eq!(store.backup_codes_remaining(alice.id).await.unwrap(), 4);
    assert_eq!(
        store
            .redeem_backup_code(alice.id, &codes[2], later)
            .await
            .unwrap(),
        None,
        "old set no longer works"
    );
    assert_eq!(
        store
            .redeem_backup_code(alice.id, &fresh[3], later)
            .await
            .unwrap(),
        Some(3)
    );
    // TOTP itself is untouched by replacing codes.
    assert!(store.get_totp(alice.id).await.unwrap().is_some());

    // Enabling TOTP replaces whatever set the user had.
    let stale = hashes(2);
    store
        .replace_backup_codes(bob.id, &stale, t0())
        .await
        .unwrap();
    assert_eq!(store.backup_codes_remaining(bob.id).await.unwrap(), 2);
    let bob_codes = hashes(1);
    store.enable_totp(&totp(bob.id), &bob_codes).await.unwrap();
    assert_eq!(store.backup_codes_remaining(bob.id).await.unwrap(), 1);
    assert_eq!(
        store
            .redeem_backup_code(bob.id, &stale[0], later)
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store
            .redeem_backup_code(bob.id, &bob_codes[0], later)
            .await
            .unwrap(),
        Some(0)
    );

    // An empty set is allowed; an unknown user is refused.
    store
        .replace_backup_codes(alice.id, &[], later)
        .await
        .unwrap();
    assert_eq!(store.backup_codes_remaining(alice.id).await.unwrap(), 0);
    assert_eq!(
        store.backup_codes_remaining(Uuid::new_v4()).await.unwrap(),
        0
    );
    assert!(matches!(
        store
            .replace_backup_codes(Uuid::new_v4(), &hashes(1), later)
            .await,
        Err(StoreError::Conflict(_))
    ));
    // A set with a duplicate is refused as a whole; the previous set stays.
    let kept = hashes(2);
    store
        .replace_backup_codes(alice.id, &kept, later)
        .await
        .unwrap();
    let dup = vec![kept[0].clone(), hash(), kept[0].clone()];
    assert!(matches!(
        store.replace_backup_codes(alice.id, &dup, later).await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(store.backup_codes_remaining(alice.id).await.unwrap(), 2);
    assert_eq!(
        store
            .redeem_backup_code(alice.id, &kept[1], later)
            .await
            .unwrap(),
        Some(1)
    );
}

async fn concurrent_backup_code_redemption_has_one_winner(store: Arc<dyn Store>) {
    let alice = new_user(&store, "alice").await;
    let codes = hashes(3);
    store.enable_totp(&totp(alice.id), &codes).await.unwrap();
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let store = store.clone();
        let user = alice.id;
        let h = codes[1].clone();
        tasks.push(tokio::spawn(async move {
            store.redeem_backup_code(user, &h, t0()).await.unwrap()
        }));
    }
    let mut winners = Vec::new();
    for t in tasks {
        if let Some(remaining) = t.await.unwrap() {
            winners.push(remaining);
        }
    }
    assert_eq!(winners, vec![2]);
    assert_eq!(store.backup_codes_remaining(alice.id).await.unwrap(), 2);
}

// ---------------------------------------------------------------------------------------------
// Throttling

async fn assertion_jtis_are_single_use(store: Arc<dyn Store>) {
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

/// An attempt is recorded before it is judged: later attempts see it (ids grow with insertion
/// order), and a successful one is withdrawn.
async fn failures_are_reserved_and_withdrawn(store: Arc<dyn Store>) {
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

async fn failures_are_counted_within_the_window(store: Arc<dyn Store>) {
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

// ---------------------------------------------------------------------------------------------
// Groups

async fn groups_membership(store: Arc<dyn Store>) {
    // Created out of name order: members are listed by username.
    let carol = new_user(&store, "carol").await;
    let bob = new_user(&store, "bob").await;
    let alice = new_user(&store, "alice").await;
    assert_eq!(store.list_groups().await.unwrap(), vec![]);
    assert_eq!(
        store.user_groups(alice.id).await.unwrap(),
        Vec::<String>::new()
    );

    assert!(store.add_to_group(bob.id, "admins").await.unwrap());
    assert!(store.add_to_group(alice.id, "admins").await.unwrap());
    assert!(
        !store.add_to_group(alice.id, "admins").await.unwrap(),
        "already a member"
    );
    assert!(store.add_to_group(alice.id, "devs").await.unwrap());
    // Names are case-sensitive, and sorted by bytes (uppercase first) on every backend.
    assert!(store.add_to_group(alice.id, "Ops").await.unwrap());
    assert!(store.add_to_group(carol.id, "ops").await.unwrap());

    assert_eq!(
        store.user_groups(alice.id).await.unwrap(),
        strings(&["Ops", "admins", "devs"])
    );
    assert_eq!(
        store.user_groups(carol.id).await.unwrap(),
        strings(&["ops"])
    );
    assert_eq!(
        store.user_groups(Uuid::new_v4()).await.unwrap(),
        Vec::<String>::new()
    );
    assert_eq!(
        store.list_groups().await.unwrap(),
        vec![
            ("Ops".to_string(), 1),
            ("admins".to_string(), 2),
            ("devs".to_string(), 1),
            ("ops".to_string(), 1),
        ]
    );
    assert_eq!(
        store.group_members("admins").await.unwrap(),
        vec![alice.clone(), bob.clone()]
    );
    assert_eq!(
        store.group_members("ops").await.unwrap(),
        vec![carol.clone()]
    );
    assert_eq!(store.group_members("nobody").await.unwrap(), vec![]);

    // Unknown user: refused by the foreign key.
    assert!(matches!(
        store.add_to_group(Uuid::new_v4(), "admins").await,
        Err(StoreError::Conflict(_))
    ));

    assert!(store.remove_from_group(alice.id, "devs").await.unwrap());
    assert!(!store.remove_from_group(alice.id, "devs").await.unwrap());
    assert!(!store.remove_from_group(carol.id, "admins").await.unwrap());
    assert!(!store.remove_from_group(alice.id, "OPS").await.unwrap());
    // A group exists while it has members.
    assert_eq!(
        store.list_groups().await.unwrap(),
        vec![
            ("Ops".to_string(), 1),
            ("admins".to_string(), 2),
            ("ops".to_string(), 1),
        ]
    );

    // Deleting a user removes their memberships.
    assert!(store.delete_user(alice.id).await.unwrap());
    assert_eq!(
        store.list_groups().await.unwrap(),
        vec![("admins".to_string(), 1), ("ops".to_string(), 1)]
    );
    assert_eq!(store.group_members("admins").await.unwrap(), vec![bob]);
    assert_eq!(
        store.user_groups(alice.id).await.unwrap(),
        Vec::<String>::new()
    );
}

// ---------------------------------------------------------------------------------------------
// Re-encryption

async fn secrets_are_re_encrypted_in_place(store: Arc<dyn Store>) {
    let k1 = key("k1", SigningAlg::ES256);
    let k2 = key("k2", SigningAlg::EdDSA);
    store.insert_signing_key(&k1).await.unwrap();
    store.insert_signing_key(&k2).await.unwrap();
    let new_private = vec![9u8; 48];
    assert!(
        store
            .set_signing_key_private("k1", &k1.private_enc, &new_private)
            .await
            .unwrap()
    );
    assert!(
        !store
            .set_signing_key_private("nope", &[1], &[2])
            .await
            .unwrap()
    );
    // Compare-and-swap: a stale `old` changes nothing.
    assert!(
        !store
            .set_signing_key_private("k2", &[0xde, 0xad], &new_private)
            .await
            .unwrap()
    );
    assert_eq!(
        store.list_signing_keys().await.unwrap(),
        vec![
            SigningKeyRecord {
                private_enc: new_private,
                ..k1
            },
            k2
        ]
    );

    let alice = new_user(&store, "alice").await;
    let bob = new_user(&store, "bob").await;
    let cred = totp(alice.id);
    store.enable_totp(&cred, &hashes(2)).await.unwrap();
    assert!(store.accept_totp_step(alice.id, 7).await.unwrap());
    let new_secret = hash();
    assert!(
        !store
            .set_totp_secret(alice.id, b"stale", &new_secret)
            .await
            .unwrap(),
        "a re-enrollment in between is not overwritten"
    );
    assert!(
        store
            .set_totp_secret(alice.id, &cred.secret_enc, &new_secret)
            .await
            .unwrap()
    );
    assert!(
        !store
            .set_totp_secret(bob.id, &cred.secret_enc, &new_secret)
            .await
            .unwrap()
    );
    assert!(
        !store
            .set_totp_secret(Uuid::new_v4(), &new_secret, &new_secret)
            .await
            .unwrap()
    );
    // Only the secret changes: the replay guard and the codes are kept.
    assert_eq!(
        store.get_totp(alice.id).await.unwrap(),
        Some(TotpCredential {
            secret_enc: new_secret,
            last_step: Some(7),
            ..cred
        })
    );
    assert_eq!(store.backup_codes_remaining(alice.id).await.unwrap(), 2);
}

// ---------------------------------------------------------------------------------------------
// Federation

async fn identities_link_and_conflict(store: Arc<dyn Store>) {
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

async fn create_user_with_identity_is_atomic(store: Arc<dyn Store>) {
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

async fn identities_touch(store: Arc<dyn Store>) {
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

async fn identities_list_and_unlink(store: Arc<dyn Store>) {
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

async fn users_are_found_by_email_case_insensitively(store: Arc<dyn Store>) {
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

async fn deleting_a_user_unlinks_identities(store: Arc<dyn Store>) {
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

// ---------------------------------------------------------------------------------------------
// Database-level behaviour

#[tokio::test]
async fn sqlite_migrate_is_idempotent() {
    let (dir, db) = sqlite_db().await;
    assert_eq!(db.migrate().await.unwrap(), Vec::<i64>::new());
    assert_eq!(db.backend(), "sqlite");
    db.close().await;
    // Reopening the file finds the schema in place.
    let url = format!("sqlite://{}/nested/lanyard.db", dir.path().display());
    let again = Database::connect(&url, 2).await.unwrap();
    assert_eq!(again.migrate().await.unwrap(), Vec::<i64>::new());
    again.store().ping().await.unwrap();
}

#[tokio::test]
async fn postgres_migrate_is_idempotent() {
    let Some(pg) = postgres_db("postgres_migrate_is_idempotent").await else {
        return;
    };
    assert_eq!(pg.db.migrate().await.unwrap(), Vec::<i64>::new());
    assert_eq!(pg.db.backend(), "postgres");
    // Several replicas migrating one fresh database at once: each migration is applied once.
    let base = pg.base.clone();
    let fresh = lanyard_store::testing::fresh_postgres_database(&base)
        .await
        .unwrap();
    let mut tasks = Vec::new();
    for _ in 0..3 {
        let url = fresh.clone();
        tasks.push(tokio::spawn(async move {
            let db = Database::connect(&url, 2).await.unwrap();
            let applied = db.migrate().await.unwrap();
            db.close().await;
            applied
        }));
    }
    let mut applied = Vec::new();
    for t in tasks {
        applied.extend(t.await.unwrap());
    }
    assert_eq!(applied, vec![1, 2, 3, 4, 5, 6]);
    lanyard_store::testing::drop_postgres_database(&base, &fresh)
        .await
        .unwrap();
    // Only generated test databases can be dropped.
    assert!(
        lanyard_store::testing::drop_postgres_database(&base, &base)
            .await
            .is_err()
    );
    pg.finish().await;
}

/// sqlx's own migrator holding only `migrations`: what created a database of an earlier release.
fn old_migrator(migrations: &[(i64, &'static str, &'static str)]) -> sqlx::migrate::Migrator {
    use sqlx::SqlSafeStr;
    use sqlx::migrate::{Migration, MigrationType, Migrator};
    Migrator::with_migrations(
        migrations
            .iter()
            .map(|&(version, description, sql)| {
                Migration::new(
                    version,
                    description.into(),
                    MigrationType::Simple,
                    sql.into_sql_str(),
                    false,
                )
            })
            .collect(),
    )
}

/// Migration 1 only: the first release.
fn v1_migrator(sql: &'static str) -> sqlx::migrate::Migrator {
    old_migrator(&[(1, "init", sql)])
}

/// A client row as the previous release wrote it: its metadata has no `require_mfa`.
async fn insert_v1_client<DB>(pool: &sqlx::Pool<DB>)
where
    DB: sqlx::Database,
    for<'c> &'c sqlx::Pool<DB>: sqlx::Executor<'c, Database = DB>,
    <DB as sqlx::Database>::Arguments: sqlx::IntoArguments<DB>,
    for<'q> &'q str: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    sqlx::types::Json<serde_json::Value>: for<'q> sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    let mut metadata = serde_json::to_value(client("legacy")).unwrap();
    metadata
        .as_object_mut()
        .unwrap()
        .remove("require_mfa")
        .unwrap();
    sqlx::query("INSERT INTO clients (client_id, secret_hash, metadata) VALUES ($1, NULL, $2)")
        .bind("legacy")
        .bind(sqlx::types::Json(metadata))
        .execute(pool)
        .await
        .unwrap();
}

/// A user row as releases before migration 6 wrote it (no session epoch column yet).
async fn insert_old_user<DB>(pool: &sqlx::Pool<DB>, u: &User)
where
    DB: sqlx::Database,
    for<'c> &'c sqlx::Pool<DB>: sqlx::Executor<'c, Database = DB>,
    <DB as sqlx::Database>::Arguments: sqlx::IntoArguments<DB>,
    for<'q> &'q str: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    for<'q> Option<&'q str>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    Uuid: for<'q> sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    bool: for<'q> sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    DateTime<Utc>: for<'q> sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    sqlx::query(
        "INSERT INTO users (id, username, email, email_verified, password_hash, disabled, \
         phone_number_verified, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(u.id)
    .bind(u.username.as_str())
    .bind(u.email.as_deref())
    .bind(u.email_verified)
    .bind(u.password_hash.as_deref())
    .bind(u.disabled)
    .bind(u.phone_number_verified)
    .bind(u.created_at)
    .bind(u.updated_at)
    .execute(pool)
    .await
    .unwrap();
}

/// After upgrading a v1 database: the old rows are intact and the new tables work.
async fn upgraded_database_works(store: Arc<dyn Store>, old_user: &User) {
    assert_eq!(
        store.get_user(old_user.id).await.unwrap().as_ref(),
        Some(old_user)
    );
    let legacy = store.get_client("legacy").await.unwrap().unwrap();
    assert!(!legacy.require_mfa);
    assert_eq!(
        legacy,
        Client {
            secret_hash: None,
            ..client("legacy")
        }
    );
    store
        .enable_totp(&totp(old_user.id), &hashes(2))
        .await
        .unwrap();
    assert!(store.accept_totp_step(old_user.id, 1).await.unwrap());
    assert!(store.add_to_group(old_user.id, "admins").await.unwrap());
    store.record_failure("user:old", t0()).await.unwrap();
    assert_eq!(
        store
            .count_failures("user:old", t0(), None)
            .await
            .unwrap()
            .count,
        1
    );
    federation_works_after_upgrade(&store, old_user).await;
    assert!(store.delete_user(old_user.id).await.unwrap());
    assert_eq!(store.list_groups().await.unwrap(), vec![]);
    assert_eq!(store.list_totp().await.unwrap(), vec![]);
    assert_eq!(store.get_identity("corp", "old-1").await.unwrap(), None);
}

/// Migration 3 on a database with users: the email index covers them, identities link to them.
async fn federation_works_after_upgrade(store: &Arc<dyn Store>, old_user: &User) {
    let email = old_user.email.as_deref().unwrap();
    assert_eq!(
        store
            .find_users_by_email(&email.to_ascii_uppercase())
            .await
            .unwrap(),
        vec![old_user.clone()]
    );
    let linked = identity("corp", "old-1", old_user.id);
    store.link_identity(&linked).await.unwrap();
    assert_eq!(
        store.list_identities(old_user.id).await.unwrap(),
        vec![linked]
    );
}

/// A user as an earlier release wrote it, with a mixed-case email.
fn old_user() -> User {
    User {
        email: Some("Old@Example.com".into()),
        ..User::new("old", t0())
    }
}

#[tokio::test]
async fn sqlite_v1_database_is_upgraded() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/v1.db", dir.path().display());
    let old_user = old_user();
    {
        let options = <sqlx::sqlite::SqliteConnectOptions as std::str::FromStr>::from_str(&url)
            .unwrap()
            .create_if_missing(true)
            .foreign_keys(true);
        let pool = sqlx::SqlitePool::connect_with(options).await.unwrap();
        v1_migrator(include_str!("../../../migrations/sqlite/0001_init.sql"))
            .run(&pool)
            .await
            .unwrap();
        insert_old_user(&pool, &old_user).await;
        insert_v1_client(&pool).await;
        pool.close().await;
    }
    let db = Database::connect(&url, 2).await.unwrap();
    assert_eq!(db.migrate().await.unwrap(), vec![2, 3, 4, 5, 6]);
    assert_eq!(db.migrate().await.unwrap(), Vec::<i64>::new());
    upgraded_database_works(db.store(), &old_user).await;
}

#[tokio::test]
async fn postgres_v1_database_is_upgraded() {
    let Some(base) = std::env::var(PG_ENV).ok().filter(|v| !v.is_empty()) else {
        println!("postgres_v1_database_is_upgraded: skipped, {PG_ENV} is not set");
        return;
    };
    let url = lanyard_store::testing::fresh_postgres_database(&base)
        .await
        .unwrap();
    let old_user = old_user();
    {
        let pool = sqlx::PgPool::connect(&url).await.unwrap();
        v1_migrator(include_str!("../../../migrations/postgres/0001_init.sql"))
            .run(&pool)
            .await
            .unwrap();
        insert_old_user(&pool, &old_user).await;
        insert_v1_client(&pool).await;
        pool.close().await;
    }
    let db = Database::connect(&url, 2).await.unwrap();
    assert_eq!(db.migrate().await.unwrap(), vec![2, 3, 4, 5, 6]);
    assert_eq!(db.migrate().await.unwrap(), Vec::<i64>::new());
    upgraded_database_works(db.store(), &old_user).await;
    db.close().await;
    lanyard_store::testing::drop_postgres_database(&base, &url)
        .await
        .unwrap();
}

#[tokio::test]
async fn sqlite_v2_database_is_upgraded() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/v2.db", dir.path().display());
    let old_user = old_user();
    {
        let options = <sqlx::sqlite::SqliteConnectOptions as std::str::FromStr>::from_str(&url)
            .unwrap()
            .create_if_missing(true)
            .foreign_keys(true);
        let pool = sqlx::SqlitePool::connect_with(options).await.unwrap();
        old_migrator(&[
            (
                1,
                "init",
                include_str!("../../../migrations/sqlite/0001_init.sql"),
            ),
            (
                2,
                "mfa",
                include_str!("../../../migrations/sqlite/0002_mfa.sql"),
            ),
        ])
        .run(&pool)
        .await
        .unwrap();
        insert_old_user(&pool, &old_user).await;
        pool.close().await;
    }
    let db = Database::connect(&url, 2).await.unwrap();
    assert_eq!(db.migrate().await.unwrap(), vec![3, 4, 5, 6]);
    assert_eq!(db.migrate().await.unwrap(), Vec::<i64>::new());
    let store = db.store();
    assert_eq!(
        store.get_user(old_user.id).await.unwrap(),
        Some(old_user.clone())
    );
    federation_works_after_upgrade(&store, &old_user).await;
    assert!(store.delete_user(old_user.id).await.unwrap());
    assert_eq!(store.get_identity("corp", "old-1").await.unwrap(), None);
}

#[tokio::test]
async fn postgres_v2_database_is_upgraded() {
    let Some(base) = std::env::var(PG_ENV).ok().filter(|v| !v.is_empty()) else {
        println!("postgres_v2_database_is_upgraded: skipped, {PG_ENV} is not set");
        return;
    };
    let url = lanyard_store::testing::fresh_postgres_database(&base)
        .await
        .unwrap();
    let old_user = old_user();
    {
        let pool = sqlx::PgPool::connect(&url).await.unwrap();
        old_migrator(&[
            (
                1,
                "init",
                include_str!("../../../migrations/postgres/0001_init.sql"),
            ),
            (
                2,
                "mfa",
                include_str!("../../../migrations/postgres/0002_mfa.sql"),
            ),
        ])
        .run(&pool)
        .await
        .unwrap();
        insert_old_user(&pool, &old_user).await;
        pool.close().await;
    }
    let db = Database::connect(&url, 2).await.unwrap();
    assert_eq!(db.migrate().await.unwrap(), vec![3, 4, 5, 6]);
    assert_eq!(db.migrate().await.unwrap(), Vec::<i64>::new());
    let store = db.store();
    assert_eq!(
        store.get_user(old_user.id).await.unwrap(),
        Some(old_user.clone())
    );
    federation_works_after_upgrade(&store, &old_user).await;
    assert!(store.delete_user(old_user.id).await.unwrap());
    assert_eq!(store.get_identity("corp", "old-1").await.unwrap(), None);
    db.close().await;
    lanyard_store::testing::drop_postgres_database(&base, &url)
        .await
        .unwrap();
}

#[tokio::test]
async fn sqlite_in_memory_database_works() {
    // max_connections is forced to 1, so every query sees the same database.
    let db = Database::connect("sqlite::memory:", 8).await.unwrap();
    assert_eq!(db.migrate().await.unwrap(), vec![1, 2, 3, 4, 5, 6]);
    let store = db.store();
    let u = new_user(&store, "alice").await;
    assert_eq!(store.get_user(u.id).await.unwrap(), Some(u));
    let g = grant(None, t0() + Duration::hours(1));
    store
        .create_grant(&g, Some(&refresh(g.id, t0() + Duration::hours(1))))
        .await
        .unwrap();
    assert!(store.grant_is_active(g.id, t0()).await.unwrap());
}

#[tokio::test]
async fn unsupported_scheme_is_named_without_the_password() {
    let err = Database::connect("mysql://admin:hunter2@db.example/lanyard", 1)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("mysql"), "{err}");
    assert!(!err.contains("hunter2"), "{err}");
    let err = Database::connect("admin:hunter2@db.example", 1)
        .await
        .unwrap_err()
        .to_string();
    assert!(!err.contains("hunter2"), "{err}");
}

#[tokio::test]
async fn unreachable_postgres_fails_fast_without_the_password() {
    let started = std::time::Instant::now();
    let err = Database::connect("postgres://lanyard:hunter2@127.0.0.1:1/lanyard", 1)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
    let msg = err.to_string();
    assert!(msg.contains("127.0.0.1:1"), "{msg}");
    assert!(!msg.contains("hunter2"), "{msg}");
    assert!(started.elapsed() < std::time::Duration::from_secs(15));
}

#[test]
fn migration_folders_match() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../migrations");
    let names = |backend: &str| -> BTreeSet<String> {
        std::fs::read_dir(root.join(backend))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect()
    };
    let sqlite = names("sqlite");
    let postgres = names("postgres");
    assert!(!sqlite.is_empty());
    assert_eq!(
        sqlite, postgres,
        "migrations/sqlite and migrations/postgres must hold the same file names"
    );
    for name in &sqlite {
        let (version, rest) = name.split_once('_').unwrap();
        assert!(
            version.len() == 4 && version.chars().all(|c| c.is_ascii_digit()),
            "{name}: expected NNNN_description.sql"
        );
        assert!(rest.ends_with(".sql"), "{name}");
    }
}
