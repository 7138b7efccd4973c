/* query.c - URL query string iteration and percent-decoding.
 * SPDX-License-Identifier: MIT
 */
#include <string.h>

#include "query.h"
#include "sse_error.h"

void sse_query_iter_init(struct sse_query_iter *it, const char *qs, size_t len)
{
    it->pos = qs ? qs : "";
    it->end = it->pos + (qs ? len : 0);
}

int sse_query_next(struct sse_query_iter *it, const char **key, size_t *key_len,
                   const char **val, size_t *val_len)
{
    while (it->pos < it->end) {
        const char *piece = it->pos;
        const char *amp = memchr(piece, '&', (size_t)(it->end - piece));
        const char *piece_end = amp ? amp : it->end;
        it->pos = amp ? amp + 1 : it->end;
        if (piece_end == piece)
            continue;
        const char *eq = memchr(piece, '=', (size_t)(piece_end - piece));
        *key = piece;
        if (eq) {
            *key_len = (size_t)(eq - piece);
            *val = eq + 1;
            *val_len = (size_t)(piece_end - eq - 1);
        } else {
            *key_len = (size_t)(piece_end - piece);
            *val = piece_end;
            *val_len = 0;
        }
        return 1;
    }
    return 0;
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int sse_query_decode(const char *src, size_t len, char *dst, size_t dst_cap,
                     size_t *out_len)
{
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        char c = src[i];
        if (c == '%') {
            if (len - i < 3)
                return SSE_EINVAL;
            int hi = hex_value(src[i + 1]);
            int lo = hex_value(src[i + 2]);
            if (hi < 0 || lo < 0)
                return SSE_EINVAL;
            c = (char)(hi * 16 + lo);
            i += 2;
        } else if (c == '+') {
            c = ' ';
        }
        if (o + 1 >= dst_cap)
            return SSE_ETOOBIG;
        dst[o++] = c;
    }
    if (o >= dst_cap)
        return SSE_ETOOBIG;
    dst[o] = '\0';
    *out_len = o;
    return 0;
}

int sse_query_key_is(const char *k, size_t k_len, const char *name)
{
    char tmp[64];
    size_t n;
    if (sse_query_decode(k, k_len, tmp, sizeof tmp, &n) != 0)
        return 0;
    return n == strlen(name) && memcmp(tmp, name, n) == 0;
}
