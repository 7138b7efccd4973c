/* hub.h - one change detector and one event cache per worker process.
 * SPDX-License-Identifier: MIT
 *
 * Polling "by id" must not mean every stream polling SQLite. The hub's own
 * thread notices commits (inotify on the database directory for sub-ms
 * wake-ups, PRAGMA data_version as the cheap check, a poll interval as the
 * fallback), reads each new row once, encodes it into SSE bytes once, and
 * appends it to a bounded ring of recent events shared by all streams of the
 * process. It then wakes only the streams whose channels got rows.
 *
 * The ring is bounded by events (ring-events) and by bytes (ring-bytes). An
 * event whose encoding is larger than an eighth of ring-bytes is not kept:
 * the ring restarts after it, and the streams that want it read it from the
 * log (SSE_HUB_BEHIND), byte for byte the same.
 *
 * Ring invariant: it holds every committed row with
 * covered_after < id <= head, in id order. A stream whose cursor (the id
 * after which it has sent everything it wants) is >= covered_after takes its
 * events from the ring; one further behind reads its own bounded ranges
 * (ids <= head, so committed and stable) from a pooled connection until it
 * is not. Both paths move the same cursor, so no event is skipped or sent
 * twice when a stream switches between them.
 *
 * The hub also watches each stream's FastCGI socket for hang-up, so a
 * stream whose client left is woken at once instead of at its next write.
 *
 * Thread-safety: every function is thread-safe unless stated; a waiter is
 * used by the one stream thread that registered it.
 */
#ifndef SSE_HUB_H
#define SSE_HUB_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "config.h"
#include "eventlog.h"
#include "request.h"

struct sse_hub;
struct sse_metrics;

/* One encoded event. Immutable once in the ring; freed by the last
 * sse_hub_event_release. Events handed out by sse_hub_next always have
 * their bytes. */
struct sse_hub_event {
    atomic_int refs;
    int64_t id;
    int64_t created_ms;
    uint32_t channel_hash;
    size_t len;     /* bytes of the encoded SSE event */
    char *bytes;    /* points into this allocation */
    char channel[]; /* NUL-terminated */
};

/* A stream waiting for events. Caller storage (a stream's stack frame);
 * registered with sse_hub_waiter_add, removed with sse_hub_waiter_remove
 * before it goes out of scope. Fields are private to hub.c. */
struct sse_hub_waiter {
    pthread_cond_t cond;
    const struct sse_request *req; /* borrowed: the channels wanted */
    uint32_t hashes[SSE_REQUEST_MAX_CHANNELS];
    int fd;   /* socket watched for hang-up, or -1 */
    int slot; /* index in the hub's table, -1 when not added */
    uint32_t gen;
    int hangup;     /* the web server closed the socket */
    uint64_t epoch; /* hub epoch when added */

    /* Direct writes (see sse_hub_waiter_allow_direct). While parked is set
     * the stream thread sleeps in sse_hub_next and the hub owns the fields
     * below; otherwise the thread does. */
    int request_id; /* FastCGI request id for raw records, -1: no direct */
    int parked;
    int64_t cursor; /* parked: the thread's cursor, advanced by the hub */
    int64_t direct_events; /* events the hub wrote for this stream */
    int64_t direct_bytes;  /* bytes the hub wrote for this stream */
    int64_t last_write_ns; /* CLOCK_MONOTONIC of the hub's last write */
    char *pending; /* owned: rest of a partial write, raw record bytes */
    size_t pending_len;
};

/* Creates a hub for cfg (borrowed for the hub's lifetime; db path, poll and
 * ring settings); metrics (may be NULL) is borrowed too. Does not start the
 * thread. Errors: SSE_ENOMEM, SSE_EIO (epoll/inotify set-up failed). */
int sse_hub_new(const struct sse_config *cfg, struct sse_metrics *metrics,
                struct sse_hub **out);

/* Test-only fault injection: where the hub calls a hook set with
 * sse_hub_set_hook. Production code never sets one. */
enum sse_hub_hook_point {
    SSE_HUB_HOOK_OPENED, /* the log is open and its bounds are read */
    SSE_HUB_HOOK_ROW     /* the hub's read is about to keep a new row */
};
/* Returns 0 to go on, or a negative SSE_E* code that fails the open, or
 * stops the read, as if SQLite had reported it. */
typedef int (*sse_hub_hook_fn)(enum sse_hub_hook_point point, void *ctx);

/* Installs fn (NULL: none) with ctx (borrowed until the hub is freed); for
 * tests only (tests/unit/check_hub.c). Call before sse_hub_start: the hook
 * runs in sse_hub_start's first open and then on the detector thread. */
void sse_hub_set_hook(struct sse_hub *hub, sse_hub_hook_fn fn, void *ctx);

/* Starts the detector thread. Returns 0 or SSE_EIO. */
int sse_hub_start(struct sse_hub *hub);

/* Asks every waiter to end and stops the thread; returns once it has
 * stopped. Afterwards sse_hub_next returns SSE_ECLOSED. */
void sse_hub_stop(struct sse_hub *hub);

/* Frees the hub; call after sse_hub_stop and after every waiter is gone.
 * NULL-safe. */
void sse_hub_free(struct sse_hub *hub);

/* Returns 1 once sse_hub_stop has begun. */
int sse_hub_stopping(struct sse_hub *hub);

/* Drops a reference taken by sse_hub_next. NULL-safe. */
void sse_hub_event_release(struct sse_hub_event *ev);

/* Registers w for req's channels (req borrowed until removal) and starts
 * watching fd (-1 for none) for hang-up. Returns 0 or SSE_ENOMEM. */
int sse_hub_waiter_add(struct sse_hub *hub, struct sse_hub_waiter *w,
                       const struct sse_request *req, int fd);

/* Unregisters w; it may then be destroyed. Safe on a waiter never added. */
void sse_hub_waiter_remove(struct sse_hub *hub, struct sse_hub_waiter *w);

/* Lets the hub write events for w itself while w's thread is parked in
 * sse_hub_next: one non-blocking FastCGI stdout record (request_id) per
 * commit straight to w->fd, so a fan-out to many idle streams costs one
 * thread's loop of writes instead of waking every stream thread. The
 * thread's libfcgi buffer must be empty whenever it parks (it flushes
 * after every write). A write that would block falls back to waking the
 * thread; a partial one leaves the rest in w->pending (SSE_HUB_PENDING). */
void sse_hub_waiter_allow_direct(struct sse_hub *hub, struct sse_hub_waiter *w,
                                 int request_id);

/* Stops watching w's socket and clears a reported hang-up (after a probe
 * write showed the web server only half-closed it). */
void sse_hub_waiter_unwatch(struct sse_hub *hub, struct sse_hub_waiter *w);

/* Outcome of sse_hub_next besides 0 (events or nothing before deadline). */
enum sse_hub_status {
    SSE_HUB_EVENTS = 0, /* *n events taken (n may be 0: deadline) */
    SSE_HUB_BEHIND = 1, /* cursor < covered_after: read the log */
    SSE_HUB_HANGUP = 2, /* the web server closed the stream's socket */
    SSE_HUB_RESET = 3,  /* the database was replaced (or removed) since the
                           waiter was added: end the stream */
    SSE_HUB_FAULT = 4,  /* the database cannot be read right now, or could
                           not for a while since the waiter was added (a
                           fault that is already over): end the stream as
                           a fault, with the error retry */
    SSE_HUB_CLOSED = 5, /* the hub is stopping */
    SSE_HUB_PENDING = 6 /* w->pending holds raw bytes the thread must send
                           before anything else (then free it) */
};

/* Takes up to max events after *cursor that match w's channels into out
 * (each with a reference the caller releases), advancing *cursor past every
 * event examined. When none are ready it waits on w until new matching
 * events, a hang-up, shutdown or the CLOCK_MONOTONIC deadline (ns). Returns
 * an enum sse_hub_status; *n is set in every case. */
int sse_hub_next(struct sse_hub *hub, struct sse_hub_waiter *w, int64_t *cursor,
                 struct sse_hub_event **out, size_t max, size_t *n,
                 int64_t deadline_ns);

/* The newest id the hub has read (every id <= head is committed), or -1
 * before the first successful read. */
int64_t sse_hub_head(struct sse_hub *hub);

/* The ring's window: every committed row with *covered_after < id <= *head
 * is in memory; *oldest is the lowest id still stored in the database as of
 * the hub's last look (refreshed on every commit it notices, so pruning is
 * seen within a poll). *head is -1 while the log is not open. */
void sse_hub_window(struct sse_hub *hub, int64_t *covered_after,
                    int64_t *oldest, int64_t *head);

/* The current database fault (0 when readable) and a static description. */
int sse_hub_fault(struct sse_hub *hub);

/* Borrows a read connection for catch-up reads (opened on demand, pooled).
 * Returns 0 with *log owned by the borrower until sse_hub_log_return, or
 * an sse_eventlog_open error. */
int sse_hub_log_borrow(struct sse_hub *hub, struct sse_eventlog **log);

/* Returns a borrowed connection; broken != 0 closes it instead of pooling
 * it (after an error). */
void sse_hub_log_return(struct sse_hub *hub, struct sse_eventlog *log,
                        int broken);

/* Appends the SSE bytes of one log row to out (sse_encode_event). A type
 * the schema would refuse (CR/LF, from an older or hand-edited table) is
 * dropped with a warning, so the event still arrives, as "message".
 * Returns 0 or a buffer error; out unchanged on failure. Thread-safe. */
int sse_hub_encode_row(struct sse_buf *out, const struct sse_event_row *row);

/* Hash used for channel names in events and waiters (FNV-1a). */
uint32_t sse_hub_channel_hash(const char *name, size_t len);

/* CLOCK_MONOTONIC in nanoseconds. */
int64_t sse_hub_now_ns(void);

#endif
