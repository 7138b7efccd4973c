/* sqlite_error.h - SQLite result codes as sselite error codes.
 * SPDX-License-Identifier: MIT
 *
 * Shared by the two modules that talk to SQLite (eventlog.c reads,
 * admin.c writes) so that a locked or damaged database is reported the same
 * way by the worker and the command-line tool.
 */
#ifndef SSE_SQLITE_ERROR_H
#define SSE_SQLITE_ERROR_H

/* Maps a (possibly extended) SQLite result code: OK/ROW/DONE -> 0,
 * BUSY/LOCKED -> SSE_EBUSY, CONSTRAINT -> SSE_EINVAL, NOTADB/CORRUPT ->
 * SSE_ECORRUPT, NOMEM -> SSE_ENOMEM, TOOBIG -> SSE_ETOOBIG, anything else
 * (CANTOPEN included: callers check for a missing file themselves, so it
 * means permissions or I/O) -> SSE_EDB. Thread-safe. */
int sse_sqlite_error(int rc);

#endif
