/* eventlog.c - read side of the event log: one interface over two engines.
 * SPDX-License-Identifier: MIT
 *
 * The engine (eventlog_engine.h) is picked by the db name: a postgresql://
 * or postgres:// URI reads PostgreSQL (eventlog_pg.c), anything else is a
 * SQLite file (eventlog_sqlite.c). What does not depend on the engine lives
 * here, so both behave alike: argument checks, which rows cannot be sent,
 * the warnings about them, the progress of a read, and what a request's
 * channels ask for. A pattern "orders:*" is handed to the engines as the
 * key range channel >= 'orders:' AND channel < 'orders;' (the prefix with
 * its last byte, ':' or '/', replaced by the next byte value), which both
 * read from their (channel, id) index in byte order: they find the
 * distinct channels of the range by a walk of the index, one seek per
 * channel, and read each as a range of its own, so a resume reads the rows
 * after its id and never every stored row of the prefix.
 *
 * A row that cannot be sent as stored (possible only in a hand-made table
 * or with CHECK constraints off) is skipped with a warning rather than
 * failing the read: an error would end every stream and strand each client
 * that resumes from before the row, on every reconnect. The warnings are
 * kept per connection (no process-wide state in lib/): each row id once,
 * and at most a burst a minute, so a million bad rows cannot flood the log.
 */
#include "eventlog.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dbname.h"
#include "eventlog_engine.h"
#include "logging.h"
#include "pattern.h"
#include "sse_error.h"

#define SKIP_LOG_WINDOW_NS (60 * 1000000000LL)

/* Invariant: engine and impl are set; path is the name given at open. */
struct sse_eventlog {
    const struct sse_eventlog_engine *engine;
    void *impl;
    char *path;
    /* Skip warnings: ids up to skip_logged_upto were reported (or counted
     * as suppressed); skip_lines were written since skip_window_ns. */
    int64_t skip_logged_upto;
    int64_t skip_window_ns;
    int skip_lines;
    long long skip_suppressed; /* not logged, told in the next line */
};

int sse_eventlog_open_msg(const char *path, int busy_timeout_ms,
                          struct sse_eventlog **out, char *err, size_t errlen)
{
    if (err && errlen)
        err[0] = '\0';
    struct sse_eventlog *log = calloc(1, sizeof *log);
    if (!log)
        return SSE_ENOMEM;
    log->engine = sse_dbname_is_uri(path) ? &sse_eventlog_pg_engine
                                          : &sse_eventlog_sqlite_engine;
    log->path = strdup(path);
    int rc = log->path ? log->engine->open(path, busy_timeout_ms, &log->impl,
                                           err, errlen)
                       : SSE_ENOMEM;
    if (rc) {
        free(log->path);
        free(log);
        return rc;
    }
    *out = log;
    return 0;
}

int sse_eventlog_open(const char *path, int busy_timeout_ms,
                      struct sse_eventlog **out)
{
    return sse_eventlog_open_msg(path, busy_timeout_ms, out, NULL, 0);
}

void sse_eventlog_close(struct sse_eventlog *log)
{
    if (!log)
        return;
    log->engine->close(log->impl);
    free(log->path);
    free(log);
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

struct read_state {
    struct sse_eventlog *log;
    sse_eventlog_row_fn fn;
    void *ctx;
    struct sse_eventlog_progress p;
};

/* Takes one row from the engine: skips it if it cannot be sent, else hands
 * it to the caller's callback. */
static int on_engine_row(const struct sse_event_row *row, const char *why,
                         void *ctx)
{
    struct read_state *r = ctx;
    /* No request can name a channel that is not valid (a NUL would also
     * make the hub's C-string match disagree with SQL's byte match). */
    if (!why && !sse_channel_valid(row->channel, row->channel_len))
        why = "channel is not a valid channel name";
    else if (!why && row->data_len > SSE_EVENT_DATA_MAX)
        why = "data is longer than 4 MiB";
    if (why) {
        report_skip(r->log, row->id, why);
        r->p.skipped++;
        r->p.last_seen = row->id;
        return 0;
    }
    int rc = r->fn(row, r->ctx);
    if (rc)
        return rc;
    r->p.rows++;
    r->p.last_seen = row->id;
    return 0;
}

int sse_eventlog_filter_init(const char (*channels)[SSE_CHANNEL_MAX + 1],
                             size_t nchannels, struct sse_eventlog_filter *f)
{
    f->kind = SSE_EVENTLOG_FILTER_ALL;
    f->nnames = f->nprefixes = 0;
    if (!channels)
        return 0;
    if (nchannels > SSE_EVENTLOG_MULTI_SLOTS)
        return SSE_EINVAL;
    for (size_t i = 0; i < nchannels; i++) {
        size_t len = strnlen(channels[i], SSE_CHANNEL_MAX);
        enum sse_pattern_kind kind = SSE_PATTERN_EXACT;
        if (sse_pattern_parse(channels[i], len, &kind))
            kind = SSE_PATTERN_EXACT;
        if (kind == SSE_PATTERN_ALL) {
            f->kind = SSE_EVENTLOG_FILTER_ALL;
            f->nnames = f->nprefixes = 0;
            return 0;
        }
        if (kind == SSE_PATTERN_EXACT) {
            f->names[f->nnames++] = channels[i];
            continue;
        }
        /* "orders/" + '*': the range ['orders/', 'orders0'); the prefix
         * ends in '/' or ':', whose successors '0' and ';' exist. */
        size_t n = len - 1, k = f->nprefixes++;
        assert(n >= 1 &&
               (channels[i][n - 1] == '/' || channels[i][n - 1] == ':'));
        memcpy(f->lo[k], channels[i], n);
        f->lo[k][n] = '\0';
        memcpy(f->hi[k], channels[i], n);
        f->hi[k][n - 1] = (char)(channels[i][n - 1] + 1);
        f->hi[k][n] = '\0';
    }
    f->kind =
        f->nprefixes ? SSE_EVENTLOG_FILTER_PATTERNS : SSE_EVENTLOG_FILTER_NAMES;
    return 0;
}

int sse_eventlog_read(struct sse_eventlog *log, int64_t after_id,
                      int64_t upto_id,
                      const char (*channels)[SSE_CHANNEL_MAX + 1],
                      size_t nchannels, size_t limit, sse_eventlog_row_fn fn,
                      void *ctx, struct sse_eventlog_progress *progress)
{
    struct read_state r = {
        .log = log, .fn = fn, .ctx = ctx, .p = {.last_seen = after_id}};
    struct sse_eventlog_filter f;
    int rc = sse_eventlog_filter_init(channels, nchannels, &f);
    if (!rc) {
        if (limit > INT64_MAX)
            limit = INT64_MAX;
        int complete = 0;
        rc = log->engine->read(log->impl, after_id, upto_id, &f, limit,
                               on_engine_row, &r, &complete);
        r.p.complete = !rc && complete;
    }
    if (progress)
        *progress = r.p;
    return rc;
}

int64_t sse_eventlog_last_read_steps(const struct sse_eventlog *log)
{
    return log->engine->last_read_steps(log->impl);
}

int sse_eventlog_reading(const struct sse_eventlog *log)
{
    return log->engine->reading(log->impl);
}

int sse_eventlog_replay_start(struct sse_eventlog *log,
                              const char (*channels)[SSE_CHANNEL_MAX + 1],
                              size_t nchannels, int64_t n, int64_t upto_id,
                              int64_t *after)
{
    struct sse_eventlog_filter f;
    if (n <= 0 || sse_eventlog_filter_init(channels, nchannels, &f))
        return SSE_EINVAL;
    return log->engine->replay_start(log->impl, &f, n, upto_id, after);
}

int sse_eventlog_newest_ids(struct sse_eventlog *log,
                            const char (*channels)[SSE_CHANNEL_MAX + 1],
                            size_t nchannels, int64_t upto_id, int64_t *ids,
                            size_t *nids)
{
    size_t n = 0;
    int rc = log->engine->newest_ids(log->impl, channels, nchannels, upto_id,
                                     ids, &n);
    if (rc)
        return rc;
    /* Insertion sort: at most SSE_REQUEST_MAX_CHANNELS ids. */
    for (size_t i = 1; i < n; i++) {
        int64_t id = ids[i];
        size_t k = i;
        for (; k > 0 && ids[k - 1] > id; k--)
            ids[k] = ids[k - 1];
        ids[k] = id;
    }
    *nids = n;
    return 0;
}

int sse_eventlog_bounds(struct sse_eventlog *log, int64_t *oldest,
                        int64_t *head)
{
    return log->engine->bounds(log->impl, oldest, head);
}

int sse_eventlog_pruned_through(struct sse_eventlog *log,
                                const char (*channels)[SSE_CHANNEL_MAX + 1],
                                size_t nchannels, int64_t *through)
{
    struct sse_eventlog_filter f;
    if (sse_eventlog_filter_init(channels, nchannels, &f))
        return SSE_EINVAL;
    return log->engine->pruned_through(log->impl, &f, through);
}

int sse_eventlog_grants(struct sse_eventlog *log, const char *principal,
                        int64_t now_ms, sse_eventlog_grant_fn fn, void *ctx)
{
    return log->engine->grants(log->impl, principal, now_ms, fn, ctx);
}

int sse_eventlog_changed(struct sse_eventlog *log, int *changed)
{
    return log->engine->changed(log->impl, changed);
}

int sse_eventlog_wake_fd(const struct sse_eventlog *log)
{
    return log->engine->wake_fd(log->impl);
}

int sse_eventlog_lagging(const struct sse_eventlog *log)
{
    return log->engine->lagging(log->impl);
}

int sse_eventlog_replaced(const struct sse_eventlog *log)
{
    return log->engine->replaced(log->impl);
}

void sse_eventlog_last_error(const struct sse_eventlog *log, char *out,
                             size_t cap)
{
    assert(cap > 0);
    out[0] = '\0';
    log->engine->last_error(log->impl, out, cap);
}

const char *sse_eventlog_path(const struct sse_eventlog *log)
{
    return log->path;
}
