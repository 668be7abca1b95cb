-- The core schema on PostgreSQL: what SQLite's migrations 0001-0003 and 0006 hold.

CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
