//! Authorization codes, grants and refresh tokens (`GrantStore`). Single-use values are redeemed
//! with one guarded statement (`... WHERE used_at IS NULL RETURNING`), never read-then-write.
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use lanyard_core::model::{AuthCode, Grant, Redeemed, RefreshToken};
use lanyard_core::oidc::claims::ClaimsRequest;
use lanyard_core::store::{GrantStore, StoreError, StoreResult};
use uuid::Uuid;

use crate::SqlStore;
use crate::pool::{Backend, Sql, with_pool};
use crate::rows::{CodeRow, GrantIdRow, GrantRow, RefreshRow, join_list, ts, ts_opt};

macro_rules! code_cols {
    () => {
        "code_hash, grant_id, client_id, user_id, redirect_uri, code_challenge, nonce, scopes, \
         claims, sid, auth_time, amr, acr, created_at, expires_at"
    };
}

macro_rules! grant_cols {
    () => {
        "id, client_id, user_id, scopes, sid, auth_time, amr, acr, nonce, claims, created_at, \
         expires_at, revoked_at"
    };
}

macro_rules! refresh_cols {
    () => {
        "token_hash, grant_id, created_at, expires_at, used_at, successor_enc"
    };
}

const INSERT_CODE: &str = concat!(
    "INSERT INTO auth_codes (",
    code_cols!(),
    ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)"
);
const CODE_BY_HASH: &str = concat!(
    "SELECT ",
    code_cols!(),
    " FROM auth_codes WHERE code_hash = $1"
);
/// One statement: of two concurrent redemptions exactly one sees `used_at IS NULL`.
const REDEEM_CODE: &str = concat!(
    "UPDATE auth_codes SET used_at = $2 WHERE code_hash = $1 AND used_at IS NULL RETURNING ",
    code_cols!()
);
const CODE_GRANT: &str = "SELECT grant_id FROM auth_codes WHERE code_hash = $1";
const INSERT_GRANT: &str = concat!(
    "INSERT INTO grants (",
    grant_cols!(),
    ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"
);
const GRANT_BY_ID: &str = concat!("SELECT ", grant_cols!(), " FROM grants WHERE id = $1");
const REVOKE_TOKEN: &str = "INSERT INTO revoked_tokens (jti_hash, expires_at) VALUES ($1, $2) \
     ON CONFLICT (jti_hash) DO NOTHING";
const TOKEN_REVOKED: &str = "SELECT jti_hash FROM revoked_tokens WHERE jti_hash = $1";
const GRANT_ACTIVE: &str =
    "SELECT id FROM grants WHERE id = $1 AND revoked_at IS NULL AND expires_at > $2";
const INSERT_REFRESH: &str = concat!(
    "INSERT INTO refresh_tokens (",
    refresh_cols!(),
    ") VALUES ($1, $2, $3, $4, $5, $6)"
);
const REFRESH_BY_HASH: &str = concat!(
    "SELECT ",
    refresh_cols!(),
    " FROM refresh_tokens WHERE token_hash = $1"
);
const MARK_REFRESH_USED: &str = "UPDATE refresh_tokens SET used_at = $2, successor_enc = $3 \
     WHERE token_hash = $1 AND used_at IS NULL RETURNING grant_id";
const REFRESH_GRANT: &str = "SELECT grant_id FROM refresh_tokens WHERE token_hash = $1";
const REVOKE_GRANT: &str = "UPDATE grants SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL";
const CLIENTS_FOR_SID: &str = "SELECT client_id FROM grants WHERE sid = $1 \
     UNION SELECT client_id FROM auth_codes WHERE sid = $1";
const REVOKE_USER_GRANTS: &str = "UPDATE grants SET revoked_at = $2 \
     WHERE user_id = $1 AND revoked_at IS NULL AND expires_at > $2";

/// `INSERT_REFRESH` with `r` bound.
macro_rules! insert_refresh {
    ($r:expr) => {{
        let r: &RefreshToken = $r;
        sqlx::query(INSERT_REFRESH)
            .bind(r.token_hash.as_slice())
            .bind(r.grant_id)
            .bind(ts(r.created_at))
            .bind(ts(r.expires_at))
            .bind(ts_opt(r.used_at))
            .bind(r.successor_enc.as_deref())
    }};
}

/// What marking a refresh token used found.
enum Rotation {
    Rotated,
    /// The token exists but was used before: its grant.
    AlreadyUsed(Uuid),
    NotFound,
    /// The new token names another grant than the old one (a caller's bug).
    WrongGrant(Uuid),
}

#[async_trait]
impl GrantStore for SqlStore {
    async fn insert_code(&self, c: &AuthCode) -> StoreResult<()> {
        with_pool!(self, |pool| {
            sqlx::query(INSERT_CODE)
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
                .execute(pool)
                .await
                .map(|_| ())
        })
    }

    async fn find_code(&self, code_hash: &[u8]) -> StoreResult<Option<AuthCode>> {
        let row: Option<CodeRow> = with_pool!(self, |pool| {
            sqlx::query_as(CODE_BY_HASH)
                .bind(code_hash)
                .fetch_optional(pool)
                .await
        })?;
        Ok(row.map(AuthCode::from))
    }

    async fn redeem_code(
        &self,
        code_hash: &[u8],
        now: DateTime<Utc>,
    ) -> StoreResult<Redeemed<AuthCode>> {
        let (fresh, used): (Option<CodeRow>, Option<GrantIdRow>) = with_pool!(self, |pool| {
            async {
                let fresh: Option<CodeRow> = sqlx::query_as(REDEEM_CODE)
                    .bind(code_hash)
                    .bind(ts(now))
                    .fetch_optional(pool)
                    .await?;
                if fresh.is_some() {
                    return Sql::Ok((fresh, None));
                }
                let used = sqlx::query_as(CODE_GRANT)
                    .bind(code_hash)
                    .fetch_optional(pool)
                    .await?;
                Ok((None, used))
            }
            .await
        })?;
        Ok(match (fresh, used) {
            (Some(row), _) => Redeemed::Fresh(AuthCode::from(row)),
            (None, Some(r)) => Redeemed::AlreadyUsed(r.grant_id),
            (None, None) => Redeemed::NotFound,
        })
    }

    async fn create_grant(&self, g: &Grant, refresh: Option<&RefreshToken>) -> StoreResult<()> {
        with_pool!(self, |pool| {
            async {
                let mut tx = pool.begin_write().await?;
                sqlx::query(INSERT_GRANT)
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
                    .await?;
                if let Some(r) = refresh {
                    insert_refresh!(r).execute(&mut *tx).await?;
                }
                tx.commit().await
            }
            .await
        })
    }

    async fn get_grant(&self, id: Uuid) -> StoreResult<Option<Grant>> {
        let row: Option<GrantRow> = with_pool!(self, |pool| {
            sqlx::query_as(GRANT_BY_ID)
                .bind(id)
                .fetch_optional(pool)
                .await
        })?;
        Ok(row.map(Grant::from))
    }

    async fn grant_is_active(&self, id: Uuid, now: DateTime<Utc>) -> StoreResult<bool> {
        with_pool!(self, |pool| {
            sqlx::query(GRANT_ACTIVE)
                .bind(id)
                .bind(ts(now))
                .fetch_optional(pool)
                .await
                .map(|row| row.is_some())
        })
    }

    async fn revoke_token(&self, jti_hash: &[u8], expires_at: DateTime<Utc>) -> StoreResult<bool> {
        let done = with_pool!(self, |pool| {
            sqlx::query(REVOKE_TOKEN)
                .bind(jti_hash)
                .bind(ts(expires_at))
                .execute(pool)
                .await
                .map(|d| d.rows_affected())
        })?;
        Ok(done == 1)
    }

    async fn token_is_revoked(&self, jti_hash: &[u8]) -> StoreResult<bool> {
        with_pool!(self, |pool| {
            sqlx::query(TOKEN_REVOKED)
                .bind(jti_hash)
                .fetch_optional(pool)
                .await
                .map(|row| row.is_some())
        })
    }

    async fn find_refresh(&self, token_hash: &[u8]) -> StoreResult<Option<RefreshToken>> {
        let row: Option<RefreshRow> = with_pool!(self, |pool| {
            sqlx::query_as(REFRESH_BY_HASH)
                .bind(token_hash)
                .fetch_optional(pool)
                .await
        })?;
        Ok(row.map(RefreshToken::from))
    }

    async fn rotate_refresh(
        &self,
        old_hash: &[u8],
        new: &RefreshToken,
        successor_enc: Option<&[u8]>,
        now: DateTime<Utc>,
    ) -> StoreResult<Redeemed<()>> {
        let rotation = with_pool!(self, |pool| {
            async {
                let mut tx = pool.begin_write().await?;
                let marked: Option<GrantIdRow> = sqlx::query_as(MARK_REFRESH_USED)
                    .bind(old_hash)
                    .bind(ts(now))
                    .bind(successor_enc)
                    .fetch_optional(&mut *tx)
                    .await?;
                // Returning early drops `tx`, which rolls back: nothing is written.
                let Some(marked) = marked else {
                    let used: Option<GrantIdRow> = sqlx::query_as(REFRESH_GRANT)
                        .bind(old_hash)
                        .fetch_optional(&mut *tx)
                        .await?;
                    return Sql::Ok(
                        used.map_or(Rotation::NotFound, |r| Rotation::AlreadyUsed(r.grant_id)),
                    );
                };
                if marked.grant_id != new.grant_id {
                    return Ok(Rotation::WrongGrant(marked.grant_id));
                }
                insert_refresh!(new).execute(&mut *tx).await?;
                tx.commit().await?;
                Ok(Rotation::Rotated)
            }
            .await
        })?;
        match rotation {
            Rotation::Rotated => Ok(Redeemed::Fresh(())),
            Rotation::AlreadyUsed(g) => Ok(Redeemed::AlreadyUsed(g)),
            Rotation::NotFound => Ok(Redeemed::NotFound),
            Rotation::WrongGrant(g) => Err(StoreError::Conflict(format!(
                "refresh token rotation: new token names grant {} but the old one belongs to {g}",
                new.grant_id
            ))),
        }
    }

    async fn revoke_grant(&self, id: Uuid, now: DateTime<Utc>) -> StoreResult<bool> {
        let done = with_pool!(self, |pool| {
            sqlx::query(REVOKE_GRANT)
                .bind(id)
                .bind(ts(now))
                .execute(pool)
                .await
                .map(|d| d.rows_affected())
        })?;
        Ok(done > 0)
    }

    async fn clients_for_sid(&self, sid: &str) -> StoreResult<Vec<String>> {
        let rows: Vec<(String,)> = with_pool!(self, |pool| {
            sqlx::query_as(CLIENTS_FOR_SID)
                .bind(sid)
                .fetch_all(pool)
                .await
        })?;
        let mut ids: Vec<String> = rows.into_iter().map(|(c,)| c).collect();
        ids.sort();
        ids.dedup();
        Ok(ids)
    }

    async fn revoke_user_grants(&self, user_id: Uuid, now: DateTime<Utc>) -> StoreResult<u64> {
        with_pool!(self, |pool| {
            sqlx::query(REVOKE_USER_GRANTS)
                .bind(user_id)
                .bind(ts(now))
                .execute(pool)
                .await
                .map(|d| d.rows_affected())
        })
    }
}
