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
