-- Lanyard schema, SQLite. Forward-only: never edit an applied migration, add a new one.
-- Keep in step with migrations/postgres/0001_init.sql (same tables, columns and indexes).
-- Column types follow sqlx's native SQLite encodings:
--   uuid::Uuid       -> BLOB (16 bytes)
--   bool             -> INTEGER 0/1
--   DateTime<Utc>    -> TEXT, RFC 3339 in UTC ("...+00:00"); the store truncates to microseconds,
--                       so values of one column compare correctly as text
--   Json<T>          -> TEXT
-- Lists of tokens (scopes, amr) are stored space-separated in TEXT on both backends.

CREATE TABLE users (
    id                    BLOB    NOT NULL PRIMARY KEY,
    username              TEXT    NOT NULL UNIQUE,
    email                 TEXT,
    email_verified        INTEGER NOT NULL DEFAULT 0 CHECK (email_verified IN (0, 1)),
    name                  TEXT,
    given_name            TEXT,
    family_name           TEXT,
    phone_number          TEXT,
    phone_number_verified INTEGER NOT NULL DEFAULT 0 CHECK (phone_number_verified IN (0, 1)),
    address               TEXT,
    password_hash         TEXT,
    disabled              INTEGER NOT NULL DEFAULT 0 CHECK (disabled IN (0, 1)),
    created_at            TEXT    NOT NULL,
    updated_at            TEXT    NOT NULL
);

-- Everything of `Client` except client_id and secret_hash lives in `metadata` (serde JSON).
CREATE TABLE clients (
    client_id   TEXT NOT NULL PRIMARY KEY,
    secret_hash BLOB,
    metadata    TEXT NOT NULL
);

CREATE TABLE grants (
    id         BLOB NOT NULL PRIMARY KEY,
    client_id  TEXT NOT NULL,
    user_id    BLOB REFERENCES users (id) ON DELETE CASCADE,
    scopes     TEXT NOT NULL,
    sid        TEXT,
    auth_time  TEXT,
    amr        TEXT NOT NULL,
    acr        TEXT,
    nonce      TEXT,
    claims     TEXT,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    revoked_at TEXT
);
CREATE INDEX grants_user_id ON grants (user_id);
CREATE INDEX grants_expires_at ON grants (expires_at);

-- grant_id is the grant the code will create, so it has no foreign key.
CREATE TABLE auth_codes (
    code_hash      BLOB NOT NULL PRIMARY KEY,
    grant_id       BLOB NOT NULL,
    client_id      TEXT NOT NULL,
    user_id        BLOB NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    redirect_uri   TEXT NOT NULL,
    code_challenge TEXT,
    nonce          TEXT,
    scopes         TEXT NOT NULL,
    claims         TEXT,
    sid            TEXT NOT NULL,
    auth_time      TEXT NOT NULL,
    amr            TEXT NOT NULL,
    acr            TEXT,
    created_at     TEXT NOT NULL,
    expires_at     TEXT NOT NULL,
    used_at        TEXT
);
CREATE INDEX auth_codes_user_id ON auth_codes (user_id);
CREATE INDEX auth_codes_expires_at ON auth_codes (expires_at);

CREATE TABLE refresh_tokens (
    token_hash BLOB NOT NULL PRIMARY KEY,
    grant_id   BLOB NOT NULL REFERENCES grants (id) ON DELETE CASCADE,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    used_at    TEXT
);
CREATE INDEX refresh_tokens_grant_id ON refresh_tokens (grant_id);
CREATE INDEX refresh_tokens_expires_at ON refresh_tokens (expires_at);

CREATE TABLE consents (
    user_id    BLOB NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    client_id  TEXT NOT NULL,
    scopes     TEXT NOT NULL,
    granted_at TEXT NOT NULL,
    PRIMARY KEY (user_id, client_id)
);

CREATE TABLE signing_keys (
    kid          TEXT NOT NULL PRIMARY KEY,
    alg          TEXT NOT NULL,
    public_jwk   TEXT NOT NULL,
    private_enc  BLOB NOT NULL,
    created_at   TEXT NOT NULL,
    activates_at TEXT NOT NULL,
    retired_at   TEXT
);
CREATE INDEX signing_keys_unretired_alg ON signing_keys (alg) WHERE retired_at IS NULL;

CREATE TABLE sessions (
    id_hash    BLOB NOT NULL PRIMARY KEY,
    user_id    BLOB REFERENCES users (id) ON DELETE CASCADE,
    data       BLOB NOT NULL,
    expires_at TEXT NOT NULL
);
CREATE INDEX sessions_user_id ON sessions (user_id);
CREATE INDEX sessions_expires_at ON sessions (expires_at);

-- No foreign key on user_id: the audit trail outlives the user.
CREATE TABLE audit_events (
    id        BLOB NOT NULL PRIMARY KEY,
    at        TEXT NOT NULL,
    kind      TEXT NOT NULL,
    user_id   BLOB,
    client_id TEXT,
    ip        TEXT,
    detail    TEXT NOT NULL
);
CREATE INDEX audit_events_at ON audit_events (at);
CREATE INDEX audit_events_user_id_at ON audit_events (user_id, at);
CREATE INDEX audit_events_kind_at ON audit_events (kind, at);
