-- Attempts in flight, SQLite. Forward-only: never edit an applied migration.
-- Keep in step with migrations/postgres/0007_attempts.sql.

-- A sign-in attempt is recorded *before* it is judged, so parallel guesses see each other; until
-- it is judged it is pending, not a failure. Pending attempts fill the budget of attempts that may
-- be judged at once (so a burst of guesses still cannot outrun the limit), but a correct login
-- withdraws its record and never counts: concurrent correct logins queue, they are not refused.
ALTER TABLE auth_failures ADD COLUMN pending INTEGER NOT NULL DEFAULT 0 CHECK (pending IN (0, 1));
