-- Every statement the SQLite store runs, by name. The schema itself is in
-- migrations/. Parameters are positional (?); times are Unix microseconds.

-- name: createMigrationsTable
CREATE TABLE IF NOT EXISTS schema_migrations (
    version    INTEGER NOT NULL PRIMARY KEY,
    name       TEXT    NOT NULL,
    applied_at INTEGER NOT NULL
) STRICT;

-- name: appliedMigrations
SELECT version FROM schema_migrations ORDER BY version;

-- name: recordMigration
INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?);

-- name: findIdempotency
SELECT fingerprint, report_id, reference, hotline_id, primary_id, received_at
FROM idempotency WHERE key = ?;

-- name: insertIdempotency
-- The fast path writes several rows at once: it repeats the VALUES row (so
-- does it for insertReport and insertDelivery).
INSERT INTO idempotency (key, fingerprint, report_id, reference, hotline_id, primary_id, received_at)
VALUES (?, ?, ?, ?, ?, ?, ?);

-- name: findIdempotencies
-- The writer's fast path looks up the keys of a whole batch at once: it
-- writes the list as "IN (?, ?, ...)", one ? per key.
SELECT key, fingerprint, report_id, reference, hotline_id, primary_id, received_at
FROM idempotency WHERE key IN (?);

-- name: purgeIdempotency
-- By rowid, which idempotency_received_at holds beside each time.
DELETE FROM idempotency WHERE rowid IN (
    SELECT rowid FROM idempotency WHERE received_at < ? ORDER BY received_at LIMIT ?
);

-- name: findPrimary
-- The earliest primary of the same URL to the same hotline within the
-- window either side of the new report's time. "primary_id = id" selects
-- the partial index reports_dedup, and its first column is the key's first
-- 16 digits (migration 0003); the whole key is compared on the rows found.
SELECT id, received_at FROM reports
WHERE substr(url_key, 1, 16) = substr(?1, 1, 16) AND url_key = ?1 AND hotline_id = ?2
  AND primary_id = id AND received_at BETWEEN ?3 AND ?4
ORDER BY received_at, id
LIMIT 1;

-- name: insertReport
INSERT INTO reports (
    id, reference, primary_id, url, url_key, page_url, content_type, category, country,
    hotline_id, comment, contact, client_name, client_version,
    received_at, first_seen_at, last_seen_at
) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?);

-- name: addSighting
UPDATE reports
SET sighting_count = sighting_count + 1,
    first_seen_at = min(first_seen_at, ?),
    last_seen_at = max(last_seen_at, ?)
WHERE id = ?;

-- name: savepoint
SAVEPOINT accept_one;

-- name: releaseSavepoint
RELEASE SAVEPOINT accept_one;

-- name: rollbackToSavepoint
ROLLBACK TO SAVEPOINT accept_one;

-- name: status
-- A sighting shows its primary's delivery: the reporter wants to know
-- whether the hotline has the URL.
SELECT r.id, r.reference, r.hotline_id, r.received_at, p.status, p.delivered_at
FROM reports AS r JOIN reports AS p ON p.id = r.primary_id
WHERE r.reference = ?;

-- name: sightings
SELECT p.sighting_count, p.first_seen_at, p.last_seen_at
FROM reports AS r JOIN reports AS p ON p.id = r.primary_id
WHERE r.id = ?;

-- name: savepointOp
SAVEPOINT op;

-- name: releaseSavepointOp
RELEASE SAVEPOINT op;

-- name: rollbackToSavepointOp
ROLLBACK TO SAVEPOINT op;

-- name: insertDelivery
-- The job of a new primary report, due at once.
INSERT INTO deliveries (report_id, hotline_id, enqueued_at, next_attempt_at) VALUES (?, ?, ?, ?);

-- name: claim
-- ?1 is the lease's end, ?2 now, ?3 how many. next_attempt_at moves to the
-- lease's end, so "next_attempt_at <= now" alone means "due, and not
-- leased or its lease over": deliveries_due then holds no leased job
-- among the due ones to read past, and covers the subquery. A job whose
-- worker died is found again once its lease has ended. lease_until is
-- kept for operators and for ReleaseLeases.
UPDATE deliveries SET lease_until = ?1, next_attempt_at = ?1
WHERE seq IN (
    SELECT seq FROM deliveries
    WHERE state = 'pending' AND next_attempt_at <= ?2
    ORDER BY next_attempt_at
    LIMIT ?3
)
RETURNING report_id, hotline_id, attempts, enqueued_at;

-- name: completeDone
-- Delivered wins over every other state: the hotline has the report, even
-- if a worker whose lease had ended learnt it late.
UPDATE deliveries
SET state = 'delivered', delivered_at = ?1, hotline_reference = ?2, attempts = attempts + ?3,
    lease_until = NULL, last_reason = ''
WHERE report_id = ?4 AND state <> 'delivered';

-- name: completeRetry
UPDATE deliveries
SET next_attempt_at = ?1, attempts = attempts + ?2, last_reason = ?3, lease_until = NULL
WHERE report_id = ?4 AND state = 'pending';

-- name: completeDead
UPDATE deliveries
SET state = 'dead', died_at = ?1, attempts = attempts + ?2, last_reason = ?3, lease_until = NULL
WHERE report_id = ?4 AND state = 'pending';

-- name: completeUseForm
UPDATE deliveries
SET state = 'use_form', delivered_at = ?1, attempts = attempts + ?2, last_reason = '', lease_until = NULL
WHERE report_id = ?3 AND state = 'pending';

-- name: completeAwaitPull
UPDATE deliveries
SET state = 'awaiting_pull', attempts = attempts + ?1, last_reason = '', lease_until = NULL
WHERE report_id = ?2 AND state = 'pending';

-- name: reportDelivered
-- The time of the first delivery stays.
UPDATE reports SET status = 'delivered', delivered_at = ?1 WHERE id = ?2 AND status <> 'delivered';

-- name: reportUseForm
UPDATE reports SET status = 'use_hotline_form', delivered_at = ?1 WHERE id = ?2 AND status = 'accepted';

-- name: deliveryExists
SELECT 1 FROM deliveries WHERE report_id = ?;

-- name: ack
-- Only the report's own hotline can ack it, once: a repeated ack changes
-- nothing. The first non-empty hotline reference stays.
UPDATE deliveries
SET acked_at = ?1,
    hotline_reference = CASE WHEN hotline_reference = '' THEN ?2 ELSE hotline_reference END,
    delivered_at = CASE WHEN state = 'delivered' THEN delivered_at ELSE ?1 END,
    state = 'delivered',
    lease_until = NULL
WHERE report_id = ?3 AND hotline_id = ?4 AND acked_at IS NULL;

-- name: hotlineDeliveryExists
SELECT 1 FROM deliveries WHERE report_id = ? AND hotline_id = ?;

-- name: revive
-- A revived job starts afresh: attempts and the maximum age count from
-- now, or a job that died of old age would die again at its first failure.
UPDATE deliveries
SET state = 'pending', attempts = 0, enqueued_at = ?1, next_attempt_at = ?1, died_at = NULL, lease_until = NULL
WHERE report_id = ?2 AND state = 'dead';

-- name: releaseLeases
UPDATE deliveries SET lease_until = NULL, next_attempt_at = min(next_attempt_at, ?1)
WHERE state = 'pending' AND lease_until IS NOT NULL;

-- name: eraseReports
-- ?1 erased_at, ?2 delivered before, ?3 primaries per chunk. A primary and
-- its sightings go together; erased rows leave reports_erasable, so the
-- next chunk starts where this one ended and a second run finds nothing.
-- url_key goes too: it is an unkeyed hash of the URL, enough to confirm
-- that a given URL was reported. The dedup window is far shorter than any
-- retention period, so no new report needs it any more.
UPDATE reports
SET url = '', url_key = '', page_url = '', comment = '', contact = '', erased_at = ?1
WHERE erased_at IS NULL AND primary_id IN (
    SELECT id FROM reports
    WHERE status <> 'accepted' AND erased_at IS NULL AND delivered_at < ?2 AND primary_id = id
    ORDER BY delivered_at
    LIMIT ?3
);

-- name: insertClient
INSERT INTO hotline_clients (id, hotline_id, name, secret_hash, created_at, revoked_at)
VALUES (?, ?, ?, ?, ?, ?);

-- name: revokeClient
-- The first revocation's time stays.
UPDATE hotline_clients SET revoked_at = ?1 WHERE id = ?2 AND revoked_at IS NULL;

-- name: clientExists
SELECT 1 FROM hotline_clients WHERE id = ?;

-- name: loadReport
-- A report and its primary's sighting counters.
SELECT r.id, r.reference, r.url, r.url_key, r.page_url, r.content_type, r.category, r.country,
       r.hotline_id, r.comment, r.contact, r.client_name, r.client_version, r.received_at,
       p.sighting_count, p.first_seen_at, p.last_seen_at
FROM reports AS r JOIN reports AS p ON p.id = r.primary_id
WHERE r.id = ?;

-- name: queueStats
SELECT (SELECT count(*) FROM deliveries WHERE state = 'pending'),
       (SELECT count(*) FROM deliveries WHERE state = 'dead'),
       (SELECT min(enqueued_at) FROM deliveries WHERE state = 'pending');

-- name: deadJobs
SELECT d.report_id, r.reference, d.hotline_id, d.attempts, d.enqueued_at, d.died_at, d.last_reason
FROM deliveries AS d JOIN reports AS r ON r.id = d.report_id
WHERE d.state = 'dead'
ORDER BY d.enqueued_at, d.seq
LIMIT ?;

-- name: listForHotline
-- Primaries only: sightings have no job. Ordered by seq, the commit order.
SELECT d.seq, r.id, r.reference, r.url, r.url_key, r.page_url, r.content_type, r.category, r.country,
       r.hotline_id, r.comment, r.contact, r.client_name, r.client_version, r.received_at,
       r.sighting_count, r.first_seen_at, r.last_seen_at, d.acked_at, d.hotline_reference
FROM deliveries AS d JOIN reports AS r ON r.id = d.report_id
WHERE d.hotline_id = ? AND d.seq > ?
ORDER BY d.seq
LIMIT ?;

-- name: client
SELECT id, hotline_id, name, secret_hash, created_at, revoked_at FROM hotline_clients WHERE id = ?;

-- name: clients
SELECT id, hotline_id, name, secret_hash, created_at, revoked_at FROM hotline_clients ORDER BY created_at, id;

-- name: integrityCheck
PRAGMA integrity_check;

-- name: foreignKeyCheck
PRAGMA foreign_key_check;

-- name: journalMode
PRAGMA journal_mode;

-- name: synchronous
PRAGMA synchronous;

-- name: foreignKeys
PRAGMA foreign_keys;

-- name: busyTimeout
PRAGMA busy_timeout;

-- name: queryOnly
PRAGMA query_only;

-- name: tempStore
PRAGMA temp_store;

-- name: walAutocheckpoint
PRAGMA wal_autocheckpoint;

-- name: cacheSize
PRAGMA cache_size;

-- name: checkpointPassive
-- Returns (busy, frames in the WAL, frames checkpointed).
PRAGMA wal_checkpoint(PASSIVE);

-- name: checkpointRestart
PRAGMA wal_checkpoint(RESTART);

-- name: checkpointTruncate
-- After a write failed with the disk full: RESTART, and the WAL file cut to
-- nothing, which gives its space back.
PRAGMA wal_checkpoint(TRUNCATE);

-- name: setBusyTimeout
-- A format string for fmt, the argument in milliseconds: PRAGMA takes no
-- bound parameters.
PRAGMA busy_timeout = %d;
