-- Revoked self-contained access tokens, postgres. Forward-only: never edit an applied migration.
-- Keep in step with the other backend's 0008_revoked_tokens.sql.

-- A client_credentials access token is a JWT with no grant row behind it (issuing one writes
-- nothing). Revoking it (RFC 7009) records a hash of its jti here until it would have expired;
-- introspection checks this list.
CREATE TABLE revoked_tokens (
    jti_hash   BYTEA NOT NULL PRIMARY KEY,
    expires_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX revoked_tokens_expires_at ON revoked_tokens (expires_at);
