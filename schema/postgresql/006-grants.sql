-- postgresql/006-grants.sql: schema version 6, who may read which channels.
-- SPDX-License-Identifier: MIT
--
-- The grants table of schema/006-grants.sql, in the log's schema: with
-- access control on (sselite-fcgi's auth-secret-file, user-channels or
-- public-channels), a user the web server authenticated (REMOTE_USER) may
-- read the channels its rows here grant, besides user-channels. principal
-- is the REMOTE_USER value, compared exactly (byte by byte: COLLATE "C");
-- pattern is a channel name, a prefix ending in '*' right after '/' or ':',
-- or '*' alone, where "{user}" stands for the principal; expires_at is in
-- milliseconds since the epoch, like events.created_at (NULL: never). A
-- change takes effect at the subscriber's next connect; a stream granted by
-- a row with expires_at ends by then. Manage rows with `sselite grant`,
-- `sselite revoke` and `sselite grants` on the log's URI, or plain SQL
-- (INSERT INTO sselite.grants ...). The worker skips rows whose pattern is
-- not valid, so a hand-written row can grant too little, never too much.

CREATE TABLE grants (
    principal  text COLLATE "C" NOT NULL
               CHECK (octet_length(principal) BETWEEN 1 AND 256),
    pattern    text COLLATE "C" NOT NULL
               CHECK (octet_length(pattern) BETWEEN 1 AND 512),
    expires_at bigint,
    PRIMARY KEY (principal, pattern)
);
