/* pattern.c - channel patterns: an exact name, a prefix, or every channel.
 * SPDX-License-Identifier: MIT
 *
 * Patterns are short (at most 128 bytes) and matched against a handful of
 * rules per channel, so plain byte comparison is all that is needed; the
 * syntax is deliberately too small to need a parser state machine.
 */
#include "pattern.h"

#include <assert.h>
#include <string.h>

#include "channel.h"
#include "sse_error.h"

int sse_pattern_parse(const char *p, size_t len, enum sse_pattern_kind *kind)
{
    if (p == NULL || len == 0 || len > SSE_PATTERN_MAX)
        return SSE_EINVAL;
    if (len == 1 && p[0] == '*') {
        *kind = SSE_PATTERN_ALL;
        return 0;
    }
    if (p[len - 1] != '*') {
        if (!sse_channel_valid(p, len))
            return SSE_EINVAL;
        *kind = SSE_PATTERN_EXACT;
        return 0;
    }
    /* A prefix ends in ":*" or in '/' and '*'; the separator keeps
     * "user/4" and '*' (which would also match user/42) from being
     * written by mistake. */
    size_t n = len - 1;
    if (p[n - 1] != '/' && p[n - 1] != ':')
        return SSE_EINVAL;
    if (!sse_channel_valid(p, n))
        return SSE_EINVAL;
    *kind = SSE_PATTERN_PREFIX;
    return 0;
}

/* The kind of a pattern the caller has already checked. */
static enum sse_pattern_kind kind_of(const char *p, size_t plen)
{
    enum sse_pattern_kind kind = SSE_PATTERN_ALL;
    int valid = sse_pattern_parse(p, plen, &kind) == 0;
    assert(valid);
    (void)valid;
    return kind;
}

int sse_pattern_match(const char *p, size_t plen, const char *channel,
                      size_t clen)
{
    switch (kind_of(p, plen)) {
    case SSE_PATTERN_ALL:
        return 1;
    case SSE_PATTERN_PREFIX:
        return clen >= plen - 1 && memcmp(channel, p, plen - 1) == 0;
    default:
        return clen == plen && memcmp(channel, p, plen) == 0;
    }
}

size_t sse_pattern_specificity(const char *p, size_t plen)
{
    switch (kind_of(p, plen)) {
    case SSE_PATTERN_ALL:
        return 0;
    case SSE_PATTERN_PREFIX:
        return plen - 1;
    default:
        return SSE_PATTERN_MAX + 1;
    }
}

int sse_pattern_covers(const char *a, size_t alen, const char *b, size_t blen)
{
    enum sse_pattern_kind ka = kind_of(a, alen), kb = kind_of(b, blen);
    switch (ka) {
    case SSE_PATTERN_ALL:
        return 1;
    case SSE_PATTERN_PREFIX:
        /* A prefix b is a subset when its own prefix starts with a's; an
         * exact name when it matches. "*" is never inside a prefix. */
        if (kb == SSE_PATTERN_ALL)
            return 0;
        return sse_pattern_match(a, alen, b,
                                 kb == SSE_PATTERN_PREFIX ? blen - 1 : blen);
    default:
        return kb == SSE_PATTERN_EXACT && alen == blen &&
               memcmp(a, b, alen) == 0;
    }
}

int sse_pattern_user_valid(const char *u, size_t len)
{
    if (!u || !sse_channel_valid(u, len))
        return 0;
    return memchr(u, '/', len) == NULL && memchr(u, ':', len) == NULL;
}

int sse_pattern_expand(const char *t, size_t len, const char *user, size_t ulen,
                       char *out, size_t cap, size_t *outlen)
{
    static const size_t tl = sizeof SSE_PATTERN_USER - 1;
    size_t o = 0;
    int templated = 0;
    for (size_t i = 0; i < len;) {
        const char *piece = t + i;
        size_t n = 1;
        if (len - i >= tl && memcmp(t + i, SSE_PATTERN_USER, tl) == 0) {
            templated = 1;
            piece = user;
            n = ulen;
            i += tl;
        } else {
            i++;
        }
        if (templated && !sse_pattern_user_valid(user, ulen))
            return SSE_EINVAL;
        if (n >= cap - o)
            return SSE_EINVAL;
        memcpy(out + o, piece, n);
        o += n;
    }
    if (cap == 0)
        return SSE_EINVAL;
    out[o] = '\0';
    enum sse_pattern_kind kind;
    if (sse_pattern_parse(out, o, &kind))
        return SSE_EINVAL;
    *outlen = o;
    return 0;
}

int sse_pattern_template_valid(const char *t, size_t len)
{
    char out[SSE_PATTERN_MAX + 1];
    size_t n;
    /* The shortest user name: if the pattern is valid with it, it is
     * valid with any user name that keeps it within SSE_PATTERN_MAX. */
    return t && len <= 4 * SSE_PATTERN_MAX &&
           sse_pattern_expand(t, len, "u", 1, out, sizeof out, &n) == 0;
}
