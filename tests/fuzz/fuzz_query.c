/* fuzz_query.c - libFuzzer target: query string iteration and decoding.
 * SPDX-License-Identifier: MIT
 *
 * The input is a raw QUERY_STRING. Every pair the iterator yields must lie
 * inside the input and contain no '&'; sse_query_decode must agree byte for
 * byte with the small reference decoder below (application/x-www-form-
 * urlencoded: "%XX" with two hex digits, '+' as space, anything else as
 * is), report SSE_ETOOBIG exactly when the result and its NUL do not fit,
 * and sse_query_key_is must match decoding then comparing.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "query.h"
#include "sse_error.h"

static int hex(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c |= 0x20;
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Reference decoder: returns the decoded length, or -1 for a bad escape.
 * dst has room for len bytes. */
static long ref_decode(const char *src, size_t len, char *dst)
{
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)src[i];
        if (c == '%') {
            if (len - i < 3)
                return -1;
            int hi = hex((unsigned char)src[i + 1]);
            int lo = hex((unsigned char)src[i + 2]);
            if (hi < 0 || lo < 0)
                return -1;
            dst[o++] = (char)(hi * 16 + lo);
            i += 2;
        } else {
            dst[o++] = c == '+' ? ' ' : (char)c;
        }
    }
    return (long)o;
}

static void check_decode(const char *src, size_t len)
{
    char *ref = malloc(len + 1);
    char *dst = malloc(len + 1);
    CHECK(ref && dst);
    long want = ref_decode(src, len, ref);
    size_t out = 0;
    int rc = sse_query_decode(src, len, dst, len + 1, &out);
    if (want < 0) {
        CHECK(rc == SSE_EINVAL);
    } else {
        CHECK(rc == 0);
        CHECK(out == (size_t)want);
        CHECK(memcmp(dst, ref, out) == 0 && dst[out] == '\0');
        /* Exactly enough room succeeds; one byte less is too small. */
        size_t got;
        CHECK(sse_query_decode(src, len, dst, out + 1, &got) == 0 &&
              got == out);
        CHECK(sse_query_decode(src, len, dst, out, &got) == SSE_ETOOBIG);
    }
    static const char *const names[] = {"channel", "last_event_id",
                                        "lastEventId", "replay", "longpoll"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        size_t n = strlen(names[i]);
        int same =
            want >= 0 && (size_t)want == n && memcmp(ref, names[i], n) == 0;
        CHECK(sse_query_key_is(src, len, names[i]) == same);
    }
    free(ref);
    free(dst);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* A copy of exactly size bytes, so ASan sees any read past the end. */
    char *qs = malloc(size ? size : 1);
    if (!qs)
        return 0;
    memcpy(qs, data, size);
    struct sse_query_iter it;
    sse_query_iter_init(&it, qs, size);
    const char *k, *v;
    size_t kn, vn, pairs = 0;
    while (sse_query_next(&it, &k, &kn, &v, &vn)) {
        CHECK(++pairs <= size);
        CHECK(k >= qs && k + kn <= qs + size);
        CHECK(v >= qs && v + vn <= qs + size);
        CHECK(!memchr(k, '&', kn) && !memchr(v, '&', vn));
        CHECK(!memchr(k, '=', kn));
        check_decode(k, kn);
        check_decode(v, vn);
    }
    CHECK(sse_query_next(&it, &k, &kn, &v, &vn) == 0);
    free(qs);
    return 0;
}
