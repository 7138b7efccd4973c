/* buf.h - growable byte buffer.
 * SPDX-License-Identifier: MIT
 *
 * Every module that builds output (SSE bytes, HTTP headers, status pages)
 * appends to a struct sse_buf instead of calling realloc itself, so the
 * size arithmetic and its overflow checks live in one place. The contents
 * are always NUL-terminated (the NUL is not counted in len), which makes a
 * buffer usable as a C string when it holds text.
 *
 * Thread-safety: one buffer per thread; no shared state.
 */
#ifndef SSE_BUF_H
#define SSE_BUF_H

#include <stddef.h>
#include <stdint.h>

/* Invariant: data == NULL && len == 0 && cap == 0, or
 * data != NULL && len < cap && data[len] == '\0'. */
struct sse_buf {
    char *data; /* owned by the buffer */
    size_t len; /* bytes in use, excluding the terminating NUL */
    size_t cap; /* bytes allocated */
    size_t max; /* growth limit in bytes (0 = SIZE_MAX) */
};

/* Prepares b as empty; max limits len (0 for no limit). Allocates nothing. */
void sse_buf_init(struct sse_buf *b, size_t max);

/* Frees the storage; b may then be reused after sse_buf_init. NULL-safe. */
void sse_buf_cleanup(struct sse_buf *b);

/* Sets len to 0 and keeps the storage. */
void sse_buf_reset(struct sse_buf *b);

/* Makes room for n more bytes. Returns 0, SSE_ENOMEM, or SSE_ETOOBIG when
 * len + n would pass max or overflow; b is unchanged on failure. */
int sse_buf_reserve(struct sse_buf *b, size_t n);

/* Appends n bytes from p (p may be NULL when n == 0). Errors as reserve;
 * b is unchanged on failure. */
int sse_buf_append(struct sse_buf *b, const void *p, size_t n);

/* Appends a NUL-terminated string. Errors as reserve. */
int sse_buf_append_str(struct sse_buf *b, const char *s);

/* Appends the decimal form of v. Errors as reserve. */
int sse_buf_append_i64(struct sse_buf *b, int64_t v);

/* Appends printf-formatted text. Errors as reserve, or SSE_EINVAL for a
 * bad format. */
int sse_buf_appendf(struct sse_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Moves the storage out: returns data (owned by caller, NUL-terminated, may
 * be NULL for an untouched buffer) and leaves b empty. */
char *sse_buf_take(struct sse_buf *b, size_t *len);

#endif
