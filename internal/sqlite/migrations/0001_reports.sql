-- Reports and idempotency records.
--
-- Times are INTEGER microseconds since the Unix epoch, UTC: exact to compare
-- and index, and the precision PostgreSQL keeps, so both stores answer alike.
-- Nothing here identifies the reporter's installation or machine: no IP
-- address, no User-Agent, no installation id. Keep it that way.

CREATE TABLE reports (
    id             TEXT    NOT NULL PRIMARY KEY,
    reference      TEXT    NOT NULL UNIQUE,
    -- primary_id is id itself for a primary report, or the primary this
    -- report is a sighting of.
    primary_id     TEXT    NOT NULL REFERENCES reports (id),
    url            TEXT    NOT NULL,
    url_key        TEXT    NOT NULL,
    page_url       TEXT    NOT NULL DEFAULT '',
    content_type   TEXT    NOT NULL CHECK (content_type IN ('page', 'image', 'video', 'link', 'other')),
    category       TEXT    NOT NULL CHECK (category IN ('csam', 'grooming', 'sextortion', 'other')),
    country        TEXT    NOT NULL DEFAULT '',
    hotline_id     TEXT    NOT NULL,
    comment        TEXT    NOT NULL DEFAULT '',
    contact        TEXT    NOT NULL DEFAULT '',
    client_name    TEXT    NOT NULL DEFAULT '',
    client_version TEXT    NOT NULL DEFAULT '',
    received_at    INTEGER NOT NULL,
    -- Sighting counters; meaningful on primaries only (a sighting keeps 1
    -- and its own time).
    sighting_count INTEGER NOT NULL DEFAULT 1 CHECK (sighting_count >= 1),
    first_seen_at  INTEGER NOT NULL,
    last_seen_at   INTEGER NOT NULL,
    -- Delivery state, set by the delivery worker on primaries; a sighting
    -- shows its primary's.
    status         TEXT    NOT NULL DEFAULT 'accepted' CHECK (status IN ('accepted', 'delivered', 'use_hotline_form')),
    delivered_at   INTEGER
) STRICT;

-- Duplicate lookup: the primary for (url_key, hotline_id) around a time.
-- Partial, so sightings (most rows when a URL is reported a lot) do not
-- bloat it; the lookup query repeats "primary_id = id" to use it.
CREATE INDEX reports_dedup ON reports (url_key, hotline_id, received_at) WHERE primary_id = id;

-- Sightings of a primary, and the foreign key's child lookup.
CREATE INDEX reports_primary_id ON reports (primary_id);

-- Idempotency records keep the answer given, so a retry gets the same one
-- even if the report itself is later removed. key is already a keyed hash.
CREATE TABLE idempotency (
    key         TEXT    NOT NULL PRIMARY KEY,
    fingerprint TEXT    NOT NULL,
    report_id   TEXT    NOT NULL,
    reference   TEXT    NOT NULL,
    hotline_id  TEXT    NOT NULL,
    primary_id  TEXT    NOT NULL,
    received_at INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

CREATE INDEX idempotency_received_at ON idempotency (received_at);
