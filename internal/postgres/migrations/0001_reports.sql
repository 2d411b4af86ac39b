-- Reports and idempotency records: the same tables, columns and constraints
-- as the SQLite store's 0001_reports.sql, in PostgreSQL's dialect.
--
-- Times are timestamptz, which keeps microseconds: the precision the SQLite
-- store keeps too, so both stores answer alike. Counters are bigint, as
-- SQLite's INTEGER is 64-bit.
-- Nothing here identifies the reporter's installation or machine: no IP
-- address, no User-Agent, no installation id. Keep it that way.

CREATE TABLE reports (
    id             text        NOT NULL PRIMARY KEY,
    reference      text        NOT NULL UNIQUE,
    -- primary_id is id itself for a primary report, or the primary this
    -- report is a sighting of.
    primary_id     text        NOT NULL REFERENCES reports (id),
    url            text        NOT NULL,
    url_key        text        NOT NULL,
    page_url       text        NOT NULL DEFAULT '',
    content_type   text        NOT NULL CHECK (content_type IN ('page', 'image', 'video', 'link', 'other')),
    category       text        NOT NULL CHECK (category IN ('csam', 'grooming', 'sextortion', 'other')),
    country        text        NOT NULL DEFAULT '',
    hotline_id     text        NOT NULL,
    comment        text        NOT NULL DEFAULT '',
    contact        text        NOT NULL DEFAULT '',
    client_name    text        NOT NULL DEFAULT '',
    client_version text        NOT NULL DEFAULT '',
    received_at    timestamptz NOT NULL,
    -- Sighting counters; meaningful on primaries only (a sighting keeps 1
    -- and its own time).
    sighting_count bigint      NOT NULL DEFAULT 1 CHECK (sighting_count >= 1),
    first_seen_at  timestamptz NOT NULL,
    last_seen_at   timestamptz NOT NULL,
    -- Delivery state, set by the delivery worker on primaries; a sighting
    -- shows its primary's.
    status         text        NOT NULL DEFAULT 'accepted' CHECK (status IN ('accepted', 'delivered', 'use_hotline_form')),
    delivered_at   timestamptz
);

-- Duplicate lookup: the primary for (url_key, hotline_id) around a time.
-- Partial, so sightings (most rows when a URL is reported a lot) do not
-- bloat it; the lookup query repeats "primary_id = id" to use it.
CREATE INDEX reports_dedup ON reports (url_key, hotline_id, received_at) WHERE primary_id = id;

-- Sightings of a primary, and the foreign key's child lookup.
CREATE INDEX reports_primary_id ON reports (primary_id);

-- Idempotency records keep the answer given, so a retry gets the same one
-- even if the report itself is later removed. key is already a keyed hash.
CREATE TABLE idempotency (
    key         text        NOT NULL PRIMARY KEY,
    fingerprint text        NOT NULL,
    report_id   text        NOT NULL,
    reference   text        NOT NULL,
    hotline_id  text        NOT NULL,
    primary_id  text        NOT NULL,
    received_at timestamptz NOT NULL
);

CREATE INDEX idempotency_received_at ON idempotency (received_at);
