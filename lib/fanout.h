/* fanout.h - who wants which new event, and waking or writing to them.
 * SPDX-License-Identifier: MIT
 *
 * The fan-out is the meeting point of the detector (hub.c), which hands it
 * each batch of new events, and the streams, which subscribe with their
 * channels and take the events they want. It owns the ring of recent events
 * (ring.h), the state of the log as the streams see it (head, oldest id,
 * fault, resets), and the subscribers; one mutex guards all of it.
 *
 * A subscriber is a stream's registration: its channels (copied; exact
 * names interned to ids, chanids.h, so testing an event is an integer
 * compare), the socket watched for hang-up, and the stream's epoch (a
 * fault or reset since it subscribed ends it). A stream thread sleeps in
 * sse_fanout_next until an event it wants, a hang-up, a fault, a reset,
 * shutdown or its deadline.
 *
 * A subscriber is held either by its stream's thread, which sleeps in
 * sse_fanout_next until an event it wants, a hang-up, a fault, a reset,
 * shutdown or its deadline; or by the event loop (loop.h), to which the
 * thread hands it with sse_fanout_park. For a subscriber in the loop the
 * fan-out keeps the cursor and, instead of waking a thread, puts it on a
 * ready list and calls the loop's waker; the loop then takes its events
 * with sse_fanout_take. A batch that holds nothing for such a subscriber
 * moves its cursor along, so an idle stream on a quiet channel never falls
 * behind the ring because of other channels' events. One that sat at the
 * head is handed the batch as the publish found it (which of its events it
 * wants), so its take neither searches the ring nor tests its channels
 * again: the common case, a commit for many caught-up streams, tests each
 * subscriber's channels once per event.
 *
 * Which subscriber wants an event is decided in one place (fanout.c,
 * sub_wants), so a new kind of subscription changes one function.
 *
 * Thread-safety: every function is thread-safe. A subscriber is used by the
 * one thread that holds it (its stream's thread, then the loop's); the
 * detector calls the "detector side" functions from its one thread.
 */
#ifndef SSE_FANOUT_H
#define SSE_FANOUT_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "metrics.h"
#include "request.h"
#include "ring.h"

struct sse_fanout;
struct sse_sub;

/* Creates a fan-out with a ring sized by cfg (ring-events, ring-bytes;
 * cfg borrowed for its lifetime); metrics (may be NULL) is borrowed too.
 * The log counts as closed (head -1) until sse_fanout_open. Errors:
 * SSE_ENOMEM, SSE_EIO (the hang-up watch could not be set up). */
int sse_fanout_new(const struct sse_config *cfg, struct sse_metrics *metrics,
                   struct sse_fanout **out);

/* Frees the fan-out; every subscriber must have been removed. NULL-safe. */
void sse_fanout_free(struct sse_fanout *f);

/* The largest encoded event the ring keeps (an eighth of ring-bytes);
 * larger ones are published as stubs (sse_event_new with bytes NULL). */
size_t sse_fanout_event_max(const struct sse_fanout *f);

/* --- detector side --- */

/* The log is open and readable: no fault, head and the ring's window start
 * at head, oldest is the lowest stored id. Wakes every stream. Returns 1
 * if a fault was cleared. */
int sse_fanout_open(struct sse_fanout *f, int64_t oldest, int64_t head);

/* Publishes new rows: evs[0..n) (ids increasing, all above head; the
 * caller keeps its references) go into the ring, head moves to last_seen
 * (>= the last id; rows the log skipped have no event), and the streams
 * that want any of them are woken or written to. */
void sse_fanout_publish(struct sse_fanout *f, struct sse_event **evs, size_t n,
                        int64_t last_seen);

/* Notes the log's bounds at the detector's last look. Returns 1 (and
 * changes nothing) when head went below the fan-out's: the log was
 * replaced by one with fewer rows. */
int sse_fanout_bounds(struct sse_fanout *f, int64_t oldest, int64_t head);

/* The log cannot be read (fault < 0): the ring empties, head is -1 and
 * every stream is ended as a fault. Returns 1 if the fault is new. */
int sse_fanout_fault(struct sse_fanout *f, int fault);

/* The log was replaced or removed: the ring empties, head is -1, and every
 * stream is ended as a reset (clients resync). */
void sse_fanout_reset(struct sse_fanout *f);

/* Ends every stream (SSE_FANOUT_CLOSED from now on). */
void sse_fanout_stop(struct sse_fanout *f);

/* An fd that is readable when a watched socket may have hung up; the
 * detector polls it and then calls sse_fanout_check_hangups. */
int sse_fanout_hangup_fd(const struct sse_fanout *f);

/* Marks the subscribers whose sockets hung up and wakes them. Never
 * blocks. */
void sse_fanout_check_hangups(struct sse_fanout *f);

/* --- the log as streams see it --- */

/* The newest id published (every id <= head is committed), or -1 while
 * the log is not open. */
int64_t sse_fanout_head(struct sse_fanout *f);

/* The ring's window: every committed row with *covered_after < id <= *head
 * is in memory; *oldest is the lowest stored id as of the detector's last
 * look. *head is -1 while the log is not open. */
void sse_fanout_window(struct sse_fanout *f, int64_t *covered_after,
                       int64_t *oldest, int64_t *head);

/* Why streams cannot start now: the fault while the log is not open
 * (0 while it is being reopened after a reset), else 0. */
int sse_fanout_health(struct sse_fanout *f);

/* The current fault (0 when readable). */
int sse_fanout_fault_code(struct sse_fanout *f);

/* Returns 1 once sse_fanout_stop was called. */
int sse_fanout_stopping(struct sse_fanout *f);

/* --- stream side --- */

/* Subscribes to req's channels or patterns (copied, with their kinds) and
 * watches fd (-1: none) for hang-up. *out is owned by the fan-out until
 * sse_fanout_remove. Returns 0 or SSE_ENOMEM. */
int sse_fanout_add(struct sse_fanout *f, const struct sse_request *req, int fd,
                   struct sse_sub **out);

/* Unsubscribes and frees sub. NULL-safe. */
void sse_fanout_remove(struct sse_fanout *f, struct sse_sub *sub);

/* Stops watching sub's socket and clears a reported hang-up (after a probe
 * write showed the web server only half-closed it). */
void sse_fanout_unwatch(struct sse_fanout *f, struct sse_sub *sub);

/* Outcome of sse_fanout_next. */
enum sse_fanout_status {
    SSE_FANOUT_EVENTS = 0, /* *n events taken (n may be 0: deadline) */
    SSE_FANOUT_BEHIND = 1, /* cursor < covered_after: read the log */
    SSE_FANOUT_HANGUP = 2, /* the web server closed the stream's socket */
    SSE_FANOUT_RESET = 3,  /* the log was replaced (or removed) since the
                              subscriber was added: end the stream */
    SSE_FANOUT_FAULT = 4,  /* the log cannot be read now, or could not for
                              a while since the subscriber was added: end
                              the stream as a fault, with the error retry */
    SSE_FANOUT_CLOSED = 5  /* the worker is stopping */
};

/* Takes up to max events after *cursor that sub wants into out (each with a
 * reference the caller releases), advancing *cursor past every event
 * examined. When none are ready it waits until new wanted events, a
 * hang-up, a fault, shutdown or the CLOCK_MONOTONIC deadline (ns). For a
 * subscriber its thread holds. Returns an enum sse_fanout_status; *n is set
 * in every case. */
int sse_fanout_next(struct sse_fanout *f, struct sse_sub *sub, int64_t *cursor,
                    struct sse_event **out, size_t max, size_t *n,
                    int64_t deadline_ns);

/* The channel names of sub (immutable; borrowed until sse_fanout_remove):
 * stores up to max of them in names and returns how many sub has. */
size_t sse_fanout_sub_channels(const struct sse_sub *sub, const char **names,
                               size_t max);

/* --- subscribers held by the event loop --- */

/* Called (with the fan-out's mutex held: it must not block nor call back)
 * when the ready list turns non-empty. */
typedef void (*sse_fanout_wake_fn)(void *ctx);

/* Installs the loop's waker (ctx borrowed for the fan-out's lifetime);
 * call before any subscriber is parked. */
void sse_fanout_set_waker(struct sse_fanout *f, sse_fanout_wake_fn fn,
                          void *ctx);

/* Hands sub, added with fd -1 and caught up to cursor by its thread, to the
 * loop; owner (borrowed) is what sse_fanout_ready returns for it. sub is
 * put on the ready list at once, so events that arrived between the
 * thread's last take and this call are not missed. */
void sse_fanout_park(struct sse_fanout *f, struct sse_sub *sub, int64_t cursor,
                     void *owner);

/* Takes up to max owners of parked subscribers that became ready (new
 * events they want, a fault, a reset, shutdown) off the ready list. */
size_t sse_fanout_ready(struct sse_fanout *f, void **owners, size_t max);

/* For a parked subscriber: takes up to max wanted events after its cursor
 * without waiting, as sse_fanout_next does, and moves the cursor. Returns
 * SSE_FANOUT_EVENTS (n may be 0), SSE_FANOUT_BEHIND (*cursor is then where
 * a read of the log must start), RESET, FAULT or CLOSED. *cursor is always
 * set to the subscriber's cursor. */
int sse_fanout_take(struct sse_fanout *f, struct sse_sub *sub,
                    struct sse_event **out, size_t max, size_t *n,
                    int64_t *cursor);

/* Whether the loop's stream owner can take events now. Called by
 * sse_fanout_take_ready on the caller's thread with the fan-out's mutex
 * held: it must not block nor call the fan-out. */
typedef int (*sse_fanout_can_take_fn)(void *owner);

/* sse_fanout_ready and sse_fanout_take in one pass under one lock: takes up
 * to k owners off the ready list into owners[i] and, when can_take(owner)
 * says its stream can take now, up to max events into evs[i * max ...]
 * with the status into status[i], the count into n[i] and the cursor into
 * cursor[i], as sse_fanout_take. For an owner that cannot take, status[i]
 * is -1, n[i] 0 and its cursor unchanged. Returns how many owners. */
size_t sse_fanout_take_ready(struct sse_fanout *f,
                             sse_fanout_can_take_fn can_take, size_t k,
                             void **owners, struct sse_event **evs, size_t max,
                             int *status, int64_t *cursor, size_t *n);

/* For a parked subscriber: a read of the log sent everything it wants up to
 * cursor (>= its cursor). */
void sse_fanout_advance(struct sse_fanout *f, struct sse_sub *sub,
                        int64_t cursor);

#endif
