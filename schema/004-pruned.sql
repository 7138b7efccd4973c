-- 004-pruned.sql: schema version 4, remember how far each channel was pruned.
-- SPDX-License-Identifier: MIT
--
-- A stream resumed after id N must hear of it (an sselite-gap event) when an
-- event of its channels with an id above N has been deleted. Deleting the
-- oldest rows of the whole log is visible as a higher min(id), but retention
-- rules prune channels differently ("orders:*" after a day, the rest after a
-- week), so the lowest stored id says nothing about one channel. This table
-- keeps, per channel, the highest id ever deleted from it; the worker
-- reports a gap when a resume point is below that of any of its channels.
-- A trigger fills it, so deletions by hand (DELETE FROM events ...) count
-- too. One row per channel that has lost a row; it is never pruned itself.

CREATE TABLE events_pruned (
    channel    TEXT PRIMARY KEY NOT NULL,
    through_id INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TRIGGER events_pruned_track AFTER DELETE ON events
BEGIN
    INSERT INTO events_pruned (channel, through_id)
    VALUES (OLD.channel, OLD.id)
    ON CONFLICT (channel) DO UPDATE
        SET through_id = max(through_id, excluded.through_id);
END;
