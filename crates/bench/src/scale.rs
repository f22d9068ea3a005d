//! `--scale N`: N more users and 5·N rows of the tables that grow with use (2·N grants, 2·N
//! browser sessions, N audit events; half of the grants and sessions already expired), seeded
//! straight in SQL with the bench users' shared password hash, so the scenarios run against a
//! database of realistic size. Then it times one purge of the expired rows.
use std::time::Instant;

use anyhow::Context;

/// SQLite: recursive CTEs; timestamps copied from a seeded user so they compare as the store's
/// own text does (year replaced for past and future).
const SQLITE: &[&str] = &[
    "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?1), \
       b AS (SELECT password_hash AS h, created_at AS t FROM users WHERE username = 'bench-0') \
     INSERT INTO users (id, username, password_hash, created_at, updated_at) \
     SELECT randomblob(16), 'scale-' || i, b.h, b.t, b.t FROM n, b",
    "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 2 * ?1), \
       b AS (SELECT created_at AS t FROM users WHERE username = 'bench-0') \
     INSERT INTO grants (id, client_id, user_id, scopes, amr, created_at, expires_at) \
     SELECT randomblob(16), 'bench', (SELECT id FROM users WHERE rowid = 1 + i % ?1), \
            'openid profile', 'pwd', b.t, \
            CASE WHEN i % 2 = 0 THEN '2000' ELSE '2099' END || substr(b.t, 5) FROM n, b",
    "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 2 * ?1), \
       b AS (SELECT created_at AS t FROM users WHERE username = 'bench-0') \
     INSERT INTO sessions (id_hash, user_id, data, expires_at) \
     SELECT randomblob(32), (SELECT id FROM users WHERE rowid = 1 + i % ?1), x'00', \
            CASE WHEN i % 2 = 0 THEN '2000' ELSE '2099' END || substr(b.t, 5) FROM n, b",
    "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?1), \
       b AS (SELECT created_at AS t FROM users WHERE username = 'bench-0') \
     INSERT INTO audit_events (id, at, kind, user_id, client_id, ip, detail) \
     SELECT randomblob(16), b.t, 'login', NULL, 'bench', '127.0.0.1', '{}' FROM n, b",
    "ANALYZE",
];

const POSTGRES: &[&str] = &[
    "INSERT INTO users (id, username, password_hash, created_at, updated_at) \
     SELECT gen_random_uuid(), 'scale-' || i, b.password_hash, now(), now() \
     FROM generate_series(1, $1) i, (SELECT password_hash FROM users WHERE username = 'bench-0') b",
    "CREATE TEMP TABLE scale_ids AS SELECT row_number() OVER () AS n, id FROM users",
    "CREATE INDEX ON scale_ids (n)",
    "INSERT INTO grants (id, client_id, user_id, scopes, amr, created_at, expires_at) \
     SELECT gen_random_uuid(), 'bench', s.id, 'openid profile', 'pwd', now(), \
            CASE WHEN i % 2 = 0 THEN now() - interval '1 day' ELSE now() + interval '30 days' END \
     FROM generate_series(1, 2 * $1) i JOIN scale_ids s ON s.n = 1 + i % $1",
    "INSERT INTO sessions (id_hash, user_id, data, expires_at) \
     SELECT decode(md5(random()::text) || md5(random()::text), 'hex'), s.id, '\\x00'::bytea, \
            CASE WHEN i % 2 = 0 THEN now() - interval '1 day' ELSE now() + interval '30 days' END \
     FROM generate_series(1, 2 * $1) i JOIN scale_ids s ON s.n = 1 + i % $1",
    "INSERT INTO audit_events (id, at, kind, user_id, client_id, ip, detail) \
     SELECT gen_random_uuid(), now(), 'login', NULL, 'bench', '127.0.0.1', '{}' \
     FROM generate_series(1, $1) i",
    "ANALYZE",
];

/// Seed `n` users and 5·n rows into the database at `url`, printing how long it took.
pub async fn seed(url: &str, n: i64) -> anyhow::Result<()> {
    let started = Instant::now();
    if url.starts_with("sqlite:") {
        let pool = sqlx::SqlitePool::connect(url).await?;
        for &sql in SQLITE {
            sqlx::query(sql)
                .bind(n)
                .execute(&pool)
                .await
                .with_context(|| format!("seeding: {sql}"))?;
        }
        pool.close().await;
    } else {
        // One connection: the temporary table lives in its session.
        let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(url).await?;
        for &sql in POSTGRES {
            let q = sqlx::query(sql);
            let q = if sql.contains("$1") { q.bind(n) } else { q };
            q.execute(&mut conn)
                .await
                .with_context(|| format!("seeding: {sql}"))?;
        }
    }
    println!(
        "seeded {n} users, {} grants, {} sessions, {n} audit events in {:.1} s",
        2 * n,
        2 * n,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
