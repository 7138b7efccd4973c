/* check_stream.c - unit tests for lib/stream.c (one client's stream).
 * SPDX-License-Identifier: MIT
 *
 * Each stream runs sse_stream_run in its own thread, as a worker thread
 * would, against a real SQLite file and a running hub. Its output goes to a
 * test sink (a mutex-protected buffer that can be told to fail, like a
 * client that vanished) and is read back with the spec-exact parser in
 * sse_parser.h. Waits are bounded by deadlines; streams end through the
 * documented ways (hub stop, lifetime, long-poll answer, write failure).
 *
 * The central property: a stream resumed from any id delivers exactly the
 * wanted rows after it, in id order, with no gap and no duplicate, while it
 * switches between catch-up reads and the hub's ring under a publisher
 * that keeps inserting (test_stream_resume_exact_under_load).
 */
#include <check.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "admin.h"
#include "buf.h"
#include "config.h"
#include "clock.h"
#include "hub.h"
#include "metrics.h"
#include "request.h"
#include "response.h"
#include "sse_error.h"
#include "sse_limits.h"
#include "sse_parser.h"
#include "stream.h"
#include "testutil.h"

#define MS 1000000LL

/* --- fixture: temp dir, config with a tiny ring and batch, metrics, hub
 * (created by the test once the config is final) --- */

static struct {
    char *dir;
    char *db;
    struct sse_config cfg;
    struct sse_metrics m;
    struct tu_hub h;
    struct sse_admin *pub;
} E;

static void cfg_set(const char *name, const char *value)
{
    char err[200];
    int rc = sse_config_set(&E.cfg, name, value, err, sizeof err);
    ck_assert_msg(rc == 0, "sse_config_set(%s): %s", name, err);
}

static void setup(void)
{
    memset(&E, 0, sizeof E);
    E.dir = tu_tmpdir_new();
    sse_config_init(&E.cfg);
    sse_metrics_init(&E.m, 4);
    cfg_set("ring-events", "16");
    cfg_set("batch", "4");
    cfg_set("poll-ms", "5");
    cfg_set("retry-ms", "3000");
    cfg_set("error-retry-ms", "7000");
    cfg_set("busy-retry-ms", "9000");
    cfg_set("access-log", "0");
}

static void teardown(void)
{
    tu_hub_free(&E.h);
    sse_admin_close(E.pub);
    free(E.db);
    sse_config_cleanup(&E.cfg);
    tu_tmpdir_remove(E.dir);
    memset(&E, 0, sizeof E);
}

/* Creates events.db and the publisher connection (hub not started). */
static void create_log(void)
{
    E.db = tu_log_create(E.dir, "events.db");
    E.pub = tu_admin_open(E.db);
    cfg_set("db", E.db);
}

/* Starts the hub and waits until it has read the log (or a fault). */
static void start_hub(int want_fault)
{
    int rc = tu_hub_new(&E.h, &E.cfg, &E.m);
    ck_assert_msg(rc == 0, "tu_hub_new: %s", sse_strerror(rc));
    ck_assert_int_eq(sse_hub_start(E.h.hub), 0);
    int64_t deadline = sse_now_ns() + 5000 * MS;
    while (want_fault ? sse_fanout_fault_code(E.h.fanout) == 0
                      : sse_fanout_head(E.h.fanout) < 0) {
        ck_assert_msg(sse_now_ns() < deadline, "hub did not start");
        tu_tick();
    }
}

static int64_t publish(const char *channel, const char *type, const char *data)
{
    return tu_publish(E.pub, channel, type, data);
}

/* Publishes n rows "row K" on channel; returns the last id. */
static int64_t publish_n(const char *channel, int n)
{
    int64_t id = -1;
    for (int i = 0; i < n; i++) {
        char data[32];
        snprintf(data, sizeof data, "row %d", i);
        id = publish(channel, NULL, data);
    }
    return id;
}

/* --- the test sink --- */

struct tsink {
    pthread_mutex_t mu;
    struct sse_buf buf;
    size_t first_flush_len; /* bytes written before the first flush */
    int flushes;
    atomic_int fail; /* 1: every write and flush fails (EIO) */
    struct sse_sink sink;
    /* Set: before each write, commit a row on this connection and check
     * that a checkpoint then completes, i.e. that the writing stream holds
     * no read snapshot (see probe_snapshot). Used by the stream thread. */
    sqlite3 *probe;
    int probe_writes;
    int probe_failures;
};

/* Commits a row (on a channel no test reads), then runs a FULL checkpoint:
 * it waits (busy timeout) for readers of older snapshots and completes
 * only if none is left. A stream thread that writes to a client while its
 * read statement is open holds such a snapshot for as long as the write
 * takes. Returns 1 if the checkpoint completed. */
static int probe_snapshot(sqlite3 *db)
{
    int rc = sqlite3_exec(
        db, "INSERT INTO events(channel, data) VALUES ('probe', 'p')", NULL,
        NULL, NULL);
    int nlog = -1, nckpt = -2;
    if (rc == SQLITE_OK)
        rc = sqlite3_wal_checkpoint_v2(db, NULL, SQLITE_CHECKPOINT_FULL, &nlog,
                                       &nckpt);
    return rc == SQLITE_OK && nlog == nckpt;
}

static int tsink_write(void *ctx, const char *p, size_t n)
{
    struct tsink *t = ctx;
    if (atomic_load(&t->fail))
        return SSE_EIO;
    if (t->probe) {
        t->probe_writes++;
        if (!probe_snapshot(t->probe)) {
            /* End the stream: each failed probe waits a busy timeout. */
            t->probe_failures++;
            atomic_store(&t->fail, 1);
            return SSE_EIO;
        }
    }
    pthread_mutex_lock(&t->mu);
    int rc = sse_buf_append(&t->buf, p, n);
    pthread_mutex_unlock(&t->mu);
    return rc ? SSE_EIO : 0;
}

static int tsink_flush(void *ctx)
{
    struct tsink *t = ctx;
    if (atomic_load(&t->fail))
        return SSE_EIO;
    pthread_mutex_lock(&t->mu);
    if (t->flushes++ == 0)
        t->first_flush_len = t->buf.len;
    pthread_mutex_unlock(&t->mu);
    return 0;
}

static void tsink_init(struct tsink *t, int fd)
{
    pthread_mutex_init(&t->mu, NULL);
    sse_buf_init(&t->buf, 0);
    t->first_flush_len = 0;
    t->flushes = 0;
    atomic_init(&t->fail, 0);
    t->sink.write = tsink_write;
    t->sink.flush = tsink_flush;
    t->sink.ctx = t;
    t->sink.fd = fd;
    t->probe = NULL;
    t->probe_writes = 0;
    t->probe_failures = 0;
}

static void tsink_cleanup(struct tsink *t)
{
    sse_buf_cleanup(&t->buf);
    pthread_mutex_destroy(&t->mu);
}

/* A copy of everything written so far (owned by caller), and its length. */
static char *tsink_copy(struct tsink *t, size_t *len, int *flushes)
{
    pthread_mutex_lock(&t->mu);
    char *copy = malloc(t->buf.len + 1);
    ck_assert_ptr_nonnull(copy);
    if (t->buf.len)
        memcpy(copy, t->buf.data, t->buf.len);
    copy[t->buf.len] = '\0';
    *len = t->buf.len;
    if (flushes)
        *flushes = t->flushes;
    pthread_mutex_unlock(&t->mu);
    return copy;
}

/* --- one stream, run in its own thread --- */

struct run {
    char query[512];
    char last_event_id[32];
    struct sse_request_vars vars;
    struct sse_request req;
    struct tsink out;
    struct sse_stream_result res;
    atomic_int done;
    pthread_t thread;
    int started;
};

/* Fills r from a query string and Last-Event-ID header (NULL: absent),
 * parsed exactly as the handler would. */
static void run_init(struct run *r, const char *query, const char *lei, int fd)
{
    memset(r, 0, sizeof *r);
    snprintf(r->query, sizeof r->query, "%s", query ? query : "");
    r->vars.method = "GET";
    r->vars.query = r->query;
    if (lei) {
        snprintf(r->last_event_id, sizeof r->last_event_id, "%s", lei);
        r->vars.last_event_id = r->last_event_id;
    }
    tsink_init(&r->out, fd);
    atomic_init(&r->done, 0);
}

static void parse_request(struct run *r)
{
    struct sse_request_error err;
    int rc = sse_request_parse(&r->vars, &r->req, &err);
    ck_assert_msg(rc == 0, "request refused: %d %s", err.status, err.reason);
}

static void *run_main(void *arg)
{
    struct run *r = arg;
    sse_stream_run(&E.h.env, &r->req, &r->vars,
                   sse_response_cors(&E.cfg, &r->vars), &r->out.sink, &r->res);
    atomic_store(&r->done, 1);
    return NULL;
}

/* Parses the request and starts the stream thread. */
static void run_start(struct run *r)
{
    parse_request(r);
    ck_assert_int_eq(pthread_create(&r->thread, NULL, run_main, r), 0);
    r->started = 1;
}

/* Waits until the stream has flushed its headers (it is then set up:
 * every row committed from now on is after its start point). */
static void run_wait_started(struct run *r)
{
    int64_t deadline = sse_now_ns() + 10000 * MS;
    for (;;) {
        size_t len;
        int flushes;
        free(tsink_copy(&r->out, &len, &flushes));
        if (flushes > 0 || atomic_load(&r->done))
            return;
        ck_assert_msg(sse_now_ns() < deadline, "stream did not start");
        tu_tick();
    }
}

/* Waits up to ms for the stream thread to end; returns 1 if it did. */
static int run_wait_done(struct run *r, int ms)
{
    int64_t deadline = sse_now_ns() + ms * MS;
    while (!atomic_load(&r->done)) {
        if (sse_now_ns() >= deadline)
            return 0;
        tu_tick();
    }
    return 1;
}

/* Joins the thread (it must have ended) and frees the sink. */
static void run_cleanup(struct run *r)
{
    if (r->started) {
        pthread_join(r->thread, NULL);
        r->started = 0;
    }
    tsink_cleanup(&r->out);
}

/* Waits up to ms for the stream to end by itself, then joins it. */
static void run_join(struct run *r, int ms)
{
    ck_assert_msg(run_wait_done(r, ms), "stream still running after %d ms", ms);
    pthread_join(r->thread, NULL);
    r->started = 0;
}

/* Stops the hub (every stream ends with "shutdown") and joins r. */
static void stop_and_join(struct run *r)
{
    sse_hub_stop(E.h.hub);
    run_join(r, 10000);
}

/* --- reading the output --- */

struct output {
    char *raw;
    size_t len;
    size_t header_len; /* bytes up to and including CRLF CRLF */
    int flushes;
    struct sse_parser *p; /* the body, parsed */
};

static void output_read(struct run *r, struct output *o)
{
    o->raw = tsink_copy(&r->out, &o->len, &o->flushes);
    const char *end = strstr(o->raw, "\r\n\r\n");
    o->header_len = end ? (size_t)(end - o->raw) + 4 : 0;
    o->p = sse_parser_new();
    ck_assert_ptr_nonnull(o->p);
    if (end)
        tu_parse(o->p, o->raw + o->header_len, o->len - o->header_len);
}

static void output_free(struct output *o)
{
    sse_parser_free(o->p);
    free(o->raw);
}

static const char *body(const struct output *o)
{
    return o->raw + o->header_len;
}

/* The id of event i as a number. */
static int64_t event_id(const struct output *o, size_t i)
{
    const struct sse_parsed_event *ev = sse_parser_event(o->p, i);
    char *end;
    errno = 0;
    long long v = strtoll(ev->last_event_id, &end, 10);
    ck_assert_msg(errno == 0 && *end == '\0' && end != ev->last_event_id,
                  "event %zu has id '%s'", i, ev->last_event_id);
    return v;
}

/* Waits up to ms until the stream has sent an event with id >= id. */
static int wait_event_id(struct run *r, int64_t id, int ms)
{
    int64_t deadline = sse_now_ns() + ms * MS;
    for (;;) {
        struct output o;
        output_read(r, &o);
        size_t n = sse_parser_count(o.p);
        int ok = n > 0 && event_id(&o, n - 1) >= id;
        output_free(&o);
        if (ok)
            return 1;
        if (sse_now_ns() >= deadline || atomic_load(&r->done))
            return 0;
        tu_tick();
    }
}

/* Waits up to ms until the raw output contains text. */
static int wait_text(struct run *r, const char *text, int ms)
{
    int64_t deadline = sse_now_ns() + ms * MS;
    for (;;) {
        size_t len;
        char *raw = tsink_copy(&r->out, &len, NULL);
        int ok = strstr(raw, text) != NULL;
        free(raw);
        if (ok)
            return 1;
        if (sse_now_ns() >= deadline)
            return 0;
        tu_tick();
    }
}

/* Asserts the events of o are exactly ids[0..n), in order, skipping a
 * leading gap event when skip_gap is set. */
static void assert_ids(const struct output *o, const int64_t *ids, size_t n,
                       int skip_gap)
{
    size_t first = 0;
    if (skip_gap && sse_parser_count(o->p) > 0 &&
        strcmp(sse_parser_event(o->p, 0)->type, SSE_GAP_EVENT) == 0)
        first = 1;
    size_t got = sse_parser_count(o->p) - first;
    for (size_t i = 0; i < got && i < n; i++)
        ck_assert_msg(event_id(o, first + i) == ids[i],
                      "event %zu: id %" PRId64 ", want %" PRId64, i,
                      event_id(o, first + i), ids[i]);
    ck_assert_msg(got == n, "%zu events, want %zu", got, n);
}

/* ids from first to last inclusive into out; returns the count. */
static size_t id_range(int64_t first, int64_t last, int64_t *out)
{
    size_t n = 0;
    for (int64_t id = first; id <= last; id++)
        out[n++] = id;
    return n;
}

static void assert_header_line(const struct output *o, const char *line)
{
    ck_assert_msg(o->header_len > 0, "no header block in '%s'", o->raw);
    char want[256];
    snprintf(want, sizeof want, "\r\n%s\r\n", line);
    char *hdr = strndup(o->raw, o->header_len);
    ck_assert_ptr_nonnull(hdr);
    int found = strstr(hdr, want) != NULL;
    free(hdr);
    ck_assert_msg(found, "header '%s' missing in '%s'", line, o->raw);
}

/* Runs a stream for query and Last-Event-ID lei (NULL: none) until it
 * sent the event with id until (-1: until it started), then stops the hub
 * and reads the output into o. Free both with finish(). */
static void stream_until(struct run *r, struct output *o, const char *query,
                         const char *lei, int64_t until)
{
    run_init(r, query, lei, -1);
    run_start(r);
    if (until < 0)
        run_wait_started(r);
    else
        ck_assert_msg(wait_event_id(r, until, 10000),
                      "no event %" PRId64 " for query '%s', resume %s", until,
                      query, lei ? lei : "none");
    stop_and_join(r);
    output_read(r, o);
}

static void finish(struct run *r, struct output *o)
{
    output_free(o);
    run_cleanup(r);
}

/* Asserts that a stream for query and lei sends exactly want[0..n). */
static void expect_events(const char *query, const char *lei,
                          const int64_t *want, size_t n)
{
    struct run r;
    struct output o;
    stream_until(&r, &o, query, lei, want[n - 1]);
    assert_ids(&o, want, n, 0);
    ck_assert_int_eq(r.res.gap, 0);
    finish(&r, &o);
}

/* --- start of a stream --- */

START_TEST(test_stream_run_headers_retry_comment_first)
{
    create_log();
    start_hub(0);
    struct run r;
    struct output o;
    stream_until(&r, &o, "", NULL, -1);
    ck_assert_int_eq(strncmp(o.raw, "Status: 200 OK\r\n", 16), 0);
    assert_header_line(&o, "Content-Type: text/event-stream; charset=utf-8");
    assert_header_line(&o, "Cache-Control: no-cache");
    assert_header_line(&o, "X-Accel-Buffering: no");
    /* The body starts with the retry field, then a comment. */
    static const char start[] = "retry: 3000\n\n:";
    ck_assert_msg(strncmp(body(&o), start, sizeof start - 1) == 0,
                  "body starts '%.40s'", body(&o));
    ck_assert_int_eq(sse_parser_retry(o.p), 3000);
    ck_assert_uint_ge(sse_parser_comments(o.p), 1);
    /* Headers, retry and comment went out in the first flush. */
    const char *comment_end = strstr(body(&o) + sizeof start - 1, "\n\n");
    ck_assert_ptr_nonnull(comment_end);
    size_t first = (size_t)(comment_end + 2 - o.raw);
    pthread_mutex_lock(&r.out.mu);
    size_t flushed = r.out.first_flush_len;
    pthread_mutex_unlock(&r.out.mu);
    ck_assert_uint_eq(flushed, first);
    ck_assert_uint_eq(sse_parser_count(o.p), 0);
    ck_assert_int_eq(r.res.reason, SSE_CLOSE_SHUTDOWN);
    ck_assert_int_eq(r.res.gap, 0);
    finish(&r, &o);
}
END_TEST

START_TEST(test_stream_run_padding_first)
{
    create_log();
    start_hub(0);
    struct run r;
    struct output o;
    stream_until(&r, &o, "padding=1", NULL, -1);
    const char *b = body(&o);
    /* A 2 KiB comment, then the retry field. */
    ck_assert_int_eq(b[0], ':');
    const char *nl = strstr(b, "\n\n");
    ck_assert_ptr_nonnull(nl);
    ck_assert_uint_eq((size_t)(nl + 2 - b), 2048);
    ck_assert_int_eq(strncmp(nl + 2, "retry: 3000\n\n", 13), 0);
    finish(&r, &o);
}
END_TEST

START_TEST(test_stream_run_cors_headers)
{
    cfg_set("cors-origins", "https://app.example");
    create_log();
    start_hub(0);
    struct run r;
    run_init(&r, "", NULL, -1);
    r.vars.origin = "https://app.example";
    r.vars.host = "api.example";
    run_start(&r);
    run_wait_started(&r);
    stop_and_join(&r);
    struct output o;
    output_read(&r, &o);
    assert_header_line(&o, "Access-Control-Allow-Origin: https://app.example");
    assert_header_line(&o, "Vary: Origin");
    finish(&r, &o);
}
END_TEST

START_TEST(test_stream_run_no_resume_only_new)
{
    create_log();
    publish_n("default", 3);
    start_hub(0);
    struct run r;
    run_init(&r, "", NULL, -1);
    run_start(&r);
    run_wait_started(&r);
    int64_t ids[2];
    ids[0] = publish("default", "greeting", "hello\nworld");
    publish("other", NULL, "not wanted");
    ids[1] = publish("default", NULL, "");
    ck_assert(wait_event_id(&r, ids[1], 10000));
    stop_and_join(&r);

    struct output o;
    output_read(&r, &o);
    assert_ids(&o, ids, 2, 0);
    const struct sse_parsed_event *ev = sse_parser_event(o.p, 0);
    ck_assert_str_eq(ev->type, "greeting");
    ck_assert_str_eq(ev->data, "hello\nworld");
    ev = sse_parser_event(o.p, 1);
    ck_assert_str_eq(ev->type, "message");
    ck_assert_str_eq(ev->data, "");
    ck_assert_int_eq(r.res.start_after, 3);
    ck_assert_int_eq(r.res.events, 2);
    ck_assert_int_eq(r.res.reason, SSE_CLOSE_SHUTDOWN);
    ck_assert_int_ge(r.res.end_cursor, ids[1]);
    /* stream.h counts body bytes; at most the headers more are counted. */
    ck_assert_int_ge(r.res.bytes, (int64_t)(o.len - o.header_len));
    ck_assert_int_le(r.res.bytes, (int64_t)o.len);
    /* The stream ended after a whole event, with a final comment. */
    ck_assert(sse_parser_idle(o.p));
    ck_assert_ptr_nonnull(strstr(body(&o), ": server shutting down"));
    finish(&r, &o);
}
END_TEST

/* --- resume --- */

START_TEST(test_stream_run_resume_exact_backlog)
{
    create_log();
    int64_t last = publish_n("default", 50);
    start_hub(0);
    struct run r;
    struct output o;
    stream_until(&r, &o, "", "7", last);
    int64_t want[64];
    size_t n = id_range(8, last, want);
    assert_ids(&o, want, n, 0);
    ck_assert_str_eq(sse_parser_event(o.p, 0)->data, "row 7");
    ck_assert_int_eq(r.res.start_after, 7);
    ck_assert_int_eq(r.res.events, (int64_t)n);
    ck_assert_int_eq(r.res.gap, 0);
    ck_assert_int_eq(atomic_load(&E.m.events_delivered), (long long)n);
    ck_assert_int_ge(atomic_load(&E.m.events_replayed), 1);
    finish(&r, &o);
}
END_TEST

START_TEST(test_stream_run_resume_query_param)
{
    create_log();
    publish_n("default", 5);
    start_hub(0);
    int64_t want[] = {4, 5};
    expect_events("lastEventId=3", NULL, want, 2);
}
END_TEST

START_TEST(test_stream_run_resume_at_head_nothing_old)
{
    create_log();
    int64_t last = publish_n("default", 5);
    start_hub(0);
    char lei[24];
    snprintf(lei, sizeof lei, "%" PRId64, last);
    struct run r;
    run_init(&r, "", lei, -1);
    run_start(&r);
    run_wait_started(&r);
    int64_t id = publish("default", NULL, "new");
    ck_assert(wait_event_id(&r, id, 10000));
    stop_and_join(&r);
    struct output o;
    output_read(&r, &o);
    assert_ids(&o, &id, 1, 0);
    ck_assert_int_eq(r.res.gap, 0);
    finish(&r, &o);
}
END_TEST

/* The published rows of the load test: id, channel and data. */
#define LOAD_ROWS 400

struct load {
    int64_t ids[LOAD_ROWS];
    int wanted[LOAD_ROWS]; /* on channel "default" */
    char data[LOAD_ROWS][24];
    int n;
    int from, to; /* rows [from, to) are the thread's */
};

static void load_publish(struct load *L, struct sse_admin *a, int k)
{
    const char *channel = k % 3 == 2 ? "other" : "default";
    snprintf(L->data[k], sizeof L->data[k], k % 7 ? "p%d" : "p%d\nline 2", k);
    int rc = sse_admin_publish(a, channel, k % 5 ? NULL : "t", L->data[k],
                               strlen(L->data[k]), &L->ids[k]);
    if (rc)
        L->ids[k] = -1;
    L->wanted[k] = channel[0] == 'd';
}

static void *load_thread(void *arg)
{
    struct load *L = arg;
    for (int k = L->from; k < L->to; k++)
        load_publish(L, E.pub, k);
    return NULL;
}

/* Checks one stream's output against the load: exactly the wanted rows
 * after resume, in order, with their data. */
static void assert_load(struct run *r, const struct load *L, int64_t resume)
{
    struct output o;
    output_read(r, &o);
    size_t n = sse_parser_count(o.p), e = 0;
    for (int k = 0; k < L->n; k++) {
        if (!L->wanted[k] || L->ids[k] <= resume)
            continue;
        ck_assert_msg(e < n,
                      "resume %" PRId64 ": stream ends before id %" PRId64,
                      resume, L->ids[k]);
        ck_assert_msg(event_id(&o, e) == L->ids[k],
                      "resume %" PRId64 ": event %zu has id %" PRId64
                      ", want %" PRId64,
                      resume, e, event_id(&o, e), L->ids[k]);
        ck_assert_str_eq(sse_parser_event(o.p, e)->data, L->data[k]);
        e++;
    }
    ck_assert_msg(e == n, "resume %" PRId64 ": %zu extra events", resume,
                  n - e);
    ck_assert_int_eq(r->res.events, (int64_t)n);
    ck_assert_int_eq(r->res.reason, SSE_CLOSE_SHUTDOWN);
    output_free(&o);
}

START_TEST(test_stream_resume_exact_under_load)
{
    /* ring-events 16 and batch 4: a 200-row backlog means dozens of
     * catch-up reads and ring hand-overs while 200 more rows commit. */
    create_log();
    static struct load L;
    memset(&L, 0, sizeof L);
    L.n = LOAD_ROWS;
    for (int k = 0; k < LOAD_ROWS / 2; k++)
        load_publish(&L, E.pub, k);
    start_hub(0);

    static const char *const resumes[] = {"0", "10", "151", "199"};
    enum { NRUNS = sizeof resumes / sizeof resumes[0] };
    static struct run runs[NRUNS];
    for (int i = 0; i < NRUNS; i++) {
        run_init(&runs[i], "", resumes[i], -1);
        run_start(&runs[i]);
    }
    L.from = LOAD_ROWS / 2;
    L.to = LOAD_ROWS;
    pthread_t t;
    ck_assert_int_eq(pthread_create(&t, NULL, load_thread, &L), 0);
    pthread_join(t, NULL);
    int64_t last = 0;
    for (int k = 0; k < LOAD_ROWS; k++) {
        ck_assert_msg(L.ids[k] > 0, "publishing row %d failed", k);
        if (L.wanted[k])
            last = L.ids[k];
    }
    for (int i = 0; i < NRUNS; i++)
        ck_assert_msg(wait_event_id(&runs[i], last, 60000),
                      "stream resumed at %s never reached id %" PRId64,
                      resumes[i], last);
    sse_hub_stop(E.h.hub);
    for (int i = 0; i < NRUNS; i++) {
        run_join(&runs[i], 10000);
        assert_load(&runs[i], &L, strtoll(resumes[i], NULL, 10));
        run_cleanup(&runs[i]);
    }
}
END_TEST

START_TEST(test_stream_run_multi_channel_order)
{
    create_log();
    static const char *const chans[] = {"a", "b", "c", "a", "a", "c", "b"};
    int64_t want[32];
    size_t nw = 0;
    for (int round = 0; round < 3; round++)
        for (size_t i = 0; i < 7; i++) {
            int64_t id = publish(chans[i], NULL, chans[i]);
            if (chans[i][0] != 'c')
                want[nw++] = id;
        }
    start_hub(0);
    struct run r;
    run_init(&r, "channel=b&channel=a", "0", -1);
    run_start(&r);
    ck_assert(wait_event_id(&r, want[nw - 1], 10000));
    /* And live rows, interleaved with an unwanted channel. */
    for (size_t i = 0; i < 7; i++) {
        int64_t id = publish(chans[i], NULL, chans[i]);
        if (chans[i][0] != 'c')
            want[nw++] = id;
    }
    ck_assert(wait_event_id(&r, want[nw - 1], 10000));
    stop_and_join(&r);
    struct output o;
    output_read(&r, &o);
    assert_ids(&o, want, nw, 0);
    for (size_t i = 0; i < nw; i++)
        ck_assert_str_ne(sse_parser_event(o.p, i)->data, "c");
    finish(&r, &o);
}
END_TEST

/* --- gaps --- */

static void assert_gap(const struct output *o, const char *id, const char *json)
{
    ck_assert_uint_ge(sse_parser_count(o->p), 1);
    const struct sse_parsed_event *ev = sse_parser_event(o->p, 0);
    ck_assert_str_eq(ev->type, SSE_GAP_EVENT);
    ck_assert_str_eq(ev->last_event_id, id);
    ck_assert_str_eq(ev->data, json);
}

START_TEST(test_stream_run_pruned_resume_gap)
{
    create_log();
    publish_n("default", 20);
    int64_t deleted = 0;
    ck_assert_int_eq(sse_admin_prune(E.pub, 5, -1, NULL, &deleted), 0);
    ck_assert_int_eq(deleted, 15);
    start_hub(0);
    struct run r;
    struct output o;
    stream_until(&r, &o, "", "3", 20);
    assert_gap(&o, "15",
               "{\"reason\":\"pruned\",\"requested\":3,\"resumed_after\":15,"
               "\"oldest\":16,\"head\":20}");
    int64_t want[] = {16, 17, 18, 19, 20};
    assert_ids(&o, want, 5, 1);
    ck_assert_int_eq(r.res.gap, 1);
    ck_assert_int_eq(r.res.start_after, 15);
    ck_assert_int_eq(r.res.events, 6); /* the gap event counts */
    ck_assert_int_eq(atomic_load(&E.m.gaps), 1);
    finish(&r, &o);
}
END_TEST

/* Pruned while the worker runs, with the resume point still inside the
 * hub's ring: the client is told, exactly as a fresh worker would. */
START_TEST(test_stream_run_pruned_while_running_gap)
{
    create_log();
    start_hub(0);
    int64_t last = publish_n("default", 20);
    ck_assert_int_eq(sse_admin_prune(E.pub, 5, -1, NULL, NULL), 0);
    int64_t deadline = sse_now_ns() + 5000 * MS;
    int64_t covered, oldest, head;
    do {
        sse_fanout_window(E.h.fanout, &covered, &oldest, &head);
        if (oldest == 16 && head == last)
            break;
        tu_tick();
    } while (sse_now_ns() < deadline);
    ck_assert_int_eq(oldest, 16);
    ck_assert_int_le(covered, 10); /* 10 is inside the ring's window */
    struct run r;
    struct output o;
    stream_until(&r, &o, "", "10", last);
    assert_gap(&o, "15",
               "{\"reason\":\"pruned\",\"requested\":10,\"resumed_after\":15,"
               "\"oldest\":16,\"head\":20}");
    int64_t want[] = {16, 17, 18, 19, 20};
    assert_ids(&o, want, 5, 1);
    finish(&r, &o);
}
END_TEST

START_TEST(test_stream_run_resume_oldest_minus_one_no_gap)
{
    create_log();
    publish_n("default", 20);
    ck_assert_int_eq(sse_admin_prune(E.pub, 5, -1, NULL, NULL), 0);
    start_hub(0);
    int64_t want[] = {16, 17, 18, 19, 20};
    expect_events("", "15", want, 5);
}
END_TEST

/* Retention prunes channel a harder than b: the log's lowest id (2) still
 * predates the resume points below, yet a lost its events through 13. */
static void log_with_channel_a_pruned(void)
{
    create_log();
    for (int i = 0; i < 10; i++) { /* a: 1, 3, ..., 19; b: 2, 4, ..., 20 */
        publish("a", NULL, "a");
        publish("b", NULL, "b");
    }
    int64_t cutoff = 0, deleted = 0;
    ck_assert_int_eq(sse_admin_prune_cutoff(E.pub, "a", 3, -1, &cutoff), 0);
    ck_assert_int_eq(cutoff, 13);
    ck_assert_int_eq(
        sse_admin_delete_through(E.pub, "a", cutoff, 100, &deleted), 0);
    ck_assert_int_eq(deleted, 7);
    start_hub(0);
}

START_TEST(test_stream_run_channel_pruned_resume_gap)
{
    log_with_channel_a_pruned();
    struct run r;
    struct output o;
    stream_until(&r, &o, "channel=a", "4", 19);
    assert_gap(&o, "13",
               "{\"reason\":\"pruned\",\"requested\":4,\"resumed_after\":13,"
               "\"oldest\":2,\"head\":20}");
    int64_t want[] = {15, 17, 19};
    assert_ids(&o, want, 3, 1);
    ck_assert_int_eq(r.res.gap, 1);
    finish(&r, &o);
}
END_TEST

START_TEST(test_stream_run_channel_pruned_other_channel_no_gap)
{
    log_with_channel_a_pruned();
    int64_t want[] = {6, 8, 10, 12, 14, 16, 18, 20};
    expect_events("channel=b", "4", want, 8);
}
END_TEST

START_TEST(test_stream_run_channel_pruned_at_horizon_no_gap)
{
    log_with_channel_a_pruned();
    int64_t want[] = {15, 17, 19};
    expect_events("channel=a", "13", want, 3);
}
END_TEST

START_TEST(test_stream_run_future_resume_gap)
{
    create_log();
    publish_n("default", 20);
    start_hub(0);
    struct run r;
    run_init(&r, "", "1000", -1);
    run_start(&r);
    run_wait_started(&r);
    int64_t live = publish("default", NULL, "after the gap");
    ck_assert(wait_event_id(&r, live, 10000));
    stop_and_join(&r);

    struct output o;
    output_read(&r, &o);
    assert_gap(&o, "20",
               "{\"reason\":\"future\",\"requested\":1000,\"resumed_after\":20,"
               "\"oldest\":1,\"head\":20}");
    assert_ids(&o, &live, 1, 1);
    ck_assert_str_eq(sse_parser_event(o.p, 1)->data, "after the gap");
    ck_assert_int_eq(r.res.gap, 1);
    finish(&r, &o);
}
END_TEST

/* --- replay --- */

START_TEST(test_stream_run_replay_param)
{
    create_log();
    publish_n("default", 6);
    publish_n("other", 3);
    start_hub(0);
    struct run r;
    run_init(&r, "replay=3", NULL, -1);
    run_start(&r);
    ck_assert(wait_event_id(&r, 6, 10000));
    int64_t live = publish("default", NULL, "live");
    ck_assert(wait_event_id(&r, live, 10000));
    stop_and_join(&r);
    struct output o;
    output_read(&r, &o);
    int64_t want[] = {4, 5, 6, live};
    assert_ids(&o, want, 4, 0);
    finish(&r, &o);
}
END_TEST

START_TEST(test_stream_run_replay_config_default)
{
    cfg_set("replay", "2");
    create_log();
    publish_n("default", 6);
    start_hub(0);
    int64_t want[] = {5, 6};
    expect_events("", NULL, want, 2);
}
END_TEST

START_TEST(test_stream_run_replay_more_than_stored)
{
    create_log();
    publish_n("default", 3);
    start_hub(0);
    int64_t want[] = {1, 2, 3};
    expect_events("replay=100", NULL, want, 3);
}
END_TEST

START_TEST(test_stream_run_resume_beats_replay)
{
    create_log();
    publish_n("default", 6);
    start_hub(0);
    int64_t want[] = {6};
    expect_events("replay=5", "5", want, 1);
}
END_TEST

START_TEST(test_stream_run_replay_latest_one_per_channel_in_id_order)
{
    create_log();
    publish_n("a", 3);                 /* 1-3 */
    publish_n("b", 2);                 /* 4-5 */
    publish_n("other", 2);             /* 6-7: not subscribed */
    publish("a", NULL, "newest of a"); /* 8 */
    publish_n("c", 1);                 /* 9: not subscribed */
    start_hub(0);
    struct run r;
    run_init(&r, "channel=b&channel=a&channel=empty&replay=latest", NULL, -1);
    run_start(&r);
    ck_assert(wait_event_id(&r, 8, 10000));
    int64_t live = publish("b", NULL, "live");
    ck_assert(wait_event_id(&r, live, 10000));
    stop_and_join(&r);
    struct output o;
    output_read(&r, &o);
    int64_t want[] = {5, 8, live};
    assert_ids(&o, want, 3, 0);
    ck_assert_str_eq(sse_parser_event(o.p, 1)->data, "newest of a");
    ck_assert_int_eq(r.res.start_after, 9);
    finish(&r, &o);
}
END_TEST

START_TEST(test_stream_run_replay_latest_config_default)
{
    cfg_set("replay", "latest");
    create_log();
    publish_n("default", 4);
    start_hub(0);
    int64_t want[] = {4};
    expect_events("", NULL, want, 1);
}
END_TEST

START_TEST(test_stream_run_replay_latest_first_id_and_empty_log)
{
    /* Id 1 is the newest of its channel: "newest id - 1" is 0 here. */
    create_log();
    publish_n("a", 1);
    start_hub(0);
    int64_t want[] = {1};
    expect_events("channel=a&channel=b&replay=latest", NULL, want, 1);
}
END_TEST

START_TEST(test_stream_run_resume_beats_replay_latest)
{
    create_log();
    publish_n("default", 6);
    start_hub(0);
    int64_t want[] = {5, 6};
    expect_events("replay=latest", "4", want, 2);
}
END_TEST

/* --- idle streams and their end --- */

START_TEST(test_stream_run_heartbeat_when_idle)
{
    cfg_set("heartbeat", "1");
    create_log();
    start_hub(0);
    struct run r;
    run_init(&r, "", NULL, -1);
    run_start(&r);
    run_wait_started(&r);
    ck_assert_msg(wait_text(&r, "\n: heartbeat\n\n", 5000), "no heartbeat");
    stop_and_join(&r);
    ck_assert_int_ge(atomic_load(&E.m.heartbeats), 1);
    struct output o;
    output_read(&r, &o);
    ck_assert_uint_ge(sse_parser_comments(o.p), 3);
    ck_assert_uint_eq(sse_parser_count(o.p), 0);
    finish(&r, &o);
}
END_TEST

START_TEST(test_stream_run_max_lifetime_ends_cleanly)
{
    cfg_set("max-lifetime", "1");
    create_log();
    int64_t last = publish_n("default", 5);
    start_hub(0);
    struct run r;
    run_init(&r, "", "0", -1);
    int64_t t0 = sse_now_ns();
    run_start(&r);
    run_join(&r, 10000);
    int64_t ms = (sse_now_ns() - t0) / MS;
    /* Jittered: between 80% and 100% of the lifetime. */
    ck_assert_int_ge(ms, 790);
    ck_assert_int_eq(r.res.reason, SSE_CLOSE_LIFETIME);
    struct output o;
    output_read(&r, &o);
    int64_t want[8];
    assert_ids(&o, want, id_range(1, last, want), 0);
    ck_assert(sse_parser_idle(o.p));
    ck_assert_ptr_nonnull(strstr(body(&o), "\n: stream lifetime reached"));
    finish(&r, &o);
}
END_TEST

/* The access granted at the handshake runs out: the stream ends at 80% to
 * 100% of the time left, after whole events, with a last event
 * "sselite-auth" and no id line. */
START_TEST(test_stream_run_access_expiry_ends_with_auth_event)
{
    create_log();
    int64_t last = publish_n("default", 3);
    start_hub(0);
    struct run r;
    run_init(&r, "", "0", -1);
    parse_request(&r);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    r.req.access_until_ms =
        (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 + 1000;
    int64_t t0 = sse_now_ns();
    ck_assert_int_eq(pthread_create(&r.thread, NULL, run_main, &r), 0);
    r.started = 1;
    run_join(&r, 10000);
    int64_t ms = (sse_now_ns() - t0) / MS;
    ck_assert_int_ge(ms, 790);
    ck_assert_int_le(ms, 1500);
    ck_assert_int_eq(r.res.reason, SSE_CLOSE_EXPIRED);
    struct output o;
    output_read(&r, &o);
    ck_assert(sse_parser_idle(o.p));
    size_t n = sse_parser_count(o.p);
    ck_assert_uint_eq(n, (size_t)last + 1);
    const struct sse_parsed_event *ev = sse_parser_event(o.p, n - 1);
    ck_assert_str_eq(ev->type, "sselite-auth");
    ck_assert_str_eq(ev->data, "{\"reason\":\"expired\"}");
    /* No id line: the last event id stays that of the last real event. */
    char id[32];
    snprintf(id, sizeof id, "%lld", (long long)last);
    ck_assert_str_eq(ev->last_event_id, id);
    finish(&r, &o);
}
END_TEST

START_TEST(test_stream_run_shutdown_reason)
{
    create_log();
    start_hub(0);
    struct run r;
    struct output o;
    stream_until(&r, &o, "", NULL, -1);
    ck_assert_int_eq(r.res.reason, SSE_CLOSE_SHUTDOWN);
    ck_assert(sse_parser_idle(o.p));
    ck_assert_ptr_nonnull(
        strstr(body(&o), ": server shutting down, reconnect\n\n"));
    finish(&r, &o);
}
END_TEST

START_TEST(test_stream_run_failing_sink_write_failed)
{
    create_log();
    start_hub(0);
    struct run r;
    run_init(&r, "", NULL, -1);
    run_start(&r);
    run_wait_started(&r);
    atomic_store(&r.out.fail, 1); /* the client vanished */
    publish("default", NULL, "into the void");
    run_join(&r, 10000);
    ck_assert_int_eq(r.res.reason, SSE_CLOSE_WRITE_FAILED);
    run_cleanup(&r);
}
END_TEST

/* No events and no socket to watch: the next heartbeat finds the client
 * gone, so a vanished client holds its thread at most one heartbeat. */
START_TEST(test_stream_run_failing_sink_found_by_heartbeat)
{
    cfg_set("heartbeat", "1");
    create_log();
    start_hub(0);
    struct run r;
    run_init(&r, "", NULL, -1);
    run_start(&r);
    run_wait_started(&r);
    int64_t t0 = sse_now_ns();
    atomic_store(&r.out.fail, 1);
    run_join(&r, 5000);
    int64_t ms = (sse_now_ns() - t0) / MS;
    ck_assert_int_eq(r.res.reason, SSE_CLOSE_WRITE_FAILED);
    ck_assert_msg(ms < 2500, "noticed after %" PRId64 " ms", ms);
    run_cleanup(&r);
}
END_TEST

START_TEST(test_stream_run_failing_sink_at_start)
{
    create_log();
    start_hub(0);
    struct run r;
    run_init(&r, "", NULL, -1);
    atomic_store(&r.out.fail, 1);
    parse_request(&r);
    sse_stream_run(&E.h.env, &r.req, &r.vars, SSE_CORS_NONE, &r.out.sink,
                   &r.res);
    ck_assert_int_eq(r.res.reason, SSE_CLOSE_CLIENT_GONE);
    ck_assert_int_eq(r.res.bytes, 0);
    run_cleanup(&r);
}
END_TEST

START_TEST(test_stream_run_hangup_client_gone)
{
    create_log();
    start_hub(0);
    int sv[2];
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    struct run r;
    run_init(&r, "", NULL, sv[0]);
    run_start(&r);
    run_wait_started(&r);
    /* The web server closes the connection; writes fail from now on. */
    atomic_store(&r.out.fail, 1);
    int64_t t0 = sse_now_ns();
    close(sv[1]);
    run_join(&r, 5000);
    int64_t ms = (sse_now_ns() - t0) / MS;
    ck_assert_int_eq(r.res.reason, SSE_CLOSE_CLIENT_GONE);
    /* Within a moment, not at the next heartbeat (15 s). */
    ck_assert_msg(ms < 2000, "noticed after %" PRId64 " ms", ms);
    close(sv[0]);
    run_cleanup(&r);
}
END_TEST

START_TEST(test_stream_run_half_close_keeps_streaming)
{
    create_log();
    start_hub(0);
    int sv[2];
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    struct run r;
    run_init(&r, "", NULL, sv[0]);
    run_start(&r);
    run_wait_started(&r);
    /* Only the web server's sending side closes; writes still work. */
    ck_assert_int_eq(shutdown(sv[1], SHUT_WR), 0);
    ck_assert(wait_text(&r, "\n:\n\n", 5000)); /* the probe comment */
    int64_t id = publish("default", NULL, "still delivered");
    ck_assert(wait_event_id(&r, id, 10000));
    stop_and_join(&r);
    ck_assert_int_eq(r.res.reason, SSE_CLOSE_SHUTDOWN);
    close(sv[0]);
    close(sv[1]);
    run_cleanup(&r);
}
END_TEST

START_TEST(test_stream_run_reset_on_replaced_db)
{
    create_log();
    publish_n("default", 3);
    start_hub(0);
    struct run r;
    run_init(&r, "", NULL, -1);
    run_start(&r);
    run_wait_started(&r);
    char *other = tu_log_create(E.dir, "restore.db");
    sse_admin_close(E.pub);
    E.pub = NULL;
    tu_sql(E.db, "PRAGMA wal_checkpoint(TRUNCATE);");
    ck_assert_int_eq(rename(other, E.db), 0);
    free(other);
    run_join(&r, 10000);
    ck_assert_int_eq(r.res.reason, SSE_CLOSE_RESET);
    struct output o;
    output_read(&r, &o);
    ck_assert(sse_parser_idle(o.p));
    ck_assert_ptr_nonnull(strstr(body(&o), ": database replaced"));
    finish(&r, &o);
}
END_TEST

/* --- the backlog: memory, snapshots, unreadable rows --- */

START_TEST(test_stream_catch_up_writes_hold_no_snapshot)
{
    /* Rows big enough that a batch passes 64 KiB: a session that wrote
     * while reading would hold the statement's snapshot during the write. */
    create_log();
    char *big = malloc(30001);
    ck_assert_ptr_nonnull(big);
    memset(big, 'b', 30000);
    big[30000] = '\0';
    int64_t last = -1;
    for (int i = 0; i < 12; i++)
        last = publish("default", NULL, big);
    free(big);
    start_hub(0);
    struct run r;
    run_init(&r, "", "0", -1);
    ck_assert_int_eq(
        sqlite3_open_v2(E.db, &r.out.probe, SQLITE_OPEN_READWRITE, NULL),
        SQLITE_OK);
    sqlite3_busy_timeout(r.out.probe, 1000);
    run_start(&r);
    int got = wait_event_id(&r, last, 20000);
    stop_and_join(&r);
    sqlite3_close(r.out.probe);
    ck_assert_msg(r.out.probe_failures == 0,
                  "%d of %d writes happened while a read snapshot was held",
                  r.out.probe_failures, r.out.probe_writes);
    ck_assert_msg(got, "the backlog did not arrive");
    ck_assert_int_ge(r.out.probe_writes, 3);
    struct output o;
    output_read(&r, &o);
    int64_t want[16];
    assert_ids(&o, want, id_range(1, last, want), 0);
    finish(&r, &o);
}
END_TEST

START_TEST(test_stream_run_resume_event_larger_than_batch_bytes)
{
    /* A batch always takes its first row, however large. */
    create_log();
    char *big = malloc(SSE_EVENT_DATA_MAX + 1);
    ck_assert_ptr_nonnull(big);
    memset(big, 'x', SSE_EVENT_DATA_MAX);
    big[SSE_EVENT_DATA_MAX] = '\0';
    publish("default", NULL, big);
    free(big);
    int64_t last = publish("default", NULL, "small");
    start_hub(0);
    struct run r;
    struct output o;
    stream_until(&r, &o, "", "0", last);
    int64_t want[] = {1, 2};
    assert_ids(&o, want, 2, 0);
    ck_assert_uint_eq(strlen(sse_parser_event(o.p, 0)->data),
                      SSE_EVENT_DATA_MAX);
    finish(&r, &o);
}
END_TEST

/* Makes E.db an events table made by hand (no CHECKs, no NOT NULL) with a
 * user_version the worker accepts, and the publisher connection. */
static void create_handmade_log(void)
{
    char sql[512];
    E.db = tu_path(E.dir, "events.db");
    tu_write_file(E.db, "", 0);
    snprintf(sql, sizeof sql,
             "PRAGMA journal_mode=WAL;"
             "CREATE TABLE events (id INTEGER PRIMARY KEY AUTOINCREMENT,"
             " channel TEXT, event TEXT, data TEXT, created_at INTEGER);"
             "PRAGMA user_version = %d;",
             SSE_SCHEMA_VERSION);
    tu_sql(E.db, sql);
    E.pub = tu_admin_open(E.db);
    cfg_set("db", E.db);
}

/* Output ids of r (a stream that has ended) into ids; returns the count. */
static size_t ids_of(struct run *r, int64_t *ids, size_t cap)
{
    struct output o;
    output_read(r, &o);
    size_t n = sse_parser_count(o.p);
    ck_assert_uint_le(n, cap);
    for (size_t i = 0; i < n; i++)
        ids[i] = event_id(&o, i);
    output_free(&o);
    return n;
}

/* Pushes everything published so far out of the hub's ring (16 events),
 * so that a resume from an early id is read from SQL. */
static void push_out_of_ring(void)
{
    publish_n("filler", 20);
    int64_t covered, oldest, head;
    int64_t deadline = sse_now_ns() + 5000 * MS;
    do {
        ck_assert_msg(sse_now_ns() < deadline, "the hub did not read");
        tu_tick();
        sse_fanout_window(E.h.fanout, &covered, &oldest, &head);
    } while (covered < 4);
}

START_TEST(test_stream_null_data_row_skipped_live_and_resume)
{
    /* One row that cannot be read ends no stream, on its channel or any
     * other, and a resume from before it gets the rows after it. */
    create_handmade_log();
    start_hub(0);
    struct run x, y;
    run_init(&x, "channel=x", NULL, -1);
    run_start(&x);
    run_init(&y, "channel=y", NULL, -1);
    run_start(&y);
    run_wait_started(&x);
    run_wait_started(&y);
    int64_t a = publish("x", NULL, "a");
    tu_sql(E.db, "INSERT INTO events(channel, data) VALUES ('x', NULL)");
    int64_t b = publish("x", NULL, "b");
    int64_t c = publish("y", NULL, "c");
    ck_assert_msg(wait_event_id(&x, b, 5000), "x stopped at the bad row");
    ck_assert_msg(wait_event_id(&y, c, 5000), "y stopped at the bad row");
    /* A bad row last in a read: the hub's head passes it. */
    tu_sql(E.db, "INSERT INTO events(channel, data) VALUES ('x', NULL)");
    int64_t bad = c + 1;
    int64_t deadline = sse_now_ns() + 5000 * MS;
    while (sse_fanout_head(E.h.fanout) != bad) {
        ck_assert_msg(sse_now_ns() < deadline, "hub head %lld, want %lld",
                      (long long)sse_fanout_head(E.h.fanout), (long long)bad);
        tu_tick();
    }
    int64_t d = publish("x", NULL, "d");
    ck_assert_msg(wait_event_id(&x, d, 5000), "x stopped at the last bad row");
    ck_assert_int_eq(atomic_load(&x.done), 0);
    ck_assert_int_eq(atomic_load(&y.done), 0);
    ck_assert_int_ge(atomic_load(&E.m.rows_skipped), 2);

    push_out_of_ring();
    struct run rx;
    struct output o;
    stream_until(&rx, &o, "channel=x", "0", d); /* stops the hub */
    int64_t want[] = {a, b, d};
    assert_ids(&o, want, 3, 0);
    finish(&rx, &o);
    run_join(&x, 10000);
    run_join(&y, 10000);
    int64_t got[8];
    ck_assert_uint_eq(ids_of(&x, got, 8), 3);
    ck_assert(got[0] == a && got[1] == b && got[2] == d);
    ck_assert_uint_eq(ids_of(&y, got, 8), 1);
    ck_assert_int_eq(got[0], c);
    run_cleanup(&x);
    run_cleanup(&y);
}
END_TEST

START_TEST(test_stream_blob_channel_live_equals_resume)
{
    /* With CHECKs off, a BLOB channel can be stored: the live path (the
     * hub's ring) and a resume read from SQL must agree on the rows. */
    create_log();
    start_hub(0);
    struct run live;
    run_init(&live, "channel=x", NULL, -1);
    run_start(&live);
    run_wait_started(&live);
    publish("x", NULL, "a");
    tu_sql(E.db, "PRAGMA ignore_check_constraints = ON;"
                 "DROP TRIGGER IF EXISTS events_limits_insert;"
                 "INSERT INTO events(channel, data)"
                 " VALUES (CAST('x' AS BLOB), 'blob');");
    int64_t last = publish("x", NULL, "b");
    ck_assert(wait_event_id(&live, last, 5000));
    push_out_of_ring();
    struct run resumed;
    struct output o;
    stream_until(&resumed, &o, "channel=x", "0", last); /* stops the hub */
    run_join(&live, 10000);
    int64_t live_ids[8], resumed_ids[8];
    size_t nl = ids_of(&live, live_ids, 8);
    size_t nr = ids_of(&resumed, resumed_ids, 8);
    ck_assert_msg(nl == nr, "live got %zu events, resumed %zu", nl, nr);
    for (size_t i = 0; i < nl; i++)
        ck_assert_int_eq(live_ids[i], resumed_ids[i]);
    ck_assert_uint_eq(nl, 2);
    finish(&resumed, &o);
    run_cleanup(&live);
}
END_TEST

/* --- HEAD, long poll, faults, busy --- */

START_TEST(test_stream_run_head_headers_only)
{
    create_log();
    publish_n("default", 3);
    start_hub(0);
    struct run r;
    run_init(&r, "", "0", -1);
    r.vars.method = "HEAD";
    parse_request(&r);
    sse_stream_run(&E.h.env, &r.req, &r.vars, SSE_CORS_NONE, &r.out.sink,
                   &r.res);
    struct output o;
    output_read(&r, &o);
    ck_assert_uint_gt(o.header_len, 0);
    ck_assert_uint_eq(o.header_len, o.len);
    assert_header_line(&o, "Content-Type: text/event-stream; charset=utf-8");
    ck_assert_int_eq(r.res.events, 0);
    finish(&r, &o);
}
END_TEST

START_TEST(test_stream_run_longpoll_backlog_at_once)
{
    create_log();
    publish_n("default", 5);
    start_hub(0);
    struct run r;
    run_init(&r, "longpoll=1&last_event_id=2", NULL, -1);
    run_start(&r);
    run_join(&r, 5000);
    ck_assert_int_eq(r.res.reason, SSE_CLOSE_LONGPOLL);
    struct output o;
    output_read(&r, &o);
    assert_header_line(&o, "Content-Type: text/plain; charset=utf-8");
    int64_t want[] = {3, 4, 5};
    assert_ids(&o, want, 3, 0);
    /* Plain events: no retry field in a long-poll answer. */
    ck_assert_int_eq(sse_parser_retry(o.p), -1);
    ck_assert(sse_parser_idle(o.p));
    finish(&r, &o);
}
END_TEST

START_TEST(test_stream_run_longpoll_waits_for_first)
{
    create_log();
    publish_n("default", 2);
    start_hub(0);
    struct run r;
    run_init(&r, "", NULL, -1);
    r.vars.requestor = "XHR";
    run_start(&r);
    ck_assert_int_eq(r.req.longpoll, 1);
    run_wait_started(&r);
    ck_assert(!atomic_load(&r.done));
    int64_t id = publish("default", NULL, "first");
    run_join(&r, 5000);
    ck_assert_int_eq(r.res.reason, SSE_CLOSE_LONGPOLL);
    struct output o;
    output_read(&r, &o);
    assert_ids(&o, &id, 1, 0);
    finish(&r, &o);
}
END_TEST

START_TEST(test_stream_run_longpoll_timeout_empty)
{
    cfg_set("longpoll-timeout", "1");
    create_log();
    start_hub(0);
    struct run r;
    run_init(&r, "longpoll=1", NULL, -1);
    int64_t t0 = sse_now_ns();
    run_start(&r);
    run_join(&r, 5000);
    int64_t ms = (sse_now_ns() - t0) / MS;
    ck_assert_int_ge(ms, 900);
    ck_assert_int_eq(r.res.reason, SSE_CLOSE_LONGPOLL);
    ck_assert_int_eq(r.res.events, 0);
    struct output o;
    output_read(&r, &o);
    ck_assert_uint_gt(o.header_len, 0);
    ck_assert_uint_eq(o.header_len, o.len);
    finish(&r, &o);
}
END_TEST

START_TEST(test_stream_run_db_missing_error_retry)
{
    char *path = tu_path(E.dir, "missing.db");
    cfg_set("db", path);
    free(path);
    start_hub(1);
    struct run r;
    run_init(&r, "", NULL, -1);
    parse_request(&r);
    sse_stream_run(&E.h.env, &r.req, &r.vars, SSE_CORS_NONE, &r.out.sink,
                   &r.res);
    ck_assert_int_eq(r.res.reason, SSE_CLOSE_FAULT);
    struct output o;
    output_read(&r, &o);
    ck_assert_int_eq(strncmp(o.raw, "Status: 200 OK\r\n", 16), 0);
    assert_header_line(&o, "Content-Type: text/event-stream; charset=utf-8");
    ck_assert_int_eq(sse_parser_retry(o.p), 7000);
    ck_assert_int_eq(strncmp(body(&o), "retry: 7000\n\n: error: ", 22), 0);
    ck_assert_uint_eq(sse_parser_count(o.p), 0);
    ck_assert(sse_parser_idle(o.p));
    ck_assert_int_ge(atomic_load(&E.m.db_faults), 1);
    finish(&r, &o);
}
END_TEST

START_TEST(test_stream_busy_retry_comment)
{
    create_log();
    struct run r;
    run_init(&r, "", NULL, -1);
    sse_stream_busy(&E.cfg, &r.req, &r.vars, SSE_CORS_NONE, &r.out.sink);
    struct output o;
    output_read(&r, &o);
    ck_assert_int_eq(strncmp(o.raw, "Status: 200 OK\r\n", 16), 0);
    assert_header_line(&o, "Content-Type: text/event-stream; charset=utf-8");
    ck_assert_int_eq(sse_parser_retry(o.p), 9000);
    ck_assert_uint_eq(sse_parser_comments(o.p), 1);
    ck_assert_uint_eq(sse_parser_count(o.p), 0);
    ck_assert(sse_parser_idle(o.p));
    ck_assert_int_eq(o.flushes, 1);
    finish(&r, &o);
}
END_TEST

static Suite *stream_suite(void)
{
    Suite *s = suite_create("stream");
    TCase *tc = tcase_create("start");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_stream_run_headers_retry_comment_first);
    tcase_add_test(tc, test_stream_run_padding_first);
    tcase_add_test(tc, test_stream_run_cors_headers);
    tcase_add_test(tc, test_stream_run_no_resume_only_new);
    suite_add_tcase(s, tc);

    tc = tcase_create("resume");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_stream_run_resume_exact_backlog);
    tcase_add_test(tc, test_stream_run_resume_query_param);
    tcase_add_test(tc, test_stream_run_resume_at_head_nothing_old);
    tcase_add_test(tc, test_stream_resume_exact_under_load);
    tcase_add_test(tc, test_stream_run_multi_channel_order);
    tcase_add_test(tc, test_stream_run_pruned_resume_gap);
    tcase_add_test(tc, test_stream_run_pruned_while_running_gap);
    tcase_add_test(tc, test_stream_run_resume_oldest_minus_one_no_gap);
    tcase_add_test(tc, test_stream_run_channel_pruned_resume_gap);
    tcase_add_test(tc, test_stream_run_channel_pruned_other_channel_no_gap);
    tcase_add_test(tc, test_stream_run_channel_pruned_at_horizon_no_gap);
    tcase_add_test(tc, test_stream_run_future_resume_gap);
    tcase_add_test(tc, test_stream_run_replay_param);
    tcase_add_test(tc, test_stream_run_replay_config_default);
    tcase_add_test(tc, test_stream_run_replay_more_than_stored);
    tcase_add_test(tc, test_stream_run_resume_beats_replay);
    tcase_add_test(tc,
                   test_stream_run_replay_latest_one_per_channel_in_id_order);
    tcase_add_test(tc, test_stream_run_replay_latest_config_default);
    tcase_add_test(tc, test_stream_run_replay_latest_first_id_and_empty_log);
    tcase_add_test(tc, test_stream_run_resume_beats_replay_latest);
    tcase_add_test(tc, test_stream_catch_up_writes_hold_no_snapshot);
    tcase_add_test(tc, test_stream_run_resume_event_larger_than_batch_bytes);
    tcase_add_test(tc, test_stream_null_data_row_skipped_live_and_resume);
    tcase_add_test(tc, test_stream_blob_channel_live_equals_resume);
    suite_add_tcase(s, tc);

    tc = tcase_create("end");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_stream_run_heartbeat_when_idle);
    tcase_add_test(tc, test_stream_run_max_lifetime_ends_cleanly);
    tcase_add_test(tc, test_stream_run_access_expiry_ends_with_auth_event);
    tcase_add_test(tc, test_stream_run_shutdown_reason);
    tcase_add_test(tc, test_stream_run_failing_sink_write_failed);
    tcase_add_test(tc, test_stream_run_failing_sink_found_by_heartbeat);
    tcase_add_test(tc, test_stream_run_failing_sink_at_start);
    tcase_add_test(tc, test_stream_run_hangup_client_gone);
    tcase_add_test(tc, test_stream_run_half_close_keeps_streaming);
    tcase_add_test(tc, test_stream_run_reset_on_replaced_db);
    suite_add_tcase(s, tc);

    tc = tcase_create("other_answers");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_stream_run_head_headers_only);
    tcase_add_test(tc, test_stream_run_longpoll_backlog_at_once);
    tcase_add_test(tc, test_stream_run_longpoll_waits_for_first);
    tcase_add_test(tc, test_stream_run_longpoll_timeout_empty);
    tcase_add_test(tc, test_stream_run_db_missing_error_retry);
    tcase_add_test(tc, test_stream_busy_retry_comment);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run_suite(stream_suite());
}
