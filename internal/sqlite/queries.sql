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
INSERT INTO idempotency (key, fingerprint, report_id, reference, hotline_id, primary_id, received_at)
VALUES (?, ?, ?, ?, ?, ?, ?);

-- name: purgeIdempotency
DELETE FROM idempotency WHERE key IN (
    SELECT key FROM idempotency WHERE received_at < ? ORDER BY received_at LIMIT ?
);

-- name: findPrimary
-- The earliest primary of the same URL to the same hotline within the
-- window either side of the new report's time. "primary_id = id" selects
-- the partial index reports_dedup.
SELECT id FROM reports
WHERE url_key = ? AND hotline_id = ? AND primary_id = id AND received_at BETWEEN ? AND ?
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
