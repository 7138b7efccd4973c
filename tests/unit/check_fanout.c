/* check_fanout.c - unit tests for lib/fanout.c, without a hub thread.
 * SPDX-License-Identifier: MIT
 *
 * The test is the detector: it publishes batches of events by hand, so
 * every interleaving of a publish with a stream's hand-over (a thread
 * parking its subscriber, a parked subscriber falling behind and being
 * caught up from "the log") happens in an order the test chooses. The
 * central property, checked over random interleavings against a model of
 * the log: a parked subscriber receives every event of its channels
 * exactly once, in id order, whether from the ring or from catch-up reads.
 */
#include <check.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "fanout.h"
#include "ring.h"
#include "sse_error.h"
#include "testutil.h"

static struct {
    struct sse_config cfg;
    struct sse_fanout *f;
    int64_t head;
    atomic_int wakes;
    /* The log: every published id and its channel (0: "a", 1: "b"). */
    int64_t ids[4096];
    int chans[4096];
    size_t n;
} F;

static const char *const CHAN[] = {"a", "b"};

static void count_wake(void *ctx)
{
    (void)ctx;
    atomic_fetch_add(&F.wakes, 1);
}

static void setup(void)
{
    memset(&F, 0, sizeof F);
    sse_config_init(&F.cfg);
    char err[100];
    ck_assert_int_eq(sse_config_set(&F.cfg, "ring-events", "16", err, 100), 0);
    ck_assert_int_eq(sse_fanout_new(&F.cfg, NULL, &F.f), 0);
    sse_fanout_set_waker(F.f, count_wake, NULL);
    ck_assert_int_eq(sse_fanout_open(F.f, 1, 0), 0);
}

static void teardown(void)
{
    sse_fanout_free(F.f);
    sse_config_cleanup(&F.cfg);
}

/* Publishes one batch of count events, event i on channel chs[i]; a stub
 * (too large for the ring) where stub[i] is set (stub may be NULL). */
static void publish_mixed(const int *chs, const int *stub, size_t count)
{
    struct sse_event *evs[64];
    ck_assert_uint_le(count, 64);
    for (size_t i = 0; i < count; i++) {
        int64_t id = ++F.head;
        const char *bytes = stub && stub[i] ? NULL : "x";
        ck_assert_int_eq(sse_event_new(id, CHAN[chs[i]], 1, bytes, 1, &evs[i]),
                         0);
        F.ids[F.n] = id;
        F.chans[F.n] = chs[i];
        F.n++;
    }
    sse_fanout_publish(F.f, evs, count, F.head);
    for (size_t i = 0; i < count; i++)
        sse_event_release(evs[i]);
}

/* Publishes count events on channel ch (0 or 1) as one batch. */
static void publish(int ch, size_t count)
{
    int chs[64];
    ck_assert_uint_le(count, 64);
    for (size_t i = 0; i < count; i++)
        chs[i] = ch;
    publish_mixed(chs, NULL, count);
}

static struct sse_sub *subscribe(const char *channel)
{
    struct sse_request r;
    memset(&r, 0, sizeof r);
    memcpy(r.channels[0], channel, strlen(channel) + 1);
    r.nchannels = 1;
    struct sse_sub *s;
    ck_assert_int_eq(sse_fanout_add(F.f, &r, -1, &s), 0);
    return s;
}

/* 1 if owner is on the ready list (which is emptied). */
static int was_ready(struct sse_sub *s)
{
    void *owners[64];
    size_t n = sse_fanout_ready(F.f, owners, 64);
    int found = 0;
    for (size_t i = 0; i < n; i++)
        found |= owners[i] == s;
    return found;
}

/* Takes for a parked s; appends the ids to got. Returns the status. */
static int take(struct sse_sub *s, int64_t *got, size_t *ngot, int64_t *cursor)
{
    struct sse_event *evs[64];
    size_t n = 0;
    int st = sse_fanout_take(F.f, s, evs, 64, &n, cursor);
    for (size_t i = 0; i < n; i++) {
        got[(*ngot)++] = evs[i]->id;
        sse_event_release(evs[i]);
    }
    return st;
}

/* A subscriber to "a", parked at 0 and caught up by a first take. */
static struct sse_sub *park_caught_up(int64_t *got, size_t *ngot)
{
    struct sse_sub *s = subscribe("a");
    sse_fanout_park(F.f, s, 0, s);
    int64_t cursor;
    ck_assert_int_eq(take(s, got, ngot, &cursor), SSE_FANOUT_EVENTS);
    return s;
}

/* The model's read of the log: ids of ch with after < id <= upto. */
static void read_log(int ch, int64_t after, int64_t upto, int64_t *got,
                     size_t *ngot)
{
    for (size_t i = 0; i < F.n; i++)
        if (F.chans[i] == ch && F.ids[i] > after && F.ids[i] <= upto)
            got[(*ngot)++] = F.ids[i];
}

static void assert_all_of(int ch, const int64_t *got, size_t ngot)
{
    size_t k = 0;
    for (size_t i = 0; i < F.n; i++) {
        if (F.chans[i] != ch)
            continue;
        ck_assert_msg(k < ngot, "event %lld never arrived",
                      (long long)F.ids[i]);
        ck_assert_msg(got[k] == F.ids[i], "got %lld, want %lld",
                      (long long)got[k], (long long)F.ids[i]);
        k++;
    }
    ck_assert_msg(k == ngot, "%zu events, %zu wanted", ngot, k);
}

START_TEST(test_fanout_park_sees_batch_from_before_the_handover)
{
    struct sse_sub *s = subscribe("a");
    int64_t cursor = 0; /* the thread's cursor: caught up */
    /* A batch lands after the thread's last take, before it parks. */
    publish(0, 2);
    ck_assert(!was_ready(s)); /* thread-held: woken, not on the list */
    sse_fanout_park(F.f, s, cursor, s);
    ck_assert(was_ready(s));
    int64_t got[8];
    size_t n = 0;
    ck_assert_int_eq(take(s, got, &n, &cursor), SSE_FANOUT_EVENTS);
    ck_assert_uint_eq(n, 2);
    ck_assert_int_eq(got[0], 1);
    ck_assert_int_eq(cursor, 2);
    sse_fanout_remove(F.f, s);
}
END_TEST

START_TEST(test_fanout_parked_ready_only_for_wanted)
{
    struct sse_sub *s = subscribe("a");
    sse_fanout_park(F.f, s, 0, s);
    ck_assert(was_ready(s));
    int wakes = atomic_load(&F.wakes);
    publish(1, 3); /* b only */
    ck_assert(!was_ready(s));
    ck_assert_int_eq(atomic_load(&F.wakes), wakes);
    publish(0, 1);
    ck_assert_int_eq(atomic_load(&F.wakes), wakes + 1);
    publish(0, 1); /* already on the list: no second wake-up */
    ck_assert_int_eq(atomic_load(&F.wakes), wakes + 1);
    ck_assert(was_ready(s));
    sse_fanout_remove(F.f, s);
}
END_TEST

START_TEST(test_fanout_idle_cursor_follows_other_channels)
{
    struct sse_sub *s = subscribe("a");
    sse_fanout_park(F.f, s, 0, s);
    was_ready(s);
    int64_t got[64], cursor;
    size_t n = 0;
    ck_assert_int_eq(take(s, got, &n, &cursor), SSE_FANOUT_EVENTS);
    /* Three ring-fulls of "b": the idle "a" stream never falls behind. */
    for (int i = 0; i < 3; i++)
        publish(1, 16);
    ck_assert_int_eq(take(s, got, &n, &cursor), SSE_FANOUT_EVENTS);
    ck_assert_uint_eq(n, 0);
    ck_assert_int_eq(cursor, 48);
    sse_fanout_remove(F.f, s);
}
END_TEST

START_TEST(test_fanout_behind_cursor_left_to_the_read)
{
    struct sse_sub *s = subscribe("a");
    sse_fanout_park(F.f, s, 0, s);
    publish(0, 20); /* past the ring: s is behind */
    int64_t got[64], cursor;
    size_t n = 0;
    ck_assert_int_eq(take(s, got, &n, &cursor), SSE_FANOUT_BEHIND);
    ck_assert_int_eq(cursor, 0);
    int64_t upto = F.head;
    publish(1, 4); /* while the read is out: must not move s */
    ck_assert_int_eq(take(s, got, &n, &cursor), SSE_FANOUT_BEHIND);
    ck_assert_int_eq(cursor, 0);
    read_log(0, 0, upto, got, &n);
    sse_fanout_advance(F.f, s, upto);
    publish(0, 1);
    ck_assert_int_eq(take(s, got, &n, &cursor), SSE_FANOUT_EVENTS);
    assert_all_of(0, got, n);
    sse_fanout_remove(F.f, s);
}
END_TEST

START_TEST(test_fanout_fault_reset_stop_reach_parked)
{
    struct sse_sub *s = subscribe("a");
    sse_fanout_park(F.f, s, 0, s);
    was_ready(s);
    int64_t got[4], cursor;
    size_t n = 0;
    ck_assert_int_eq(sse_fanout_fault(F.f, SSE_ECORRUPT), 1);
    ck_assert(was_ready(s));
    ck_assert_int_eq(take(s, got, &n, &cursor), SSE_FANOUT_FAULT);
    sse_fanout_remove(F.f, s);

    ck_assert_int_eq(sse_fanout_open(F.f, 1, F.head), 1);
    s = subscribe("a");
    sse_fanout_park(F.f, s, F.head, s);
    was_ready(s);
    sse_fanout_reset(F.f);
    ck_assert(was_ready(s));
    ck_assert_int_eq(take(s, got, &n, &cursor), SSE_FANOUT_RESET);
    sse_fanout_remove(F.f, s);

    s = subscribe("a");
    sse_fanout_park(F.f, s, 0, s);
    was_ready(s);
    sse_fanout_stop(F.f);
    ck_assert(was_ready(s));
    ck_assert_int_eq(take(s, got, &n, &cursor), SSE_FANOUT_CLOSED);
    sse_fanout_remove(F.f, s);
}
END_TEST

START_TEST(test_fanout_handoff_takes_only_wanted_of_mixed_batch)
{
    int64_t got[64], cursor;
    size_t n = 0;
    struct sse_sub *s = park_caught_up(got, &n);
    /* Caught up: the next batch is handed to s as deliver found it. */
    static const int chs[] = {1, 0, 1, 0, 0, 1};
    publish_mixed(chs, NULL, 6);
    ck_assert(was_ready(s));
    ck_assert_int_eq(take(s, got, &n, &cursor), SSE_FANOUT_EVENTS);
    ck_assert_int_eq(cursor, F.head);
    assert_all_of(0, got, n);
    /* Two batches before a take: the hand-off of the first is stale. */
    publish_mixed(chs, NULL, 6);
    publish_mixed(chs + 1, NULL, 4);
    ck_assert_int_eq(take(s, got, &n, &cursor), SSE_FANOUT_EVENTS);
    ck_assert_int_eq(cursor, F.head);
    assert_all_of(0, got, n);
    sse_fanout_remove(F.f, s);
}
END_TEST

START_TEST(test_fanout_handoff_of_stub_or_oversize_batch_is_behind)
{
    int64_t got[64], cursor;
    size_t n = 0;
    struct sse_sub *s = park_caught_up(got, &n);
    /* A stub in the handed batch: the ring restarted after it. */
    static const int chs[20] = {0};
    static const int stub[] = {0, 1, 0};
    publish_mixed(chs, stub, 3);
    ck_assert_int_eq(take(s, got, &n, &cursor), SSE_FANOUT_BEHIND);
    ck_assert_int_eq(cursor, 0);
    read_log(0, 0, F.head, got, &n);
    sse_fanout_advance(F.f, s, F.head);
    /* A batch larger than the ring (16) evicted its own first events. */
    int64_t before = F.head;
    publish_mixed(chs, NULL, 20);
    ck_assert_int_eq(take(s, got, &n, &cursor), SSE_FANOUT_BEHIND);
    ck_assert_int_eq(cursor, before);
    read_log(0, before, F.head, got, &n);
    sse_fanout_advance(F.f, s, F.head);
    assert_all_of(0, got, n);
    sse_fanout_remove(F.f, s);
}
END_TEST

START_TEST(test_fanout_first_subscriber_of_channel_takes_older_ring_events)
{
    /* "a" events published while nobody held "a", then while one did and
     * after it left. */
    int64_t got[64], got_b[64], cursor;
    size_t n = 0, nb = 0;
    publish(0, 2);
    struct sse_sub *first = subscribe("a");
    publish(0, 2);
    sse_fanout_remove(F.f, first);
    publish(0, 1);
    publish(1, 1);
    /* The first entry's id, stamped on ring events, is given to no later
     * entry: a "b" subscriber at 0 takes "b" events only. */
    struct sse_sub *b = subscribe("b");
    sse_fanout_park(F.f, b, 0, b);
    ck_assert_int_eq(take(b, got_b, &nb, &cursor), SSE_FANOUT_EVENTS);
    assert_all_of(1, got_b, nb);
    /* A new subscriber of "a" at 0 takes every "a" event from the ring:
     * its new entry stamped them all. */
    struct sse_sub *s = subscribe("a");
    sse_fanout_park(F.f, s, 0, s);
    ck_assert_int_eq(take(s, got, &n, &cursor), SSE_FANOUT_EVENTS);
    ck_assert_int_eq(cursor, F.head);
    assert_all_of(0, got, n);
    sse_fanout_remove(F.f, b);
    sse_fanout_remove(F.f, s);
}
END_TEST

/* can_take for sse_fanout_take_ready: every owner but the one in
 * F_blocked can take. */
static void *F_blocked;

static int all_but_blocked(void *owner)
{
    return owner != F_blocked;
}

START_TEST(test_fanout_take_ready_skips_who_cannot_take)
{
    int64_t got[64];
    size_t n = 0;
    struct sse_sub *a = park_caught_up(got, &n);
    struct sse_sub *b = park_caught_up(got, &n);
    was_ready(a);
    int64_t before = F.head;
    publish(0, 3);
    F_blocked = b;
    void *owners[4];
    struct sse_event *evs[4 * 8];
    int status[4];
    int64_t cursor[4];
    size_t k[4];
    ck_assert_uint_eq(sse_fanout_take_ready(F.f, all_but_blocked, 4, owners,
                                            evs, 8, status, cursor, k),
                      2);
    /* In the order they became ready: a took the batch, b nothing. */
    ck_assert_ptr_eq(owners[0], a);
    ck_assert_int_eq(status[0], SSE_FANOUT_EVENTS);
    ck_assert_uint_eq(k[0], 3);
    ck_assert_int_eq(cursor[0], F.head);
    for (size_t i = 0; i < k[0]; i++) {
        ck_assert_int_eq(evs[i]->id, before + 1 + (int64_t)i);
        sse_event_release(evs[i]);
    }
    ck_assert_ptr_eq(owners[1], b);
    ck_assert_int_eq(status[1], -1);
    ck_assert_uint_eq(k[1], 0);
    ck_assert_int_eq(cursor[1], before);
    /* Both are off the ready list; b takes its batch later. */
    ck_assert(!was_ready(b));
    n = 0;
    int64_t c;
    ck_assert_int_eq(take(b, got, &n, &c), SSE_FANOUT_EVENTS);
    ck_assert_uint_eq(n, 3);
    ck_assert_int_eq(c, F.head);
    sse_fanout_remove(F.f, a);
    sse_fanout_remove(F.f, b);
}
END_TEST

START_TEST(test_fanout_remove_while_ready)
{
    struct sse_sub *a = subscribe("a"), *b = subscribe("a");
    sse_fanout_park(F.f, a, 0, a);
    sse_fanout_park(F.f, b, 0, b);
    sse_fanout_remove(F.f, a); /* on the ready list: unlinked */
    void *owners[4];
    ck_assert_uint_eq(sse_fanout_ready(F.f, owners, 4), 1);
    ck_assert_ptr_eq(owners[0], b);
    sse_fanout_remove(F.f, b);
}
END_TEST

/* Random interleavings of publishes (either channel, any batch size),
 * takes and catch-up reads that may stay out across publishes, for a
 * stream that is parked at a random moment: every "a" event exactly once,
 * in order. */
START_TEST(test_fanout_handover_exact_under_random_interleaving)
{
    struct tu_rng g;
    tu_rng_init(&g, "test_fanout_handover_exact_under_random_interleaving");
    teardown(); /* each round gets a fresh fan-out */
    for (int round = 0; round < 30; round++) {
        setup();
        struct sse_sub *s = subscribe("a");
        int64_t got[4096];
        size_t n = 0;
        int parked = 0, reading = 0;
        int64_t cursor = 0, read_after = 0, read_upto = 0;
        for (int step = 0; step < 200 && F.n < 3900; step++) {
            uint64_t op = tu_rng_below(&g, 10);
            if (op < 2) {
                publish((int)tu_rng_below(&g, 2),
                        1 + (size_t)tu_rng_below(&g, 20));
            } else if (op < 4) {
                int chs[20];
                size_t count = 1 + (size_t)tu_rng_below(&g, 20);
                for (size_t i = 0; i < count; i++)
                    chs[i] = (int)tu_rng_below(&g, 2);
                publish_mixed(chs, NULL, count);
            } else if (!parked) {
                /* The thread: takes from the ring (or reads the log) and,
                 * now and then, parks. */
                struct sse_event *evs[64];
                size_t k = 0;
                int st = sse_fanout_next(F.f, s, &cursor, evs, 64, &k, 0);
                for (size_t i = 0; i < k; i++) {
                    got[n++] = evs[i]->id;
                    sse_event_release(evs[i]);
                }
                if (st == SSE_FANOUT_BEHIND) {
                    read_log(0, cursor, F.head, got, &n);
                    cursor = F.head;
                } else if (k == 0 && op < 6) {
                    sse_fanout_park(F.f, s, cursor, s);
                    parked = 1;
                }
            } else if (reading) {
                /* The catch-up read comes back. */
                read_log(0, read_after, read_upto, got, &n);
                sse_fanout_advance(F.f, s, read_upto);
                reading = 0;
            } else {
                int64_t c;
                int st = take(s, got, &n, &c);
                if (st == SSE_FANOUT_BEHIND) {
                    reading = 1;
                    read_after = c;
                    read_upto = F.head; /* the head when the read starts */
                } else {
                    ck_assert_int_eq(st, SSE_FANOUT_EVENTS);
                }
            }
        }
        /* Drain: finish a read, then take until nothing is left. */
        for (int i = 0; i < 1000; i++) {
            if (!parked) {
                sse_fanout_park(F.f, s, cursor, s);
                parked = 1;
            }
            if (reading) {
                read_log(0, read_after, read_upto, got, &n);
                sse_fanout_advance(F.f, s, read_upto);
                reading = 0;
            }
            int64_t c;
            size_t before = n;
            int st = take(s, got, &n, &c);
            if (st == SSE_FANOUT_BEHIND) {
                reading = 1;
                read_after = c;
                read_upto = F.head;
            } else if (n == before && c == F.head) {
                break;
            }
        }
        assert_all_of(0, got, n);
        sse_fanout_remove(F.f, s);
        teardown();
    }
    setup(); /* for the fixture's teardown */
}
END_TEST

static Suite *fanout_suite(void)
{
    Suite *s = suite_create("fanout");
    TCase *tc = tcase_create("handover");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_fanout_park_sees_batch_from_before_the_handover);
    tcase_add_test(tc, test_fanout_parked_ready_only_for_wanted);
    tcase_add_test(tc, test_fanout_idle_cursor_follows_other_channels);
    tcase_add_test(tc, test_fanout_behind_cursor_left_to_the_read);
    tcase_add_test(tc, test_fanout_fault_reset_stop_reach_parked);
    tcase_add_test(tc, test_fanout_handoff_takes_only_wanted_of_mixed_batch);
    tcase_add_test(tc, test_fanout_handoff_of_stub_or_oversize_batch_is_behind);
    tcase_add_test(
        tc, test_fanout_first_subscriber_of_channel_takes_older_ring_events);
    tcase_add_test(tc, test_fanout_take_ready_skips_who_cannot_take);
    tcase_add_test(tc, test_fanout_remove_while_ready);
    tcase_add_test(tc, test_fanout_handover_exact_under_random_interleaving);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run_suite(fanout_suite());
}
