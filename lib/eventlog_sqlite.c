/* eventlog_sqlite.c - the SQLite engine of the event log's read side.
 * SPDX-License-Identifier: MIT
 *
 * Four range statements are prepared at open: all channels (the shared
 * live path, a primary-key range scan), one channel (an in-order range scan
 * of events_channel_id), up to SSE_REQUEST_MAX_CHANNELS channels (one
 * range per channel, merged by a sort; unused slots are bound to NULL, which
 * matches nothing), and the same mixed with prefix ranges ("orders:*", see
 * lib/eventlog.c). A prefix's distinct channels are found by a recursive
 * walk of events_channel_id, one seek per channel, and each is then read as
 * a range of its own (EXPLAIN QUERY PLAN in tests/unit/check_eventlog.c).
 * Every statement is reset before returning so no read transaction
 * outlives a call.
 *
 * A row whose channel or data is not TEXT (possible only in a hand-made
 * table or with CHECK constraints off) is handed to lib/eventlog.c marked as
 * unreadable, which skips it like every other row that cannot be sent.
 *
 * Ids are committed in increasing order (SQLite has one writer at a time and
 * AUTOINCREMENT never reuses an id), so "id > N" read at any moment never
 * skips a row that commits later; that is what makes resume exact.
 */
#include <errno.h>
#include <limits.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "admin.h"
#include "eventlog_engine.h"
#include "sqlite_error.h"
#include "sse_error.h"

#define MULTI_SLOTS SSE_EVENTLOG_MULTI_SLOTS
/* Prefix ranges bind ?PREFIX_PARAM.. as (low, high) pairs, after the exact
 * names' ?4..?(3 + MULTI_SLOTS). */
#define PREFIX_PARAM (4 + MULTI_SLOTS)

struct sqlite_log {
    sqlite3 *db;
    sqlite3_stmt *read_all;
    sqlite3_stmt *read_one;
    sqlite3_stmt *read_multi;
    sqlite3_stmt *read_pattern;
    sqlite3_stmt *bounds;
    sqlite3_stmt *nth_all;
    sqlite3_stmt *nth_multi;
    sqlite3_stmt *nth_pattern;
    sqlite3_stmt *data_version;
    /* Prepared at first use: NULL also while the log's schema (before
     * version 4) has no events_pruned table. */
    sqlite3_stmt *pruned_all;
    sqlite3_stmt *pruned_multi;
    sqlite3_stmt *pruned_pattern;
    sqlite3_stmt *grants;      /* lazily, NULL before schema version 6 */
    int64_t last_data_version; /* -1 before the first call */
    int64_t last_read_steps;   /* sse_eventlog_last_read_steps */
    dev_t dev;
    ino_t ino;
    char *path;
};

#define COLUMNS "id, channel, event, data, created_at"
#define STR_(x) #x
#define STR(x) STR_(x)

static int prepare(sqlite3 *db, const char *sql, sqlite3_stmt **st)
{
    /* PERSISTENT: these statements live as long as the connection. */
    int rc =
        sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, st, NULL);
    if (rc == SQLITE_ERROR)
        return SSE_ESCHEMA; /* "no such table" or a missing column */
    return sse_sqlite_error(rc);
}

static void sqlite_close(void *impl)
{
    struct sqlite_log *log = impl;
    if (!log)
        return;
    sqlite3_finalize(log->read_all);
    sqlite3_finalize(log->read_one);
    sqlite3_finalize(log->read_multi);
    sqlite3_finalize(log->read_pattern);
    sqlite3_finalize(log->bounds);
    sqlite3_finalize(log->nth_all);
    sqlite3_finalize(log->nth_multi);
    sqlite3_finalize(log->nth_pattern);
    sqlite3_finalize(log->data_version);
    sqlite3_finalize(log->pruned_all);
    sqlite3_finalize(log->pruned_multi);
    sqlite3_finalize(log->pruned_pattern);
    sqlite3_finalize(log->grants);
    sqlite3_close_v2(log->db);
    free(log->path);
    free(log);
}

/* head: the statement up to "channel IN ("; tail: what follows ")". */
static int build_multi_sql(char *sql, size_t cap, const char *head,
                           const char *tail)
{
    int n = snprintf(sql, cap, "%s", head);
    for (int i = 0; i < MULTI_SLOTS && n > 0 && (size_t)n < cap; i++)
        n += snprintf(sql + n, cap - (size_t)n, "%s?%d", i ? "," : "", i + 4);
    if (n > 0 && (size_t)n < cap)
        n += snprintf(sql + n, cap - (size_t)n, ")%s", tail);
    return n > 0 && (size_t)n < cap ? 0 : SSE_EINVAL;
}

/* Appends fmt to sql[*n..cap); returns 0, or SSE_EINVAL when it does not
 * fit (then *n is past cap and every later call fails too). */
static int sql_add(char *sql, size_t cap, int *n, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int sql_add(char *sql, size_t cap, int *n, const char *fmt, ...)
{
    if (*n < 0 || (size_t)*n >= cap)
        return SSE_EINVAL;
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(sql + *n, cap - (size_t)*n, fmt, ap);
    va_end(ap);
    *n = k < 0 ? -1 : *n + k;
    return *n >= 0 && (size_t)*n < cap ? 0 : SSE_EINVAL;
}

/* The common table expression "want(c)": every channel a request of exact
 * names (?4..) and prefix ranges (?PREFIX_PARAM.., low and high) wants
 * that has rows. Each prefix's channels are walked in the index, one seek
 * per distinct channel (min(channel) above the previous one); a NULL slot
 * yields nothing. */
static int build_want_cte(char *sql, size_t cap, int *n)
{
    int rc = sql_add(sql, cap, n, "WITH RECURSIVE p(lo, hi) AS (VALUES ");
    for (int i = 0; i < MULTI_SLOTS && !rc; i++)
        rc = sql_add(sql, cap, n, "%s(?%d, ?%d)", i ? "," : "",
                     PREFIX_PARAM + 2 * i, PREFIX_PARAM + 2 * i + 1);
    if (!rc)
        rc = sql_add(
            sql, cap, n,
            "), pc(c, hi) AS (SELECT (SELECT min(channel) FROM events "
            "WHERE channel >= p.lo AND channel < p.hi), p.hi FROM p "
            "WHERE p.lo IS NOT NULL UNION ALL SELECT (SELECT min(channel) "
            "FROM events WHERE channel > pc.c AND channel < pc.hi), pc.hi "
            "FROM pc WHERE pc.c IS NOT NULL), want(c) AS (SELECT c FROM pc "
            "WHERE c IS NOT NULL UNION ALL SELECT column1 FROM (VALUES ");
    for (int i = 0; i < MULTI_SLOTS && !rc; i++)
        rc = sql_add(sql, cap, n, "%s(?%d)", i ? "," : "", i + 4);
    if (!rc)
        rc = sql_add(sql, cap, n, ") WHERE column1 IS NOT NULL) ");
    return rc;
}

/* The statement of every channel that a request of names and prefixes
 * wants; head goes between the CTE and "channel IN (...)", tail after. */
static int prepare_pattern(sqlite3 *db, const char *head, const char *tail,
                           sqlite3_stmt **st)
{
    char sql[4096];
    int n = 0;
    int rc = build_want_cte(sql, sizeof sql, &n);
    if (!rc)
        rc = sql_add(sql, sizeof sql, &n,
                     "%s channel IN (SELECT c FROM want)%s", head, tail);
    return rc ? rc : prepare(db, sql, st);
}

/* Refuses a database that `sselite init` did not make, or made by a newer
 * build: its rows may not mean what this build reads them as. */
static int check_version(sqlite3 *db)
{
    sqlite3_stmt *st = NULL;
    int rc = sse_sqlite_error(
        sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL));
    if (rc)
        return rc;
    int step = sqlite3_step(st);
    if (step == SQLITE_ROW) {
        int64_t v = sqlite3_column_int64(st, 0);
        if (v < 1 || v > SSE_SCHEMA_VERSION)
            rc = SSE_ESCHEMA;
    } else {
        rc = sse_sqlite_error(step);
        if (!rc)
            rc = SSE_EDB;
    }
    sqlite3_finalize(st);
    return rc;
}

static int sqlite_open(const char *path, int busy_timeout_ms, void **out,
                       char *err, size_t errlen)
{
    (void)err;
    (void)errlen;
    struct sqlite_log *log = calloc(1, sizeof *log);
    if (!log)
        return SSE_ENOMEM;
    log->last_data_version = -1;
    int rc;
    struct stat sb;
    if (stat(path, &sb) != 0) {
        rc = errno == ENOENT || errno == ENOTDIR ? SSE_ENOENT : SSE_EDB;
        goto out;
    }
    log->dev = sb.st_dev;
    log->ino = sb.st_ino;
    log->path = strdup(path);
    if (!log->path) {
        rc = SSE_ENOMEM;
        goto out;
    }
    /* NOMUTEX: the contract is one thread at a time, so SQLite's own
     * per-connection mutex would only cost time. */
    rc = sse_sqlite_error(sqlite3_open_v2(
        path, &log->db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL));
    if (rc)
        goto out;
    sqlite3_busy_timeout(log->db, busy_timeout_ms);
    sqlite3_extended_result_codes(log->db, 1);

    char multi[1024];
    rc = prepare(log->db,
                 "SELECT " COLUMNS " FROM events WHERE id > ?1 AND id <= ?2 "
                 "ORDER BY id LIMIT ?3",
                 &log->read_all);
    if (!rc)
        rc = prepare(log->db,
                     "SELECT " COLUMNS
                     " FROM events WHERE channel = ?4 AND id > ?1 "
                     "AND id <= ?2 ORDER BY id LIMIT ?3",
                     &log->read_one);
    if (!rc)
        rc = build_multi_sql(multi, sizeof multi,
                             "SELECT " COLUMNS
                             " FROM events WHERE id > ?1 AND id <= ?2 "
                             "AND channel IN (",
                             " ORDER BY id LIMIT ?3");
    if (!rc)
        rc = prepare(log->db, multi, &log->read_multi);
    if (!rc)
        rc = prepare_pattern(log->db,
                             "SELECT " COLUMNS
                             " FROM events WHERE id > ?1 AND id <= ?2 AND",
                             " ORDER BY id LIMIT ?3", &log->read_pattern);
    if (!rc)
        rc = prepare(log->db,
                     "SELECT id FROM events WHERE id <= ?2 ORDER BY id DESC "
                     "LIMIT 1 OFFSET ?3",
                     &log->nth_all);
    if (!rc)
        rc = build_multi_sql(
            multi, sizeof multi,
            "SELECT id FROM events WHERE id <= ?2 AND channel IN (",
            " ORDER BY id DESC LIMIT 1 OFFSET ?3");
    if (!rc)
        rc = prepare(log->db, multi, &log->nth_multi);
    if (!rc)
        rc = prepare_pattern(
            log->db, "SELECT id FROM events WHERE id <= ?2 AND",
            " ORDER BY id DESC LIMIT 1 OFFSET ?3", &log->nth_pattern);
    if (!rc)
        rc = prepare(log->db,
                     "SELECT (SELECT min(id) FROM events), "
                     "(SELECT seq FROM sqlite_sequence WHERE name = 'events')",
                     &log->bounds);
    if (!rc)
        rc = prepare(log->db, "PRAGMA data_version", &log->data_version);
    if (!rc)
        rc = check_version(log->db);
out:
    if (rc) {
        sqlite_close(log);
        return rc;
    }
    *out = log;
    return 0;
}

/* The statement of a filter: every channel, names (the one-name form when
 * there is one name and one is given), or names and prefixes. */
static sqlite3_stmt *pick(const struct sse_eventlog_filter *f,
                          sqlite3_stmt *all, sqlite3_stmt *one,
                          sqlite3_stmt *multi, sqlite3_stmt *pattern)
{
    switch (f->kind) {
    case SSE_EVENTLOG_FILTER_ALL:
        return all;
    case SSE_EVENTLOG_FILTER_NAMES:
        return f->nnames == 1 && one ? one : multi;
    case SSE_EVENTLOG_FILTER_PATTERNS:
        break;
    }
    return pattern;
}

/* Binds ?1 after, ?2 upto, ?3 limit/offset, f's names into the slots from
 * ?4 and, in a statement that has them (prepare_pattern, the pattern form
 * of prepare_pruned), f's prefix ranges into the (low, high) pairs from
 * ?PREFIX_PARAM; an empty slot is NULL, which matches nothing. The strings
 * are bound SQLITE_STATIC: f and its channels must outlive the bindings
 * (sqlite3_clear_bindings before they go out of scope). */
static void bind_filter(sqlite3_stmt *st, int64_t after, int64_t upto,
                        int64_t limit, const struct sse_eventlog_filter *f)
{
    /* Statements without ?1 still accept the binding (unused slot). */
    sqlite3_bind_int64(st, 1, after);
    sqlite3_bind_int64(st, 2, upto);
    sqlite3_bind_int64(st, 3, limit);
    int params = sqlite3_bind_parameter_count(st);
    for (int i = 0; i < MULTI_SLOTS && i + 4 <= params; i++) {
        if ((size_t)i < f->nnames)
            sqlite3_bind_text(st, i + 4, f->names[i], -1, SQLITE_STATIC);
        else
            sqlite3_bind_null(st, i + 4);
    }
    for (int i = 0; i < MULTI_SLOTS && PREFIX_PARAM + 2 * i + 1 <= params;
         i++) {
        int lo = PREFIX_PARAM + 2 * i;
        if ((size_t)i < f->nprefixes) {
            sqlite3_bind_text(st, lo, f->lo[i], -1, SQLITE_STATIC);
            sqlite3_bind_text(st, lo + 1, f->hi[i], -1, SQLITE_STATIC);
        } else {
            sqlite3_bind_null(st, lo);
            sqlite3_bind_null(st, lo + 1);
        }
    }
}

static int sqlite_replay_start(void *impl, const struct sse_eventlog_filter *f,
                               int64_t n, int64_t upto_id, int64_t *after)
{
    struct sqlite_log *log = impl;
    sqlite3_stmt *st =
        pick(f, log->nth_all, NULL, log->nth_multi, log->nth_pattern);
    bind_filter(st, 0, upto_id, n - 1, f);
    int step = sqlite3_step(st);
    int rc = 0;
    if (step == SQLITE_ROW)
        *after = sqlite3_column_int64(st, 0) - 1;
    else if (step == SQLITE_DONE)
        *after = 0;
    else
        rc = sse_sqlite_error(step);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return rc;
}

/* Fills row from the current result row of st. Returns 0 with *why NULL
 * for a row of TEXT values, 0 with *why saying what is wrong for one that
 * must be skipped, or SSE_ENOMEM. */
static int take_row(sqlite3_stmt *st, struct sse_event_row *row,
                    const char **why)
{
    *why = NULL;
    row->id = sqlite3_column_int64(st, 0);
    /* Types first: they are undefined after a conversion. A channel
     * stored as a BLOB (CHECKs off) is never equal to a bound TEXT, so the
     * channel-filtered reads never return it; the all-channels read must
     * not deliver it either. */
    int channel_type = sqlite3_column_type(st, 1);
    int type_type = sqlite3_column_type(st, 2);
    int data_type = sqlite3_column_type(st, 3);
    if (channel_type != SQLITE_TEXT) {
        *why = channel_type == SQLITE_NULL ? "channel is NULL"
                                           : "channel is not TEXT";
        return 0;
    }
    if (data_type == SQLITE_NULL) {
        *why = "data is NULL";
        return 0;
    }
    /* column_text before column_bytes: bytes then describe the text. A
     * NULL pointer for a non-NULL value means SQLite ran out of memory. */
    row->channel = (const char *)sqlite3_column_text(st, 1);
    row->channel_len = (size_t)sqlite3_column_bytes(st, 1);
    row->data = (const char *)sqlite3_column_text(st, 3);
    row->data_len = (size_t)sqlite3_column_bytes(st, 3);
    row->type = NULL;
    row->type_len = 0;
    if (type_type != SQLITE_NULL) {
        row->type = (const char *)sqlite3_column_text(st, 2);
        row->type_len = (size_t)sqlite3_column_bytes(st, 2);
        if (!row->type)
            return SSE_ENOMEM;
    }
    if (!row->channel || !row->data)
        return SSE_ENOMEM;
    row->created_ms = sqlite3_column_int64(st, 4);
    return 0;
}

static int sqlite_read(void *impl, int64_t after_id, int64_t upto_id,
                       const struct sse_eventlog_filter *f, size_t limit,
                       sse_eventlog_raw_fn fn, void *ctx, int *complete)
{
    struct sqlite_log *log = impl;
    sqlite3_stmt *st = pick(f, log->read_all, log->read_one, log->read_multi,
                            log->read_pattern);
    int rc = 0, step = SQLITE_DONE;
    bind_filter(st, after_id, upto_id, (int64_t)limit, f);

    size_t seen = 0;
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        struct sse_event_row row;
        const char *why;
        seen++;
        rc = take_row(st, &row, &why);
        if (!rc)
            rc = fn(&row, why, ctx);
        if (rc)
            break;
    }
    if (!rc && step != SQLITE_DONE)
        rc = sse_sqlite_error(step);
    /* LIMIT ends a statement with SQLITE_DONE too: only fewer rows than
     * the limit prove that the range was read to its end. */
    *complete = !rc && seen < limit;
    log->last_read_steps =
        sqlite3_stmt_status(st, SQLITE_STMTSTATUS_VM_STEP, 1);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return rc;
}

static int64_t sqlite_last_read_steps(const void *impl)
{
    const struct sqlite_log *log = impl;
    return log->last_read_steps;
}

static int sqlite_reading(const void *impl)
{
    const struct sqlite_log *log = impl;
    sqlite3_stmt *const all[] = {
        log->read_all,     log->read_one, log->read_multi, log->read_pattern,
        log->bounds,       log->nth_all,  log->nth_multi,  log->nth_pattern,
        log->data_version, log->grants};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        if (sqlite3_stmt_busy(all[i]))
            return 1;
    return 0;
}

static int sqlite_bounds(void *impl, int64_t *oldest, int64_t *head)
{
    struct sqlite_log *log = impl;
    int step = sqlite3_step(log->bounds);
    int rc = 0;
    if (step == SQLITE_ROW) {
        int64_t h = sqlite3_column_int64(log->bounds, 1); /* NULL -> 0 */
        int empty = sqlite3_column_type(log->bounds, 0) == SQLITE_NULL;
        int64_t o = empty ? h + 1 : sqlite3_column_int64(log->bounds, 0);
        *head = h;
        *oldest = o;
    } else {
        rc = sse_sqlite_error(step);
        if (!rc)
            rc = SSE_EDB;
    }
    sqlite3_reset(log->bounds);
    return rc;
}

/* Prepares the events_pruned statement of a filter kind if it is not yet.
 * Returns 0 (with *st NULL when the table does not exist) or an SSE_E*
 * code. The table has one row per channel, so the pattern form's OR of
 * ranges needs no walk. */
static int prepare_pruned(struct sqlite_log *log,
                          enum sse_eventlog_filter_kind kind, sqlite3_stmt **st)
{
    sqlite3_stmt **slot = kind == SSE_EVENTLOG_FILTER_ALL ? &log->pruned_all
                          : kind == SSE_EVENTLOG_FILTER_NAMES
                              ? &log->pruned_multi
                              : &log->pruned_pattern;
    int rc = 0;
    if (*slot == NULL) {
        /* The channel slots are ?4..: bind_filter's numbering. */
        char sql[4096] = "SELECT max(through_id) FROM events_pruned";
        if (kind != SSE_EVENTLOG_FILTER_ALL)
            rc = build_multi_sql(sql, sizeof sql,
                                 "SELECT max(through_id) FROM events_pruned"
                                 " WHERE channel IN (",
                                 "");
        int n = (int)strlen(sql);
        for (int i = 0;
             kind == SSE_EVENTLOG_FILTER_PATTERNS && i < MULTI_SLOTS && !rc;
             i++)
            rc = sql_add(sql, sizeof sql, &n,
                         " OR (channel >= ?%d AND channel < ?%d)",
                         PREFIX_PARAM + 2 * i, PREFIX_PARAM + 2 * i + 1);
        if (!rc)
            rc = prepare(log->db, sql, slot);
        if (rc == SSE_ESCHEMA)
            rc = 0; /* an older schema: nothing recorded */
    }
    *st = *slot;
    return rc;
}

static int sqlite_pruned_through(void *impl,
                                 const struct sse_eventlog_filter *f,
                                 int64_t *through)
{
    struct sqlite_log *log = impl;
    sqlite3_stmt *st = NULL;
    int rc = prepare_pruned(log, f->kind, &st);
    if (rc || st == NULL) {
        if (!rc)
            *through = 0;
        return rc;
    }
    bind_filter(st, 0, 0, 0, f);
    int step = sqlite3_step(st);
    if (step == SQLITE_ROW)
        *through = sqlite3_column_int64(st, 0); /* NULL (none) -> 0 */
    else
        rc = step == SQLITE_DONE ? SSE_EDB : sse_sqlite_error(step);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return rc;
}

static int sqlite_grants(void *impl, const char *principal, int64_t now_ms,
                         sse_eventlog_grant_fn fn, void *ctx)
{
    struct sqlite_log *log = impl;
    int rc = 0;
    if (!log->grants) {
        rc = prepare(log->db,
                     "SELECT pattern, expires_at FROM grants WHERE principal "
                     "= ?1 AND (expires_at IS NULL OR expires_at > ?2) "
                     "LIMIT " STR(SSE_EVENTLOG_GRANTS_MAX),
                     &log->grants);
        if (rc == SSE_ESCHEMA)
            return 0; /* an older schema: no grants table */
        if (rc)
            return rc;
    }
    sqlite3_stmt *st = log->grants;
    sqlite3_bind_text(st, 1, principal, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, now_ms);
    int step;
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        if (sqlite3_column_type(st, 0) != SQLITE_TEXT)
            continue;
        const char *p = (const char *)sqlite3_column_text(st, 0);
        size_t n = (size_t)sqlite3_column_bytes(st, 0);
        int64_t exp = sqlite3_column_type(st, 1) == SQLITE_NULL
                          ? INT64_MAX
                          : sqlite3_column_int64(st, 1);
        if (!p) {
            rc = SSE_ENOMEM;
            break;
        }
        rc = fn(ctx, p, n, exp);
        if (rc)
            break;
    }
    if (!rc && step != SQLITE_DONE)
        rc = sse_sqlite_error(step);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return rc;
}

static int sqlite_changed(void *impl, int *changed)
{
    struct sqlite_log *log = impl;
    int step = sqlite3_step(log->data_version);
    int rc = 0;
    if (step == SQLITE_ROW) {
        int64_t v = sqlite3_column_int64(log->data_version, 0);
        *changed = v != log->last_data_version;
        log->last_data_version = v;
    } else {
        rc = sse_sqlite_error(step);
        if (!rc)
            rc = SSE_EDB;
    }
    sqlite3_reset(log->data_version);
    return rc;
}

static int sqlite_replaced(const void *impl)
{
    const struct sqlite_log *log = impl;
    struct stat sb;
    if (stat(log->path, &sb) != 0)
        return 1;
    return sb.st_dev != log->dev || sb.st_ino != log->ino;
}

/* Every connection reads the one file. */
static int sqlite_lagging(const void *impl)
{
    (void)impl;
    return 0;
}

/* inotify on the directory (lib/hub.c) wakes the reader; no descriptor of
 * the connection's own says anything. */
static int sqlite_wake_fd(const void *impl)
{
    (void)impl;
    return -1;
}

static int sqlite_newest_ids(void *impl,
                             const char (*channels)[SSE_CHANNEL_MAX + 1],
                             size_t nchannels, int64_t upto_id, int64_t *ids,
                             size_t *nids)
{
    struct sqlite_log *log = impl;
    /* Rarely used (first connects with replay=latest), so prepared per
     * call rather than kept with the connection. max() over an equality
     * on channel and a range on id is SQLite's min/max optimisation: one
     * seek to the end of the channel's slice of the index. */
    sqlite3_stmt *st = NULL;
    size_t n = 0;
    int rc = sse_sqlite_error(sqlite3_prepare_v2(
        log->db, "SELECT max(id) FROM events WHERE channel = ?1 AND id <= ?2",
        -1, &st, NULL));
    for (size_t i = 0; !rc && i < nchannels; i++) {
        sqlite3_bind_text(st, 1, channels[i], -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, upto_id);
        int step = sqlite3_step(st);
        if (step != SQLITE_ROW) {
            rc = sse_sqlite_error(step);
            if (!rc)
                rc = SSE_EDB;
        } else if (sqlite3_column_type(st, 0) != SQLITE_NULL) {
            ids[n++] = sqlite3_column_int64(st, 0);
        }
        sqlite3_reset(st);
    }
    sqlite3_finalize(st);
    if (!rc)
        *nids = n;
    return rc;
}

static void sqlite_last_error(const void *impl, char *out, size_t cap)
{
    const struct sqlite_log *log = impl;
    snprintf(out, cap, "%s", sqlite3_errmsg(log->db));
}

const struct sse_eventlog_engine sse_eventlog_sqlite_engine = {
    .name = "sqlite",
    .open = sqlite_open,
    .close = sqlite_close,
    .read = sqlite_read,
    .last_read_steps = sqlite_last_read_steps,
    .reading = sqlite_reading,
    .replay_start = sqlite_replay_start,
    .newest_ids = sqlite_newest_ids,
    .bounds = sqlite_bounds,
    .pruned_through = sqlite_pruned_through,
    .grants = sqlite_grants,
    .changed = sqlite_changed,
    .replaced = sqlite_replaced,
    .lagging = sqlite_lagging,
    .wake_fd = sqlite_wake_fd,
    .last_error = sqlite_last_error,
};
