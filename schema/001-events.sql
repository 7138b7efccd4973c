-- 001-events.sql: the sselite event log, schema version 1.
-- SPDX-License-Identifier: MIT
--
-- This table is the public interface of sselite: any program, in any
-- language, publishes an event with a plain INSERT, e.g.
--   INSERT INTO events(channel, event, data) VALUES ('news', 'update', '{"n":1}');
-- The row id becomes the SSE "id:" and is what browsers resume from, so it is
-- AUTOINCREMENT: SQLite then never hands out an id twice, even after the
-- newest rows have been pruned (https://www.sqlite.org/autoinc.html).
--
-- The CHECK constraints refuse, at insert time, what could not reach a browser
-- byte for byte: channel names outside [A-Za-z0-9_.:/@-]{1,128}, event types
-- with CR or LF (they would end the "event:" line), and non-text data (BLOBs
-- and numbers would be sent as something other than what was inserted).
-- Applied by `sselite init`, which also sets journal_mode=WAL and
-- PRAGMA user_version.

CREATE TABLE events (
    id         INTEGER PRIMARY KEY AUTOINCREMENT CHECK (id > 0),
    channel    TEXT NOT NULL DEFAULT 'default'
               CHECK (typeof(channel) = 'text'
                      AND length(channel) BETWEEN 1 AND 128
                      AND channel NOT GLOB '*[^A-Za-z0-9_.:/@-]*'),
    event      TEXT
               CHECK (event IS NULL
                      OR (typeof(event) = 'text'
                          AND length(event) <= 128
                          AND instr(event, char(10)) = 0
                          AND instr(event, char(13)) = 0)),
    data       TEXT NOT NULL CHECK (typeof(data) = 'text'),
    -- Milliseconds since the Unix epoch. julianday() rather than
    -- unixepoch('subsec'), which needs SQLite 3.42 (Debian 12 has 3.40).
    created_at INTEGER NOT NULL
               DEFAULT (CAST((julianday('now') - 2440587.5) * 86400000.0 AS INTEGER))
);

-- "Rows of channels X after id N, in id order" is a range scan of this index
-- per channel; the worker's live path reads by primary key instead.
CREATE INDEX events_channel_id ON events (channel, id);

-- Pruning by age ("older than 7 days") scans created_at.
CREATE INDEX events_created_at ON events (created_at);
