//! The store traits, written once for both backends.
//!
//! `impl_store!(SqliteStore)` and `impl_store!(PgStore)` expand the same method bodies against
//! each backend's concrete pool type. Every statement is static SQL with `$N` placeholders, which
//! PostgreSQL takes natively and sqlx's SQLite driver maps to positional arguments (a repeated
//! `$N` binds the same argument). The few per-backend differences are inherent items of the store
//! struct that the macro calls, so no method has an `if sqlite { .. } else { .. }`:
//! - `Self::BACKEND`: the name `Maintenance::backend()` reports;
//! - `self.begin_write()`: how a multi-statement write transaction starts (`BEGIN IMMEDIATE` on
//!   SQLite, so that a read-then-write transaction never has to upgrade its lock);
//! - `Self::lock_signing_keys(conn)`: serialises first-start key creation across processes
//!   (`pg_advisory_xact_lock` on PostgreSQL; on SQLite `BEGIN IMMEDIATE` already does).
//!
//! Values are bound with sqlx's native encodings (`Uuid`, `bool`, `DateTime<Utc>`, `Vec<u8>`,
//! `Json<T>`), which the migrations map onto UUID/BOOLEAN/TIMESTAMPTZ/BYTEA/JSONB on PostgreSQL
//! and BLOB/INTEGER/TEXT/BLOB/TEXT on SQLite.

macro_rules! user_cols {
    () => {
        "id, username, email, email_verified, name, given_name, family_name, phone_number, \
         phone_number_verified, address, password_hash, disabled, session_epoch, created_at, updated_at"
    };
}

macro_rules! grant_cols {
    () => {
        "id, client_id, user_id, scopes, sid, auth_time, amr, acr, nonce, claims, created_at, expires_at, revoked_at"
    };
}

macro_rules! code_cols {
    () => {
        "code_hash, grant_id, client_id, user_id, redirect_uri, code_challenge, nonce, scopes, claims, sid, \
         auth_time, amr, acr, created_at, expires_at"
    };
}

macro_rules! refresh_cols {
    () => {
        "token_hash, grant_id, created_at, expires_at, used_at, successor_enc"
    };
}

macro_rules! key_cols {
    () => {
        "kid, alg, public_jwk, private_enc, created_at, activates_at, retired_at"
    };
}

macro_rules! session_cols {
    () => {
        "id_hash, user_id, epoch, data, expires_at"
    };
}

/// The condition a session row must meet to count: anonymous, or of its user's current epoch
/// (a user who was deleted takes their sessions along by cascade).
macro_rules! session_current {
    () => {
        "(user_id IS NULL OR epoch >= (SELECT session_epoch FROM users WHERE users.id = sessions.user_id))"
    };
}

macro_rules! audit_cols {
    () => {
        "id, at, kind, user_id, client_id, ip, detail"
    };
}

macro_rules! totp_cols {
    () => {
        "user_id, secret_enc, last_step, created_at"
    };
}

macro_rules! identity_cols {
    () => {
        "upstream, subject, user_id, email, created_at, last_login_at"
    };
}

/// The `INSERT INTO users` statement with `u` bound, for `create_user` and
/// `create_user_with_identity` (executed on the pool or inside a transaction).
macro_rules! insert_user {
    ($u:expr) => {{
        let u: &User = $u;
        sqlx::query(concat!(
            "INSERT INTO users (",
            $crate::store_impl::user_cols!(),
            ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)"
        ))
        .bind(u.id)
        .bind(&u.username)
        .bind(u.email.as_deref())
        .bind(u.email_verified)
        .bind(u.name.as_deref())
        .bind(u.given_name.as_deref())
        .bind(u.family_name.as_deref())
        .bind(u.phone_number.as_deref())
        .bind(u.phone_number_verified)
        .bind(u.address.as_deref())
        .bind(u.password_hash.as_deref())
        .bind(u.disabled)
        .bind(u.session_epoch)
        .bind(ts(u.created_at))
        .bind(ts(u.updated_at))
    }};
}

/// The `INSERT INTO federated_identities` statement with `i` bound.
macro_rules! insert_identity {
    ($i:expr) => {{
        let i: &FederatedIdentity = $i;
        sqlx::query(concat!(
            "INSERT INTO federated_identities (",
            $crate::store_impl::identity_cols!(),
            ") VALUES ($1, $2, $3, $4, $5, $6)"
        ))
        .bind(&i.upstream)
        .bind(&i.subject)
        .bind(i.user_id)
        .bind(i.email.as_deref())
        .bind(ts(i.created_at))
        .bind(ts(i.last_login_at))
    }};
}

macro_rules! impl_store {
    ($store:ident) => {
        const _: () = {
            use ::async_trait::async_trait;
            use ::chrono::{DateTime, Utc};
            use ::lanyard_core::model::{
                AuditEvent, AuditFilter, AuthCode, Client, Consent, EndedSessions, FailureCount, FederatedIdentity, Grant, ProfileUpdate, PurgeReport, Redeemed,
                RefreshToken, SessionRecord, SigningKeyRecord, TotpCredential, User,
            };
            use ::lanyard_core::oidc::claims::ClaimsRequest;
            use ::lanyard_core::store::{
                AuditStore, ClientStore, FederationStore, GrantStore, GroupStore, KeyStore, Maintenance, MfaStore, SessionRecordStore, StoreError,
                StoreResult, ThrottleStore, UserStore,
            };
            use ::sqlx::types::Json;
            use ::uuid::Uuid;

            use $crate::error::map_err;
            use $crate::rows::{
                count, join_list, ts, ts_opt, AuditRow, ClientRow, CodeRow, ConsentRow, CountRow, EpochRow, FailureRow, GrantIdRow, GrantRow, GroupCountRow,
                IdentityRow, KeyRow, RefreshRow, SessionRow, TotpRow, UserRow,
            };

            #[async_trait]
            impl UserStore for $store {
                async fn create_user(&self, u: &User) -> StoreResult<()> {
                    $crate::store_impl::insert_user!(u).execute(&self.pool).await.map_err(map_err)?;
                    Ok(())
                }

                async fn get_user(&self, id: Uuid) -> StoreResult<Option<User>> {
                    let row = sqlx::query_as::<_, UserRow>(concat!("SELECT ", $crate::store_impl::user_cols!(), " FROM users WHERE id = $1"))
                        .bind(id)
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(map_err)?;
                    Ok(row.map(User::from))
                }

                async fn find_user_by_username(&self, username: &str) -> StoreResult<Option<User>> {
                    let row = sqlx::query_as::<_, UserRow>(concat!("SELECT ", $crate::store_impl::user_cols!(), " FROM users WHERE username = $1"))
                        .bind(username)
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(map_err)?;
                    Ok(row.map(User::from))
                }

                async fn list_users(&self) -> StoreResult<Vec<User>> {
                    let rows = sqlx::query_as::<_, UserRow>(concat!("SELECT ", $crate::store_impl::user_cols!(), " FROM users ORDER BY username"))
                        .fetch_all(&self.pool)
                        .await
                        .map_err(map_err)?;
                    Ok(rows.into_iter().map(User::from).collect())
                }

                async fn set_password_hash(&self, id: Uuid, hash: &str, now: DateTime<Utc>) -> StoreResult<bool> {
                    let done = sqlx::query("UPDATE users SET password_hash = $2, updated_at = $3 WHERE id = $1")
                        .bind(id)
                        .bind(hash)
                        .bind(ts(now))
                        .execute(&self.pool)
                        .await
                        .map_err(map_err)?;
                    Ok(done.rows_affected() > 0)
                }

                async fn set_disabled(&self, id: Uuid, disabled: bool, now: DateTime<Utc>) -> StoreResult<bool> {
                    let done = sqlx::query("UPDATE users SET disabled = $2, updated_at = $3 WHERE id = $1")
                        .bind(id)
                        .bind(disabled)
                        .bind(ts(now))
                        .execute(&self.pool)
                        .await
                        .map_err(map_err)?;
                    Ok(done.rows_affected() > 0)
                }

                /// Overwrites every profile field with `p` (None clears it). A changed email or
                /// phone number loses its verified flag: it has not been verified.
                async fn update_profile(&self, id: Uuid, p: &ProfileUpdate, now: DateTime<Utc>) -> StoreResult<bool> {
                    let done = sqlx::query(
                        "UPDATE users SET name = $2, given_name = $3, family_name = $4, \
                         email_verified = CASE WHEN email IS NOT DISTINCT FROM $5 THEN email_verified ELSE FALSE END, \
                         email = $5, \
                         phone_number_verified = CASE WHEN phone_number IS NOT DISTINCT FROM $6 THEN phone_number_verified ELSE FALSE END, \
                         phone_number = $6, address = $7, updated_at = $8 \
                         WHERE id = $1",
                    )
                    .bind(id)
                    .bind(p.name.as_deref())
                    .bind(p.given_name.as_deref())
                    .bind(p.family_name.as_deref())
                    .bind(p.email.as_deref())
                    .bind(p.phone_number.as_deref())
                    .bind(p.address.as_deref())
                    .bind(ts(now))
                    .execute(&self.pool)
                    .await
                    .map_err(map_err)?;
                    Ok(done.rows_affected() > 0)
                }

                async fn delete_user(&self, id: Uuid) -> StoreResult<bool> {
                    let done = sqlx::query("DELETE FROM users WHERE id = $1").bind(id).execute(&self.pool).await.map_err(map_err)?;
                    Ok(done.rows_affected() > 0)
                }
            }

            #[async_trait]
            impl ClientStore for $store {
                /// Writes only when the secret or the metadata differ, so `rows_affected` says
                /// whether anything changed (0 for an identical second upsert).
                async fn upsert_client(&self, c: &Client) -> StoreResult<bool> {
                    let done = sqlx::query(
                        "INSERT INTO clients (client_id, secret_hash, metadata) VALUES ($1, $2, $3) \
                         ON CONFLICT (client_id) DO UPDATE SET secret_hash = excluded.secret_hash, metadata = excluded.metadata \
                         WHERE clients.secret_hash IS DISTINCT FROM excluded.secret_hash \
                            OR clients.metadata IS DISTINCT FROM excluded.metadata",
                    )
                    .bind(&c.client_id)
                    .bind(c.secret_hash.as_deref())
                    .bind(Json(c))
                    .execute(&self.pool)
                    .await
                    .map_err(map_err)?;
                    Ok(done.rows_affected() > 0)
                }

                async fn get_client(&self, client_id: &str) -> StoreResult<Option<Client>> {
                    let row = sqlx::query_as::<_, ClientRow>("SELECT client_id, secret_hash, metadata FROM clients WHERE client_id = $1")
                        .bind(client_id)
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(map_err)?;
                    Ok(row.map(Client::from))
                }

                async fn list_clients(&self) -> StoreResult<Vec<Client>> {
                    let rows = sqlx::query_as::<_, ClientRow>("SELECT client_id, secret_hash, metadata FROM clients ORDER BY client_id")
                        .fetch_all(&self.pool)
                        .await
                        .map_err(map_err)?;
                    Ok(rows.into_iter().map(Client::from).collect())
                }

                async fn delete_client(&self, client_id: &str) -> StoreResult<bool> {
                    let done = sqlx::query("DELETE FROM clients WHERE client_id = $1").bind(client_id).execute(&self.pool).await.map_err(map_err)?;
                    Ok(done.rows_affected() > 0)
                }
            }

            #[async_trait]
            impl GrantStore for $store {
                async fn insert_code(&self, c: &AuthCode) -> StoreResult<()> {
                    sqlx::query(concat!(
                        "INSERT INTO auth_codes (",
                        $crate::store_impl::code_cols!(),
                        ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)"
                    ))
                    .bind(c.code_hash.as_slice())
                    .bind(c.grant_id)
                    .bind(&c.client_id)
                    .bind(c.user_id)
                    .bind(&c.redirect_uri)
                    .bind(c.code_challenge.as_deref())
                    .bind(c.nonce.as_deref())
                    .bind(join_list(&c.scopes))
                    .bind(c.claims.as_ref().map(ClaimsRequest::to_json))
                    .bind(&c.sid)
                    .bind(ts(c.auth_time))
                    .bind(join_list(&c.amr))
                    .bind(c.acr.as_deref())
                    .bind(ts(c.created_at))
                    .bind(ts(c.expires_at))
                    .execute(&self.pool)
                    .await
                    .map_err(map_err)?;
                    Ok(())
                }

                async fn find_code(&self, code_hash: &[u8]) -> StoreResult<Option<AuthCode>> {
                    let row = sqlx::query_as::<_, CodeRow>(concat!(
                        "SELECT ",
                        $crate::store_impl::code_cols!(),
                        " FROM auth_codes WHERE code_hash = $1"
                    ))
                    .bind(code_hash)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(map_err)?;
                    Ok(row.map(AuthCode::from))
                }

                async fn redeem_code(&self, code_hash: &[u8], now: DateTime<Utc>) -> StoreResult<Redeemed<AuthCode>> {
                    // One statement: of two concurrent redemptions exactly one sees used_at IS NULL.
                    let fresh = sqlx::query_as::<_, CodeRow>(concat!(
                        "UPDATE auth_codes SET used_at = $2 WHERE code_hash = $1 AND used_at IS NULL RETURNING ",
                        $crate::store_impl::code_cols!()
                    ))
                    .bind(code_hash)
                    .bind(ts(now))
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(map_err)?;
                    if let Some(row) = fresh {
                        return Ok(Redeemed::Fresh(AuthCode::from(row)));
                    }
                    let used = sqlx::query_as::<_, GrantIdRow>("SELECT grant_id FROM auth_codes WHERE code_hash = $1")
                        .bind(code_hash)
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(map_err)?;
                    Ok(match used {
                        Some(r) => Redeemed::AlreadyUsed(r.grant_id),
                        None => Redeemed::NotFound,
                    })
                }

                async fn create_grant(&self, g: &Grant, refresh: Option<&RefreshToken>) -> StoreResult<()> {
                    let mut tx = self.begin_write().await.map_err(map_err)?;
                    sqlx::query(concat!(
                        "INSERT INTO grants (",
                        $crate::store_impl::grant_cols!(),
                        ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"
                    ))
                    .bind(g.id)
                    .bind(&g.client_id)
                    .bind(g.user_id)
                    .bind(join_list(&g.scopes))
                    .bind(g.sid.as_deref())
                    .bind(ts_opt(g.auth_time))
                    .bind(join_list(&g.amr))
                    .bind(g.acr.as_deref())
                    .bind(g.nonce.as_deref())
                    .bind(g.claims.as_ref().map(ClaimsRequest::to_json))
                    .bind(ts(g.created_at))
                    .bind(ts(g.expires_at))
                    .bind(ts_opt(g.revoked_at))
                    .execute(&mut *tx)
                    .await
                    .map_err(map_err)?;
                    if let Some(r) = refresh {
                        sqlx::query(concat!("INSERT INTO refresh_tokens (", $crate::store_impl::refresh_cols!(), ") VALUES ($1, $2, $3, $4, $5, $6)"))
                            .bind(r.token_hash.as_slice())
                            .bind(r.grant_id)
                            .bind(ts(r.created_at))
                            .bind(ts(r.expires_at))
                            .bind(ts_opt(r.used_at))
                            .bind(r.successor_enc.as_deref())
                            .execute(&mut *tx)
                            .await
                            .map_err(map_err)?;
                    }
                    tx.commit().await.map_err(map_err)
                }

                async fn get_grant(&self, id: Uuid) -> StoreResult<Option<Grant>> {
                    let row = sqlx::query_as::<_, GrantRow>(concat!("SELECT ", $crate::store_impl::grant_cols!(), " FROM grants WHERE id = $1"))
                        .bind(id)
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(map_err)?;
                    Ok(row.map(Grant::from))
                }

                async fn grant_is_active(&self, id: Uuid, now: DateTime<Utc>) -> StoreResult<bool> {
                    let row = sqlx::query("SELECT id FROM grants WHERE id = $1 AND revoked_at IS NULL AND expires_at > $2")
                        .bind(id)
                        .bind(ts(now))
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(map_err)?;
                    Ok(row.is_some())
                }

                async fn find_refresh(&self, token_hash: &[u8]) -> StoreResult<Option<RefreshToken>> {
                    let row = sqlx::query_as::<_, RefreshRow>(concat!("SELECT ", $crate::store_impl::refresh_cols!(), " FROM refresh_tokens WHERE token_hash = $1"))
                        .bind(token_hash)
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(map_err)?;
                    Ok(row.map(RefreshToken::from))
                }

                async fn rotate_refresh(
                    &self,
                    old_hash: &[u8],
                    new: &RefreshToken,
                    successor_enc: Option<&[u8]>,
                    now: DateTime<Utc>,
                ) -> StoreResult<Redeemed<()>> {
                    let mut tx = self.begin_write().await.map_err(map_err)?;
                    let marked = sqlx::query_as::<_, GrantIdRow>(
                        "UPDATE refresh_tokens SET used_at = $2, successor_enc = $3 \
                         WHERE token_hash = $1 AND used_at IS NULL RETURNING grant_id",
                    )
                    .bind(old_hash)
                    .bind(ts(now))
                    .bind(successor_enc)
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(map_err)?;
                    let Some(marked) = marked else {
                        // Nothing written; dropping `tx` rolls back.
                        let used = sqlx::query_as::<_, GrantIdRow>("SELECT grant_id FROM refresh_tokens WHERE token_hash = $1")
                            .bind(old_hash)
                            .fetch_optional(&mut *tx)
                            .await
                            .map_err(map_err)?;
                        return Ok(match used {
                            Some(r) => Redeemed::AlreadyUsed(r.grant_id),
                            None => Redeemed::NotFound,
                        });
                    };
                    if marked.grant_id != new.grant_id {
                        return Err(StoreError::Conflict(format!(
                            "refresh token rotation: new token names grant {} but the old one belongs to {}",
                            new.grant_id, marked.grant_id
                        )));
                    }
                    sqlx::query(concat!("INSERT INTO refresh_tokens (", $crate::store_impl::refresh_cols!(), ") VALUES ($1, $2, $3, $4, $5, $6)"))
                        .bind(new.token_hash.as_slice())
                        .bind(new.grant_id)
                        .bind(ts(new.created_at))
                        .bind(ts(new.expires_at))
                        .bind(ts_opt(new.used_at))
                        .bind(new.successor_enc.as_deref())
                        .execute(&mut *tx)
                        .await
                        .map_err(map_err)?;
                    tx.commit().await.map_err(map_err)?;
                    Ok(Redeemed::Fresh(()))
                }

                async fn revoke_grant(&self, id: Uuid, now: DateTime<Utc>) -> StoreResult<bool> {
                    let done = sqlx::query("UPDATE grants SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL")
                        .bind(id)
                        .bind(ts(now))
                        .execute(&self.pool)
                        .await
                        .map_err(map_err)?;
                    Ok(done.rows_affected() > 0)
                }

                async fn remember_assertion(&self, client_id: &str, jti_hash: &[u8], expires_at: DateTime<Utc>) -> StoreResult<bool> {
                    let done = sqlx::query(
                        "INSERT INTO client_assertions (client_id, jti_hash, expires_at) VALUES ($1, $2, $3) ON CONFLICT (client_id, jti_hash) DO NOTHING",
                    )
                    .bind(client_id)
                    .bind(jti_hash)
                    .bind(ts(expires_at))
                    .execute(&self.pool)
                    .await
                    .map_err(map_err)?;
                    Ok(done.rows_affected() == 1)
                }

                async fn clients_for_sid(&self, sid: &str) -> StoreResult<Vec<String>> {
                    let rows: Vec<(String,)> = sqlx::query_as(
                        "SELECT client_id FROM grants WHERE sid = $1 UNION SELECT client_id FROM auth_codes WHERE sid = $1",
                    )
                    .bind(sid)
                    .fetch_all(&self.pool)
                    .await
                    .map_err(map_err)?;
                    let mut ids: Vec<String> = rows.into_iter().map(|(c,)| c).collect();
                    ids.sort();
                    ids.dedup();
                    Ok(ids)
                }

                async fn revoke_user_grants(&self, user_id: Uuid, now: DateTime<Utc>) -> StoreResult<u64> {
                    let done = sqlx::query("UPDATE grants SET revoked_at = $2 WHERE user_id = $1 AND revoked_at IS NULL AND expires_at > $2")
                        .bind(user_id)
                        .bind(ts(now))
                        .execute(&self.pool)
                        .await
                        .map_err(map_err)?;
                    Ok(done.rows_affected())
                }

                async fn get_consent(&self, user_id: Uuid, client_id: &str) -> StoreResult<Option<Consent>> {
                    let row = sqlx::query_as::<_, ConsentRow>(
                        "SELECT user_id, client_id, scopes, granted_at FROM consents WHERE user_id = $1 AND client_id = $2",
                    )
                    .bind(user_id)
                    .bind(client_id)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(map_err)?;
                    Ok(row.map(Consent::from))
                }

                async fn put_consent(&self, c: &Consent) -> StoreResult<()> {
                    sqlx::query(
                        "INSERT INTO consents (user_id, client_id, scopes, granted_at) VALUES ($1, $2, $3, $4) \
                         ON CONFLICT (user_id, client_id) DO UPDATE SET scopes = excluded.scopes, granted_at = excluded.granted_at",
                    )
                    .bind(c.user_id)
                    .bind(&c.client_id)
                    .bind(join_list(&c.scopes))
                    .bind(ts(c.granted_at))
                    .execute(&self.pool)
                    .await
                    .map_err(map_err)?;
                    Ok(())
                }

                async fn list_consents(&self, user_id: Uuid) -> StoreResult<Vec<Consent>> {
                    let rows = sqlx::query_as::<_, ConsentRow>(
                        "SELECT user_id, client_id, scopes, granted_at FROM consents WHERE user_id = $1 ORDER BY client_id",
                    )
                    .bind(user_id)
                    .fetch_all(&self.pool)
                    .await
                    .map_err(map_err)?;
                    Ok(rows.into_iter().map(Consent::from).collect())
                }

                async fn delete_consent(&self, user_id: Uuid, client_id: &str) -> StoreResult<bool> {
                    let done = sqlx::query("DELETE FROM consents WHERE user_id = $1 AND client_id = $2")
                        .bind(user_id)
                        .bind(client_id)
                        .execute(&self.pool)
                        .await
                        .map_err(map_err)?;
                    Ok(done.rows_affected() > 0)
                }
            }

            #[async_trait]
            impl KeyStore for $store {
                async fn list_signing_keys(&self) -> StoreResult<Vec<SigningKeyRecord>> {
                    let rows = sqlx::query_as::<_, KeyRow>(concat!("SELECT ", $crate::store_impl::key_cols!(), " FROM signing_keys ORDER BY created_at, kid"))
                        .fetch_all(&self.pool)
                        .await
                        .map_err(map_err)?;
                    rows.into_iter().map(SigningKeyRecord::try_from).collect()
                }

                async fn insert_signing_key(&self, k: &SigningKeyRecord) -> StoreResult<()> {
                    sqlx::query(concat!("INSERT INTO signing_keys (", $crate::store_impl::key_cols!(), ") VALUES ($1, $2, $3, $4, $5, $6, $7)"))
                        .bind(&k.kid)
                        .bind(k.alg.as_str())
                        .bind(&k.public_jwk)
                        .bind(k.private_enc.as_slice())
                        .bind(ts(k.created_at))
                        .bind(ts(k.activates_at))
                        .bind(ts_opt(k.retired_at))
                        .execute(&self.pool)
                        .await
                        .map_err(map_err)?;
                    Ok(())
                }

                /// Sets the retirement time unless the key already retires at or before `at`
                /// (retirement can be brought forward, never postponed).
                async fn retire_signing_key(&self, kid: &str, at: DateTime<Utc>) -> StoreResult<bool> {
                    let done = sqlx::query("UPDATE signing_keys SET retired_at = $2 WHERE kid = $1 AND (retired_at IS NULL OR retired_at > $2)")
                        .bind(kid)
                        .bind(ts(at))
                        .execute(&self.pool)
                        .await
                        .map_err(map_err)?;
                    Ok(done.rows_affected() > 0)
                }

                async fn delete_signing_key(&self, kid: &str) -> StoreResult<bool> {
                    let done = sqlx::query("DELETE FROM signing_keys WHERE kid = $1").bind(kid).execute(&self.pool).await.map_err(map_err)?;
                    Ok(done.rows_affected() > 0)
                }

                async fn set_signing_key_private(&self, kid: &str, old: &[u8], new: &[u8]) -> StoreResult<bool> {
                    let done = sqlx::query("UPDATE signing_keys SET private_enc = $3 WHERE kid = $1 AND private_enc = $2")
                        .bind(kid)
                        .bind(old)
                        .bind(new)
                        .execute(&self.pool)
                        .await
                        .map_err(map_err)?;
                    Ok(done.rows_affected() == 1)
                }

                async fn insert_initial_signing_keys(&self, keys: &[SigningKeyRecord]) -> StoreResult<u64> {
                    let mut tx = self.begin_write().await.map_err(map_err)?;
                    Self::lock_signing_keys(&mut tx).await.map_err(map_err)?;
                    let mut inserted = 0;
                    for k in keys {
                        let done = sqlx::query(concat!(
                            "INSERT INTO signing_keys (",
                            $crate::store_impl::key_cols!(),
                            ") SELECT $1, $2, $3, $4, $5, $6, $7 \
                             WHERE NOT EXISTS (SELECT 1 FROM signing_keys WHERE alg = $2 AND retired_at IS NULL)"
                        ))
                        .bind(&k.kid)
                        .bind(k.alg.as_str())
                        .bind(&k.public_jwk)
                        .bind(k.private_enc.as_slice())
                        .bind(ts(k.created_at))
                        .bind(ts(k.activates_at))
                        .bind(ts_opt(k.retired_at))
                        .execute(&mut *tx)
                        .await
                        .map_err(map_err)?;
                        inserted += done.rows_affected();
                    }
                    tx.commit().await.map_err(map_err)?;
                    Ok(inserted)
                }
            }

            #[async_trait]
            impl SessionRecordStore for $store {
                async fn session_create(&self, s: &SessionRecord) -> StoreResult<bool> {
                    let done = sqlx::query(concat!(
                        "INSERT INTO sessions (",
                        $crate::store_impl::session_cols!(),
                        ") VALUES ($1, $2, $3, $4, $5) ON CONFLICT (id_hash) DO NOTHING"
                    ))
                    .bind(s.id_hash.as_slice())
                    .bind(s.user_id)
                    .bind(s.epoch)
                    .bind(s.data.as_slice())
                    .bind(ts(s.expires_at))
                    .execute(&self.pool)
                    .await
                    .map_err(map_err)?;
                    Ok(done.rows_affected() > 0)
                }

                async fn session_save(&self, s: &SessionRecord) -> StoreResult<()> {
                    // Update only: a session deleted while this request was in flight (logout,
                    // "end this session", a password change) stays deleted. The epoch only
                    // moves forward, so a stale copy of the data cannot void a renewed session.
                    sqlx::query(
                        "UPDATE sessions SET user_id = $2, data = $3, expires_at = $4, \
                         epoch = CASE WHEN epoch > $5 THEN epoch ELSE $5 END WHERE id_hash = $1",
                    )
                    .bind(s.id_hash.as_slice())
                    .bind(s.user_id)
                    .bind(s.data.as_slice())
                    .bind(ts(s.expires_at))
                    .bind(s.epoch)
                    .execute(&self.pool)
                    .await
                    .map_err(map_err)?;
                    Ok(())
                }

                async fn session_load(&self, id_hash: &[u8], now: DateTime<Utc>) -> StoreResult<Option<SessionRecord>> {
                    let row = sqlx::query_as::<_, SessionRow>(concat!(
                        "SELECT ",
                        $crate::store_impl::session_cols!(),
                        " FROM sessions WHERE id_hash = $1 AND expires_at > $2 AND ",
                        $crate::store_impl::session_current!()
                    ))
                    .bind(id_hash)
                    .bind(ts(now))
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(map_err)?;
                    Ok(row.map(SessionRecord::from))
                }

                async fn count_sessions(&self, now: DateTime<Utc>) -> StoreResult<u64> {
                    let row = sqlx::query_as::<_, CountRow>(
                        "SELECT COUNT(*) AS n FROM sessions WHERE expires_at > $1",
                    )
                    .bind(ts(now))
                    .fetch_one(&self.pool)
                    .await
                    .map_err(map_err)?;
                    count(row.n)
                }

                async fn session_delete(&self, id_hash: &[u8]) -> StoreResult<()> {
                    sqlx::query("DELETE FROM sessions WHERE id_hash = $1").bind(id_hash).execute(&self.pool).await.map_err(map_err)?;
                    Ok(())
                }

                async fn sessions_for_user(&self, user_id: Uuid, now: DateTime<Utc>) -> StoreResult<Vec<SessionRecord>> {
                    let rows = sqlx::query_as::<_, SessionRow>(concat!(
                        "SELECT ",
                        $crate::store_impl::session_cols!(),
                        " FROM sessions WHERE user_id = $1 AND expires_at > $2 AND ",
                        $crate::store_impl::session_current!(),
                        " ORDER BY expires_at DESC, id_hash"
                    ))
                    .bind(user_id)
                    .bind(ts(now))
                    .fetch_all(&self.pool)
                    .await
                    .map_err(map_err)?;
                    Ok(rows.into_iter().map(SessionRecord::from).collect())
                }

                async fn end_user_sessions(
                    &self,
                    user_id: Uuid,
                    keep: Option<&[u8]>,
                ) -> StoreResult<Option<EndedSessions>> {
                    let mut tx = self.begin_write().await.map_err(map_err)?;
                    let epoch = sqlx::query_as::<_, EpochRow>(
                        "UPDATE users SET session_epoch = session_epoch + 1 WHERE id = $1 \
                         RETURNING session_epoch",
                    )
                    .bind(user_id)
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(map_err)?;
                    let Some(EpochRow { session_epoch: epoch }) = epoch else {
                        return Ok(None);
                    };
                    let done = sqlx::query(
                        "DELETE FROM sessions WHERE user_id = $1 AND ($2 IS NULL OR id_hash <> $2)",
                    )
                    .bind(user_id)
                    .bind(keep)
                    .execute(&mut *tx)
                    .await
                    .map_err(map_err)?;
                    if let Some(keep) = keep {
                        sqlx::query("UPDATE sessions SET epoch = $2 WHERE id_hash = $1 AND user_id = $3")
                            .bind(keep)
                            .bind(epoch)
                            .bind(user_id)
                            .execute(&mut *tx)
                            .await
                            .map_err(map_err)?;
                    }
                    tx.commit().await.map_err(map_err)?;
                    Ok(Some(EndedSessions {
                        epoch,
                        ended: done.rows_affected(),
                    }))
                }
            }

            #[async_trait]
            impl MfaStore for $store {
                async fn get_totp(&self, user_id: Uuid) -> StoreResult<Option<TotpCredential>> {
                    let row = sqlx::query_as::<_, TotpRow>(concat!("SELECT ", $crate::store_impl::totp_cols!(), " FROM totp_credentials WHERE user_id = $1"))
                        .bind(user_id)
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(map_err)?;
                    Ok(row.map(TotpCredential::from))
                }

                async fn enable_totp(&self, cred: &TotpCredential, backup_code_hashes: &[Vec<u8>]) -> StoreResult<()> {
                    let mut tx = self.begin_write().await.map_err(map_err)?;
                    // A second confirmation collides on the primary key (`Conflict`); an unknown
                    // user fails the foreign key (`Conflict` too). Either way nothing is written.
                    sqlx::query(concat!("INSERT INTO totp_credentials (", $crate::store_impl::totp_cols!(), ") VALUES ($1, $2, $3, $4)"))
                        .bind(cred.user_id)
                        .bind(cred.secret_enc.as_slice())
                        .bind(cred.last_step)
                        .bind(ts(cred.created_at))
                        .execute(&mut *tx)
                        .await
                        .map_err(map_err)?;
                    sqlx::query("DELETE FROM backup_codes WHERE user_id = $1").bind(cred.user_id).execute(&mut *tx).await.map_err(map_err)?;
                    for h in backup_code_hashes {
                        sqlx::query("INSERT INTO backup_codes (user_id, code_hash, created_at, used_at) VALUES ($1, $2, $3, NULL)")
                            .bind(cred.user_id)
                            .bind(h.as_slice())
                            .bind(ts(cred.created_at))
                            .execute(&mut *tx)
                            .await
                            .map_err(map_err)?;
                    }
                    tx.commit().await.map_err(map_err)
                }

                async fn disable_totp(&self, user_id: Uuid) -> StoreResult<bool> {
                    let mut tx = self.begin_write().await.map_err(map_err)?;
                    let done = sqlx::query("DELETE FROM totp_credentials WHERE user_id = $1").bind(user_id).execute(&mut *tx).await.map_err(map_err)?;
                    sqlx::query("DELETE FROM backup_codes WHERE user_id = $1").bind(user_id).execute(&mut *tx).await.map_err(map_err)?;
                    tx.commit().await.map_err(map_err)?;
                    Ok(done.rows_affected() > 0)
                }

                async fn accept_totp_step(&self, user_id: Uuid, step: i64) -> StoreResult<bool> {
                    // One statement: of two concurrent submissions of one step exactly one moves
                    // last_step (PostgreSQL re-checks the WHERE after waiting on the row lock).
                    let done = sqlx::query("UPDATE totp_credentials SET last_step = $2 WHERE user_id = $1 AND (last_step IS NULL OR last_step < $2)")
                        .bind(user_id)
                        .bind(step)
                        .execute(&self.pool)
                        .await
                        .map_err(map_err)?;
                    Ok(done.rows_affected() == 1)
                }

                async fn list_totp(&self) -> StoreResult<Vec<TotpCredential>> {
                    let rows = sqlx::query_as::<_, TotpRow>(concat!("SELECT ", $crate::store_impl::totp_cols!(), " FROM totp_credentials ORDER BY user_id"))
                        .fetch_all(&self.pool)
                        .await
                        .map_err(map_err)?;
                    Ok(rows.into_iter().map(TotpCredential::from).collect())
                }

                async fn set_totp_secret(&self, user_id: Uuid, old: &[u8], new: &[u8]) -> StoreResult<bool> {
                    let done = sqlx::query("UPDATE totp_credentials SET secret_enc = $3 WHERE user_id = $1 AND secret_enc = $2")
                        .bind(user_id)
                        .bind(old)
                        .bind(new)
                        .execute(&self.pool)
                        .await
                        .map_err(map_err)?;
                    Ok(done.rows_affected() == 1)
                }

                async fn replace_backup_codes(&self, user_id: Uuid, hashes: &[Vec<u8>], now: DateTime<Utc>) -> StoreResult<()> {
                    let mut tx = self.begin_write().await.map_err(map_err)?;
                    sqlx::query("DELETE FROM backup_codes WHERE user_id = $1").bind(user_id).execute(&mut *tx).await.map_err(map_err)?;
                    for h in hashes {
                        sqlx::query("INSERT INTO backup_codes (user_id, code_hash, created_at, used_at) VALUES ($1, $2, $3, NULL)")
                            .bind(user_id)
                            .bind(h.as_slice())
                            .bind(ts(now))
                            .execute(&mut *tx)
                            .await
                            .map_err(map_err)?;
                    }
                    tx.commit().await.map_err(map_err)
                }

                async fn redeem_backup_code(&self, user_id: Uuid, hash: &[u8], now: DateTime<Utc>) -> StoreResult<Option<u64>> {
                    // The guarded UPDATE is what makes the code single-use; the transaction only
                    // makes the count describe the state right after this redemption.
                    let mut tx = self.begin_write().await.map_err(map_err)?;
                    let done = sqlx::query("UPDATE backup_codes SET used_at = $3 WHERE user_id = $1 AND code_hash = $2 AND used_at IS NULL")
                        .bind(user_id)
                        .bind(hash)
                        .bind(ts(now))
                        .execute(&mut *tx)
                        .await
                        .map_err(map_err)?;
                    if done.rows_affected() != 1 {
                        // Nothing written; dropping `tx` rolls back.
                        return Ok(None);
                    }
                    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM backup_codes WHERE user_id = $1 AND used_at IS NULL")
                        .bind(user_id)
                        .fetch_one(&mut *tx)
                        .await
                        .map_err(map_err)?;
                    tx.commit().await.map_err(map_err)?;
                    Ok(Some(count(n)?))
                }

                async fn backup_codes_remaining(&self, user_id: Uuid) -> StoreResult<u64> {
                    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM backup_codes WHERE user_id = $1 AND used_at IS NULL")
                        .bind(user_id)
                        .fetch_one(&self.pool)
                        .await
                        .map_err(map_err)?;
                    count(n)
                }
            }

            #[async_trait]
            impl ThrottleStore for $store {
                async fn record_failure(&self, subject: &str, at: DateTime<Utc>) -> StoreResult<i64> {
                    let (id,): (i64,) = sqlx::query_as("INSERT INTO auth_failures (subject, at) VALUES ($1, $2) RETURNING id")
                        .bind(subject)
                        .bind(ts(at))
                        .fetch_one(&self.pool)
                        .await
                        .map_err(map_err)?;
                    Ok(id)
                }

                async fn delete_failure(&self, id: i64) -> StoreResult<()> {
                    sqlx::query("DELETE FROM auth_failures WHERE id = $1").bind(id).execute(&self.pool).await.map_err(map_err)?;
                    Ok(())
                }

                async fn count_failures(&self, subject: &str, since: DateTime<Utc>, before_id: Option<i64>) -> StoreResult<FailureCount> {
                    // An aggregate without GROUP BY always yields one row (0 and NULL when empty).
                    let row = sqlx::query_as::<_, FailureRow>(
                        "SELECT COUNT(*) AS n, MAX(at) AS last_at FROM auth_failures WHERE subject = $1 AND at >= $2 AND id < $3",
                    )
                        .bind(subject)
                        .bind(ts(since))
                        .bind(before_id.unwrap_or(i64::MAX))
                        .fetch_one(&self.pool)
                        .await
                        .map_err(map_err)?;
                    FailureCount::try_from(row)
                }

                async fn clear_failures(&self, subject: &str) -> StoreResult<u64> {
                    let done = sqlx::query("DELETE FROM auth_failures WHERE subject = $1").bind(subject).execute(&self.pool).await.map_err(map_err)?;
                    Ok(done.rows_affected())
                }
            }

            // Lists are sorted in Rust, by bytes: `ORDER BY` on TEXT follows the database's
            // collation on PostgreSQL (often a linguistic one such as en_US) but compares bytes on
            // SQLite, and names are case-sensitive, so this is how both backends agree.
            #[async_trait]
            impl GroupStore for $store {
                async fn add_to_group(&self, user_id: Uuid, group: &str) -> StoreResult<bool> {
                    let done = sqlx::query("INSERT INTO user_groups (user_id, group_name) VALUES ($1, $2) ON CONFLICT (user_id, group_name) DO NOTHING")
                        .bind(user_id)
                        .bind(group)
                        .execute(&self.pool)
                        .await
                        .map_err(map_err)?;
                    Ok(done.rows_affected() == 1)
                }

                async fn remove_from_group(&self, user_id: Uuid, group: &str) -> StoreResult<bool> {
                    let done = sqlx::query("DELETE FROM user_groups WHERE user_id = $1 AND group_name = $2")
                        .bind(user_id)
                        .bind(group)
                        .execute(&self.pool)
                        .await
                        .map_err(map_err)?;
                    Ok(done.rows_affected() > 0)
                }

                async fn user_groups(&self, user_id: Uuid) -> StoreResult<Vec<String>> {
                    let mut names: Vec<String> = sqlx::query_scalar("SELECT group_name FROM user_groups WHERE user_id = $1")
                        .bind(user_id)
                        .fetch_all(&self.pool)
                        .await
                        .map_err(map_err)?;
                    names.sort_unstable();
                    Ok(names)
                }

                async fn list_groups(&self) -> StoreResult<Vec<(String, u64)>> {
                    let rows = sqlx::query_as::<_, GroupCountRow>("SELECT group_name, COUNT(*) AS members FROM user_groups GROUP BY group_name")
                        .fetch_all(&self.pool)
                        .await
                        .map_err(map_err)?;
                    let mut groups = rows.into_iter().map(|r| Ok((r.group_name, count(r.members)?))).collect::<StoreResult<Vec<_>>>()?;
                    groups.sort_unstable();
                    Ok(groups)
                }

                async fn group_members(&self, group: &str) -> StoreResult<Vec<User>> {
                    let rows = sqlx::query_as::<_, UserRow>(concat!(
                        "SELECT ",
                        $crate::store_impl::user_cols!(),
                        " FROM users WHERE id IN (SELECT user_id FROM user_groups WHERE group_name = $1)"
                    ))
                    .bind(group)
                    .fetch_all(&self.pool)
                    .await
                    .map_err(map_err)?;
                    let mut users: Vec<User> = rows.into_iter().map(User::from).collect();
                    // Usernames are unique, so this order is total.
                    users.sort_unstable_by(|a, b| a.username.cmp(&b.username));
                    Ok(users)
                }
            }

            // Lists are sorted in Rust by bytes, as for groups: upstream names and subjects are
            // case-sensitive identifiers and must sort the same way on both backends.
            #[async_trait]
            impl FederationStore for $store {
                async fn get_identity(&self, upstream: &str, subject: &str) -> StoreResult<Option<FederatedIdentity>> {
                    let row = sqlx::query_as::<_, IdentityRow>(concat!(
                        "SELECT ",
                        $crate::store_impl::identity_cols!(),
                        " FROM federated_identities WHERE upstream = $1 AND subject = $2"
                    ))
                    .bind(upstream)
                    .bind(subject)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(map_err)?;
                    Ok(row.map(FederatedIdentity::from))
                }

                async fn link_identity(&self, identity: &FederatedIdentity) -> StoreResult<()> {
                    // A linked pair collides on the primary key (`Conflict`), whoever it is linked
                    // to; an unknown user fails the foreign key (`Conflict` too).
                    $crate::store_impl::insert_identity!(identity).execute(&self.pool).await.map_err(map_err)?;
                    Ok(())
                }

                async fn create_user_with_identity(&self, user: &User, identity: &FederatedIdentity) -> StoreResult<()> {
                    // A taken username or an already linked identity fails its statement with
                    // `Conflict`; returning early drops `tx`, which rolls back, so nothing is written.
                    let mut tx = self.begin_write().await.map_err(map_err)?;
                    $crate::store_impl::insert_user!(user).execute(&mut *tx).await.map_err(map_err)?;
                    $crate::store_impl::insert_identity!(identity).execute(&mut *tx).await.map_err(map_err)?;
                    tx.commit().await.map_err(map_err)
                }

                async fn touch_identity(&self, upstream: &str, subject: &str, email: Option<&str>, at: DateTime<Utc>) -> StoreResult<bool> {
                    let done = sqlx::query("UPDATE federated_identities SET last_login_at = $3, email = $4 WHERE upstream = $1 AND subject = $2")
                        .bind(upstream)
                        .bind(subject)
                        .bind(ts(at))
                        .bind(email)
                        .execute(&self.pool)
                        .await
                        .map_err(map_err)?;
                    Ok(done.rows_affected() == 1)
                }

                async fn list_identities(&self, user_id: Uuid) -> StoreResult<Vec<FederatedIdentity>> {
                    let rows = sqlx::query_as::<_, IdentityRow>(concat!(
                        "SELECT ",
                        $crate::store_impl::identity_cols!(),
                        " FROM federated_identities WHERE user_id = $1"
                    ))
                    .bind(user_id)
                    .fetch_all(&self.pool)
                    .await
                    .map_err(map_err)?;
                    let mut identities: Vec<FederatedIdentity> = rows.into_iter().map(FederatedIdentity::from).collect();
                    // (upstream, subject) is the primary key, so this order is total.
                    identities.sort_unstable_by(|a, b| (&a.upstream, &a.subject).cmp(&(&b.upstream, &b.subject)));
                    Ok(identities)
                }

                async fn unlink_identity(&self, user_id: Uuid, upstream: &str, subject: &str) -> StoreResult<bool> {
                    let done = sqlx::query("DELETE FROM federated_identities WHERE user_id = $1 AND upstream = $2 AND subject = $3")
                        .bind(user_id)
                        .bind(upstream)
                        .bind(subject)
                        .execute(&self.pool)
                        .await
                        .map_err(map_err)?;
                    Ok(done.rows_affected() == 1)
                }

                /// Served by the `users_email_lower` expression index. Case folding is the
                /// database's `lower()`: PostgreSQL folds per the database's locale (Unicode under
                /// a UTF-8 one), SQLite's built-in `lower()` folds ASCII letters only, so
                /// non-ASCII addresses match case-insensitively on PostgreSQL but only exactly on
                /// SQLite.
                async fn find_users_by_email(&self, email: &str) -> StoreResult<Vec<User>> {
                    let rows = sqlx::query_as::<_, UserRow>(concat!(
                        "SELECT ",
                        $crate::store_impl::user_cols!(),
                        " FROM users WHERE lower(email) = lower($1)"
                    ))
                    .bind(email)
                    .fetch_all(&self.pool)
                    .await
                    .map_err(map_err)?;
                    let mut users: Vec<User> = rows.into_iter().map(User::from).collect();
                    // Usernames are unique, so this order is total.
                    users.sort_unstable_by(|a, b| a.username.cmp(&b.username));
                    Ok(users)
                }
            }

            #[async_trait]
            impl AuditStore for $store {
                async fn audit(&self, e: &AuditEvent) -> StoreResult<()> {
                    sqlx::query(concat!("INSERT INTO audit_events (", $crate::store_impl::audit_cols!(), ") VALUES ($1, $2, $3, $4, $5, $6, $7)"))
                        .bind(e.id)
                        .bind(ts(e.at))
                        .bind(&e.kind)
                        .bind(e.user_id)
                        .bind(e.client_id.as_deref())
                        .bind(e.ip.as_deref())
                        .bind(Json(&e.detail))
                        .execute(&self.pool)
                        .await
                        .map_err(map_err)?;
                    Ok(())
                }

                async fn list_audit(&self, f: &AuditFilter) -> StoreResult<Vec<AuditEvent>> {
                    let limit = if f.limit <= 0 { 100 } else { f.limit };
                    let rows = sqlx::query_as::<_, AuditRow>(concat!(
                        "SELECT ",
                        $crate::store_impl::audit_cols!(),
                        " FROM audit_events \
                         WHERE ($1 IS NULL OR user_id = $1) AND ($2 IS NULL OR kind = $2) AND ($3 IS NULL OR at >= $3) \
                         ORDER BY at DESC, id DESC LIMIT $4"
                    ))
                    .bind(f.user_id)
                    .bind(f.kind.as_deref())
                    .bind(ts_opt(f.since))
                    .bind(limit)
                    .fetch_all(&self.pool)
                    .await
                    .map_err(map_err)?;
                    Ok(rows.into_iter().map(AuditEvent::from).collect())
                }

                async fn purge_audit(&self, before: DateTime<Utc>) -> StoreResult<u64> {
                    let done = sqlx::query("DELETE FROM audit_events WHERE at < $1")
                        .bind(ts(before))
                        .execute(&self.pool)
                        .await
                        .map_err(map_err)?;
                    Ok(done.rows_affected())
                }
            }

            #[async_trait]
            impl Maintenance for $store {
                async fn ping(&self) -> StoreResult<()> {
                    sqlx::query("SELECT 1").execute(&self.pool).await.map_err(map_err)?;
                    Ok(())
                }

                /// Separate autocommit statements: each is atomic, and none holds the write
                /// lock (SQLite) longer than its own delete.
                async fn purge_expired(&self, now: DateTime<Utc>) -> StoreResult<PurgeReport> {
                    let now = ts(now);
                    let codes = sqlx::query("DELETE FROM auth_codes WHERE expires_at < $1").bind(now).execute(&self.pool).await.map_err(map_err)?;
                    let sessions = sqlx::query("DELETE FROM sessions WHERE expires_at <= $1").bind(now).execute(&self.pool).await.map_err(map_err)?;
                    let refresh_tokens =
                        sqlx::query("DELETE FROM refresh_tokens WHERE expires_at < $1").bind(now).execute(&self.pool).await.map_err(map_err)?;
                    // A grant's expires_at is its hard end, after every token it issued; revoked
                    // grants are kept until then too, so a reused token still finds its grant.
                    let grants = sqlx::query("DELETE FROM grants WHERE expires_at < $1").bind(now).execute(&self.pool).await.map_err(map_err)?;
                    // No throttling window is longer than a day.
                    let auth_failures = sqlx::query("DELETE FROM auth_failures WHERE at < $1")
                        .bind(ts(now - ::chrono::Duration::days(1)))
                        .execute(&self.pool)
                        .await
                        .map_err(map_err)?;
                    let client_assertions = sqlx::query("DELETE FROM client_assertions WHERE expires_at < $1")
                        .bind(now)
                        .execute(&self.pool)
                        .await
                        .map_err(map_err)?;
                    Ok(PurgeReport {
                        codes: codes.rows_affected(),
                        refresh_tokens: refresh_tokens.rows_affected(),
                        grants: grants.rows_affected(),
                        sessions: sessions.rows_affected(),
                        auth_failures: auth_failures.rows_affected(),
                        client_assertions: client_assertions.rows_affected(),
                    })
                }

                fn backend(&self) -> &'static str {
                    Self::BACKEND
                }
            }
        };
    };
}

pub(crate) use impl_store;
pub(crate) use {
    audit_cols, code_cols, grant_cols, identity_cols, insert_identity, insert_user, key_cols,
    refresh_cols, session_cols, session_current, totp_cols, user_cols,
};
