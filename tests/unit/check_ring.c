/* check_ring.c - unit tests for lib/ring.c (the ring of encoded events).
 * SPDX-License-Identifier: MIT
 *
 * The ring is checked against a model that is trivially right: a plain
 * array of (id, cost) with the same two bounds, applied by the same rules
 * (evict the oldest while either bound would be passed; a stub restarts;
 * skipped rows move head only). Random operations run on both, seeded
 * (SSELITE_TEST_SEED repeats a run), and after each one the ring's entries,
 * window and byte count must equal the model's and every cursor must find
 * the entry a linear search finds.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "channel.h"
#include "ring.h"
#include "sse_error.h"
#include "testutil.h"

static struct sse_event *event(int64_t id, const char *channel, size_t len)
{
    char *bytes = NULL;
    if (len) {
        bytes = malloc(len);
        ck_assert_ptr_nonnull(bytes);
        memset(bytes, 'e', len);
    }
    struct sse_event *ev = NULL;
    ck_assert_int_eq(
        sse_event_new(id, channel, strlen(channel), bytes, len, &ev), 0);
    free(bytes);
    return ev;
}

START_TEST(test_ring_event_new_fields)
{
    struct sse_event *ev = event(7, "news", 5);
    ck_assert_int_eq(ev->id, 7);
    ck_assert_str_eq(ev->channel, "news");
    ck_assert_uint_eq(ev->channel_hash, sse_channel_hash("news", 4));
    ck_assert_uint_eq(ev->len, 5);
    ck_assert_ptr_nonnull(ev->bytes);
    ck_assert(memcmp(ev->bytes, "eeeee", 5) == 0);
    ck_assert_uint_eq(sse_event_cost(ev), sizeof *ev + 5 + 5);
    sse_event_release(ev);
    sse_event_release(NULL);
}
END_TEST

START_TEST(test_ring_event_new_stub)
{
    struct sse_event *ev = NULL;
    ck_assert_int_eq(sse_event_new(9, "c", 1, NULL, 1000000, &ev), 0);
    ck_assert_ptr_null(ev->bytes);
    ck_assert_uint_eq(ev->len, 0);
    sse_event_release(ev);
}
END_TEST

START_TEST(test_ring_event_outlives_ring)
{
    struct sse_ring r;
    ck_assert_int_eq(sse_ring_init(&r, 2, 1 << 20), 0);
    sse_ring_restart(&r, 0);
    struct sse_event *ev = event(1, "a", 3);
    sse_ring_store(&r, ev);
    sse_event_ref(ev);     /* a stream's reference */
    sse_event_release(ev); /* the maker's */
    for (int64_t id = 2; id <= 4; id++) {
        struct sse_event *e = event(id, "a", 3);
        sse_ring_store(&r, e);
        sse_event_release(e);
    }
    ck_assert_int_eq(r.covered_after, 2);
    /* Evicted, still readable (valgrind/ASan see a use after free). */
    ck_assert_int_eq(ev->id, 1);
    ck_assert(memcmp(ev->bytes, "eee", 3) == 0);
    sse_event_release(ev);
    sse_ring_cleanup(&r);
}
END_TEST

START_TEST(test_ring_find_empty_and_window)
{
    struct sse_ring r;
    ck_assert_int_eq(sse_ring_init(&r, 4, 1 << 20), 0);
    ck_assert_int_eq(r.head, -1);
    sse_ring_restart(&r, 10);
    ck_assert_int_eq(r.covered_after, 10);
    ck_assert_int_eq(r.head, 10);
    ck_assert_uint_eq(sse_ring_find(&r, 3), 0);
    sse_ring_pass(&r, 12);
    ck_assert_int_eq(r.head, 12);
    ck_assert_uint_eq(r.count, 0);
    struct sse_event *ev = event(13, "a", 1);
    sse_ring_store(&r, ev);
    sse_event_release(ev);
    ck_assert_uint_eq(sse_ring_find(&r, 12), 0);
    ck_assert_uint_eq(sse_ring_find(&r, 13), 1);
    sse_ring_check(&r);
    sse_ring_cleanup(&r);
}
END_TEST

/* --- the model --- */

enum { MODEL_MAX = 4096 };

struct model {
    int64_t ids[MODEL_MAX];
    size_t costs[MODEL_MAX];
    size_t n;
    size_t bytes;
    int64_t covered_after, head;
    size_t cap, bytes_max;
};

static void model_drop_first(struct model *m)
{
    m->covered_after = m->ids[0];
    m->bytes -= m->costs[0];
    memmove(m->ids, m->ids + 1, (m->n - 1) * sizeof *m->ids);
    memmove(m->costs, m->costs + 1, (m->n - 1) * sizeof *m->costs);
    m->n--;
}

static void model_store(struct model *m, int64_t id, size_t cost, int stub)
{
    if (stub) {
        m->n = 0;
        m->bytes = 0;
        m->covered_after = id;
    } else {
        while (m->n > 0 && (m->n == m->cap || m->bytes + cost > m->bytes_max))
            model_drop_first(m);
        m->ids[m->n] = id;
        m->costs[m->n] = cost;
        m->n++;
        m->bytes += cost;
    }
    m->head = id;
}

static void assert_same(struct tu_rng *g, const struct sse_ring *r,
                        const struct model *m, int step)
{
    sse_ring_check(r);
    tu_rng_assert(g, r->count == m->n, "step %d: %zu entries, model %zu", step,
                  r->count, m->n);
    tu_rng_assert(g, r->bytes == m->bytes, "step %d: bytes %zu, model %zu",
                  step, r->bytes, m->bytes);
    tu_rng_assert(g, r->covered_after == m->covered_after && r->head == m->head,
                  "step %d: window (%lld, %lld], model (%lld, %lld]", step,
                  (long long)r->covered_after, (long long)r->head,
                  (long long)m->covered_after, (long long)m->head);
    for (size_t i = 0; i < m->n; i++)
        tu_rng_assert(g, sse_ring_at(r, i)->id == m->ids[i],
                      "step %d: entry %zu", step, i);
    /* Every cursor from below the window to past head. */
    for (int64_t c = m->covered_after - 2; c <= m->head + 1; c++) {
        size_t want = 0;
        while (want < m->n && m->ids[want] <= c)
            want++;
        tu_rng_assert(g, sse_ring_find(r, c) == want, "step %d: cursor %lld",
                      step, (long long)c);
    }
}

START_TEST(test_ring_matches_model)
{
    struct tu_rng g;
    tu_rng_init(&g, "test_ring_matches_model");
    for (int round = 0; round < 20; round++) {
        struct model *m = calloc(1, sizeof *m);
        ck_assert_ptr_nonnull(m);
        m->cap = 1 + (size_t)tu_rng_below(&g, 16);
        m->bytes_max = 200 + (size_t)tu_rng_below(&g, 2000);
        struct sse_ring r;
        ck_assert_int_eq(sse_ring_init(&r, m->cap, m->bytes_max), 0);
        int64_t head = (int64_t)tu_rng_below(&g, 50);
        sse_ring_restart(&r, head);
        m->covered_after = m->head = head;
        for (int step = 0; step < 300; step++) {
            uint64_t op = tu_rng_below(&g, 100);
            int64_t id = m->head + 1 + (int64_t)tu_rng_below(&g, 3);
            if (op < 80) {
                /* An event that fits the byte bound, or (rarely) a stub. */
                int stub = tu_rng_below(&g, 25) == 0;
                size_t fixed = sizeof(struct sse_event) + 2;
                size_t len =
                    stub ? 0
                         : 1 + (size_t)tu_rng_below(&g, m->bytes_max - fixed);
                struct sse_event *ev = NULL;
                if (stub)
                    ck_assert_int_eq(sse_event_new(id, "c", 1, NULL, 0, &ev),
                                     0);
                else
                    ev = event(id, "c", len);
                size_t cost = stub ? 0 : sse_event_cost(ev);
                sse_ring_store(&r, ev);
                sse_event_release(ev);
                model_store(m, id, cost, stub);
            } else if (op < 95) {
                sse_ring_pass(&r, id);
                m->head = id;
            } else {
                sse_ring_restart(&r, id);
                m->n = 0;
                m->bytes = 0;
                m->covered_after = m->head = id;
            }
            assert_same(&g, &r, m, step);
        }
        sse_ring_cleanup(&r);
        free(m);
    }
}
END_TEST

static Suite *ring_suite(void)
{
    Suite *s = suite_create("ring");
    TCase *tc = tcase_create("ring");
    tcase_add_test(tc, test_ring_event_new_fields);
    tcase_add_test(tc, test_ring_event_new_stub);
    tcase_add_test(tc, test_ring_event_outlives_ring);
    tcase_add_test(tc, test_ring_find_empty_and_window);
    tcase_add_test(tc, test_ring_matches_model);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run_suite(ring_suite());
}
