-- Lanyard schema, PostgreSQL. Forward-only: never edit an applied migration, add a new one.
-- Keep in step with migrations/sqlite/0001_init.sql (same tables, columns and indexes).
-- Lists of tokens (scopes, amr) are stored space-separated in TEXT on both backends.

CREATE TABLE users (
    id                    UUID        PRIMARY KEY,
    username              TEXT        NOT NULL UNIQUE,
    email                 TEXT,
    email_verified        BOOLEAN     NOT NULL DEFAULT FALSE,
    name                  TEXT,
    given_name            TEXT,
    family_name           TEXT,
    phone_number          TEXT,
    phone_number_verified BOOLEAN     NOT NULL DEFAULT FALSE,
    address               TEXT,
    password_hash         TEXT,
    disabled              BOOLEAN     NOT NULL DEFAULT FALSE,
    created_at            TIMESTAMPTZ NOT NULL,
    updated_at            TIMESTAMPTZ NOT NULL
);

-- Everything of `Client` except client_id and secret_hash lives in `metadata` (serde JSON).
CREATE TABLE clients (
    client_id   TEXT  PRIMARY KEY,
    secret_hash BYTEA,
    metadata    JSONB NOT NULL
);

CREATE TABLE grants (
    id         UUID        PRIMARY KEY,
    client_id  TEXT        NOT NULL,
    user_id    UUID        REFERENCES users (id) ON DELETE CASCADE,
    scopes     TEXT        NOT NULL,
    sid        TEXT,
    auth_time  TIMESTAMPTZ,
    amr        TEXT        NOT NULL,
    acr        TEXT,
    nonce      TEXT,
    claims     TEXT,
    created_at TIMESTAMPTZ NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL,
    revoked_at TIMESTAMPTZ
);
CREATE INDEX grants_user_id ON grants (user_id);
CREATE INDEX grants_expires_at ON grants (expires_at);

-- grant_id is the grant the code will create, so it has no foreign key.
CREATE TABLE auth_codes (
    code_hash      BYTEA       PRIMARY KEY,
    grant_id       UUID        NOT NULL,
    client_id      TEXT        NOT NULL,
    user_id        UUID        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    redirect_uri   TEXT        NOT NULL,
    code_challenge TEXT,
    nonce          TEXT,
    scopes         TEXT        NOT NULL,
    claims         TEXT,
    sid            TEXT        NOT NULL,
    auth_time      TIMESTAMPTZ NOT NULL,
    amr            TEXT        NOT NULL,
    acr            TEXT,
    created_at     TIMESTAMPTZ NOT NULL,
    expires_at     TIMESTAMPTZ NOT NULL,
    used_at        TIMESTAMPTZ
);
CREATE INDEX auth_codes_user_id ON auth_codes (user_id);
CREATE INDEX auth_codes_expires_at ON auth_codes (expires_at);

CREATE TABLE refresh_tokens (
    token_hash BYTEA       PRIMARY KEY,
    grant_id   UUID        NOT NULL REFERENCES grants (id) ON DELETE CASCADE,
    created_at TIMESTAMPTZ NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL,
    used_at    TIMESTAMPTZ
);
CREATE INDEX refresh_tokens_grant_id ON refresh_tokens (grant_id);
CREATE INDEX refresh_tokens_expires_at ON refresh_tokens (expires_at);

CREATE TABLE consents (
    user_id    UUID        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    client_id  TEXT        NOT NULL,
    scopes     TEXT        NOT NULL,
    granted_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (user_id, client_id)
);

CREATE TABLE signing_keys (
    kid          TEXT        PRIMARY KEY,
    alg          TEXT        NOT NULL,
    public_jwk   TEXT        NOT NULL,
    private_enc  BYTEA       NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL,
    activates_at TIMESTAMPTZ NOT NULL,
    retired_at   TIMESTAMPTZ
);
CREATE INDEX signing_keys_unretired_alg ON signing_keys (alg) WHERE retired_at IS NULL;

CREATE TABLE sessions (
    id_hash    BYTEA       PRIMARY KEY,
    user_id    UUID        REFERENCES users (id) ON DELETE CASCADE,
    data       BYTEA       NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX sessions_user_id ON sessions (user_id);
CREATE INDEX sessions_expires_at ON sessions (expires_at);

-- No foreign key on user_id: the audit trail outlives the user.
CREATE TABLE audit_events (
    id        UUID        PRIMARY KEY,
    at        TIMESTAMPTZ NOT NULL,
    kind      TEXT        NOT NULL,
    user_id   UUID,
    client_id TEXT,
    ip        TEXT,
    detail    JSONB       NOT NULL
);
CREATE INDEX audit_events_at ON audit_events (at);
CREATE INDEX audit_events_user_id_at ON audit_events (user_id, at);
CREATE INDEX audit_events_kind_at ON audit_events (kind, at);
