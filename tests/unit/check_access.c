/* check_access.c - unit tests for lib/access.c (the access decision).
 * SPDX-License-Identifier: MIT
 *
 * Tokens are signed with sse_token_sign (lib/token.c has its own tests
 * against an independent signer); the grants table is a fake source.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "access.h"
#include "buf.h"
#include "config.h"
#include "request.h"
#include "sse_error.h"
#include "testutil.h"
#include "token.h"

#define SECRET "check-access-secret-0123456789abcdef"
#define NOW_MS 1700000000000LL

static char *dir;
static struct sse_config cfg;
static struct sse_access *acc;
static struct sse_token_secrets *secrets;

/* The fake grants table: principal, pattern, expires (0: none). */
static const struct {
    const char *principal, *pattern;
    int64_t expires_ms;
} GRANTS[] = {
    {"alice", "team:red:*", 0},
    {"alice", "shared/{user}", NOW_MS + 60000},
    {"alice", "bad*pattern", 0},
    {"bob", "team:blue:*", NOW_MS + 5000},
};

static int fake_grants(void *src, const char *principal, int64_t now_ms,
                       sse_access_grant_fn fn, void *ctx)
{
    int *calls = src;
    (*calls)++;
    for (size_t i = 0; i < sizeof GRANTS / sizeof GRANTS[0]; i++) {
        int64_t exp = GRANTS[i].expires_ms ? GRANTS[i].expires_ms : INT64_MAX;
        if (strcmp(GRANTS[i].principal, principal) != 0 || exp <= now_ms)
            continue;
        int rc = fn(ctx, GRANTS[i].pattern, strlen(GRANTS[i].pattern), exp);
        if (rc)
            return rc;
    }
    return 0;
}

static int failing_grants(void *src, const char *principal, int64_t now_ms,
                          sse_access_grant_fn fn, void *ctx)
{
    (void)src, (void)principal, (void)now_ms, (void)fn, (void)ctx;
    return SSE_EBUSY;
}

static void set(const char *name, const char *value)
{
    char err[256];
    ck_assert_msg(sse_config_set(&cfg, name, value, err, sizeof err) == 0, "%s",
                  err);
}

static void setup(void)
{
    dir = tu_tmpdir_new();
    char *p = tu_path(dir, "secret");
    tu_write_file(p, SECRET "\n", sizeof SECRET);
    ck_assert_int_eq(chmod(p, 0600), 0);
    sse_config_init(&cfg);
    set("auth-secret-file", p);
    set("user-channels", "user/{user}/*");
    set("public-channels", "news,pub:*");
    char err[256];
    ck_assert_int_eq(sse_token_secrets_load(p, &secrets, err, sizeof err), 0);
    ck_assert_int_eq(sse_access_new(&cfg, &acc, err, sizeof err), 0);
    free(p);
}

static void teardown(void)
{
    sse_access_free(acc);
    sse_token_secrets_free(secrets);
    sse_config_cleanup(&cfg);
    tu_tmpdir_remove(dir);
}

/* A token for the comma-separated patterns, valid for ttl_s seconds. */
static char *mint(const char *patterns, const char *sub, int64_t ttl_s)
{
    struct sse_token_claims c = {.exp_s = NOW_MS / 1000 + ttl_s};
    for (const char *p = patterns; *p;) {
        size_t n = strcspn(p, ",");
        snprintf(c.channels[c.nchannels++], sizeof c.channels[0], "%.*s",
                 (int)n, p);
        p += n + (p[n] == ',');
    }
    if (sub) {
        c.has_sub = 1;
        snprintf(c.sub, sizeof c.sub, "%s", sub);
    }
    struct sse_buf b;
    sse_buf_init(&b, 0);
    ck_assert_int_eq(sse_token_sign(secrets, &c, NOW_MS / 1000 - 1, &b), 0);
    return sse_buf_take(&b, NULL);
}

struct req {
    struct sse_request_vars v;
    struct sse_request r;
    char query[10000];
    char cookie[10000];
    char auth[10000];
};

static void build(struct req *q, const char *query)
{
    memset(&q->v, 0, sizeof q->v);
    q->v.method = "GET";
    snprintf(q->query, sizeof q->query, "%s", query);
    q->v.query = q->query;
    q->v.host = "example.org";
    struct sse_request_error err;
    ck_assert_int_eq(sse_request_parse(&q->v, &q->r, &err), 0);
}

static struct sse_access_decision decide(struct req *q, int *calls)
{
    struct sse_access_decision d;
    int dummy = 0;
    ck_assert_int_eq(sse_access_decide(acc, &q->r, &q->v, NOW_MS, fake_grants,
                                       calls ? calls : &dummy, &d),
                     0);
    ck_assert_ptr_null(strchr(d.reason, '\n'));
    return d;
}

START_TEST(test_access_disabled_allows_all)
{
    struct sse_config off;
    struct sse_access *a = NULL;
    char err[64];
    sse_config_init(&off);
    ck_assert_int_eq(sse_access_new(&off, &a, err, sizeof err), 0);
    ck_assert_int_eq(sse_access_enabled(a), 0);
    struct req q;
    build(&q, "channel=*");
    struct sse_access_decision d;
    ck_assert_int_eq(sse_access_decide(a, &q.r, &q.v, NOW_MS, NULL, NULL, &d),
                     0);
    ck_assert_int_eq(d.status, 0);
    ck_assert_int_eq(d.until_ms, INT64_MAX);
    sse_access_free(a);
}
END_TEST

START_TEST(test_access_public_without_credential)
{
    struct req q;
    build(&q, "channel=news&channel=pub:x&channel=pub:*");
    struct sse_access_decision d = decide(&q, NULL);
    ck_assert_int_eq(d.status, 0);
    ck_assert_int_eq(d.until_ms, INT64_MAX);
    build(&q, "channel=news&channel=secret");
    d = decide(&q, NULL);
    ck_assert_int_eq(d.status, 401);
    ck_assert_int_eq(d.refusal, SSE_REFUSED_NO_CREDENTIAL);
    ck_assert_ptr_nonnull(strstr(d.reason, "secret"));
}
END_TEST

START_TEST(test_access_token_sources_in_order)
{
    char *good = mint("orders/*", NULL, 60);
    struct req q;
    build(&q, "channel=orders/7");
    snprintf(q.cookie, sizeof q.cookie, "x=1; sselite_token=\"%s\"", good);
    q.v.cookie = q.cookie;
    struct sse_access_decision d = decide(&q, NULL);
    ck_assert_int_eq(d.status, 0);
    ck_assert_int_eq(d.token_used, 1);
    ck_assert_int_eq(d.until_ms, NOW_MS + 60000);
    /* The cookie wins over a query token and a header. */
    snprintf(q.query, sizeof q.query, "channel=orders/7&token=%s", good);
    q.v.query = q.query;
    snprintf(q.cookie, sizeof q.cookie, "sselite_token=nonsense");
    snprintf(q.auth, sizeof q.auth, "Bearer %s", good);
    q.v.authorization = q.auth;
    d = decide(&q, NULL);
    ck_assert_int_eq(d.status, 403);
    ck_assert_int_eq(d.refusal, SSE_REFUSED_BAD_TOKEN);
    /* Without the cookie, the query; without both, the header. */
    q.v.cookie = NULL;
    ck_assert_int_eq(decide(&q, NULL).status, 0);
    q.v.query = "channel=orders/7";
    ck_assert_int_eq(decide(&q, NULL).status, 0);
    snprintf(q.auth, sizeof q.auth, "Basic YWxpY2U6cHc=");
    ck_assert_int_eq(decide(&q, NULL).status, 401); /* not a token */
    free(good);
}
END_TEST

START_TEST(test_access_token_refusals)
{
    char *expired = mint("news", NULL, 1);
    struct req q;
    build(&q, "channel=news");
    snprintf(q.auth, sizeof q.auth, "Bearer %s", expired);
    q.v.authorization = q.auth;
    struct sse_access_decision d;
    ck_assert_int_eq(sse_access_decide(acc, &q.r, &q.v, NOW_MS + 1000,
                                       fake_grants, &(int){0}, &d),
                     0);
    /* Public, yet refused: never a fall-back to anonymous. */
    ck_assert_int_eq(d.status, 403);
    ck_assert_int_eq(d.refusal, SSE_REFUSED_EXPIRED);
    /* Too long for any source. */
    memset(q.auth + 7, 'a', SSE_TOKEN_MAX + 1);
    q.auth[7 + SSE_TOKEN_MAX + 1] = '\0';
    d = decide(&q, NULL);
    ck_assert_int_eq(d.refusal, SSE_REFUSED_BAD_TOKEN);
    free(expired);
}
END_TEST

START_TEST(test_access_token_patterns_and_user)
{
    char *tok = mint("user/{user}/*,orders:*", "42", 60);
    struct req q;
    build(&q, "channel=user/42/*&channel=orders:1&channel=orders:*");
    snprintf(q.query + strlen(q.query), sizeof q.query - strlen(q.query),
             "&token=%s", tok);
    q.v.query = q.query;
    ck_assert_int_eq(decide(&q, NULL).status, 0);
    static const char *const refused[] = {"channel=user/4/x", "channel=user/*",
                                          "channel=user/42", "channel=*",
                                          "channel=orders"};
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        snprintf(q.query, sizeof q.query, "%s&token=%s", refused[i], tok);
        struct sse_request_error err;
        ck_assert_int_eq(sse_request_parse(&q.v, &q.r, &err), 0);
        struct sse_access_decision d = decide(&q, NULL);
        ck_assert_msg(d.status == 403 && d.refusal == SSE_REFUSED_NOT_GRANTED,
                      "%s: %d %s", refused[i], d.status, d.reason);
    }
    free(tok);
}
END_TEST

START_TEST(test_access_remote_user_channels_and_grants)
{
    struct req q;
    int calls = 0;
    build(&q, "channel=user/alice/*&channel=team:red:x&channel=shared/alice");
    q.v.remote_user = "alice";
    struct sse_access_decision d = decide(&q, &calls);
    ck_assert_int_eq(d.status, 0);
    ck_assert_int_eq(calls, 1);
    /* The earliest grant in use ends the stream: shared/alice's. */
    ck_assert_int_eq(d.until_ms, NOW_MS + 60000);
    build(&q, "channel=team:blue:x");
    q.v.remote_user = "alice";
    d = decide(&q, NULL);
    ck_assert_int_eq(d.status, 403);
    ck_assert_int_eq(d.refusal, SSE_REFUSED_NOT_GRANTED);
    /* A user name that is no channel fragment gets nothing from {user}. */
    build(&q, "channel=user/a/b/x");
    q.v.remote_user = "a/b";
    ck_assert_int_eq(decide(&q, NULL).status, 403);
    /* An expired grant is not listed. */
    build(&q, "channel=team:blue:x");
    q.v.remote_user = "bob";
    struct sse_access_decision d2;
    ck_assert_int_eq(sse_access_decide(acc, &q.r, &q.v, NOW_MS + 5000,
                                       fake_grants, &calls, &d2),
                     0);
    ck_assert_int_eq(d2.status, 403);
}
END_TEST

START_TEST(test_access_union_of_sources)
{
    /* A token for one channel, the web server's user for another, a
     * public third: together they cover the request. */
    char *tok = mint("a:*", NULL, 30);
    struct req q;
    build(&q, "channel=a:1&channel=user/bob/x&channel=news");
    snprintf(q.query + strlen(q.query), sizeof q.query - strlen(q.query),
             "&token=%s", tok);
    q.v.remote_user = "bob";
    struct sse_access_decision d = decide(&q, NULL);
    ck_assert_int_eq(d.status, 0);
    ck_assert_int_eq(d.until_ms, NOW_MS + 30000); /* the token's exp */
    free(tok);
}
END_TEST

START_TEST(test_access_csrf_ambient_credentials)
{
    char *tok = mint("a:*", NULL, 30);
    struct req q;
    build(&q, "channel=a:1");
    snprintf(q.cookie, sizeof q.cookie, "sselite_token=%s", tok);
    q.v.cookie = q.cookie;
    q.v.origin = "https://evil.example";
    struct sse_access_decision d = decide(&q, NULL);
    ck_assert_int_eq(d.refusal, SSE_REFUSED_ORIGIN);
    q.v.origin = "http://example.org"; /* same origin */
    ck_assert_int_eq(decide(&q, NULL).status, 0);
    build(&q, "channel=user/bob/x");
    q.v.remote_user = "bob";
    q.v.origin = "https://evil.example";
    ck_assert_int_eq(decide(&q, NULL).refusal, SSE_REFUSED_ORIGIN);
    free(tok);
}
END_TEST

START_TEST(test_access_grants_fault_is_an_error)
{
    struct req q;
    build(&q, "channel=x");
    q.v.remote_user = "alice";
    struct sse_access_decision d;
    ck_assert_int_eq(
        sse_access_decide(acc, &q.r, &q.v, NOW_MS, failing_grants, NULL, &d),
        SSE_EBUSY);
}
END_TEST

START_TEST(test_access_new_refuses_bad_secret_file)
{
    struct sse_config c;
    struct sse_access *a = NULL;
    char err[256];
    sse_config_init(&c);
    char *p = tu_path(dir, "missing");
    ck_assert_int_eq(sse_config_set(&c, "auth-secret-file", p, err, sizeof err),
                     0);
    ck_assert_int_ne(sse_access_new(&c, &a, err, sizeof err), 0);
    ck_assert_ptr_null(a);
    ck_assert_ptr_nonnull(strstr(err, p));
    free(p);
    sse_config_cleanup(&c);
}
END_TEST

static Suite *access_suite(void)
{
    Suite *s = suite_create("access");
    TCase *tc = tcase_create("decide");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_access_disabled_allows_all);
    tcase_add_test(tc, test_access_public_without_credential);
    tcase_add_test(tc, test_access_token_sources_in_order);
    tcase_add_test(tc, test_access_token_refusals);
    tcase_add_test(tc, test_access_token_patterns_and_user);
    tcase_add_test(tc, test_access_remote_user_channels_and_grants);
    tcase_add_test(tc, test_access_union_of_sources);
    tcase_add_test(tc, test_access_csrf_ambient_credentials);
    tcase_add_test(tc, test_access_grants_fault_is_an_error);
    tcase_add_test(tc, test_access_new_refuses_bad_secret_file);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run_suite(access_suite());
}
