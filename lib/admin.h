/* admin.h - write side of the event log: create/upgrade, publish, prune,
 * statistics. Used by the `sselite` command-line tool and by tests.
 * SPDX-License-Identifier: MIT
 *
 * The log is a SQLite file, or a PostgreSQL database when the name is a
 * postgresql:// URI (dbname.h); one interface, two engines (admin_sqlite.c,
 * admin_pg.c). On PostgreSQL the log lives in a schema of its own
 * ("sselite", or sselite_schema=NAME in the URI), its steps come from
 * schema/postgresql/, the version is kept in its schema_version table,
 * "busy timeout" is the lock_timeout, WAL checkpoints are PostgreSQL's own
 * business (sse_admin_checkpoint does nothing) and VACUUM is the plain,
 * non-blocking one.
 *
 * On SQLite the schema is applied from the files in schema/ (embedded at
 * build time):
 * step N brings a database from user_version N-1 to N, each step in its own
 * transaction, so an older database is upgraded in place and a failed step
 * leaves the previous version intact. A database newer than this build is
 * refused (SSE_ESCHEMA), never downgraded.
 *
 * Thread-safety: one struct sse_admin per thread.
 */
#ifndef SSE_ADMIN_H
#define SSE_ADMIN_H

#include <stddef.h>
#include <stdint.h>

#define SSE_SCHEMA_VERSION 6

struct sse_admin;

/* Opens (creating the file if create is non-zero) path read-write with the
 * busy timeout. Does not apply the schema. *out owned by caller.
 * Errors: SSE_ENOENT (missing and !create), SSE_ECORRUPT, SSE_EBUSY, SSE_EDB,
 * SSE_ENOMEM. */
int sse_admin_open(const char *path, int create, int busy_timeout_ms,
                   struct sse_admin **out);

/* As sse_admin_open; on failure err (capacity errlen, may be NULL) gets
 * one line saying why when the engine knows (on PostgreSQL libpq's
 * message: "password authentication failed ..."), else "". */
int sse_admin_open_msg(const char *path, int create, int busy_timeout_ms,
                       struct sse_admin **out, char *err, size_t errlen);

/* Closes; NULL-safe. */
void sse_admin_close(struct sse_admin *a);

/* A one-line description of why the last failed call on a failed (SQLite's
 * message, e.g. "attempt to write a readonly database", or sselite's own),
 * "" before any failure; for messages that name the cause. Borrowed until
 * the next call on a. */
const char *sse_admin_errmsg(const struct sse_admin *a);

/* Sets journal_mode=WAL and applies every schema step above the database's
 * user_version. *from and *to (may be NULL) receive the versions before and
 * after. Idempotent. Errors: SSE_ESCHEMA (newer than SSE_SCHEMA_VERSION, a
 * user_version of 0 on a database that already has an incompatible "events"
 * table, or an older log that has used ids above SSE_ID_MAX: it must be
 * repaired first; the steps below it stay applied), SSE_EBUSY, SSE_EDB. */
int sse_admin_init(struct sse_admin *a, int *from, int *to);

/* Inserts one event and stores its id in *id (may be NULL). channel NULL
 * means "default"; type NULL means none (message). data[0..len) is copied.
 * Errors: SSE_EINVAL when the schema refuses the row (sse_limits.h: bad
 * channel, bad type, data over SSE_EVENT_DATA_MAX, no id left below
 * SSE_ID_MAX; sse_admin_errmsg names the rule), SSE_ESCHEMA (no events
 * table: not initialised), SSE_EBUSY, SSE_EDB. */
int sse_admin_publish(struct sse_admin *a, const char *channel,
                      const char *type, const char *data, size_t len,
                      int64_t *id);

/* Publishes idempotently: as sse_admin_publish, but with key (NULL: none,
 * then exactly sse_admin_publish) stored as the row's idem_key. When the
 * channel already holds an event with that key, nothing is inserted and *id
 * gets that event's id, so a retry after an uncertain failure publishes the
 * event once. The insert and the look-up are one write transaction.
 * *duplicate (may be NULL) is 1 when the key was already there, else 0.
 * Errors as sse_admin_publish, and SSE_EINVAL for a key that is empty or
 * longer than SSE_IDEM_KEY_MAX bytes. */
int sse_admin_publish_idem(struct sse_admin *a, const char *channel,
                           const char *type, const char *data, size_t len,
                           const char *key, int64_t *id, int *duplicate);

/* Deletes old events: with keep >= 0, all but the newest keep rows; with
 * older_than_ms >= 0, rows created more than that many milliseconds before
 * now; both may be given (a row goes if either rule says so). channel
 * (NULL = all) restricts both rules to one channel. Ids are never reused.
 * *deleted (may be NULL) gets the count. Errors: SSE_EINVAL (neither rule
 * given), SSE_ESCHEMA, SSE_EBUSY, SSE_EDB. */
int sse_admin_prune(struct sse_admin *a, int64_t keep, int64_t older_than_ms,
                    const char *channel, int64_t *deleted);

struct sse_admin_stats {
    int schema_version;
    char journal_mode[16];
    int64_t rows;
    int64_t head_id;   /* highest id ever assigned (0 if none) */
    int64_t oldest_id; /* lowest stored id (head_id + 1 if empty) */
    int64_t oldest_ms; /* created_at of oldest row, 0 if empty */
    int64_t newest_ms; /* created_at of newest row, 0 if empty */
    int64_t db_bytes;  /* size of the database file */
    int64_t wal_bytes; /* size of the -wal file, 0 if none */
};

/* One channel as sse_admin_stats sees it. A channel whose every row was
 * deleted still appears (rows 0) once the schema records its pruning. */
struct sse_admin_channel {
    const char *name; /* borrowed for the callback */
    int64_t rows;
    int64_t last_id;   /* highest stored id, 0 if none */
    int64_t oldest_id; /* lowest stored id, 0 if none */
    int64_t oldest_ms; /* created_at of that row, 0 if none */
    /* A stream of this channel resumed after any id >= resume_after gets
     * every event after it; below, the worker sends an sselite-gap event.
     * It is the higher of the log's lowest id - 1 and the highest id ever
     * deleted from this channel (events_pruned, schema 3). */
    int64_t resume_after;
};

/* Called per channel by sse_admin_stats, in channel order. Return 0 to go
 * on; any other value stops the scan and is returned by sse_admin_stats. */
typedef int (*sse_admin_channel_fn)(const struct sse_admin_channel *ch,
                                    void *ctx);

/* Fills st from one snapshot; calls fn (may be NULL) once per channel.
 * Errors as publish, and SSE_EIO when the file sizes cannot be read; st is
 * untouched on failure. */
int sse_admin_stats(struct sse_admin *a, struct sse_admin_stats *st,
                    sse_admin_channel_fn fn, void *ctx);

/* Runs PRAGMA wal_checkpoint(TRUNCATE) so the WAL file shrinks; *busy (may
 * be NULL) is set to 1 when a reader kept it from completing. */
int sse_admin_checkpoint(struct sse_admin *a, int *busy);

/* --- bounded pruning, one channel at a time (used by retention.c) --- */

/* Finds the first channel name above after ("" for the first) in byte
 * order, through the (channel, id) index, into out (SSE_CHANNEL_MAX + 1
 * bytes). *found is 0 when there is none. Errors: SSE_ESCHEMA, SSE_EBUSY,
 * SSE_EDB. */
int sse_admin_next_channel(struct sse_admin *a, const char *after, char *out,
                           int *found);

/* Works out the highest id of channel that retention removes: with
 * keep >= 0, the rows below the newest keep go; with older_than_ms >= 0,
 * every row before the channel's first row created less than that long ago
 * goes (rows are taken in id order, so a row with a clock that went back is
 * kept until an older-looking row after it goes). A row goes if either rule
 * says so. *cutoff gets 0 when nothing goes. Reads only. Errors: SSE_EINVAL
 * (neither rule), SSE_ESCHEMA, SSE_EBUSY, SSE_EDB. */
int sse_admin_prune_cutoff(struct sse_admin *a, const char *channel,
                           int64_t keep, int64_t older_than_ms,
                           int64_t *cutoff);

/* Deletes, in one short write transaction, the oldest at most limit (>= 1)
 * rows of channel with id <= cutoff; *deleted gets how many. Call again
 * until it deletes fewer than limit. Errors: SSE_ESCHEMA, SSE_EBUSY,
 * SSE_EDB. */
int sse_admin_delete_through(struct sse_admin *a, const char *channel,
                             int64_t cutoff, int64_t limit, int64_t *deleted);

/* --- grants (schema version 6; lib/access.h) ---
 * On PostgreSQL the grants table is in the log's schema
 * (schema/postgresql/006-grants.sql), with the same columns and limits as
 * on SQLite (schema/006-grants.sql). */

/* Grants principal the channels of pattern until expires_ms (ms since the
 * epoch; <= 0 for never); granting an existing pair again replaces its
 * expiry. The caller checks the pattern (sse_pattern_template_valid).
 * Errors: SSE_EINVAL (the schema refuses the row: empty or too long),
 * SSE_ESCHEMA (no grants table: run `sselite init`), SSE_EBUSY, SSE_EDB. */
int sse_admin_grant(struct sse_admin *a, const char *principal,
                    const char *pattern, int64_t expires_ms);

/* Removes the grant of pattern to principal; *removed (may be NULL) gets
 * 1, or 0 when there was none. Errors as sse_admin_grant. */
int sse_admin_revoke(struct sse_admin *a, const char *principal,
                     const char *pattern, int64_t *removed);

/* One grants row; strings borrowed for the callback. */
struct sse_admin_grant {
    const char *principal;
    const char *pattern;
    int64_t expires_ms; /* 0: never */
};

/* Return 0 to go on; anything else stops the listing and is returned. */
typedef int (*sse_admin_grant_fn)(const struct sse_admin_grant *g, void *ctx);

/* Lists the grants of principal (NULL: of everyone), expired ones too, in
 * principal and pattern order (bytewise, on both engines). Errors as
 * sse_admin_grant. */
int sse_admin_grants(struct sse_admin *a, const char *principal,
                     sse_admin_grant_fn fn, void *ctx);

/* Runs VACUUM: rewrites the file without its free pages. Needs as much
 * free disk as the database and blocks every writer until done. */
int sse_admin_vacuum(struct sse_admin *a);

#endif
