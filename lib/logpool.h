/* logpool.h - pooled read-only connections for catch-up reads.
 * SPDX-License-Identifier: MIT
 *
 * A stream that starts from a resume point, or falls behind the ring,
 * reads its backlog from the log in bounded batches. Opening a connection
 * costs a file open and a schema check, so connections are kept in a small
 * pool and lent out; a borrower has its connection to itself (SQLite
 * connections are used by one thread at a time).
 *
 * Thread-safety: every function is thread-safe. The pool's mutex is a leaf:
 * nothing else is locked while it is held, and no connection is opened or
 * closed under it.
 */
#ifndef SSE_LOGPOOL_H
#define SSE_LOGPOOL_H

#include "buf.h"
#include "eventlog.h"

struct sse_logpool;

/* Creates an empty pool for the log at db (copied) with the busy timeout
 * each connection gets. Returns 0 or SSE_ENOMEM. */
int sse_logpool_new(const char *db, int busy_timeout_ms,
                    struct sse_logpool **out);

/* Closes every pooled connection and frees the pool; every borrowed
 * connection must have been returned. NULL-safe. */
void sse_logpool_free(struct sse_logpool *p);

/* Lends a connection: a pooled one, or one opened now. Returns 0 with *log
 * owned by the borrower until sse_logpool_return, or an sse_eventlog_open
 * error. */
int sse_logpool_borrow(struct sse_logpool *p, struct sse_eventlog **log);

/* Takes back a borrowed connection (NULL-safe). broken != 0 (after an
 * error), a full pool, or a log file replaced since the connection opened
 * closes it instead of keeping it. */
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

/* Closes every pooled connection (the log was replaced, or failed);
 * connections lent out are closed when they come back broken or replaced. */
void sse_logpool_clear(struct sse_logpool *p);

#endif
