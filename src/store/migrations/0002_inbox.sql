-- The inbox: platform messages acknowledged to the platform but not yet answered. A row
-- is written in the same transaction as the message's `processed` mark and deleted once
-- the reply is delivered (or its failure recorded), so a crash in between loses nothing:
-- a row whose lease (`claimed_until`) has ended is processed again, by any replica.
-- `message_id` is hashed as in `processed`; `inbound` is JSON with the text redacted and
-- the route (how to reach the person), erased with the row. Times are unix seconds (UTC).

CREATE TABLE inbox (
    id            INTEGER PRIMARY KEY,
    channel       TEXT NOT NULL,
    message_id    TEXT NOT NULL,
    inbound       TEXT NOT NULL,
    received_at   INTEGER NOT NULL,
    attempts      INTEGER NOT NULL,
    claimed_until INTEGER NOT NULL,
    UNIQUE (channel, message_id)
);
CREATE INDEX inbox_by_lease ON inbox (claimed_until, id);
CREATE INDEX inbox_by_time ON inbox (received_at);
