/* admin_sqlite.c - the SQLite engine of the event log's write side:
 * create/upgrade, publish, prune, statistics.
 * SPDX-License-Identifier: MIT
 *
 * Everything here runs from the `sselite` tool or from tests, never on a
 * worker's per-event path, so statements are prepared per call and the code
 * favours plain, obviously atomic SQL over speed. The schema text comes from
 * the files in schema/ through the generated lib/schema_sql.h: the files are
 * the one source of truth, and step N (schema_step_00N) takes a database
 * from user_version N-1 to N.
 *
 * Concurrency: several `sselite init` runs, publishers in other languages
 * and workers may all use the file at once. Each schema step therefore
 * re-reads user_version inside its own BEGIN IMMEDIATE transaction, so two
 * concurrent upgrades apply each step once, and a failed step rolls back to
 * the previous version. Every other write is a single statement in
 * autocommit mode, i.e. one short transaction.
 */
#include "admin_engine.h"

#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#include "channel.h"
#include "schema_sql.h"
#include "sqlite_error.h"
#include "sse_error.h"
#include "sse_limits.h"

static const char *const schema_steps[] = {
    schema_step_001, schema_step_002, schema_step_003,
    schema_step_004, schema_step_005, schema_step_006,
};

_Static_assert(sizeof schema_steps / sizeof schema_steps[0] ==
                   SSE_SCHEMA_VERSION,
               "one schema/*.sql step per schema version");

/* Invariant: db is open; path is the name given at open; err is always a
 * NUL-terminated string (empty until a call fails). */
struct sqlite_admin {
    sqlite3 *db;
    char *path;
    char err[256];
};

/* Translates an SQLite result code (primary or extended) into an SSE_E*. */
/* Records SQLite's message for the failure rc and returns its SSE_E* code. */
static int db_fail(struct sqlite_admin *a, int rc)
{
    snprintf(a->err, sizeof a->err, "%s", sqlite3_errmsg(a->db));
    return sse_sqlite_error(rc);
}

/* Records a message of our own and returns err. */
static int own_fail(struct sqlite_admin *a, int err, const char *msg)
{
    snprintf(a->err, sizeof a->err, "%s", msg);
    return err;
}

/* Runs SQL text without parameters (schema steps, transaction control). */
static int exec_sql(struct sqlite_admin *a, const char *sql)
{
    int rc = sqlite3_exec(a->db, sql, NULL, NULL, NULL);
    return rc == SQLITE_OK ? 0 : db_fail(a, rc);
}

/* Prepares sql into *st; on failure *st is NULL and a->err is set. */
static int prepare(struct sqlite_admin *a, const char *sql, sqlite3_stmt **st)
{
    int rc = sqlite3_prepare_v2(a->db, sql, -1, st, NULL);
    return rc == SQLITE_OK ? 0 : db_fail(a, rc);
}

/* Runs a query whose first row's first column is an integer (NULL reads
 * as 0; no row is SSE_EDB). */
static int query_i64(struct sqlite_admin *a, const char *sql, int64_t *out)
{
    sqlite3_stmt *st = NULL;
    int err = prepare(a, sql, &st);
    if (err)
        goto out;
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        *out = sqlite3_column_int64(st, 0);
    } else if (rc == SQLITE_DONE) {
        err = own_fail(a, SSE_EDB, "query returned no row");
    } else {
        err = db_fail(a, rc);
    }
out:
    sqlite3_finalize(st);
    return err;
}

/* Rows the last statement changed itself (not through triggers). */
static int64_t rows_changed(struct sqlite_admin *a)
{
#if SQLITE_VERSION_NUMBER >= 3037000
    return sqlite3_changes64(a->db);
#else
    return sqlite3_changes(a->db);
#endif
}

/* Sets *exists to 1 if the database has a table named "events". */
static int events_table_exists(struct sqlite_admin *a, int *exists)
{
    int64_t n = 0;
    int err = query_i64(a,
                        "SELECT count(*) FROM sqlite_master"
                        " WHERE type = 'table' AND name = 'events'",
                        &n);
    if (!err)
        *exists = n > 0;
    return err;
}

/* Called after a statement on "events" failed to prepare: turns "no such
 * table" into SSE_ESCHEMA (not initialised) and keeps err otherwise. */
static int schema_missing_or(struct sqlite_admin *a, int err)
{
    int exists = 1;
    if (err != SSE_EDB || events_table_exists(a, &exists) != 0 || exists)
        return err;
    return own_fail(a, SSE_ESCHEMA,
                    "no events table: not initialised (run sselite init)");
}

static void sqlite_close(void *impl);

static int sqlite_open(const char *path, int create, int busy_timeout_ms,
                       void **out, char *errbuf, size_t errlen)
{
    struct sqlite_admin *a = NULL;
    struct stat sb;
    int err = 0;

    /* SQLite reports a missing file only as a generic "unable to open", so
     * ask the file system first. */
    if (!create && stat(path, &sb) != 0 &&
        (errno == ENOENT || errno == ENOTDIR))
        return SSE_ENOENT;

    a = calloc(1, sizeof *a);
    if (a == NULL)
        return SSE_ENOMEM;
    size_t n = strlen(path) + 1;
    a->path = malloc(n);
    if (a->path == NULL) {
        err = SSE_ENOMEM;
        goto out;
    }
    memcpy(a->path, path, n);

    /* SQLite creates a new file with mode 0644 whatever the umask, and
     * gives -wal and -shm the database's mode, so a group of publishers
     * (the systemd unit's UMask=0007) could not write. Creating the empty
     * file ourselves with 0666 lets the umask decide, as for any file; an
     * empty file is a valid empty database. EEXIST: someone was first. */
    if (create) {
        int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOCTTY,
                      0666);
        if (fd >= 0)
            close(fd);
    }
    int flags = SQLITE_OPEN_READWRITE | (create ? SQLITE_OPEN_CREATE : 0);
    int rc = sqlite3_open_v2(path, &a->db, flags, NULL);
    if (rc != SQLITE_OK) {
        err = a->db == NULL ? SSE_ENOMEM : sse_sqlite_error(rc);
        goto out;
    }
    sqlite3_extended_result_codes(a->db, 1);
    sqlite3_busy_timeout(a->db, busy_timeout_ms);

    /* Opening is lazy: read the schema once so that a file that is not a
     * database fails here, with SSE_ECORRUPT, rather than at first use. */
    int64_t unused;
    err = query_i64(a, "SELECT count(*) FROM sqlite_master", &unused);

out:
    if (err) {
        if (a != NULL && a->err[0] != '\0' && errbuf != NULL && errlen > 0)
            snprintf(errbuf, errlen, "%s", a->err);
        sqlite_close(a);
        return err;
    }
    *out = a;
    return 0;
}

static void sqlite_close(void *impl)
{
    struct sqlite_admin *a = impl;
    if (a == NULL)
        return;
    /* Every statement is finalized before its call returns, so close
     * cannot fail with SQLITE_BUSY. */
    sqlite3_close(a->db);
    free(a->path);
    free(a);
}

static const char *sqlite_errmsg(const void *impl)
{
    const struct sqlite_admin *a = impl;
    return a->err;
}

/* Refuses to apply step n to a database it cannot serve: version 0 with a
 * foreign "events" table (step 1), or a log that already handed out ids
 * above SSE_ID_MAX (step 3). Such ids cannot be resumed from, and step 3
 * would refuse every later INSERT, so the operator repairs the log first
 * (README, "Limits") rather than find it stuck. Runs inside the step's
 * transaction. */
static int step_precondition(struct sqlite_admin *a, int n)
{
    int exists = 0;
    int64_t head = 0;
    int err = 0;
    switch (n) {
    case 1:
        err = events_table_exists(a, &exists);
        if (!err && exists)
            err = own_fail(a, SSE_ESCHEMA,
                           "schema version 0 but an events table exists:"
                           " not an sselite event log");
        break;
    case 3:
        err = query_i64(a,
                        "SELECT max(coalesce((SELECT max(seq) FROM"
                        " sqlite_sequence WHERE name = 'events'), 0),"
                        " coalesce((SELECT max(id) FROM events), 0))",
                        &head);
        if (!err && head > SSE_ID_MAX) {
            snprintf(a->err, sizeof a->err,
                     "the log has used ids above %lld, which no client can"
                     " resume from: delete those rows and lower"
                     " sqlite_sequence (README, \"Limits\"), then run init"
                     " again",
                     (long long)SSE_ID_MAX);
            err = SSE_ESCHEMA;
        }
        break;
    default:
        break;
    }
    return err;
}

/* Applies schema step n (1-based) inside its own write transaction, unless
 * a concurrent init got there first. */
static int apply_step(struct sqlite_admin *a, int n)
{
    char sql[64];
    int64_t v = 0;
    int err = exec_sql(a, "BEGIN IMMEDIATE");
    if (err)
        return err;
    err = query_i64(a, "PRAGMA user_version", &v);
    if (err || v >= n)
        goto out;
    if (v != n - 1) {
        err = own_fail(a, SSE_ESCHEMA, "schema version changed during init");
        goto out;
    }
    err = step_precondition(a, n);
    if (err)
        goto out;
    err = exec_sql(a, schema_steps[n - 1]);
    if (err)
        goto out;
    /* PRAGMA takes no bound parameters; n is our own small integer. */
    int len = snprintf(sql, sizeof sql, "PRAGMA user_version = %d", n);
    assert(len > 0 && (size_t)len < sizeof sql);
    (void)len;
    err = exec_sql(a, sql);
out:
    if (err) {
        sqlite3_exec(a->db, "ROLLBACK", NULL, NULL, NULL);
        return err;
    }
    return exec_sql(a, "COMMIT");
}

static int sqlite_init(void *impl, int *from, int *to)
{
    struct sqlite_admin *a = impl;
    int64_t v = 0;
    int err = query_i64(a, "PRAGMA user_version", &v);
    if (err)
        return err;
    if (v < 0 || v > SSE_SCHEMA_VERSION) {
        snprintf(a->err, sizeof a->err,
                 "schema version %" PRId64 " is %s (this build knows up to"
                 " %d); refusing to change it",
                 v, v < 0 ? "invalid" : "newer than this build",
                 SSE_SCHEMA_VERSION);
        return SSE_ESCHEMA;
    }

    /* WAL cannot be switched on inside a transaction, and it is persistent:
     * publishers in other languages need not set it. An in-memory database
     * stays "memory", which is fine for tests. */
    sqlite3_stmt *st = NULL;
    err = prepare(a, "PRAGMA journal_mode = WAL", &st);
    if (err)
        return err;
    int rc = sqlite3_step(st);
    if (rc != SQLITE_ROW) {
        err = db_fail(a, rc);
    } else {
        const char *mode = (const char *)sqlite3_column_text(st, 0);
        if (mode == NULL ||
            (strcmp(mode, "wal") != 0 && strcmp(mode, "memory") != 0)) {
            snprintf(a->err, sizeof a->err,
                     "could not switch to WAL mode (journal_mode is %s)",
                     mode ? mode : "unknown");
            err = SSE_EDB;
        }
    }
    sqlite3_finalize(st);
    if (err)
        return err;

    for (int n = (int)v + 1; n <= SSE_SCHEMA_VERSION; n++) {
        err = apply_step(a, n);
        if (err)
            return err;
    }
    if (from != NULL)
        *from = (int)v;
    if (to != NULL)
        *to = SSE_SCHEMA_VERSION;
    return 0;
}

/* Binds channel, type and data to parameters 1-3 of an INSERT into events.
 * The statement runs before the publish call returns, so nothing is copied
 * here; SQLite copies the values into the database. */
static int bind_event(sqlite3_stmt *st, const char *channel, const char *type,
                      const char *data, size_t len)
{
    int rc = sqlite3_bind_text(st, 1, channel ? channel : SSE_CHANNEL_DEFAULT,
                               -1, SQLITE_STATIC);
    /* An empty type means "message" just as NULL does; store one form. */
    if (rc == SQLITE_OK && type != NULL && type[0] != '\0')
        rc = sqlite3_bind_text(st, 2, type, -1, SQLITE_STATIC);
    /* NULL data would bind SQL NULL, so an empty payload is bound as "". */
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_text64(st, 3, len ? data : "", len, SQLITE_STATIC,
                                 SQLITE_UTF8);
    return rc;
}

/* Called after a statement naming idem_key failed to prepare: a log below
 * schema version 5 has no such column, which the operator fixes with
 * `sselite init`; any other failure is kept. */
static int idem_column_missing_or(struct sqlite_admin *a, int err)
{
    int64_t v = SSE_SCHEMA_VERSION;
    err = schema_missing_or(a, err);
    if (err != SSE_EDB || query_i64(a, "PRAGMA user_version", &v) != 0 ||
        v >= 5)
        return err;
    snprintf(a->err, sizeof a->err,
             "the log is at schema version %" PRId64 ", which has no"
             " idempotency keys: upgrade it with sselite init",
             v);
    return SSE_ESCHEMA;
}

/* Inserts the event with key unless the channel already has that key, and
 * reads the id of the one stored event; the caller holds a write
 * transaction, so no prune or other publisher comes in between. */
static int insert_keyed(struct sqlite_admin *a, const char *channel,
                        const char *type, const char *data, size_t len,
                        const char *key, int64_t *id, int *duplicate)
{
    sqlite3_stmt *st = NULL;
    int err = prepare(a,
                      "INSERT INTO events (channel, event, data, idem_key)"
                      " VALUES (?1, ?2, ?3, ?4) ON CONFLICT DO NOTHING",
                      &st);
    if (err) {
        err = idem_column_missing_or(a, err);
        goto out;
    }
    int rc = bind_event(st, channel, type, data, len);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_text(st, 4, key, -1, SQLITE_STATIC);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(st);
    if (rc != SQLITE_DONE) {
        err = db_fail(a, rc);
        goto out;
    }
    /* changes() counts the rows this INSERT stored, not a trigger's. */
    if (sqlite3_changes(a->db) == 1) {
        *id = sqlite3_last_insert_rowid(a->db);
        *duplicate = 0;
        goto out;
    }
    sqlite3_finalize(st);
    err = prepare(
        a, "SELECT id FROM events WHERE channel = ?1 AND idem_key = ?2", &st);
    if (err)
        goto out;
    rc = sqlite3_bind_text(st, 1, channel ? channel : SSE_CHANNEL_DEFAULT, -1,
                           SQLITE_STATIC);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_text(st, 2, key, -1, SQLITE_STATIC);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        *id = sqlite3_column_int64(st, 0);
        *duplicate = 1;
    } else if (rc == SQLITE_DONE) {
        /* ON CONFLICT DO NOTHING skipped the row, so some unique rule
         * matched; only the idem_key index can, as ids are not given. */
        err = own_fail(a, SSE_EDB, "the event was neither stored nor found");
    } else {
        err = db_fail(a, rc);
    }
out:
    sqlite3_finalize(st);
    return err;
}

static int sqlite_publish_idem(void *impl, const char *channel,
                               const char *type, const char *data, size_t len,
                               const char *key, int64_t *id, int *duplicate)
{
    struct sqlite_admin *a = impl;
    int64_t new_id = 0;
    int dup = 0;
    sqlite3_stmt *st = NULL;
    int err = 0;
    if (key != NULL) {
        /* BEGIN IMMEDIATE takes the write lock at once (waiting up to the
         * busy timeout), so the look-up after a skipped INSERT cannot be
         * overtaken by a prune. */
        err = exec_sql(a, "BEGIN IMMEDIATE");
        if (err)
            return err;
        err = insert_keyed(a, channel, type, data, len, key, &new_id, &dup);
        if (err)
            sqlite3_exec(a->db, "ROLLBACK", NULL, NULL, NULL);
        else
            err = exec_sql(a, "COMMIT");
        goto out;
    }
    err = prepare(a,
                  "INSERT INTO events (channel, event, data)"
                  " VALUES (?1, ?2, ?3)",
                  &st);
    if (err) {
        err = schema_missing_or(a, err);
        goto out;
    }
    int rc = bind_event(st, channel, type, data, len);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(st);
    if (rc != SQLITE_DONE) {
        err = db_fail(a, rc);
        goto out;
    }
    new_id = sqlite3_last_insert_rowid(a->db);
out:
    sqlite3_finalize(st);
    if (err)
        return err;
    if (id != NULL)
        *id = new_id;
    if (duplicate != NULL)
        *duplicate = dup;
    return 0;
}

static int sqlite_prune(void *impl, int64_t keep, int64_t older_than_ms,
                        const char *channel, int64_t *deleted)
{
    struct sqlite_admin *a = impl;
    if (keep < 0 && older_than_ms < 0)
        return own_fail(a, SSE_EINVAL, "neither keep nor older-than given");

    /* One statement, hence one transaction. "keep": every row at or below
     * the id of the (keep+1)-th newest row (found through the primary key
     * or the (channel, id) index) goes. "older than": created_at before
     * now minus the age, with "now" computed as the column default does. */
    sqlite3_stmt *st = NULL;
    int err =
        prepare(a,
                "DELETE FROM events"
                " WHERE (?1 IS NULL OR channel = ?1)"
                "   AND ((?2 >= 0 AND id <= (SELECT id FROM events"
                "                            WHERE ?1 IS NULL OR channel = ?1"
                "                            ORDER BY id DESC"
                "                            LIMIT 1 OFFSET max(?2, 0)))"
                "     OR (?3 >= 0 AND created_at <"
                "         CAST((julianday('now') - 2440587.5) * 86400000.0"
                "              AS INTEGER) - ?3))",
                &st);
    if (err) {
        err = schema_missing_or(a, err);
        goto out;
    }
    int rc = channel ? sqlite3_bind_text(st, 1, channel, -1, SQLITE_STATIC)
                     : SQLITE_OK;
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_int64(st, 2, keep);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_int64(st, 3, older_than_ms);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(st);
    if (rc != SQLITE_DONE) {
        err = db_fail(a, rc);
        goto out;
    }
    if (deleted != NULL)
        *deleted = rows_changed(a);
out:
    sqlite3_finalize(st);
    return err;
}

/* Size of path + suffix in bytes; 0 when it does not exist. */
static int file_size(struct sqlite_admin *a, const char *suffix, int64_t *size)
{
    char name[4096];
    struct stat sb;
    int n = snprintf(name, sizeof name, "%s%s", a->path, suffix);
    if (n < 0 || (size_t)n >= sizeof name)
        return own_fail(a, SSE_ETOOBIG, "database path too long");
    if (stat(name, &sb) != 0) {
        if (errno != ENOENT) {
            /* glibc's strerror is thread-safe since 2.32 (Debian 12: 2.36). */
            snprintf(a->err, sizeof a->err,
                     "cannot read the size of the database%s file: %s", suffix,
                     strerror(errno));
            return SSE_EIO;
        }
        *size = 0;
        return 0;
    }
    *size = (int64_t)sb.st_size;
    return 0;
}

/* Fills the row numbers of st and calls fn per channel; runs inside the
 * caller's read transaction so that all numbers agree. */
static int read_stats(struct sqlite_admin *a, struct sse_admin_stats *st,
                      sse_admin_channel_fn fn, void *ctx)
{
    int64_t v = 0;
    sqlite3_stmt *q = NULL;
    int err = query_i64(a, "PRAGMA user_version", &v);
    if (err)
        goto out;
    st->schema_version = (int)v;

    err = prepare(a, "PRAGMA journal_mode", &q);
    if (err)
        goto out;
    int rc = sqlite3_step(q);
    if (rc != SQLITE_ROW) {
        err = db_fail(a, rc);
        goto out;
    }
    const unsigned char *mode = sqlite3_column_text(q, 0);
    snprintf(st->journal_mode, sizeof st->journal_mode, "%s",
             mode ? (const char *)mode : "");
    sqlite3_finalize(q);
    q = NULL;

    /* head: AUTOINCREMENT's high-water mark, which pruning never lowers
     * (max(id) as well, in case sqlite_sequence was edited by hand). */
    err = prepare(
        a,
        "SELECT (SELECT count(*) FROM events),"
        "       max(coalesce((SELECT seq FROM sqlite_sequence"
        "                     WHERE name = 'events'), 0),"
        "           coalesce((SELECT max(id) FROM events), 0)),"
        "       (SELECT min(id) FROM events),"
        "       (SELECT created_at FROM events ORDER BY id LIMIT 1),"
        "       (SELECT created_at FROM events ORDER BY id DESC LIMIT 1)",
        &q);
    if (err) {
        err = schema_missing_or(a, err);
        goto out;
    }
    rc = sqlite3_step(q);
    if (rc != SQLITE_ROW) {
        err = db_fail(a, rc);
        goto out;
    }
    st->rows = sqlite3_column_int64(q, 0);
    st->head_id = sqlite3_column_int64(q, 1);
    st->oldest_id = sqlite3_column_type(q, 2) == SQLITE_NULL
                        ? st->head_id + 1
                        : sqlite3_column_int64(q, 2);
    st->oldest_ms = sqlite3_column_int64(q, 3);
    st->newest_ms = sqlite3_column_int64(q, 4);
    sqlite3_finalize(q);
    q = NULL;

    if (fn == NULL)
        goto out;
    /* Channels that lost every row live on in events_pruned (schema 3);
     * an older schema has no such table, and then nothing was recorded. */
    err = prepare(
        a,
        st->schema_version >= 3
            ? "WITH c AS (SELECT channel, count(*) AS n, max(id) AS hi,"
              "                  min(id) AS lo FROM events GROUP BY channel)"
              " SELECT ch.channel, coalesce(c.n, 0), coalesce(c.hi, 0),"
              "        coalesce(c.lo, 0),"
              "        (SELECT created_at FROM events WHERE id = c.lo),"
              "        coalesce(p.through_id, 0)"
              " FROM (SELECT channel FROM c"
              "       UNION SELECT channel FROM events_pruned) AS ch"
              " LEFT JOIN c ON c.channel = ch.channel"
              " LEFT JOIN events_pruned AS p ON p.channel = ch.channel"
              " ORDER BY ch.channel"
            : "SELECT channel, count(*), max(id), min(id),"
              "       (SELECT created_at FROM events WHERE id = min(e.id)), 0"
              " FROM events AS e GROUP BY channel ORDER BY channel",
        &q);
    if (err)
        goto out;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        const char *name = (const char *)sqlite3_column_text(q, 0);
        struct sse_admin_channel ch = {
            .name = name ? name : "",
            .rows = sqlite3_column_int64(q, 1),
            .last_id = sqlite3_column_int64(q, 2),
            .oldest_id = sqlite3_column_int64(q, 3),
            .oldest_ms = sqlite3_column_int64(q, 4),
            .resume_after = sqlite3_column_int64(q, 5),
        };
        if (ch.resume_after < st->oldest_id - 1)
            ch.resume_after = st->oldest_id - 1;
        err = fn(&ch, ctx);
        if (err)
            goto out;
    }
    if (rc != SQLITE_DONE)
        err = db_fail(a, rc);
out:
    sqlite3_finalize(q);
    return err;
}

static int sqlite_stats(void *impl, struct sse_admin_stats *st,
                        sse_admin_channel_fn fn, void *ctx)
{
    struct sqlite_admin *a = impl;
    struct sse_admin_stats s;
    memset(&s, 0, sizeof s);

    /* One read transaction: one snapshot for every number. It ends before
     * we return, so it never holds back a checkpoint. */
    int err = exec_sql(a, "BEGIN");
    if (err)
        return err;
    err = read_stats(a, &s, fn, ctx);
    sqlite3_exec(a->db, "COMMIT", NULL, NULL, NULL);
    if (!err)
        err = file_size(a, "", &s.db_bytes);
    if (!err)
        err = file_size(a, "-wal", &s.wal_bytes);
    if (!err)
        *st = s;
    return err;
}

static int sqlite_checkpoint(void *impl, int *busy)
{
    struct sqlite_admin *a = impl;
    int rc = sqlite3_wal_checkpoint_v2(a->db, NULL, SQLITE_CHECKPOINT_TRUNCATE,
                                       NULL, NULL);
    /* SQLITE_BUSY here means the busy timeout ran out while a reader held
     * the WAL: the checkpoint did what it could, which is not an error. */
    if (rc == SQLITE_OK || (rc & 0xff) == SQLITE_BUSY) {
        if (busy != NULL)
            *busy = rc != SQLITE_OK;
        return 0;
    }
    return db_fail(a, rc);
}

/* Binds ?1 channel, ?2 x and ?3 y to the prepared st and steps it once,
 * expecting want (SQLITE_ROW or SQLITE_DONE); the row stays readable. */
static int bind_step(struct sqlite_admin *a, sqlite3_stmt *st,
                     const char *channel, int64_t x, int64_t y, int want)
{
    int rc = sqlite3_bind_text(st, 1, channel, -1, SQLITE_STATIC);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_int64(st, 2, x);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_int64(st, 3, y);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(st);
    return rc == want ? 0 : db_fail(a, rc);
}

/* prepare() for a statement on "events": "no such table" becomes
 * SSE_ESCHEMA (not initialised). */
static int prepare_events(struct sqlite_admin *a, const char *sql,
                          sqlite3_stmt **st)
{
    int err = prepare(a, sql, st);
    return err ? schema_missing_or(a, err) : 0;
}

static int sqlite_next_channel(void *impl, const char *after, char *out,
                               int *found)
{
    struct sqlite_admin *a = impl;
    sqlite3_stmt *st = NULL;
    /* A seek per channel: a DISTINCT would read the whole index. */
    int err =
        prepare_events(a,
                       "SELECT channel FROM events INDEXED BY events_channel_id"
                       " WHERE channel > ?1 ORDER BY channel LIMIT 1",
                       &st);
    if (err)
        goto out;
    int rc = sqlite3_bind_text(st, 1, after, -1, SQLITE_STATIC);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        const char *name = (const char *)sqlite3_column_text(st, 0);
        int n = snprintf(out, SSE_CHANNEL_MAX + 1, "%s", name ? name : "");
        /* The schema's CHECK bounds every stored name. */
        assert(n >= 0 && n <= SSE_CHANNEL_MAX);
        (void)n;
        *found = 1;
    } else if (rc == SQLITE_DONE) {
        *found = 0;
    } else {
        err = db_fail(a, rc);
    }
out:
    sqlite3_finalize(st);
    return err;
}

static int sqlite_prune_cutoff(void *impl, const char *channel, int64_t keep,
                               int64_t older_than_ms, int64_t *cutoff)
{
    struct sqlite_admin *a = impl;
    if (keep < 0 && older_than_ms < 0)
        return own_fail(a, SSE_EINVAL, "neither keep nor older-than given");
    /* Both walk the (channel, id) index: "keep" from the newest end, at
     * most keep + 1 entries; "older than" from the oldest end up to the
     * first young row, i.e. over the rows that go anyway. */
    sqlite3_stmt *st = NULL;
    int err = prepare_events(
        a,
        "SELECT max("
        "  CASE WHEN ?2 < 0 THEN 0 ELSE coalesce("
        "    (SELECT id FROM events INDEXED BY events_channel_id"
        "     WHERE channel = ?1 ORDER BY id DESC LIMIT 1 OFFSET ?2), 0) END,"
        "  CASE WHEN ?3 < 0 THEN 0 ELSE coalesce("
        "    (SELECT id - 1 FROM events INDEXED BY events_channel_id"
        "     WHERE channel = ?1 AND created_at >="
        "           CAST((julianday('now') - 2440587.5) * 86400000.0"
        "                AS INTEGER) - ?3"
        "     ORDER BY id LIMIT 1),"
        "    (SELECT max(id) FROM events WHERE channel = ?1), 0) END)",
        &st);
    if (!err)
        err = bind_step(a, st, channel, keep, older_than_ms, SQLITE_ROW);
    if (!err)
        *cutoff = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return err;
}

static int sqlite_delete_through(void *impl, const char *channel,
                                 int64_t cutoff, int64_t limit,
                                 int64_t *deleted)
{
    struct sqlite_admin *a = impl;
    assert(limit >= 1);
    sqlite3_stmt *st = NULL;
    /* One statement in autocommit: one transaction of at most limit rows,
     * so a publisher waits for one batch at most. */
    int err = prepare_events(
        a,
        "DELETE FROM events WHERE id IN"
        " (SELECT id FROM events INDEXED BY events_channel_id"
        "  WHERE channel = ?1 AND id <= ?2 ORDER BY id LIMIT ?3)",
        &st);
    if (!err)
        err = bind_step(a, st, channel, cutoff, limit, SQLITE_DONE);
    if (!err)
        *deleted = rows_changed(a);
    sqlite3_finalize(st);
    return err;
}

static int sqlite_vacuum(void *impl)
{
    struct sqlite_admin *a = impl;
    return exec_sql(a, "VACUUM");
}

/* --- grants (schema version 6) --- */

/* schema_missing_or for a statement on "grants": a log from before schema
 * version 6 has none and is upgraded by `sselite init`. */
static int grants_missing_or(struct sqlite_admin *a, int err)
{
    if (err == SSE_EDB && strstr(a->err, "no such table: grants"))
        return own_fail(a, SSE_ESCHEMA,
                        "no grants table: the log is older than schema "
                        "version 6 (run sselite init)");
    return schema_missing_or(a, err);
}

static int sqlite_grant(void *impl, const char *principal, const char *pattern,
                        int64_t expires_ms)
{
    struct sqlite_admin *a = impl;
    sqlite3_stmt *st = NULL;
    /* Granting again replaces the expiry: the newest word wins. */
    int err = prepare(a,
                      "INSERT INTO grants(principal, pattern, expires_at) "
                      "VALUES (?1, ?2, ?3) ON CONFLICT(principal, pattern) "
                      "DO UPDATE SET expires_at = excluded.expires_at",
                      &st);
    if (err) {
        err = grants_missing_or(a, err);
        goto out;
    }
    sqlite3_bind_text(st, 1, principal, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, pattern, -1, SQLITE_STATIC);
    if (expires_ms > 0)
        sqlite3_bind_int64(st, 3, expires_ms);
    else
        sqlite3_bind_null(st, 3);
    int rc = sqlite3_step(st);
    if (rc != SQLITE_DONE)
        err = (rc & 0xff) == SQLITE_CONSTRAINT ? (db_fail(a, rc), SSE_EINVAL)
                                               : db_fail(a, rc);
out:
    sqlite3_finalize(st);
    return err;
}

static int sqlite_revoke(void *impl, const char *principal, const char *pattern,
                         int64_t *removed)
{
    struct sqlite_admin *a = impl;
    sqlite3_stmt *st = NULL;
    int err = prepare(
        a, "DELETE FROM grants WHERE principal = ?1 AND pattern = ?2", &st);
    if (err) {
        err = grants_missing_or(a, err);
        goto out;
    }
    sqlite3_bind_text(st, 1, principal, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, pattern, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc != SQLITE_DONE)
        err = db_fail(a, rc);
    else if (removed)
        *removed = rows_changed(a);
out:
    sqlite3_finalize(st);
    return err;
}

static int sqlite_grants(void *impl, const char *principal,
                         sse_admin_grant_fn fn, void *ctx)
{
    struct sqlite_admin *a = impl;
    sqlite3_stmt *st = NULL;
    int err = prepare(a,
                      "SELECT principal, pattern, expires_at FROM grants "
                      "WHERE ?1 IS NULL OR principal = ?1 "
                      "ORDER BY principal, pattern",
                      &st);
    if (err) {
        err = grants_missing_or(a, err);
        goto out;
    }
    if (principal)
        sqlite3_bind_text(st, 1, principal, -1, SQLITE_STATIC);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        struct sse_admin_grant g = {
            .principal = (const char *)sqlite3_column_text(st, 0),
            .pattern = (const char *)sqlite3_column_text(st, 1),
            .expires_ms = sqlite3_column_type(st, 2) == SQLITE_NULL
                              ? 0
                              : sqlite3_column_int64(st, 2)};
        if (!g.principal || !g.pattern) {
            err = SSE_ENOMEM;
            goto out;
        }
        err = fn(&g, ctx);
        if (err)
            goto out;
    }
    if (rc != SQLITE_DONE)
        err = db_fail(a, rc);
out:
    sqlite3_finalize(st);
    return err;
}

const struct sse_admin_engine sse_admin_sqlite_engine = {
    .name = "sqlite",
    .open = sqlite_open,
    .close = sqlite_close,
    .errmsg = sqlite_errmsg,
    .init = sqlite_init,
    .publish_idem = sqlite_publish_idem,
    .prune = sqlite_prune,
    .stats = sqlite_stats,
    .checkpoint = sqlite_checkpoint,
    .next_channel = sqlite_next_channel,
    .prune_cutoff = sqlite_prune_cutoff,
    .delete_through = sqlite_delete_through,
    .vacuum = sqlite_vacuum,
    .grant = sqlite_grant,
    .revoke = sqlite_revoke,
    .grants = sqlite_grants,
};
