-- Delivery: the outbox of delivery jobs, the hotline clients of the pull
-- API, and what retention needs on reports.
--
-- Times are INTEGER microseconds since the Unix epoch, UTC, as in 0001.

-- When retention erased the report's URL, page URL, comment and contact.
-- Counters, ids and times stay.
ALTER TABLE reports ADD COLUMN erased_at INTEGER;

-- Reports retention may erase: delivered (or sent to the hotline's form)
-- and not yet erased. Only primaries get a status other than 'accepted',
-- so new reports stay out of this index and cost intake nothing.
CREATE INDEX reports_erasable ON reports (delivered_at) WHERE status <> 'accepted' AND erased_at IS NULL;

-- One delivery job per primary report, written in the report's
-- transaction. A sighting gets none: the hotline learns of it through the
-- primary's count.
CREATE TABLE deliveries (
    -- seq numbers jobs in commit order: the single writer inserts them
    -- one transaction after another, and SQLite gives a new row the
    -- largest rowid plus one (rows are never deleted from this table).
    -- So a reader that has seen seq n has seen every job with a smaller
    -- one, which makes seq the pull API's cursor. An INTEGER PRIMARY KEY,
    -- so that VACUUM keeps it.
    seq               INTEGER NOT NULL PRIMARY KEY,
    report_id         TEXT    NOT NULL UNIQUE REFERENCES reports (id),
    -- The report's hotline, repeated so that claims and the pull listing
    -- need not read reports.
    hotline_id        TEXT    NOT NULL,
    state             TEXT    NOT NULL DEFAULT 'pending'
                      CHECK (state IN ('pending', 'awaiting_pull', 'delivered', 'dead', 'use_form')),
    -- Attempts made (sent to the hotline); a claim alone does not count.
    attempts          INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    -- When the job was enqueued, or revived: the maximum age counts from it.
    enqueued_at       INTEGER NOT NULL,
    -- When a pending job is due. A claim moves it to the lease's end, so
    -- that the due index holds only claimable jobs (plus expired leases).
    next_attempt_at   INTEGER NOT NULL,
    -- Set while a worker holds the job; a job whose worker died is due
    -- again when its lease ends.
    lease_until       INTEGER,
    -- Why the job died, or the last retry's error: never report content.
    last_reason       TEXT    NOT NULL DEFAULT '',
    -- The hotline's own reference, from a push answer or an ack.
    hotline_reference TEXT    NOT NULL DEFAULT '',
    delivered_at      INTEGER,
    died_at           INTEGER,
    -- When the hotline acknowledged the report through the pull API.
    acked_at          INTEGER,
    CHECK (state = 'pending' OR lease_until IS NULL),
    CHECK (state <> 'dead' OR died_at IS NOT NULL),
    CHECK (state NOT IN ('delivered', 'use_form') OR delivered_at IS NOT NULL)
) STRICT;

-- Claim: due pending jobs in time order. Partial, so that finished jobs,
-- nearly every row after a while, stay out of it. enqueued_at makes it
-- cover the queue metrics (pending count, oldest pending) too: a scan of
-- the pending jobs' entries, cheaper than one more index to update on
-- every accept and every completion.
CREATE INDEX deliveries_due ON deliveries (next_attempt_at, enqueued_at) WHERE state = 'pending';

-- Dead letters, oldest first; no cost until a job dies.
CREATE INDEX deliveries_dead ON deliveries (enqueued_at) WHERE state = 'dead';

-- Pull listing: one hotline's jobs in seq order (seq, the rowid, is the
-- index's implicit last column).
CREATE INDEX deliveries_hotline ON deliveries (hotline_id);

-- Reports accepted before this migration get their jobs now, in the order
-- they were received, so that none is left without one.
INSERT INTO deliveries (report_id, hotline_id, state, enqueued_at, next_attempt_at, delivered_at)
SELECT id, hotline_id,
       CASE status WHEN 'delivered' THEN 'delivered' WHEN 'use_hotline_form' THEN 'use_form' ELSE 'pending' END,
       received_at, received_at,
       CASE WHEN status <> 'accepted' THEN coalesce(delivered_at, received_at) END
FROM reports
WHERE primary_id = id
ORDER BY received_at, id;

-- Systems of hotlines allowed to pull their reports. The secret is shown
-- once at creation; only its hash is kept.
CREATE TABLE hotline_clients (
    id          TEXT    NOT NULL PRIMARY KEY,
    hotline_id  TEXT    NOT NULL,
    name        TEXT    NOT NULL DEFAULT '',
    secret_hash TEXT    NOT NULL,
    created_at  INTEGER NOT NULL,
    revoked_at  INTEGER
) STRICT;
