-- Delivery: the outbox of delivery jobs, the hotline clients of the pull
-- API, and what retention needs on reports. The same tables and states as
-- the SQLite store's 0002_deliveries.sql, in PostgreSQL's dialect, with
-- what several replicas need besides: who holds a lease, and a pull cursor
-- that stays in commit order when several processes write at once.

-- When retention erased the report's URL, page URL, comment and contact.
-- Counters, ids and times stay.
ALTER TABLE reports ADD COLUMN erased_at timestamptz;

-- Reports retention may erase: delivered (or sent to the hotline's form)
-- and not yet erased. Only primaries get a status other than 'accepted',
-- so new reports stay out of this index and cost intake nothing.
CREATE INDEX reports_erasable ON reports (delivered_at) WHERE status <> 'accepted' AND erased_at IS NULL;

-- The last pull cursor value handed out per hotline. A batch transaction
-- bumps the rows of its hotlines (sorted, as its very last lock before
-- COMMIT) and numbers its jobs below the new value. The row lock is held to
-- the end of the transaction, so the next transaction to number jobs of
-- the same hotline waits for this one to commit (or roll back) and then
-- reads its value: numbers of one hotline are handed out in commit order.
-- A reader that sees seq n of a hotline therefore sees every committed job
-- of that hotline with a smaller seq. A rolled-back batch leaves no gap
-- (its bump rolls back too); gaps would be harmless anyway.
CREATE TABLE delivery_seqs (
    hotline_id text   NOT NULL PRIMARY KEY,
    last_seq   bigint NOT NULL CHECK (last_seq >= 0)
);

-- One delivery job per primary report, written in the report's
-- transaction. A sighting gets none: the hotline learns of it through the
-- primary's count.
CREATE TABLE deliveries (
    report_id         text        NOT NULL PRIMARY KEY REFERENCES reports (id),
    -- The report's hotline, repeated so that claims and the pull listing
    -- need not read reports.
    hotline_id        text        NOT NULL,
    -- The pull cursor: the job's number among its hotline's, in commit
    -- order (see delivery_seqs).
    seq               bigint      NOT NULL CHECK (seq > 0),
    state             text        NOT NULL DEFAULT 'pending'
                      CHECK (state IN ('pending', 'awaiting_pull', 'delivered', 'dead', 'use_form')),
    -- Attempts made (sent to the hotline); a claim alone does not count.
    attempts          integer     NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    -- When the job was enqueued, or revived: the maximum age counts from it.
    enqueued_at       timestamptz NOT NULL,
    -- When a pending job is due. A claim moves it to the lease's end, so
    -- that the due index holds only claimable jobs (plus expired leases).
    next_attempt_at   timestamptz NOT NULL,
    -- Set while a worker holds the job; a job whose worker died is due
    -- again when its lease ends.
    lease_until       timestamptz,
    -- The store instance (one per process) that holds the lease, so that
    -- ReleaseLeases ends its own leases and never another replica's.
    lease_owner       text,
    -- Why the job died, or the last retry's error: never report content.
    last_reason       text        NOT NULL DEFAULT '',
    -- The hotline's own reference, from a push answer or an ack.
    hotline_reference text        NOT NULL DEFAULT '',
    delivered_at      timestamptz,
    died_at           timestamptz,
    -- When the hotline acknowledged the report through the pull API.
    acked_at          timestamptz,
    UNIQUE (hotline_id, seq),
    CHECK (state = 'pending' OR lease_until IS NULL),
    CHECK (state <> 'dead' OR died_at IS NOT NULL),
    CHECK (state NOT IN ('delivered', 'use_form') OR delivered_at IS NOT NULL)
);

-- Claim: due pending jobs in time order. Partial, so that finished jobs,
-- nearly every row after a while, stay out of it; enqueued_at lets it
-- cover the queue metrics (pending count, oldest pending) too.
CREATE INDEX deliveries_due ON deliveries (next_attempt_at, enqueued_at) WHERE state = 'pending';

-- Dead letters, oldest first; no cost until a job dies.
CREATE INDEX deliveries_dead ON deliveries (enqueued_at) WHERE state = 'dead';

-- The pull listing is served by the unique (hotline_id, seq) index.

-- Reports accepted before this migration get their jobs now, in the order
-- they were received, so that none is left without one.
INSERT INTO deliveries (report_id, hotline_id, seq, state, enqueued_at, next_attempt_at, delivered_at)
SELECT id, hotline_id,
       row_number() OVER (PARTITION BY hotline_id ORDER BY received_at, id COLLATE "C"),
       CASE status WHEN 'delivered' THEN 'delivered' WHEN 'use_hotline_form' THEN 'use_form' ELSE 'pending' END,
       received_at, received_at,
       CASE WHEN status <> 'accepted' THEN coalesce(delivered_at, received_at) END
FROM reports
WHERE primary_id = id;

INSERT INTO delivery_seqs (hotline_id, last_seq)
SELECT hotline_id, max(seq) FROM deliveries GROUP BY hotline_id;

-- Systems of hotlines allowed to pull their reports. The secret is shown
-- once at creation; only its hash is kept.
CREATE TABLE hotline_clients (
    id          text        NOT NULL PRIMARY KEY,
    hotline_id  text        NOT NULL,
    name        text        NOT NULL DEFAULT '',
    secret_hash text        NOT NULL,
    created_at  timestamptz NOT NULL,
    revoked_at  timestamptz
);
