-- Exactly once across crashes. An inbox row keeps the reply once it is decided (`reply`,
-- JSON: the platform messages, the city's texts only) and how many of its pieces the
-- platform accepted (`sent`), so that a replay neither records the question again nor
-- sends a piece twice; `holder` names the worker (a process's store) that holds the
-- lease. `workers` holds each worker's process (pid, its start time, the machine's boot
-- id) and heartbeat, so that a row whose holder is gone is taken again at once instead
-- of when its lease ends. Times are unix seconds (UTC).

ALTER TABLE inbox ADD COLUMN holder TEXT;
ALTER TABLE inbox ADD COLUMN reply TEXT;
ALTER TABLE inbox ADD COLUMN sent INTEGER NOT NULL DEFAULT 0;

CREATE TABLE workers (
    id        TEXT PRIMARY KEY,
    pid       INTEGER NOT NULL,
    started   TEXT NOT NULL,
    boot_id   TEXT NOT NULL,
    heartbeat INTEGER NOT NULL
);
