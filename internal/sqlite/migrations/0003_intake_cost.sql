-- Cheaper intake: the same constraints and the same data, checked and
-- stored with less work per report (issue 6). Nothing a query sees changes.

-- 1. CHECK constraints as chains of "=" instead of IN lists.
--
-- SQLite checks "x IN ('a', 'b', 'c')" (a list of more than two values) in
-- a CHECK by building a temporary B-tree of the list, for every row it
-- checks: four of them for each report accepted (content_type, category and
-- status of the report, state of its delivery job), a fifth of the writer's
-- instructions. The chains accept and refuse exactly the same values.
--
-- A CHECK constraint can only be changed by rewriting the table's
-- definition. Rebuilding reports is not possible inside the migration's
-- transaction with foreign keys on (deliveries and reports itself refer to
-- it), so this uses SQLite's documented procedure for definition changes
-- that leave every stored row valid as it is
-- (https://www.sqlite.org/lang_altertable.html#otheralter): the text of the
-- four constraints is replaced in sqlite_schema. replace() changes nothing
-- if the text is not the one 0001 and 0002 wrote, so the worst case is a
-- schema left as it was. RESET turns schema writing off and has this
-- connection read the schema again; the DDL below changes the schema
-- version, so that every other connection reads it again too.
PRAGMA writable_schema = ON;

UPDATE sqlite_schema
SET sql = replace(replace(replace(sql,
        'CHECK (content_type IN (''page'', ''image'', ''video'', ''link'', ''other''))',
        'CHECK (content_type = ''page'' OR content_type = ''image'' OR content_type = ''video'' OR content_type = ''link'' OR content_type = ''other'')'),
        'CHECK (category IN (''csam'', ''grooming'', ''sextortion'', ''other''))',
        'CHECK (category = ''csam'' OR category = ''grooming'' OR category = ''sextortion'' OR category = ''other'')'),
        'CHECK (status IN (''accepted'', ''delivered'', ''use_hotline_form''))',
        'CHECK (status = ''accepted'' OR status = ''delivered'' OR status = ''use_hotline_form'')')
WHERE type = 'table' AND name = 'reports';

UPDATE sqlite_schema
SET sql = replace(sql,
        'CHECK (state IN (''pending'', ''awaiting_pull'', ''delivered'', ''dead'', ''use_form''))',
        'CHECK (state = ''pending'' OR state = ''awaiting_pull'' OR state = ''delivered'' OR state = ''dead'' OR state = ''use_form'')')
WHERE type = 'table' AND name = 'deliveries';

PRAGMA writable_schema = RESET;

-- 2. Idempotency records in a table with rowids, found by a unique index
-- on the key.
--
-- Keyed by the key itself (WITHOUT ROWID), every record, some 200 bytes,
-- went to a random place of the table's B-tree: pages of a dozen records
-- split and were rebalanced all the time, two pages and more written to the
-- WAL for each report. Now a record is appended at the end of the table,
-- and only the key index (30-byte entries) takes a random insert. Copied in
-- the order received, so that rowids follow time.
CREATE TABLE idempotency_new (
    key         TEXT    NOT NULL,
    fingerprint TEXT    NOT NULL,
    report_id   TEXT    NOT NULL,
    reference   TEXT    NOT NULL,
    hotline_id  TEXT    NOT NULL,
    primary_id  TEXT    NOT NULL,
    received_at INTEGER NOT NULL
) STRICT;

INSERT INTO idempotency_new (key, fingerprint, report_id, reference, hotline_id, primary_id, received_at)
SELECT key, fingerprint, report_id, reference, hotline_id, primary_id, received_at
FROM idempotency
ORDER BY received_at, key;

DROP TABLE idempotency;

ALTER TABLE idempotency_new RENAME TO idempotency;

CREATE UNIQUE INDEX idempotency_key ON idempotency (key);

CREATE INDEX idempotency_received_at ON idempotency (received_at);

-- 3. The duplicate lookup's index on the first 16 hex digits of the URL key
-- (64 bits) instead of all 64: half the size, so fewer of its pages to
-- split and write for each report. The lookup compares the whole key on the
-- rows the index finds.
DROP INDEX reports_dedup;

CREATE INDEX reports_dedup ON reports (substr(url_key, 1, 16), hotline_id, received_at) WHERE primary_id = id;
