/* check_encode.c - unit tests for lib/encode.c (SSE encoder), with a
 * round-trip property through the reference parser in sse_parser.c.
 * SPDX-License-Identifier: MIT
 *
 * The "sse_parser" test case checks the reference parser itself against the
 * WHATWG rules first, so that an encoder failure is not a parser bug.
 */
#include <check.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "encode.h"
#include "sse_error.h"
#include "sse_parser.h"
#include "testutil.h"

/* A string literal with its length, NUL bytes included. */
#define LIT(s) (s), (sizeof(s) - 1)

/* --- the reference parser ------------------------------------------------ */

static struct sse_parser *parse_bytes(const char *s, size_t n)
{
    struct sse_parser *p = sse_parser_new();
    ck_assert_ptr_nonnull(p);
    tu_parse(p, s, n);
    return p;
}

static void assert_event(const struct sse_parser *p, size_t i, const char *type,
                         const char *data, size_t data_len, const char *id)
{
    ck_assert_uint_gt(sse_parser_count(p), i);
    const struct sse_parsed_event *e = sse_parser_event(p, i);
    ck_assert_str_eq(e->type, type);
    ck_assert_uint_eq(e->type_len, strlen(type));
    ck_assert_uint_eq(e->data_len, data_len);
    if (data_len > 0)
        ck_assert_mem_eq(e->data, data, data_len);
    ck_assert_str_eq(e->last_event_id, id);
}

START_TEST(test_sse_parser_feed_basic_event)
{
    struct sse_parser *p = tu_parse_str("data: hello\n\n");
    ck_assert_uint_eq(sse_parser_count(p), 1);
    assert_event(p, 0, "message", LIT("hello"), "");
    ck_assert_int_eq(sse_parser_idle(p), 1);
    sse_parser_free(p);
}
END_TEST

START_TEST(test_sse_parser_feed_bom_skipped)
{
    struct sse_parser *p = tu_parse_str("\357\273\277data: x\n\n");
    ck_assert_uint_eq(sse_parser_count(p), 1);
    assert_event(p, 0, "message", LIT("x"), "");
    sse_parser_free(p);
}
END_TEST

START_TEST(test_sse_parser_feed_bom_split_across_chunks)
{
    struct sse_parser *p = sse_parser_new();
    ck_assert_ptr_nonnull(p);
    tu_parse(p, "\xEF", 1);
    ck_assert_int_eq(sse_parser_idle(p), 0);
    tu_parse(p, "\xBB", 1);
    tu_parse(p, "\277da", 3); /* octal: "\xBFda" would be one escape */
    tu_parse(p, "ta: x\n\n", 7);
    ck_assert_uint_eq(sse_parser_count(p), 1);
    assert_event(p, 0, "message", LIT("x"), "");
    sse_parser_free(p);
}
END_TEST

START_TEST(test_sse_parser_feed_second_bom_kept)
{
    /* Only one BOM is skipped; the second makes the field name unknown. */
    struct sse_parser *p = tu_parse_str("\357\273\277\357\273\277data: x\n\n");
    ck_assert_uint_eq(sse_parser_count(p), 0);
    ck_assert_uint_eq(sse_parser_fields(p), 1);
    sse_parser_free(p);
}
END_TEST

START_TEST(test_sse_parser_feed_partial_bom_is_content)
{
    struct sse_parser *p = tu_parse_str("\357\273data: x\n\n");
    ck_assert_uint_eq(sse_parser_count(p), 0);
    ck_assert_uint_eq(sse_parser_fields(p), 1);
    sse_parser_free(p);
}
END_TEST

START_TEST(test_sse_parser_feed_bom_not_at_start_kept)
{
    struct sse_parser *p = tu_parse_str("data: \xEF\xBB\xBFx\n\n");
    assert_event(p, 0, "message", LIT("\xEF\xBB\xBFx"), "");
    sse_parser_free(p);
}
END_TEST

START_TEST(test_sse_parser_feed_crlf_split_across_chunks)
{
    struct sse_parser *p = sse_parser_new();
    ck_assert_ptr_nonnull(p);
    tu_parse(p, "data: a\r", 8);
    tu_parse(p, "\ndata: b\r", 9);
    tu_parse(p, "\n\r", 2);
    tu_parse(p, "\n", 1);
    ck_assert_uint_eq(sse_parser_count(p), 1);
    assert_event(p, 0, "message", LIT("a\nb"), "");
    sse_parser_free(p);
}
END_TEST

START_TEST(test_sse_parser_feed_cr_only_lines)
{
    struct sse_parser *p = tu_parse_str("data: a\rdata: b\r\r");
    ck_assert_uint_eq(sse_parser_count(p), 1);
    assert_event(p, 0, "message", LIT("a\nb"), "");
    sse_parser_free(p);
}
END_TEST

START_TEST(test_sse_parser_feed_cr_crlf_is_two_breaks)
{
    /* "\r\r\n" is CR then CRLF: one blank line, not two. */
    struct sse_parser *p = tu_parse_str("data: a\r\r\ndata: b\n\n");
    ck_assert_uint_eq(sse_parser_count(p), 2);
    assert_event(p, 0, "message", LIT("a"), "");
    assert_event(p, 1, "message", LIT("b"), "");
    sse_parser_free(p);
}
END_TEST

START_TEST(test_sse_parser_feed_lf_cr_is_two_breaks)
{
    /* "\n\r" is LF then CR: a line end and a blank line. */
    struct sse_parser *p = tu_parse_str("data: a\n\rdata: b\n\n");
    ck_assert_uint_eq(sse_parser_count(p), 2);
    sse_parser_free(p);
}
END_TEST

START_TEST(test_sse_parser_feed_comment_counted)
{
    struct sse_parser *p = tu_parse_str(": hi\n:\n\n");
    ck_assert_uint_eq(sse_parser_comments(p), 2);
    ck_assert_uint_eq(sse_parser_fields(p), 0);
    ck_assert_uint_eq(sse_parser_count(p), 0);
    ck_assert_uint_eq(sse_parser_empty_dispatches(p), 1);
    sse_parser_free(p);
}
END_TEST

START_TEST(test_sse_parser_feed_field_without_colon)
{
    struct sse_parser *p = tu_parse_str("data\n\n");
    ck_assert_uint_eq(sse_parser_count(p), 1);
    assert_event(p, 0, "message", "", 0, "");
    sse_parser_free(p);
}
END_TEST

START_TEST(test_sse_parser_feed_one_space_stripped)
{
    struct sse_parser *p = tu_parse_str("data:  x\n\ndata:y\n\n");
    assert_event(p, 0, "message", LIT(" x"), "");
    assert_event(p, 1, "message", LIT("y"), "");
    sse_parser_free(p);
}
END_TEST

START_TEST(test_sse_parser_feed_value_keeps_later_colons)
{
    struct sse_parser *p = tu_parse_str("data: a: b:c\n\n");
    assert_event(p, 0, "message", LIT("a: b:c"), "");
    sse_parser_free(p);
}
END_TEST

START_TEST(test_sse_parser_feed_name_exact_case)
{
    struct sse_parser *p = tu_parse_str("Data: x\ndata : y\n\n");
    ck_assert_uint_eq(sse_parser_count(p), 0);
    ck_assert_uint_eq(sse_parser_fields(p), 2);
    sse_parser_free(p);
}
END_TEST

START_TEST(test_sse_parser_feed_data_lines_joined)
{
    struct sse_parser *p = tu_parse_str("data: a\ndata:\ndata: b\n\n");
    assert_event(p, 0, "message", LIT("a\n\nb"), "");
    sse_parser_free(p);
}
END_TEST

START_TEST(test_sse_parser_feed_one_trailing_lf_removed)
{
    struct sse_parser *p = tu_parse_str("data: a\ndata:\n\n");
    assert_event(p, 0, "message", LIT("a\n"), "");
    sse_parser_free(p);
}
END_TEST

START_TEST(test_sse_parser_feed_no_data_no_event)
{
    struct sse_parser *p = tu_parse_str("event: x\n\ndata: y\n\n");
    ck_assert_uint_eq(sse_parser_count(p), 1);
    /* The type buffer was cleared by the data-less dispatch. */
    assert_event(p, 0, "message", LIT("y"), "");
    ck_assert_uint_eq(sse_parser_empty_dispatches(p), 1);
    sse_parser_free(p);
}
END_TEST

START_TEST(test_sse_parser_feed_event_type)
{
    struct sse_parser *p =
        tu_parse_str("event: add\ndata: 1\n\nevent:\ndata: 2\n\n");
    assert_event(p, 0, "add", LIT("1"), "");
    assert_event(p, 1, "message", LIT("2"), "");
    sse_parser_free(p);
}
END_TEST

START_TEST(test_sse_parser_feed_id_persists)
{
    struct sse_parser *p = tu_parse_str("id: 5\ndata: a\n\ndata: b\n\n");
    assert_event(p, 0, "message", LIT("a"), "5");
    assert_event(p, 1, "message", LIT("b"), "5");
    sse_parser_free(p);
}
END_TEST

START_TEST(test_sse_parser_feed_id_with_nul_ignored)
{
    static const char s[] = "id: 1\ndata: a\n\nid: 2\0x\ndata: b\n\n";
    struct sse_parser *p = parse_bytes(s, sizeof(s) - 1);
    assert_event(p, 1, "message", LIT("b"), "1");
    sse_parser_free(p);
}
END_TEST

START_TEST(test_sse_parser_feed_empty_id_clears)
{
    struct sse_parser *p = tu_parse_str("id: 1\ndata: a\n\nid\ndata: b\n\n");
    assert_event(p, 1, "message", LIT("b"), "");
    sse_parser_free(p);
}
END_TEST

START_TEST(test_sse_parser_feed_id_only_dispatch_sets_id)
{
    struct sse_parser *p = tu_parse_str("id: 7\n\n");
    ck_assert_uint_eq(sse_parser_count(p), 0);
    ck_assert_str_eq(sse_parser_last_event_id(p, NULL), "7");
    sse_parser_free(p);
}
END_TEST

START_TEST(test_sse_parser_feed_id_applies_at_dispatch)
{
    struct sse_parser *p = tu_parse_str("id: 7\n");
    ck_assert_str_eq(sse_parser_last_event_id(p, NULL), "");
    ck_assert_int_eq(sse_parser_idle(p), 0);
    sse_parser_free(p);
}
END_TEST

START_TEST(test_sse_parser_feed_retry_digits)
{
    struct sse_parser *p = tu_parse_str("retry: 1500\n\n");
    ck_assert_int_eq(sse_parser_retry(p), 1500);
    sse_parser_free(p);
}
END_TEST

START_TEST(test_sse_parser_feed_retry_non_digits_ignored)
{
    struct sse_parser *p =
        tu_parse_str("retry: 10\nretry: 15x\nretry: -1\nretry:\nretry:  20\n"
                     "retry: one\nretry: 99999999999999999999999\n\n");
    ck_assert_int_eq(sse_parser_retry(p), 10);
    sse_parser_free(p);
}
END_TEST

START_TEST(test_sse_parser_feed_incomplete_event_dropped)
{
    struct sse_parser *p = tu_parse_str("data: x\n");
    ck_assert_uint_eq(sse_parser_count(p), 0);
    ck_assert_int_eq(sse_parser_idle(p), 0);
    sse_parser_free(p);
    p = tu_parse_str("data: x");
    ck_assert_int_eq(sse_parser_idle(p), 0);
    sse_parser_free(p);
}
END_TEST

START_TEST(test_sse_parser_idle_at_boundaries)
{
    struct sse_parser *p = sse_parser_new();
    ck_assert_ptr_nonnull(p);
    ck_assert_int_eq(sse_parser_idle(p), 1);
    tu_parse(p, LIT(": c\n"));
    ck_assert_int_eq(sse_parser_idle(p), 1);
    tu_parse(p, LIT("data: x\n\r"));
    ck_assert_int_eq(sse_parser_idle(p), 1);
    sse_parser_free(p);
}
END_TEST

/* Self-check: chunking never changes the result. */
START_TEST(test_sse_parser_feed_chunking_invariant)
{
    static const char *const atoms[] = {
        "data", "id", "event", "retry",        ":",  " ", "\r", "\n",
        "\r\n", "x",  "7",     "\xEF\xBB\xBF", "\0",
    };
    struct tu_rng r;
    tu_rng_init(&r, "test_sse_parser_feed_chunking_invariant");
    for (int iter = 0; iter < 500; iter++) {
        char s[512];
        size_t n = 0;
        while (n < sizeof(s) - 16) {
            const char *a = atoms[tu_rng_below(&r, 13)];
            size_t k = a[0] ? strlen(a) : 1;
            memcpy(s + n, a, k);
            n += k;
            if (tu_rng_below(&r, 40) == 0)
                break;
        }
        struct sse_parser *whole = parse_bytes(s, n);
        struct sse_parser *bits = sse_parser_new();
        ck_assert_ptr_nonnull(bits);
        tu_parse_chunked(bits, &r, s, n, 1 + tu_rng_below(&r, 5));
        tu_rng_assert(&r, sse_parser_count(whole) == sse_parser_count(bits),
                      "iteration %d", iter);
        for (size_t i = 0; i < sse_parser_count(whole); i++) {
            const struct sse_parsed_event *a = sse_parser_event(whole, i);
            const struct sse_parsed_event *b = sse_parser_event(bits, i);
            tu_rng_assert(&r,
                          a->data_len == b->data_len &&
                              memcmp(a->data, b->data, a->data_len) == 0 &&
                              strcmp(a->type, b->type) == 0 &&
                              strcmp(a->last_event_id, b->last_event_id) == 0,
                          "iteration %d event %zu", iter, i);
        }
        tu_rng_assert(&r, sse_parser_retry(whole) == sse_parser_retry(bits),
                      "iteration %d", iter);
        tu_rng_assert(&r,
                      sse_parser_comments(whole) == sse_parser_comments(bits),
                      "iteration %d", iter);
        sse_parser_free(whole);
        sse_parser_free(bits);
    }
}
END_TEST

/* --- the encoder: exact bytes -------------------------------------------- */

/* Encodes one event into a fresh buffer and checks the exact output. */
static void check_event_bytes(int64_t id, const char *type, size_t type_len,
                              const char *data, size_t data_len,
                              const char *want, size_t want_len)
{
    struct sse_buf b;
    sse_buf_init(&b, 0);
    ck_assert_int_eq(sse_encode_event(&b, id, type, type_len, data, data_len),
                     0);
    ck_assert_uint_eq(b.len, want_len);
    ck_assert_mem_eq(b.data, want, want_len);
    ck_assert_uint_le(b.len, sse_encode_event_size(type_len, data_len));
    sse_buf_cleanup(&b);
}

/* sse_encode_row of one row into a fresh buffer; checks the exact output
 * and returns the status. */
static int row_bytes(int64_t id, const char *type, size_t type_len,
                     const char *data, size_t data_len, const char *want,
                     size_t want_len)
{
    struct sse_buf b;
    sse_buf_init(&b, 0);
    int rc = sse_encode_row(&b, id, type, type_len, data, data_len);
    ck_assert_uint_eq(b.len, want_len);
    if (want_len)
        ck_assert_mem_eq(b.data, want, want_len);
    sse_buf_cleanup(&b);
    return rc;
}

START_TEST(test_encode_row_valid_type_kept)
{
    ck_assert_int_eq(
        row_bytes(4, LIT("up"), LIT("x"), LIT("id: 4\nevent: up\ndata: x\n\n")),
        0);
}
END_TEST

START_TEST(test_encode_row_cr_type_sent_as_message)
{
    /* sse_encode_event refuses the type; a stored row still goes out. */
    ck_assert_int_eq(
        row_bytes(5, LIT("a\rb"), LIT("x"), LIT("id: 5\ndata: x\n\n")), 0);
    ck_assert_int_eq(
        row_bytes(6, LIT("a\nb"), LIT(""), LIT("id: 6\ndata: \n\n")), 0);
}
END_TEST

START_TEST(test_encode_row_negative_id_refused)
{
    ck_assert_int_eq(row_bytes(-1, LIT("a\rb"), LIT("x"), "", 0), SSE_EINVAL);
}
END_TEST

START_TEST(test_encode_event_plain)
{
    check_event_bytes(1, NULL, 0, LIT("hi"), LIT("id: 1\ndata: hi\n\n"));
}
END_TEST

START_TEST(test_encode_event_type_written)
{
    check_event_bytes(2, LIT("add"), LIT("x"),
                      LIT("id: 2\nevent: add\ndata: x\n\n"));
}
END_TEST

START_TEST(test_encode_event_empty_type_omitted)
{
    check_event_bytes(3, LIT(""), LIT("x"), LIT("id: 3\ndata: x\n\n"));
}
END_TEST

START_TEST(test_encode_event_type_len_zero_omitted)
{
    check_event_bytes(3, "abc", 0, LIT("x"), LIT("id: 3\ndata: x\n\n"));
}
END_TEST

START_TEST(test_encode_event_type_len_honoured)
{
    check_event_bytes(4, "abcdef", 3, LIT("x"),
                      LIT("id: 4\nevent: abc\ndata: x\n\n"));
}
END_TEST

START_TEST(test_encode_event_type_cr_past_len_ignored)
{
    check_event_bytes(4, "ab\r", 2, LIT("x"),
                      LIT("id: 4\nevent: ab\ndata: x\n\n"));
}
END_TEST

START_TEST(test_encode_event_id_zero)
{
    check_event_bytes(0, NULL, 0, LIT("x"), LIT("id: 0\ndata: x\n\n"));
}
END_TEST

START_TEST(test_encode_event_id_max)
{
    check_event_bytes(INT64_MAX, NULL, 0, LIT("x"),
                      LIT("id: 9223372036854775807\ndata: x\n\n"));
}
END_TEST

START_TEST(test_encode_event_empty_payload_one_data_line)
{
    check_event_bytes(1, NULL, 0, "", 0, LIT("id: 1\ndata: \n\n"));
}
END_TEST

START_TEST(test_encode_event_null_payload_empty)
{
    check_event_bytes(1, NULL, 0, NULL, 0, LIT("id: 1\ndata: \n\n"));
}
END_TEST

START_TEST(test_encode_event_trailing_lf_final_empty_line)
{
    check_event_bytes(1, NULL, 0, LIT("a\n"),
                      LIT("id: 1\ndata: a\ndata: \n\n"));
}
END_TEST

START_TEST(test_encode_event_trailing_cr_final_empty_line)
{
    check_event_bytes(1, NULL, 0, LIT("a\r"),
                      LIT("id: 1\ndata: a\ndata: \n\n"));
}
END_TEST

START_TEST(test_encode_event_trailing_crlf_final_empty_line)
{
    check_event_bytes(1, NULL, 0, LIT("a\r\n"),
                      LIT("id: 1\ndata: a\ndata: \n\n"));
}
END_TEST

START_TEST(test_encode_event_mixed_breaks_split)
{
    check_event_bytes(1, NULL, 0, LIT("a\rb\r\nc\nd"),
                      LIT("id: 1\ndata: a\ndata: b\ndata: c\ndata: d\n\n"));
}
END_TEST

START_TEST(test_encode_event_crlf_alone_two_lines)
{
    check_event_bytes(1, NULL, 0, LIT("\r\n"),
                      LIT("id: 1\ndata: \ndata: \n\n"));
}
END_TEST

START_TEST(test_encode_event_cr_crlf_three_lines)
{
    check_event_bytes(1, NULL, 0, LIT("\r\r\n"),
                      LIT("id: 1\ndata: \ndata: \ndata: \n\n"));
}
END_TEST

START_TEST(test_encode_event_lf_cr_three_lines)
{
    check_event_bytes(1, NULL, 0, LIT("\n\r"),
                      LIT("id: 1\ndata: \ndata: \ndata: \n\n"));
}
END_TEST

START_TEST(test_encode_event_empty_lines_kept)
{
    check_event_bytes(1, NULL, 0, LIT("a\n\n\nb"),
                      LIT("id: 1\ndata: a\ndata: \ndata: \ndata: b\n\n"));
}
END_TEST

START_TEST(test_encode_event_leading_space_preserved)
{
    check_event_bytes(1, NULL, 0, LIT(" x\n  y"),
                      LIT("id: 1\ndata:  x\ndata:   y\n\n"));
}
END_TEST

START_TEST(test_encode_event_nul_bytes_copied)
{
    check_event_bytes(1, NULL, 0, LIT("a\0b\0"),
                      LIT("id: 1\ndata: a\0b\0\n\n"));
}
END_TEST

START_TEST(test_encode_event_no_bom)
{
    struct sse_buf b;
    sse_buf_init(&b, 0);
    ck_assert_int_eq(sse_encode_event(&b, 1, NULL, 0, LIT("x")), 0);
    ck_assert_int_ne((unsigned char)b.data[0], 0xEF);
    sse_buf_cleanup(&b);
}
END_TEST

/* Parses one encoded event and checks what a browser would get. */
static void check_event_roundtrip(const char *type, size_t type_len,
                                  const char *data, size_t data_len,
                                  const char *want_type, const char *want,
                                  size_t want_len)
{
    struct sse_buf b;
    sse_buf_init(&b, 0);
    ck_assert_int_eq(sse_encode_event(&b, 42, type, type_len, data, data_len),
                     0);
    struct sse_parser *p = parse_bytes(b.data, b.len);
    ck_assert_uint_eq(sse_parser_count(p), 1);
    assert_event(p, 0, want_type, want, want_len, "42");
    ck_assert_int_eq(sse_parser_retry(p), -1);
    ck_assert_uint_eq(sse_parser_comments(p), 0);
    ck_assert_int_eq(sse_parser_idle(p), 1);
    sse_parser_free(p);
    sse_buf_cleanup(&b);
}

START_TEST(test_encode_event_field_lookalikes_stay_data)
{
    static const char d[] =
        "data: evil\n\nid: 99\nevent: x\nretry: 1\n: c\n:\nid";
    check_event_roundtrip(NULL, 0, d, sizeof(d) - 1, "message", d,
                          sizeof(d) - 1);
}
END_TEST

START_TEST(test_encode_event_colons_stay_data)
{
    check_event_roundtrip(NULL, 0, LIT(":a:\n: b\n::"), "message",
                          LIT(":a:\n: b\n::"));
}
END_TEST

START_TEST(test_encode_event_type_leading_space_roundtrip)
{
    check_event_roundtrip(LIT(" spaced:type"), LIT("x"), " spaced:type",
                          LIT("x"));
}
END_TEST

START_TEST(test_encode_event_crlf_roundtrip_as_lf)
{
    check_event_roundtrip(NULL, 0, LIT("a\r\nb\rc\n"), "message",
                          LIT("a\nb\nc\n"));
}
END_TEST

START_TEST(test_encode_event_nul_roundtrip)
{
    check_event_roundtrip(NULL, 0, LIT("\0a\0"), "message", LIT("\0a\0"));
}
END_TEST

/* A failed call must leave the buffer exactly as it was. */
static void check_event_refused(struct sse_buf *b, int want_rc, int64_t id,
                                const char *type, size_t type_len,
                                const char *data, size_t data_len)
{
    ck_assert_int_eq(sse_buf_append_str(b, "keep"), 0);
    size_t len = b->len;
    ck_assert_int_eq(sse_encode_event(b, id, type, type_len, data, data_len),
                     want_rc);
    ck_assert_uint_eq(b->len, len);
    ck_assert_str_eq(b->data, "keep");
}

START_TEST(test_encode_event_negative_id_refused)
{
    struct sse_buf b;
    sse_buf_init(&b, 0);
    check_event_refused(&b, SSE_EINVAL, -1, NULL, 0, LIT("x"));
    sse_buf_cleanup(&b);
}
END_TEST

START_TEST(test_encode_event_type_lf_refused)
{
    struct sse_buf b;
    sse_buf_init(&b, 0);
    check_event_refused(&b, SSE_EINVAL, 1, LIT("a\nb"), LIT("x"));
    sse_buf_cleanup(&b);
}
END_TEST

START_TEST(test_encode_event_type_cr_refused)
{
    struct sse_buf b;
    sse_buf_init(&b, 0);
    check_event_refused(&b, SSE_EINVAL, 1, LIT("ab\r"), LIT("x"));
    sse_buf_cleanup(&b);
}
END_TEST

START_TEST(test_encode_event_no_room_unchanged)
{
    struct sse_buf b;
    sse_buf_init(&b, 10);
    check_event_refused(&b, SSE_ETOOBIG, 1, NULL, 0, LIT("x"));
    sse_buf_cleanup(&b);
}
END_TEST

START_TEST(test_encode_event_no_room_midway_unchanged)
{
    /* Room for the id line and part of the data, not the whole event. */
    struct sse_buf b;
    sse_buf_init(&b, 4 + 30);
    check_event_refused(&b, SSE_ETOOBIG, 1, LIT("type"),
                        LIT("line one\nline two\nline three"));
    sse_buf_cleanup(&b);
}
END_TEST

START_TEST(test_encode_event_exact_room_fits)
{
    static const char want[] = "id: 1\ndata: x\n\n";
    struct sse_buf b;
    sse_buf_init(&b, sizeof(want) - 1);
    ck_assert_int_eq(sse_encode_event(&b, 1, NULL, 0, LIT("x")), 0);
    ck_assert_str_eq(b.data, want);
    sse_buf_cleanup(&b);
}
END_TEST

START_TEST(test_encode_event_appends_after_existing)
{
    struct sse_buf b;
    sse_buf_init(&b, 0);
    ck_assert_int_eq(sse_encode_event(&b, 1, NULL, 0, LIT("a")), 0);
    ck_assert_int_eq(sse_encode_event(&b, 2, LIT("t"), LIT("b")), 0);
    ck_assert_str_eq(b.data, "id: 1\ndata: a\n\nid: 2\nevent: t\ndata: b\n\n");
    struct sse_parser *p = parse_bytes(b.data, b.len);
    ck_assert_uint_eq(sse_parser_count(p), 2);
    assert_event(p, 0, "message", LIT("a"), "1");
    assert_event(p, 1, "t", LIT("b"), "2");
    sse_parser_free(p);
    sse_buf_cleanup(&b);
}
END_TEST

/* --- size bound ---------------------------------------------------------- */

static void check_size_bound(const char *type, size_t type_len,
                             const char *data, size_t data_len)
{
    struct sse_buf b;
    sse_buf_init(&b, 0);
    ck_assert_int_eq(
        sse_encode_event(&b, INT64_MAX, type, type_len, data, data_len), 0);
    size_t bound = sse_encode_event_size(type_len, data_len);
    ck_assert_msg(b.len <= bound, "encoded %zu bytes, bound %zu", b.len, bound);
    sse_buf_cleanup(&b);
}

START_TEST(test_encode_event_size_empty)
{
    check_size_bound(NULL, 0, "", 0);
}
END_TEST

START_TEST(test_encode_event_size_all_cr)
{
    char d[1000];
    memset(d, '\r', sizeof(d));
    check_size_bound(LIT("some-type"), d, sizeof(d));
}
END_TEST

START_TEST(test_encode_event_size_all_lf)
{
    char d[1000];
    memset(d, '\n', sizeof(d));
    check_size_bound(NULL, 0, d, sizeof(d));
}
END_TEST

START_TEST(test_encode_event_size_long_type)
{
    char t[128];
    memset(t, 't', sizeof(t));
    check_size_bound(t, sizeof(t), LIT("x\r\ny"));
}
END_TEST

START_TEST(test_encode_event_size_overflow_max)
{
    ck_assert_uint_eq(sse_encode_event_size(SIZE_MAX, 0), SIZE_MAX);
    ck_assert_uint_eq(sse_encode_event_size(0, SIZE_MAX), SIZE_MAX);
    ck_assert_uint_eq(sse_encode_event_size(SIZE_MAX, SIZE_MAX), SIZE_MAX);
}
END_TEST

START_TEST(test_encode_event_size_overflow_per_line)
{
    /* Every byte may be a line break, costing "data: " and "\n" each; a
     * true bound for SIZE_MAX/4 data bytes does not fit size_t. */
    ck_assert_uint_eq(sse_encode_event_size(0, SIZE_MAX / 4), SIZE_MAX);
}
END_TEST

/* --- retry, comments, padding -------------------------------------------- */

START_TEST(test_encode_retry_bytes)
{
    struct sse_buf b;
    sse_buf_init(&b, 0);
    ck_assert_int_eq(sse_encode_retry(&b, 3000), 0);
    ck_assert_str_eq(b.data, "retry: 3000\n\n");
    struct sse_parser *p = parse_bytes(b.data, b.len);
    ck_assert_int_eq(sse_parser_retry(p), 3000);
    ck_assert_uint_eq(sse_parser_count(p), 0);
    sse_parser_free(p);
    sse_buf_cleanup(&b);
}
END_TEST

START_TEST(test_encode_retry_zero)
{
    struct sse_buf b;
    sse_buf_init(&b, 0);
    ck_assert_int_eq(sse_encode_retry(&b, 0), 0);
    ck_assert_str_eq(b.data, "retry: 0\n\n");
    sse_buf_cleanup(&b);
}
END_TEST

START_TEST(test_encode_retry_max)
{
    struct sse_buf b;
    sse_buf_init(&b, 0);
    ck_assert_int_eq(sse_encode_retry(&b, INT64_MAX), 0);
    ck_assert_str_eq(b.data, "retry: 9223372036854775807\n\n");
    sse_buf_cleanup(&b);
}
END_TEST

START_TEST(test_encode_retry_negative_refused)
{
    struct sse_buf b;
    sse_buf_init(&b, 0);
    ck_assert_int_eq(sse_buf_append_str(&b, "keep"), 0);
    ck_assert_int_eq(sse_encode_retry(&b, -1), SSE_EINVAL);
    ck_assert_str_eq(b.data, "keep");
    sse_buf_cleanup(&b);
}
END_TEST

START_TEST(test_encode_retry_no_room_unchanged)
{
    struct sse_buf b;
    sse_buf_init(&b, 12);
    ck_assert_int_eq(sse_buf_append_str(&b, "keep"), 0);
    ck_assert_int_eq(sse_encode_retry(&b, 3000), SSE_ETOOBIG);
    ck_assert_str_eq(b.data, "keep");
    ck_assert_uint_eq(b.len, 4);
    sse_buf_cleanup(&b);
}
END_TEST

static void check_comment(const char *text, const char *want)
{
    struct sse_buf b;
    sse_buf_init(&b, 0);
    ck_assert_int_eq(sse_encode_comment(&b, text), 0);
    if (want != NULL)
        ck_assert_str_eq(b.data, want);
    /* Only the final "\n\n" may break a line. */
    ck_assert_uint_ge(b.len, 3);
    ck_assert_int_eq(b.data[0], ':');
    ck_assert_ptr_null(memchr(b.data, '\r', b.len));
    ck_assert_ptr_eq(memchr(b.data, '\n', b.len), b.data + b.len - 2);
    struct sse_parser *p = parse_bytes(b.data, b.len);
    ck_assert_uint_eq(sse_parser_comments(p), 1);
    ck_assert_uint_eq(sse_parser_fields(p), 0);
    ck_assert_uint_eq(sse_parser_count(p), 0);
    ck_assert_int_eq(sse_parser_idle(p), 1);
    sse_parser_free(p);
    sse_buf_cleanup(&b);
}

START_TEST(test_encode_comment_text)
{
    check_comment("hello", ": hello\n\n");
}
END_TEST

START_TEST(test_encode_comment_empty)
{
    check_comment("", ":\n\n");
}
END_TEST

START_TEST(test_encode_comment_lf_sanitised)
{
    check_comment("a\nb", ": a b\n\n");
}
END_TEST

START_TEST(test_encode_comment_cr_sanitised)
{
    check_comment("a\rb", ": a b\n\n");
}
END_TEST

START_TEST(test_encode_comment_crlf_sanitised)
{
    check_comment("a\r\nb", NULL);
}
END_TEST

START_TEST(test_encode_comment_field_injection_sanitised)
{
    check_comment("x\ndata: evil\n\nid: 9\rretry: 1\n", NULL);
}
END_TEST

START_TEST(test_encode_comment_no_room_unchanged)
{
    struct sse_buf b;
    sse_buf_init(&b, 8);
    ck_assert_int_eq(sse_buf_append_str(&b, "keep"), 0);
    ck_assert_int_eq(sse_encode_comment(&b, "hello"), SSE_ETOOBIG);
    ck_assert_str_eq(b.data, "keep");
    sse_buf_cleanup(&b);
}
END_TEST

static void check_padding(size_t n)
{
    struct sse_buf b;
    sse_buf_init(&b, 0);
    ck_assert_int_eq(sse_buf_append_str(&b, "<"), 0);
    ck_assert_int_eq(sse_encode_padding(&b, n), 0);
    ck_assert_uint_eq(b.len, 1 + n);
    ck_assert_int_eq(b.data[1], ':');
    for (size_t i = 2; i < n - 1; i++)
        ck_assert_int_eq(b.data[i], ' ');
    ck_assert_int_eq(b.data[n - 1], '\n');
    ck_assert_int_eq(b.data[n], '\n');
    struct sse_parser *p = parse_bytes(b.data + 1, b.len - 1);
    ck_assert_uint_eq(sse_parser_comments(p), 1);
    ck_assert_uint_eq(sse_parser_fields(p), 0);
    ck_assert_int_eq(sse_parser_idle(p), 1);
    sse_parser_free(p);
    sse_buf_cleanup(&b);
}

START_TEST(test_encode_padding_minimum)
{
    check_padding(3);
}
END_TEST

START_TEST(test_encode_padding_2k_exact)
{
    check_padding(2048);
}
END_TEST

START_TEST(test_encode_padding_too_small_refused)
{
    struct sse_buf b;
    sse_buf_init(&b, 0);
    ck_assert_int_eq(sse_buf_append_str(&b, "keep"), 0);
    ck_assert_int_eq(sse_encode_padding(&b, 2), SSE_EINVAL);
    ck_assert_int_eq(sse_encode_padding(&b, 0), SSE_EINVAL);
    ck_assert_str_eq(b.data, "keep");
    sse_buf_cleanup(&b);
}
END_TEST

START_TEST(test_encode_padding_no_room_unchanged)
{
    struct sse_buf b;
    sse_buf_init(&b, 100);
    ck_assert_int_eq(sse_buf_append_str(&b, "keep"), 0);
    ck_assert_int_eq(sse_encode_padding(&b, 97), SSE_ETOOBIG);
    ck_assert_str_eq(b.data, "keep");
    ck_assert_int_eq(sse_encode_padding(&b, 96), 0);
    ck_assert_uint_eq(b.len, 100);
    sse_buf_cleanup(&b);
}
END_TEST

/* --- round-trip property ------------------------------------------------- */

struct piece {
    const char *s;
    size_t n;
};
/* clang-format off */
#define P(s) {(s), sizeof(s) - 1}
/* clang-format on */

/* Line breaks, field look-alikes, spaces and a spread of UTF-8: 2-, 3- and
 * 4-byte sequences, emoji with modifiers and ZWJ, combining marks, RTL text
 * and direction controls, a BOM and separators SSE does not treat as line
 * breaks (NEL, U+2028). */
/* clang-format off */
static const struct piece data_pieces[] = {
    P("\n"), P("\r"), P("\r\n"), P("\n\n"), P("\r\r"), P("\n\r"),
    P(" "), P("  "), P(":"), P("data:"), P("data: x"), P("id: 1"),
    P("event: e"), P("retry: 9"), P(": c"), P("x"), P("hello"), P("0"),
    P("\t"), P("\0"), P("\xC3\xA9"), P("\xE2\x82\xAC"),
    P("\xF0\x9F\x98\x80"),                             /* U+1F600 */
    P("\xF0\x9F\x91\x8D\xF0\x9F\x8F\xBD"),             /* thumbs up, tone */
    P("\xF0\x9F\x91\xA8\xE2\x80\x8D\xF0\x9F\x91\xA9"), /* ZWJ sequence */
    P("e\xCC\x81"), P("a\xCC\x80\xCC\x81\xCC\x82"),    /* combining marks */
    P("\xD7\xA9\xD7\x9C\xD7\x95\xD7\x9D"),             /* Hebrew */
    P("\xD9\x85\xD8\xB1\xD8\xAD\xD8\xA8\xD8\xA7"),     /* Arabic */
    P("\xE2\x80\x8F"), P("\xE2\x80\xAE"),              /* RLM, RLO */
    P("\xEF\xBB\xBF"), P("\xC2\x85"), P("\xE2\x80\xA8"),
};
/* clang-format on */
#define NDATA (sizeof(data_pieces) / sizeof(data_pieces[0]))

/* clang-format off */
static const struct piece type_pieces[] = {
    P("a"), P("update"), P(" "), P(":"), P("-"), P("message"), P("data"),
    P("id"), P("\xC3\xA9"), P("\xF0\x9F\x98\x80"), P("e\xCC\x81"),
    P("\xD7\xA9\xD7\x9C"), P("\t"), P("x.y/z@w"),
};
/* clang-format on */
#define NTYPE (sizeof(type_pieces) / sizeof(type_pieces[0]))

#define MAX_PAYLOAD 65536

/* Fills d with up to target bytes of pieces, never splitting one. */
static size_t gen_payload(struct tu_rng *r, char *d, size_t target)
{
    size_t n = 0;
    while (n < target) {
        const struct piece *pc = &data_pieces[tu_rng_below(r, NDATA)];
        if (n + pc->n > target) {
            d[n++] = 'x';
            continue;
        }
        memcpy(d + n, pc->s, pc->n);
        n += pc->n;
    }
    return n;
}

static size_t gen_size(struct tu_rng *r)
{
    uint64_t c = tu_rng_below(r, 100);
    if (c < 70)
        return tu_rng_below(r, 65);
    if (c < 90)
        return tu_rng_below(r, 1025);
    if (c < 98)
        return tu_rng_below(r, 8193);
    return tu_rng_below(r, MAX_PAYLOAD + 1);
}

/* Returns the type length; *t is NULL for "no type" one time in four. */
static size_t gen_type(struct tu_rng *r, char *t, const char **out)
{
    uint64_t c = tu_rng_below(r, 8);
    *out = t;
    if (c < 2) {
        *out = NULL;
        return 0;
    }
    if (c == 2)
        return 0;
    size_t n = 0;
    size_t want = 1 + tu_rng_below(r, 24);
    while (n < want) {
        const struct piece *pc = &type_pieces[tu_rng_below(r, NTYPE)];
        memcpy(t + n, pc->s, pc->n);
        n += pc->n;
    }
    return n;
}

static int64_t gen_id(struct tu_rng *r)
{
    switch (tu_rng_below(r, 5)) {
    case 0:
        return 0;
    case 1:
        return INT64_MAX;
    case 2:
        return (int64_t)tu_rng_below(r, 1000);
    default:
        return (int64_t)(tu_rng_next(r) >> 1);
    }
}

/* What EventSource hands the page: every CRLF, CR and LF becomes LF. */
static size_t normalise(const char *s, size_t n, char *out)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '\r') {
            out[k++] = '\n';
            if (i + 1 < n && s[i + 1] == '\n')
                i++;
        } else {
            out[k++] = s[i];
        }
    }
    return k;
}

struct expected {
    const char *type;
    size_t type_len;
    char id[24];
    char *data;
    size_t data_len;
};

#define EVENTS_PER_STREAM 4

START_TEST(test_encode_event_roundtrip_property)
{
    struct tu_rng r;
    tu_rng_init(&r, "test_encode_event_roundtrip_property");
    char *payload = malloc(MAX_PAYLOAD + 8);
    char types[EVENTS_PER_STREAM][64];
    struct expected want[EVENTS_PER_STREAM];
    ck_assert_ptr_nonnull(payload);
    for (int i = 0; i < EVENTS_PER_STREAM; i++) {
        want[i].data = malloc(MAX_PAYLOAD + 8);
        ck_assert_ptr_nonnull(want[i].data);
    }
    size_t payloads = 0, max_seen = 0;
    for (int iter = 0; payloads < 2500; iter++) {
        struct sse_buf b;
        sse_buf_init(&b, 0);
        int64_t retry = -1;
        size_t comments = 0;
        size_t nev = 1 + tu_rng_below(&r, EVENTS_PER_STREAM);
        for (size_t e = 0; e < nev; e++) {
            /* The very first payload is the largest allowed. */
            size_t size = iter == 0 && e == 0 ? MAX_PAYLOAD : gen_size(&r);
            size_t n = gen_payload(&r, payload, size);
            const char *type;
            size_t type_len = gen_type(&r, types[e], &type);
            int64_t id = gen_id(&r);
            size_t before = b.len;
            int rc = sse_encode_event(&b, id, type, type_len, payload, n);
            tu_rng_assert(&r, rc == 0, "iteration %d: rc %d", iter, rc);
            tu_rng_assert(&r,
                          b.len - before <= sse_encode_event_size(type_len, n),
                          "iteration %d: size bound", iter);
            want[e].type = type_len ? types[e] : "message";
            want[e].type_len = type_len ? type_len : 7;
            snprintf(want[e].id, sizeof(want[e].id), "%" PRId64, id);
            want[e].data_len = normalise(payload, n, want[e].data);
            payloads++;
            if (n > max_seen)
                max_seen = n;
            /* Now and then a comment or a retry between events. */
            if (tu_rng_below(&r, 6) == 0) {
                ck_assert_int_eq(sse_encode_comment(&b, "a\r\nb"), 0);
                comments++;
            }
            if (tu_rng_below(&r, 6) == 0) {
                retry = (int64_t)tu_rng_below(&r, 100000);
                ck_assert_int_eq(sse_encode_retry(&b, retry), 0);
            }
        }
        static const size_t chunks[] = {1, 2, 3, 7, 64, 4096, SIZE_MAX / 2};
        struct sse_parser *p = sse_parser_new();
        ck_assert_ptr_nonnull(p);
        tu_parse_chunked(
            p, &r, b.data, b.len,
            chunks[tu_rng_below(&r, sizeof(chunks) / sizeof(chunks[0]))]);
        tu_rng_assert(&r, sse_parser_count(p) == nev,
                      "iteration %d: %zu events back, %zu sent", iter,
                      sse_parser_count(p), nev);
        for (size_t e = 0; e < nev; e++) {
            const struct sse_parsed_event *got = sse_parser_event(p, e);
            tu_rng_assert(&r,
                          got->type_len == want[e].type_len &&
                              memcmp(got->type, want[e].type, got->type_len) ==
                                  0,
                          "iteration %d event %zu: type", iter, e);
            tu_rng_assert(&r, strcmp(got->last_event_id, want[e].id) == 0,
                          "iteration %d event %zu: id '%s' != '%s'", iter, e,
                          got->last_event_id, want[e].id);
            tu_rng_assert(&r,
                          got->data_len == want[e].data_len &&
                              memcmp(got->data, want[e].data, got->data_len) ==
                                  0,
                          "iteration %d event %zu: data (%zu vs %zu bytes)",
                          iter, e, got->data_len, want[e].data_len);
        }
        tu_rng_assert(&r, sse_parser_retry(p) == retry, "iteration %d", iter);
        tu_rng_assert(&r, sse_parser_comments(p) == comments, "iteration %d",
                      iter);
        tu_rng_assert(&r, sse_parser_idle(p), "iteration %d: not idle", iter);
        sse_parser_free(p);
        sse_buf_cleanup(&b);
    }
    ck_assert_uint_ge(payloads, 2000);
    ck_assert_uint_eq(max_seen, MAX_PAYLOAD);
    for (int i = 0; i < EVENTS_PER_STREAM; i++)
        free(want[i].data);
    free(payload);
}
END_TEST

static Suite *encode_suite(void)
{
    Suite *s = suite_create("encode");
    TCase *tc = tcase_create("sse_parser");
    tcase_add_test(tc, test_sse_parser_feed_basic_event);
    tcase_add_test(tc, test_sse_parser_feed_bom_skipped);
    tcase_add_test(tc, test_sse_parser_feed_bom_split_across_chunks);
    tcase_add_test(tc, test_sse_parser_feed_second_bom_kept);
    tcase_add_test(tc, test_sse_parser_feed_partial_bom_is_content);
    tcase_add_test(tc, test_sse_parser_feed_bom_not_at_start_kept);
    tcase_add_test(tc, test_sse_parser_feed_crlf_split_across_chunks);
    tcase_add_test(tc, test_sse_parser_feed_cr_only_lines);
    tcase_add_test(tc, test_sse_parser_feed_cr_crlf_is_two_breaks);
    tcase_add_test(tc, test_sse_parser_feed_lf_cr_is_two_breaks);
    tcase_add_test(tc, test_sse_parser_feed_comment_counted);
    tcase_add_test(tc, test_sse_parser_feed_field_without_colon);
    tcase_add_test(tc, test_sse_parser_feed_one_space_stripped);
    tcase_add_test(tc, test_sse_parser_feed_value_keeps_later_colons);
    tcase_add_test(tc, test_sse_parser_feed_name_exact_case);
    tcase_add_test(tc, test_sse_parser_feed_data_lines_joined);
    tcase_add_test(tc, test_sse_parser_feed_one_trailing_lf_removed);
    tcase_add_test(tc, test_sse_parser_feed_no_data_no_event);
    tcase_add_test(tc, test_sse_parser_feed_event_type);
    tcase_add_test(tc, test_sse_parser_feed_id_persists);
    tcase_add_test(tc, test_sse_parser_feed_id_with_nul_ignored);
    tcase_add_test(tc, test_sse_parser_feed_empty_id_clears);
    tcase_add_test(tc, test_sse_parser_feed_id_only_dispatch_sets_id);
    tcase_add_test(tc, test_sse_parser_feed_id_applies_at_dispatch);
    tcase_add_test(tc, test_sse_parser_feed_retry_digits);
    tcase_add_test(tc, test_sse_parser_feed_retry_non_digits_ignored);
    tcase_add_test(tc, test_sse_parser_feed_incomplete_event_dropped);
    tcase_add_test(tc, test_sse_parser_idle_at_boundaries);
    tcase_add_test(tc, test_sse_parser_feed_chunking_invariant);
    suite_add_tcase(s, tc);

    tc = tcase_create("event");
    tcase_add_test(tc, test_encode_event_plain);
    tcase_add_test(tc, test_encode_row_valid_type_kept);
    tcase_add_test(tc, test_encode_row_cr_type_sent_as_message);
    tcase_add_test(tc, test_encode_row_negative_id_refused);
    tcase_add_test(tc, test_encode_event_type_written);
    tcase_add_test(tc, test_encode_event_empty_type_omitted);
    tcase_add_test(tc, test_encode_event_type_len_zero_omitted);
    tcase_add_test(tc, test_encode_event_type_len_honoured);
    tcase_add_test(tc, test_encode_event_type_cr_past_len_ignored);
    tcase_add_test(tc, test_encode_event_id_zero);
    tcase_add_test(tc, test_encode_event_id_max);
    tcase_add_test(tc, test_encode_event_empty_payload_one_data_line);
    tcase_add_test(tc, test_encode_event_null_payload_empty);
    tcase_add_test(tc, test_encode_event_trailing_lf_final_empty_line);
    tcase_add_test(tc, test_encode_event_trailing_cr_final_empty_line);
    tcase_add_test(tc, test_encode_event_trailing_crlf_final_empty_line);
    tcase_add_test(tc, test_encode_event_mixed_breaks_split);
    tcase_add_test(tc, test_encode_event_crlf_alone_two_lines);
    tcase_add_test(tc, test_encode_event_cr_crlf_three_lines);
    tcase_add_test(tc, test_encode_event_lf_cr_three_lines);
    tcase_add_test(tc, test_encode_event_empty_lines_kept);
    tcase_add_test(tc, test_encode_event_leading_space_preserved);
    tcase_add_test(tc, test_encode_event_nul_bytes_copied);
    tcase_add_test(tc, test_encode_event_no_bom);
    tcase_add_test(tc, test_encode_event_field_lookalikes_stay_data);
    tcase_add_test(tc, test_encode_event_colons_stay_data);
    tcase_add_test(tc, test_encode_event_type_leading_space_roundtrip);
    tcase_add_test(tc, test_encode_event_crlf_roundtrip_as_lf);
    tcase_add_test(tc, test_encode_event_nul_roundtrip);
    tcase_add_test(tc, test_encode_event_negative_id_refused);
    tcase_add_test(tc, test_encode_event_type_lf_refused);
    tcase_add_test(tc, test_encode_event_type_cr_refused);
    tcase_add_test(tc, test_encode_event_no_room_unchanged);
    tcase_add_test(tc, test_encode_event_no_room_midway_unchanged);
    tcase_add_test(tc, test_encode_event_exact_room_fits);
    tcase_add_test(tc, test_encode_event_appends_after_existing);
    tcase_add_test(tc, test_encode_event_size_empty);
    tcase_add_test(tc, test_encode_event_size_all_cr);
    tcase_add_test(tc, test_encode_event_size_all_lf);
    tcase_add_test(tc, test_encode_event_size_long_type);
    tcase_add_test(tc, test_encode_event_size_overflow_max);
    tcase_add_test(tc, test_encode_event_size_overflow_per_line);
    suite_add_tcase(s, tc);

    tc = tcase_create("retry_comment_padding");
    tcase_add_test(tc, test_encode_retry_bytes);
    tcase_add_test(tc, test_encode_retry_zero);
    tcase_add_test(tc, test_encode_retry_max);
    tcase_add_test(tc, test_encode_retry_negative_refused);
    tcase_add_test(tc, test_encode_retry_no_room_unchanged);
    tcase_add_test(tc, test_encode_comment_text);
    tcase_add_test(tc, test_encode_comment_empty);
    tcase_add_test(tc, test_encode_comment_lf_sanitised);
    tcase_add_test(tc, test_encode_comment_cr_sanitised);
    tcase_add_test(tc, test_encode_comment_crlf_sanitised);
    tcase_add_test(tc, test_encode_comment_field_injection_sanitised);
    tcase_add_test(tc, test_encode_comment_no_room_unchanged);
    tcase_add_test(tc, test_encode_padding_minimum);
    tcase_add_test(tc, test_encode_padding_2k_exact);
    tcase_add_test(tc, test_encode_padding_too_small_refused);
    tcase_add_test(tc, test_encode_padding_no_room_unchanged);
    suite_add_tcase(s, tc);

    tc = tcase_create("roundtrip");
    /* Generous: valgrind runs it too (timeouts apply in fork mode only). */
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_encode_event_roundtrip_property);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run_suite(encode_suite());
}
