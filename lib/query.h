/* query.h - URL query string iteration and percent-decoding.
 * SPDX-License-Identifier: MIT
 *
 * Web servers hand FastCGI the raw QUERY_STRING. This module splits it on
 * '&' (and ';' is NOT a separator), decodes "%XX" and '+' (as space, the
 * application/x-www-form-urlencoded rule browsers use for forms), and
 * refuses malformed escapes instead of guessing.
 *
 * Thread-safety: pure functions; the iterator is per caller.
 */
#ifndef SSE_QUERY_H
#define SSE_QUERY_H

#include <stddef.h>

struct sse_query_iter {
    const char *pos; /* borrowed: the rest of the query string */
    const char *end;
};

/* Starts iterating over qs[0..len). qs is borrowed until iteration ends. */
void sse_query_iter_init(struct sse_query_iter *it, const char *qs, size_t len);

/* Yields the next raw (still encoded) key and value. Empty pieces ("a&&b")
 * are skipped; a piece without '=' yields an empty value. Returns 1 when a
 * pair was produced, 0 at the end. Pointers borrow from the query string. */
int sse_query_next(struct sse_query_iter *it, const char **key, size_t *key_len,
                   const char **val, size_t *val_len);

/* Percent-decodes src[0..len) into dst (capacity dst_cap, NUL-terminated on
 * success) and stores the decoded length in *out_len. '+' becomes a space.
 * Returns 0, SSE_EINVAL for a bad escape ("%", "%4", "%zz"), or SSE_ETOOBIG
 * when the result and its NUL do not fit in dst_cap. Decoded bytes are not
 * validated here (callers check them against their own character sets). */
int sse_query_decode(const char *src, size_t len, char *dst, size_t dst_cap,
                     size_t *out_len);

/* Compares the raw key k[0..k_len) after decoding with the plain name.
 * Returns 1 when equal, 0 otherwise (also for undecodable keys). */
int sse_query_key_is(const char *k, size_t k_len, const char *name);

#endif
