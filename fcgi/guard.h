/* guard.h - cut FastCGI connections that are too slow to deliver a request.
 * SPDX-License-Identifier: MIT
 *
 * libfcgi reads a request (FCGX_Accept_r) with blocking reads and no
 * timeout, so a peer that connects and sends nothing, half a request, or a
 * byte now and then, would hold a serving thread for ever; so would a
 * kept-alive connection (FCGI_KEEP_CONN) that sends no next request. A
 * serving thread arms its guard with the connection and a deadline before
 * it lets libfcgi read, and disarms it afterwards. The main thread calls
 * sse_guards_check from time to time; it shuts down (shutdown(2)) every
 * armed connection past its deadline, the blocked read returns end of
 * file, libfcgi gives up on the request and the thread is free again.
 * A receive timeout (SO_RCVTIMEO) would bound each read, not the request.
 *
 * An armed guard holds its own duplicate of the connection's descriptor:
 * libfcgi closes the connection when a read fails, and the number may be
 * reused by the next accept at once, but the duplicate still names the
 * old socket until the serving thread disarms the guard.
 *
 * Thread-safety: a guard is armed and disarmed by its serving thread and
 * checked by the main thread; its mutex orders the two.
 */
#ifndef SSE_GUARD_H
#define SSE_GUARD_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

/* Invariant: fd >= 0 exactly while armed; fired only while armed. */
struct sse_guard {
    pthread_mutex_t mu;
    int fd;              /* our duplicate of the connection, or -1 */
    int64_t deadline_ns; /* CLOCK_MONOTONIC */
    int fired;           /* the connection was shut down */
};

/* Prepares a disarmed guard. Returns 0 or SSE_ENOMEM. */
int sse_guard_init(struct sse_guard *g);

/* Releases g (disarming it first). NULL-safe. */
void sse_guard_cleanup(struct sse_guard *g);

/* Watches the connection fd (borrowed; not closed here) until
 * sse_guard_disarm, cutting it at deadline_ns (CLOCK_MONOTONIC). g must be
 * disarmed. Returns 0, or SSE_EIO when fd cannot be duplicated (errno set,
 * e.g. EMFILE); g is then still disarmed. */
int sse_guard_arm(struct sse_guard *g, int fd, int64_t deadline_ns);

/* Stops watching; safe on a disarmed guard. Returns 1 if the guard cut the
 * connection (it is then shut down for reading and writing), else 0. */
int sse_guard_disarm(struct sse_guard *g);

/* Shuts down every armed connection of guards[0..n) whose deadline is at or
 * before now_ns. Returns the earliest deadline still pending, or INT64_MAX
 * if none. */
int64_t sse_guards_check(struct sse_guard *guards, size_t n, int64_t now_ns);

#endif
