/* logpool.h - pooled read-only connections for catch-up reads.
 * SPDX-License-Identifier: MIT
 *
 * A stream that starts from a resume point, or falls behind the ring,
 * reads its backlog from the log in bounded batches. Opening a connection
 * costs a file open and a schema check (and on PostgreSQL a server
 * process), so connections are kept in a small pool and lent out; a
 * borrower has its connection to itself (SQLite connections are used by
 * one thread at a time). The pool never has more than its max_open
 * connections open, lent or idle, whatever the number of streams: a
 * borrower finds one idle, opens one below the cap, or waits for one to
 * come back, at most busy_timeout_ms. A borrower must not wait on a client
 * (or borrow a second connection) while it holds one.
 *
 * Thread-safety: every function is thread-safe. The pool's mutex is a leaf:
 * nothing else is locked while it is held, and no connection is opened or
 * closed under it.
 */
#ifndef SSE_LOGPOOL_H
#define SSE_LOGPOOL_H

#include "buf.h"
#include "eventlog.h"
#include "metrics.h"

/* The most connections one pool may keep (the db-connections setting's
 * upper bound). */
#define SSE_LOGPOOL_MAX_OPEN 256

struct sse_logpool;

/* Creates an empty pool for the log at db (copied) that opens at most
 * max_open (1 to SSE_LOGPOOL_MAX_OPEN) connections, each with busy_timeout_ms
 * as its busy timeout, which is also the longest a borrower waits for a free
 * one. metrics (NULL: none; must outlive the pool) gets the db_connections
 * gauge and db_connection_waits counter. Returns 0 or SSE_ENOMEM. */
int sse_logpool_new(const char *db, int busy_timeout_ms, size_t max_open,
                    struct sse_metrics *metrics, struct sse_logpool **out);

/* Closes every pooled connection and frees the pool; every borrowed
 * connection must have been returned. NULL-safe. */
void sse_logpool_free(struct sse_logpool *p);

/* Lends a connection: an idle one, one opened now if fewer than max_open
 * are open, or the first one returned within busy_timeout_ms. Returns 0
 * with *log owned by the borrower until sse_logpool_return, SSE_EBUSY when
 * none came free in time, or an sse_eventlog_open error. */
int sse_logpool_borrow(struct sse_logpool *p, struct sse_eventlog **log);

/* Takes back a borrowed connection (NULL-safe) and wakes a waiting
 * borrower. broken != 0 (after an error) or a log file replaced since the
 * connection opened closes it instead of keeping it. */
void sse_logpool_return(struct sse_logpool *p, struct sse_eventlog *log,
                        int broken);

/* One bounded catch-up read, start to end: borrows a connection, reads the
 * rows of channels (nchannels names as in struct sse_request; NULL: every
 * channel) with after < id <= upto in id order, at most max_rows of them,
 * stopping before the first row that finds max_bytes already encoded (the
 * first row is always taken, however large), encodes each into out
 * (sse_encode_row), and returns the connection, all before it returns: the
 * statement is reset and the snapshot released before the caller writes a
 * byte of out to a client, however slowly that client reads. *progress is
 * as sse_eventlog_read's. Returns 0 or an error; rows encoded before an
 * error stay in out and are counted in *progress. */
int sse_logpool_read(struct sse_logpool *p,
                     const char (*channels)[SSE_CHANNEL_MAX + 1],
                     size_t nchannels, int64_t after, int64_t upto,
                     size_t max_rows, size_t max_bytes, struct sse_buf *out,
                     struct sse_eventlog_progress *progress);

/* Closes every idle connection (the log was replaced, or failed);
 * connections lent out are closed when they come back broken or replaced. */
void sse_logpool_clear(struct sse_logpool *p);

/* How many connections are open now, lent or idle (for the status page
 * and tests); never more than max_open. */
size_t sse_logpool_open_count(struct sse_logpool *p);

#endif
