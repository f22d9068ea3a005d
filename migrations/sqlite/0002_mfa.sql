-- Second factors, throttling and groups, SQLite. Forward-only: never edit an applied migration.
-- Keep in step with migrations/postgres/0002_mfa.sql (same tables, columns and indexes).
-- Column types follow 0001_init.sql (UUID BLOB, timestamps RFC 3339 TEXT, bytes BLOB).

-- One TOTP authenticator per user. secret_enc is the AES-256-GCM encrypted seed; last_step is
-- the last accepted RFC 6238 time step (a code for it or an earlier one is a replay).
CREATE TABLE totp_credentials (
    user_id    BLOB    NOT NULL PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    secret_enc BLOB    NOT NULL,
    last_step  INTEGER,
    created_at TEXT    NOT NULL
);

-- Single-use backup codes, stored only as hashes.
CREATE TABLE backup_codes (
    user_id    BLOB NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    code_hash  BLOB NOT NULL,
    created_at TEXT NOT NULL,
    used_at    TEXT,
    PRIMARY KEY (user_id, code_hash)
);

-- Failed authentication attempts per subject ("user:<name>", "ip:<address>"), for throttling.
-- No foreign key: a subject need not be a user that exists.
CREATE TABLE auth_failures (
    id      INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    subject TEXT    NOT NULL,
    at      TEXT    NOT NULL
);
CREATE INDEX auth_failures_subject_at ON auth_failures (subject, at);
CREATE INDEX auth_failures_at ON auth_failures (at);

CREATE TABLE user_groups (
    user_id    BLOB NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    group_name TEXT NOT NULL,
    PRIMARY KEY (user_id, group_name)
);
CREATE INDEX user_groups_group_name ON user_groups (group_name);
