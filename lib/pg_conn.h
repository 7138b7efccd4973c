/* pg_conn.h - connecting to a PostgreSQL event log, and its errors as
 * sselite's, for lib/eventlog_pg.c and lib/admin_pg.c.
 * SPDX-License-Identifier: MIT
 *
 * Thread-safety: the functions are thread-safe; a connection is used by one
 * thread at a time.
 */
#ifndef SSE_PG_CONN_H
#define SSE_PG_CONN_H

#include <stddef.h>
#include <stdint.h>

#include <libpq-fe.h>

/* Longest schema name (PostgreSQL's NAMEDATALEN - 1). */
#define SSE_PG_SCHEMA_MAX 63
#define SSE_PG_SCHEMA_DEFAULT "sselite"

/* Connects to uri, a postgresql:// or postgres:// URI as libpq takes it,
 * plus an optional parameter sselite_schema=NAME (lower-case letters,
 * digits and _, not starting with a digit; default "sselite"), which is
 * taken out before libpq sees the URI and names the schema of the log.
 * application_name defaults to app; connect_timeout to 10 s and TCP
 * keepalives to a dead peer noticed within about 30 s, unless the URI says
 * otherwise. The session gets search_path = the schema, client_encoding
 * UTF8, and statement_timeout = statement_ms and lock_timeout = lock_ms
 * (0: none). The schema need not exist.
 * On success *out is owned by the caller (PQfinish) and schema
 * (SSE_PG_SCHEMA_MAX + 1 bytes) holds the name. Errors: SSE_EINVAL (a bad
 * sselite_schema), SSE_EDB (libpq cannot parse the URI or connect, or the
 * session cannot be set up), SSE_ENOMEM; err (may be NULL) then holds one
 * line saying why, never the password. */
int sse_pg_connect(const char *uri, const char *app, int statement_ms,
                   int lock_ms, PGconn **out, char *schema, char *err,
                   size_t errlen);

/* The sselite error for a failed command: res (may be NULL, then the state
 * of conn decides) by its SQLSTATE. A lost connection is SSE_EDB; a
 * cancelled query (statement or lock timeout, a conflict with recovery on
 * a standby, a deadlock) SSE_EBUSY; a refused value SSE_EINVAL; a missing
 * table, column or schema SSE_ESCHEMA; no memory SSE_ENOMEM. */
int sse_pg_error(PGconn *conn, const PGresult *res);

/* Writes into out (capacity cap >= 1) one line: the primary message of res,
 * or conn's error message when res has none. */
void sse_pg_message(PGconn *conn, const PGresult *res, char *out, size_t cap);

/* Runs sql (no parameters) and returns 0 if it succeeded (with or without
 * rows), else sse_pg_error's code; err (may be NULL) gets the message. */
int sse_pg_exec(PGconn *conn, const char *sql, char *err, size_t errlen);

/* Parses a decimal int64 PostgreSQL sent as text into *v; 0 or SSE_EDB. */
int sse_pg_int64(const char *s, int64_t *v);

#endif
