/* check_response.c - unit tests for lib/response.c (CGI response headers).
 * SPDX-License-Identifier: MIT
 *
 * Every answer is checked as a whole: a "Status:" line, header lines each
 * ended by CRLF, one blank line, then the body (if any). CORS follows the
 * Fetch rules: an allowed origin is echoed exactly with "Vary: Origin",
 * "*" is never sent together with credentials.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "buf.h"
#include "config.h"
#include "request.h"
#include "response.h"
#include "sse_error.h"
#include "testutil.h"

/* --- fixture: a default config and an empty output buffer per test --- */

static struct sse_config C;
static struct sse_buf B;

static void setup(void)
{
    sse_config_init(&C);
    sse_buf_init(&B, 0);
}

static void teardown(void)
{
    sse_buf_cleanup(&B);
    sse_config_cleanup(&C);
}

/* --- helpers --- */

static void cfg_set(struct sse_config *c, const char *name, const char *value)
{
    char err[200];
    int rc = sse_config_set(c, name, value, err, sizeof err);
    ck_assert_msg(rc == 0, "sse_config_set(%s, %s): %s", name, value, err);
}

static struct sse_request_vars vars_get(const char *origin, const char *host)
{
    struct sse_request_vars v;
    memset(&v, 0, sizeof v);
    v.method = "GET";
    v.origin = origin;
    v.host = host;
    return v;
}

/* Length of the header block including its terminating blank line; fails
 * the test when there is none or when a header line is not CRLF-ended. */
static size_t header_len(const struct sse_buf *b)
{
    ck_assert_ptr_nonnull(b->data);
    const char *end = strstr(b->data, "\r\n\r\n");
    ck_assert_msg(end != NULL, "no blank line ends the headers: '%s'", b->data);
    size_t n = (size_t)(end - b->data) + 4;
    for (size_t i = 0; i < n; i++)
        if (b->data[i] == '\n')
            ck_assert_msg(i > 0 && b->data[i - 1] == '\r',
                          "bare LF in headers at %zu: '%s'", i, b->data);
    return n;
}

/* The body after the header block, as a C string (borrowed from b). */
static const char *body_of(const struct sse_buf *b)
{
    return b->data + header_len(b);
}

/* Counts header lines named name (case-insensitive) and copies the value
 * of the last one into val (capacity cap) when val is not NULL. */
static int header_count(const struct sse_buf *b, const char *name, char *val,
                        size_t cap)
{
    size_t hl = header_len(b);
    size_t nl = strlen(name);
    int count = 0;
    const char *p = strstr(b->data, "\r\n") + 2; /* skip the status line */
    while (p < b->data + hl - 2) {
        const char *eol = strstr(p, "\r\n");
        if (strncasecmp(p, name, nl) == 0 && p[nl] == ':') {
            count++;
            if (val) {
                const char *v = p + nl + 1;
                while (*v == ' ')
                    v++;
                int w = snprintf(val, cap, "%.*s", (int)(eol - v), v);
                ck_assert(w >= 0 && (size_t)w < cap);
            }
        }
        p = eol + 2;
    }
    return count;
}

/* Asserts exactly one header name with exactly this value. */
static void assert_header(const struct sse_buf *b, const char *name,
                          const char *want)
{
    char val[512];
    int n = header_count(b, name, val, sizeof val);
    ck_assert_msg(n == 1, "%d '%s' headers in '%s'", n, name, b->data);
    ck_assert_str_eq(val, want);
}

static void assert_no_header(const struct sse_buf *b, const char *name)
{
    int n = header_count(b, name, NULL, 0);
    ck_assert_msg(n == 0, "unexpected '%s' header in '%s'", name, b->data);
}

static void assert_status(const struct sse_buf *b, const char *line)
{
    size_t n = strlen(line);
    ck_assert_msg(strncmp(b->data, line, n) == 0 && b->data[n] == '\r',
                  "status line is not '%s': '%s'", line, b->data);
}

/* Fetch: never "*" with credentials; an exact origin comes with Vary. */
static void assert_cors_consistent(const struct sse_buf *b)
{
    char acao[512];
    if (header_count(b, "Access-Control-Allow-Origin", acao, sizeof acao) ==
        0) {
        assert_no_header(b, "Access-Control-Allow-Credentials");
        return;
    }
    if (strcmp(acao, "*") == 0) {
        assert_no_header(b, "Access-Control-Allow-Credentials");
    } else {
        assert_header(b, "Vary", "Origin");
    }
}

/* --- sse_response_reason --- */

START_TEST(test_response_reason_known)
{
    ck_assert_str_eq(sse_response_reason(200), "OK");
    ck_assert_str_eq(sse_response_reason(204), "No Content");
    ck_assert_str_eq(sse_response_reason(400), "Bad Request");
    ck_assert_str_eq(sse_response_reason(403), "Forbidden");
    ck_assert_str_eq(sse_response_reason(404), "Not Found");
    ck_assert_str_eq(sse_response_reason(405), "Method Not Allowed");
    ck_assert_str_eq(sse_response_reason(414), "URI Too Long");
    ck_assert_str_eq(sse_response_reason(500), "Internal Server Error");
    ck_assert_str_eq(sse_response_reason(503), "Service Unavailable");
}
END_TEST

START_TEST(test_response_reason_unknown)
{
    ck_assert_str_eq(sse_response_reason(299), "Unknown");
    ck_assert_str_eq(sse_response_reason(0), "Unknown");
    ck_assert_str_eq(sse_response_reason(-1), "Unknown");
}
END_TEST

/* --- sse_response_stream_headers --- */

START_TEST(test_response_stream_headers_event_stream)
{
    struct sse_request_vars v = vars_get(NULL, "example.com");
    ck_assert_int_eq(sse_response_stream_headers(&B, &C, &v, SSE_CORS_NONE, 0),
                     0);
    assert_status(&B, "Status: 200 OK");
    assert_header(&B, "Content-Type", "text/event-stream; charset=utf-8");
    assert_header(&B, "Cache-Control", "no-cache");
    assert_header(&B, "X-Accel-Buffering", "no");
    assert_no_header(&B, "Access-Control-Allow-Origin");
    assert_no_header(&B, "Vary");
    /* Headers only: the block ends with the blank line, nothing after. */
    ck_assert_uint_eq(header_len(&B), B.len);
    ck_assert_str_eq(body_of(&B), "");
}
END_TEST

START_TEST(test_response_stream_headers_longpoll_text_plain)
{
    struct sse_request_vars v = vars_get(NULL, NULL);
    ck_assert_int_eq(sse_response_stream_headers(&B, &C, &v, SSE_CORS_NONE, 1),
                     0);
    assert_status(&B, "Status: 200 OK");
    assert_header(&B, "Content-Type", "text/plain; charset=utf-8");
    assert_header(&B, "Cache-Control", "no-cache");
    ck_assert_uint_eq(header_len(&B), B.len);
}
END_TEST

START_TEST(test_response_stream_headers_appends)
{
    struct sse_request_vars v = vars_get(NULL, NULL);
    ck_assert_int_eq(sse_buf_append_str(&B, "keep"), 0);
    ck_assert_int_eq(sse_response_stream_headers(&B, &C, &v, SSE_CORS_NONE, 0),
                     0);
    ck_assert_int_eq(strncmp(B.data, "keepStatus: 200 OK\r\n", 20), 0);
}
END_TEST

START_TEST(test_response_stream_headers_buffer_limit)
{
    struct sse_request_vars v = vars_get(NULL, NULL);
    struct sse_buf small;
    sse_buf_init(&small, 16);
    ck_assert_int_eq(
        sse_response_stream_headers(&small, &C, &v, SSE_CORS_NONE, 0),
        SSE_ETOOBIG);
    sse_buf_cleanup(&small);
}
END_TEST

/* --- sse_response_cors --- */

/* Classifies a request under cors-origins = origins (NULL: not set). */
static int classify(const char *origins, const char *origin, const char *host,
                    const char *https)
{
    if (origins)
        cfg_set(&C, "cors-origins", origins);
    struct sse_request_vars v = vars_get(origin, host);
    v.https = https;
    return sse_response_cors(&C, &v);
}

#define APP "https://app.example"

START_TEST(test_response_cors_no_origin_none)
{
    ck_assert_int_eq(classify(APP, NULL, "api.example", NULL), SSE_CORS_NONE);
}
END_TEST

START_TEST(test_response_cors_not_configured_none)
{
    ck_assert_int_eq(
        classify(NULL, "https://evil.example", "api.example", NULL),
        SSE_CORS_NONE);
}
END_TEST

START_TEST(test_response_cors_exact_allowed)
{
    const char *list = "https://a.example,https://b.example:8443";
    ck_assert_int_eq(classify(list, "https://b.example:8443", "x", NULL),
                     SSE_CORS_ALLOW);
    ck_assert_int_eq(classify(list, "https://a.example", "x", NULL),
                     SSE_CORS_ALLOW);
}
END_TEST

START_TEST(test_response_cors_star_allows_any)
{
    ck_assert_int_eq(classify("*", "https://any.example", "x", NULL),
                     SSE_CORS_ALLOW);
    ck_assert_int_eq(classify("*", "null", "x", NULL), SSE_CORS_ALLOW);
}
END_TEST

START_TEST(test_response_cors_same_origin_http_none)
{
    ck_assert_int_eq(
        classify(APP, "http://api.example:8080", "api.example:8080", NULL),
        SSE_CORS_NONE);
    /* Host names compare case-insensitively. */
    ck_assert_int_eq(
        classify(APP, "http://api.example:8080", "API.Example:8080", NULL),
        SSE_CORS_NONE);
}
END_TEST

START_TEST(test_response_cors_same_origin_https_none)
{
    ck_assert_int_eq(classify(APP, "https://api.example", "api.example", "on"),
                     SSE_CORS_NONE);
    ck_assert_int_eq(classify(APP, "https://api.example", "api.example", "ON"),
                     SSE_CORS_NONE);
}
END_TEST

START_TEST(test_response_cors_scheme_mismatch_denied)
{
    /* An https origin, but the request came over plain HTTP. */
    ck_assert_int_eq(classify(APP, "https://api.example", "api.example", NULL),
                     SSE_CORS_DENY);
    ck_assert_int_eq(classify(APP, "https://api.example", "api.example", "off"),
                     SSE_CORS_DENY);
    /* An http origin over TLS. */
    ck_assert_int_eq(classify(APP, "http://api.example", "api.example", "on"),
                     SSE_CORS_DENY);
}
END_TEST

START_TEST(test_response_cors_other_origin_denied)
{
    /* Exact match only: no prefix, suffix, case or trailing-slash games. */
    static const char *const bad[] = {
        "https://evil.example",
        "https://app.example.evil.example",
        "https://APP.example",
        "https://app.example/",
        "http://app.example",
        "https://app.example\r\nX-Injected: 1",
        "",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        ck_assert_msg(classify(APP, bad[i], "api.example", NULL) ==
                          SSE_CORS_DENY,
                      "origin '%s' not denied", bad[i]);
}
END_TEST

START_TEST(test_response_cors_no_host_denied)
{
    ck_assert_int_eq(classify(APP, "http://api.example", NULL, NULL),
                     SSE_CORS_DENY);
}
END_TEST

/* --- CORS headers --- */

START_TEST(test_response_stream_headers_cors_exact_origin)
{
    cfg_set(&C, "cors-origins", "https://a.example,https://b.example");
    struct sse_request_vars v = vars_get("https://b.example", "api.example");
    int cors = sse_response_cors(&C, &v);
    ck_assert_int_eq(cors, SSE_CORS_ALLOW);
    ck_assert_int_eq(sse_response_stream_headers(&B, &C, &v, cors, 0), 0);
    assert_header(&B, "Access-Control-Allow-Origin", "https://b.example");
    assert_header(&B, "Vary", "Origin");
    assert_no_header(&B, "Access-Control-Allow-Credentials");
    assert_header(&B, "Content-Type", "text/event-stream; charset=utf-8");
    ck_assert_uint_eq(header_len(&B), B.len);
}
END_TEST

START_TEST(test_response_stream_headers_cors_credentials)
{
    cfg_set(&C, "cors-origins", "https://app.example");
    cfg_set(&C, "cors-credentials", "1");
    struct sse_request_vars v = vars_get("https://app.example", "api.example");
    ck_assert_int_eq(
        sse_response_stream_headers(&B, &C, &v, sse_response_cors(&C, &v), 0),
        0);
    assert_header(&B, "Access-Control-Allow-Origin", "https://app.example");
    assert_header(&B, "Vary", "Origin");
    assert_header(&B, "Access-Control-Allow-Credentials", "true");
    assert_cors_consistent(&B);
}
END_TEST

START_TEST(test_response_stream_headers_cors_star)
{
    cfg_set(&C, "cors-origins", "*");
    struct sse_request_vars v = vars_get("https://x.example", "api.example");
    ck_assert_int_eq(
        sse_response_stream_headers(&B, &C, &v, sse_response_cors(&C, &v), 0),
        0);
    assert_header(&B, "Access-Control-Allow-Origin", "*");
    assert_no_header(&B, "Access-Control-Allow-Credentials");
}
END_TEST

/* sse_config_validate refuses "*" with credentials; even if a caller skips
 * it, the headers must never pair "*" with credentials. */
START_TEST(test_response_stream_headers_cors_star_never_credentials)
{
    cfg_set(&C, "cors-origins", "*");
    cfg_set(&C, "cors-credentials", "1");
    struct sse_request_vars v = vars_get("https://x.example", "api.example");
    ck_assert_int_eq(sse_response_stream_headers(&B, &C, &v, SSE_CORS_ALLOW, 0),
                     0);
    assert_cors_consistent(&B);
    assert_no_header(&B, "Access-Control-Allow-Credentials");
}
END_TEST

START_TEST(test_response_stream_headers_cors_none_no_headers)
{
    cfg_set(&C, "cors-origins", "https://app.example");
    cfg_set(&C, "cors-credentials", "1");
    /* Same-origin request: no Access-Control-* at all. */
    struct sse_request_vars v = vars_get("http://api.example", "api.example");
    int cors = sse_response_cors(&C, &v);
    ck_assert_int_eq(cors, SSE_CORS_NONE);
    ck_assert_int_eq(sse_response_stream_headers(&B, &C, &v, cors, 0), 0);
    assert_no_header(&B, "Access-Control-Allow-Origin");
    assert_no_header(&B, "Access-Control-Allow-Credentials");
    assert_no_header(&B, "Vary");
}
END_TEST

START_TEST(test_response_stream_headers_longpoll_cors)
{
    cfg_set(&C, "cors-origins", "https://app.example");
    struct sse_request_vars v = vars_get("https://app.example", "api.example");
    ck_assert_int_eq(sse_response_stream_headers(&B, &C, &v, SSE_CORS_ALLOW, 1),
                     0);
    assert_header(&B, "Content-Type", "text/plain; charset=utf-8");
    assert_header(&B, "Access-Control-Allow-Origin", "https://app.example");
    assert_cors_consistent(&B);
}
END_TEST

/* --- sse_response_error --- */

START_TEST(test_response_error_400_one_line_body)
{
    struct sse_request_vars v = vars_get(NULL, NULL);
    ck_assert_int_eq(sse_response_error(&B, &C, &v, SSE_CORS_NONE, 400,
                                        "bad channel: no", 0),
                     0);
    assert_status(&B, "Status: 400 Bad Request");
    assert_header(&B, "Content-Type", "text/plain; charset=utf-8");
    assert_no_header(&B, "Allow");
    assert_no_header(&B, "Access-Control-Allow-Origin");
    ck_assert_str_eq(body_of(&B), "bad channel: no\n");
}
END_TEST

START_TEST(test_response_error_405_allow)
{
    struct sse_request_vars v = vars_get(NULL, NULL);
    ck_assert_int_eq(sse_response_error(&B, &C, &v, SSE_CORS_NONE, 405,
                                        "method not allowed", 0),
                     0);
    assert_status(&B, "Status: 405 Method Not Allowed");
    assert_header(&B, "Allow", "GET, HEAD, OPTIONS");
    ck_assert_str_eq(body_of(&B), "method not allowed\n");
}
END_TEST

START_TEST(test_response_error_414)
{
    struct sse_request_vars v = vars_get(NULL, NULL);
    ck_assert_int_eq(sse_response_error(&B, &C, &v, SSE_CORS_NONE, 414,
                                        "query string too long", 0),
                     0);
    assert_status(&B, "Status: 414 URI Too Long");
    ck_assert_str_eq(body_of(&B), "query string too long\n");
}
END_TEST

START_TEST(test_response_error_head_no_body)
{
    struct sse_request_vars v = vars_get(NULL, NULL);
    v.method = "HEAD";
    ck_assert_int_eq(
        sse_response_error(&B, &C, &v, SSE_CORS_NONE, 400, "bad replay", 1), 0);
    assert_status(&B, "Status: 400 Bad Request");
    assert_header(&B, "Content-Type", "text/plain; charset=utf-8");
    ck_assert_uint_eq(header_len(&B), B.len);
}
END_TEST

START_TEST(test_response_error_cors_allow)
{
    cfg_set(&C, "cors-origins", "https://app.example");
    cfg_set(&C, "cors-credentials", "on");
    struct sse_request_vars v = vars_get("https://app.example", "api.example");
    /* A browser only shows a cross-origin 400 to the page with ACAO. */
    ck_assert_int_eq(sse_response_error(&B, &C, &v, SSE_CORS_ALLOW, 400,
                                        "bad last_event_id", 0),
                     0);
    assert_header(&B, "Access-Control-Allow-Origin", "https://app.example");
    assert_header(&B, "Access-Control-Allow-Credentials", "true");
    assert_cors_consistent(&B);
    ck_assert_str_eq(body_of(&B), "bad last_event_id\n");
}
END_TEST

/* --- sse_response_preflight --- */

START_TEST(test_response_preflight_allowed_204)
{
    cfg_set(&C, "cors-origins", "https://app.example");
    struct sse_request_vars v = vars_get("https://app.example", "api.example");
    v.method = "OPTIONS";
    v.acrh = "last-event-id";
    ck_assert_int_eq(
        sse_response_preflight(&B, &C, &v, sse_response_cors(&C, &v)), 0);
    assert_status(&B, "Status: 204 No Content");
    assert_header(&B, "Access-Control-Allow-Origin", "https://app.example");
    assert_header(&B, "Vary", "Origin");
    char val[512];
    ck_assert_int_eq(
        header_count(&B, "Access-Control-Allow-Methods", val, sizeof val), 1);
    ck_assert_ptr_nonnull(strstr(val, "GET"));
    ck_assert_int_eq(
        header_count(&B, "Access-Control-Allow-Headers", val, sizeof val), 1);
    ck_assert_ptr_nonnull(strstr(val, "Last-Event-ID"));
    ck_assert_ptr_nonnull(strstr(val, "Cache-Control"));
    ck_assert_ptr_nonnull(strstr(val, "X-Requestor"));
    assert_cors_consistent(&B);
    /* 204: nothing after the headers. */
    ck_assert_uint_eq(header_len(&B), B.len);
}
END_TEST

START_TEST(test_response_preflight_star)
{
    cfg_set(&C, "cors-origins", "*");
    struct sse_request_vars v = vars_get("https://x.example", "api.example");
    v.method = "OPTIONS";
    ck_assert_int_eq(
        sse_response_preflight(&B, &C, &v, sse_response_cors(&C, &v)), 0);
    assert_status(&B, "Status: 204 No Content");
    assert_header(&B, "Access-Control-Allow-Origin", "*");
    assert_no_header(&B, "Access-Control-Allow-Credentials");
    ck_assert_int_eq(header_count(&B, "Access-Control-Allow-Headers", NULL, 0),
                     1);
}
END_TEST

START_TEST(test_response_preflight_denied_403)
{
    cfg_set(&C, "cors-origins", "https://app.example");
    struct sse_request_vars v = vars_get("https://evil.example", "api.example");
    v.method = "OPTIONS";
    int cors = sse_response_cors(&C, &v);
    ck_assert_int_eq(cors, SSE_CORS_DENY);
    ck_assert_int_eq(sse_response_preflight(&B, &C, &v, cors), 0);
    assert_status(&B, "Status: 403 Forbidden");
    assert_header(&B, "Content-Type", "text/plain; charset=utf-8");
    assert_no_header(&B, "Access-Control-Allow-Origin");
    assert_no_header(&B, "Access-Control-Allow-Methods");
    const char *body = body_of(&B);
    ck_assert_msg(strlen(body) > 1 &&
                      strchr(body, '\n') == body + strlen(body) - 1,
                  "body is not one line: '%s'", body);
}
END_TEST

START_TEST(test_response_preflight_not_configured_204)
{
    struct sse_request_vars v = vars_get("https://x.example", "api.example");
    v.method = "OPTIONS";
    ck_assert_int_eq(
        sse_response_preflight(&B, &C, &v, sse_response_cors(&C, &v)), 0);
    assert_status(&B, "Status: 204 No Content");
    /* No CORS configured: nothing grants the cross-origin read. */
    assert_no_header(&B, "Access-Control-Allow-Origin");
    ck_assert_uint_eq(header_len(&B), B.len);
}
END_TEST

/* --- sse_response_body --- */

START_TEST(test_response_body_type_and_bytes)
{
    static const char body[] = "a\0b\n";
    ck_assert_int_eq(
        sse_response_body(&B, "application/json", body, sizeof body - 1, 0), 0);
    assert_status(&B, "Status: 200 OK");
    assert_header(&B, "Content-Type", "application/json");
    size_t hl = header_len(&B);
    ck_assert_uint_eq(B.len - hl, sizeof body - 1);
    ck_assert_int_eq(memcmp(B.data + hl, body, sizeof body - 1), 0);
}
END_TEST

START_TEST(test_response_body_head_only)
{
    ck_assert_int_eq(
        sse_response_body(&B, "text/plain; charset=utf-8", "pong\n", 5, 1), 0);
    assert_status(&B, "Status: 200 OK");
    assert_header(&B, "Content-Type", "text/plain; charset=utf-8");
    ck_assert_uint_eq(header_len(&B), B.len);
}
END_TEST

static Suite *response_suite(void)
{
    Suite *s = suite_create("response");
    TCase *tc = tcase_create("status");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_response_reason_known);
    tcase_add_test(tc, test_response_reason_unknown);
    tcase_add_test(tc, test_response_stream_headers_event_stream);
    tcase_add_test(tc, test_response_stream_headers_longpoll_text_plain);
    tcase_add_test(tc, test_response_stream_headers_appends);
    tcase_add_test(tc, test_response_stream_headers_buffer_limit);
    suite_add_tcase(s, tc);

    tc = tcase_create("cors");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_response_cors_no_origin_none);
    tcase_add_test(tc, test_response_cors_not_configured_none);
    tcase_add_test(tc, test_response_cors_exact_allowed);
    tcase_add_test(tc, test_response_cors_star_allows_any);
    tcase_add_test(tc, test_response_cors_same_origin_http_none);
    tcase_add_test(tc, test_response_cors_same_origin_https_none);
    tcase_add_test(tc, test_response_cors_scheme_mismatch_denied);
    tcase_add_test(tc, test_response_cors_other_origin_denied);
    tcase_add_test(tc, test_response_cors_no_host_denied);
    tcase_add_test(tc, test_response_stream_headers_cors_exact_origin);
    tcase_add_test(tc, test_response_stream_headers_cors_credentials);
    tcase_add_test(tc, test_response_stream_headers_cors_star);
    tcase_add_test(tc,
                   test_response_stream_headers_cors_star_never_credentials);
    tcase_add_test(tc, test_response_stream_headers_cors_none_no_headers);
    tcase_add_test(tc, test_response_stream_headers_longpoll_cors);
    suite_add_tcase(s, tc);

    tc = tcase_create("errors");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_response_error_400_one_line_body);
    tcase_add_test(tc, test_response_error_405_allow);
    tcase_add_test(tc, test_response_error_414);
    tcase_add_test(tc, test_response_error_head_no_body);
    tcase_add_test(tc, test_response_error_cors_allow);
    tcase_add_test(tc, test_response_preflight_allowed_204);
    tcase_add_test(tc, test_response_preflight_star);
    tcase_add_test(tc, test_response_preflight_denied_403);
    tcase_add_test(tc, test_response_preflight_not_configured_204);
    tcase_add_test(tc, test_response_body_type_and_bytes);
    tcase_add_test(tc, test_response_body_head_only);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run_suite(response_suite());
}
