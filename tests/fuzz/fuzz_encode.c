/* fuzz_encode.c - libFuzzer target: the SSE encoder round-trip.
 * SPDX-License-Identifier: MIT
 *
 * Input: 8 bytes of id (any int64, negative ones included), 1 byte of
 * type length, the type, 1 byte choosing where to split the output for
 * chunked parsing, then the payload. The encoded event is parsed with the
 * spec-exact reference parser (tests/unit/sse_parser.h) and must give back
 * exactly one event with the same id, the type (or "message"), and the
 * payload with CRLF and CR turned into LF. Refusals (negative id, CR or LF
 * in the type) must leave the buffer unchanged. The payload is also sent as
 * a comment, which must parse to no field at all, and the id as a retry.
 */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "encode.h"
#include "fuzz.h"
#include "sse_error.h"
#include "sse_parser.h"

/* data with CRLF and lone CR turned into LF, into out (room for n). */
static size_t normalise(const char *data, size_t n, char *out)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (data[i] == '\r') {
            out[o++] = '\n';
            if (i + 1 < n && data[i + 1] == '\n')
                i++;
        } else {
            out[o++] = data[i];
        }
    }
    return o;
}

/* Parses b in two pieces split at split % (len + 1). */
static struct sse_parser *parse(const struct sse_buf *b, size_t split)
{
    struct sse_parser *p = sse_parser_new();
    CHECK(p != NULL);
    size_t at = split % (b->len + 1);
    CHECK(sse_parser_feed(p, b->data, at) == 0);
    CHECK(sse_parser_feed(p, b->data + at, b->len - at) == 0);
    CHECK(sse_parser_idle(p));
    return p;
}

static void check_event(int64_t id, const char *type, size_t type_len,
                        const char *payload, size_t len, size_t split)
{
    struct sse_buf b;
    sse_buf_init(&b, 0);
    CHECK(sse_buf_append(&b, "\n", 1) == 0); /* a blank line: harmless */
    int bad =
        id < 0 || memchr(type, '\r', type_len) || memchr(type, '\n', type_len);
    int rc = sse_encode_event(&b, id, type, type_len, payload, len);
    if (bad) {
        CHECK(rc == SSE_EINVAL);
        CHECK(b.len == 1);
        sse_buf_cleanup(&b);
        return;
    }
    CHECK(rc == 0);
    CHECK(b.len - 1 <= sse_encode_event_size(type_len, len));
    struct sse_parser *p = parse(&b, split);
    CHECK(sse_parser_count(p) == 1);
    const struct sse_parsed_event *ev = sse_parser_event(p, 0);
    char want_id[24];
    snprintf(want_id, sizeof want_id, "%" PRId64, id);
    CHECK(strcmp(ev->last_event_id, want_id) == 0);
    if (type_len == 0)
        CHECK(ev->type_len == 7 && memcmp(ev->type, "message", 7) == 0);
    else
        CHECK(ev->type_len == type_len &&
              memcmp(ev->type, type, type_len) == 0);
    char *want = malloc(len + 1);
    CHECK(want != NULL);
    size_t wn = normalise(payload, len, want);
    CHECK(ev->data_len == wn && memcmp(ev->data, want, wn) == 0);
    free(want);
    sse_parser_free(p);
    sse_buf_cleanup(&b);
}

static void check_comment(const char *payload, size_t len, size_t split)
{
    char *text = malloc(len + 1);
    CHECK(text != NULL);
    memcpy(text, payload, len);
    text[len] = '\0'; /* a comment is a C string: up to the first NUL */
    struct sse_buf b;
    sse_buf_init(&b, 0);
    CHECK(sse_encode_comment(&b, text) == 0);
    struct sse_parser *p = parse(&b, split);
    CHECK(sse_parser_count(p) == 0);
    CHECK(sse_parser_fields(p) == 0);
    CHECK(sse_parser_comments(p) >= 1);
    sse_parser_free(p);
    sse_buf_cleanup(&b);
    free(text);
}

static void check_retry(int64_t ms)
{
    struct sse_buf b;
    sse_buf_init(&b, 0);
    int rc = sse_encode_retry(&b, ms);
    if (ms < 0) {
        CHECK(rc == SSE_EINVAL && b.len == 0);
    } else {
        CHECK(rc == 0);
        struct sse_parser *p = parse(&b, 0);
        CHECK(sse_parser_retry(p) == ms);
        CHECK(sse_parser_count(p) == 0);
        sse_parser_free(p);
    }
    sse_buf_cleanup(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 10)
        return 0;
    uint64_t raw = 0;
    for (int i = 0; i < 8; i++)
        raw = raw << 8 | data[i];
    int64_t id;
    memcpy(&id, &raw, sizeof id);
    size_t type_len = data[8];
    if (type_len > size - 10)
        type_len = size - 10;
    const char *type = (const char *)data + 9;
    size_t split = data[9 + type_len];
    const char *payload = (const char *)data + 10 + type_len;
    size_t len = size - 10 - type_len;

    /* Exact-size copies so ASan catches reads past either end. */
    char *t = malloc(type_len ? type_len : 1);
    char *d = malloc(len ? len : 1);
    CHECK(t && d);
    memcpy(t, type, type_len);
    memcpy(d, payload, len);
    check_event(id, t, type_len, d, len, split);
    check_comment(d, len, split);
    check_retry(id);
    free(t);
    free(d);
    return 0;
}
