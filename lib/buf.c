/* buf.c - growable byte buffer.
 * SPDX-License-Identifier: MIT
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "sse_error.h"

void sse_buf_init(struct sse_buf *b, size_t max)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    b->max = max ? max : SIZE_MAX;
}

void sse_buf_cleanup(struct sse_buf *b)
{
    if (!b)
        return;
    free(b->data);
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
}

void sse_buf_reset(struct sse_buf *b)
{
    b->len = 0;
    if (b->data)
        b->data[0] = '\0';
}

int sse_buf_reserve(struct sse_buf *b, size_t n)
{
    /* Room for len + n bytes plus the terminating NUL. */
    if (n > SIZE_MAX - 1 - b->len || b->len + n > b->max)
        return SSE_ETOOBIG;
    size_t need = b->len + n + 1;
    if (need <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < need)
        cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    char *p = realloc(b->data, cap);
    if (!p)
        return SSE_ENOMEM;
    b->data = p;
    b->cap = cap;
    return 0;
}

int sse_buf_append(struct sse_buf *b, const void *p, size_t n)
{
    int rc = sse_buf_reserve(b, n);
    if (rc)
        return rc;
    if (n)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
    return 0;
}

int sse_buf_append_str(struct sse_buf *b, const char *s)
{
    return sse_buf_append(b, s, strlen(s));
}

int sse_buf_append_i64(struct sse_buf *b, int64_t v)
{
    /* By hand: snprintf's format parsing costs several times the digits
     * (every event id and every stream's headers pass here). */
    char tmp[24];
    char *p = tmp + sizeof tmp;
    uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
    do {
        *--p = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0)
        *--p = '-';
    return sse_buf_append(b, p, (size_t)(tmp + sizeof tmp - p));
}

int sse_buf_appendf(struct sse_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return SSE_EINVAL;
    int rc = sse_buf_reserve(b, (size_t)n);
    if (rc)
        return rc;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return 0;
}

char *sse_buf_take(struct sse_buf *b, size_t *len)
{
    char *p = b->data;
    if (len)
        *len = b->len;
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    return p;
}
