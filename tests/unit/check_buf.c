/* check_buf.c - unit tests for lib/buf.c (growable byte buffer).
 * SPDX-License-Identifier: MIT
 */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "sse_error.h"
#include "testutil.h"

/* The invariant stated in buf.h. */
static void assert_invariant(const struct sse_buf *b)
{
    if (b->data == NULL) {
        ck_assert_uint_eq(b->len, 0);
        ck_assert_uint_eq(b->cap, 0);
    } else {
        ck_assert_uint_lt(b->len, b->cap);
        ck_assert_int_eq(b->data[b->len], '\0');
    }
    if (b->max != 0)
        ck_assert_uint_le(b->len, b->max);
}

/* Checks that b holds exactly the n bytes at want. */
static void assert_holds(const struct sse_buf *b, const void *want, size_t n)
{
    assert_invariant(b);
    ck_assert_uint_eq(b->len, n);
    if (n > 0)
        ck_assert_mem_eq(b->data, want, n);
}

START_TEST(test_buf_init_empty)
{
    struct sse_buf b;
    memset(&b, 0xAB, sizeof(b));
    sse_buf_init(&b, 77);
    ck_assert_ptr_null(b.data);
    ck_assert_uint_eq(b.len, 0);
    ck_assert_uint_eq(b.cap, 0);
    ck_assert_uint_eq(b.max, 77);
}
END_TEST

START_TEST(test_buf_cleanup_null_safe)
{
    sse_buf_cleanup(NULL);
}
END_TEST

START_TEST(test_buf_cleanup_untouched)
{
    struct sse_buf b;
    sse_buf_init(&b, 0);
    sse_buf_cleanup(&b);
}
END_TEST

START_TEST(test_buf_cleanup_then_reuse)
{
    struct sse_buf b;
    sse_buf_init(&b, 0);
    ck_assert_int_eq(sse_buf_append_str(&b, "first"), 0);
    sse_buf_cleanup(&b);
    sse_buf_init(&b, 0);
    ck_assert_int_eq(sse_buf_append_str(&b, "second"), 0);
    assert_holds(&b, "second", 6);
    sse_buf_cleanup(&b);
}
END_TEST

START_TEST(test_buf_reset_keeps_storage)
{
    struct sse_buf b;
    sse_buf_init(&b, 0);
    ck_assert_int_eq(sse_buf_append_str(&b, "hello world"), 0);
    char *data = b.data;
    size_t cap = b.cap;
    sse_buf_reset(&b);
    ck_assert_ptr_eq(b.data, data);
    ck_assert_uint_eq(b.cap, cap);
    assert_holds(&b, "", 0);
    sse_buf_cleanup(&b);
}
END_TEST

START_TEST(test_buf_reset_untouched)
{
    struct sse_buf b;
    sse_buf_init(&b, 0);
    sse_buf_reset(&b);
    assert_holds(&b, "", 0);
    sse_buf_cleanup(&b);
}
END_TEST

START_TEST(test_buf_reserve_makes_room)
{
    struct sse_buf b;
    sse_buf_init(&b, 0);
    ck_assert_int_eq(sse_buf_append_str(&b, "abc"), 0);
    ck_assert_int_eq(sse_buf_reserve(&b, 1000), 0);
    /* Room for 1000 more bytes and the NUL. */
    ck_assert_uint_ge(b.cap, 3 + 1000 + 1);
    assert_holds(&b, "abc", 3);
    char *data = b.data;
    ck_assert_int_eq(sse_buf_append(&b, NULL, 0), 0);
    for (int i = 0; i < 1000; i++)
        ck_assert_int_eq(sse_buf_append(&b, "x", 1), 0);
    /* The reserved room was used without moving the storage. */
    ck_assert_ptr_eq(b.data, data);
    ck_assert_uint_eq(b.len, 1003);
    sse_buf_cleanup(&b);
}
END_TEST

START_TEST(test_buf_reserve_over_max_refused)
{
    struct sse_buf b;
    sse_buf_init(&b, 10);
    ck_assert_int_eq(sse_buf_append_str(&b, "abcd"), 0);
    ck_assert_int_eq(sse_buf_reserve(&b, 7), SSE_ETOOBIG);
    assert_holds(&b, "abcd", 4);
    sse_buf_cleanup(&b);
}
END_TEST

START_TEST(test_buf_reserve_up_to_max_allowed)
{
    struct sse_buf b;
    sse_buf_init(&b, 10);
    ck_assert_int_eq(sse_buf_append_str(&b, "abcd"), 0);
    ck_assert_int_eq(sse_buf_reserve(&b, 6), 0);
    assert_holds(&b, "abcd", 4);
    sse_buf_cleanup(&b);
}
END_TEST

START_TEST(test_buf_reserve_overflow_refused)
{
    struct sse_buf b;
    sse_buf_init(&b, 0);
    ck_assert_int_eq(sse_buf_append_str(&b, "a"), 0);
    char *data = b.data;
    size_t cap = b.cap;
    ck_assert_int_eq(sse_buf_reserve(&b, SIZE_MAX), SSE_ETOOBIG);
    ck_assert_ptr_eq(b.data, data);
    ck_assert_uint_eq(b.cap, cap);
    assert_holds(&b, "a", 1);
    sse_buf_cleanup(&b);
}
END_TEST

/* len + n fits size_t, but not with the terminating NUL. */
START_TEST(test_buf_reserve_overflow_by_nul_refused)
{
    struct sse_buf b;
    sse_buf_init(&b, 0);
    int rc = sse_buf_reserve(&b, SIZE_MAX);
    ck_assert_msg(rc == SSE_ETOOBIG || rc == SSE_ENOMEM,
                  "reserve(SIZE_MAX) on an empty buffer returned %d", rc);
    assert_holds(&b, "", 0);
    sse_buf_cleanup(&b);
}
END_TEST

START_TEST(test_buf_append_bytes_with_nul)
{
    struct sse_buf b;
    sse_buf_init(&b, 0);
    ck_assert_int_eq(sse_buf_append(&b, "a\0b", 3), 0);
    assert_holds(&b, "a\0b", 3);
    sse_buf_cleanup(&b);
}
END_TEST

START_TEST(test_buf_append_null_zero_ok)
{
    struct sse_buf b;
    sse_buf_init(&b, 0);
    ck_assert_int_eq(sse_buf_append(&b, NULL, 0), 0);
    assert_holds(&b, "", 0);
    sse_buf_cleanup(&b);
}
END_TEST

START_TEST(test_buf_append_exactly_max_allowed)
{
    struct sse_buf b;
    sse_buf_init(&b, 5);
    ck_assert_int_eq(sse_buf_append(&b, "12345", 5), 0);
    assert_holds(&b, "12345", 5);
    sse_buf_cleanup(&b);
}
END_TEST

START_TEST(test_buf_append_past_max_unchanged)
{
    struct sse_buf b;
    sse_buf_init(&b, 5);
    ck_assert_int_eq(sse_buf_append(&b, "123", 3), 0);
    ck_assert_int_eq(sse_buf_append(&b, "456", 3), SSE_ETOOBIG);
    assert_holds(&b, "123", 3);
    ck_assert_int_eq(sse_buf_append(&b, "45", 2), 0);
    ck_assert_int_eq(sse_buf_append(&b, "6", 1), SSE_ETOOBIG);
    assert_holds(&b, "12345", 5);
    sse_buf_cleanup(&b);
}
END_TEST

START_TEST(test_buf_append_many_grows)
{
    struct sse_buf b;
    sse_buf_init(&b, 0);
    for (int i = 0; i < 100000; i++) {
        char c = (char)('a' + i % 26);
        ck_assert_int_eq(sse_buf_append(&b, &c, 1), 0);
    }
    assert_invariant(&b);
    ck_assert_uint_eq(b.len, 100000);
    for (size_t i = 0; i < b.len; i++)
        ck_assert_int_eq(b.data[i], 'a' + (int)(i % 26));
    sse_buf_cleanup(&b);
}
END_TEST

START_TEST(test_buf_append_str_appends)
{
    struct sse_buf b;
    sse_buf_init(&b, 0);
    ck_assert_int_eq(sse_buf_append_str(&b, "foo"), 0);
    ck_assert_int_eq(sse_buf_append_str(&b, ""), 0);
    ck_assert_int_eq(sse_buf_append_str(&b, "bar"), 0);
    assert_holds(&b, "foobar", 6);
    ck_assert_str_eq(b.data, "foobar");
    sse_buf_cleanup(&b);
}
END_TEST

START_TEST(test_buf_append_str_past_max_unchanged)
{
    struct sse_buf b;
    sse_buf_init(&b, 4);
    ck_assert_int_eq(sse_buf_append_str(&b, "ab"), 0);
    ck_assert_int_eq(sse_buf_append_str(&b, "cde"), SSE_ETOOBIG);
    assert_holds(&b, "ab", 2);
    sse_buf_cleanup(&b);
}
END_TEST

static void check_i64(int64_t v, const char *want)
{
    struct sse_buf b;
    sse_buf_init(&b, 0);
    ck_assert_int_eq(sse_buf_append_str(&b, "<"), 0);
    ck_assert_int_eq(sse_buf_append_i64(&b, v), 0);
    ck_assert_int_eq(sse_buf_append_str(&b, ">"), 0);
    assert_invariant(&b);
    ck_assert_str_eq(b.data + 1, want);
    sse_buf_cleanup(&b);
}

START_TEST(test_buf_append_i64_zero)
{
    check_i64(0, "0>");
}
END_TEST

START_TEST(test_buf_append_i64_negative)
{
    check_i64(-42, "-42>");
}
END_TEST

START_TEST(test_buf_append_i64_max)
{
    check_i64(INT64_MAX, "9223372036854775807>");
}
END_TEST

START_TEST(test_buf_append_i64_min)
{
    check_i64(INT64_MIN, "-9223372036854775808>");
}
END_TEST

START_TEST(test_buf_append_i64_past_max_unchanged)
{
    struct sse_buf b;
    sse_buf_init(&b, 5);
    ck_assert_int_eq(sse_buf_append_str(&b, "x"), 0);
    ck_assert_int_eq(sse_buf_append_i64(&b, 12345), SSE_ETOOBIG);
    assert_holds(&b, "x", 1);
    ck_assert_int_eq(sse_buf_append_i64(&b, 1234), 0);
    assert_holds(&b, "x1234", 5);
    sse_buf_cleanup(&b);
}
END_TEST

START_TEST(test_buf_appendf_formats)
{
    struct sse_buf b;
    sse_buf_init(&b, 0);
    ck_assert_int_eq(sse_buf_appendf(&b, "%s=%d;", "a", 7), 0);
    ck_assert_int_eq(sse_buf_appendf(&b, "%05.1f", 2.5), 0);
    ck_assert_str_eq(b.data, "a=7;002.5");
    assert_invariant(&b);
    sse_buf_cleanup(&b);
}
END_TEST

START_TEST(test_buf_appendf_long_output)
{
    struct sse_buf b;
    sse_buf_init(&b, 0);
    char *big = malloc(10001);
    ck_assert_ptr_nonnull(big);
    memset(big, 'q', 10000);
    big[10000] = '\0';
    ck_assert_int_eq(sse_buf_append_str(&b, "<"), 0);
    ck_assert_int_eq(sse_buf_appendf(&b, "%s>", big), 0);
    ck_assert_uint_eq(b.len, 10002);
    ck_assert_int_eq(b.data[0], '<');
    ck_assert_mem_eq(b.data + 1, big, 10000);
    ck_assert_int_eq(b.data[10001], '>');
    assert_invariant(&b);
    free(big);
    sse_buf_cleanup(&b);
}
END_TEST

START_TEST(test_buf_appendf_empty_format)
{
    struct sse_buf b;
    sse_buf_init(&b, 0);
    ck_assert_int_eq(sse_buf_append_str(&b, "k"), 0);
    ck_assert_int_eq(sse_buf_appendf(&b, "%s", ""), 0);
    assert_holds(&b, "k", 1);
    sse_buf_cleanup(&b);
}
END_TEST

START_TEST(test_buf_appendf_past_max_unchanged)
{
    struct sse_buf b;
    sse_buf_init(&b, 8);
    ck_assert_int_eq(sse_buf_append_str(&b, "abc"), 0);
    ck_assert_int_eq(sse_buf_appendf(&b, "%d", 123456), SSE_ETOOBIG);
    assert_holds(&b, "abc", 3);
    ck_assert_int_eq(sse_buf_appendf(&b, "%d", 12345), 0);
    assert_holds(&b, "abc12345", 8);
    sse_buf_cleanup(&b);
}
END_TEST

START_TEST(test_buf_take_moves_storage)
{
    struct sse_buf b;
    sse_buf_init(&b, 100);
    ck_assert_int_eq(sse_buf_append(&b, "ab\0cd", 5), 0);
    size_t len = 0;
    char *p = sse_buf_take(&b, &len);
    ck_assert_ptr_nonnull(p);
    ck_assert_uint_eq(len, 5);
    ck_assert_mem_eq(p, "ab\0cd", 6); /* the NUL travels with it */
    ck_assert_ptr_null(b.data);
    ck_assert_uint_eq(b.len, 0);
    ck_assert_uint_eq(b.cap, 0);
    free(p);
    /* The buffer is usable again and still honours its limit. */
    ck_assert_int_eq(sse_buf_append_str(&b, "again"), 0);
    assert_holds(&b, "again", 5);
    sse_buf_cleanup(&b);
}
END_TEST

START_TEST(test_buf_take_untouched_null)
{
    struct sse_buf b;
    sse_buf_init(&b, 0);
    size_t len = 99;
    char *p = sse_buf_take(&b, &len);
    ck_assert_uint_eq(len, 0);
    /* NULL is allowed; an empty string would be fine too. */
    if (p != NULL)
        ck_assert_int_eq(p[0], '\0');
    free(p);
    assert_holds(&b, "", 0);
}
END_TEST

/* Property: any mix of operations keeps the contents equal to a plain
 * reference copy and the invariant intact, and refusals change nothing. */
START_TEST(test_buf_append_random_matches_reference)
{
    struct tu_rng r;
    tu_rng_init(&r, "test_buf_append_random_matches_reference");
    for (int round = 0; round < 200; round++) {
        size_t max = tu_rng_below(&r, 2) ? 0 : 1 + tu_rng_below(&r, 3000);
        size_t limit = max ? max : 4096;
        struct sse_buf b;
        sse_buf_init(&b, max);
        char *ref = malloc(limit + 64);
        ck_assert_ptr_nonnull(ref);
        size_t ref_len = 0;
        for (int op = 0; op < 100; op++) {
            char chunk[64];
            size_t n = tu_rng_below(&r, sizeof(chunk));
            for (size_t i = 0; i < n; i++)
                chunk[i] = (char)tu_rng_below(&r, 256);
            int rc = sse_buf_append(&b, chunk, n);
            int fits = !max || ref_len + n <= max;
            tu_rng_assert(&r, rc == (fits ? 0 : SSE_ETOOBIG),
                          "round %d op %d: rc %d", round, op, rc);
            if (fits && ref_len + n <= limit) {
                memcpy(ref + ref_len, chunk, n);
                ref_len += n;
            } else if (fits) {
                sse_buf_reset(&b);
                ref_len = 0;
            }
            assert_holds(&b, ref, ref_len);
        }
        free(ref);
        sse_buf_cleanup(&b);
    }
}
END_TEST

static Suite *buf_suite(void)
{
    Suite *s = suite_create("buf");
    TCase *tc = tcase_create("lifecycle");
    tcase_add_test(tc, test_buf_init_empty);
    tcase_add_test(tc, test_buf_cleanup_null_safe);
    tcase_add_test(tc, test_buf_cleanup_untouched);
    tcase_add_test(tc, test_buf_cleanup_then_reuse);
    tcase_add_test(tc, test_buf_reset_keeps_storage);
    tcase_add_test(tc, test_buf_reset_untouched);
    tcase_add_test(tc, test_buf_take_moves_storage);
    tcase_add_test(tc, test_buf_take_untouched_null);
    suite_add_tcase(s, tc);

    tc = tcase_create("reserve");
    tcase_add_test(tc, test_buf_reserve_makes_room);
    tcase_add_test(tc, test_buf_reserve_over_max_refused);
    tcase_add_test(tc, test_buf_reserve_up_to_max_allowed);
    tcase_add_test(tc, test_buf_reserve_overflow_refused);
    tcase_add_test(tc, test_buf_reserve_overflow_by_nul_refused);
    suite_add_tcase(s, tc);

    tc = tcase_create("append");
    tcase_add_test(tc, test_buf_append_bytes_with_nul);
    tcase_add_test(tc, test_buf_append_null_zero_ok);
    tcase_add_test(tc, test_buf_append_exactly_max_allowed);
    tcase_add_test(tc, test_buf_append_past_max_unchanged);
    tcase_add_test(tc, test_buf_append_many_grows);
    tcase_add_test(tc, test_buf_append_str_appends);
    tcase_add_test(tc, test_buf_append_str_past_max_unchanged);
    tcase_add_test(tc, test_buf_append_i64_zero);
    tcase_add_test(tc, test_buf_append_i64_negative);
    tcase_add_test(tc, test_buf_append_i64_max);
    tcase_add_test(tc, test_buf_append_i64_min);
    tcase_add_test(tc, test_buf_append_i64_past_max_unchanged);
    tcase_add_test(tc, test_buf_appendf_formats);
    tcase_add_test(tc, test_buf_appendf_long_output);
    tcase_add_test(tc, test_buf_appendf_empty_format);
    tcase_add_test(tc, test_buf_appendf_past_max_unchanged);
    tcase_add_test(tc, test_buf_append_random_matches_reference);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run_suite(buf_suite());
}
