/* check_dbname.c - unit tests for lib/dbname.c (engine choice, passwords
 * kept out of what is shown).
 * SPDX-License-Identifier: MIT
 */
#include <check.h>
#include <stdio.h>
#include <string.h>

#include "dbname.h"
#include "testutil.h"

/* Scrubs a copy of in and compares it with want; returns the count. */
static int scrubbed(const char *in, const char *want)
{
    char buf[512];
    snprintf(buf, sizeof buf, "%s", in);
    int n = sse_dbname_scrub(buf);
    ck_assert_str_eq(buf, want);
    return n;
}

START_TEST(test_dbname_is_uri_prefixes)
{
    ck_assert_int_eq(sse_dbname_is_uri("postgresql://h/db"), 1);
    ck_assert_int_eq(sse_dbname_is_uri("postgres://h/db"), 1);
    ck_assert_int_eq(sse_dbname_is_uri("postgresql:/h"), 0);
    ck_assert_int_eq(sse_dbname_is_uri("/var/lib/sselite/events.db"), 0);
    ck_assert_int_eq(sse_dbname_is_uri("./postgresql://x"), 0);
    ck_assert_int_eq(sse_dbname_is_uri("POSTGRESQL://h"), 0); /* as libpq */
    ck_assert_int_eq(sse_dbname_is_uri(""), 0);
    ck_assert_int_eq(sse_dbname_is_uri(NULL), 0);
}
END_TEST

START_TEST(test_dbname_scrub_userinfo)
{
    ck_assert_int_eq(scrubbed("postgresql://u:secret@h:5432/db",
                              "postgresql://u:***@h:5432/db"),
                     1);
    ck_assert_int_eq(scrubbed("postgres://u:p@h/db", "postgres://u:*@h/db"), 1);
    ck_assert_int_eq(scrubbed("postgresql://u@h/db", "postgresql://u@h/db"), 0);
    ck_assert_int_eq(
        scrubbed("postgresql://h:5432/db", "postgresql://h:5432/db"), 0);
    /* libpq ends the user part at the first '@' before any '/'. */
    ck_assert_int_eq(
        scrubbed("postgresql://u:a%40b@h/db", "postgresql://u:***@h/db"), 1);
    ck_assert_int_eq(scrubbed("postgresql:///db?host=/run/postgresql",
                              "postgresql:///db?host=/run/postgresql"),
                     0);
}
END_TEST

START_TEST(test_dbname_scrub_query_password)
{
    ck_assert_int_eq(scrubbed("postgresql://h/db?sslmode=require&password=xyz1"
                              "&application_name=a",
                              "postgresql://h/db?sslmode=require&password=***"
                              "&application_name=a"),
                     1);
    ck_assert_int_eq(scrubbed("postgresql://u:pw1@h/db?password=pw2",
                              "postgresql://u:***@h/db?password=***"),
                     2);
    ck_assert_int_eq(scrubbed("postgresql://h/db?passwordx=keep",
                              "postgresql://h/db?passwordx=keep"),
                     0);
}
END_TEST

START_TEST(test_dbname_scrub_in_text)
{
    ck_assert_int_eq(
        scrubbed("database 'postgresql://u:topsecret@h/db' cannot be read; "
                 "db=postgres://v:other@h2/x done",
                 "database 'postgresql://u:***@h/db' cannot be read; "
                 "db=postgres://v:***@h2/x done"),
        2);
    ck_assert_int_eq(scrubbed("/var/lib/a:b@c/events.db", "/var/lib/a:b@c/"
                                                          "events.db"),
                     0);
    ck_assert_int_eq(scrubbed("", ""), 0);
}
END_TEST

START_TEST(test_dbname_display_truncates_after_scrub)
{
    char out[24];
    sse_dbname_display("postgresql://user:averyveryverylongpassword@host/db",
                       out, sizeof out);
    ck_assert_uint_eq(strlen(out), sizeof out - 1);
    ck_assert_ptr_null(strstr(out, "avery"));
    ck_assert_str_eq(out, "postgresql://user:**...");
    sse_dbname_display("/tmp/e.db", out, sizeof out);
    ck_assert_str_eq(out, "/tmp/e.db");
}
END_TEST

START_TEST(test_dbname_hide_passwords_in_message)
{
    char msg[256] = "invalid percent-encoded token: \"pa%zzss\" in pa%zzss";
    ck_assert_int_eq(
        sse_dbname_hide_passwords("postgresql://u:pa%zzss@h/db", msg), 2);
    ck_assert_str_eq(msg, "invalid percent-encoded token: \"***\" in ***");
    char m2[256] = "bad value x2y9 for password";
    ck_assert_int_eq(sse_dbname_hide_passwords(
                         "postgres://h/db?sslmode=x&password=x2y9&a=b", m2),
                     1);
    ck_assert_str_eq(m2, "bad value *** for password");
    char m3[64] = "nothing secret here";
    ck_assert_int_eq(sse_dbname_hide_passwords("postgresql://u@h/db", m3), 0);
    ck_assert_int_eq(sse_dbname_hide_passwords("/tmp/a.db", m3), 0);
    ck_assert_str_eq(m3, "nothing secret here");
}
END_TEST

static Suite *dbname_suite(void)
{
    Suite *s = suite_create("dbname");
    TCase *tc = tcase_create("dbname");
    tcase_add_test(tc, test_dbname_is_uri_prefixes);
    tcase_add_test(tc, test_dbname_scrub_userinfo);
    tcase_add_test(tc, test_dbname_scrub_query_password);
    tcase_add_test(tc, test_dbname_scrub_in_text);
    tcase_add_test(tc, test_dbname_display_truncates_after_scrub);
    tcase_add_test(tc, test_dbname_hide_passwords_in_message);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run_suite(dbname_suite());
}
