-- Staff accounts, their server-side sessions, sign-in failures (lockout), the audit log
-- of staff actions, OpenID Connect sign-ins under way, and which account has a ticket.
-- Times are unix seconds (UTC). Secrets are stored hashed: passwords with argon2id
-- (PHC string), session and set-up tokens with SHA-256 (the raw token lives only in the
-- person's cookie or link).

CREATE TABLE staff (
    id            INTEGER PRIMARY KEY,
    email         TEXT NOT NULL UNIQUE COLLATE NOCASE,
    -- What colleagues and residents see: a first name or a role, never an email.
    name          TEXT NOT NULL,
    -- Space-separated roles: agent, editor, validator, admin (empty: waiting for an admin).
    roles         TEXT NOT NULL DEFAULT '',
    -- JSON array of the services an editor or validator works for.
    services      TEXT NOT NULL DEFAULT '[]',
    password_hash TEXT,
    oidc_issuer   TEXT,
    oidc_subject  TEXT,
    disabled_at   INTEGER,
    created_at    INTEGER NOT NULL,
    UNIQUE (oidc_issuer, oidc_subject)
);

CREATE TABLE staff_setup (
    token_hash TEXT PRIMARY KEY,
    staff      INTEGER NOT NULL REFERENCES staff (id) ON DELETE CASCADE,
    expires_at INTEGER NOT NULL
);

CREATE TABLE staff_sessions (
    token_hash TEXT PRIMARY KEY,
    staff      INTEGER NOT NULL REFERENCES staff (id) ON DELETE CASCADE,
    csrf       TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    last_seen  INTEGER NOT NULL
);
CREATE INDEX staff_sessions_by_staff ON staff_sessions (staff);

-- One row per failed sign-in: key is 'account:<email>' or 'address:<keyed hash>'.
CREATE TABLE signin_failures (
    key TEXT NOT NULL,
    at  INTEGER NOT NULL
);
CREATE INDEX signin_failures_by_key ON signin_failures (key, at);

-- Kept beyond the turns' retention (GUICHET_AUDIT_DAYS); no resident's words in it.
CREATE TABLE audit (
    id     INTEGER PRIMARY KEY,
    at     INTEGER NOT NULL,
    staff  INTEGER,
    actor  TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT,
    detail TEXT
);
CREATE INDEX audit_by_at ON audit (at);

CREATE TABLE oidc_logins (
    state_hash TEXT PRIMARY KEY,
    pending    TEXT NOT NULL,
    created_at INTEGER NOT NULL
);

ALTER TABLE tickets ADD COLUMN claimed_staff INTEGER;
-- The agent's note when closing (redacted): for colleagues, never sent to the person.
ALTER TABLE tickets ADD COLUMN note TEXT;
