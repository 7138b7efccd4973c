/* eventlog_engine.h - what an event-log engine provides to lib/eventlog.c.
 * SPDX-License-Identifier: MIT
 *
 * Private to the event log: lib/eventlog.c is the one interface
 * (eventlog.h) and picks an engine by the db name (dbname.h); each engine
 * (eventlog_sqlite.c, eventlog_pg.c) is a table of these functions over its
 * own connection object. What is the same for every engine stays in
 * eventlog.c: argument checks, the rules for rows that cannot be sent, the
 * skip warnings, the progress of a read, the order of newest_ids.
 *
 * The functions mean what the eventlog.h function of the same name means,
 * with these differences: read hands every row to fn with why == NULL, or
 * with why saying what the engine found wrong with it (then only row->id is
 * valid), and sets *complete; newest_ids need not sort.
 */
#ifndef SSE_EVENTLOG_ENGINE_H
#define SSE_EVENTLOG_ENGINE_H

#include <stddef.h>
#include <stdint.h>

#include "eventlog.h"
#include "request.h"

/* Returns 0 to go on, anything else to stop the read (returned by it). */
typedef int (*sse_eventlog_raw_fn)(const struct sse_event_row *row,
                                   const char *why, void *ctx);

struct sse_eventlog_engine {
    const char *name;
    int (*open)(const char *db, int busy_timeout_ms, void **impl, char *err,
                size_t errlen);
    void (*close)(void *impl);
    /* *complete: 1 when no row in the range is left unread, i.e. fewer
     * than limit rows were there and the read did not stop early. */
    int (*read)(void *impl, int64_t after_id, int64_t upto_id,
                const char (*channels)[SSE_CHANNEL_MAX + 1], size_t nchannels,
                size_t limit, sse_eventlog_raw_fn fn, void *ctx, int *complete);
    int (*reading)(const void *impl);
    int (*replay_start)(void *impl, const char (*channels)[SSE_CHANNEL_MAX + 1],
                        size_t nchannels, int64_t n, int64_t upto_id,
                        int64_t *after);
    int (*newest_ids)(void *impl, const char (*channels)[SSE_CHANNEL_MAX + 1],
                      size_t nchannels, int64_t upto_id, int64_t *ids,
                      size_t *nids);
    int (*bounds)(void *impl, int64_t *oldest, int64_t *head);
    int (*pruned_through)(void *impl,
                          const char (*channels)[SSE_CHANNEL_MAX + 1],
                          size_t nchannels, int64_t *through);
    int (*changed)(void *impl, int *changed);
    int (*replaced)(const void *impl);
    int (*lagging)(const void *impl);
    int (*wake_fd)(const void *impl);
};

extern const struct sse_eventlog_engine sse_eventlog_sqlite_engine;
extern const struct sse_eventlog_engine sse_eventlog_pg_engine;

/* Channel slots of one multi-channel read (request.h's limit). */
#define SSE_EVENTLOG_MULTI_SLOTS SSE_REQUEST_MAX_CHANNELS

#endif
