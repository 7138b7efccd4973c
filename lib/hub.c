/* hub.c - the change detector: one per worker process.
 * SPDX-License-Identifier: MIT
 *
 * The detector thread sleeps in epoll_wait on its sources: an inotify
 * watch on the database's directory (a publisher's write to the -wal file
 * wakes it within microseconds) or, for a PostgreSQL log, the reader
 * connection's socket, where the insert trigger's NOTIFY arrives at commit
 * (sse_eventlog_wake_fd; a hot standby sends none and is polled), the
 * fan-out's hang-up watch (its epoll fd turns readable when a stream's
 * socket hangs up), and an eventfd used to stop it. On every wake-up and at
 * least every poll-ms it asks the log whether another connection committed
 * (sse_eventlog_changed: PRAGMA data_version on SQLite, no table read); only
 * then does it read the new rows, once for the whole process.
 *
 * A commit writes the WAL before it publishes the new wal-index header, so
 * the inotify wake-up can come a moment before data_version changes. After
 * such a wake-up with no change the thread re-checks at 1 ms intervals a few
 * times before falling back to the poll interval. data_version is consumed
 * before the rows are read, so a read that stops early (the database locked
 * past the busy timeout, no memory, the round limit) leaves must_read set
 * and the next turn reads again, commit or not.
 *
 * An event whose encoding exceeds the fan-out's event_max (an eighth of
 * ring-bytes) is never encoded here: b->enc refuses to grow past it, and the
 * event is published as a stub, so each stream that wants it reads it from
 * the log like any backlog, exactly. Each read batch stops once it holds
 * event_max encoded bytes, so a read holds at most about two such shares.
 */
#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <unistd.h>

#include "buf.h"
#include "clock.h"
#include "dbname.h"
#include "encode.h"
#include "eventlog.h"
#include "hub.h"
#include "logging.h"
#include "sse_error.h"

#define QUICK_RECHECKS 8
#define REOPEN_INTERVAL_NS SSE_NS_PER_S
#define REPLACED_CHECK_NS SSE_NS_PER_S
#define READ_ROUNDS 1000
#define TAG_WAKE 1
#define TAG_INOTIFY 2
#define TAG_HANGUP 3
#define TAG_LOG 4 /* sse_eventlog_wake_fd: PostgreSQL */
/* on_row's "batch full" answer: stop this read, not an error. */
#define BATCH_FULL 1

struct sse_hub {
    const struct sse_config *cfg;
    struct sse_metrics *metrics;
    struct sse_fanout *fanout;
    struct sse_logpool *pool;
    atomic_int stopping;

    /* Owned by the detector thread (and by sse_hub_start before it). */
    struct sse_eventlog *log;
    int64_t head; /* the newest id published, -1 while not open */
    int64_t next_open_ns, next_replaced_ns;
    int must_read; /* rows may be committed that the hub has not read */
    int64_t busy_logged_ns;  /* when warn_busy last wrote a line; 0: never */
    long long busy_unlogged; /* busy turns since, not written */
    int busy_checks;         /* sse_eventlog_changed busy in a row */
    sse_hub_hook_fn hook;    /* tests only */
    void *hook_ctx;

    int epfd, wakefd, inofd;
    char *dir, *base, *wal_base;
    pthread_t thread;
    int thread_started;
};

static int split_path(struct sse_hub *hub, const char *path)
{
    const char *slash = strrchr(path, '/');
    hub->dir = slash ? strndup(path, (size_t)(slash - path) + (slash == path))
                     : strdup(".");
    hub->base = strdup(slash ? slash + 1 : path);
    if (!hub->dir || !hub->base)
        return SSE_ENOMEM;
    size_t n = strlen(hub->base) + 5;
    hub->wal_base = malloc(n);
    if (!hub->wal_base)
        return SSE_ENOMEM;
    memcpy(hub->wal_base, hub->base, n - 5);
    memcpy(hub->wal_base + n - 5, "-wal", 5);
    return 0;
}

static int watch_fd(struct sse_hub *hub, int fd, uint64_t tag)
{
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = tag};
    return epoll_ctl(hub->epfd, EPOLL_CTL_ADD, fd, &ev);
}

static void watch_directory(struct sse_hub *hub)
{
    hub->inofd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (hub->inofd < 0 ||
        inotify_add_watch(hub->inofd, hub->dir,
                          IN_MODIFY | IN_CREATE | IN_MOVED_TO | IN_DELETE |
                              IN_CLOSE_WRITE) < 0) {
        sse_log(
            SSE_LOG_WARN,
            "inotify on '%s' failed (%s); new events are noticed by polling "
            "every %d ms",
            hub->dir, strerror(errno), hub->cfg->poll_ms);
        if (hub->inofd >= 0)
            close(hub->inofd);
        hub->inofd = -1;
        return;
    }
    watch_fd(hub, hub->inofd, TAG_INOTIFY);
}

int sse_hub_new(const struct sse_config *cfg, struct sse_metrics *metrics,
                struct sse_fanout *fanout, struct sse_logpool *pool,
                struct sse_hub **out)
{
    struct sse_hub *hub = calloc(1, sizeof *hub);
    if (!hub)
        return SSE_ENOMEM;
    hub->cfg = cfg;
    hub->metrics = metrics;
    hub->fanout = fanout;
    hub->pool = pool;
    hub->head = -1;
    atomic_init(&hub->stopping, 0);
    hub->epfd = hub->wakefd = hub->inofd = -1;
    int rc = SSE_ENOMEM;
    if (split_path(hub, cfg->db))
        goto out;
    rc = SSE_EIO;
    hub->epfd = epoll_create1(EPOLL_CLOEXEC);
    hub->wakefd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (hub->epfd < 0 || hub->wakefd < 0 ||
        watch_fd(hub, hub->wakefd, TAG_WAKE) < 0 ||
        watch_fd(hub, sse_fanout_hangup_fd(fanout), TAG_HANGUP) < 0)
        goto out;
    /* A PostgreSQL log has no file to watch: its reader's connection
     * wakes the thread instead (see set_log). */
    if (!sse_dbname_is_uri(cfg->db))
        watch_directory(hub);
    rc = 0;
out:
    if (rc) {
        sse_hub_free(hub);
        return rc;
    }
    *out = hub;
    return 0;
}

static void set_log(struct sse_hub *hub, struct sse_eventlog *log);

void sse_hub_free(struct sse_hub *hub)
{
    if (!hub)
        return;
    assert(!hub->thread_started);
    set_log(hub, NULL);
    if (hub->epfd >= 0)
        close(hub->epfd);
    if (hub->wakefd >= 0)
        close(hub->wakefd);
    if (hub->inofd >= 0)
        close(hub->inofd);
    free(hub->dir);
    free(hub->base);
    free(hub->wal_base);
    free(hub);
}

/* One read's new rows, encoded. */
struct read_batch {
    struct sse_hub *hub;
    struct sse_event **evs;
    size_t n;
    size_t bytes;       /* encoded bytes in evs */
    size_t event_max;   /* the fan-out's largest kept event */
    struct sse_buf enc; /* max: event_max */
};

/* Keeps one new row in the batch, encoded. Returns 0 to go on, BATCH_FULL
 * once the batch holds event_max encoded bytes or an oversize event, or an
 * error. */
static int on_row(const struct sse_event_row *row, void *ctx)
{
    struct read_batch *b = ctx;
    struct sse_hub *hub = b->hub;
    int rc = hub->hook ? hub->hook(SSE_HUB_HOOK_ROW, hub->hook_ctx) : 0;
    if (rc)
        return rc;
    sse_buf_reset(&b->enc);
    /* b->enc refuses to grow past event_max before allocating anything, so
     * an oversize event costs no memory here; it is kept as a stub without
     * bytes that tells the ring where to restart. */
    rc = sse_encode_row(&b->enc, row->id, row->type, row->type_len, row->data,
                        row->data_len);
    int oversize = rc == SSE_ETOOBIG;
    if (rc && !oversize)
        return rc;
    rc =
        sse_event_new(row->id, row->channel, row->channel_len,
                      oversize ? NULL : b->enc.data, b->enc.len, &b->evs[b->n]);
    if (rc)
        return rc;
    b->bytes += b->evs[b->n]->len;
    b->n++;
    return oversize || b->bytes >= b->event_max ? BATCH_FULL : 0;
}

/* The log cannot be read (rc): streams end as faults. detail (may be
 * NULL) is what the engine said, for the log line. */
static void fault(struct sse_hub *hub, int rc, const char *detail)
{
    hub->head = -1;
    int changed = sse_fanout_fault(hub->fanout, rc);
    sse_logpool_clear(hub->pool);
    if (changed)
        sse_log(SSE_LOG_ERROR,
                "database '%s' cannot be read: %s%s%s; retrying every second",
                hub->cfg->db, sse_strerror(rc), detail && *detail ? ": " : "",
                detail ? detail : "");
}

/* Makes log (NULL: none) the detector's connection, closing the old one;
 * the connection's wake-up descriptor, if the engine has one, joins the
 * epoll set for as long as it is open. */
static void set_log(struct sse_hub *hub, struct sse_eventlog *log)
{
    if (hub->log && sse_eventlog_wake_fd(hub->log) >= 0)
        epoll_ctl(hub->epfd, EPOLL_CTL_DEL, sse_eventlog_wake_fd(hub->log),
                  NULL);
    sse_eventlog_close(hub->log);
    hub->log = log;
    if (log && sse_eventlog_wake_fd(log) >= 0)
        watch_fd(hub, sse_eventlog_wake_fd(log), TAG_LOG);
}

/* Busy lines are written at most this often: a lock held for minutes
 * must not write one line per poll. */
#define BUSY_LOG_INTERVAL_NS (10 * SSE_NS_PER_S)

/* A read or check that ran out of busy-timeout-ms: the log is fine, only
 * slow or cancelled this once, so streams go on and the next turn retries.
 * Locked (SQLite), or on PostgreSQL a statement or lock timeout, or a
 * query a hot standby cancelled to replay WAL (a recovery conflict): the
 * engine's words say which. */
static void warn_busy(struct sse_hub *hub)
{
    int64_t now = sse_now_ns();
    if (hub->busy_logged_ns &&
        now - hub->busy_logged_ns < BUSY_LOG_INTERVAL_NS) {
        hub->busy_unlogged++;
        return;
    }
    char why[256];
    sse_eventlog_last_error(hub->log, why, sizeof why);
    sse_log(SSE_LOG_WARN,
            "database '%s' busy (%s; busy-timeout-ms %d); retrying (%lld "
            "more since the last such line)",
            hub->cfg->db, why, hub->cfg->busy_timeout_ms, hub->busy_unlogged);
    hub->busy_logged_ns = now;
    hub->busy_unlogged = 0;
}

static void close_log(struct sse_hub *hub, int rc)
{
    char why[256] = "";
    if (hub->log)
        sse_eventlog_last_error(hub->log, why, sizeof why);
    set_log(hub, NULL);
    fault(hub, rc, why);
    hub->next_open_ns = sse_now_ns() + REOPEN_INTERVAL_NS;
}

static void try_open(struct sse_hub *hub)
{
    int64_t now = sse_now_ns();
    if (now < hub->next_open_ns)
        return;
    struct sse_eventlog *log = NULL;
    int64_t oldest, head;
    int changed;
    char why[256];
    int rc = sse_eventlog_open_msg(hub->cfg->db, hub->cfg->busy_timeout_ms,
                                   &log, why, sizeof why);
    /* data_version's first value before the bounds: a commit after it is
     * reported as a change, one before it is within the bounds. */
    if (!rc)
        rc = sse_eventlog_changed(log, &changed);
    if (!rc)
        rc = sse_eventlog_bounds(log, &oldest, &head);
    if (!rc && hub->hook)
        rc = hub->hook(SSE_HUB_HOOK_OPENED, hub->hook_ctx);
    if (rc) {
        sse_eventlog_close(log);
        fault(hub, rc, why);
        hub->next_open_ns = now + REOPEN_INTERVAL_NS;
        return;
    }
    set_log(hub, log);
    hub->head = head;
    hub->must_read = 1; /* cheap, and safe whatever committed meanwhile */
    hub->next_replaced_ns = now + REPLACED_CHECK_NS;
    if (sse_fanout_open(hub->fanout, oldest, head))
        sse_log(SSE_LOG_INFO, "database '%s' is readable again (head id %lld)",
                hub->cfg->db, (long long)head);
}

/* Reads every row above head, in batches bounded by rows and by bytes.
 * Returns 1 when it read to the end of the log, 0 when it stopped before
 * (an error, no memory, the round limit): then it must be called again. */
static int read_new_rows(struct sse_hub *hub)
{
    size_t batch = (size_t)hub->cfg->batch;
    size_t event_max = sse_fanout_event_max(hub->fanout);
    struct read_batch b = {.hub = hub,
                           .evs = calloc(batch, sizeof *b.evs),
                           .event_max = event_max};
    sse_buf_init(&b.enc, event_max);
    if (!b.evs)
        return 0;
    int complete = 0;
    for (int round = 0; round < READ_ROUNDS; round++) {
        int64_t after = hub->head;
        struct sse_eventlog_progress p;
        b.n = 0;
        b.bytes = 0;
        int rc = sse_eventlog_read(hub->log, after, INT64_MAX, NULL, 0, batch,
                                   on_row, &b, &p);
        if (hub->metrics) {
            sse_metrics_add(&hub->metrics->db_reads, 1);
            sse_metrics_add(&hub->metrics->rows_skipped, (long long)p.skipped);
        }
        assert(b.n <= batch);
        if (b.n || p.last_seen > after) {
            int64_t last = b.n && b.evs[b.n - 1]->id > p.last_seen
                               ? b.evs[b.n - 1]->id
                               : p.last_seen;
            sse_fanout_publish(hub->fanout, b.evs, b.n, last);
            hub->head = last;
            for (size_t i = 0; i < b.n; i++)
                sse_event_release(b.evs[i]);
        }
        if (rc == BATCH_FULL)
            continue;
        if (rc) {
            if (hub->metrics)
                sse_metrics_add(&hub->metrics->db_faults, 1);
            if (rc == SSE_EBUSY)
                warn_busy(hub);
            else
                close_log(hub, rc);
            break;
        }
        if (p.complete) {
            complete = 1;
            break;
        }
    }
    sse_buf_cleanup(&b.enc);
    free(b.evs);
    return complete;
}

/* The database file was replaced or its ids went backwards: every stream's
 * cursor is meaningless, so end them all; clients reconnect and get a
 * "future" gap event. */
static void reset_log(struct sse_hub *hub, const char *why)
{
    sse_log(SSE_LOG_WARN, "database '%s' %s; ending streams so clients resync",
            hub->cfg->db, why);
    set_log(hub, NULL);
    hub->head = -1;
    sse_fanout_reset(hub->fanout);
    sse_logpool_clear(hub->pool);
    hub->next_open_ns = 0;
}

static void check_replaced(struct sse_hub *hub)
{
    int64_t now = sse_now_ns();
    if (now < hub->next_replaced_ns)
        return;
    hub->next_replaced_ns = now + REPLACED_CHECK_NS;
    if (sse_eventlog_replaced(hub->log))
        reset_log(hub, "was replaced or removed");
}

/* Notes the lowest stored id (pruning moves it) and notices a log whose
 * highest id went backwards (a different database under the same inode). */
static void refresh_bounds(struct sse_hub *hub)
{
    int64_t oldest, head;
    if (sse_eventlog_bounds(hub->log, &oldest, &head) != 0)
        return;
    if (sse_fanout_bounds(hub->fanout, oldest, head))
        reset_log(hub, "has a lower highest id than before");
}

/* Returns 1 if an inotify event concerns the database or its WAL. */
static int drain_inotify(struct sse_hub *hub)
{
    char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
    int relevant = 0;
    for (int i = 0; i < 64; i++) {
        ssize_t n = read(hub->inofd, buf, sizeof buf);
        if (n <= 0)
            break;
        for (char *p = buf; p < buf + n;) {
            struct inotify_event *ie = (struct inotify_event *)(void *)p;
            if (ie->len && (strcmp(ie->name, hub->wal_base) == 0 ||
                            strcmp(ie->name, hub->base) == 0)) {
                relevant = 1;
                if (ie->mask & (IN_CREATE | IN_MOVED_TO | IN_DELETE))
                    hub->next_replaced_ns = 0;
            }
            p += sizeof *ie + ie->len;
        }
    }
    return relevant;
}

/* Waits for the next wake-up; returns 1 if inotify reported the log. */
static int wait_sources(struct sse_hub *hub, int timeout_ms)
{
    struct epoll_event evs[8];
    int n = epoll_wait(hub->epfd, evs, 8, timeout_ms);
    int poke = 0;
    for (int i = 0; i < n; i++) {
        if (evs[i].data.u64 == TAG_WAKE) {
            uint64_t v;
            ssize_t r = read(hub->wakefd, &v, sizeof v);
            (void)r;
        } else if (evs[i].data.u64 == TAG_INOTIFY) {
            poke |= drain_inotify(hub);
        } else if (evs[i].data.u64 == TAG_LOG) {
            /* News on the reader's connection (NOTIFY, or the server
             * going away): sse_eventlog_changed below takes it. */
        } else {
            sse_fanout_check_hangups(hub->fanout);
        }
    }
    return poke;
}

static void *hub_main(void *arg)
{
    struct sse_hub *hub = arg;
    int quick = 0;
    while (!atomic_load(&hub->stopping)) {
        int timeout = quick > 0 ? 1 : hub->cfg->poll_ms;
        if (!hub->log && timeout > 1000)
            timeout = 1000;
        int poke = wait_sources(hub, timeout);
        if (!hub->log) {
            try_open(hub);
            if (!hub->log)
                continue;
        }
        check_replaced(hub);
        if (!hub->log)
            continue;
        int changed = 0;
        int rc = sse_eventlog_changed(hub->log, &changed);
        /* One busy check is forgiven (a standby cancels a read to replay
         * WAL now and then): whether anything changed is unknown, so read
         * next turn. A second one in a row is a lock that outlasts the
         * busy timeout twice: a fault, which streams are told of. */
        if (rc == SSE_EBUSY && ++hub->busy_checks < 2) {
            warn_busy(hub);
            hub->must_read = 1;
            continue;
        }
        if (rc) {
            hub->busy_checks = 0;
            close_log(hub, rc);
            continue;
        }
        hub->busy_checks = 0;
        if (changed || hub->must_read) {
            hub->must_read = !read_new_rows(hub);
            if (hub->log)
                refresh_bounds(hub);
            quick = 0;
        } else if (poke) {
            quick = QUICK_RECHECKS;
        } else if (quick > 0) {
            quick--;
        }
    }
    return NULL;
}

void sse_hub_set_hook(struct sse_hub *hub, sse_hub_hook_fn fn, void *ctx)
{
    hub->hook = fn;
    hub->hook_ctx = ctx;
}

int sse_hub_start(struct sse_hub *hub)
{
    /* Open once before serving, so the first requests do not race the
     * detector thread's first open. */
    try_open(hub);
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 256 * 1024);
    int rc = pthread_create(&hub->thread, &attr, hub_main, hub);
    pthread_attr_destroy(&attr);
    if (rc)
        return SSE_EIO;
    hub->thread_started = 1;
    return 0;
}

void sse_hub_stop(struct sse_hub *hub)
{
    atomic_store(&hub->stopping, 1);
    sse_fanout_stop(hub->fanout);
    uint64_t one = 1;
    ssize_t w = write(hub->wakefd, &one, sizeof one);
    (void)w;
    if (hub->thread_started) {
        pthread_join(hub->thread, NULL);
        hub->thread_started = 0;
    }
}

int sse_hub_stopping(struct sse_hub *hub)
{
    return atomic_load(&hub->stopping);
}
