//! Group membership (`GroupStore`).
//!
//! Lists are sorted in Rust, by bytes: `ORDER BY` on TEXT follows the database's collation on
//! PostgreSQL (often a linguistic one such as en_US) but compares bytes on SQLite, and names are
//! case-sensitive, so this is how both backends agree.
use async_trait::async_trait;
use lanyard_core::model::User;
use lanyard_core::store::{GroupStore, StoreResult};
use uuid::Uuid;

use crate::SqlStore;
use crate::pool::with_pool;
use crate::rows::{GroupCountRow, UserRow, count};
use crate::users::user_cols;

const ADD: &str = "INSERT INTO user_groups (user_id, group_name) VALUES ($1, $2) \
     ON CONFLICT (user_id, group_name) DO NOTHING";
const REMOVE: &str = "DELETE FROM user_groups WHERE user_id = $1 AND group_name = $2";
const OF_USER: &str = "SELECT group_name FROM user_groups WHERE user_id = $1";
const ALL: &str = "SELECT group_name, COUNT(*) AS members FROM user_groups GROUP BY group_name";
const MEMBERS: &str = concat!(
    "SELECT ",
    user_cols!(),
    " FROM users WHERE id IN (SELECT user_id FROM user_groups WHERE group_name = $1)"
);

#[async_trait]
impl GroupStore for SqlStore {
    async fn add_to_group(&self, user_id: Uuid, group: &str) -> StoreResult<bool> {
        let done = with_pool!(self, |pool| {
            sqlx::query(ADD)
                .bind(user_id)
                .bind(group)
                .execute(pool)
                .await
                .map(|d| d.rows_affected())
        })?;
        Ok(done == 1)
    }

    async fn remove_from_group(&self, user_id: Uuid, group: &str) -> StoreResult<bool> {
        let done = with_pool!(self, |pool| {
            sqlx::query(REMOVE)
                .bind(user_id)
                .bind(group)
                .execute(pool)
                .await
                .map(|d| d.rows_affected())
        })?;
        Ok(done > 0)
    }

    async fn user_groups(&self, user_id: Uuid) -> StoreResult<Vec<String>> {
        let mut names: Vec<String> = with_pool!(self, |pool| {
            sqlx::query_scalar(OF_USER)
                .bind(user_id)
                .fetch_all(pool)
                .await
        })?;
        names.sort_unstable();
        Ok(names)
    }

    async fn list_groups(&self) -> StoreResult<Vec<(String, u64)>> {
        let rows: Vec<GroupCountRow> =
            with_pool!(self, |pool| sqlx::query_as(ALL).fetch_all(pool).await)?;
        let mut groups = rows
            .into_iter()
            .map(|r| Ok((r.group_name, count(r.members)?)))
            .collect::<StoreResult<Vec<_>>>()?;
        groups.sort_unstable();
        Ok(groups)
    }

    async fn group_members(&self, group: &str) -> StoreResult<Vec<User>> {
        let rows: Vec<UserRow> = with_pool!(self, |pool| {
            sqlx::query_as(MEMBERS).bind(group).fetch_all(pool).await
        })?;
        let mut users: Vec<User> = rows.into_iter().map(User::from).collect();
        // Usernames are unique, so this order is total.
        users.sort_unstable_by(|a, b| a.username.cmp(&b.username));
        Ok(users)
    }
}
