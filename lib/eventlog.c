/* eventlog.c - read side of the SQLite event log.
 * SPDX-License-Identifier: MIT
 *
 * Four range statements are prepared at open: all channels (the shared
 * live path, a primary-key range scan), one channel (an in-order range scan
 * of events_channel_id), up to SSE_REQUEST_MAX_CHANNELS channels (one
 * range per channel, merged by a sort; unused slots are bound to NULL, which
 * matches nothing), and the same mixed with prefix patterns ("orders:*").
 * A prefix is the key range channel >= 'orders:' AND channel < 'orders;'
 * (the prefix with its last byte, ':' or '/', replaced by the next byte
 * value); its distinct channels are found by a walk of the index, one
 * seek per channel, and each is then read as a range of its own, so a
 * resume reads the rows after its id and never every stored row of the
 * prefix (EXPLAIN QUERY PLAN in tests/unit/check_eventlog.c). Every
 * statement is reset before returning so no read transaction outlives a
 * call.
 *
 * A row that cannot be sent as stored (possible only in a hand-made table
 * or with CHECK constraints off) is skipped with a warning rather than
 * failing the read: an error would end every stream and strand each client
 * that resumes from before the row, on every reconnect. The warnings are
 * kept per connection (no process-wide state in lib/): each row id once,
 * and at most a burst a minute, so a million bad rows cannot flood the log.
 */
#include <assert.h>
#include <errno.h>
#include <stdarg.h>
#include <limits.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "admin.h"
#include "eventlog.h"
#include "logging.h"
#include "pattern.h"
#include "request.h"
#include "sqlite_error.h"
#include "sse_error.h"

#define MULTI_SLOTS SSE_REQUEST_MAX_CHANNELS
/* Prefix ranges bind ?PREFIX_PARAM.. as (low, high) pairs, after the exact
 * names' ?4..?(3 + MULTI_SLOTS). */
#define PREFIX_PARAM (4 + MULTI_SLOTS)

struct sse_eventlog {
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
    /* Skip warnings: ids up to skip_logged_upto were reported (or counted
     * as suppressed); skip_lines were written since skip_window_ns. */
    int64_t skip_logged_upto;
    int64_t skip_window_ns;
    int skip_lines;
    long long skip_suppressed; /* not logged, told in the next line */
    dev_t dev;
    ino_t ino;
    char *path;
};

#define COLUMNS "id, channel, event, data, created_at"
#define STR_(x) #x
#define STR(x) STR_(x)
#define SKIP_LOG_WINDOW_NS (60 * 1000000000LL)

static int prepare(sqlite3 *db, const char *sql, sqlite3_stmt **st)
{
    /* PERSISTENT: these statements live as long as the connection. */
    int rc =
        sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, st, NULL);
    if (rc == SQLITE_ERROR)
        return SSE_ESCHEMA; /* "no such table" or a missing column */
    return sse_sqlite_error(rc);
}

void sse_eventlog_close(struct sse_eventlog *log)
{
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

int sse_eventlog_open(const char *path, int busy_timeout_ms,
                      struct sse_eventlog **out)
{
    struct sse_eventlog *log = calloc(1, sizeof *log);
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
        sse_eventlog_close(log);
        return rc;
    }
    *out = log;
    return 0;
}

/* Binds ?1 after, ?2 upto, ?3 limit/offset and the channel slots from ?4. */
static void bind_range(sqlite3_stmt *st, int64_t after, int64_t upto,
                       int64_t limit,
                       const char (*channels)[SSE_CHANNEL_MAX + 1],
                       size_t nchannels)
{
    /* Statements without ?1 still accept the binding (unused slot). */
    sqlite3_bind_int64(st, 1, after);
    sqlite3_bind_int64(st, 2, upto);
    sqlite3_bind_int64(st, 3, limit);
    if (!channels)
        return;
    int slots = sqlite3_bind_parameter_count(st) - 3;
    for (int i = 0; i < slots; i++) {
        if ((size_t)i < nchannels)
            sqlite3_bind_text(st, i + 4, channels[i], -1, SQLITE_STATIC);
        else
            sqlite3_bind_null(st, i + 4);
    }
}

/* Which statements serve a read: every channel (no list, or "*" in it),
 * names only, or names and prefixes. */
enum filter_kind { FILTER_ALL, FILTER_NAMES, FILTER_PATTERNS };

/* A request's patterns sorted for binding. Borrows the names; holds each
 * prefix's exclusive upper bound, so it must outlive the statement's
 * bindings (sqlite3_clear_bindings before it goes out of scope). */
struct filter {
    enum filter_kind kind;
    size_t nnames, nprefixes;
    const char *names[MULTI_SLOTS];
    const char *lo[MULTI_SLOTS];
    size_t lo_len[MULTI_SLOTS];
    char hi[MULTI_SLOTS][SSE_CHANNEL_MAX + 1];
};

/* Sorts channels[0..nchannels) (NULL: all) into f. A string that is not a
 * pattern is taken as a name, which matches only itself (nothing, if it is
 * not a channel name either), as before patterns existed. Returns 0 or
 * SSE_EINVAL for more than MULTI_SLOTS entries. */
static int classify(const char (*channels)[SSE_CHANNEL_MAX + 1],
                    size_t nchannels, struct filter *f)
{
    f->kind = FILTER_ALL;
    f->nnames = f->nprefixes = 0;
    if (!channels)
        return 0;
    if (nchannels > MULTI_SLOTS)
        return SSE_EINVAL;
    for (size_t i = 0; i < nchannels; i++) {
        size_t len = strnlen(channels[i], SSE_CHANNEL_MAX);
        enum sse_pattern_kind kind = SSE_PATTERN_EXACT;
        if (sse_pattern_parse(channels[i], len, &kind))
            kind = SSE_PATTERN_EXACT;
        if (kind == SSE_PATTERN_ALL)
            return 0;
        if (kind == SSE_PATTERN_EXACT) {
            f->names[f->nnames++] = channels[i];
            continue;
        }
        /* "orders/" + '*': the range ['orders/', 'orders0'); the prefix
         * ends in '/' or ':', whose successors '0' and ';' exist. */
        size_t n = len - 1, k = f->nprefixes++;
        f->lo[k] = channels[i];
        f->lo_len[k] = n;
        memcpy(f->hi[k], channels[i], n);
        f->hi[k][n - 1] = (char)(channels[i][n - 1] + 1);
        f->hi[k][n] = '\0';
    }
    f->kind = f->nprefixes ? FILTER_PATTERNS : FILTER_NAMES;
    return 0;
}

/* Binds ?1..?3 as bind_range and f's names and prefix ranges into a
 * statement made by prepare_pattern (or the pruned one); empty slots NULL. */
static void bind_filter(sqlite3_stmt *st, int64_t after, int64_t upto,
                        int64_t limit, const struct filter *f)
{
    assert(f->kind == FILTER_PATTERNS);
    sqlite3_bind_int64(st, 1, after);
    sqlite3_bind_int64(st, 2, upto);
    sqlite3_bind_int64(st, 3, limit);
    for (size_t i = 0; i < MULTI_SLOTS; i++) {
        int slot = (int)i + 4, lo = PREFIX_PARAM + 2 * (int)i;
        if (i < f->nnames)
            sqlite3_bind_text(st, slot, f->names[i], -1, SQLITE_STATIC);
        else
            sqlite3_bind_null(st, slot);
        if (i < f->nprefixes) {
            sqlite3_bind_text(st, lo, f->lo[i], (int)f->lo_len[i],
                              SQLITE_STATIC);
            sqlite3_bind_text(st, lo + 1, f->hi[i], -1, SQLITE_STATIC);
        } else {
            sqlite3_bind_null(st, lo);
            sqlite3_bind_null(st, lo + 1);
        }
    }
}

int sse_eventlog_replay_start(struct sse_eventlog *log,
                              const char (*channels)[SSE_CHANNEL_MAX + 1],
                              size_t nchannels, int64_t n, int64_t upto_id,
                              int64_t *after)
{
    struct filter f;
    if (n <= 0 || classify(channels, nchannels, &f))
        return SSE_EINVAL;
    sqlite3_stmt *st;
    if (f.kind == FILTER_PATTERNS) {
        st = log->nth_pattern;
        bind_filter(st, 0, upto_id, n - 1, &f);
    } else {
        st = f.kind == FILTER_NAMES ? log->nth_multi : log->nth_all;
        bind_range(st, 0, upto_id, n - 1,
                   f.kind == FILTER_NAMES ? channels : NULL, nchannels);
    }
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

static int64_t monotonic_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* Logs a skipped row once per id on this connection, at most
 * SSE_EVENTLOG_SKIP_LOG_BURST lines per SKIP_LOG_WINDOW_NS. */
static void report_skip(struct sse_eventlog *log, int64_t id, const char *why)
{
    if (id <= log->skip_logged_upto)
        return;
    log->skip_logged_upto = id;
    int64_t now = monotonic_ns();
    if (log->skip_lines == 0 ||
        now - log->skip_window_ns >= SKIP_LOG_WINDOW_NS) {
        log->skip_window_ns = now;
        log->skip_lines = 0;
    }
    if (log->skip_lines >= SSE_EVENTLOG_SKIP_LOG_BURST) {
        log->skip_suppressed++;
        return;
    }
    log->skip_lines++;
    if (log->skip_suppressed)
        sse_log(SSE_LOG_WARN,
                "event id=%lld skipped: %s, so it cannot be sent as stored "
                "(and %lld rows skipped before it were not logged)",
                (long long)id, why, log->skip_suppressed);
    else
        sse_log(SSE_LOG_WARN,
                "event id=%lld skipped: %s, so it cannot be sent as stored",
                (long long)id, why);
    log->skip_suppressed = 0;
}

/* Fills row from the current result row of st. Returns 0 with *why NULL
 * for a row that can be sent, 0 with *why saying what is wrong for one
 * that must be skipped, or SSE_ENOMEM. */
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
    /* No request can name such a channel (a NUL would also make the hub's
     * C-string match disagree with SQL's byte match). */
    if (!sse_channel_valid(row->channel, row->channel_len))
        *why = "channel is not a valid channel name";
    else if (row->data_len > SSE_EVENT_DATA_MAX)
        *why = "data is longer than 4 MiB";
    return 0;
}

int sse_eventlog_read(struct sse_eventlog *log, int64_t after_id,
                      int64_t upto_id,
                      const char (*channels)[SSE_CHANNEL_MAX + 1],
                      size_t nchannels, size_t limit, sse_eventlog_row_fn fn,
                      void *ctx, struct sse_eventlog_progress *progress)
{
    struct sse_eventlog_progress p = {.last_seen = after_id};
    struct filter f;
    sqlite3_stmt *st = log->read_all;
    int rc = 0, step = SQLITE_DONE;
    if (classify(channels, nchannels, &f)) {
        rc = SSE_EINVAL;
        goto out;
    }
    if (limit > INT64_MAX)
        limit = INT64_MAX;
    if (f.kind == FILTER_PATTERNS) {
        st = log->read_pattern;
        bind_filter(st, after_id, upto_id, (int64_t)limit, &f);
    } else {
        if (f.kind == FILTER_NAMES)
            st = nchannels == 1 ? log->read_one : log->read_multi;
        bind_range(st, after_id, upto_id, (int64_t)limit,
                   f.kind == FILTER_NAMES ? channels : NULL, nchannels);
    }

    size_t seen = 0;
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        struct sse_event_row row;
        const char *why;
        seen++;
        rc = take_row(st, &row, &why);
        if (rc)
            break;
        if (why) {
            report_skip(log, row.id, why);
            p.skipped++;
            p.last_seen = row.id;
            continue;
        }
        rc = fn(&row, ctx);
        if (rc)
            break;
        p.rows++;
        p.last_seen = row.id;
    }
    if (!rc && step != SQLITE_DONE)
        rc = sse_sqlite_error(step);
    /* LIMIT ends a statement with SQLITE_DONE too: only fewer rows than
     * the limit prove that the range was read to its end. */
    p.complete = !rc && seen < limit;
    log->last_read_steps =
        sqlite3_stmt_status(st, SQLITE_STMTSTATUS_VM_STEP, 1);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
out:
    if (progress)
        *progress = p;
    return rc;
}

int64_t sse_eventlog_last_read_steps(const struct sse_eventlog *log)
{
    return log->last_read_steps;
}

int sse_eventlog_reading(const struct sse_eventlog *log)
{
    sqlite3_stmt *const all[] = {
        log->read_all,     log->read_one, log->read_multi, log->read_pattern,
        log->bounds,       log->nth_all,  log->nth_multi,  log->nth_pattern,
        log->data_version, log->grants};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        if (sqlite3_stmt_busy(all[i]))
            return 1;
    return 0;
}

int sse_eventlog_bounds(struct sse_eventlog *log, int64_t *oldest,
                        int64_t *head)
{
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
static int prepare_pruned(struct sse_eventlog *log, enum filter_kind kind,
                          sqlite3_stmt **st)
{
    sqlite3_stmt **slot = kind == FILTER_ALL     ? &log->pruned_all
                          : kind == FILTER_NAMES ? &log->pruned_multi
                                                 : &log->pruned_pattern;
    int rc = 0;
    if (*slot == NULL) {
        /* The channel slots are ?4..: bind_range's numbering. */
        char sql[4096] = "SELECT max(through_id) FROM events_pruned";
        if (kind != FILTER_ALL)
            rc = build_multi_sql(sql, sizeof sql,
                                 "SELECT max(through_id) FROM events_pruned"
                                 " WHERE channel IN (",
                                 "");
        int n = (int)strlen(sql);
        for (int i = 0; kind == FILTER_PATTERNS && i < MULTI_SLOTS && !rc; i++)
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

int sse_eventlog_pruned_through(struct sse_eventlog *log,
                                const char (*channels)[SSE_CHANNEL_MAX + 1],
                                size_t nchannels, int64_t *through)
{
    struct filter f;
    if (classify(channels, nchannels, &f))
        return SSE_EINVAL;
    sqlite3_stmt *st = NULL;
    int rc = prepare_pruned(log, f.kind, &st);
    if (rc || st == NULL) {
        if (!rc)
            *through = 0;
        return rc;
    }
    if (f.kind == FILTER_PATTERNS)
        bind_filter(st, 0, 0, 0, &f);
    else
        bind_range(st, 0, 0, 0, f.kind == FILTER_NAMES ? channels : NULL,
                   nchannels);
    int step = sqlite3_step(st);
    if (step == SQLITE_ROW)
        *through = sqlite3_column_int64(st, 0); /* NULL (none) -> 0 */
    else
        rc = step == SQLITE_DONE ? SSE_EDB : sse_sqlite_error(step);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return rc;
}

int sse_eventlog_grants(struct sse_eventlog *log, const char *principal,
                        int64_t now_ms, sse_eventlog_grant_fn fn, void *ctx)
{
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

int sse_eventlog_changed(struct sse_eventlog *log, int *changed)
{
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

int sse_eventlog_replaced(const struct sse_eventlog *log)
{
    struct stat sb;
    if (stat(log->path, &sb) != 0)
        return 1;
    return sb.st_dev != log->dev || sb.st_ino != log->ino;
}

const char *sse_eventlog_path(const struct sse_eventlog *log)
{
    return log->path;
}

int sse_eventlog_newest_ids(struct sse_eventlog *log,
                            const char (*channels)[SSE_CHANNEL_MAX + 1],
                            size_t nchannels, int64_t upto_id, int64_t *ids,
                            size_t *nids)
{
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
            /* Insertion sort: at most SSE_REQUEST_MAX_CHANNELS ids. */
            int64_t id = sqlite3_column_int64(st, 0);
            size_t k = n++;
            for (; k > 0 && ids[k - 1] > id; k--)
                ids[k] = ids[k - 1];
            ids[k] = id;
        }
        sqlite3_reset(st);
    }
    sqlite3_finalize(st);
    if (!rc)
        *nids = n;
    return rc;
}
