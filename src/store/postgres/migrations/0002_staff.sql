-- Staff accounts, their server-side sessions, sign-in failures (lockout), the audit log
-- of staff actions and OpenID Connect sign-ins under way (SQLite's 0004). Secrets are
-- stored hashed: passwords with argon2id (PHC string), session and set-up tokens with
-- SHA-256 (the raw token lives only in the person's cookie or link).
--
-- Text that is ordered or compared case-insensitively is COLLATE "C": bytewise order and
-- ASCII-only lower(), as SQLite's BINARY and NOCASE, whatever the database's locale.

CREATE TABLE staff (
    id            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    email         TEXT COLLATE "C" NOT NULL,
    -- What colleagues and residents see: a first name or a role, never an email.
    name          TEXT NOT NULL,
    -- agent, editor, validator, admin (empty: waiting for an admin).
    roles         TEXT[] NOT NULL DEFAULT '{}',
    -- The services an editor or validator works for.
    services      TEXT[] NOT NULL DEFAULT '{}',
    password_hash TEXT,
    oidc_issuer   TEXT,
    oidc_subject  TEXT,
    disabled_at   TIMESTAMPTZ,
    created_at    TIMESTAMPTZ NOT NULL,
    UNIQUE (oidc_issuer, oidc_subject)
);
-- One account per email whatever its case (SQLite: UNIQUE COLLATE NOCASE).
CREATE UNIQUE INDEX staff_email_nocase ON staff (lower(email));

CREATE TABLE staff_setup (
    token_hash TEXT PRIMARY KEY,
    staff      BIGINT NOT NULL REFERENCES staff (id) ON DELETE CASCADE,
    expires_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX staff_setup_by_staff ON staff_setup (staff);

CREATE TABLE staff_sessions (
    token_hash TEXT PRIMARY KEY,
    staff      BIGINT NOT NULL REFERENCES staff (id) ON DELETE CASCADE,
    csrf       TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    last_seen  TIMESTAMPTZ NOT NULL
);
CREATE INDEX staff_sessions_by_staff ON staff_sessions (staff);

-- One row per failed sign-in: key is 'account:<email>' or 'address:<keyed hash>'.
CREATE TABLE signin_failures (
    id  BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    key TEXT NOT NULL,
    at  TIMESTAMPTZ NOT NULL
);
CREATE INDEX signin_failures_by_key ON signin_failures (key, at);

-- Kept beyond the turns' retention (GUICHET_AUDIT_DAYS); no resident's words in it.
-- `staff` is no foreign key: the log outlives the accounts it names.
CREATE TABLE audit (
    id     BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at     TIMESTAMPTZ NOT NULL,
    staff  BIGINT,
    actor  TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT,
    detail TEXT
);
CREATE INDEX audit_by_at ON audit (at);

CREATE TABLE oidc_logins (
    state_hash TEXT PRIMARY KEY,
    pending    TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL
);
