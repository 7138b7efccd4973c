-- 005-idem-key.sql: schema version 5, idempotent publishing.
-- SPDX-License-Identifier: MIT
--
-- A publisher that does not know whether its INSERT committed (the process
-- died, the connection broke, a timeout fired after COMMIT) must be able to
-- retry without publishing the event twice. It gives the event a key of its
-- own choosing, unique within the channel, and retries with the same key:
--   INSERT INTO events(channel, event, data, idem_key)
--   VALUES ('orders', 'paid', '{"order":7}', 'order-7-paid')
--   ON CONFLICT DO NOTHING;
--   SELECT id FROM events WHERE channel = 'orders' AND idem_key = 'order-7-paid';
-- The SELECT returns the id of the one stored event, whether this INSERT
-- stored it or an earlier one did (README, "Idempotent publishing").
-- Use ON CONFLICT DO NOTHING, not INSERT OR IGNORE: OR IGNORE also skips,
-- silently, a row that a CHECK constraint of version 1 refuses.
--
-- The key is remembered as long as its event is stored: once pruned, the
-- same key publishes a new event. Rows without a key (NULL, the default)
-- are never compared, so plain INSERTs work as before; the partial index
-- costs nothing for them.
--
-- A key is text of 1 to 128 bytes (SSE_IDEM_KEY_MAX in lib/sse_limits.h):
-- it is stored in an index entry of its row. An empty key is refused, as a
-- variable that was never set would otherwise make every later event of
-- the channel a "retry" of the first.
--
-- ALTER TABLE ADD COLUMN changes only the table's definition, not its rows,
-- so the upgrade is instant on a log of any size; the triggers of versions 3
-- and 4 stay as they are.

ALTER TABLE events ADD COLUMN idem_key TEXT;

CREATE UNIQUE INDEX events_channel_idem_key ON events (channel, idem_key)
WHERE idem_key IS NOT NULL;

CREATE TRIGGER events_idem_key_insert BEFORE INSERT ON events
WHEN NEW.idem_key IS NOT NULL
     AND (typeof(NEW.idem_key) <> 'text'
          OR length(CAST(NEW.idem_key AS BLOB)) NOT BETWEEN 1 AND 128)
BEGIN
    SELECT RAISE(ABORT, 'sselite: events.idem_key must be NULL or text of 1 to 128 bytes');
END;

CREATE TRIGGER events_idem_key_update BEFORE UPDATE OF idem_key ON events
WHEN NEW.idem_key IS NOT NULL
     AND (typeof(NEW.idem_key) <> 'text'
          OR length(CAST(NEW.idem_key AS BLOB)) NOT BETWEEN 1 AND 128)
BEGIN
    SELECT RAISE(ABORT, 'sselite: events.idem_key must be NULL or text of 1 to 128 bytes');
END;
