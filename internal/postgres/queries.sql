-- Every statement the PostgreSQL store runs, by name. The schema itself is in
-- migrations/. Parameters are positional ($1); times are timestamptz.
--
-- The accept statements work on whole batches: one row per report, passed as
-- parallel arrays and spread out with unnest, so that a batch of hundreds of
-- reports costs a handful of round trips, not hundreds.

-- name: migrationLock
-- Held until the migration's transaction ends, so that replicas starting at
-- once apply each migration exactly once, one after the other.
SELECT pg_advisory_xact_lock($1);

-- name: createMigrationsTable
CREATE TABLE IF NOT EXISTS schema_migrations (
    version    integer     NOT NULL PRIMARY KEY,
    name       text        NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
);

-- name: appliedMigrations
SELECT version FROM schema_migrations ORDER BY version;

-- name: recordMigration
INSERT INTO schema_migrations (version, name) VALUES ($1, $2);

-- name: serverSettings
SELECT current_setting('synchronous_commit'), current_setting('fsync'),
       current_setting('server_version_num')::integer;

-- name: batchSettings
-- For the batch transaction only:
-- - synchronous commit back on if it is off (a configuration reloaded since
--   the connection was checked), stronger settings (remote_apply, ...) left
--   alone;
-- - a plan made for each execution's arrays and the table's size then: a
--   cached generic plan made while the tables were small (a new database)
--   scans them in full, for every batch, long after they have grown.
SELECT set_config('plan_cache_mode', 'force_custom_plan', true),
       CASE WHEN current_setting('synchronous_commit') = 'off'
            THEN set_config('synchronous_commit', 'on', true) END;

-- name: lockKeys
-- $1 is sorted in Go: every transaction takes its locks in the same order,
-- so two batches can wait for each other but never deadlock. unnest yields
-- the array in order and the function scan feeds it to the locks in order.
SELECT pg_advisory_xact_lock(k) FROM unnest($1::bigint[]) AS k;

-- name: begin
-- The writers' transactions (see batchTx): READ COMMITTED whatever the
-- server's default, as every statement of a batch must see what other
-- replicas committed before the batch got its locks (see acceptBatch).
BEGIN ISOLATION LEVEL READ COMMITTED;

-- name: commit
COMMIT;

-- name: rollback
ROLLBACK;

-- name: savepoint
SAVEPOINT accept_set;

-- name: releaseSavepoint
RELEASE SAVEPOINT accept_set;

-- name: rollbackToSavepoint
ROLLBACK TO SAVEPOINT accept_set;

-- name: findIdempotency
SELECT key, fingerprint, report_id, reference, hotline_id, primary_id, received_at
FROM idempotency WHERE key = ANY ($1::text[]);

-- name: findPrimaries
-- For each report n: the earliest primary of the same URL to the same
-- hotline within [lo, hi]. "primary_id = id" selects the partial index
-- reports_dedup; ids tie-break in byte order (COLLATE "C"), as Go compares
-- strings, whatever the database's collation.
SELECT q.n, p.id, p.received_at
FROM unnest($1::text[], $2::text[], $3::timestamptz[], $4::timestamptz[])
    WITH ORDINALITY AS q (url_key, hotline_id, lo, hi, n)
CROSS JOIN LATERAL (
    SELECT r.id, r.received_at FROM reports AS r
    WHERE r.url_key = q.url_key AND r.hotline_id = q.hotline_id AND r.primary_id = r.id
      AND r.received_at BETWEEN q.lo AND q.hi
    ORDER BY r.received_at, r.id COLLATE "C"
    LIMIT 1
) AS p;

-- name: insertReports
INSERT INTO reports (
    id, reference, primary_id, url, url_key, page_url, content_type, category, country,
    hotline_id, comment, contact, client_name, client_version,
    received_at, sighting_count, first_seen_at, last_seen_at
)
SELECT * FROM unnest(
    $1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[],
    $10::text[], $11::text[], $12::text[], $13::text[], $14::text[],
    $15::timestamptz[], $16::bigint[], $17::timestamptz[], $18::timestamptz[]
);

-- name: addSightings
-- Counts sightings into primaries stored by earlier transactions; $2 is how
-- many this batch adds to each, $3 and $4 their earliest and latest times.
UPDATE reports AS r
SET sighting_count = r.sighting_count + s.n,
    first_seen_at = least(r.first_seen_at, s.first_seen_at),
    last_seen_at = greatest(r.last_seen_at, s.last_seen_at)
FROM unnest($1::text[], $2::bigint[], $3::timestamptz[], $4::timestamptz[])
    AS s (id, n, first_seen_at, last_seen_at)
WHERE r.id = s.id;

-- name: insertIdempotency
INSERT INTO idempotency (key, fingerprint, report_id, reference, hotline_id, primary_id, received_at)
SELECT * FROM unnest(
    $1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::timestamptz[]
);

-- name: purgeIdempotency
-- SKIP LOCKED: replicas purging at the same time share the work instead of
-- queueing on each other's rows.
DELETE FROM idempotency WHERE key IN (
    SELECT key FROM idempotency WHERE received_at < $1
    ORDER BY received_at LIMIT $2
    FOR UPDATE SKIP LOCKED
);

-- name: status
-- A sighting shows its primary's delivery: the reporter wants to know
-- whether the hotline has the URL.
SELECT r.id, r.reference, r.hotline_id, r.received_at, p.status, p.delivered_at
FROM reports AS r JOIN reports AS p ON p.id = r.primary_id
WHERE r.reference = $1;

-- name: sightings
SELECT p.sighting_count, p.first_seen_at, p.last_seen_at
FROM reports AS r JOIN reports AS p ON p.id = r.primary_id
WHERE r.id = $1;

-- name: integrityCheck
-- One row per problem, at most $1. PostgreSQL keeps its own structures
-- sound; what can go wrong is what constraints do not cover or what was
-- switched off: constraints added NOT VALID, indexes left invalid by a
-- failed CREATE INDEX CONCURRENTLY, rows written with triggers (and so
-- foreign keys) disabled, and the sighting counters, which must match the
-- reports that point at each primary.
SELECT problem FROM (
    SELECT format('constraint %s on %s is not validated', c.conname, c.conrelid::regclass) AS problem
    FROM pg_constraint AS c
    WHERE c.conrelid IN ('reports'::regclass, 'idempotency'::regclass) AND NOT c.convalidated
    UNION ALL
    SELECT format('index %s is not valid', i.indexrelid::regclass)
    FROM pg_index AS i
    WHERE i.indrelid IN ('reports'::regclass, 'idempotency'::regclass) AND NOT (i.indisvalid AND i.indisready)
    UNION ALL
    SELECT format('report %s refers to a missing primary', r.id)
    FROM reports AS r
    WHERE NOT EXISTS (SELECT FROM reports AS p WHERE p.id = r.primary_id)
    UNION ALL
    SELECT format('report %s is a sighting of a sighting', r.id)
    FROM reports AS r JOIN reports AS p ON p.id = r.primary_id
    WHERE p.primary_id <> p.id
    UNION ALL
    SELECT format('primary %s counts %s sightings from %s to %s, its reports say %s from %s to %s',
                  p.id, p.sighting_count, p.first_seen_at, p.last_seen_at, g.n, g.first_seen_at, g.last_seen_at)
    FROM reports AS p
    JOIN (SELECT primary_id, count(*) AS n, min(received_at) AS first_seen_at, max(received_at) AS last_seen_at
          FROM reports GROUP BY primary_id) AS g ON g.primary_id = p.id
    WHERE p.primary_id = p.id
      AND (p.sighting_count <> g.n OR p.first_seen_at <> g.first_seen_at OR p.last_seen_at <> g.last_seen_at)
) AS problems
LIMIT $1;

-- The delivery queue and the pull API (migrations/0002_deliveries.sql).

-- name: insertDeliveries
-- The jobs of a batch's new primaries, due at once, numbered for the pull
-- cursor. $1 report ids, $2 their hotlines, $3 their times, in batch
-- order. The hotlines' delivery_seqs rows are bumped in byte order of
-- hotline id (every batch the same order, so two batches wait for each
-- other, never deadlock), and locked until COMMIT: see delivery_seqs in
-- the migration for why that keeps the cursor in commit order. This is the
-- batch transaction's last statement before NOTIFY and COMMIT, so the
-- rows are held no longer than needed.
WITH jobs AS (
    SELECT * FROM unnest($1::text[], $2::text[], $3::timestamptz[]) WITH ORDINALITY AS j (report_id, hotline_id, at, n)
), counts AS (
    SELECT hotline_id, count(*) AS c FROM jobs GROUP BY hotline_id
), bumped AS (
    INSERT INTO delivery_seqs AS s (hotline_id, last_seq)
    SELECT hotline_id, c FROM counts ORDER BY hotline_id COLLATE "C"
    ON CONFLICT (hotline_id) DO UPDATE SET last_seq = s.last_seq + excluded.last_seq
    RETURNING s.hotline_id, s.last_seq
)
INSERT INTO deliveries (report_id, hotline_id, seq, enqueued_at, next_attempt_at)
SELECT j.report_id, j.hotline_id,
       b.last_seq - c.c + row_number() OVER (PARTITION BY j.hotline_id ORDER BY j.n),
       j.at, j.at
FROM jobs AS j JOIN counts AS c USING (hotline_id) JOIN bumped AS b USING (hotline_id);

-- name: notify
-- Wakes the dispatchers of every replica (they LISTEN on the channel) when
-- the transaction commits; nothing if it rolls back. $1 names the sending
-- store, which wakes its own dispatcher itself, before answering. The
-- channel is per database, so stores on other databases are not woken.
SELECT pg_notify('reportit_deliveries', $1);

-- name: listen
-- On the store's dedicated listening connection; the channel of notify.
LISTEN reportit_deliveries;

-- name: claim
-- $1 is the lease's end, $2 now, $3 how many, $4 the claiming store.
-- SKIP LOCKED: replicas claiming at once each take other jobs instead of
-- queueing on the same rows; a row locked by a claim that then commits has
-- moved out of "due" (next_attempt_at is the lease's end), and READ
-- COMMITTED re-checks the condition on rows whose lock it did get. As in
-- SQLite, "next_attempt_at <= now" alone means "due, and not leased or its
-- lease over".
UPDATE deliveries AS d
SET lease_until = $1, next_attempt_at = $1, lease_owner = $4
FROM (
    SELECT report_id FROM deliveries
    WHERE state = 'pending' AND next_attempt_at <= $2
    ORDER BY next_attempt_at
    LIMIT $3
    FOR UPDATE SKIP LOCKED
) AS c
WHERE d.report_id = c.report_id
RETURNING d.report_id, d.hotline_id, d.attempts, d.enqueued_at;

-- name: completeBatch
-- The outcomes of a batch of delivery runs (see ops.go), one row each: $1
-- kind, $2 at, $3 the hotline's reference, $4 attempts to add, $5 reason,
-- $6 report id. The report ids are distinct (a second outcome for one job
-- goes to the next statement of the transaction) and sorted, so that the
-- row locks are taken in id order, as addSightings takes them. The job and,
-- when it changed, the report's status change in one statement
-- (data-modifying WITH parts always run); it answers, for each row n,
-- whether the job exists. As in the SQLite store:
--
--   - delivered: delivered at, with the hotline's reference, and the report
--     delivered. It applies in any state but delivered: the hotline has the
--     report, even if a worker whose lease had ended learnt it late. The
--     time of the first delivery stays on the report.
--   - retry: due again at, with the reason.
--   - dead: dead at, with the reason.
--   - use_form: done; the report's status is use_hotline_form.
--   - await_pull: no longer claimable; the hotline's ack completes it.
--
-- Those but delivered apply to a pending job only: a late result for a job
-- finished meanwhile is ignored.
WITH o AS (
    SELECT * FROM unnest($1::text[], $2::timestamptz[], $3::text[], $4::integer[], $5::text[], $6::text[])
        WITH ORDINALITY AS o (kind, at, reference, attempted, reason, report_id, n)
), d AS (
    UPDATE deliveries AS d
    SET state = CASE o.kind WHEN 'retry' THEN 'pending' WHEN 'await_pull' THEN 'awaiting_pull' ELSE o.kind END,
        next_attempt_at = CASE WHEN o.kind = 'retry' THEN o.at ELSE d.next_attempt_at END,
        delivered_at = CASE WHEN o.kind IN ('delivered', 'use_form') THEN o.at ELSE d.delivered_at END,
        died_at = CASE WHEN o.kind = 'dead' THEN o.at ELSE d.died_at END,
        hotline_reference = CASE WHEN o.kind = 'delivered' THEN o.reference ELSE d.hotline_reference END,
        attempts = d.attempts + o.attempted,
        last_reason = CASE WHEN o.kind IN ('retry', 'dead') THEN o.reason ELSE '' END,
        lease_until = NULL, lease_owner = NULL
    FROM o
    WHERE d.report_id = o.report_id
      AND CASE WHEN o.kind = 'delivered' THEN d.state <> 'delivered' ELSE d.state = 'pending' END
    RETURNING d.report_id, o.kind, o.at
), r AS (
    UPDATE reports AS r
    SET status = CASE WHEN d.kind = 'delivered' THEN 'delivered' ELSE 'use_hotline_form' END,
        delivered_at = d.at
    FROM d
    WHERE r.id = d.report_id
      AND ((d.kind = 'delivered' AND r.status <> 'delivered') OR (d.kind = 'use_form' AND r.status = 'accepted'))
)
SELECT o.n, o.report_id IN (SELECT report_id FROM d) OR EXISTS (SELECT FROM deliveries AS x WHERE x.report_id = o.report_id)
FROM o;

-- name: savepointOp
SAVEPOINT complete_op;

-- name: releaseSavepointOp
RELEASE SAVEPOINT complete_op;

-- name: rollbackToSavepointOp
ROLLBACK TO SAVEPOINT complete_op;

-- name: ack
-- $1 at, $2 the hotline's reference, $3 report id, $4 hotline id. Only the
-- report's own hotline can ack it, once: a repeated ack changes nothing.
-- The first non-empty hotline reference stays, and the report's first
-- delivery time.
WITH d AS (
    UPDATE deliveries
    SET acked_at = $1,
        hotline_reference = CASE WHEN hotline_reference = '' THEN $2 ELSE hotline_reference END,
        delivered_at = CASE WHEN state = 'delivered' THEN delivered_at ELSE $1 END,
        state = 'delivered',
        lease_until = NULL, lease_owner = NULL
    WHERE report_id = $3 AND hotline_id = $4 AND acked_at IS NULL
    RETURNING report_id
), r AS (
    UPDATE reports SET status = 'delivered', delivered_at = $1
    WHERE id IN (SELECT report_id FROM d) AND status <> 'delivered'
)
SELECT EXISTS (SELECT FROM d) OR EXISTS (SELECT FROM deliveries WHERE report_id = $3 AND hotline_id = $4);

-- name: revive
-- A revived job starts afresh: attempts and the maximum age count from
-- now, or a job that died of old age would die again at its first failure.
UPDATE deliveries
SET state = 'pending', attempts = 0, enqueued_at = $1, next_attempt_at = $1, died_at = NULL,
    lease_until = NULL, lease_owner = NULL
WHERE report_id = $2 AND state = 'dead';

-- name: releaseLeases
-- Only the leases of one store ($2): other replicas' workers are alive as
-- far as this process can know.
UPDATE deliveries SET lease_until = NULL, lease_owner = NULL, next_attempt_at = least(next_attempt_at, $1)
WHERE state = 'pending' AND lease_owner = $2;

-- name: eraseReports
-- $1 erased_at, $2 delivered before, $3 primaries per chunk. A primary and
-- its sightings go together; erased rows leave reports_erasable, so the
-- next chunk starts where this one ended and a second run finds nothing.
-- url_key goes too: it is an unkeyed hash of the URL. SKIP LOCKED: replicas
-- erasing at once share the work.
UPDATE reports
SET url = '', url_key = '', page_url = '', comment = '', contact = '', erased_at = $1
WHERE erased_at IS NULL AND primary_id IN (
    SELECT id FROM reports
    WHERE status <> 'accepted' AND erased_at IS NULL AND delivered_at < $2 AND primary_id = id
    ORDER BY delivered_at
    LIMIT $3
    FOR UPDATE SKIP LOCKED
);

-- name: insertClient
INSERT INTO hotline_clients (id, hotline_id, name, secret_hash, created_at, revoked_at)
VALUES ($1, $2, $3, $4, $5, $6);

-- name: revokeClient
-- The first revocation's time stays.
WITH c AS (
    UPDATE hotline_clients SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL RETURNING id
)
SELECT EXISTS (SELECT FROM c) OR EXISTS (SELECT FROM hotline_clients WHERE id = $2);

-- name: loadReport
-- A report and its primary's sighting counters.
SELECT r.id, r.reference, r.url, r.url_key, r.page_url, r.content_type, r.category, r.country,
       r.hotline_id, r.comment, r.contact, r.client_name, r.client_version, r.received_at,
       p.sighting_count, p.first_seen_at, p.last_seen_at
FROM reports AS r JOIN reports AS p ON p.id = r.primary_id
WHERE r.id = $1;

-- name: queueStats
SELECT (SELECT count(*) FROM deliveries WHERE state = 'pending'),
       (SELECT count(*) FROM deliveries WHERE state = 'dead'),
       (SELECT min(enqueued_at) FROM deliveries WHERE state = 'pending');

-- name: deadJobs
SELECT d.report_id, r.reference, d.hotline_id, d.attempts, d.enqueued_at, d.died_at, d.last_reason
FROM deliveries AS d JOIN reports AS r ON r.id = d.report_id
WHERE d.state = 'dead'
ORDER BY d.enqueued_at, d.report_id COLLATE "C"
LIMIT $1;

-- name: listForHotline
-- Primaries only: sightings have no job. Ordered by seq, the commit order
-- among the hotline's jobs.
SELECT d.seq, r.id, r.reference, r.url, r.url_key, r.page_url, r.content_type, r.category, r.country,
       r.hotline_id, r.comment, r.contact, r.client_name, r.client_version, r.received_at,
       r.sighting_count, r.first_seen_at, r.last_seen_at, d.acked_at, d.hotline_reference
FROM deliveries AS d JOIN reports AS r ON r.id = d.report_id
WHERE d.hotline_id = $1 AND d.seq > $2
ORDER BY d.seq
LIMIT $3;

-- name: client
SELECT id, hotline_id, name, secret_hash, created_at, revoked_at FROM hotline_clients WHERE id = $1;

-- name: clients
SELECT id, hotline_id, name, secret_hash, created_at, revoked_at FROM hotline_clients ORDER BY created_at, id COLLATE "C";
