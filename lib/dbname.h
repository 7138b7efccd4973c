/* dbname.h - what the db setting names: a SQLite file or a PostgreSQL URI,
 * and how to show it without its password.
 * SPDX-License-Identifier: MIT
 *
 * The db setting (--db, SSELITE_DB, the CLI's DB argument) is a PostgreSQL
 * connection URI when it starts with "postgresql://" or "postgres://" (the
 * two forms libpq accepts), and a SQLite path otherwise. A URI may carry a
 * password (user:password@host, or ?password=...); it must reach libpq and
 * nothing else: no log line, no message, no ps listing.
 *
 * Thread-safety: every function is pure (works on its arguments only).
 */
#ifndef SSE_DBNAME_H
#define SSE_DBNAME_H

#include <stddef.h>

/* Returns 1 if db is a PostgreSQL connection URI, 0 for a SQLite path. */
int sse_dbname_is_uri(const char *db);

/* Replaces, in place, every password inside each PostgreSQL URI found in
 * the NUL-terminated text s (a lone URI, a log line, a message) by "***"
 * (or fewer stars for a shorter password; the text never grows): the
 * password of user:password@ and the value of a password= parameter. A URI
 * ends at white space, a quote or the end of s. Returns the number of
 * passwords hidden. */
int sse_dbname_scrub(char *s);

/* Replaces, in place, every occurrence in the NUL-terminated text of each
 * password that the URI uri carries (as written in uri) by "***" or fewer
 * stars: for messages of a library that may quote a piece of the URI
 * ("invalid percent-encoded token: ..."). Returns the number replaced. */
int sse_dbname_hide_passwords(const char *uri, char *text);

/* Copies db into out (capacity cap >= 1, truncated with "..." if needed)
 * with its passwords hidden as sse_dbname_scrub does; returns out. */
const char *sse_dbname_display(const char *db, char *out, size_t cap);

#endif
