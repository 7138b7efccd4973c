/* check_retention.c - unit tests for lib/retention.c (rules file, rule
 * lookup, applying the rules to a real event log).
 * SPDX-License-Identifier: MIT
 */
#include <check.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin.h"
#include "retention.h"
#include "sse_error.h"
#include "testutil.h"

static struct sse_retention *parse_ok(const char *text)
{
    struct sse_retention *r = NULL;
    char err[256] = "";
    int rc =
        sse_retention_parse(text, strlen(text), "rules", &r, err, sizeof err);
    ck_assert_msg(rc == 0, "parse failed: %s", err);
    return r;
}

/* Parses text expecting failure rc with a message containing want. */
static void parse_fails(const char *text, int rc, const char *want)
{
    struct sse_retention *r = NULL;
    char err[256] = "";
    ck_assert_int_eq(
        sse_retention_parse(text, strlen(text), "rules", &r, err, sizeof err),
        rc);
    ck_assert_ptr_null(r);
    ck_assert_msg(strstr(err, want) != NULL, "'%s' lacks '%s'", err, want);
}

static const char *rule_for(const struct sse_retention *r, const char *ch)
{
    const struct sse_retention_rule *rule =
        sse_retention_find(r, ch, strlen(ch));
    return rule ? rule->pattern : NULL;
}

/* --- durations --- */

START_TEST(test_retention_parse_duration_units)
{
    static const struct {
        const char *s;
        int64_t ms;
    } ok[] = {{"90", 90000},    {"90s", 90000},    {"500ms", 500},
              {"30m", 1800000}, {"12h", 43200000}, {"7d", 604800000},
              {"0", 0}};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        int64_t ms = -1;
        ck_assert_int_eq(
            sse_retention_parse_duration(ok[i].s, strlen(ok[i].s), &ms), 0);
        ck_assert_int_eq(ms, ok[i].ms);
    }
}
END_TEST

START_TEST(test_retention_parse_duration_refused)
{
    static const char *const bad[] = {"",   "d",    "7 d", "-1d",
                                      "7w", "1.5h", "7dd", "0x10"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int64_t ms = -1;
        ck_assert_msg(sse_retention_parse_duration(bad[i], strlen(bad[i]),
                                                   &ms) == SSE_EINVAL,
                      "'%s' accepted", bad[i]);
        ck_assert_int_eq(ms, -1);
    }
    int64_t ms = -1;
    const char *huge = "999999999999999999d";
    ck_assert_int_eq(sse_retention_parse_duration(huge, strlen(huge), &ms),
                     SSE_ETOOBIG);
    ck_assert_int_eq(ms, -1);
}
END_TEST

/* --- the rules file --- */

START_TEST(test_retention_parse_full_file)
{
    struct sse_retention *r = parse_ok("# retention\n"
                                       "\n"
                                       "*          keep 100  older-than 7d\n"
                                       "orders:*\tolder-than 30d # money\r\n"
                                       "   audit   keep all\n"
                                       "user/42/*  older-than 1h keep 5");
    ck_assert_uint_eq(sse_retention_count(r), 4);
    const struct sse_retention_rule *x = sse_retention_rule_at(r, 0);
    ck_assert_str_eq(x->pattern, "*");
    ck_assert_int_eq(x->keep, 100);
    ck_assert_int_eq(x->older_ms, 7 * 86400000LL);
    ck_assert_int_eq(x->line, 3);
    x = sse_retention_rule_at(r, 1);
    ck_assert_str_eq(x->pattern, "orders:*");
    ck_assert_int_eq(x->keep, -1);
    ck_assert_int_eq(x->older_ms, 30 * 86400000LL);
    x = sse_retention_rule_at(r, 2);
    ck_assert_str_eq(x->pattern, "audit");
    ck_assert_int_eq(x->keep, -1);
    ck_assert_int_eq(x->older_ms, -1);
    x = sse_retention_rule_at(r, 3);
    ck_assert_int_eq(x->keep, 5);
    ck_assert_int_eq(x->older_ms, 3600000);
    ck_assert_int_eq(x->line, 6);
    sse_retention_free(r);
}
END_TEST

START_TEST(test_retention_parse_empty_file_no_rules)
{
    struct sse_retention *r = parse_ok("# nothing yet\n\n   \n");
    ck_assert_uint_eq(sse_retention_count(r), 0);
    ck_assert_ptr_null(sse_retention_find(r, "news", 4));
    sse_retention_free(r);
}
END_TEST

START_TEST(test_retention_parse_errors_name_the_line)
{
    parse_fails("*\n", SSE_EINVAL, "rules:1: expected");
    parse_fails("# x\nnews keep\n", SSE_EINVAL, "rules:2: expected");
    parse_fails("news keep ten\n", SSE_EINVAL, "rules:1: keep 'ten'");
    parse_fails("news keep -1\n", SSE_EINVAL, "keep '-1'");
    parse_fails("news older-than 7w\n", SSE_EINVAL, "older-than '7w'");
    parse_fails("news keep 1 keep 2\n", SSE_EINVAL, "unexpected 'keep'");
    parse_fails("news maxage 1d\n", SSE_EINVAL, "unexpected 'maxage'");
    parse_fails("user/4* keep 1\n", SSE_EINVAL, "pattern 'user/4*'");
    parse_fails("news keep 1 older-than 1d extra\n", SSE_EINVAL, "expected");
    parse_fails("a keep 1\nb keep 1\na older-than 1d\n", SSE_EINVAL,
                "rules:3: pattern 'a' already has a rule on line 1");
}
END_TEST

START_TEST(test_retention_parse_nul_refused)
{
    struct sse_retention *r = NULL;
    char err[128];
    static const char text[] = "news keep 1\0\n";
    ck_assert_int_eq(
        sse_retention_parse(text, sizeof text - 1, "f", &r, err, sizeof err),
        SSE_EINVAL);
    ck_assert_ptr_null(r);
}
END_TEST

START_TEST(test_retention_parse_too_many_rules)
{
    size_t cap = (SSE_RETENTION_MAX_RULES + 1) * 24;
    char *text = malloc(cap);
    ck_assert_ptr_nonnull(text);
    size_t n = 0;
    for (int i = 0; i <= SSE_RETENTION_MAX_RULES; i++)
        n += (size_t)snprintf(text + n, cap - n, "c%d keep 1\n", i);
    struct sse_retention *r = NULL;
    char err[128];
    ck_assert_int_eq(sse_retention_parse(text, n, "f", &r, err, sizeof err),
                     SSE_ETOOBIG);
    ck_assert_ptr_null(r);
    ck_assert_int_eq(sse_retention_parse(text, n - strlen("c4096 keep 1\n"),
                                         "f", &r, err, sizeof err),
                     0);
    ck_assert_uint_eq(sse_retention_count(r), SSE_RETENTION_MAX_RULES);
    sse_retention_free(r);
    free(text);
}
END_TEST

START_TEST(test_retention_load_missing_file)
{
    struct sse_retention *r = NULL;
    char err[256];
    ck_assert_int_eq(sse_retention_load("/nonexistent/sselite/retention.conf",
                                        &r, err, sizeof err),
                     SSE_ENOENT);
    ck_assert_ptr_null(r);
    ck_assert_ptr_nonnull(strstr(err, "/nonexistent/sselite/retention.conf"));
}
END_TEST

START_TEST(test_retention_load_reads_file)
{
    char *dir = tu_tmpdir_new();
    char *path = tu_path(dir, "retention.conf");
    tu_write_file(path, "* keep 3\n", 9);
    struct sse_retention *r = NULL;
    char err[256];
    ck_assert_int_eq(sse_retention_load(path, &r, err, sizeof err), 0);
    ck_assert_uint_eq(sse_retention_count(r), 1);
    sse_retention_free(r);
    /* Messages name the file. */
    tu_write_file(path, "* keep x\n", 9);
    ck_assert_int_eq(sse_retention_load(path, &r, err, sizeof err), SSE_EINVAL);
    ck_assert_ptr_nonnull(strstr(err, path));
    free(path);
    tu_tmpdir_remove(dir);
}
END_TEST

/* --- which rule applies --- */

START_TEST(test_retention_find_most_specific)
{
    struct sse_retention *r = parse_ok("*          keep 1\n"
                                       "user/*     keep 2\n"
                                       "user/42/*  keep 3\n"
                                       "user/42/x  keep 4\n"
                                       "orders:*   keep 5\n");
    ck_assert_str_eq(rule_for(r, "user/42/x"), "user/42/x");
    ck_assert_str_eq(rule_for(r, "user/42/y"), "user/42/*");
    ck_assert_str_eq(rule_for(r, "user/43/y"), "user/*");
    ck_assert_str_eq(rule_for(r, "user/42"), "user/*");
    ck_assert_str_eq(rule_for(r, "user"), "*");
    ck_assert_str_eq(rule_for(r, "orders:9"), "orders:*");
    ck_assert_str_eq(rule_for(r, "orders"), "*");
    sse_retention_free(r);
}
END_TEST

START_TEST(test_retention_find_order_of_lines_irrelevant)
{
    struct sse_retention *r = parse_ok("user/42/*  keep 3\n"
                                       "user/*     keep 2\n"
                                       "*          keep 1\n");
    ck_assert_str_eq(rule_for(r, "user/42/y"), "user/42/*");
    ck_assert_str_eq(rule_for(r, "user/4/y"), "user/*");
    sse_retention_free(r);
}
END_TEST

START_TEST(test_retention_find_no_default_rule)
{
    struct sse_retention *r = parse_ok("orders:* keep 1\n");
    ck_assert_ptr_null(rule_for(r, "news"));
    sse_retention_free(r);
}
END_TEST

/* --- applying the rules to a log --- */

struct apply_fixture {
    char *dir;
    char *db;
    struct sse_admin *a;
};

static void fixture_open(struct apply_fixture *f)
{
    f->dir = tu_tmpdir_new();
    f->db = tu_log_create(f->dir, "events.db");
    f->a = tu_admin_open(f->db);
}

static void fixture_close(struct apply_fixture *f)
{
    sse_admin_close(f->a);
    free(f->db);
    tu_tmpdir_remove(f->dir);
}

static int64_t count_rows(const char *db, const char *channel)
{
    sqlite3 *h = NULL;
    sqlite3_stmt *st = NULL;
    ck_assert_int_eq(sqlite3_open_v2(db, &h, SQLITE_OPEN_READONLY, NULL),
                     SQLITE_OK);
    ck_assert_int_eq(
        sqlite3_prepare_v2(h, "SELECT count(*) FROM events WHERE channel = ?1",
                           -1, &st, NULL),
        SQLITE_OK);
    sqlite3_bind_text(st, 1, channel, -1, SQLITE_STATIC);
    ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
    int64_t n = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(h);
    return n;
}

static void publish_rows(struct sse_admin *a, const char *channel, int n)
{
    for (int i = 0; i < n; i++)
        tu_publish(a, channel, NULL, "x");
}

struct seen {
    int n;
    char channels[8][32];
    int64_t deleted[8];
};

static int record(const struct sse_retention_result *res, void *ctx)
{
    struct seen *s = ctx;
    ck_assert_int_lt(s->n, 8);
    snprintf(s->channels[s->n], sizeof s->channels[0], "%s", res->channel);
    s->deleted[s->n] = res->deleted;
    s->n++;
    return 0;
}

START_TEST(test_retention_apply_per_channel_rules)
{
    struct apply_fixture f;
    fixture_open(&f);
    publish_rows(f.a, "audit", 10);
    publish_rows(f.a, "news", 10);
    publish_rows(f.a, "orders:1", 10);
    publish_rows(f.a, "orders:2", 3);
    publish_rows(f.a, "user/42/a", 10);
    struct sse_retention *r = parse_ok("*         keep 5\n"
                                       "orders:*  keep 4\n"
                                       "audit     keep all\n");
    struct sse_retention_totals t;
    struct seen s = {0};
    ck_assert_int_eq(sse_retention_apply(r, f.a, 2, 0, record, &s, &t), 0);
    ck_assert_int_eq(count_rows(f.db, "audit"), 10);
    ck_assert_int_eq(count_rows(f.db, "news"), 5);
    /* "keep" counts per channel, not per pattern. */
    ck_assert_int_eq(count_rows(f.db, "orders:1"), 4);
    ck_assert_int_eq(count_rows(f.db, "orders:2"), 3);
    ck_assert_int_eq(count_rows(f.db, "user/42/a"), 5);
    ck_assert_int_eq(t.channels, 5);
    ck_assert_int_eq(t.channels_ruled, 5);
    ck_assert_int_eq(t.deleted, 16);
    /* Batches of 2: news 5 rows -> 3 transactions (2, 2, 1), orders:1 6 ->
     * 4 (2, 2, 2, 0), user 5 -> 3. */
    ck_assert_int_eq(t.batches, 10);
    ck_assert_int_eq(s.n, 5);
    ck_assert_str_eq(s.channels[0], "audit");
    ck_assert_int_eq(s.deleted[0], 0);
    ck_assert_str_eq(s.channels[2], "orders:1");
    ck_assert_int_eq(s.deleted[2], 6);
    /* A second run has nothing left to do. */
    ck_assert_int_eq(sse_retention_apply(r, f.a, 2, 0, NULL, NULL, &t), 0);
    ck_assert_int_eq(t.deleted, 0);
    ck_assert_int_eq(t.batches, 0);
    sse_retention_free(r);
    fixture_close(&f);
}
END_TEST

START_TEST(test_retention_apply_unmatched_channels_kept)
{
    struct apply_fixture f;
    fixture_open(&f);
    publish_rows(f.a, "news", 4);
    publish_rows(f.a, "orders:1", 4);
    struct sse_retention *r = parse_ok("orders:* keep 0\n");
    struct sse_retention_totals t;
    ck_assert_int_eq(sse_retention_apply(r, f.a, 100, 0, NULL, NULL, &t), 0);
    ck_assert_int_eq(count_rows(f.db, "news"), 4);
    ck_assert_int_eq(count_rows(f.db, "orders:1"), 0);
    ck_assert_int_eq(t.channels, 2);
    ck_assert_int_eq(t.channels_ruled, 1);
    sse_retention_free(r);
    fixture_close(&f);
}
END_TEST

START_TEST(test_retention_apply_older_than)
{
    struct apply_fixture f;
    fixture_open(&f);
    publish_rows(f.a, "a", 5);
    publish_rows(f.a, "b", 5);
    tu_sql(f.db, "UPDATE events SET created_at = created_at - 2 * 86400000"
                 " WHERE id IN (1, 2, 3, 6)");
    struct sse_retention *r = parse_ok("* older-than 1d\n");
    struct sse_retention_totals t;
    ck_assert_int_eq(sse_retention_apply(r, f.a, 100, 0, NULL, NULL, &t), 0);
    ck_assert_int_eq(count_rows(f.db, "a"), 2);
    ck_assert_int_eq(count_rows(f.db, "b"), 4);
    sse_retention_free(r);
    fixture_close(&f);
}
END_TEST

START_TEST(test_retention_apply_dry_run_changes_nothing)
{
    struct apply_fixture f;
    fixture_open(&f);
    publish_rows(f.a, "a", 5);
    struct sse_retention *r = parse_ok("* keep 1\n");
    struct sse_retention_totals t;
    struct seen s = {0};
    ck_assert_int_eq(sse_retention_apply(r, f.a, 100, 1, record, &s, &t), 0);
    ck_assert_int_eq(count_rows(f.db, "a"), 5);
    ck_assert_int_eq(t.deleted, 0);
    ck_assert_int_eq(t.batches, 0);
    ck_assert_int_eq(s.n, 1);
    sse_retention_free(r);
    fixture_close(&f);
}
END_TEST

static int stop_at_first(const struct sse_retention_result *res, void *ctx)
{
    (void)res;
    (void)ctx;
    return 7;
}

START_TEST(test_retention_apply_callback_stops)
{
    struct apply_fixture f;
    fixture_open(&f);
    publish_rows(f.a, "a", 3);
    publish_rows(f.a, "b", 3);
    struct sse_retention *r = parse_ok("* keep 1\n");
    struct sse_retention_totals t;
    ck_assert_int_eq(
        sse_retention_apply(r, f.a, 100, 0, stop_at_first, NULL, &t), 7);
    ck_assert_int_eq(count_rows(f.db, "a"), 1);
    ck_assert_int_eq(count_rows(f.db, "b"), 3);
    ck_assert_int_eq(t.deleted, 2);
    sse_retention_free(r);
    fixture_close(&f);
}
END_TEST

static Suite *retention_suite(void)
{
    Suite *s = suite_create("retention");
    TCase *tc = tcase_create("parse");
    tcase_add_test(tc, test_retention_parse_duration_units);
    tcase_add_test(tc, test_retention_parse_duration_refused);
    tcase_add_test(tc, test_retention_parse_full_file);
    tcase_add_test(tc, test_retention_parse_empty_file_no_rules);
    tcase_add_test(tc, test_retention_parse_errors_name_the_line);
    tcase_add_test(tc, test_retention_parse_nul_refused);
    tcase_add_test(tc, test_retention_parse_too_many_rules);
    tcase_add_test(tc, test_retention_load_missing_file);
    tcase_add_test(tc, test_retention_load_reads_file);
    suite_add_tcase(s, tc);
    tc = tcase_create("find");
    tcase_add_test(tc, test_retention_find_most_specific);
    tcase_add_test(tc, test_retention_find_order_of_lines_irrelevant);
    tcase_add_test(tc, test_retention_find_no_default_rule);
    suite_add_tcase(s, tc);
    tc = tcase_create("apply");
    tcase_add_test(tc, test_retention_apply_per_channel_rules);
    tcase_add_test(tc, test_retention_apply_unmatched_channels_kept);
    tcase_add_test(tc, test_retention_apply_older_than);
    tcase_add_test(tc, test_retention_apply_dry_run_changes_nothing);
    tcase_add_test(tc, test_retention_apply_callback_stops);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run_suite(retention_suite());
}
