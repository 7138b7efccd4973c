/* eventlog.c - read side of the SQLite event log.
 * SPDX-License-Identifier: MIT
 *
 * Three range statements are prepared at open: all channels (the shared
 * live path, a primary-key range scan), one channel (an in-order range scan
 * of events_channel_id), and up to SSE_REQUEST_MAX_CHANNELS channels (one
 * range per channel, merged by a sort; unused slots are bound to NULL, which
 * matches nothing). Every statement is reset before returning so no read
 * transaction outlives a call.
 */
#include <errno.h>
#include <limits.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "eventlog.h"
#include "request.h"
#include "sqlite_error.h"
#include "sse_error.h"

#define MULTI_SLOTS SSE_REQUEST_MAX_CHANNELS

struct sse_eventlog {
    sqlite3 *db;
    sqlite3_stmt *read_all;
    sqlite3_stmt *read_one;
    sqlite3_stmt *read_multi;
    sqlite3_stmt *bounds;
    sqlite3_stmt *nth_all;
    sqlite3_stmt *nth_multi;
    sqlite3_stmt *data_version;
    int64_t last_data_version; /* -1 before the first call */
    dev_t dev;
    ino_t ino;
    char *path;
};

#define COLUMNS "id, channel, event, data, created_at"

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
    sqlite3_finalize(log->bounds);
    sqlite3_finalize(log->nth_all);
    sqlite3_finalize(log->nth_multi);
    sqlite3_finalize(log->data_version);
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
        rc = prepare(log->db,
                     "SELECT (SELECT min(id) FROM events), "
                     "(SELECT seq FROM sqlite_sequence WHERE name = 'events')",
                     &log->bounds);
    if (!rc)
        rc = prepare(log->db, "PRAGMA data_version", &log->data_version);
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

int sse_eventlog_replay_start(struct sse_eventlog *log,
                              const char (*channels)[SSE_CHANNEL_MAX + 1],
                              size_t nchannels, int64_t n, int64_t upto_id,
                              int64_t *after)
{
    if (n <= 0 || (channels && nchannels > MULTI_SLOTS))
        return SSE_EINVAL;
    sqlite3_stmt *st = channels ? log->nth_multi : log->nth_all;
    bind_range(st, 0, upto_id, n - 1, channels, nchannels);
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

int sse_eventlog_read(struct sse_eventlog *log, int64_t after_id,
                      int64_t upto_id,
                      const char (*channels)[SSE_CHANNEL_MAX + 1],
                      size_t nchannels, size_t limit, sse_eventlog_row_fn fn,
                      void *ctx, size_t *nrows)
{
    sqlite3_stmt *st;
    if (!channels)
        st = log->read_all;
    else if (nchannels == 1)
        st = log->read_one;
    else
        st = log->read_multi;
    if (channels && nchannels > MULTI_SLOTS)
        return SSE_EINVAL;
    if (limit > INT64_MAX)
        limit = INT64_MAX;
    bind_range(st, after_id, upto_id, (int64_t)limit, channels, nchannels);

    size_t n = 0;
    int rc = 0, step;
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        struct sse_event_row row;
        row.id = sqlite3_column_int64(st, 0);
        row.channel = (const char *)sqlite3_column_text(st, 1);
        row.channel_len = (size_t)sqlite3_column_bytes(st, 1);
        row.type = (const char *)sqlite3_column_text(st, 2);
        row.type_len = row.type ? (size_t)sqlite3_column_bytes(st, 2) : 0;
        /* column_text before column_bytes: bytes then describe the text. */
        row.data = (const char *)sqlite3_column_text(st, 3);
        row.data_len = (size_t)sqlite3_column_bytes(st, 3);
        row.created_ms = sqlite3_column_int64(st, 4);
        if (!row.channel || !row.data) {
            rc = sqlite3_errcode(log->db) == SQLITE_NOMEM ? SSE_ENOMEM
                                                          : SSE_ECORRUPT;
            break;
        }
        n++;
        rc = fn(&row, ctx);
        if (rc)
            break;
    }
    if (!rc && step != SQLITE_DONE)
        rc = sse_sqlite_error(step);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    if (nrows)
        *nrows = n;
    return rc;
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
