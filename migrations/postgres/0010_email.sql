-- E-mail, postgres. Forward-only: never edit an applied migration.
-- Keep in step with the other backend's 0010_email.sql.

-- Mail waiting to be sent, and what became of it. `payload` is the message's template data,
-- sealed with the encryption key (it may hold a single-use link); it is emptied once the
-- message is sent or given up, so the table keeps no link after delivery.
CREATE TABLE email_outbox (
    id              UUID NOT NULL PRIMARY KEY,
    kind            TEXT NOT NULL,
    to_address      TEXT NOT NULL,
    payload         BYTEA NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TIMESTAMPTZ NOT NULL,
    created_at      TIMESTAMPTZ NOT NULL,
    sent_at         TIMESTAMPTZ,
    failed_at       TIMESTAMPTZ,
    last_error      TEXT
);
CREATE INDEX email_outbox_due ON email_outbox (next_attempt_at)
    WHERE sent_at IS NULL AND failed_at IS NULL;

-- Single-use links sent by mail: verify an address, reset a password, accept an invitation,
-- finish a sign-up. Only the SHA-256 of the token is kept. `email` is the address the link
-- was sent to (for a change of address, the new one, applied only when verified); `data` holds
-- what a sign-up needs before the account exists (username, password hash).
CREATE TABLE email_tokens (
    token_hash BYTEA NOT NULL PRIMARY KEY,
    purpose    TEXT NOT NULL,
    user_id    UUID REFERENCES users (id) ON DELETE CASCADE,
    email      TEXT NOT NULL,
    data       TEXT,
    created_at TIMESTAMPTZ NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL,
    used_at    TIMESTAMPTZ
);
CREATE INDEX email_tokens_user_id ON email_tokens (user_id);
CREATE INDEX email_tokens_expires_at ON email_tokens (expires_at);
