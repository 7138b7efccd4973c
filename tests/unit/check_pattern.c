/* check_pattern.c - unit tests for lib/pattern.c (channel patterns).
 * SPDX-License-Identifier: MIT
 */
#include <check.h>
#include <string.h>

#include "pattern.h"
#include "sse_error.h"
#include "testutil.h"

static int parse(const char *p, enum sse_pattern_kind *kind)
{
    return sse_pattern_parse(p, strlen(p), kind);
}

static int match(const char *p, const char *channel)
{
    return sse_pattern_match(p, strlen(p), channel, strlen(channel));
}

static size_t spec(const char *p)
{
    return sse_pattern_specificity(p, strlen(p));
}

START_TEST(test_pattern_parse_kinds)
{
    enum sse_pattern_kind k;
    ck_assert_int_eq(parse("*", &k), 0);
    ck_assert_int_eq(k, SSE_PATTERN_ALL);
    ck_assert_int_eq(parse("news", &k), 0);
    ck_assert_int_eq(k, SSE_PATTERN_EXACT);
    ck_assert_int_eq(parse("orders:*", &k), 0);
    ck_assert_int_eq(k, SSE_PATTERN_PREFIX);
    ck_assert_int_eq(parse("user/42/*", &k), 0);
    ck_assert_int_eq(k, SSE_PATTERN_PREFIX);
    ck_assert_int_eq(parse("/*", &k), 0);
    ck_assert_int_eq(k, SSE_PATTERN_PREFIX);
}
END_TEST

START_TEST(test_pattern_parse_refused)
{
    static const char *const bad[] = {
        "",         /* empty */
        "user/4*",  /* '*' not after '/' or ':' */
        "user*",    /* idem */
        "a/*/b",    /* '*' inside */
        "**",       /* two stars */
        "*:",       /* star first */
        "a b",      /* a byte no channel holds */
        "news?",    /* idem */
        "a/[x]/*",  /* no globs */
        "user/*/*", /* star before the end */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        enum sse_pattern_kind k = (enum sse_pattern_kind)99;
        ck_assert_msg(parse(bad[i], &k) == SSE_EINVAL, "'%s' accepted", bad[i]);
        ck_assert_int_eq(k, 99); /* untouched on failure */
    }
    enum sse_pattern_kind k;
    ck_assert_int_eq(sse_pattern_parse(NULL, 0, &k), SSE_EINVAL);
}
END_TEST

START_TEST(test_pattern_parse_length_limits)
{
    char p[SSE_PATTERN_MAX + 2];
    enum sse_pattern_kind k;
    /* An exact name of 128 bytes, the channel limit. */
    memset(p, 'a', SSE_PATTERN_MAX);
    ck_assert_int_eq(sse_pattern_parse(p, SSE_PATTERN_MAX, &k), 0);
    ck_assert_int_eq(k, SSE_PATTERN_EXACT);
    /* A prefix of 127 bytes plus '*' is 128. */
    p[SSE_PATTERN_MAX - 2] = '/';
    p[SSE_PATTERN_MAX - 1] = '*';
    ck_assert_int_eq(sse_pattern_parse(p, SSE_PATTERN_MAX, &k), 0);
    ck_assert_int_eq(k, SSE_PATTERN_PREFIX);
    /* One byte more is refused either way. */
    memset(p, 'a', SSE_PATTERN_MAX + 1);
    ck_assert_int_eq(sse_pattern_parse(p, SSE_PATTERN_MAX + 1, &k), SSE_EINVAL);
    p[SSE_PATTERN_MAX - 1] = '/';
    p[SSE_PATTERN_MAX] = '*';
    ck_assert_int_eq(sse_pattern_parse(p, SSE_PATTERN_MAX + 1, &k), SSE_EINVAL);
}
END_TEST

START_TEST(test_pattern_parse_len_honoured)
{
    enum sse_pattern_kind k;
    /* Only the first len bytes count: "orders:*" cut to "orders:". */
    ck_assert_int_eq(sse_pattern_parse("orders:*", 7, &k), 0);
    ck_assert_int_eq(k, SSE_PATTERN_EXACT);
    ck_assert_int_eq(sse_pattern_parse("*x", 1, &k), 0);
    ck_assert_int_eq(k, SSE_PATTERN_ALL);
}
END_TEST

START_TEST(test_pattern_match_exact)
{
    ck_assert_int_eq(match("news", "news"), 1);
    ck_assert_int_eq(match("news", "news2"), 0);
    ck_assert_int_eq(match("news", "new"), 0);
    ck_assert_int_eq(match("news", "News"), 0);
}
END_TEST

START_TEST(test_pattern_match_prefix)
{
    ck_assert_int_eq(match("user/42/*", "user/42/inbox"), 1);
    ck_assert_int_eq(match("user/42/*", "user/42/a/b"), 1);
    ck_assert_int_eq(match("user/42/*", "user/42/"), 1);
    ck_assert_int_eq(match("user/42/*", "user/42"), 0);
    ck_assert_int_eq(match("user/42/*", "user/420/x"), 0);
    ck_assert_int_eq(match("user/42/*", "xuser/42/x"), 0);
    ck_assert_int_eq(match("orders:*", "orders:7"), 1);
    ck_assert_int_eq(match("orders:*", "orders"), 0);
    ck_assert_int_eq(match("orders:*", "orders/7"), 0);
}
END_TEST

START_TEST(test_pattern_match_all)
{
    ck_assert_int_eq(match("*", "a"), 1);
    ck_assert_int_eq(match("*", "user/42/inbox"), 1);
}
END_TEST

START_TEST(test_pattern_match_len_honoured)
{
    /* The channel is "user/42" (7 bytes), not the longer string. */
    ck_assert_int_eq(sse_pattern_match("user/42/*", 9, "user/42/x", 7), 0);
    ck_assert_int_eq(sse_pattern_match("news", 4, "newsroom", 4), 1);
}
END_TEST

START_TEST(test_pattern_specificity_order)
{
    ck_assert_uint_eq(spec("*"), 0);
    ck_assert_uint_lt(spec("*"), spec("user/*"));
    ck_assert_uint_lt(spec("user/*"), spec("user/42/*"));
    ck_assert_uint_lt(spec("user/42/*"), spec("user/42/inbox"));
    /* An exact name beats the longest possible prefix. */
    char p[SSE_PATTERN_MAX + 1];
    memset(p, 'a', SSE_PATTERN_MAX);
    p[SSE_PATTERN_MAX - 2] = '/';
    p[SSE_PATTERN_MAX - 1] = '*';
    ck_assert_uint_lt(sse_pattern_specificity(p, SSE_PATTERN_MAX), spec("a"));
}
END_TEST

/* Property: for every channel, the matching patterns of a set have
 * distinct specificities, so "the most specific wins" is well defined. */
START_TEST(test_pattern_specificity_distinct_among_matches)
{
    static const char *const pats[] = {"*",       "a/*",   "a/b/*", "a/b/c",
                                       "a:*",     "a:b:*", "a:b",   "a/b:*",
                                       "a/b:c/*", "b"};
    static const char *const chans[] = {"a/b/c",   "a/b/d", "a:b:c", "a:b",
                                        "a/b:c/d", "b",     "c",     "a/"};
    size_t np = sizeof pats / sizeof pats[0];
    for (size_t c = 0; c < sizeof chans / sizeof chans[0]; c++)
        for (size_t i = 0; i < np; i++)
            for (size_t j = i + 1; j < np; j++)
                if (match(pats[i], chans[c]) && match(pats[j], chans[c]))
                    ck_assert_msg(spec(pats[i]) != spec(pats[j]),
                                  "%s and %s tie on %s", pats[i], pats[j],
                                  chans[c]);
}
END_TEST

static int covers(const char *a, const char *b)
{
    return sse_pattern_covers(a, strlen(a), b, strlen(b));
}

START_TEST(test_pattern_covers_table)
{
    static const struct {
        const char *a, *b;
        int want;
    } cases[] = {
        {"*", "*", 1},
        {"*", "user/*", 1},
        {"*", "news", 1},
        {"user/*", "*", 0},
        {"news", "*", 0},
        {"user/*", "user/*", 1},
        {"user/*", "user/42/*", 1},
        {"user/*", "user/42", 1},
        {"user/*", "user/", 1},
        {"user/*", "user", 0},
        {"user/*", "users/*", 0},
        {"user/4/*", "user/42/*", 0}, /* shares a prefix, not the separator */
        {"user/4/*", "user/42/x", 0},
        {"user/42/*", "user/4/*", 0},
        {"user/42/*", "user/*", 0},
        {"user/*", "user:*", 0},
        {"a:*", "a:b/*", 1},
        {"news", "news", 1},
        {"news", "news2", 0},
        {"user/42/", "user/42/*", 0}, /* a name never covers a prefix */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        ck_assert_msg(covers(cases[i].a, cases[i].b) == cases[i].want,
                      "covers(%s, %s) != %d", cases[i].a, cases[i].b,
                      cases[i].want);
}
END_TEST

/* Property: a covers b iff every channel b matches, a matches too (over a
 * set of channels that exercises each boundary). */
START_TEST(test_pattern_covers_agrees_with_match)
{
    static const char *const pats[] = {"*",     "a/*", "a/b/*", "a/b",    "a:*",
                                       "a:b:*", "a:b", "a/",    "a/bc/*", "b"};
    static const char *const chans[] = {"a/b",  "a/b/c", "a/bc/d", "a/",
                                        "a:b",  "a:b:c", "b",      "a",
                                        "a/bc", "a/b/"};
    size_t np = sizeof pats / sizeof pats[0];
    size_t nc = sizeof chans / sizeof chans[0];
    for (size_t i = 0; i < np; i++)
        for (size_t j = 0; j < np; j++) {
            if (!covers(pats[i], pats[j]))
                continue;
            for (size_t c = 0; c < nc; c++)
                ck_assert_msg(
                    !match(pats[j], chans[c]) || match(pats[i], chans[c]),
                    "%s covers %s but not %s", pats[i], pats[j], chans[c]);
        }
}
END_TEST

static int expand(const char *t, const char *user, char *out, size_t cap)
{
    size_t n = 0;
    int rc = sse_pattern_expand(t, strlen(t), user, user ? strlen(user) : 0,
                                out, cap, &n);
    if (rc == 0)
        ck_assert_uint_eq(n, strlen(out));
    return rc;
}

START_TEST(test_pattern_user_valid)
{
    ck_assert_int_eq(sse_pattern_user_valid("alice", 5), 1);
    ck_assert_int_eq(sse_pattern_user_valid("a.b-c_d@example.com", 19), 1);
    ck_assert_int_eq(sse_pattern_user_valid("42/x", 4), 0); /* separator */
    ck_assert_int_eq(sse_pattern_user_valid("a:b", 3), 0);
    ck_assert_int_eq(sse_pattern_user_valid("a b", 3), 0);
    ck_assert_int_eq(sse_pattern_user_valid("", 0), 0);
    ck_assert_int_eq(sse_pattern_user_valid("{user}", 6), 0);
}
END_TEST

START_TEST(test_pattern_expand_user)
{
    char out[SSE_PATTERN_MAX + 1];
    ck_assert_int_eq(expand("user/{user}/*", "42", out, sizeof out), 0);
    ck_assert_str_eq(out, "user/42/*");
    ck_assert_int_eq(expand("{user}:{user}", "a", out, sizeof out), 0);
    ck_assert_str_eq(out, "a:a");
    ck_assert_int_eq(expand("news", NULL, out, sizeof out), 0);
    ck_assert_str_eq(out, "news");
    /* A user that is no fragment, or none, makes the template grant
     * nothing. */
    ck_assert_int_eq(expand("user/{user}/*", "42/x", out, sizeof out),
                     SSE_EINVAL);
    ck_assert_int_eq(expand("user/{user}/*", NULL, out, sizeof out),
                     SSE_EINVAL);
    ck_assert_int_eq(expand("user/{user}/*", "", out, sizeof out), SSE_EINVAL);
    /* Too long once expanded. */
    char big[SSE_PATTERN_MAX + 1];
    memset(big, 'u', SSE_PATTERN_MAX);
    big[SSE_PATTERN_MAX] = '\0';
    ck_assert_int_eq(expand("user/{user}", big, out, sizeof out), SSE_EINVAL);
}
END_TEST

START_TEST(test_pattern_template_valid)
{
    static const char *const good[] = {"user/{user}/*", "{user}",
                                       "news",          "*",
                                       "chat:{user}:*", "a/{user}{user}"};
    static const char *const bad[] = {"user/{user}*", "{user}*", "{usr}",
                                      "user/{user",   "*{user}", ""};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
        ck_assert_msg(sse_pattern_template_valid(good[i], strlen(good[i])),
                      "%s refused", good[i]);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        ck_assert_msg(!sse_pattern_template_valid(bad[i], strlen(bad[i])),
                      "%s accepted", bad[i]);
}
END_TEST

static Suite *pattern_suite(void)
{
    Suite *s = suite_create("pattern");
    TCase *tc = tcase_create("parse");
    tcase_add_test(tc, test_pattern_parse_kinds);
    tcase_add_test(tc, test_pattern_parse_refused);
    tcase_add_test(tc, test_pattern_parse_length_limits);
    tcase_add_test(tc, test_pattern_parse_len_honoured);
    suite_add_tcase(s, tc);
    tc = tcase_create("match");
    tcase_add_test(tc, test_pattern_match_exact);
    tcase_add_test(tc, test_pattern_match_prefix);
    tcase_add_test(tc, test_pattern_match_all);
    tcase_add_test(tc, test_pattern_match_len_honoured);
    tcase_add_test(tc, test_pattern_specificity_order);
    tcase_add_test(tc, test_pattern_specificity_distinct_among_matches);
    tcase_add_test(tc, test_pattern_covers_table);
    tcase_add_test(tc, test_pattern_covers_agrees_with_match);
    tcase_add_test(tc, test_pattern_user_valid);
    tcase_add_test(tc, test_pattern_expand_user);
    tcase_add_test(tc, test_pattern_template_valid);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run_suite(pattern_suite());
}
