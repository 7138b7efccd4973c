/* fanout.h - who wants which new event, and waking or writing to them.
 * SPDX-License-Identifier: MIT
 *
 * The fan-out is the meeting point of the detector (hub.c), which hands it
 * each batch of new events, and the streams, which subscribe with their
 * channels and take the events they want. It owns the ring of recent events
 * (ring.h), the state of the log as the streams see it (head, oldest id,
 * fault, resets), and the subscribers; one mutex guards all of it.
 *
 * A subscriber is a stream's registration: its channels (copied), the socket
 * watched for hang-up, and the stream's epoch (a fault or reset since it
 * subscribed ends it). A stream thread sleeps in sse_fanout_next until an
 * event it wants, a hang-up, a fault, a reset, shutdown or its deadline.
 *
 * Direct writes: while its thread sleeps in sse_fanout_next (it is then
 * "parked"), a subscriber that allowed it is written by the fan-out itself,
 * through the sink's try_send: a fan-out to many idle streams costs one
 * thread's loop of non-blocking writes instead of waking every thread. A
 * write that cannot start leaves the batch to the thread (woken); one that
 * stops half way leaves the rest with the sink (SSE_FANOUT_KEPT), and from
 * then on the thread owns the stream again until it sleeps next.
 *
 * Which subscriber wants an event is decided in one place (fanout.c,
 * sub_wants), so a new kind of subscription changes one function.
 *
 * Thread-safety: every function is thread-safe. A subscriber is used by the
 * one stream thread that added it; the detector calls the "detector side"
 * functions from its one thread.
 */
#ifndef SSE_FANOUT_H
#define SSE_FANOUT_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "metrics.h"
#include "request.h"
#include "ring.h"
#include "sink.h"

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

/* Subscribes to req's channels (copied) and watches fd (-1: none) for
 * hang-up. *out is owned by the fan-out until sse_fanout_remove. Returns 0
 * or SSE_ENOMEM. */
int sse_fanout_add(struct sse_fanout *f, const struct sse_request *req, int fd,
                   struct sse_sub **out);

/* Unsubscribes and frees sub. NULL-safe. */
void sse_fanout_remove(struct sse_fanout *f, struct sse_sub *sub);

/* Lets the fan-out write sub's events itself through sink->try_send while
 * its thread sleeps in sse_fanout_next (sink borrowed until removal; needs
 * a watched fd and sink->try_send). */
void sse_fanout_allow_direct(struct sse_fanout *f, struct sse_sub *sub,
                             struct sse_sink *sink);

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
    SSE_FANOUT_CLOSED = 5, /* the worker is stopping */
    SSE_FANOUT_KEPT = 6    /* the sink keeps the rest of a direct write:
                              call its send_kept before anything else */
};

/* Takes up to max events after *cursor that sub wants into out (each with a
 * reference the caller releases), advancing *cursor past every event
 * examined. When none are ready it waits until new wanted events, a
 * hang-up, a fault, shutdown or the CLOCK_MONOTONIC deadline (ns), and
 * meanwhile lets the fan-out write to sub directly (see above), moving
 * *cursor for what it wrote. Returns an enum sse_fanout_status; *n is set
 * in every case. */
int sse_fanout_next(struct sse_fanout *f, struct sse_sub *sub, int64_t *cursor,
                    struct sse_event **out, size_t max, size_t *n,
                    int64_t deadline_ns);

/* What the fan-out wrote for sub directly. */
struct sse_fanout_direct {
    int64_t events;        /* events written */
    int64_t bytes;         /* their bytes */
    int64_t last_write_ns; /* CLOCK_MONOTONIC of the last write, or 0 */
};
void sse_fanout_direct_stats(struct sse_fanout *f, struct sse_sub *sub,
                             struct sse_fanout_direct *out);

/* Test-only: marks sub parked at cursor as if its thread slept in
 * sse_fanout_next, without a thread (hand-over races made deterministic).
 * The next sse_fanout_next call by the test unparks it. */
void sse_fanout_test_park(struct sse_fanout *f, struct sse_sub *sub,
                          int64_t cursor);

/* Test-only: 1 while sub's thread sleeps in sse_fanout_next with direct
 * writes allowed (the fan-out then owns the stream). */
int sse_fanout_parked(struct sse_fanout *f, struct sse_sub *sub);

#endif
