-- 002-id-guard.sql: schema version 2, refuse ids that would break resume.
-- SPDX-License-Identifier: MIT
--
-- Streams resume with "id > Last-Event-ID", which is exact only while every
-- new row gets an id above every id handed out before. SQLite guarantees that
-- for ids it assigns; a publisher that sets events.id itself could insert
-- below a client's cursor and the event would never be delivered. This
-- trigger refuses such an INSERT. (In a BEFORE INSERT trigger NEW.id is -1
-- when SQLite is about to assign the id; explicit ids <= 0 are already
-- refused by the table's CHECK.)

CREATE TRIGGER events_id_guard BEFORE INSERT ON events
WHEN NEW.id <> -1
     AND NEW.id <= (SELECT coalesce(max(seq), 0) FROM sqlite_sequence
                    WHERE name = 'events')
BEGIN
    SELECT RAISE(ABORT, 'sselite: events.id must be left to SQLite (an explicit id at or below the highest id ever used would never reach resuming clients)');
END;
