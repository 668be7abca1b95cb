-- The knowledge base in the store (SQLite's 0005): every file of the corpus format
-- (`services.toml`, `messages.toml`, `glossary.toml`, `entries/SERVICE/ID.md`) as
-- revisions, append-only. A revision holds a file's full text; what is served is the live
-- revision of each path (`kb_live`), which only a validation (or an import of a checked
-- folder) changes, and each such change adds one to `kb_state.version`, which every
-- replica watches. Every change of what is live first locks the `kb_state` row, so two
-- replicas validating at once are serialised and the second sees the first's result.

CREATE TABLE kb_revisions (
    id             BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    path           TEXT COLLATE "C" NOT NULL,
    entry_id       TEXT,
    service        TEXT,
    -- The file's full text; NULL: the revision withdraws the file.
    content        TEXT,
    -- draft | validated | sent_back | cancelled. A decided revision is never changed again.
    status         TEXT NOT NULL,
    -- import | proposal | restore | admin
    origin         TEXT NOT NULL,
    author         TEXT NOT NULL,
    author_staff   BIGINT REFERENCES staff (id) ON DELETE SET NULL,
    created_at     TIMESTAMPTZ NOT NULL,
    -- The live revision this one was written against (NULL: a new file).
    base           BIGINT REFERENCES kb_revisions (id),
    decided_by     TEXT,
    decided_staff  BIGINT REFERENCES staff (id) ON DELETE SET NULL,
    decided_at     TIMESTAMPTZ,
    -- The proposer's note, or the validator's reason to send it back.
    comment        TEXT,
    answer_sha256  TEXT
);
CREATE INDEX kb_revisions_path ON kb_revisions (path, id);
CREATE INDEX kb_revisions_status ON kb_revisions (status, service);

CREATE TABLE kb_live (
    path      TEXT COLLATE "C" PRIMARY KEY,
    revision  BIGINT NOT NULL REFERENCES kb_revisions (id),
    entry_id  TEXT UNIQUE
);

CREATE TABLE kb_state (
    id       INTEGER PRIMARY KEY CHECK (id = 1),
    version  BIGINT NOT NULL
);
INSERT INTO kb_state (id, version) VALUES (1, 0);

-- Services whose editors may validate their own proposals (an admin's decision).
CREATE TABLE kb_self_validation (
    service  TEXT PRIMARY KEY,
    staff    BIGINT REFERENCES staff (id) ON DELETE SET NULL,
    set_at   TIMESTAMPTZ NOT NULL
);

-- What staff decided about questions residents asked (the training loop): this question
-- is answered by that entry, or is for a person (entry_id NULL). Questions are stored
-- redacted, as turns are.
CREATE TABLE kb_labels (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    question    TEXT NOT NULL,
    lang        TEXT,
    entry_id    TEXT,
    -- attach | create | dismiss
    decision    TEXT NOT NULL,
    service     TEXT,
    staff       BIGINT REFERENCES staff (id) ON DELETE SET NULL,
    revision    BIGINT REFERENCES kb_revisions (id),
    created_at  TIMESTAMPTZ NOT NULL
);
CREATE INDEX kb_labels_question ON kb_labels (question);
