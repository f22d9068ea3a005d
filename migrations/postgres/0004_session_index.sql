-- Back-channel logout finds the clients a browser session signed in to by its sid.
-- Same statements on SQLite and PostgreSQL.
CREATE INDEX grants_sid ON grants (sid);
CREATE INDEX auth_codes_sid ON auth_codes (sid);
