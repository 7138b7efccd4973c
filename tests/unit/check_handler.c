/* check_handler.c - unit tests for lib/handler.c (routing one request).
 * SPDX-License-Identifier: MIT
 *
 * Requests are described by struct sse_request_vars exactly as the FastCGI
 * layer fills it, served against a real event log and a running hub, and
 * the answer is read back from a buffer sink. Routes that answer at once
 * (status, ping, refusals, preflight, busy, long polls with a backlog) run
 * on the test's thread; a live stream runs on its own and ends with the
 * hub's shutdown.
 */
#include <check.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "admin.h"
#include "buf.h"
#include "config.h"
#include "handler.h"
#include "clock.h"
#include "hub.h"
#include "metrics.h"
#include "request.h"
#include "sse_error.h"
#include "sse_parser.h"
#include "stream.h"
#include "testutil.h"

#define MS 1000000LL
#define STATUS_PATH "/sselite-status"
#define PING_PATH "/sselite-ping"

/* --- fixture --- */

static struct {
    char *dir;
    char *db;
    struct sse_config cfg;
    struct sse_metrics m;
    struct tu_hub h;
    struct sse_admin *pub;
    pthread_mutex_t mu; /* guards out (a stream thread may write) */
    struct sse_buf out;
    struct sse_sink sink;
} E;

static int buf_write(void *ctx, const char *p, size_t n)
{
    (void)ctx;
    pthread_mutex_lock(&E.mu);
    int rc = sse_buf_append(&E.out, p, n);
    pthread_mutex_unlock(&E.mu);
    return rc ? SSE_EIO : 0;
}

static int buf_flush(void *ctx)
{
    (void)ctx;
    return 0;
}

static void cfg_set(const char *name, const char *value)
{
    char err[200];
    int rc = sse_config_set(&E.cfg, name, value, err, sizeof err);
    ck_assert_msg(rc == 0, "sse_config_set(%s): %s", name, err);
}

static void start_hub(void)
{
    int rc = tu_hub_new(&E.h, &E.cfg, &E.m);
    ck_assert_msg(rc == 0, "tu_hub_new: %s", sse_strerror(rc));
    ck_assert_int_eq(sse_hub_start(E.h.hub), 0);
}

/* A configured worker on a log with three events on "default". */
static void setup(void)
{
    memset(&E, 0, sizeof E);
    E.dir = tu_tmpdir_new();
    sse_config_init(&E.cfg);
    sse_metrics_init(&E.m, 4);
    cfg_set("status-path", STATUS_PATH);
    cfg_set("ping-path", PING_PATH);
    cfg_set("cors-origins", "https://app.example");
    cfg_set("busy-retry-ms", "9000");
    cfg_set("poll-ms", "5");
    cfg_set("access-log", "1");
    E.db = tu_log_create(E.dir, "events.db");
    cfg_set("db", E.db);
    E.pub = tu_admin_open(E.db);
    for (int i = 0; i < 3; i++)
        tu_publish(E.pub, NULL, NULL, "hello");
    pthread_mutex_init(&E.mu, NULL);
    sse_buf_init(&E.out, 0);
    E.sink.write = buf_write;
    E.sink.flush = buf_flush;
    E.sink.ctx = NULL;
    E.sink.fd = -1;
}

static void teardown(void)
{
    tu_hub_free(&E.h);
    sse_admin_close(E.pub);
    free(E.db);
    sse_config_cleanup(&E.cfg);
    sse_buf_cleanup(&E.out);
    pthread_mutex_destroy(&E.mu);
    tu_tmpdir_remove(E.dir);
    memset(&E, 0, sizeof E);
}

static struct sse_request_vars get(const char *uri, const char *query)
{
    struct sse_request_vars v;
    memset(&v, 0, sizeof v);
    v.method = "GET";
    v.uri = uri;
    v.query = query;
    v.host = "api.example";
    v.remote_addr = "127.0.0.1";
    return v;
}

/* Serves v on this thread (the request must not become a live stream). */
static void serve(const struct sse_request_vars *v, int busy)
{
    sse_handler_serve(&E.h.env, v, &E.sink, busy);
}

/* --- reading the answer --- */

static int status_of(void)
{
    int status = 0;
    ck_assert_msg(E.out.data && sscanf(E.out.data, "Status: %d ", &status) == 1,
                  "no status line: '%s'", E.out.data ? E.out.data : "");
    return status;
}

static const char *body_of(void)
{
    const char *end = strstr(E.out.data, "\r\n\r\n");
    ck_assert_msg(end != NULL, "no header block: '%s'", E.out.data);
    return end + 4;
}

static int has_header(const char *line)
{
    char want[256];
    snprintf(want, sizeof want, "\r\n%s\r\n", line);
    const char *end = strstr(E.out.data, "\r\n\r\n");
    const char *at = strstr(E.out.data, want);
    return at != NULL && end != NULL && at <= end;
}

static void assert_header(const char *line)
{
    ck_assert_msg(has_header(line), "header '%s' missing in '%s'", line,
                  E.out.data);
}

/* The body is one line of text naming the problem. */
static void assert_one_line_body(const char *word)
{
    const char *b = body_of();
    size_t n = strlen(b);
    ck_assert_msg(n > 1 && b[n - 1] == '\n' && strchr(b, '\n') == b + n - 1,
                  "body is not one line: '%s'", b);
    ck_assert_msg(strstr(b, word) != NULL, "body '%s' does not mention '%s'", b,
                  word);
}

static long long counter(atomic_llong *c)
{
    return atomic_load(c);
}

/* bytes_written covers the body (stream.h: "body bytes"), and at most the
 * headers besides. */
static void assert_bytes_counted(void)
{
    long long total = (long long)E.out.len;
    long long body = (long long)strlen(body_of());
    ck_assert_int_ge(counter(&E.m.bytes_written), body);
    ck_assert_int_le(counter(&E.m.bytes_written), total);
}

/* --- status and ping --- */

START_TEST(test_handler_serve_status_text)
{
    start_hub();
    struct sse_request_vars v = get(STATUS_PATH, NULL);
    serve(&v, 0);
    ck_assert_int_eq(status_of(), 200);
    assert_header("Content-Type: text/plain; charset=utf-8");
    ck_assert_ptr_nonnull(strstr(body_of(), "\nstreams_active: 0\n"));
    ck_assert_ptr_nonnull(strstr(body_of(), "\nthreads: 4\n"));
    /* The status page is not a stream and refuses nothing. */
    ck_assert_int_eq(counter(&E.m.streams_opened), 0);
    ck_assert_int_eq(counter(&E.m.requests_refused), 0);
}
END_TEST

START_TEST(test_handler_serve_status_json)
{
    start_hub();
    struct sse_request_vars v = get(STATUS_PATH "?json", "json");
    serve(&v, 0);
    ck_assert_int_eq(status_of(), 200);
    assert_header("Content-Type: application/json");
    const char *b = body_of();
    ck_assert_int_eq(b[0], '{');
    ck_assert_str_eq(b + strlen(b) - 2, "}\n");
    ck_assert_ptr_nonnull(strstr(b, "\"streams_opened_total\":0"));
    ck_assert_ptr_nonnull(strstr(b, "\"db_head_id\":3"));
}
END_TEST

START_TEST(test_handler_serve_status_prometheus)
{
    start_hub();
    struct sse_request_vars v =
        get(STATUS_PATH "?format=prometheus", "format=prometheus");
    serve(&v, 0);
    ck_assert_int_eq(status_of(), 200);
    assert_header("Content-Type: text/plain; version=0.0.4; charset=utf-8");
    ck_assert_ptr_nonnull(
        strstr(body_of(), "# TYPE sselite_streams_active gauge\n"));
    ck_assert_ptr_nonnull(strstr(body_of(), "\nsselite_streams_active 0\n"));
}
END_TEST

START_TEST(test_handler_serve_ping_pong)
{
    start_hub();
    struct sse_request_vars v = get(PING_PATH, NULL);
    serve(&v, 0);
    ck_assert_int_eq(status_of(), 200);
    assert_header("Content-Type: text/plain; charset=utf-8");
    ck_assert_str_eq(body_of(), "pong\n");
}
END_TEST

START_TEST(test_handler_serve_ping_db_missing_503)
{
    char *missing = tu_path(E.dir, "missing.db");
    cfg_set("db", missing);
    free(missing);
    start_hub();
    int64_t deadline = sse_now_ns() + 5000 * MS;
    while (sse_fanout_fault_code(E.h.fanout) == 0 && sse_now_ns() < deadline) {
        struct timespec ts = {0, 1000000L};
        nanosleep(&ts, NULL);
    }
    struct sse_request_vars v = get(PING_PATH, NULL);
    serve(&v, 0);
    ck_assert_int_eq(status_of(), 503);
    assert_header("Content-Type: text/plain; charset=utf-8");
    char want[200];
    snprintf(want, sizeof want, "%s\n", sse_strerror(SSE_ENOENT));
    ck_assert_str_eq(body_of(), want);
}
END_TEST

/* --- refusals --- */

START_TEST(test_handler_serve_bad_channel_400)
{
    start_hub();
    struct sse_request_vars v =
        get("/events?channel=no%20spaces", "channel=no%20spaces");
    serve(&v, 0);
    ck_assert_int_eq(status_of(), 400);
    assert_header("Content-Type: text/plain; charset=utf-8");
    assert_one_line_body("channel");
    ck_assert_int_eq(counter(&E.m.requests_refused), 1);
    ck_assert_int_eq(counter(&E.m.streams_opened), 0);
}
END_TEST

START_TEST(test_handler_serve_bad_last_event_id_400)
{
    start_hub();
    struct sse_request_vars v = get("/events", NULL);
    v.last_event_id = "12abc";
    serve(&v, 0);
    ck_assert_int_eq(status_of(), 400);
    assert_one_line_body("Last-Event-ID");
}
END_TEST

START_TEST(test_handler_serve_post_405)
{
    start_hub();
    struct sse_request_vars v = get("/events", NULL);
    v.method = "POST";
    serve(&v, 0);
    ck_assert_int_eq(status_of(), 405);
    assert_header("Allow: GET, HEAD, OPTIONS");
    assert_one_line_body("GET");
    ck_assert_int_eq(counter(&E.m.requests_refused), 1);
}
END_TEST

START_TEST(test_handler_serve_long_query_414)
{
    start_hub();
    size_t n = SSE_REQUEST_MAX_QUERY + 1;
    char *q = malloc(n + 1);
    ck_assert_ptr_nonnull(q);
    memset(q, 'x', n);
    memcpy(q, "channel=a&pad=", 14);
    q[n] = '\0';
    struct sse_request_vars v = get("/events", q);
    serve(&v, 0);
    free(q);
    ck_assert_int_eq(status_of(), 414);
    assert_one_line_body("query");
}
END_TEST

START_TEST(test_handler_serve_head_refusal_no_body)
{
    start_hub();
    struct sse_request_vars v = get("/events?replay=x", "replay=x");
    v.method = "HEAD";
    serve(&v, 0);
    ck_assert_int_eq(status_of(), 400);
    ck_assert_str_eq(body_of(), "");
}
END_TEST

START_TEST(test_handler_serve_denied_origin_403)
{
    start_hub();
    struct sse_request_vars v = get("/events", NULL);
    v.origin = "https://evil.example";
    serve(&v, 0);
    ck_assert_int_eq(status_of(), 403);
    assert_one_line_body("origin");
    ck_assert_msg(strstr(E.out.data, "Access-Control-Allow-Origin") == NULL,
                  "a denied origin got ACAO: '%s'", E.out.data);
    ck_assert_int_eq(counter(&E.m.requests_refused), 1);
    ck_assert_int_eq(counter(&E.m.streams_opened), 0);
}
END_TEST

START_TEST(test_handler_serve_refusal_allowed_origin_cors)
{
    start_hub();
    struct sse_request_vars v = get("/events?channel=%zz", "channel=%zz");
    v.origin = "https://app.example";
    serve(&v, 0);
    ck_assert_int_eq(status_of(), 400);
    /* The page may read why it was refused. */
    assert_header("Access-Control-Allow-Origin: https://app.example");
}
END_TEST

/* --- preflight --- */

START_TEST(test_handler_serve_options_preflight)
{
    start_hub();
    struct sse_request_vars v = get("/events", NULL);
    v.method = "OPTIONS";
    v.origin = "https://app.example";
    v.acrh = "last-event-id";
    serve(&v, 0);
    ck_assert_int_eq(status_of(), 204);
    assert_header("Access-Control-Allow-Origin: https://app.example");
    ck_assert_ptr_nonnull(strstr(E.out.data, "Access-Control-Allow-Headers: "));
    ck_assert_ptr_nonnull(strstr(E.out.data, "Last-Event-ID"));
    ck_assert_str_eq(body_of(), "");
    ck_assert_int_eq(counter(&E.m.streams_opened), 0);
}
END_TEST

START_TEST(test_handler_serve_options_denied_403)
{
    start_hub();
    struct sse_request_vars v = get("/events", NULL);
    v.method = "OPTIONS";
    v.origin = "https://evil.example";
    serve(&v, 0);
    ck_assert_int_eq(status_of(), 403);
    ck_assert(!has_header("Access-Control-Allow-Origin: https://evil.example"));
}
END_TEST

/* --- busy, streams and counters --- */

START_TEST(test_handler_serve_busy_retry_no_stream)
{
    start_hub();
    struct sse_request_vars v = get("/events", NULL);
    serve(&v, 1);
    ck_assert_int_eq(status_of(), 200);
    assert_header("Content-Type: text/event-stream; charset=utf-8");
    struct sse_parser *p = tu_parse_str(body_of());
    ck_assert_int_eq(sse_parser_retry(p), 9000);
    ck_assert_uint_eq(sse_parser_comments(p), 1);
    ck_assert_uint_eq(sse_parser_count(p), 0);
    sse_parser_free(p);
    ck_assert_int_eq(counter(&E.m.busy_rejects), 1);
    ck_assert_int_eq(counter(&E.m.streams_opened), 0);
    ck_assert_int_eq(counter(&E.m.streams_active), 0);
}
END_TEST

START_TEST(test_handler_serve_longpoll_counts)
{
    start_hub();
    struct sse_request_vars v =
        get("/events?longpoll=1&last_event_id=1", "longpoll=1&last_event_id=1");
    serve(&v, 0);
    ck_assert_int_eq(status_of(), 200);
    assert_header("Content-Type: text/plain; charset=utf-8");
    struct sse_parser *p = tu_parse_str(body_of());
    ck_assert_uint_eq(sse_parser_count(p), 2);
    ck_assert_str_eq(sse_parser_event(p, 0)->last_event_id, "2");
    ck_assert_str_eq(sse_parser_event(p, 1)->last_event_id, "3");
    sse_parser_free(p);
    ck_assert_int_eq(counter(&E.m.streams_opened), 1);
    ck_assert_int_eq(counter(&E.m.streams_active), 0);
    ck_assert_int_eq(counter(&E.m.streams_closed[SSE_CLOSE_LONGPOLL]), 1);
    ck_assert_int_eq(counter(&E.m.resumes_query), 1);
    ck_assert_int_eq(counter(&E.m.resumes_header), 0);
    ck_assert_int_eq(counter(&E.m.events_delivered), 2);
    assert_bytes_counted();
}
END_TEST

START_TEST(test_handler_serve_head_stream_headers_only)
{
    start_hub();
    struct sse_request_vars v = get("/events", NULL);
    v.method = "HEAD";
    v.last_event_id = "1";
    serve(&v, 0);
    ck_assert_int_eq(status_of(), 200);
    assert_header("Content-Type: text/event-stream; charset=utf-8");
    ck_assert_str_eq(body_of(), "");
    ck_assert_int_eq(counter(&E.m.streams_opened), 1);
    ck_assert_int_eq(counter(&E.m.resumes_header), 1);
    ck_assert_int_eq(counter(&E.m.streams_active), 0);
}
END_TEST

struct served {
    struct sse_request_vars v;
    atomic_int done;
};

static void *serve_thread(void *arg)
{
    struct served *s = arg;
    serve(&s->v, 0);
    atomic_store(&s->done, 1);
    return NULL;
}

START_TEST(test_handler_serve_stream_active_then_closed)
{
    start_hub();
    struct served s;
    s.v = get("/events", NULL);
    s.v.last_event_id = "0";
    s.v.origin = "https://app.example";
    atomic_init(&s.done, 0);
    pthread_t t;
    ck_assert_int_eq(pthread_create(&t, NULL, serve_thread, &s), 0);
    /* Wait for the backlog (ids 1..3) to arrive. */
    int64_t deadline = sse_now_ns() + 10000 * MS;
    int seen = 0;
    while (!seen && sse_now_ns() < deadline) {
        pthread_mutex_lock(&E.mu);
        seen = E.out.data && strstr(E.out.data, "id: 3\n") != NULL;
        pthread_mutex_unlock(&E.mu);
        if (!seen) {
            struct timespec ts = {0, 1000000L};
            nanosleep(&ts, NULL);
        }
    }
    ck_assert_msg(seen, "the backlog never arrived");
    ck_assert_int_eq(counter(&E.m.streams_active), 1);
    ck_assert_int_eq(counter(&E.m.streams_opened), 1);
    sse_hub_stop(E.h.hub);
    pthread_join(t, NULL);
    ck_assert(atomic_load(&s.done));
    assert_header("Access-Control-Allow-Origin: https://app.example");
    ck_assert_int_eq(counter(&E.m.streams_active), 0);
    ck_assert_int_eq(counter(&E.m.streams_closed[SSE_CLOSE_SHUTDOWN]), 1);
    ck_assert_int_eq(counter(&E.m.resumes_header), 1);
    assert_bytes_counted();
    /* The status page reports the ended stream. */
    sse_buf_reset(&E.out);
    struct sse_request_vars v = get(STATUS_PATH, NULL);
    serve(&v, 0);
    ck_assert_ptr_nonnull(strstr(body_of(), "\nstreams_closed_shutdown: 1\n"));
    ck_assert_ptr_nonnull(strstr(body_of(), "\nstreams_opened_total: 1\n"));
}
END_TEST

START_TEST(test_handler_serve_paths_off_by_default)
{
    /* Without status-path, that URL is an ordinary stream request. */
    free(E.cfg.status_path);
    E.cfg.status_path = NULL;
    start_hub();
    struct sse_request_vars v = get(STATUS_PATH "?longpoll=1&last_event_id=2",
                                    "longpoll=1&last_event_id=2");
    serve(&v, 0);
    ck_assert_int_eq(status_of(), 200);
    assert_header("Content-Type: text/plain; charset=utf-8");
    ck_assert_ptr_nonnull(strstr(body_of(), "id: 3\n"));
    ck_assert_int_eq(counter(&E.m.streams_opened), 1);
}
END_TEST

static Suite *handler_suite(void)
{
    Suite *s = suite_create("handler");
    TCase *tc = tcase_create("routes");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_handler_serve_status_text);
    tcase_add_test(tc, test_handler_serve_status_json);
    tcase_add_test(tc, test_handler_serve_status_prometheus);
    tcase_add_test(tc, test_handler_serve_ping_pong);
    tcase_add_test(tc, test_handler_serve_ping_db_missing_503);
    tcase_add_test(tc, test_handler_serve_paths_off_by_default);
    suite_add_tcase(s, tc);

    tc = tcase_create("refusals");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_handler_serve_bad_channel_400);
    tcase_add_test(tc, test_handler_serve_bad_last_event_id_400);
    tcase_add_test(tc, test_handler_serve_post_405);
    tcase_add_test(tc, test_handler_serve_long_query_414);
    tcase_add_test(tc, test_handler_serve_head_refusal_no_body);
    tcase_add_test(tc, test_handler_serve_denied_origin_403);
    tcase_add_test(tc, test_handler_serve_refusal_allowed_origin_cors);
    tcase_add_test(tc, test_handler_serve_options_preflight);
    tcase_add_test(tc, test_handler_serve_options_denied_403);
    suite_add_tcase(s, tc);

    tc = tcase_create("streams");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_handler_serve_busy_retry_no_stream);
    tcase_add_test(tc, test_handler_serve_longpoll_counts);
    tcase_add_test(tc, test_handler_serve_head_stream_headers_only);
    tcase_add_test(tc, test_handler_serve_stream_active_then_closed);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run_suite(handler_suite());
}
