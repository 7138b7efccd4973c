/* check_loop.c - unit tests for lib/loop.c (streams without a thread).
 * SPDX-License-Identifier: MIT
 *
 * A real hub thread watches a real SQLite file; streams are parked in a
 * running loop with a test connection: one end of a socketpair, written
 * raw (no FastCGI framing; fcgi/ has its own tests) and ended with a
 * marker line in place of the closing records. The test reads the other
 * end like a web server would, and parses it with the spec-exact parser.
 * Small socket buffers make the loop's writes stop part way, so queueing
 * and the EPOLLOUT resumption are on every path; the ring is small in the
 * catch-up tests, so a stream falls behind it and is read from the log.
 */
#include <check.h>
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "admin.h"
#include "clock.h"
#include "config.h"
#include "fanout.h"
#include "loop.h"
#include "metrics.h"
#include "request.h"
#include "sse_error.h"
#include "sse_parser.h"
#include "testutil.h"

#define MS 1000000LL
#define END_MARK "<END>\n"
#define MAX_ENDED 1024

static struct {
    char *dir;
    char *db;
    struct sse_config cfg;
    struct sse_metrics m;
    struct tu_hub h;
    struct sse_loop *loop;
    struct sse_admin *pub;
    pthread_mutex_t mu;
    int ended[MAX_ENDED]; /* reasons, in the order streams ended */
    int64_t ended_events[MAX_ENDED];
    size_t nended;
    atomic_int closes;
} E;

static void cfg_set(const char *name, const char *value)
{
    char err[200];
    int rc = sse_config_set(&E.cfg, name, value, err, sizeof err);
    ck_assert_msg(rc == 0, "sse_config_set(%s): %s", name, err);
}

static void on_end(void *ctx, const struct sse_stream_info *info,
                   const struct sse_stream_result *res,
                   const char *const *channels, size_t nchannels)
{
    (void)ctx;
    (void)info;
    ck_assert_uint_ge(nchannels, 1);
    ck_assert_ptr_nonnull(channels[0]);
    pthread_mutex_lock(&E.mu);
    if (E.nended < MAX_ENDED) {
        E.ended[E.nended] = res->reason;
        E.ended_events[E.nended] = res->events;
    }
    E.nended++;
    pthread_mutex_unlock(&E.mu);
}

static size_t nended(void)
{
    pthread_mutex_lock(&E.mu);
    size_t n = E.nended;
    pthread_mutex_unlock(&E.mu);
    return n;
}

static void setup(void)
{
    memset(&E, 0, sizeof E);
    pthread_mutex_init(&E.mu, NULL);
    E.dir = tu_tmpdir_new();
    sse_config_init(&E.cfg);
    sse_metrics_init(&E.m, 4);
    cfg_set("poll-ms", "5");
    cfg_set("ring-events", "4096");
    cfg_set("heartbeat", "30");
    cfg_set("write-timeout", "30");
    cfg_set("error-retry-ms", "7000");
}

static void teardown(void)
{
    if (E.loop) {
        sse_loop_stop(E.loop, 2000);
        sse_loop_free(E.loop);
    }
    tu_hub_free(&E.h);
    sse_admin_close(E.pub);
    free(E.db);
    sse_config_cleanup(&E.cfg);
    tu_tmpdir_remove(E.dir);
    pthread_mutex_destroy(&E.mu);
}

/* Creates the log, starts the hub and the loop (after cfg_set calls). */
static void start(void)
{
    E.db = tu_log_create(E.dir, "events.db");
    E.pub = tu_admin_open(E.db);
    cfg_set("db", E.db);
    ck_assert_int_eq(tu_hub_new(&E.h, &E.cfg, &E.m), 0);
    ck_assert_int_eq(sse_hub_start(E.h.hub), 0);
    ck_assert_int_eq(
        sse_loop_new(&E.cfg, &E.m, E.h.fanout, E.h.pool, on_end, NULL, &E.loop),
        0);
    ck_assert_int_eq(sse_loop_start(E.loop), 0);
    int64_t deadline = sse_now_ns() + 5000 * MS;
    while (sse_fanout_head(E.h.fanout) < 0) {
        ck_assert(sse_now_ns() < deadline);
        tu_tick();
    }
}

/* --- the test connection: raw bytes, a marker for the end --- */

struct raw {
    int fd;
    size_t end_sent;
};

static int raw_send(void *ctx, struct iovec *iov, int niov, size_t total,
                    size_t *taken)
{
    struct raw *r = ctx;
    size_t sum = 0;
    for (int i = 1; i <= niov; i++)
        sum += iov[i].iov_len;
    ck_assert_uint_eq(sum, total);
    /* iov[0] is ours (sink.h): no header in this transport. */
    struct msghdr msg = {.msg_iov = iov + 1, .msg_iovlen = (size_t)niov};
    ssize_t n = sendmsg(r->fd, &msg, MSG_DONTWAIT | MSG_NOSIGNAL);
    *taken = 0;
    if (n < 0)
        return errno == EAGAIN ? 0 : SSE_EIO;
    *taken = (size_t)n;
    return 0;
}

static int raw_finish(void *ctx)
{
    struct raw *r = ctx;
    while (r->end_sent < sizeof END_MARK - 1) {
        ssize_t n = send(r->fd, END_MARK + r->end_sent,
                         sizeof END_MARK - 1 - r->end_sent,
                         MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n < 0)
            return errno == EAGAIN ? SSE_EAGAIN : SSE_EIO;
        r->end_sent += (size_t)n;
    }
    return 0;
}

static void raw_close(void *ctx)
{
    struct raw *r = ctx;
    close(r->fd);
    free(r);
    atomic_fetch_add(&E.closes, 1);
}

static const struct sse_conn_ops RAW_OPS = {
    .send = raw_send, .finish = raw_finish, .close = raw_close};

/* Parks a stream for channel at the fan-out's head over a new socketpair
 * (sndbuf > 0: that send buffer); returns the peer's end. */
static int park(const char *channel, int sndbuf)
{
    int sv[2];
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    if (sndbuf > 0) {
        setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
        setsockopt(sv[1], SOL_SOCKET, SO_RCVBUF, &sndbuf, sizeof sndbuf);
    }
    struct raw *r = calloc(1, sizeof *r);
    r->fd = sv[0];
    struct sse_request req;
    memset(&req, 0, sizeof req);
    memcpy(req.channels[0], channel, strlen(channel) + 1);
    req.nchannels = 1;
    struct sse_sub *sub;
    ck_assert_int_eq(sse_fanout_add(E.h.fanout, &req, -1, &sub), 0);
    int64_t now = sse_now_ns();
    struct sse_park p = {
        .conn = {.ops = &RAW_OPS, .ctx = r, .fd = sv[0]},
        .sub = sub,
        .cursor = sse_fanout_head(E.h.fanout),
        .next_heartbeat_ns = now + (int64_t)E.cfg.heartbeat_s * SSE_NS_PER_S,
        .end_ns = E.cfg.max_lifetime_s
                      ? now + (int64_t)E.cfg.max_lifetime_s * SSE_NS_PER_S
                      : INT64_MAX};
    snprintf(p.info.client, sizeof p.info.client, "test");
    ck_assert_int_eq(sse_loop_park(E.loop, &p), 0);
    return sv[1];
}

/* Reads what fd has until done(buf) or ms pass; returns done's answer. */
static int read_until(int fd, struct sse_buf *buf,
                      int (*done)(const struct sse_buf *, const void *),
                      const void *arg, int ms)
{
    int64_t deadline = sse_now_ns() + ms * MS;
    while (!done(buf, arg)) {
        int64_t left = (deadline - sse_now_ns()) / MS;
        if (left <= 0)
            return 0;
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        if (poll(&pfd, 1, (int)left) <= 0)
            continue;
        char tmp[65536];
        ssize_t n = recv(fd, tmp, sizeof tmp, MSG_DONTWAIT);
        if (n == 0)
            return done(buf, arg);
        if (n > 0)
            ck_assert_int_eq(sse_buf_append(buf, tmp, (size_t)n), 0);
    }
    return 1;
}

static int has_text(const struct sse_buf *b, const void *text)
{
    return b->data && strstr(b->data, text) != NULL;
}

/* The events in b (parsed), as ids; returns the count. */
static size_t ids_of(const struct sse_buf *b, int64_t *ids, size_t max)
{
    struct sse_parser *p = sse_parser_new();
    if (b->len)
        tu_parse(p, b->data, b->len);
    size_t n = sse_parser_count(p);
    for (size_t i = 0; i < n && i < max; i++)
        ids[i] = strtoll(sse_parser_event(p, i)->last_event_id, NULL, 10);
    sse_parser_free(p);
    return n;
}

static int has_events(const struct sse_buf *b, const void *want)
{
    int64_t ids[1];
    return ids_of(b, ids, 0) >= *(const size_t *)want;
}

/* Waits up to ms for n streams to have ended. */
static int wait_ended(size_t n, int ms)
{
    int64_t deadline = sse_now_ns() + ms * MS;
    while (nended() < n) {
        if (sse_now_ns() >= deadline)
            return 0;
        tu_tick();
    }
    return 1;
}

/* Waits up to ms for the loop to hold n streams. A stream is reported
 * ended before it leaves the count, so tests await the count rather
 * than read it right after wait_ended. */
static int wait_streams(long long n, int ms)
{
    int64_t deadline = sse_now_ns() + ms * MS;
    while (sse_loop_streams(E.loop) != n) {
        if (sse_now_ns() >= deadline)
            return 0;
        tu_tick();
    }
    return 1;
}

static int64_t publish_n(const char *channel, int n, size_t size)
{
    char *data = malloc(size + 1);
    memset(data, 'd', size);
    data[size] = '\0';
    int64_t id = -1;
    for (int i = 0; i < n; i++)
        id = tu_publish(E.pub, channel, NULL, data);
    free(data);
    return id;
}

/* Asserts b holds exactly the events first..last, in order. */
static void assert_range(const struct sse_buf *b, int64_t first, int64_t last)
{
    size_t want = (size_t)(last - first + 1);
    int64_t *ids = calloc(want + 16, sizeof *ids);
    size_t n = ids_of(b, ids, want + 16);
    for (size_t i = 0; i < n && i < want; i++)
        ck_assert_msg(ids[i] == first + (int64_t)i,
                      "event %zu: id %" PRId64 ", want %" PRId64, i, ids[i],
                      first + (int64_t)i);
    ck_assert_msg(n == want, "%zu events, want %zu", n, want);
    free(ids);
}

START_TEST(test_loop_parked_stream_gets_events)
{
    start();
    int fd = park("default", 0);
    int64_t first = tu_publish(E.pub, NULL, "tick", "one\ntwo");
    tu_publish(E.pub, "other", NULL, "not for it");
    int64_t last = tu_publish(E.pub, NULL, NULL, "three");
    struct sse_buf b;
    sse_buf_init(&b, 0);
    size_t want = 2;
    ck_assert(read_until(fd, &b, has_events, &want, 5000));
    int64_t ids[4];
    ck_assert_uint_eq(ids_of(&b, ids, 4), 2);
    ck_assert_int_eq(ids[0], first);
    ck_assert_int_eq(ids[1], last);
    ck_assert_int_eq(sse_loop_streams(E.loop), 1);
    ck_assert_int_eq(atomic_load(&E.m.streams_parked), 1);
    sse_buf_cleanup(&b);
    close(fd);
}
END_TEST

START_TEST(test_loop_partial_writes_resume_on_epollout)
{
    start();
    int fd = park("default", 4096);
    /* 300 events of 2 kB in one commit: far more than the socket holds, so
     * the loop's sends stop part way and it waits for EPOLLOUT. */
    tu_sql(E.db, "WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 "
                 "FROM c WHERE i < 300) INSERT INTO events(channel, data) "
                 "SELECT 'default', printf('%2000d', i) FROM c;");
    struct timespec pause = {0, 200 * 1000000L};
    nanosleep(&pause, NULL); /* the loop meets a full socket */
    ck_assert_int_eq(sse_loop_streams(E.loop), 1);
    struct sse_buf b;
    sse_buf_init(&b, 0);
    size_t want = 300;
    ck_assert(read_until(fd, &b, has_events, &want, 20000));
    assert_range(&b, 1, 300);
    ck_assert_int_eq(atomic_load(&E.m.events_replayed), 0); /* the ring */
    sse_buf_cleanup(&b);
    close(fd);
}
END_TEST

START_TEST(test_loop_behind_ring_caught_up_exactly)
{
    cfg_set("ring-events", "16");
    cfg_set("batch", "8");
    start();
    int fd = park("default", 4096);
    /* Committed one by one while the client does not read: the ring keeps
     * 16, the stream falls behind and is caught up from the log. */
    int64_t last = publish_n("default", 200, 500);
    publish_n("other", 40, 10);
    struct sse_buf b;
    sse_buf_init(&b, 0);
    size_t want = 200;
    ck_assert(read_until(fd, &b, has_events, &want, 20000));
    assert_range(&b, 1, last);
    ck_assert_int_gt(atomic_load(&E.m.events_replayed), 0);
    /* Caught up: a new event comes from the ring again. */
    int64_t id = tu_publish(E.pub, NULL, NULL, "live again");
    want = 201;
    ck_assert(read_until(fd, &b, has_events, &want, 5000));
    int64_t ids[202];
    ck_assert_uint_eq(ids_of(&b, ids, 202), 201);
    ck_assert_int_eq(ids[200], id);
    sse_buf_cleanup(&b);
    close(fd);
}
END_TEST

START_TEST(test_loop_heartbeat_then_probe)
{
    cfg_set("heartbeat", "1");
    start();
    int fd = park("default", 0);
    struct sse_buf b;
    sse_buf_init(&b, 0);
    int64_t t0 = sse_now_ns();
    ck_assert(read_until(fd, &b, has_text, ": heartbeat\n\n", 3000));
    int64_t waited = (sse_now_ns() - t0) / MS;
    ck_assert_msg(waited >= 800, "heartbeat after %" PRId64 " ms", waited);
    ck_assert(read_until(fd, &b, has_text, ": heartbeat\n\n:\n\n", 2000));
    ck_assert_int_ge(atomic_load(&E.m.heartbeats), 1);
    sse_buf_cleanup(&b);
    close(fd);
}
END_TEST

START_TEST(test_loop_lifetime_ends_after_whole_event)
{
    cfg_set("max-lifetime", "1");
    start();
    int fd = park("default", 0);
    int64_t id = tu_publish(E.pub, NULL, NULL, "before the end");
    struct sse_buf b;
    sse_buf_init(&b, 0);
    ck_assert(read_until(fd, &b, has_text, END_MARK, 5000));
    ck_assert(
        has_text(&b, ": stream lifetime reached, reconnect\n\n" END_MARK));
    int64_t ids[2];
    ck_assert_uint_eq(ids_of(&b, ids, 2), 1);
    ck_assert_int_eq(ids[0], id);
    ck_assert(wait_ended(1, 2000));
    ck_assert_int_eq(E.ended[0], SSE_CLOSE_LIFETIME);
    ck_assert_int_eq(E.ended_events[0], 1);
    ck_assert_msg(wait_streams(0, 2000), "the ended stream stayed counted");
    ck_assert_int_eq(atomic_load(&E.closes), 1);
    sse_buf_cleanup(&b);
    close(fd);
}
END_TEST

START_TEST(test_loop_access_expiry_ends_with_auth_event)
{
    start();
    /* A stream whose access runs out before any max-lifetime: parked with
     * its end as the handshake computed it (stream.c). */
    int sv[2];
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    struct raw *r = calloc(1, sizeof *r);
    r->fd = sv[0];
    struct sse_request req;
    memset(&req, 0, sizeof req);
    memcpy(req.channels[0], "default", 8);
    req.nchannels = 1;
    struct sse_sub *sub;
    ck_assert_int_eq(sse_fanout_add(E.h.fanout, &req, -1, &sub), 0);
    int64_t now = sse_now_ns();
    struct sse_park p = {.conn = {.ops = &RAW_OPS, .ctx = r, .fd = sv[0]},
                         .sub = sub,
                         .cursor = sse_fanout_head(E.h.fanout),
                         .next_heartbeat_ns = now + 30 * SSE_NS_PER_S,
                         .end_ns = now + 300 * MS,
                         .end_reason = SSE_CLOSE_EXPIRED};
    ck_assert_int_eq(sse_loop_park(E.loop, &p), 0);
    struct sse_buf b;
    sse_buf_init(&b, 0);
    ck_assert(read_until(sv[1], &b, has_text, END_MARK, 3000));
    ck_assert(has_text(&b, "event: sselite-auth\ndata: {\"reason\":\"expired\"}"
                           "\n\n: access expired, renew it\n\n" END_MARK));
    ck_assert(wait_ended(1, 2000));
    ck_assert_int_eq(E.ended[0], SSE_CLOSE_EXPIRED);
    ck_assert_int_eq(E.ended_events[0], 1);
    sse_buf_cleanup(&b);
    close(sv[1]);
}
END_TEST

START_TEST(test_loop_hangup_frees_at_once)
{
    start();
    int fd = park("default", 0);
    int64_t deadline = sse_now_ns() + 2000 * MS;
    while (atomic_load(&E.m.streams_parked) < 1 && sse_now_ns() < deadline)
        tu_tick();
    int64_t t0 = sse_now_ns();
    close(fd);
    ck_assert_msg(wait_ended(1, 2000), "a hang-up did not end the stream");
    ck_assert_msg((sse_now_ns() - t0) / MS < 1000, "noticed late");
    ck_assert_int_eq(E.ended[0], SSE_CLOSE_CLIENT_GONE);
    ck_assert_msg(wait_streams(0, 2000), "the ended stream stayed counted");
    ck_assert_int_eq(atomic_load(&E.m.streams_parked), 0);
    ck_assert_int_eq(atomic_load(&E.closes), 1);
}
END_TEST

START_TEST(test_loop_half_close_keeps_streaming)
{
    start();
    int fd = park("default", 0);
    ck_assert_int_eq(shutdown(fd, SHUT_WR), 0);
    struct sse_buf b;
    sse_buf_init(&b, 0);
    ck_assert(read_until(fd, &b, has_text, ":\n\n", 2000)); /* the probe */
    int64_t id = tu_publish(E.pub, NULL, NULL, "still here");
    size_t want = 1;
    ck_assert(read_until(fd, &b, has_events, &want, 5000));
    int64_t ids[1];
    ids_of(&b, ids, 1);
    ck_assert_int_eq(ids[0], id);
    ck_assert_uint_eq(nended(), 0);
    sse_buf_cleanup(&b);
    close(fd);
}
END_TEST

START_TEST(test_loop_stalled_client_dropped)
{
    cfg_set("write-timeout", "1");
    start();
    int fd = park("default", 4096);
    publish_n("default", 100, 2000); /* never read */
    ck_assert_msg(wait_ended(1, 5000), "a stalled stream was not dropped");
    ck_assert_int_eq(E.ended[0], SSE_CLOSE_WRITE_FAILED);
    ck_assert_msg(wait_streams(0, 2000), "the ended stream stayed counted");
    close(fd);
}
END_TEST

START_TEST(test_loop_fault_ends_with_error_retry)
{
    start();
    int fd = park("default", 0);
    int64_t deadline = sse_now_ns() + 2000 * MS;
    while (atomic_load(&E.m.streams_parked) < 1 && sse_now_ns() < deadline)
        tu_tick();
    sse_fanout_fault(E.h.fanout, SSE_ECORRUPT);
    struct sse_buf b;
    sse_buf_init(&b, 0);
    ck_assert(read_until(fd, &b, has_text, END_MARK, 3000));
    ck_assert(has_text(&b, "retry: 7000\n\n: error: database cannot be read, "
                           "retry later\n\n" END_MARK));
    ck_assert(wait_ended(1, 2000));
    ck_assert_int_eq(E.ended[0], SSE_CLOSE_FAULT);
    sse_buf_cleanup(&b);
    close(fd);
}
END_TEST

START_TEST(test_loop_stop_ends_every_parked_stream)
{
    start();
    enum { N = 300 };
    int *fds = calloc(N, sizeof *fds);
    for (int i = 0; i < N; i++)
        fds[i] = park(i % 2 ? "odd" : "default", 0);
    int64_t deadline = sse_now_ns() + 5000 * MS;
    while (atomic_load(&E.m.streams_parked) < N && sse_now_ns() < deadline)
        tu_tick();
    ck_assert_int_eq(sse_loop_streams(E.loop), N);
    sse_loop_stop(E.loop, 5000);
    ck_assert_uint_eq(nended(), N);
    for (int i = 0; i < N; i++) {
        ck_assert_int_eq(E.ended[i], SSE_CLOSE_SHUTDOWN);
        struct sse_buf b;
        sse_buf_init(&b, 0);
        ck_assert(read_until(fds[i], &b, has_text,
                             ": server shutting down, reconnect\n\n" END_MARK,
                             1000));
        sse_buf_cleanup(&b);
        close(fds[i]);
    }
    ck_assert_int_eq(atomic_load(&E.closes), N);
    ck_assert_int_eq(sse_loop_streams(E.loop), 0);
    free(fds);
    /* A stopped loop takes nothing. */
    struct sse_park p;
    memset(&p, 0, sizeof p);
    ck_assert_int_eq(sse_loop_park(E.loop, &p), SSE_ECLOSED);
}
END_TEST

static Suite *loop_suite(void)
{
    Suite *s = suite_create("loop");
    TCase *tc = tcase_create("loop");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 90);
    tcase_add_test(tc, test_loop_parked_stream_gets_events);
    tcase_add_test(tc, test_loop_partial_writes_resume_on_epollout);
    tcase_add_test(tc, test_loop_behind_ring_caught_up_exactly);
    tcase_add_test(tc, test_loop_heartbeat_then_probe);
    tcase_add_test(tc, test_loop_lifetime_ends_after_whole_event);
    tcase_add_test(tc, test_loop_access_expiry_ends_with_auth_event);
    tcase_add_test(tc, test_loop_hangup_frees_at_once);
    tcase_add_test(tc, test_loop_half_close_keeps_streaming);
    tcase_add_test(tc, test_loop_stalled_client_dropped);
    tcase_add_test(tc, test_loop_fault_ends_with_error_retry);
    tcase_add_test(tc, test_loop_stop_ends_every_parked_stream);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run_suite(loop_suite());
}
