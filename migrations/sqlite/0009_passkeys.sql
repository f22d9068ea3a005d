-- Passkeys (WebAuthn credentials), sqlite. Forward-only: never edit an applied migration.
-- Keep in step with the other backend's 0009_passkeys.sql.

-- The WebAuthn user handle of an account: random, never the user id or the username
-- (WebAuthn L3 14.6.1: the handle must not identify the user), made on the first registration.
CREATE TABLE webauthn_handles (
    user_id BLOB NOT NULL PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    handle  BLOB NOT NULL UNIQUE
);

-- One registered credential. `credential` is webauthn-rs's Passkey as JSON (credential id,
-- COSE public key, counter, flags); the columns beside it are what pages, the CLI and the
-- counter check read without parsing it. A credential id belongs to one account only.
CREATE TABLE passkeys (
    id              BLOB NOT NULL PRIMARY KEY,
    user_id         BLOB NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    credential_id   BLOB NOT NULL UNIQUE,
    name            TEXT NOT NULL,
    credential      TEXT NOT NULL,
    counter         INTEGER NOT NULL,
    backup_eligible INTEGER NOT NULL CHECK (backup_eligible IN (0, 1)),
    backup_state    INTEGER NOT NULL CHECK (backup_state IN (0, 1)),
    aaguid          BLOB,
    created_at      TEXT NOT NULL,
    last_used_at    TEXT
);
CREATE INDEX passkeys_user_id ON passkeys (user_id);
