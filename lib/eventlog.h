/* eventlog.h - read side of the event log, on SQLite or PostgreSQL.
 * SPDX-License-Identifier: MIT
 *
 * A struct sse_eventlog is one read-only connection with its range queries
 * prepared once at open: to a SQLite file (lib/eventlog_sqlite.c) or, when
 * the db name is a postgresql:// URI (dbname.h), to a PostgreSQL database
 * (lib/eventlog_pg.c). Callers see one interface; the engine is picked at
 * open. Every read is one statement, so it sees one consistent snapshot,
 * and it is over before the call returns: the connection never holds a
 * read transaction while its owner waits, which on SQLite would keep WAL
 * checkpoints from completing and let the -wal file grow without bound (and
 * on PostgreSQL hold back vacuum). The row callback runs inside the read,
 * so it only collects rows; writing them to a client (which may block for
 * as long as the client reads slowly) comes after the read has returned.
 *
 * Both engines make ids visible in increasing order (SQLite has one writer
 * at a time and AUTOINCREMENT never reuses an id; PostgreSQL assigns ids
 * in commit order, see schema/postgresql/001-events.sql), so "id > N" read
 * at any moment never skips a row that commits later; that is what makes
 * resume exact.
 *
 * Thread-safety: a connection may move between threads but must be used by
 * one thread at a time.
 */
#ifndef SSE_EVENTLOG_H
#define SSE_EVENTLOG_H

#include <stddef.h>
#include <stdint.h>

#include "channel.h"
#include "sse_limits.h"

struct sse_eventlog;

/* One row. Every pointer borrows from the engine and is valid only during the
 * callback that receives the row. type is NULL (or type_len 0) for the
 * default "message" type. channel is always a valid channel name
 * (sse_channel_valid) and data_len <= SSE_EVENT_DATA_MAX: rows that are not
 * are skipped by the read (see sse_eventlog_read). */
struct sse_event_row {
    int64_t id;
    const char *channel;
    size_t channel_len;
    const char *type;
    size_t type_len;
    const char *data;
    size_t data_len;
    int64_t created_ms;
};

/* Called once per row in id order; return 0 to take the row and go on,
 * anything else to stop the read before it (the row is not consumed; the
 * read returns that value). */
typedef int (*sse_eventlog_row_fn)(const struct sse_event_row *row, void *ctx);

/* Opens path (a SQLite file, or a PostgreSQL URI) read-only with the given
 * busy timeout (on PostgreSQL: the statement timeout of every read) and
 * checks that it holds an sselite event log: an events table with the
 * expected columns and a schema version from 1 to SSE_SCHEMA_VERSION
 * (lib/admin.h). On success *out is owned by the caller (free with
 * sse_eventlog_close). Errors: SSE_ENOENT (no such file), SSE_ESCHEMA (not
 * initialised, a table that `sselite init` did not make, or a schema
 * version this build does not know), SSE_ECORRUPT (not a database, or
 * damaged), SSE_EBUSY, SSE_EDB (on PostgreSQL also: cannot connect),
 * SSE_EINVAL (a URI sselite cannot use), SSE_ENOMEM. */
int sse_eventlog_open(const char *path, int busy_timeout_ms,
                      struct sse_eventlog **out);

/* As sse_eventlog_open; on failure err (capacity errlen, may be NULL) gets
 * one line saying why when the engine knows more than the code (libpq's
 * message: "password authentication failed ..."), else "". Never holds a
 * password. */
int sse_eventlog_open_msg(const char *path, int busy_timeout_ms,
                          struct sse_eventlog **out, char *err, size_t errlen);

/* Closes the connection. NULL-safe. */
void sse_eventlog_close(struct sse_eventlog *log);

/* What one sse_eventlog_read went through; filled in every case. */
struct sse_eventlog_progress {
    /* Every row with after_id < id <= last_seen was consumed: taken by fn
     * or skipped. after_id when none was. The next read starts here. */
    int64_t last_seen;
    size_t rows;    /* rows taken by fn */
    size_t skipped; /* unreadable rows skipped */
    /* 1 when no row with last_seen < id <= upto_id is left unconsumed (the
     * read ran out of rows before the limit), so the caller may move its
     * cursor to upto_id. */
    int complete;
};

/* Reads rows with after_id < id <= upto_id (INT64_MAX for no upper bound)
 * in id order, looking at most at limit of them, calling fn for each.
 * channels is an array of nchannels (at most SSE_REQUEST_MAX_CHANNELS)
 * channel names or patterns (pattern.h; as in struct sse_request), or NULL
 * for every channel; patterns that overlap ("a:b" beside "a:*") are fine,
 * a row is read once. A prefix is a range of the (channel, id) index
 * (channel >= the prefix and below it with its last byte raised by one, in
 * byte order on both engines), and costs one index seek per distinct
 * channel under it with rows, besides the rows read. *progress (may be NULL)
 * says how far it got.
 *
 * A row that cannot be sent as stored is skipped, never an error, so one
 * bad row (possible only in a table made or changed by hand, or written
 * with CHECK constraints off) cannot stop the rows after it: a channel
 * that is NULL, not TEXT or not a valid channel name (such a row matches
 * no channel filter either, so every path agrees on which rows a channel
 * has), data that is NULL or longer than SSE_EVENT_DATA_MAX bytes. Each is
 * counted in progress->skipped and logged once per row id and connection
 * as a warning, at most SSE_EVENTLOG_SKIP_LOG_BURST lines a minute per
 * connection (the rest are counted in the next line).
 *
 * The statement is reset before the call returns, so no read transaction
 * outlives it; but fn runs inside it, so fn must never wait on a client
 * (collect, then write after the read). Returns 0 when the range was read
 * up to the limit, the callback's non-zero value if it stopped early, or
 * SSE_EBUSY/SSE_ECORRUPT/SSE_EDB/SSE_ENOMEM. */
int sse_eventlog_read(struct sse_eventlog *log, int64_t after_id,
                      int64_t upto_id,
                      const char (*channels)[SSE_CHANNEL_MAX + 1],
                      size_t nchannels, size_t limit, sse_eventlog_row_fn fn,
                      void *ctx, struct sse_eventlog_progress *progress);

/* On SQLite, the virtual machine steps the last sse_eventlog_read took
 * (SQLITE_STMTSTATUS_VM_STEP): a measure of the rows and index entries it
 * visited, for tests that check a read stays a bounded range read. -1 on
 * PostgreSQL, which counts nothing per statement (tests/postgres measures
 * the index entries read in pg_stat_user_indexes instead). */
int64_t sse_eventlog_last_read_steps(const struct sse_eventlog *log);

/* Warning lines about skipped rows, per connection and minute. */
#define SSE_EVENTLOG_SKIP_LOG_BURST 10

/* Returns 1 while a statement of log is active (between its first step and
 * its reset), i.e. while log holds a read snapshot that keeps checkpoints
 * from completing; 0 otherwise. For assertions: nothing may wait on a
 * client while this is 1. */
int sse_eventlog_reading(const struct sse_eventlog *log);

/* Finds where a replay of the newest n rows of channels (names or
 * patterns as in sse_eventlog_read; NULL = all) with id <= upto_id starts:
 * *after is the id of the n-th newest such row minus one, or 0 when there are
 * fewer than n. Errors as sse_eventlog_read. */
int sse_eventlog_replay_start(struct sse_eventlog *log,
                              const char (*channels)[SSE_CHANNEL_MAX + 1],
                              size_t nchannels, int64_t n, int64_t upto_id,
                              int64_t *after);

/* Finds the newest row with id <= upto_id of each of channels[0..nchannels)
 * (replay=latest; exact names: a pattern is taken as a name, which matches
 * no channel) and stores the ids of those that exist in ids[0..*nids),
 * in increasing order; ids has room for nchannels. One backward seek in
 * events_channel_id per channel, never a scan, whatever the log's size. The
 * look-ups are separate statements: a row pruned meanwhile may still be
 * listed, and then reads as nothing. Errors as sse_eventlog_read. */
int sse_eventlog_newest_ids(struct sse_eventlog *log,
                            const char (*channels)[SSE_CHANNEL_MAX + 1],
                            size_t nchannels, int64_t upto_id, int64_t *ids,
                            size_t *nids);

/* Reports, from one snapshot, the highest id ever assigned (*head, 0 for a
 * new log; pruning does not lower it) and the lowest id still stored
 * (*oldest, head + 1 when the table is empty). A resume id r is complete iff
 * oldest - 1 <= r <= head. Errors as sse_eventlog_read. */
int sse_eventlog_bounds(struct sse_eventlog *log, int64_t *oldest,
                        int64_t *head);

/* Sets *through to the highest id ever deleted from any of channels (names
 * or patterns as in sse_eventlog_read; NULL = every channel), as recorded in
 * events_pruned (schema version 4), or 0 when none was (or the schema is
 * older). A resume after r is complete for these channels only if r >= *through
 * (and sse_eventlog_bounds agrees). Errors as sse_eventlog_read. */
int sse_eventlog_pruned_through(struct sse_eventlog *log,
                                const char (*channels)[SSE_CHANNEL_MAX + 1],
                                size_t nchannels, int64_t *through);

/* Called for each grant row; pattern[0..len) is borrowed for the call.
 * Return 0 to go on, anything else to stop (the value is returned). */
typedef int (*sse_eventlog_grant_fn)(void *ctx, const char *pattern, size_t len,
                                     int64_t expires_ms);

/* The most grant rows read for one principal. */
#define SSE_EVENTLOG_GRANTS_MAX 4096

/* Calls fn for each row of the grants table (schema version 6) of
 * principal that has not expired at now_ms (expires_at NULL, passed as
 * INT64_MAX, or later than now_ms), at most SSE_EVENTLOG_GRANTS_MAX of
 * them, in no particular order; rows whose pattern is not TEXT are
 * skipped. A log of an older schema has no grants: no call. (On PostgreSQL
 * the table is in the log's schema: schema/postgresql/006-grants.sql.)
 * Errors as sse_eventlog_read. */
int sse_eventlog_grants(struct sse_eventlog *log, const char *principal,
                        int64_t now_ms, sse_eventlog_grant_fn fn, void *ctx);

/* Sets *changed to 1 if another connection may have committed events
 * since the previous call, else 0. The first call reports 1. Cheap: on
 * SQLite PRAGMA data_version (no table is read); on PostgreSQL the first
 * call LISTENs for the insert trigger's NOTIFY (a hot standby cannot: it
 * is polled), and each call takes the notifications that arrived, or, when
 * there are none, compares max(id) (one index probe) with the last one.
 * Errors: SSE_EDB (on PostgreSQL: the connection is lost), SSE_ECORRUPT,
 * SSE_EBUSY. */
int sse_eventlog_changed(struct sse_eventlog *log, int *changed);

/* A descriptor that becomes readable when sse_eventlog_changed may have
 * news (PostgreSQL: the connection's socket, where NOTIFY arrives and
 * where a server going away shows), for an epoll set; -1 when the engine
 * has none (SQLite: watch the file's directory instead). Valid until
 * close; the caller must not read it or close it. */
int sse_eventlog_wake_fd(const struct sse_eventlog *log);

/* Returns 1 if log reads a copy that lags behind the database clients may
 * also have read (a PostgreSQL hot standby, as of open), so that an id
 * above its head may still arrive; 0 otherwise (SQLite, a primary). */
int sse_eventlog_lagging(const struct sse_eventlog *log);

/* Returns 1 if the path this log was opened from now names another file
 * (replaced, e.g. restored from a backup) or no file, 0 otherwise; always 0
 * on PostgreSQL, where a restored or failed-over database shows as a head
 * that went backwards (sse_eventlog_bounds). */
int sse_eventlog_replaced(const struct sse_eventlog *log);

/* Writes the engine's one-line description of the last failed call on log
 * into out (cap > 0; truncated to fit, always terminated): SQLite's
 * message ("database is locked"), or the PostgreSQL server's ("canceling
 * statement due to conflict with recovery"), so that a log line can say
 * which of the causes an SSE_EBUSY or SSE_EDB stood for. "" when the engine
 * has nothing to say. Call it before the next call on log, from the thread
 * that made the failed one. */
void sse_eventlog_last_error(const struct sse_eventlog *log, char *out,
                             size_t cap);

/* The path (or URI) given at open; borrowed until close. It may hold a
 * password: show it through sse_dbname_display (dbname.h). */
const char *sse_eventlog_path(const struct sse_eventlog *log);

#endif
