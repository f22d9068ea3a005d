-- Upstream identity federation, PostgreSQL. Forward-only: never edit an applied migration.
-- Keep in step with migrations/sqlite/0003_federation.sql (same tables, columns and indexes).

-- A login at an upstream OpenID provider linked to a local user: upstream is the configured
-- [[upstreams]] name, subject the upstream's `sub`. One pair belongs to at most one user.
-- email is what the upstream reported at the last login, for display only.
CREATE TABLE federated_identities (
    upstream      TEXT        NOT NULL,
    subject       TEXT        NOT NULL,
    user_id       UUID        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    email         TEXT,
    created_at    TIMESTAMPTZ NOT NULL,
    last_login_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (upstream, subject)
);
CREATE INDEX federated_identities_user_id ON federated_identities (user_id);

-- Case-insensitive lookup of users by email (`WHERE lower(email) = lower($1)`).
CREATE INDEX users_email_lower ON users (lower(email));
