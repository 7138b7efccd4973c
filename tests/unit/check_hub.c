/* check_hub.c - unit tests for lib/hub.c (change detector and event ring).
 * SPDX-License-Identifier: MIT
 *
 * Each test runs a real hub thread on a real SQLite file in its own
 * temporary directory, publishes with lib/admin.c as `sselite publish`
 * would, and waits for outcomes with deadlines (never bare sleeps). Every
 * test stops its hub, removes its waiters and frees everything, so the
 * suite is clean under valgrind (CK_FORK=no).
 */
#include <check.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "admin.h"
#include "config.h"
#include "eventlog.h"
#include "clock.h"
#include "hub.h"
#include "metrics.h"
#include "request.h"
#include "sse_error.h"
#include "sse_parser.h"
#include "testutil.h"

#define MS 1000000LL
#define RING 16

/* --- fixture: a temp dir with an event log "events.db", a config with a
 * small ring and a fast poll, metrics, and a hub that is not started --- */

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

/* Points the config at dir/name and creates the hub (not started). */
static void hub_new_for(const char *name)
{
    char *path = tu_path(E.dir, name);
    cfg_set("db", path);
    free(path);
    int rc = tu_hub_new(&E.h, &E.cfg, &E.m);
    ck_assert_msg(rc == 0, "tu_hub_new: %s", sse_strerror(rc));
}

static void setup(void)
{
    memset(&E, 0, sizeof E);
    E.dir = tu_tmpdir_new();
    sse_config_init(&E.cfg);
    sse_metrics_init(&E.m, 1);
    char ring[16];
    snprintf(ring, sizeof ring, "%d", RING);
    cfg_set("ring-events", ring);
    cfg_set("poll-ms", "5");
    cfg_set("batch", "8");
    cfg_set("busy-timeout-ms", "2000");
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

/* Pauses about 1 ms between polls of a condition. */
/* Waits up to ms for the hub's head to reach at least min. */
static int wait_head(int64_t min, int ms)
{
    int64_t deadline = sse_now_ns() + ms * MS;
    while (sse_fanout_head(E.h.fanout) < min) {
        if (sse_now_ns() >= deadline)
            return 0;
        tu_tick();
    }
    return 1;
}

/* Waits up to ms for the hub to report a fault (want != 0) or none. */
static int wait_fault(int want_fault, int ms)
{
    int64_t deadline = sse_now_ns() + ms * MS;
    for (;;) {
        int f = sse_fanout_fault_code(E.h.fanout);
        if (want_fault ? f != 0 : (f == 0 && sse_fanout_head(E.h.fanout) >= 0))
            return 1;
        if (sse_now_ns() >= deadline)
            return 0;
        tu_tick();
    }
}

/* Creates events.db, opens the publisher and starts a healthy hub. */
static void start_healthy(void)
{
    E.db = tu_log_create(E.dir, "events.db");
    E.pub = tu_admin_open(E.db);
    hub_new_for("events.db");
    ck_assert_int_eq(sse_hub_start(E.h.hub), 0);
    ck_assert_msg(wait_head(0, 5000), "hub did not open the log");
}

static struct sse_request req_for(const char *const *channels, size_t n)
{
    struct sse_request r;
    memset(&r, 0, sizeof r);
    r.method = SSE_METHOD_GET;
    r.replay = -1;
    for (size_t i = 0; i < n; i++) {
        ck_assert(strlen(channels[i]) <= SSE_CHANNEL_MAX);
        memcpy(r.channels[i], channels[i], strlen(channels[i]) + 1);
        enum sse_pattern_kind kind;
        ck_assert_int_eq(
            sse_pattern_parse(channels[i], strlen(channels[i]), &kind), 0);
        r.kinds[i] = (unsigned char)kind;
    }
    r.nchannels = n;
    return r;
}

static struct sse_request req_one(const char *channel)
{
    return req_for(&channel, 1);
}

/* Registers w for req, watching fd (-1 for none); returns the hub's head
 * as the cursor to start from. */
static int64_t add_waiter(struct sse_sub **w, const struct sse_request *req,
                          int fd)
{
    ck_assert_int_eq(sse_fanout_add(E.h.fanout, req, fd, w), 0);
    return sse_fanout_head(E.h.fanout);
}

/* One sse_fanout_next call waiting at most ms (0: not at all); the events
 * taken are released and counted in *n. Returns the status. */
static int next_in(struct sse_sub *w, int64_t *cursor, int ms, size_t *n)
{
    struct sse_event *evs[4];
    int64_t deadline = ms ? sse_now_ns() + ms * MS : 0;
    int st = sse_fanout_next(E.h.fanout, w, cursor, evs, 4, n, deadline);
    for (size_t i = 0; i < *n; i++)
        sse_event_release(evs[i]);
    return st;
}

/* Calls sse_fanout_next until it reports something other than events, for at
 * most ms; returns that status (SSE_FANOUT_EVENTS when time ran out). */
static int wait_status(struct sse_sub *w, int64_t *cursor, int ms)
{
    size_t n = 0;
    int64_t deadline = sse_now_ns() + ms * MS;
    int st = SSE_FANOUT_EVENTS;
    while (st == SSE_FANOUT_EVENTS && sse_now_ns() < deadline)
        st = next_in(w, cursor, 100, &n);
    return st;
}

/* Takes events until want of them arrived or ms passed; stores their ids
 * (and releases them). Returns how many arrived; fails on a non-event
 * status. */
static size_t collect(struct sse_sub *w, int64_t *cursor, int64_t *ids,
                      size_t want, int ms)
{
    int64_t deadline = sse_now_ns() + ms * MS;
    size_t got = 0;
    while (got < want && sse_now_ns() < deadline) {
        struct sse_event *evs[8];
        size_t n = 0;
        int st = sse_fanout_next(E.h.fanout, w, cursor, evs, 8, &n, deadline);
        ck_assert_msg(st == SSE_FANOUT_EVENTS, "sse_fanout_next status %d", st);
        for (size_t i = 0; i < n; i++) {
            if (got < want)
                ids[got] = evs[i]->id;
            got++;
            sse_event_release(evs[i]);
        }
    }
    return got;
}

/* Parses one encoded event and checks its id, type and data. */
static void assert_encoded(const struct sse_event *ev, const char *type,
                           const char *data)
{
    struct sse_parser *p = sse_parser_new();
    ck_assert_ptr_nonnull(p);
    tu_parse(p, ev->bytes, ev->len);
    ck_assert_uint_eq(sse_parser_count(p), 1);
    ck_assert(sse_parser_idle(p));
    const struct sse_parsed_event *pe = sse_parser_event(p, 0);
    char id[32];
    snprintf(id, sizeof id, "%" PRId64, ev->id);
    ck_assert_str_eq(pe->last_event_id, id);
    ck_assert_str_eq(pe->type, type);
    ck_assert_str_eq(pe->data, data);
    sse_parser_free(p);
}

/* --- pure helpers --- */

START_TEST(test_channel_hash_fnv1a)
{
    /* FNV-1a 32-bit reference values. */
    ck_assert_uint_eq(sse_channel_hash("", 0), 2166136261u);
    ck_assert_uint_eq(sse_channel_hash("a", 1), 0xe40c292cu);
    ck_assert_uint_eq(sse_channel_hash("foobar", 6), 0xbf9cf968u);
    /* len is honoured, not the NUL. */
    ck_assert_uint_eq(sse_channel_hash("ab", 1), 0xe40c292cu);
}
END_TEST

START_TEST(test_clock_now_ns_monotonic)
{
    int64_t a = sse_now_ns();
    int64_t b = sse_now_ns();
    ck_assert(a > 0);
    ck_assert(b >= a);
}
END_TEST

/* --- head --- */

START_TEST(test_hub_head_before_start)
{
    E.db = tu_log_create(E.dir, "events.db");
    hub_new_for("events.db");
    ck_assert_int_eq(sse_fanout_head(E.h.fanout), -1);
    ck_assert_int_eq(sse_fanout_fault_code(E.h.fanout), 0);
    ck_assert_int_eq(sse_hub_stopping(E.h.hub), 0);
}
END_TEST

START_TEST(test_hub_head_existing_rows)
{
    E.db = tu_log_create(E.dir, "events.db");
    E.pub = tu_admin_open(E.db);
    tu_publish(E.pub, NULL, NULL, "1");
    tu_publish(E.pub, NULL, NULL, "2");
    int64_t last = tu_publish(E.pub, "other", NULL, "3");
    hub_new_for("events.db");
    ck_assert_int_eq(sse_hub_start(E.h.hub), 0);
    ck_assert(wait_head(0, 5000));
    /* The head is the newest id at open: old rows are not in the ring. */
    ck_assert_int_eq(sse_fanout_head(E.h.fanout), last);
    ck_assert_int_eq(sse_fanout_fault_code(E.h.fanout), 0);
    ck_assert_int_eq(atomic_load(&E.m.head_id), last);
    ck_assert_int_eq(atomic_load(&E.m.oldest_id), 1);
}
END_TEST

START_TEST(test_hub_head_follows_publishes)
{
    start_healthy();
    ck_assert_int_eq(sse_fanout_head(E.h.fanout), 0);
    int64_t id = 0;
    for (int i = 0; i < 5; i++)
        id = tu_publish(E.pub, NULL, NULL, "x");
    ck_assert_msg(wait_head(id, 5000),
                  "head %" PRId64 " never reached %" PRId64,
                  sse_fanout_head(E.h.fanout), id);
    ck_assert_int_eq(sse_fanout_head(E.h.fanout), id);
    ck_assert_int_eq(atomic_load(&E.m.head_id), id);
    ck_assert(atomic_load(&E.m.db_reads) > 0);
}
END_TEST

/* --- delivery --- */

START_TEST(test_hub_next_new_rows_in_order)
{
    start_healthy();
    tu_publish(E.pub, NULL, NULL, "before the waiter");
    ck_assert(wait_head(1, 5000));
    struct sse_request req = req_one("default");
    struct sse_sub *w;
    int64_t cursor = add_waiter(&w, &req, -1);

    static const char *const types[] = {NULL, "update", NULL, "x y"};
    static const char *const data[] = {"one", "two\nlines", "", " lead"};
    int64_t want[4];
    for (int i = 0; i < 4; i++)
        want[i] = tu_publish(E.pub, "default", types[i], data[i]);

    int64_t deadline = sse_now_ns() + 5000 * MS;
    size_t got = 0;
    while (got < 4 && sse_now_ns() < deadline) {
        struct sse_event *evs[8];
        size_t n = 0;
        int st = sse_fanout_next(E.h.fanout, w, &cursor, evs, 8, &n, deadline);
        ck_assert_int_eq(st, SSE_FANOUT_EVENTS);
        for (size_t i = 0; i < n; i++, got++) {
            ck_assert_uint_lt(got, 4);
            ck_assert_int_eq(evs[i]->id, want[got]);
            ck_assert_str_eq(evs[i]->channel, "default");
            assert_encoded(evs[i], types[got] ? types[got] : "message",
                           data[got]);
            sse_event_release(evs[i]);
        }
    }
    ck_assert_uint_eq(got, 4);
    ck_assert_int_eq(cursor, want[3]);
    sse_fanout_remove(E.h.fanout, w);
}
END_TEST

START_TEST(test_hub_next_deadline_no_events)
{
    start_healthy();
    struct sse_request req = req_one("default");
    struct sse_sub *w;
    int64_t cursor = add_waiter(&w, &req, -1);
    size_t n = 99;
    int64_t t0 = sse_now_ns();
    ck_assert_int_eq(next_in(w, &cursor, 50, &n), SSE_FANOUT_EVENTS);
    ck_assert_uint_eq(n, 0);
    ck_assert(sse_now_ns() >= t0 + 50 * MS);
    sse_fanout_remove(E.h.fanout, w);
}
END_TEST

struct publisher {
    struct sse_admin *a;
    const char *channel;
    int count;
    int64_t last;
};

static void *publish_thread(void *arg)
{
    struct publisher *p = arg;
    for (int i = 0; i < p->count; i++) {
        int64_t id;
        if (sse_admin_publish(p->a, p->channel, NULL, "b", 1, &id) == 0)
            p->last = id;
    }
    return NULL;
}

START_TEST(test_hub_next_channel_filter_not_woken)
{
    start_healthy();
    struct sse_request req = req_one("a");
    struct sse_sub *w;
    int64_t cursor = add_waiter(&w, &req, -1);

    /* 'b' rows commit while the 'a' waiter sleeps until its deadline. */
    struct publisher p = {.a = E.pub, .channel = "b", .count = 10, .last = -1};
    pthread_t t;
    ck_assert_int_eq(pthread_create(&t, NULL, publish_thread, &p), 0);
    size_t n = 99;
    int64_t t0 = sse_now_ns();
    int st = next_in(w, &cursor, 300, &n);
    pthread_join(t, NULL);
    ck_assert_int_eq(st, SSE_FANOUT_EVENTS);
    ck_assert_uint_eq(n, 0);
    ck_assert(sse_now_ns() >= t0 + 300 * MS);
    ck_assert_int_gt(p.last, 0);

    /* Once the hub has the 'b' rows, the cursor moves past them. */
    ck_assert(wait_head(p.last, 5000));
    ck_assert_int_eq(next_in(w, &cursor, 0, &n), SSE_FANOUT_EVENTS);
    ck_assert_uint_eq(n, 0);
    ck_assert_int_eq(cursor, p.last);

    /* An 'a' row is delivered. */
    int64_t id = tu_publish(E.pub, "a", NULL, "for a");
    int64_t got[1];
    ck_assert_uint_eq(collect(w, &cursor, got, 1, 5000), 1);
    ck_assert_int_eq(got[0], id);
    sse_fanout_remove(E.h.fanout, w);
}
END_TEST

START_TEST(test_hub_next_waiters_see_own_channels)
{
    start_healthy();
    static const char *const both[] = {"a", "b"};
    struct sse_request ra = req_one("a"), rb = req_one("b");
    struct sse_request rab = req_for(both, 2);
    struct sse_sub *wa, *wb, *wab;
    ck_assert_int_eq(sse_fanout_add(E.h.fanout, &ra, -1, &wa), 0);
    ck_assert_int_eq(sse_fanout_add(E.h.fanout, &rb, -1, &wb), 0);
    ck_assert_int_eq(sse_fanout_add(E.h.fanout, &rab, -1, &wab), 0);
    int64_t ca = sse_fanout_head(E.h.fanout), cb = ca, cab = ca;

    int64_t ids[6];
    static const char *const chans[] = {"a", "b", "c", "b", "a", "a"};
    for (int i = 0; i < 6; i++)
        ids[i] = tu_publish(E.pub, chans[i], NULL, chans[i]);
    ck_assert(wait_head(ids[5], 5000));

    int64_t got[6];
    ck_assert_uint_eq(collect(wa, &ca, got, 3, 2000), 3);
    ck_assert_int_eq(got[0], ids[0]);
    ck_assert_int_eq(got[1], ids[4]);
    ck_assert_int_eq(got[2], ids[5]);
    ck_assert_uint_eq(collect(wb, &cb, got, 2, 2000), 2);
    ck_assert_int_eq(got[0], ids[1]);
    ck_assert_int_eq(got[1], ids[3]);
    ck_assert_uint_eq(collect(wab, &cab, got, 5, 2000), 5);
    ck_assert_int_eq(got[0], ids[0]);
    ck_assert_int_eq(got[1], ids[1]);
    ck_assert_int_eq(got[2], ids[3]);
    ck_assert_int_eq(got[3], ids[4]);
    ck_assert_int_eq(got[4], ids[5]);
    /* Nothing more for anyone (the 'c' row is skipped). */
    ck_assert_uint_eq(collect(wa, &ca, got, 1, 30), 0);
    ck_assert_uint_eq(collect(wab, &cab, got, 1, 30), 0);
    ck_assert_int_eq(ca, ids[5]);
    ck_assert_int_eq(cab, ids[5]);
    sse_fanout_remove(E.h.fanout, wa);
    sse_fanout_remove(E.h.fanout, wb);
    sse_fanout_remove(E.h.fanout, wab);
}
END_TEST

/* Prefix patterns on the live path: the ring hands a waiter the events of
 * every channel under its prefixes, and no channel that only shares the
 * prefix's characters without its separator. */
START_TEST(test_hub_next_prefix_waiter)
{
    start_healthy();
    static const char *const pats[] = {"user/4/*", "o:*"};
    struct sse_request rp = req_for(pats, 2);
    struct sse_sub *w;
    int64_t cursor = add_waiter(&w, &rp, -1);
    static const char *const chans[] = {"user/4",   "user/4/a", "user/42/x",
                                        "o",        "o:1",      "user/4/b/c",
                                        "user/4:x", "o:"};
    int64_t ids[8];
    for (int i = 0; i < 8; i++)
        ids[i] = tu_publish(E.pub, chans[i], NULL, chans[i]);
    ck_assert(wait_head(ids[7], 5000));
    int64_t got[8];
    ck_assert_uint_eq(collect(w, &cursor, got, 8, 300), 4);
    ck_assert_int_eq(got[0], ids[1]);
    ck_assert_int_eq(got[1], ids[4]);
    ck_assert_int_eq(got[2], ids[5]);
    ck_assert_int_eq(got[3], ids[7]);
    ck_assert_int_eq(cursor, ids[7]);
    sse_fanout_remove(E.h.fanout, w);
}
END_TEST

START_TEST(test_hub_next_max_limits_batch)
{
    start_healthy();
    struct sse_request req = req_one("default");
    struct sse_sub *w;
    int64_t cursor = add_waiter(&w, &req, -1);
    int64_t ids[5];
    for (int i = 0; i < 5; i++)
        ids[i] = tu_publish(E.pub, NULL, NULL, "m");
    ck_assert(wait_head(ids[4], 5000));

    struct sse_event *evs[5];
    size_t n = 0;
    ck_assert_int_eq(sse_fanout_next(E.h.fanout, w, &cursor, evs, 2, &n, 0),
                     SSE_FANOUT_EVENTS);
    ck_assert_uint_eq(n, 2);
    ck_assert_int_eq(evs[0]->id, ids[0]);
    ck_assert_int_eq(evs[1]->id, ids[1]);
    /* The cursor stops at the last event taken, not at the head. */
    ck_assert_int_eq(cursor, ids[1]);
    for (size_t i = 0; i < n; i++)
        sse_event_release(evs[i]);
    ck_assert_int_eq(sse_fanout_next(E.h.fanout, w, &cursor, evs, 5, &n, 0),
                     SSE_FANOUT_EVENTS);
    ck_assert_uint_eq(n, 3);
    ck_assert_int_eq(evs[0]->id, ids[2]);
    ck_assert_int_eq(evs[2]->id, ids[4]);
    ck_assert_int_eq(cursor, ids[4]);
    for (size_t i = 0; i < n; i++)
        sse_event_release(evs[i]);
    sse_fanout_remove(E.h.fanout, w);
}
END_TEST

/* --- the ring's coverage --- */

START_TEST(test_hub_next_behind_when_ring_overrun)
{
    start_healthy();
    struct sse_request req = req_one("default");
    struct sse_sub *w;
    ck_assert_int_eq(sse_fanout_add(E.h.fanout, &req, -1, &w), 0);
    int64_t start = sse_fanout_head(E.h.fanout);
    int64_t last = 0;
    for (int i = 0; i < 40; i++)
        last = tu_publish(E.pub, NULL, NULL, "r");
    ck_assert(wait_head(last, 5000));

    struct sse_event *evs[RING + 1];
    size_t n = 99;
    int64_t cursor = start;
    ck_assert_int_eq(
        sse_fanout_next(E.h.fanout, w, &cursor, evs, RING + 1, &n, 0),
        SSE_FANOUT_BEHIND);
    ck_assert_uint_eq(n, 0);
    ck_assert_int_eq(cursor, start); /* untouched: the caller reads the log */

    /* The ring holds exactly the newest RING rows. */
    cursor = last - RING - 1;
    ck_assert_int_eq(
        sse_fanout_next(E.h.fanout, w, &cursor, evs, RING + 1, &n, 0),
        SSE_FANOUT_BEHIND);
    cursor = last - RING;
    ck_assert_int_eq(
        sse_fanout_next(E.h.fanout, w, &cursor, evs, RING + 1, &n, 0),
        SSE_FANOUT_EVENTS);
    ck_assert_uint_eq(n, RING);
    for (size_t i = 0; i < n; i++) {
        ck_assert_int_eq(evs[i]->id, last - RING + 1 + (int64_t)i);
        sse_event_release(evs[i]);
    }
    ck_assert_int_eq(cursor, last);
    sse_fanout_remove(E.h.fanout, w);
}
END_TEST

START_TEST(test_hub_event_outlives_ring)
{
    start_healthy();
    struct sse_request req = req_one("default");
    struct sse_sub *w;
    int64_t cursor = add_waiter(&w, &req, -1);
    int64_t id = tu_publish(E.pub, NULL, "kept", "held by the caller");
    struct sse_event *ev = NULL;
    size_t n = 0;
    int64_t deadline = sse_now_ns() + 5000 * MS;
    while (n == 0 && sse_now_ns() < deadline)
        ck_assert_int_eq(
            sse_fanout_next(E.h.fanout, w, &cursor, &ev, 1, &n, deadline),
            SSE_FANOUT_EVENTS);
    ck_assert_uint_eq(n, 1);
    ck_assert_int_eq(ev->id, id);
    /* Push it out of the ring; the reference keeps it alive. */
    int64_t last = 0;
    for (int i = 0; i < 2 * RING; i++)
        last = tu_publish(E.pub, NULL, NULL, "filler");
    ck_assert(wait_head(last, 5000));
    assert_encoded(ev, "kept", "held by the caller");
    sse_event_release(ev);
    sse_event_release(NULL);
    sse_fanout_remove(E.h.fanout, w);
}
END_TEST

START_TEST(test_hub_window_tracks_ring_and_pruning)
{
    start_healthy();
    int64_t covered, oldest, head;
    sse_fanout_window(E.h.fanout, &covered, &oldest, &head);
    /* An empty log: nothing stored, nothing in the ring. */
    ck_assert_int_eq(head, 0);
    ck_assert_int_eq(covered, 0);
    ck_assert_int_eq(oldest, 1);

    int64_t last = 0;
    for (int i = 0; i < 40; i++)
        last = tu_publish(E.pub, NULL, NULL, "w");
    ck_assert(wait_head(last, 5000));
    sse_fanout_window(E.h.fanout, &covered, &oldest, &head);
    ck_assert_int_eq(head, last);
    ck_assert_int_eq(covered, last - RING);
    ck_assert_int_eq(oldest, 1);

    /* Pruning is a commit too: the hub notices the new oldest id. */
    ck_assert_int_eq(sse_admin_prune(E.pub, 5, -1, NULL, NULL), 0);
    int64_t deadline = sse_now_ns() + 5000 * MS;
    do {
        sse_fanout_window(E.h.fanout, &covered, &oldest, &head);
        if (oldest == last - 4)
            break;
        tu_tick();
    } while (sse_now_ns() < deadline);
    ck_assert_int_eq(oldest, last - 4);
    ck_assert_int_eq(head, last);
    ck_assert_int_eq(covered, last - RING);
    /* The status page's db_oldest_id follows, so tests and operators can
     * await what resumes are judged by. */
    ck_assert_int_eq(atomic_load(&E.m.oldest_id), last - 4);
}
END_TEST

/* --- faults, replacement, shutdown --- */

START_TEST(test_hub_fault_missing_db_then_healthy)
{
    hub_new_for("late.db");
    ck_assert_int_eq(sse_hub_start(E.h.hub), 0);
    ck_assert_msg(wait_fault(1, 5000), "no fault reported for a missing db");
    ck_assert_int_eq(sse_fanout_fault_code(E.h.fanout), SSE_ENOENT);
    ck_assert_int_eq(sse_fanout_head(E.h.fanout), -1);

    struct sse_request req = req_one("default");
    struct sse_sub *w;
    int64_t cursor = add_waiter(&w, &req, -1);
    size_t n = 99;
    int st = next_in(w, &cursor, 1000, &n);
    ck_assert_msg(st == SSE_FANOUT_FAULT || st == SSE_FANOUT_RESET,
                  "status %d for a missing db", st);
    ck_assert_uint_eq(n, 0);
    sse_fanout_remove(E.h.fanout, w);
    struct sse_eventlog *log = NULL;
    ck_assert_int_eq(sse_logpool_borrow(E.h.pool, &log), SSE_ENOENT);

    /* Create it (sselite init): the hub recovers on its own. */
    E.db = tu_log_create(E.dir, "late.db");
    ck_assert_msg(wait_fault(0, 5000), "hub did not recover (fault %d)",
                  sse_fanout_fault_code(E.h.fanout));
    ck_assert_int_eq(sse_fanout_head(E.h.fanout), 0);

    ck_assert_int_eq(sse_fanout_add(E.h.fanout, &req, -1, &w), 0);
    cursor = sse_fanout_head(E.h.fanout);
    E.pub = tu_admin_open(E.db);
    int64_t id = tu_publish(E.pub, NULL, NULL, "after recovery");
    int64_t got[1];
    ck_assert_uint_eq(collect(w, &cursor, got, 1, 5000), 1);
    ck_assert_int_eq(got[0], id);
    sse_fanout_remove(E.h.fanout, w);
}
END_TEST

START_TEST(test_hub_fault_not_a_database)
{
    char *path = tu_path(E.dir, "junk.db");
    static const char junk[] = "this is not an SQLite database, not even close";
    char block[4096];
    for (size_t i = 0; i < sizeof block; i++)
        block[i] = junk[i % (sizeof junk - 1)];
    tu_write_file(path, block, sizeof block);
    free(path);
    hub_new_for("junk.db");
    ck_assert_int_eq(sse_hub_start(E.h.hub), 0);
    ck_assert(wait_fault(1, 5000));
    ck_assert_int_eq(sse_fanout_fault_code(E.h.fanout), SSE_ECORRUPT);
    ck_assert_int_eq(sse_fanout_head(E.h.fanout), -1);
}
END_TEST

START_TEST(test_hub_fault_not_initialised)
{
    char *path = tu_path(E.dir, "empty.db");
    tu_write_file(path, "", 0);
    free(path);
    hub_new_for("empty.db");
    ck_assert_int_eq(sse_hub_start(E.h.hub), 0);
    ck_assert(wait_fault(1, 5000));
    ck_assert_int_eq(sse_fanout_fault_code(E.h.fanout), SSE_ESCHEMA);
}
END_TEST

START_TEST(test_hub_reset_when_db_replaced)
{
    start_healthy();
    int64_t last = 0;
    for (int i = 0; i < 5; i++)
        last = tu_publish(E.pub, NULL, NULL, "old");
    ck_assert(wait_head(last, 5000));
    struct sse_request req = req_one("default");
    struct sse_sub *w;
    int64_t cursor = add_waiter(&w, &req, -1);

    /* A restored backup with fewer rows is renamed over the live file.
     * Publishers stop first and the WAL is checkpointed, as the operator
     * would do, so no stale -wal is paired with the new file. */
    char *other = tu_log_create(E.dir, "restore.db");
    struct sse_admin *a = tu_admin_open(other);
    tu_publish(a, NULL, NULL, "restored 1");
    int64_t other_head = tu_publish(a, NULL, NULL, "restored 2");
    sse_admin_close(a);
    sse_admin_close(E.pub);
    E.pub = NULL;
    tu_sql(E.db, "PRAGMA wal_checkpoint(TRUNCATE);");
    ck_assert_msg(rename(other, E.db) == 0, "rename: %s", strerror(errno));
    free(other);

    int st = wait_status(w, &cursor, 5000);
    ck_assert_msg(st == SSE_FANOUT_RESET, "status %d, not RESET", st);
    sse_fanout_remove(E.h.fanout, w);

    /* The hub reopens the new file and reports its (lower) head. */
    int64_t t_end = sse_now_ns() + 5000 * MS;
    while (sse_fanout_head(E.h.fanout) != other_head && sse_now_ns() < t_end)
        tu_tick();
    ck_assert_int_eq(sse_fanout_head(E.h.fanout), other_head);
}
END_TEST

START_TEST(test_hub_closed_after_stop)
{
    start_healthy();
    struct sse_request req = req_one("default");
    struct sse_sub *w;
    int64_t cursor = add_waiter(&w, &req, -1);
    sse_hub_stop(E.h.hub);
    ck_assert_int_eq(sse_hub_stopping(E.h.hub), 1);
    size_t n = 99;
    ck_assert_int_eq(next_in(w, &cursor, 5000, &n), SSE_FANOUT_CLOSED);
    ck_assert_uint_eq(n, 0);
    sse_fanout_remove(E.h.fanout, w);
}
END_TEST

struct blocked {
    struct sse_sub *w;
    struct sse_request req;
    atomic_int started;
    atomic_int status;
    atomic_int done;
};

static void *blocked_thread(void *arg)
{
    struct blocked *b = arg;
    int64_t cursor = sse_fanout_head(E.h.fanout);
    size_t n = 0;
    atomic_store(&b->started, 1);
    int st = next_in(b->w, &cursor, 20000, &n);
    atomic_store(&b->status, st);
    atomic_store(&b->done, 1);
    return NULL;
}

START_TEST(test_hub_stop_wakes_blocked_waiter)
{
    start_healthy();
    struct blocked b;
    memset(&b, 0, sizeof b);
    b.req = req_one("default");
    atomic_init(&b.status, -1);
    ck_assert_int_eq(sse_fanout_add(E.h.fanout, &b.req, -1, &b.w), 0);
    pthread_t t;
    ck_assert_int_eq(pthread_create(&t, NULL, blocked_thread, &b), 0);
    int64_t deadline = sse_now_ns() + 5000 * MS;
    while (!atomic_load(&b.started) && sse_now_ns() < deadline)
        tu_tick();
    int64_t t0 = sse_now_ns();
    sse_hub_stop(E.h.hub);
    deadline = sse_now_ns() + 5000 * MS;
    while (!atomic_load(&b.done) && sse_now_ns() < deadline)
        tu_tick();
    int done = atomic_load(&b.done);
    int64_t waited_ms = (sse_now_ns() - t0) / MS;
    pthread_join(t, NULL);
    ck_assert_msg(done, "waiter not woken by sse_hub_stop");
    ck_assert_int_eq(atomic_load(&b.status), SSE_FANOUT_CLOSED);
    ck_assert_msg(waited_ms < 2000, "woken after %" PRId64 " ms", waited_ms);
    sse_fanout_remove(E.h.fanout, b.w);
}
END_TEST

/* --- subscribers held by the event loop (no loop here: the test takes) --- */

static atomic_int wakes;

static void count_wake(void *ctx)
{
    (void)ctx;
    atomic_fetch_add(&wakes, 1);
}

/* Adds a subscriber for req and parks it at the hub's head, as the loop
 * does; returns it with *cursor set. */
static struct sse_sub *park_sub(const struct sse_request *req, int64_t *cursor)
{
    sse_fanout_set_waker(E.h.fanout, count_wake, NULL);
    struct sse_sub *w;
    *cursor = add_waiter(&w, req, -1);
    sse_fanout_park(E.h.fanout, w, *cursor, w);
    return w;
}

/* Pops the ready list; returns how many owners were on it, w among them
 * when *found is set. */
static size_t pop_ready(struct sse_sub *w, int *found)
{
    void *owners[16];
    size_t n = sse_fanout_ready(E.h.fanout, owners, 16);
    *found = 0;
    for (size_t i = 0; i < n; i++)
        *found |= owners[i] == w;
    return n;
}

/* Waits up to ms for w to be on the ready list (and takes it off). */
static int wait_ready(struct sse_sub *w, int ms)
{
    int64_t deadline = sse_now_ns() + ms * MS;
    for (;;) {
        int found;
        pop_ready(w, &found);
        if (found)
            return 1;
        if (sse_now_ns() >= deadline)
            return 0;
        tu_tick();
    }
}

/* sse_fanout_take on a parked w with nothing to hand out: checks the status
 * and the cursor it reports. */
static void assert_take_none(struct sse_sub *w, int status, int64_t cursor)
{
    struct sse_event *evs[4];
    size_t n = 99;
    int64_t got = -1;
    ck_assert_int_eq(sse_fanout_take(E.h.fanout, w, evs, 4, &n, &got), status);
    ck_assert_uint_eq(n, 0);
    ck_assert_int_eq(got, cursor);
}

START_TEST(test_hub_parked_ready_and_taken)
{
    start_healthy();
    struct sse_request req = req_one("default");
    int64_t c0;
    struct sse_sub *w = park_sub(&req, &c0);
    /* Parking puts it on the ready list at once (events may have come in
     * between the thread's last take and the hand-over). */
    ck_assert(wait_ready(w, 1000));
    int64_t id = tu_publish(E.pub, NULL, "tick", "one\ntwo");
    ck_assert_msg(wait_ready(w, 5000), "a wanted row did not make it ready");
    struct sse_event *evs[4];
    size_t n = 0;
    int64_t cursor = -1;
    ck_assert_int_eq(sse_fanout_take(E.h.fanout, w, evs, 4, &n, &cursor),
                     SSE_FANOUT_EVENTS);
    ck_assert_uint_eq(n, 1);
    ck_assert_int_eq(evs[0]->id, id);
    assert_encoded(evs[0], "tick", "one\ntwo");
    sse_event_release(evs[0]);
    ck_assert_int_eq(cursor, id);
    ck_assert_int_gt(atomic_load(&wakes), 0);
    sse_fanout_remove(E.h.fanout, w);
}
END_TEST

START_TEST(test_hub_parked_other_channel_moves_cursor)
{
    start_healthy();
    struct sse_request req = req_one("a");
    int64_t c0;
    struct sse_sub *w = park_sub(&req, &c0);
    ck_assert(wait_ready(w, 1000));
    int64_t id = tu_publish(E.pub, "b", NULL, "not for a");
    ck_assert(wait_head(id, 5000));
    int found;
    pop_ready(w, &found);
    ck_assert_msg(!found, "a row of another channel made it ready");
    assert_take_none(w, SSE_FANOUT_EVENTS, id);
    sse_fanout_remove(E.h.fanout, w);
}
END_TEST

/* A commit of more rows than ring-events: the ring drops some of them at
 * once, while the fan-out still looks at the whole batch (valgrind and
 * ASan see a use after free if the batch does not hold its own refs); an
 * idle parked subscriber of another channel moves past all of it instead
 * of falling behind the ring. */
START_TEST(test_hub_batch_larger_than_ring)
{
    cfg_set("batch", "64");
    start_healthy();
    struct sse_request req = req_one("other");
    int64_t c0;
    struct sse_sub *w = park_sub(&req, &c0);
    tu_sql(E.db, "WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 "
                 "FROM c WHERE i < 40) INSERT INTO events(channel, data) "
                 "SELECT 'default', 'r' || i FROM c;");
    ck_assert(wait_head(40, 5000));
    assert_take_none(w, SSE_FANOUT_EVENTS, 40);
    ck_assert_int_eq(atomic_load(&E.m.ring_events), RING);
    sse_fanout_remove(E.h.fanout, w);
}
END_TEST

/* --- hang-up detection --- */

START_TEST(test_hub_hangup_reported_promptly)
{
    start_healthy();
    int sv[2];
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    struct sse_request req = req_one("default");
    struct sse_sub *w;
    int64_t cursor = add_waiter(&w, &req, sv[0]);
    size_t n = 99;

    /* While the peer is open, nothing is reported. */
    ck_assert_int_eq(next_in(w, &cursor, 50, &n), SSE_FANOUT_EVENTS);
    ck_assert_uint_eq(n, 0);

    close(sv[1]);
    int64_t t0 = sse_now_ns();
    int st = next_in(w, &cursor, 5000, &n);
    int64_t waited_ms = (sse_now_ns() - t0) / MS;
    ck_assert_int_eq(st, SSE_FANOUT_HANGUP);
    ck_assert_uint_eq(n, 0);
    ck_assert_msg(waited_ms < 1000, "hang-up seen after %" PRId64 " ms",
                  waited_ms);
    sse_fanout_remove(E.h.fanout, w);
    close(sv[0]);
}
END_TEST

START_TEST(test_hub_unwatch_clears_hangup)
{
    start_healthy();
    int sv[2];
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    struct sse_request req = req_one("default");
    struct sse_sub *w;
    int64_t cursor = add_waiter(&w, &req, sv[0]);
    size_t n = 99;
    ck_assert_int_eq(shutdown(sv[1], SHUT_WR), 0); /* half-close */
    ck_assert_int_eq(next_in(w, &cursor, 5000, &n), SSE_FANOUT_HANGUP);
    /* The stream's probe write succeeded: stop watching, go on. */
    sse_fanout_unwatch(E.h.fanout, w);
    ck_assert_int_eq(next_in(w, &cursor, 50, &n), SSE_FANOUT_EVENTS);
    ck_assert_uint_eq(n, 0);
    int64_t id = tu_publish(E.pub, NULL, NULL, "still here");
    int64_t got[1];
    ck_assert_uint_eq(collect(w, &cursor, got, 1, 5000), 1);
    ck_assert_int_eq(got[0], id);
    sse_fanout_remove(E.h.fanout, w);
    close(sv[0]);
    close(sv[1]);
}
END_TEST

START_TEST(test_hub_waiter_remove_never_added)
{
    start_healthy();
    struct sse_sub *w = NULL;
    sse_fanout_remove(E.h.fanout, w);
    /* Slots are reused after removal. */
    struct sse_request req = req_one("default");
    for (int i = 0; i < 200; i++) {
        ck_assert_int_eq(sse_fanout_add(E.h.fanout, &req, -1, &w), 0);
        sse_fanout_remove(E.h.fanout, w);
    }
}
END_TEST

/* --- the read connection pool --- */

START_TEST(test_hub_log_borrow_pooled)
{
    start_healthy();
    struct sse_eventlog *a = NULL, *b = NULL;
    ck_assert_int_eq(sse_logpool_borrow(E.h.pool, &a), 0);
    ck_assert_int_eq(sse_logpool_borrow(E.h.pool, &b), 0);
    ck_assert_ptr_nonnull(a);
    ck_assert_ptr_nonnull(b);
    ck_assert_ptr_ne(a, b);
    int64_t oldest, head;
    ck_assert_int_eq(sse_eventlog_bounds(a, &oldest, &head), 0);
    ck_assert_int_eq(head, 0);
    sse_logpool_return(E.h.pool, a, 0);
    sse_logpool_return(E.h.pool, b, 0);
    /* Both come back from the pool. */
    struct sse_eventlog *c = NULL, *d = NULL;
    ck_assert_int_eq(sse_logpool_borrow(E.h.pool, &c), 0);
    ck_assert_int_eq(sse_logpool_borrow(E.h.pool, &d), 0);
    ck_assert((c == a && d == b) || (c == b && d == a));
    sse_logpool_return(E.h.pool, c, 0);
    sse_logpool_return(E.h.pool, d, 0);
    sse_logpool_return(E.h.pool, NULL, 0);
}
END_TEST

START_TEST(test_hub_log_return_broken_closes)
{
    start_healthy();
    struct sse_eventlog *a = NULL;
    ck_assert_int_eq(sse_logpool_borrow(E.h.pool, &a), 0);
    sse_logpool_return(E.h.pool, a, 1);
    /* A fresh connection works (valgrind checks the broken one was closed,
     * not leaked or pooled). */
    struct sse_eventlog *b = NULL;
    ck_assert_int_eq(sse_logpool_borrow(E.h.pool, &b), 0);
    int64_t oldest, head;
    ck_assert_int_eq(sse_eventlog_bounds(b, &oldest, &head), 0);
    sse_logpool_return(E.h.pool, b, 0);
}
END_TEST

START_TEST(test_hub_log_borrow_many)
{
    start_healthy();
    /* As many as db-connections allows, all at once; returned, they stay
     * open for the next borrowers (check_logpool tests the cap itself). */
    enum { N = 8 };
    ck_assert_int_eq(E.cfg.db_connections, N);
    struct sse_eventlog *logs[N];
    for (int i = 0; i < N; i++)
        ck_assert_int_eq(sse_logpool_borrow(E.h.pool, &logs[i]), 0);
    ck_assert_uint_eq(sse_logpool_open_count(E.h.pool), N);
    for (int i = 0; i < N; i++)
        sse_logpool_return(E.h.pool, logs[i], 0);
    ck_assert_uint_eq(sse_logpool_open_count(E.h.pool), N);
}
END_TEST

/* --- the ring's byte budget (ring-bytes) --- */

#define KB 1000
/* With ring-bytes at its minimum (1 MiB) the hub keeps no event encoded
 * larger than 128 KiB, and a read batch stops once it holds 128 KiB. */
#define SMALL_RING "1048576"
#define SMALL_EVENT_MAX (1048576 / 8)

/* A payload of n bytes of fill (NUL-terminated, owned by caller) that
 * starts with its tag, so events are told apart. */
static char *payload(const char *tag, char fill, size_t n)
{
    char *p = malloc(n + 1);
    ck_assert_ptr_nonnull(p);
    memset(p, fill, n);
    size_t t = strlen(tag);
    memcpy(p, tag, t < n ? t : n);
    p[n] = '\0';
    return p;
}

START_TEST(test_hub_ring_evicts_by_bytes)
{
    cfg_set("ring-bytes", SMALL_RING);
    start_healthy();
    /* 14 events of 100 kB fit the 16-event bound but not 1 MiB: the
     * ring keeps the newest 10 (10 x ~100 kB <= 1 MiB < 11 x). */
    enum { COUNT = 14, KEPT = 10 };
    char *data[COUNT];
    int64_t ids[COUNT];
    for (int i = 0; i < COUNT; i++) {
        char tag[16];
        snprintf(tag, sizeof tag, "ev%d ", i);
        data[i] = payload(tag, 'x', 100 * KB);
        ids[i] = tu_publish(E.pub, NULL, NULL, data[i]);
    }
    ck_assert(wait_head(ids[COUNT - 1], 5000));

    int64_t covered, oldest, head;
    sse_fanout_window(E.h.fanout, &covered, &oldest, &head);
    ck_assert_int_eq(head, ids[COUNT - 1]);
    ck_assert_int_eq(covered, ids[COUNT - KEPT - 1]);
    long long bytes = atomic_load(&E.m.ring_bytes);
    ck_assert_int_eq(atomic_load(&E.m.ring_events), KEPT);
    ck_assert_int_gt(bytes, KEPT * 100 * KB);
    ck_assert_int_le(bytes, 1048576);

    struct sse_request req = req_one("default");
    struct sse_sub *w;
    ck_assert_int_eq(sse_fanout_add(E.h.fanout, &req, -1, &w), 0);
    struct sse_event *evs[RING];
    size_t n = 99;
    int64_t cursor = covered - 1;
    ck_assert_int_eq(sse_fanout_next(E.h.fanout, w, &cursor, evs, RING, &n, 0),
                     SSE_FANOUT_BEHIND);
    cursor = covered;
    ck_assert_int_eq(sse_fanout_next(E.h.fanout, w, &cursor, evs, RING, &n, 0),
                     SSE_FANOUT_EVENTS);
    ck_assert_uint_eq(n, KEPT);
    for (size_t i = 0; i < n; i++) {
        size_t k = COUNT - KEPT + i;
        ck_assert_int_eq(evs[i]->id, ids[k]);
        assert_encoded(evs[i], "message", data[k]);
        sse_event_release(evs[i]);
    }
    sse_fanout_remove(E.h.fanout, w);
    for (int i = 0; i < COUNT; i++)
        free(data[i]);
}
END_TEST

START_TEST(test_hub_oversize_event_restarts_ring)
{
    cfg_set("ring-bytes", SMALL_RING);
    start_healthy();
    /* Over 128 KiB encoded: 200 kB of text, and 40 kB of line breaks
     * (each becomes "data: \n", so about 280 kB). */
    char *plain = payload("plain ", 'p', 200 * KB);
    char *breaks = payload("", '\n', 40 * KB);
    int64_t a = tu_publish(E.pub, NULL, NULL, "a");
    int64_t big = tu_publish(E.pub, NULL, NULL, plain);
    int64_t b = tu_publish(E.pub, NULL, NULL, "b");
    ck_assert(wait_head(b, 5000));
    int64_t covered, oldest, head;
    sse_fanout_window(E.h.fanout, &covered, &oldest, &head);
    ck_assert_int_eq(covered, big);
    ck_assert_int_eq(head, b);
    ck_assert_int_eq(atomic_load(&E.m.ring_events), 1);

    int64_t nl = tu_publish(E.pub, NULL, NULL, breaks);
    int64_t c = tu_publish(E.pub, NULL, NULL, "c");
    ck_assert(wait_head(c, 5000));
    sse_fanout_window(E.h.fanout, &covered, &oldest, &head);
    ck_assert_int_eq(covered, nl);
    ck_assert_int_eq(atomic_load(&E.m.ring_events), 1);
    ck_assert_int_lt(atomic_load(&E.m.ring_bytes), 1024);

    /* Whoever is before an oversize event reads the log; after it, the
     * ring serves. */
    struct sse_request req = req_one("default");
    struct sse_sub *w;
    ck_assert_int_eq(sse_fanout_add(E.h.fanout, &req, -1, &w), 0);
    struct sse_event *evs[4];
    size_t n = 99;
    int64_t cursor = a;
    ck_assert_int_eq(sse_fanout_next(E.h.fanout, w, &cursor, evs, 4, &n, 0),
                     SSE_FANOUT_BEHIND);
    cursor = b;
    ck_assert_int_eq(sse_fanout_next(E.h.fanout, w, &cursor, evs, 4, &n, 0),
                     SSE_FANOUT_BEHIND);
    cursor = nl;
    ck_assert_int_eq(sse_fanout_next(E.h.fanout, w, &cursor, evs, 4, &n, 0),
                     SSE_FANOUT_EVENTS);
    ck_assert_uint_eq(n, 1);
    ck_assert_int_eq(evs[0]->id, c);
    assert_encoded(evs[0], "message", "c");
    sse_event_release(evs[0]);
    sse_fanout_remove(E.h.fanout, w);
    free(plain);
    free(breaks);
}
END_TEST

START_TEST(test_hub_event_at_share_is_kept)
{
    cfg_set("ring-bytes", SMALL_RING);
    start_healthy();
    /* "id: N\ndata: " + data + "\n\n" exactly at the limit is kept. */
    int64_t next = sse_fanout_head(E.h.fanout) + 1;
    char digits[24];
    int nd = snprintf(digits, sizeof digits, "%" PRId64, next);
    size_t fixed = 4 + (size_t)nd + 1 + 6 + 2;
    char *fits = payload("fits ", 'f', SMALL_EVENT_MAX - fixed);
    int64_t id = tu_publish(E.pub, NULL, NULL, fits);
    ck_assert_int_eq(id, next);
    ck_assert(wait_head(id, 5000));
    int64_t covered, oldest, head;
    sse_fanout_window(E.h.fanout, &covered, &oldest, &head);
    ck_assert_int_lt(covered, id);
    ck_assert_int_eq(atomic_load(&E.m.ring_events), 1);

    char *over = payload("over ", 'o', SMALL_EVENT_MAX - fixed + 1);
    int64_t id2 = tu_publish(E.pub, NULL, NULL, over);
    ck_assert(wait_head(id2, 5000));
    sse_fanout_window(E.h.fanout, &covered, &oldest, &head);
    ck_assert_int_eq(covered, id2);
    ck_assert_int_eq(atomic_load(&E.m.ring_events), 0);
    ck_assert_int_eq(atomic_load(&E.m.ring_bytes), 0);
    free(fits);
    free(over);
}
END_TEST

START_TEST(test_hub_read_batch_bounded_by_bytes)
{
    cfg_set("ring-bytes", SMALL_RING);
    start_healthy(); /* batch 8 */
    long long reads0 = atomic_load(&E.m.db_reads);
    /* One commit of 8 rows of 100 kB: a batch stops after 2 of them
     * (128 KiB), so the hub needs at least 4 reads, not 1 or 2. */
    tu_sql(E.db, "WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 "
                 "FROM c WHERE i < 8) INSERT INTO events(channel, data) "
                 "SELECT 'default', substr(hex(zeroblob(50000)), 1, 100000) "
                 "FROM c;");
    ck_assert(wait_head(8, 5000));
    long long reads = atomic_load(&E.m.db_reads) - reads0;
    ck_assert_msg(reads >= 4, "%lld reads for 8 rows of 100 kB", reads);
    ck_assert_int_le(atomic_load(&E.m.ring_bytes), 1048576);
}
END_TEST

/* A parked subscriber that wants an oversize event must read the log; one
 * on another channel just moves on. */
START_TEST(test_hub_oversize_event_and_parked_subscribers)
{
    cfg_set("ring-bytes", SMALL_RING);
    start_healthy();
    struct sse_request rr = req_one("default"), ro = req_one("other");
    int64_t start, c0;
    struct sse_sub *r = park_sub(&rr, &start);
    struct sse_sub *o = park_sub(&ro, &c0);
    char *big = payload("big ", 'b', 200 * KB);
    int64_t id = tu_publish(E.pub, NULL, NULL, big);
    ck_assert(wait_head(id, 5000));
    assert_take_none(r, SSE_FANOUT_BEHIND, start);
    assert_take_none(o, SSE_FANOUT_EVENTS, id);
    sse_fanout_remove(E.h.fanout, r);
    sse_fanout_remove(E.h.fanout, o);
    free(big);
}
END_TEST

/* --- reads that stop early are retried (must_read) --- */

/* What the test hook does: fail the next rows with a code, and publish
 * one row from inside the first open, after the bounds were read. */
static struct {
    atomic_int fail_rows;
    atomic_int fail_code;
    atomic_int rows_seen;
    atomic_int opens;
    struct sse_admin *publish_on_open;
    int64_t published_id;
} H;

static int test_hook(enum sse_hub_hook_point point, void *ctx)
{
    (void)ctx;
    if (point == SSE_HUB_HOOK_OPENED) {
        if (atomic_fetch_add(&H.opens, 1) == 0 && H.publish_on_open)
            H.published_id =
                tu_publish(H.publish_on_open, NULL, NULL, "during open");
        return 0;
    }
    atomic_fetch_add(&H.rows_seen, 1);
    if (atomic_load(&H.fail_rows) > 0) {
        atomic_fetch_sub(&H.fail_rows, 1);
        return atomic_load(&H.fail_code);
    }
    return 0;
}

/* start_healthy with the test hook installed. */
static void start_hooked(void)
{
    memset(&H, 0, sizeof H);
    E.db = tu_log_create(E.dir, "events.db");
    E.pub = tu_admin_open(E.db);
    hub_new_for("events.db");
    sse_hub_set_hook(E.h.hub, test_hook, NULL);
    ck_assert_int_eq(sse_hub_start(E.h.hub), 0);
    ck_assert_msg(wait_head(0, 5000), "hub did not open the log");
}

/* Starts a hooked hub, registers w for req (caller storage, "default") and
 * makes the hub's next rows reads fail with code. Returns the cursor. */
static int64_t start_failing(struct sse_sub **w, struct sse_request *req,
                             int code, int rows)
{
    start_hooked();
    *req = req_one("default");
    int64_t cursor = add_waiter(w, req, -1);
    atomic_store(&H.fail_code, code);
    atomic_store(&H.fail_rows, rows);
    return cursor;
}

START_TEST(test_hub_busy_read_retried_without_commit)
{
    struct sse_request req;
    struct sse_sub *w;
    int64_t cursor = start_failing(&w, &req, SSE_EBUSY, 1);
    int64_t id = tu_publish(E.pub, NULL, NULL, "read after a busy read");
    /* No other commit: the hub must read again on its own (poll-ms 5). */
    int64_t got[1];
    ck_assert_msg(collect(w, &cursor, got, 1, 1000) == 1,
                  "row not delivered after a busy read (hook saw %d rows)",
                  atomic_load(&H.rows_seen));
    ck_assert_int_eq(got[0], id);
    ck_assert_int_ge(atomic_load(&H.rows_seen), 2);
    ck_assert_int_eq(sse_fanout_fault_code(E.h.fanout), 0);
    sse_fanout_remove(E.h.fanout, w);
}
END_TEST

START_TEST(test_hub_busy_mid_batch_keeps_earlier_rows)
{
    struct sse_request req;
    struct sse_sub *w;
    /* Three rows in one commit; the read fails at the first, twice. */
    int64_t cursor = start_failing(&w, &req, SSE_EBUSY, 2);
    tu_sql(E.db,
           "INSERT INTO events(channel, data) VALUES "
           "('default', 'one'), ('default', 'two'), ('default', 'three');");
    int64_t got[3];
    ck_assert_uint_eq(collect(w, &cursor, got, 3, 1000), 3);
    ck_assert_int_eq(got[0], 1);
    ck_assert_int_eq(got[2], 3);
    sse_fanout_remove(E.h.fanout, w);
}
END_TEST

START_TEST(test_hub_open_race_commit_after_bounds)
{
    memset(&H, 0, sizeof H);
    E.db = tu_log_create(E.dir, "events.db");
    E.pub = tu_admin_open(E.db);
    H.publish_on_open = E.pub;
    hub_new_for("events.db");
    sse_hub_set_hook(E.h.hub, test_hook, NULL);
    /* The first open reads the bounds (head 0), then a row commits. */
    ck_assert_int_eq(sse_hub_start(E.h.hub), 0);
    ck_assert_int_eq(H.published_id, 1);
    struct sse_request req = req_one("default");
    struct sse_sub *w;
    ck_assert_int_eq(sse_fanout_add(E.h.fanout, &req, -1, &w), 0);
    int64_t cursor = 0, got[1];
    ck_assert_msg(collect(w, &cursor, got, 1, 1000) == 1,
                  "a row committed during open waits for the next commit");
    ck_assert_int_eq(got[0], 1);
    sse_fanout_remove(E.h.fanout, w);
}
END_TEST

/* --- a fault is reported as a fault, a replacement as a reset --- */

START_TEST(test_hub_fault_reported_as_fault)
{
    struct sse_request req;
    struct sse_sub *w;
    int64_t cursor = start_failing(&w, &req, SSE_ECORRUPT, 1);
    tu_publish(E.pub, NULL, NULL, "unreadable");
    int st = wait_status(w, &cursor, 5000);
    ck_assert_msg(st == SSE_FANOUT_FAULT, "status %d, not FAULT", st);
    sse_fanout_remove(E.h.fanout, w);
}
END_TEST

START_TEST(test_hub_fault_over_still_reported_as_fault)
{
    struct sse_request req;
    struct sse_sub *w;
    int64_t cursor = start_failing(&w, &req, SSE_ECORRUPT, 1);
    int64_t id = tu_publish(E.pub, NULL, NULL, "unreadable once");
    /* The stream thread is busy elsewhere while the fault comes and goes
     * (the hub reopens after a second). */
    ck_assert(wait_fault(1, 5000));
    ck_assert(wait_fault(0, 5000));
    ck_assert(wait_head(id, 5000));
    size_t n = 99;
    ck_assert_int_eq(next_in(w, &cursor, 0, &n), SSE_FANOUT_FAULT);
    ck_assert_uint_eq(n, 0);
    sse_fanout_remove(E.h.fanout, w);
}
END_TEST

START_TEST(test_hub_removed_db_is_reset_not_fault)
{
    start_healthy();
    struct sse_request req = req_one("default");
    struct sse_sub *w;
    int64_t cursor = add_waiter(&w, &req, -1);
    sse_admin_close(E.pub);
    E.pub = NULL;
    /* Removed: the hub resets, then cannot reopen (a fault). */
    static const char *const suffix[] = {"", "-wal", "-shm"};
    for (int i = 0; i < 3; i++) {
        char name[64];
        snprintf(name, sizeof name, "events.db%s", suffix[i]);
        char *p = tu_path(E.dir, name);
        unlink(p);
        free(p);
    }
    ck_assert(wait_fault(1, 5000));
    size_t n = 99;
    ck_assert_int_eq(next_in(w, &cursor, 0, &n), SSE_FANOUT_RESET);
    sse_fanout_remove(E.h.fanout, w);
}
END_TEST

static Suite *hub_suite(void)
{
    Suite *s = suite_create("hub");
    TCase *tc = tcase_create("basics");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_channel_hash_fnv1a);
    tcase_add_test(tc, test_clock_now_ns_monotonic);
    tcase_add_test(tc, test_hub_head_before_start);
    tcase_add_test(tc, test_hub_head_existing_rows);
    tcase_add_test(tc, test_hub_head_follows_publishes);
    suite_add_tcase(s, tc);

    tc = tcase_create("delivery");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_hub_next_new_rows_in_order);
    tcase_add_test(tc, test_hub_next_deadline_no_events);
    tcase_add_test(tc, test_hub_next_channel_filter_not_woken);
    tcase_add_test(tc, test_hub_next_waiters_see_own_channels);
    tcase_add_test(tc, test_hub_next_prefix_waiter);
    tcase_add_test(tc, test_hub_next_max_limits_batch);
    tcase_add_test(tc, test_hub_next_behind_when_ring_overrun);
    tcase_add_test(tc, test_hub_event_outlives_ring);
    tcase_add_test(tc, test_hub_window_tracks_ring_and_pruning);
    suite_add_tcase(s, tc);

    tc = tcase_create("faults");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_hub_fault_missing_db_then_healthy);
    tcase_add_test(tc, test_hub_fault_not_a_database);
    tcase_add_test(tc, test_hub_fault_not_initialised);
    tcase_add_test(tc, test_hub_reset_when_db_replaced);
    tcase_add_test(tc, test_hub_closed_after_stop);
    tcase_add_test(tc, test_hub_stop_wakes_blocked_waiter);
    suite_add_tcase(s, tc);

    tc = tcase_create("waiters_and_pool");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_hub_hangup_reported_promptly);
    tcase_add_test(tc, test_hub_unwatch_clears_hangup);
    tcase_add_test(tc, test_hub_waiter_remove_never_added);
    tcase_add_test(tc, test_hub_log_borrow_pooled);
    tcase_add_test(tc, test_hub_log_return_broken_closes);
    tcase_add_test(tc, test_hub_log_borrow_many);
    suite_add_tcase(s, tc);

    tc = tcase_create("parked");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_hub_parked_ready_and_taken);
    tcase_add_test(tc, test_hub_parked_other_channel_moves_cursor);
    suite_add_tcase(s, tc);

    tc = tcase_create("ring_bytes");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_hub_ring_evicts_by_bytes);
    tcase_add_test(tc, test_hub_oversize_event_restarts_ring);
    tcase_add_test(tc, test_hub_event_at_share_is_kept);
    tcase_add_test(tc, test_hub_read_batch_bounded_by_bytes);
    tcase_add_test(tc, test_hub_batch_larger_than_ring);
    tcase_add_test(tc, test_hub_oversize_event_and_parked_subscribers);
    suite_add_tcase(s, tc);

    tc = tcase_create("must_read");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_hub_busy_read_retried_without_commit);
    tcase_add_test(tc, test_hub_busy_mid_batch_keeps_earlier_rows);
    tcase_add_test(tc, test_hub_open_race_commit_after_bounds);
    suite_add_tcase(s, tc);

    tc = tcase_create("fault_or_reset");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_hub_fault_reported_as_fault);
    tcase_add_test(tc, test_hub_fault_over_still_reported_as_fault);
    tcase_add_test(tc, test_hub_removed_db_is_reset_not_fault);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run_suite(hub_suite());
}
