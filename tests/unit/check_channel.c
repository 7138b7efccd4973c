/* check_channel.c - unit tests for lib/channel.c (channel and type names).
 * SPDX-License-Identifier: MIT
 */
#include <check.h>
#include <stdint.h>
#include <string.h>

#include "channel.h"
#include "testutil.h"

static int channel_ok(const char *s)
{
    return sse_channel_valid(s, strlen(s));
}

static int type_ok(const char *s)
{
    return sse_event_type_valid(s, strlen(s));
}

START_TEST(test_channel_valid_default)
{
    ck_assert_int_eq(channel_ok(SSE_CHANNEL_DEFAULT), 1);
}
END_TEST

START_TEST(test_channel_valid_one_byte)
{
    ck_assert_int_eq(channel_ok("a"), 1);
}
END_TEST

START_TEST(test_channel_valid_every_allowed_byte)
{
    ck_assert_int_eq(channel_ok("ABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                "abcdefghijklmnopqrstuvwxyz"
                                "0123456789_.:/@-"),
                     1);
}
END_TEST

START_TEST(test_channel_valid_punctuation_only)
{
    ck_assert_int_eq(channel_ok("-"), 1);
    ck_assert_int_eq(channel_ok("..."), 1);
    ck_assert_int_eq(channel_ok("user@example.org/inbox:1"), 1);
}
END_TEST

START_TEST(test_channel_valid_every_other_byte_refused)
{
    static const char allowed[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                  "abcdefghijklmnopqrstuvwxyz"
                                  "0123456789_.:/@-";
    for (int c = 0; c < 256; c++) {
        char name[3] = {'a', (char)c, 'b'};
        int want = c != 0 && strchr(allowed, c) != NULL;
        ck_assert_msg(sse_channel_valid(name, 3) == want, "byte 0x%02x", c);
    }
}
END_TEST

START_TEST(test_channel_valid_max_length)
{
    char name[SSE_CHANNEL_MAX];
    memset(name, 'c', sizeof(name));
    ck_assert_int_eq(sse_channel_valid(name, 128), 1);
}
END_TEST

START_TEST(test_channel_valid_too_long_refused)
{
    char name[SSE_CHANNEL_MAX + 1];
    memset(name, 'c', sizeof(name));
    ck_assert_int_eq(sse_channel_valid(name, 129), 0);
}
END_TEST

START_TEST(test_channel_valid_empty_refused)
{
    ck_assert_int_eq(sse_channel_valid("", 0), 0);
}
END_TEST

START_TEST(test_channel_valid_space_refused)
{
    ck_assert_int_eq(channel_ok("a b"), 0);
    ck_assert_int_eq(channel_ok(" a"), 0);
    ck_assert_int_eq(channel_ok("a "), 0);
}
END_TEST

START_TEST(test_channel_valid_url_syntax_refused)
{
    ck_assert_int_eq(channel_ok("a%20b"), 0);
    ck_assert_int_eq(channel_ok("a+b"), 0);
    ck_assert_int_eq(channel_ok("a?b"), 0);
    ck_assert_int_eq(channel_ok("a#b"), 0);
    ck_assert_int_eq(channel_ok("a&b"), 0);
    ck_assert_int_eq(channel_ok("a=b"), 0);
}
END_TEST

START_TEST(test_channel_valid_glob_syntax_refused)
{
    ck_assert_int_eq(channel_ok("a*"), 0);
    ck_assert_int_eq(channel_ok("[a]"), 0);
    ck_assert_int_eq(channel_ok("^a"), 0);
}
END_TEST

START_TEST(test_channel_valid_utf8_refused)
{
    ck_assert_int_eq(channel_ok("caf\xC3\xA9"), 0);
}
END_TEST

START_TEST(test_channel_valid_nul_inside_refused)
{
    ck_assert_int_eq(sse_channel_valid("ab\0c", 4), 0);
}
END_TEST

START_TEST(test_channel_valid_len_honoured)
{
    ck_assert_int_eq(sse_channel_valid("abc def", 3), 1);
}
END_TEST

START_TEST(test_event_type_valid_empty)
{
    ck_assert_int_eq(sse_event_type_valid("", 0), 1);
}
END_TEST

START_TEST(test_event_type_valid_word)
{
    ck_assert_int_eq(type_ok("update"), 1);
}
END_TEST

START_TEST(test_event_type_valid_spaces_colons_utf8)
{
    ck_assert_int_eq(type_ok(" a: b "), 1);
    ck_assert_int_eq(type_ok("\xF0\x9F\x98\x80 caf\xC3\xA9"), 1);
    ck_assert_int_eq(type_ok("\t"), 1);
}
END_TEST

START_TEST(test_event_type_valid_max_length)
{
    char t[SSE_EVENT_TYPE_MAX];
    memset(t, 't', sizeof(t));
    ck_assert_int_eq(sse_event_type_valid(t, 128), 1);
}
END_TEST

START_TEST(test_event_type_valid_too_long_refused)
{
    char t[SSE_EVENT_TYPE_MAX + 1];
    memset(t, 't', sizeof(t));
    ck_assert_int_eq(sse_event_type_valid(t, 129), 0);
}
END_TEST

START_TEST(test_event_type_valid_counts_bytes)
{
    /* 64 two-byte characters are the limit; 65 are 130 bytes. */
    char t[2 * 65];
    for (size_t i = 0; i < sizeof t; i += 2)
        memcpy(t + i, "\xC3\xA9", 2);
    ck_assert_int_eq(sse_event_type_valid(t, SSE_EVENT_TYPE_MAX), 1);
    ck_assert_int_eq(sse_event_type_valid(t, sizeof t), 0);
}
END_TEST

START_TEST(test_limits_are_the_documented_numbers)
{
    /* README "Limits" and schema/003-limits.sql state these numbers. */
    ck_assert_int_eq(SSE_CHANNEL_MAX, 128);
    ck_assert_int_eq(SSE_EVENT_TYPE_MAX, 128);
    ck_assert_int_eq(SSE_EVENT_DATA_MAX, 4194304);
    ck_assert_int_eq(SSE_ID_MAX, INT64_C(999999999999999999));
}
END_TEST

START_TEST(test_event_type_valid_lf_refused)
{
    ck_assert_int_eq(type_ok("a\nb"), 0);
    ck_assert_int_eq(type_ok("\n"), 0);
}
END_TEST

START_TEST(test_event_type_valid_cr_refused)
{
    ck_assert_int_eq(type_ok("a\rb"), 0);
    ck_assert_int_eq(type_ok("ab\r"), 0);
}
END_TEST

START_TEST(test_event_type_valid_nul_refused)
{
    ck_assert_int_eq(sse_event_type_valid("a\0b", 3), 0);
}
END_TEST

START_TEST(test_event_type_valid_len_honoured)
{
    ck_assert_int_eq(sse_event_type_valid("ab\ncd", 2), 1);
}
END_TEST

static Suite *channel_suite(void)
{
    Suite *s = suite_create("channel");
    TCase *tc = tcase_create("channel");
    tcase_add_test(tc, test_channel_valid_default);
    tcase_add_test(tc, test_limits_are_the_documented_numbers);
    tcase_add_test(tc, test_channel_valid_one_byte);
    tcase_add_test(tc, test_channel_valid_every_allowed_byte);
    tcase_add_test(tc, test_channel_valid_punctuation_only);
    tcase_add_test(tc, test_channel_valid_every_other_byte_refused);
    tcase_add_test(tc, test_channel_valid_max_length);
    tcase_add_test(tc, test_channel_valid_too_long_refused);
    tcase_add_test(tc, test_channel_valid_empty_refused);
    tcase_add_test(tc, test_channel_valid_space_refused);
    tcase_add_test(tc, test_channel_valid_url_syntax_refused);
    tcase_add_test(tc, test_channel_valid_glob_syntax_refused);
    tcase_add_test(tc, test_channel_valid_utf8_refused);
    tcase_add_test(tc, test_channel_valid_nul_inside_refused);
    tcase_add_test(tc, test_channel_valid_len_honoured);
    suite_add_tcase(s, tc);

    tc = tcase_create("event_type");
    tcase_add_test(tc, test_event_type_valid_empty);
    tcase_add_test(tc, test_event_type_valid_word);
    tcase_add_test(tc, test_event_type_valid_spaces_colons_utf8);
    tcase_add_test(tc, test_event_type_valid_max_length);
    tcase_add_test(tc, test_event_type_valid_too_long_refused);
    tcase_add_test(tc, test_event_type_valid_counts_bytes);
    tcase_add_test(tc, test_event_type_valid_lf_refused);
    tcase_add_test(tc, test_event_type_valid_cr_refused);
    tcase_add_test(tc, test_event_type_valid_nul_refused);
    tcase_add_test(tc, test_event_type_valid_len_honoured);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run_suite(channel_suite());
}
