/* accept.h - take the next FastCGI connection for a serving thread.
 * SPDX-License-Identifier: MIT
 *
 * The worker accepts connections itself and hands each to libfcgi ready
 * made (see conn.h) instead of letting FCGX_Accept_r accept, because:
 * - a thread counts as busy from the moment it holds a connection, so the
 *   spare-thread logic still answers "busy" while other threads wait for a
 *   slow or silent peer's request;
 * - an accept error such as EMFILE is retried for ever with a bounded
 *   exponential backoff (10 ms .. 1 s) and logged, rate-limited, as lost
 *   capacity; FCGX_Accept_r returned it, and a thread that gave up was
 *   never replaced;
 * - web-server-addrs (FCGI_WEB_SERVER_ADDRS) applies to IPv4 and IPv6
 *   peers; libfcgi's check (OS_Accept) covers IPv4 only.
 * Like libfcgi, TCP connections get TCP_NODELAY (events are small writes
 * that must leave at once).
 *
 * Thread-safety: one acceptor per process, shared by every serving thread;
 * its shared state is atomic.
 */
#ifndef SSE_ACCEPT_H
#define SSE_ACCEPT_H

#include <stdatomic.h>
#include <stddef.h>

#include "config.h"

struct sse_acceptor {
    int listen_fd;
    const struct sse_config *cfg; /* borrowed for the acceptor's life */
    int threads;                  /* serving threads sharing it */
    atomic_int failing;           /* threads backing off after an error */
    atomic_int reported;          /* an error line was logged since recovery */
    atomic_llong fail_logged_ns;  /* rate limits of the two warnings */
    atomic_llong refuse_logged_ns;
};

/* Prepares a for listen_fd (borrowed) shared by threads serving threads. */
void sse_acceptor_init(struct sse_acceptor *a, int listen_fd,
                       const struct sse_config *cfg, int threads);

/* Blocks until a connection from an allowed peer is accepted and returns
 * its descriptor (owned by the caller, close-on-exec), describing the peer
 * in peer (capacity cap, e.g. "127.0.0.1:40312" or "unix"). Accept errors
 * are retried for ever; after each, stopping(ctx) is asked and -1 returned
 * once it is true. */
int sse_acceptor_next(struct sse_acceptor *a, int (*stopping)(void *ctx),
                      void *ctx, char *peer, size_t cap);

#endif
