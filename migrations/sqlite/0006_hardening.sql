-- Hardening, SQLite. Forward-only: never edit an applied migration.
-- Keep in step with migrations/postgres/0006_hardening.sql (same tables, columns and indexes).

-- Ended sessions stay ended: "end every session of this user" (password or factor change,
-- disable, reset) bumps the user's epoch in the same transaction that deletes the sessions, and a
-- session row is loaded only while its epoch is the user's current one. A request in flight
-- with an old cookie therefore cannot bring a session back, and a login that read the old
-- password hash carries the old epoch.
ALTER TABLE users ADD COLUMN session_epoch INTEGER NOT NULL DEFAULT 0;
ALTER TABLE sessions ADD COLUMN epoch INTEGER NOT NULL DEFAULT 0;

-- tokens.refresh_reuse_grace: the successor of a rotated refresh token, encrypted under a key
-- derived from the rotated token itself, so that a retry within the grace period receives the
-- same successor (and nobody without the old token can read it).
ALTER TABLE refresh_tokens ADD COLUMN successor_enc BLOB;
