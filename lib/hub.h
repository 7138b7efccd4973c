/* hub.h - the change detector: one per worker process.
 * SPDX-License-Identifier: MIT
 *
 * Polling "by id" must not mean every stream polling SQLite. The hub's one
 * thread notices commits (inotify on the database directory for sub-ms
 * wake-ups, PRAGMA data_version as the cheap check, a poll interval as the
 * fallback), reads each new row once, encodes it once (sse_encode_row) and
 * hands the batch to the fan-out (fanout.h), which keeps it in the ring and
 * wakes or writes to the streams that want it.
 *
 * It also owns the log's life as the streams see it: the first open, a
 * fault (unreadable: streams end with the error retry, the hub reopens every
 * second), a replacement (streams end as a reset) and a highest id that
 * went backwards (the same). Each batch is bounded by rows (batch) and by
 * encoded bytes (the fan-out's largest kept event), and an event too large
 * for the ring is passed on as a stub that the streams read from the log.
 *
 * Thread-safety: sse_hub_start, sse_hub_stop and sse_hub_free from one
 * thread (main); sse_hub_stopping from any thread.
 */
#ifndef SSE_HUB_H
#define SSE_HUB_H

#include "config.h"
#include "fanout.h"
#include "logpool.h"
#include "metrics.h"

struct sse_hub;

/* Creates a detector for cfg (db path, poll and batch settings) that feeds
 * fanout and clears pool's connections on a reset or fault; cfg, metrics
 * (may be NULL), fanout and pool are borrowed for the hub's lifetime. Does
 * not start the thread. Errors: SSE_ENOMEM, SSE_EIO (epoll/eventfd set-up
 * failed). */
int sse_hub_new(const struct sse_config *cfg, struct sse_metrics *metrics,
                struct sse_fanout *fanout, struct sse_logpool *pool,
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

/* Opens the log once (so the first requests find it open) and starts the
 * detector thread. Returns 0 or SSE_EIO. */
int sse_hub_start(struct sse_hub *hub);

/* Ends every stream (sse_fanout_stop) and stops the thread; returns once it
 * has stopped. */
void sse_hub_stop(struct sse_hub *hub);

/* Frees the hub (after sse_hub_stop). NULL-safe. */
void sse_hub_free(struct sse_hub *hub);

/* Returns 1 once sse_hub_stop has begun. */
int sse_hub_stopping(struct sse_hub *hub);

#endif
