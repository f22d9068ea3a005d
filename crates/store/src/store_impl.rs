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
         phone_number_verified, address, password_hash, disabled, created_at, updated_at"
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
        "token_hash, grant_id, created_at, expires_at, used_at"
    };
}

macro_rules! key_cols {
    () => {
        "kid, alg, public_jwk, private_enc, created_at, activates_at, retired_at"
    };
}

macro_rules! session_cols {
    () => {
        "id_hash, user_id, data, expires_at"
    };
}

macro_rules! audit_cols {
    () => {
        "id, at, kind, user_id, client_id, ip, detail"
    };
}

macro_rules! impl_store {
    ($store:ident) => {
        const _: () = {
            use ::async_trait::async_trait;
            use ::chrono::{DateTime, Utc};
            use ::lanyard_core::model::{
                AuditEvent, AuditFilter, AuthCode, Client, Consent, Grant, ProfileUpdate, PurgeReport, Redeemed, RefreshToken, SessionRecord,
                SigningKeyRecord, User,
            };
            use ::lanyard_core::store::{
                AuditStore, ClientStore, GrantStore, KeyStore, Maintenance, SessionRecordStore, StoreError, StoreResult, UserStore,
            };
            use ::sqlx::types::Json;
            use ::uuid::Uuid;

            use $crate::error::map_err;
            use $crate::rows::{
                join_list, ts, ts_opt, AuditRow, ClientRow, CodeRow, ConsentRow, GrantIdRow, GrantRow, KeyRow, RefreshRow, SessionRow, UserRow,
            };

            #[async_trait]
            impl UserStore for $store {
                async fn create_user(&self, u: &User) -> StoreResult<()> {
                    sqlx::query(concat!(
                        "INSERT INTO users (",
                        $crate::store_impl::user_cols!(),
                        ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)"
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
                    .bind(ts(u.created_at))
                    .bind(ts(u.updated_at))
                    .execute(&self.pool)
                    .await
                    .map_err(map_err)?;
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
                    .bind(c.claims.as_deref())
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
                    .bind(g.claims.as_deref())
                    .bind(ts(g.created_at))
                    .bind(ts(g.expires_at))
                    .bind(ts_opt(g.revoked_at))
                    .execute(&mut *tx)
                    .await
                    .map_err(map_err)?;
                    if let Some(r) = refresh {
                        sqlx::query(concat!("INSERT INTO refresh_tokens (", $crate::store_impl::refresh_cols!(), ") VALUES ($1, $2, $3, $4, $5)"))
                            .bind(r.token_hash.as_slice())
                            .bind(r.grant_id)
                            .bind(ts(r.created_at))
                            .bind(ts(r.expires_at))
                            .bind(ts_opt(r.used_at))
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

                async fn rotate_refresh(&self, old_hash: &[u8], new: &RefreshToken, now: DateTime<Utc>) -> StoreResult<Redeemed<()>> {
                    let mut tx = self.begin_write().await.map_err(map_err)?;
                    let marked = sqlx::query_as::<_, GrantIdRow>(
                        "UPDATE refresh_tokens SET used_at = $2 WHERE token_hash = $1 AND used_at IS NULL RETURNING grant_id",
                    )
                    .bind(old_hash)
                    .bind(ts(now))
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
                    sqlx::query(concat!("INSERT INTO refresh_tokens (", $crate::store_impl::refresh_cols!(), ") VALUES ($1, $2, $3, $4, $5)"))
                        .bind(new.token_hash.as_slice())
                        .bind(new.grant_id)
                        .bind(ts(new.created_at))
                        .bind(ts(new.expires_at))
                        .bind(ts_opt(new.used_at))
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
                        ") VALUES ($1, $2, $3, $4) ON CONFLICT (id_hash) DO NOTHING"
                    ))
                    .bind(s.id_hash.as_slice())
                    .bind(s.user_id)
                    .bind(s.data.as_slice())
                    .bind(ts(s.expires_at))
                    .execute(&self.pool)
                    .await
                    .map_err(map_err)?;
                    Ok(done.rows_affected() > 0)
                }

                async fn session_save(&self, s: &SessionRecord) -> StoreResult<()> {
                    sqlx::query(concat!(
                        "INSERT INTO sessions (",
                        $crate::store_impl::session_cols!(),
                        ") VALUES ($1, $2, $3, $4) \
                         ON CONFLICT (id_hash) DO UPDATE SET user_id = excluded.user_id, data = excluded.data, expires_at = excluded.expires_at"
                    ))
                    .bind(s.id_hash.as_slice())
                    .bind(s.user_id)
                    .bind(s.data.as_slice())
                    .bind(ts(s.expires_at))
                    .execute(&self.pool)
                    .await
                    .map_err(map_err)?;
                    Ok(())
                }

                async fn session_load(&self, id_hash: &[u8], now: DateTime<Utc>) -> StoreResult<Option<SessionRecord>> {
                    let row = sqlx::query_as::<_, SessionRow>(concat!(
                        "SELECT ",
                        $crate::store_impl::session_cols!(),
                        " FROM sessions WHERE id_hash = $1 AND expires_at > $2"
                    ))
                    .bind(id_hash)
                    .bind(ts(now))
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(map_err)?;
                    Ok(row.map(SessionRecord::from))
                }

                async fn session_delete(&self, id_hash: &[u8]) -> StoreResult<()> {
                    sqlx::query("DELETE FROM sessions WHERE id_hash = $1").bind(id_hash).execute(&self.pool).await.map_err(map_err)?;
                    Ok(())
                }

                async fn sessions_for_user(&self, user_id: Uuid, now: DateTime<Utc>) -> StoreResult<Vec<SessionRecord>> {
                    let rows = sqlx::query_as::<_, SessionRow>(concat!(
                        "SELECT ",
                        $crate::store_impl::session_cols!(),
                        " FROM sessions WHERE user_id = $1 AND expires_at > $2 ORDER BY expires_at DESC, id_hash"
                    ))
                    .bind(user_id)
                    .bind(ts(now))
                    .fetch_all(&self.pool)
                    .await
                    .map_err(map_err)?;
                    Ok(rows.into_iter().map(SessionRecord::from).collect())
                }

                async fn delete_user_sessions(&self, user_id: Uuid, keep: Option<&[u8]>) -> StoreResult<u64> {
                    let done = sqlx::query("DELETE FROM sessions WHERE user_id = $1 AND ($2 IS NULL OR id_hash <> $2)")
                        .bind(user_id)
                        .bind(keep)
                        .execute(&self.pool)
                        .await
                        .map_err(map_err)?;
                    Ok(done.rows_affected())
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
                    Ok(PurgeReport {
                        codes: codes.rows_affected(),
                        refresh_tokens: refresh_tokens.rows_affected(),
                        grants: grants.rows_affected(),
                        sessions: sessions.rows_affected(),
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
    audit_cols, code_cols, grant_cols, key_cols, refresh_cols, session_cols, user_cols,
};
