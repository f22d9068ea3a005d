-- private_key_jwt (RFC 7523 3, OIDC Core 9): each assertion's jti is accepted once per client
-- until the assertion expires. Only a hash of the jti is kept.
CREATE TABLE client_assertions (
    client_id  TEXT NOT NULL,
    jti_hash   BYTEA NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (client_id, jti_hash)
);
CREATE INDEX client_assertions_expires_at ON client_assertions (expires_at);
