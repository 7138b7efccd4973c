/* eventlog_engine.h - what an event-log engine provides to lib/eventlog.c.
 * SPDX-License-Identifier: MIT
 *
 * Private to the event log: lib/eventlog.c is the one interface
 * (eventlog.h) and picks an engine by the db name (dbname.h); each engine
 * (eventlog_sqlite.c, eventlog_pg.c) is a table of these functions over its
 * own connection object. What is the same for every engine stays in
 * eventlog.c: argument checks, the rules for rows that cannot be sent, the
 * skip warnings, the progress of a read, the order of newest_ids, and what
 * a request's names and patterns ask for (struct sse_eventlog_filter).
 *
 * The functions mean what the eventlog.h function of the same name means,
 * with these differences: read, replay_start and pruned_through take the
 * channels as a filter; read hands every row to fn with why == NULL, or
 * with why saying what the engine found wrong with it (then only row->id is
 * valid), and sets *complete; newest_ids need not sort; last_read_steps
 * is -1 when the engine does not count.
 */
#ifndef SSE_EVENTLOG_ENGINE_H
#define SSE_EVENTLOG_ENGINE_H

#include <stddef.h>
#include <stdint.h>

#include "eventlog.h"
#include "request.h"

/* Channel slots of one multi-channel read (request.h's limit). */
#define SSE_EVENTLOG_MULTI_SLOTS SSE_REQUEST_MAX_CHANNELS

/* Which rows a read wants: every channel (no list, or "*" in it), exact
 * names only, or names and prefixes. */
enum sse_eventlog_filter_kind {
    SSE_EVENTLOG_FILTER_ALL,
    SSE_EVENTLOG_FILTER_NAMES,
    SSE_EVENTLOG_FILTER_PATTERNS
};

/* A read's channels sorted for the engines (sse_eventlog_filter_init).
 * Invariants: nnames + nprefixes <= SSE_EVENTLOG_MULTI_SLOTS; kind is
 * FILTER_PATTERNS iff nprefixes > 0, and FILTER_ALL has neither. Prefix i
 * matches exactly the channels c with lo[i] <= c < hi[i] in byte order:
 * lo[i] is the pattern without its '*' (so it ends in '/' or ':') and hi[i]
 * is lo[i] with that last byte raised by one ('0' or ';'). names[] borrow
 * from the caller's channels, which must outlive the filter. */
struct sse_eventlog_filter {
    enum sse_eventlog_filter_kind kind;
    size_t nnames, nprefixes;
    const char *names[SSE_EVENTLOG_MULTI_SLOTS];
    char lo[SSE_EVENTLOG_MULTI_SLOTS][SSE_CHANNEL_MAX + 1];
    char hi[SSE_EVENTLOG_MULTI_SLOTS][SSE_CHANNEL_MAX + 1];
};

/* Sorts channels[0..nchannels) (NULL: every channel) into *f. A string
 * that is not a pattern is taken as a name, which matches only itself
 * (nothing, if it is not a channel name either), as before patterns
 * existed. Returns 0, or SSE_EINVAL for more than SSE_EVENTLOG_MULTI_SLOTS
 * entries. Defined in eventlog.c. */
int sse_eventlog_filter_init(const char (*channels)[SSE_CHANNEL_MAX + 1],
                             size_t nchannels, struct sse_eventlog_filter *f);

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
                const struct sse_eventlog_filter *f, size_t limit,
                sse_eventlog_raw_fn fn, void *ctx, int *complete);
    int64_t (*last_read_steps)(const void *impl);
    int (*reading)(const void *impl);
    int (*replay_start)(void *impl, const struct sse_eventlog_filter *f,
                        int64_t n, int64_t upto_id, int64_t *after);
    int (*newest_ids)(void *impl, const char (*channels)[SSE_CHANNEL_MAX + 1],
                      size_t nchannels, int64_t upto_id, int64_t *ids,
                      size_t *nids);
    int (*bounds)(void *impl, int64_t *oldest, int64_t *head);
    int (*pruned_through)(void *impl, const struct sse_eventlog_filter *f,
                          int64_t *through);
    int (*grants)(void *impl, const char *principal, int64_t now_ms,
                  sse_eventlog_grant_fn fn, void *ctx);
    int (*changed)(void *impl, int *changed);
    int (*replaced)(const void *impl);
    int (*lagging)(const void *impl);
    int (*wake_fd)(const void *impl);
    /* The engine's own words for the last failed call, one line. */
    void (*last_error)(const void *impl, char *out, size_t cap);
};

extern const struct sse_eventlog_engine sse_eventlog_sqlite_engine;
extern const struct sse_eventlog_engine sse_eventlog_pg_engine;

#endif
