-- 003-limits.sql: schema version 3, refuse rows that could not reach a browser.
-- SPDX-License-Identifier: MIT
--
-- An INSERT or UPDATE is refused, with a message naming the rule, when
--   * events.id is above 999999999999999999, or an id assigned by SQLite
--     would be: a browser resumes by sending its last id back as
--     Last-Event-ID, which sselite reads as at most 18 decimal digits, so a
--     larger id gets every resume refused (400) and EventSource gives up for
--     good; and an explicit id of 2^63-1 would leave SQLite no id to assign;
--   * the channel is not 1 to 128 bytes of A-Z a-z 0-9 _ . : / @ - or the
--     event type has more than 128 bytes, or a CR, LF or NUL: length() and
--     GLOB stop at the first NUL, so version 1's CHECKs did not see what
--     followed one (such rows were stored and never delivered), and its
--     length(event) counted characters, not bytes;
--   * events.data is not text or has more than 4194304 bytes (4 MiB), which
--     bounds a worker's memory per event. NUL in data is allowed: it is
--     delivered byte for byte.
-- The numbers are those of lib/sse_limits.h; tests/unit/check_admin.c
-- checks that the two agree.
--
-- Triggers rather than new CHECKs: SQLite cannot change the CHECKs of an
-- existing table, and rebuilding a live "events" (copy, drop, rename) would
-- hold the write lock for the whole copy, need twice its disk space, and have
-- to carry over sqlite_sequence, the indexes and the id guard. A trigger is
-- added in an instant and leaves the stored rows alone. A new log gets
-- schema 001, 002 and 003 in turn, so new and upgraded logs enforce the
-- same rules. Version 1's CHECKs stay; every limit here is at least as
-- strict as theirs.
--
-- (In a BEFORE INSERT trigger NEW.id is -1 when SQLite is about to assign
-- the id; it will assign one above both sqlite_sequence and max(id).)

CREATE TRIGGER events_limits_insert BEFORE INSERT ON events
BEGIN
    SELECT RAISE(ABORT, 'sselite: events.id must be at most 999999999999999999 (18 digits, the longest Last-Event-ID sselite can resume from)')
    WHERE NEW.id > 999999999999999999;
    SELECT RAISE(ABORT, 'sselite: the event log has used its last id, 999999999999999999 (18 digits, the longest Last-Event-ID sselite can resume from)')
    WHERE NEW.id = -1
      AND max((SELECT coalesce(max(seq), 0) FROM sqlite_sequence
               WHERE name = 'events'),
              (SELECT coalesce(max(id), 0) FROM events)) >= 999999999999999999;
    SELECT RAISE(ABORT, 'sselite: events.channel must be 1 to 128 bytes of A-Z a-z 0-9 _ . : / @ -')
    WHERE typeof(NEW.channel) <> 'text'
       OR instr(NEW.channel, char(0)) > 0
       OR length(CAST(NEW.channel AS BLOB)) NOT BETWEEN 1 AND 128
       OR NEW.channel GLOB '*[^A-Za-z0-9_.:/@-]*';
    SELECT RAISE(ABORT, 'sselite: events.event (the event type) must be NULL or text of at most 128 bytes without CR, LF or NUL')
    WHERE NEW.event IS NOT NULL
      AND (typeof(NEW.event) <> 'text'
           OR instr(NEW.event, char(0)) > 0
           OR instr(NEW.event, char(10)) > 0
           OR instr(NEW.event, char(13)) > 0
           OR length(CAST(NEW.event AS BLOB)) > 128);
    SELECT RAISE(ABORT, 'sselite: events.data must be text of at most 4194304 bytes (4 MiB)')
    WHERE typeof(NEW.data) <> 'text'
       OR length(CAST(NEW.data AS BLOB)) > 4194304;
END;

-- The same rules for rows changed in place (an UPDATE of created_at alone,
-- as in tests that age rows, skips them).
CREATE TRIGGER events_limits_update BEFORE UPDATE OF id, channel, event, data
ON events
BEGIN
    SELECT RAISE(ABORT, 'sselite: events.id must be at most 999999999999999999 (18 digits, the longest Last-Event-ID sselite can resume from)')
    WHERE NEW.id > 999999999999999999;
    SELECT RAISE(ABORT, 'sselite: events.channel must be 1 to 128 bytes of A-Z a-z 0-9 _ . : / @ -')
    WHERE typeof(NEW.channel) <> 'text'
       OR instr(NEW.channel, char(0)) > 0
       OR length(CAST(NEW.channel AS BLOB)) NOT BETWEEN 1 AND 128
       OR NEW.channel GLOB '*[^A-Za-z0-9_.:/@-]*';
    SELECT RAISE(ABORT, 'sselite: events.event (the event type) must be NULL or text of at most 128 bytes without CR, LF or NUL')
    WHERE NEW.event IS NOT NULL
      AND (typeof(NEW.event) <> 'text'
           OR instr(NEW.event, char(0)) > 0
           OR instr(NEW.event, char(10)) > 0
           OR instr(NEW.event, char(13)) > 0
           OR length(CAST(NEW.event AS BLOB)) > 128);
    SELECT RAISE(ABORT, 'sselite: events.data must be text of at most 4194304 bytes (4 MiB)')
    WHERE typeof(NEW.data) <> 'text'
       OR length(CAST(NEW.data AS BLOB)) > 4194304;
END;
