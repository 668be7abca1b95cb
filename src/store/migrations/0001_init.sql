-- The first schema: conversations, turns, tickets, feedback, processed ids, deliveries.
-- Times are unix seconds (UTC).

CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

-- The key of pseudonyms ('pseudonym_key') is made by the store at its first open
-- (store::keys::PseudonymKey), the same way for every backend.

CREATE TABLE conversations (
    id         INTEGER PRIMARY KEY,
    channel    TEXT NOT NULL,
    external   TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    last_seen  INTEGER NOT NULL,
    UNIQUE (channel, external)
);

CREATE TABLE turns (
    id            INTEGER PRIMARY KEY,
    conversation  INTEGER NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    channel       TEXT NOT NULL,
    author        TEXT NOT NULL,
    text          TEXT NOT NULL,
    outcome       TEXT,
    entry_id      TEXT,
    answer_sha256 TEXT,
    confidence    REAL,
    scores        TEXT,
    at            INTEGER NOT NULL
);
CREATE INDEX turns_by_conversation ON turns (conversation, id);
CREATE INDEX turns_by_time ON turns (at);

CREATE TABLE tickets (
    id           INTEGER PRIMARY KEY,
    status       TEXT NOT NULL CHECK (status IN ('open', 'claimed', 'resolved')),
    channel      TEXT NOT NULL,
    conversation INTEGER NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    reason       TEXT NOT NULL,
    questions    TEXT NOT NULL,
    candidates   TEXT NOT NULL,
    service      TEXT NOT NULL,
    route        TEXT,
    created_at   INTEGER NOT NULL,
    claimed_at   INTEGER,
    resolved_at  INTEGER
);
CREATE INDEX tickets_by_status ON tickets (status, id);
CREATE INDEX tickets_by_conversation ON tickets (conversation, status);
CREATE INDEX tickets_by_time ON tickets (created_at);

CREATE TABLE feedback (
    id            INTEGER PRIMARY KEY,
    entry_id      TEXT NOT NULL,
    answer_sha256 TEXT NOT NULL,
    helpful       INTEGER NOT NULL,
    at            INTEGER NOT NULL
);

CREATE TABLE processed (
    channel    TEXT NOT NULL,
    message    TEXT NOT NULL,
    at         INTEGER NOT NULL,
    PRIMARY KEY (channel, message)
);
CREATE INDEX processed_by_time ON processed (at);

CREATE TABLE deliveries (
    id       INTEGER PRIMARY KEY,
    channel  TEXT NOT NULL,
    ticket   INTEGER,
    ok       INTEGER NOT NULL,
    attempts INTEGER NOT NULL,
    detail   TEXT NOT NULL,
    at       INTEGER NOT NULL
);
CREATE INDEX deliveries_by_time ON deliveries (at);

-- What stays after purges: counts per day, channel and kind (answer, clarify, handoff,
-- agent, ticket).
CREATE TABLE daily_counts (
    day     TEXT NOT NULL,
    channel TEXT NOT NULL,
    kind    TEXT NOT NULL,
    n       INTEGER NOT NULL,
    PRIMARY KEY (day, channel, kind)
);
