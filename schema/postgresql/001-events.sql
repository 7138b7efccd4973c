-- postgresql/001-events.sql: the sselite event log on PostgreSQL.
-- SPDX-License-Identifier: MIT
--
-- Applied by `sselite init postgresql://...` inside the log's own schema
-- ("sselite" unless the URI says sselite_schema=NAME), with search_path set
-- to that schema alone, so every name below lands there and the log lives
-- beside the application's tables without touching them. It creates at once
-- the public interface of schema version 5 of the SQLite log (schema/0*.sql):
-- a table "events" with the same columns, the same limits and the same
-- indexes, "events_pruned", and idempotency keys. Later versions add steps
-- here under the same numbers as on SQLite (006-grants.sql: version 6).
--
-- Channel names compare byte by byte (COLLATE "C"), as on SQLite, whatever
-- the database's collation, so the (channel, id) index serves every walk
-- in channel order.
--
-- Publish with a plain INSERT, in the application's own transaction:
--   INSERT INTO sselite.events (channel, event, data)
--   VALUES ('orders', 'paid', '{"order":7}') RETURNING id;
--
-- THE ORDERING RULE. Readers resume with "id > Last-Event-ID", which is exact
-- only if ids become visible in increasing order: once a reader has seen id
-- N, no row with a smaller id may appear later. A plain bigserial does not
-- give that: transaction A takes id 7, B takes id 8 and commits, a reader
-- sees 8 and moves past it, then A commits 7, which that reader never reads.
-- Here the BEFORE INSERT trigger first takes a transaction-scoped advisory
-- lock and only then takes the next id, so
--   * a transaction that inserted an event holds the lock until it ends;
--   * the next id is therefore only handed out once every transaction that
--     got a lower id has committed or rolled back;
--   * PostgreSQL makes a commit visible (and writes its commit record)
--     before it releases the transaction's locks, so the transaction that
--     gets the next id starts after the lower ids are already visible, and
--     its own commit record follows theirs in the WAL.
-- Hence ids follow commit order, on the primary, and on every hot standby,
-- which makes commits visible in WAL order. A rolled-back transaction leaves
-- a hole in the ids (as a sequence always does), never a late row. An id
-- inserted in a subtransaction that rolls back goes with the row.
--
-- THE COST. Transactions that publish events commit one at a time, from
-- their first INSERT INTO events until COMMIT: a publisher waits for every
-- earlier publishing transaction to end. Insert the event as the last
-- statement before COMMIT, and keep such transactions short; the rest of
-- the application is not affected. The throughput limit is one publishing
-- commit at a time (thousands a second with a local disk; fewer with
-- synchronous replication, whose round trip is inside the lock).
--
-- WAKE-UPS. An AFTER INSERT OR DELETE statement trigger sends NOTIFY on the
-- channel named after the schema; PostgreSQL delivers it at commit to every
-- worker that LISTENs on the primary. A hot standby cannot LISTEN: workers
-- there poll (max(id) and min(id), two index probes) every poll-ms.

CREATE SEQUENCE events_id_seq AS bigint MINVALUE 1 MAXVALUE 999999999999999999
    NO CYCLE;

CREATE TABLE events (
    id         bigint PRIMARY KEY
               CHECK (id BETWEEN 1 AND 999999999999999999),
    channel    text COLLATE "C" NOT NULL DEFAULT 'default'
               CHECK (octet_length(channel) BETWEEN 1 AND 128
                      AND channel ~ '^[A-Za-z0-9_.:/@-]+$'),
    event      text
               CHECK (event IS NULL
                      OR (octet_length(event) <= 128
                          AND strpos(event, chr(10)) = 0
                          AND strpos(event, chr(13)) = 0)),
    data       text NOT NULL CHECK (octet_length(data) <= 4194304),
    -- Milliseconds since the Unix epoch, when the row was inserted.
    created_at bigint NOT NULL
               DEFAULT (floor(extract(epoch FROM clock_timestamp()) * 1000)),
    idem_key   text
               CHECK (idem_key IS NULL OR octet_length(idem_key) BETWEEN 1 AND 128)
);

ALTER SEQUENCE events_id_seq OWNED BY events.id;

CREATE INDEX events_channel_id ON events (channel, id);
CREATE INDEX events_created_at ON events (created_at);
CREATE UNIQUE INDEX events_channel_idem_key ON events (channel, idem_key)
    WHERE idem_key IS NOT NULL;

-- The highest id ever deleted from each channel, so that a stream resumed
-- below it gets an sselite-gap event (as schema/004-pruned.sql).
CREATE TABLE events_pruned (
    channel    text COLLATE "C" PRIMARY KEY,
    through_id bigint NOT NULL
);
-- max(through_id) is part of the log's head (the highest id ever
-- committed): one index probe.
CREATE INDEX events_pruned_through ON events_pruned (through_id);

CREATE TABLE schema_version (
    version integer NOT NULL CHECK (version > 0)
);

-- SET search_path FROM CURRENT: the functions run with the log's schema
-- whatever the publisher's search_path is.
CREATE FUNCTION events_assign_id() RETURNS trigger
LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
BEGIN
    IF NEW.id IS NOT NULL THEN
        RAISE EXCEPTION 'sselite: events.id must be left to sselite (an explicit id would break the order in which readers see ids)'
            USING ERRCODE = 'check_violation';
    END IF;
    -- Lock first, then the id: see THE ORDERING RULE above. The key pair
    -- is ('SSE' as a number, this table's oid), so two logs in two schemas
    -- do not wait for each other.
    PERFORM pg_advisory_xact_lock(5460805, TG_RELID::integer);
    NEW.id := nextval('events_id_seq');
    RETURN NEW;
END
$$;

CREATE TRIGGER events_assign_id BEFORE INSERT ON events
    FOR EACH ROW EXECUTE FUNCTION events_assign_id();

CREATE FUNCTION events_keep_id() RETURNS trigger
LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
BEGIN
    IF NEW.id IS DISTINCT FROM OLD.id THEN
        RAISE EXCEPTION 'sselite: events.id cannot be changed'
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END
$$;

CREATE TRIGGER events_keep_id BEFORE UPDATE OF id ON events
    FOR EACH ROW EXECUTE FUNCTION events_keep_id();

CREATE FUNCTION events_notify() RETURNS trigger
LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
BEGIN
    PERFORM pg_notify(current_schema(), '');
    RETURN NULL;
END
$$;

-- On DELETE too: a worker learns at once that pruning moved the oldest id.
CREATE TRIGGER events_notify AFTER INSERT OR DELETE ON events
    FOR EACH STATEMENT EXECUTE FUNCTION events_notify();

-- One statement-level trigger per DELETE, whatever its size.
CREATE FUNCTION events_pruned_track() RETURNS trigger
LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
BEGIN
    INSERT INTO events_pruned AS p (channel, through_id)
    SELECT channel, max(id) FROM gone GROUP BY channel
    ON CONFLICT (channel) DO UPDATE
        SET through_id = greatest(p.through_id, excluded.through_id);
    RETURN NULL;
END
$$;

CREATE TRIGGER events_pruned_track AFTER DELETE ON events
    REFERENCING OLD TABLE AS gone
    FOR EACH STATEMENT EXECUTE FUNCTION events_pruned_track();
