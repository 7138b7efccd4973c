/* check_query.c - unit tests for lib/query.c (query strings).
 * SPDX-License-Identifier: MIT
 */
#include <check.h>
#include <stdio.h>
#include <string.h>

#include "query.h"
#include "sse_error.h"
#include "testutil.h"

/* Iterates qs and renders the pairs as "key=value|" for easy comparison. */
static void check_pairs(const char *qs, size_t len, const char *want)
{
    struct sse_query_iter it;
    char got[512];
    size_t n = 0;
    const char *k, *v;
    size_t kl, vl;
    sse_query_iter_init(&it, qs, len);
    got[0] = '\0';
    for (int guard = 0; sse_query_next(&it, &k, &kl, &v, &vl); guard++) {
        ck_assert_int_lt(guard, 100);
        int w = snprintf(got + n, sizeof(got) - n, "%.*s=%.*s|", (int)kl, k,
                         (int)vl, v);
        ck_assert(w > 0 && (size_t)w < sizeof(got) - n);
        n += (size_t)w;
    }
    ck_assert_str_eq(got, want);
    /* The end is sticky. */
    ck_assert_int_eq(sse_query_next(&it, &k, &kl, &v, &vl), 0);
}

START_TEST(test_query_next_pairs)
{
    check_pairs("a=1&b=2", 7, "a=1|b=2|");
}
END_TEST

START_TEST(test_query_next_empty_string)
{
    check_pairs("", 0, "");
}
END_TEST

START_TEST(test_query_next_empty_pieces_skipped)
{
    check_pairs("&&a=1&&&b=2&", 12, "a=1|b=2|");
}
END_TEST

START_TEST(test_query_next_only_ampersands)
{
    check_pairs("&&&", 3, "");
}
END_TEST

START_TEST(test_query_next_no_equals_empty_value)
{
    check_pairs("a&b=&c", 6, "a=|b=|c=|");
}
END_TEST

START_TEST(test_query_next_empty_key)
{
    check_pairs("=x", 2, "=x|");
}
END_TEST

START_TEST(test_query_next_value_keeps_equals)
{
    check_pairs("a=b=c", 5, "a=b=c|");
}
END_TEST

START_TEST(test_query_next_semicolon_not_separator)
{
    check_pairs("a=1;b=2", 7, "a=1;b=2|");
}
END_TEST

START_TEST(test_query_next_raw_not_decoded)
{
    check_pairs("a%20=b+c%41", 11, "a%20=b+c%41|");
}
END_TEST

START_TEST(test_query_next_len_honoured)
{
    check_pairs("a=1&b=2", 3, "a=1|");
}
END_TEST

START_TEST(test_query_next_pointers_borrow)
{
    static const char qs[] = "key=val";
    struct sse_query_iter it;
    const char *k, *v;
    size_t kl, vl;
    sse_query_iter_init(&it, qs, 7);
    ck_assert_int_eq(sse_query_next(&it, &k, &kl, &v, &vl), 1);
    ck_assert_ptr_eq(k, qs);
    ck_assert_uint_eq(kl, 3);
    ck_assert_ptr_eq(v, qs + 4);
    ck_assert_uint_eq(vl, 3);
}
END_TEST

/* Decodes src and checks the result. */
static void check_decode(const char *src, const char *want, size_t want_len)
{
    char dst[256];
    size_t out_len = 12345;
    ck_assert_int_eq(
        sse_query_decode(src, strlen(src), dst, sizeof(dst), &out_len), 0);
    ck_assert_uint_eq(out_len, want_len);
    ck_assert_mem_eq(dst, want, want_len);
    ck_assert_int_eq(dst[out_len], '\0');
}

static void check_decode_fails(const char *src, int want_rc)
{
    char dst[256];
    size_t out_len = 12345;
    ck_assert_int_eq(
        sse_query_decode(src, strlen(src), dst, sizeof(dst), &out_len),
        want_rc);
    ck_assert_uint_eq(out_len, 12345);
}

START_TEST(test_query_decode_plain)
{
    check_decode("abc", "abc", 3);
}
END_TEST

START_TEST(test_query_decode_empty)
{
    check_decode("", "", 0);
}
END_TEST

START_TEST(test_query_decode_plus_is_space)
{
    check_decode("a+b+", "a b ", 4);
}
END_TEST

START_TEST(test_query_decode_encoded_plus)
{
    check_decode("a%2Bb", "a+b", 3);
}
END_TEST

START_TEST(test_query_decode_lower_hex)
{
    check_decode("%2b%2f%3a", "+/:", 3);
}
END_TEST

START_TEST(test_query_decode_upper_hex)
{
    check_decode("%41%42%7E", "AB~", 3);
}
END_TEST

START_TEST(test_query_decode_nul_kept)
{
    check_decode("a%00b", "a\0b", 3);
}
END_TEST

START_TEST(test_query_decode_high_bytes)
{
    check_decode("%C3%A9%FF", "\xC3\xA9\xFF", 3);
}
END_TEST

START_TEST(test_query_decode_percent_encoded_percent)
{
    /* Decoded once only: "%2541" is "%41", not "A". */
    check_decode("%2541", "%41", 3);
}
END_TEST

START_TEST(test_query_decode_lone_percent_refused)
{
    check_decode_fails("%", SSE_EINVAL);
}
END_TEST

START_TEST(test_query_decode_trailing_percent_refused)
{
    check_decode_fails("abc%", SSE_EINVAL);
}
END_TEST

START_TEST(test_query_decode_one_hex_digit_refused)
{
    check_decode_fails("%4", SSE_EINVAL);
}
END_TEST

START_TEST(test_query_decode_bad_hex_refused)
{
    check_decode_fails("%zz", SSE_EINVAL);
}
END_TEST

START_TEST(test_query_decode_half_bad_hex_refused)
{
    check_decode_fails("%4g", SSE_EINVAL);
}
END_TEST

START_TEST(test_query_decode_double_percent_refused)
{
    check_decode_fails("%%41", SSE_EINVAL);
}
END_TEST

START_TEST(test_query_decode_len_honoured)
{
    /* The bad escape lies past len. */
    char dst[8];
    size_t out_len = 0;
    ck_assert_int_eq(sse_query_decode("ab%zz", 2, dst, sizeof(dst), &out_len),
                     0);
    ck_assert_uint_eq(out_len, 2);
    ck_assert_str_eq(dst, "ab");
}
END_TEST

START_TEST(test_query_decode_escape_cut_by_len_refused)
{
    char dst[8];
    size_t out_len = 99;
    ck_assert_int_eq(sse_query_decode("a%41", 3, dst, sizeof(dst), &out_len),
                     SSE_EINVAL);
    ck_assert_uint_eq(out_len, 99);
}
END_TEST

START_TEST(test_query_decode_exact_capacity)
{
    char dst[4];
    size_t out_len = 0;
    ck_assert_int_eq(sse_query_decode("abc", 3, dst, 4, &out_len), 0);
    ck_assert_str_eq(dst, "abc");
    ck_assert_uint_eq(out_len, 3);
}
END_TEST

START_TEST(test_query_decode_no_room_for_nul)
{
    char dst[4] = "zzz";
    size_t out_len = 99;
    ck_assert_int_eq(sse_query_decode("abc", 3, dst, 3, &out_len), SSE_ETOOBIG);
    ck_assert_uint_eq(out_len, 99);
}
END_TEST

START_TEST(test_query_decode_zero_capacity)
{
    char dst[1] = {'z'};
    size_t out_len = 99;
    ck_assert_int_eq(sse_query_decode("", 0, dst, 0, &out_len), SSE_ETOOBIG);
    ck_assert_int_eq(dst[0], 'z');
    ck_assert_uint_eq(out_len, 99);
}
END_TEST

START_TEST(test_query_decode_empty_into_one_byte)
{
    char dst[1] = {'z'};
    size_t out_len = 99;
    ck_assert_int_eq(sse_query_decode("", 0, dst, 1, &out_len), 0);
    ck_assert_int_eq(dst[0], '\0');
    ck_assert_uint_eq(out_len, 0);
}
END_TEST

START_TEST(test_query_decode_capacity_counts_decoded_bytes)
{
    /* Nine raw bytes decode to three: they fit in four. */
    char dst[4];
    size_t out_len = 0;
    ck_assert_int_eq(sse_query_decode("%41%42%43", 9, dst, 4, &out_len), 0);
    ck_assert_str_eq(dst, "ABC");
}
END_TEST

START_TEST(test_query_decode_no_write_past_capacity)
{
    char dst[8];
    size_t out_len = 0;
    memset(dst, '#', sizeof(dst));
    ck_assert_int_eq(sse_query_decode("abcdefgh", 8, dst, 4, &out_len),
                     SSE_ETOOBIG);
    for (size_t i = 4; i < sizeof(dst); i++)
        ck_assert_int_eq(dst[i], '#');
}
END_TEST

START_TEST(test_query_key_is_plain)
{
    ck_assert_int_eq(sse_query_key_is("channel", 7, "channel"), 1);
}
END_TEST

START_TEST(test_query_key_is_encoded)
{
    ck_assert_int_eq(sse_query_key_is("chan%6Eel", 9, "channel"), 1);
}
END_TEST

START_TEST(test_query_key_is_plus_space)
{
    ck_assert_int_eq(sse_query_key_is("a+b", 3, "a b"), 1);
}
END_TEST

START_TEST(test_query_key_is_case_sensitive)
{
    ck_assert_int_eq(sse_query_key_is("Channel", 7, "channel"), 0);
}
END_TEST

START_TEST(test_query_key_is_prefix_differs)
{
    ck_assert_int_eq(sse_query_key_is("channe", 6, "channel"), 0);
    ck_assert_int_eq(sse_query_key_is("channels", 8, "channel"), 0);
}
END_TEST

START_TEST(test_query_key_is_len_honoured)
{
    ck_assert_int_eq(sse_query_key_is("channelX", 7, "channel"), 1);
}
END_TEST

START_TEST(test_query_key_is_bad_escape_false)
{
    ck_assert_int_eq(sse_query_key_is("%zz", 3, "%zz"), 0);
    ck_assert_int_eq(sse_query_key_is("channel%", 8, "channel%"), 0);
}
END_TEST

START_TEST(test_query_key_is_long_key_false)
{
    char k[10000];
    memset(k, 'a', sizeof(k));
    ck_assert_int_eq(sse_query_key_is(k, sizeof(k), "aaaa"), 0);
}
END_TEST

START_TEST(test_query_key_is_nul_in_key_false)
{
    ck_assert_int_eq(sse_query_key_is("chan%00nel", 10, "chan"), 0);
}
END_TEST

static Suite *query_suite(void)
{
    Suite *s = suite_create("query");
    TCase *tc = tcase_create("iterate");
    tcase_add_test(tc, test_query_next_pairs);
    tcase_add_test(tc, test_query_next_empty_string);
    tcase_add_test(tc, test_query_next_empty_pieces_skipped);
    tcase_add_test(tc, test_query_next_only_ampersands);
    tcase_add_test(tc, test_query_next_no_equals_empty_value);
    tcase_add_test(tc, test_query_next_empty_key);
    tcase_add_test(tc, test_query_next_value_keeps_equals);
    tcase_add_test(tc, test_query_next_semicolon_not_separator);
    tcase_add_test(tc, test_query_next_raw_not_decoded);
    tcase_add_test(tc, test_query_next_len_honoured);
    tcase_add_test(tc, test_query_next_pointers_borrow);
    suite_add_tcase(s, tc);

    tc = tcase_create("decode");
    tcase_add_test(tc, test_query_decode_plain);
    tcase_add_test(tc, test_query_decode_empty);
    tcase_add_test(tc, test_query_decode_plus_is_space);
    tcase_add_test(tc, test_query_decode_encoded_plus);
    tcase_add_test(tc, test_query_decode_lower_hex);
    tcase_add_test(tc, test_query_decode_upper_hex);
    tcase_add_test(tc, test_query_decode_nul_kept);
    tcase_add_test(tc, test_query_decode_high_bytes);
    tcase_add_test(tc, test_query_decode_percent_encoded_percent);
    tcase_add_test(tc, test_query_decode_lone_percent_refused);
    tcase_add_test(tc, test_query_decode_trailing_percent_refused);
    tcase_add_test(tc, test_query_decode_one_hex_digit_refused);
    tcase_add_test(tc, test_query_decode_bad_hex_refused);
    tcase_add_test(tc, test_query_decode_half_bad_hex_refused);
    tcase_add_test(tc, test_query_decode_double_percent_refused);
    tcase_add_test(tc, test_query_decode_len_honoured);
    tcase_add_test(tc, test_query_decode_escape_cut_by_len_refused);
    tcase_add_test(tc, test_query_decode_exact_capacity);
    tcase_add_test(tc, test_query_decode_no_room_for_nul);
    tcase_add_test(tc, test_query_decode_zero_capacity);
    tcase_add_test(tc, test_query_decode_empty_into_one_byte);
    tcase_add_test(tc, test_query_decode_capacity_counts_decoded_bytes);
    tcase_add_test(tc, test_query_decode_no_write_past_capacity);
    suite_add_tcase(s, tc);

    tc = tcase_create("key_is");
    tcase_add_test(tc, test_query_key_is_plain);
    tcase_add_test(tc, test_query_key_is_encoded);
    tcase_add_test(tc, test_query_key_is_plus_space);
    tcase_add_test(tc, test_query_key_is_case_sensitive);
    tcase_add_test(tc, test_query_key_is_prefix_differs);
    tcase_add_test(tc, test_query_key_is_len_honoured);
    tcase_add_test(tc, test_query_key_is_bad_escape_false);
    tcase_add_test(tc, test_query_key_is_long_key_false);
    tcase_add_test(tc, test_query_key_is_nul_in_key_false);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run_suite(query_suite());
}
