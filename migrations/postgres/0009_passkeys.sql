-- Passkeys (WebAuthn credentials), postgres. Forward-only: never edit an applied migration.
-- Keep in step with the other backend's 0009_passkeys.sql.

-- The WebAuthn user handle of an account: random, never the user id or the username
-- (WebAuthn L3 14.6.1: the handle must not identify the user), made on the first registration.
CREATE TABLE webauthn_handles (
    user_id UUID NOT NULL PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    handle  UUID NOT NULL UNIQUE
);

-- One registered credential. `credential` is webauthn-rs's Passkey as JSON (credential id,
-- COSE public key, counter, flags); the columns beside it are what pages, the CLI and the
-- counter check read without parsing it. A credential id belongs to one account only.
CREATE TABLE passkeys (
    id              UUID NOT NULL PRIMARY KEY,
    user_id         UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    credential_id   BYTEA NOT NULL UNIQUE,
    name            TEXT NOT NULL,
    credential      TEXT NOT NULL,
    counter         BIGINT NOT NULL,
    backup_eligible BOOLEAN NOT NULL,
    backup_state    BOOLEAN NOT NULL,
    aaguid          UUID,
    created_at      TIMESTAMPTZ NOT NULL,
    last_used_at    TIMESTAMPTZ
);
CREATE INDEX passkeys_user_id ON passkeys (user_id);
