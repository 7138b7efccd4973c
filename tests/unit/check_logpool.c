/* check_logpool.c - unit tests for lib/logpool.c (the bounded pool of
 * read connections).
 * SPDX-License-Identifier: MIT
 *
 * Real SQLite logs in temporary directories. The cap matters most on
 * PostgreSQL (a connection is a server process), but the pool's logic does
 * not depend on the engine, so SQLite files test it here; tests/postgres
 * checks the count the server itself sees.
 */
#include <check.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "admin.h"
#include "clock.h"
#include "logpool.h"
#include "metrics.h"
#include "sse_error.h"
#include "testutil.h"

static struct {
    char *dir;
    char *db;
    struct sse_metrics m;
    struct sse_logpool *pool;
} E;

static void setup_pool(size_t max_open, int timeout_ms)
{
    E.dir = tu_tmpdir_new();
    E.db = tu_log_create(E.dir, "events.db");
    sse_metrics_init(&E.m, 1);
    ck_assert_int_eq(sse_logpool_new(E.db, timeout_ms, max_open, &E.m, &E.pool),
                     0);
}

static void teardown_pool(void)
{
    sse_logpool_free(E.pool);
    free(E.db);
    tu_tmpdir_remove(E.dir);
}

static long long gauge(void)
{
    return atomic_load(&E.m.db_connections);
}

START_TEST(test_cap_refuses_past_max_open_after_the_timeout)
{
    setup_pool(2, 150);
    struct sse_eventlog *a, *b, *c = NULL;
    ck_assert_int_eq(sse_logpool_borrow(E.pool, &a), 0);
    ck_assert_int_eq(sse_logpool_borrow(E.pool, &b), 0);
    ck_assert_ptr_ne(a, b);
    ck_assert_uint_eq(sse_logpool_open_count(E.pool), 2);
    int64_t t0 = sse_now_ns();
    ck_assert_int_eq(sse_logpool_borrow(E.pool, &c), SSE_EBUSY);
    int64_t waited_ms = (sse_now_ns() - t0) / SSE_NS_PER_MS;
    ck_assert_int_ge(waited_ms, 140);  /* it waited the busy timeout... */
    ck_assert_int_lt(waited_ms, 5000); /* ...and no longer */
    ck_assert_ptr_null(c);
    ck_assert_uint_eq(sse_logpool_open_count(E.pool), 2);
    ck_assert_int_eq(gauge(), 2);
    ck_assert_int_eq(atomic_load(&E.m.db_connection_waits), 1);
    /* A returned connection is lent again: the same one, not a third. */
    sse_logpool_return(E.pool, a, 0);
    ck_assert_int_eq(sse_logpool_borrow(E.pool, &c), 0);
    ck_assert_ptr_eq(c, a);
    ck_assert_uint_eq(sse_logpool_open_count(E.pool), 2);
    sse_logpool_return(E.pool, b, 0);
    sse_logpool_return(E.pool, c, 0);
    teardown_pool();
}
END_TEST

START_TEST(test_broken_return_frees_its_slot)
{
    setup_pool(1, 100);
    struct sse_eventlog *a, *b;
    ck_assert_int_eq(sse_logpool_borrow(E.pool, &a), 0);
    sse_logpool_return(E.pool, a, 1); /* closed, not kept */
    ck_assert_uint_eq(sse_logpool_open_count(E.pool), 0);
    ck_assert_int_eq(gauge(), 0);
    ck_assert_int_eq(sse_logpool_borrow(E.pool, &b), 0);
    ck_assert_uint_eq(sse_logpool_open_count(E.pool), 1);
    sse_logpool_return(E.pool, b, 0);
    sse_logpool_clear(E.pool);
    ck_assert_uint_eq(sse_logpool_open_count(E.pool), 0);
    ck_assert_int_eq(gauge(), 0);
    teardown_pool();
}
END_TEST

START_TEST(test_failed_open_frees_its_slot)
{
    setup_pool(1, 100);
    char *gone = tu_path(E.dir, "missing.db");
    struct sse_logpool *p;
    ck_assert_int_eq(sse_logpool_new(gone, 100, 1, NULL, &p), 0);
    struct sse_eventlog *l;
    ck_assert_int_ne(sse_logpool_borrow(p, &l), 0);
    ck_assert_int_ne(sse_logpool_borrow(p, &l), SSE_EBUSY); /* not taken */
    ck_assert_uint_eq(sse_logpool_open_count(p), 0);
    sse_logpool_free(p);
    free(gone);
    teardown_pool();
}
END_TEST

/* A borrower waiting for the only connection gets it when the holder
 * returns it, long before its timeout. */
struct waiter {
    int rc;
    struct sse_eventlog *log;
    int64_t waited_ns;
};

static void *waiting_borrower(void *arg)
{
    struct waiter *w = arg;
    int64_t t0 = sse_now_ns();
    w->rc = sse_logpool_borrow(E.pool, &w->log);
    w->waited_ns = sse_now_ns() - t0;
    return NULL;
}

START_TEST(test_waiting_borrower_woken_by_return)
{
    setup_pool(1, 20000);
    struct sse_eventlog *held;
    ck_assert_int_eq(sse_logpool_borrow(E.pool, &held), 0);
    struct waiter w = {.rc = -99};
    pthread_t t;
    ck_assert_int_eq(pthread_create(&t, NULL, waiting_borrower, &w), 0);
    /* The waiter counts itself before it waits: return only then. */
    int64_t deadline = sse_now_ns() + 10 * SSE_NS_PER_S;
    while (atomic_load(&E.m.db_connection_waits) == 0 &&
           sse_now_ns() < deadline)
        sched_yield();
    ck_assert_int_eq(atomic_load(&E.m.db_connection_waits), 1);
    sse_logpool_return(E.pool, held, 0);
    pthread_join(t, NULL);
    ck_assert_int_eq(w.rc, 0);
    ck_assert_ptr_eq(w.log, held);
    ck_assert_int_lt(w.waited_ns, 10 * SSE_NS_PER_S); /* not the 20 s */
    sse_logpool_return(E.pool, w.log, 0);
    teardown_pool();
}
END_TEST

/* Many threads reading at once never open more than max_open, and every
 * read succeeds (each waits its turn). */
#define READERS 6
#define READS_EACH 40

static void *reader(void *arg)
{
    int *failures = arg;
    for (int i = 0; i < READS_EACH; i++) {
        struct sse_buf out;
        sse_buf_init(&out, 1 << 16);
        struct sse_eventlog_progress progress;
        if (sse_logpool_read(E.pool, NULL, 0, 0, INT64_MAX, 10, 1 << 16, &out,
                             &progress))
            (*failures)++;
        if (sse_logpool_open_count(E.pool) > 2)
            (*failures)++;
        sse_buf_cleanup(&out);
    }
    return NULL;
}

START_TEST(test_concurrent_reads_stay_under_the_cap)
{
    setup_pool(2, 20000);
    struct sse_admin *a = tu_admin_open(E.db);
    for (int i = 0; i < 20; i++)
        tu_publish(a, "c", NULL, "x");
    sse_admin_close(a);
    pthread_t t[READERS];
    int failures[READERS] = {0};
    for (int i = 0; i < READERS; i++)
        ck_assert_int_eq(pthread_create(&t[i], NULL, reader, &failures[i]), 0);
    for (int i = 0; i < READERS; i++) {
        pthread_join(t[i], NULL);
        ck_assert_int_eq(failures[i], 0);
    }
    ck_assert_uint_le(sse_logpool_open_count(E.pool), 2);
    ck_assert_int_le(gauge(), 2);
    teardown_pool();
}
END_TEST

static Suite *logpool_suite(void)
{
    Suite *s = suite_create("logpool");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_cap_refuses_past_max_open_after_the_timeout);
    tcase_add_test(tc, test_broken_return_frees_its_slot);
    tcase_add_test(tc, test_failed_open_frees_its_slot);
    tcase_add_test(tc, test_waiting_borrower_woken_by_return);
    tcase_add_test(tc, test_concurrent_reads_stay_under_the_cap);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run_suite(logpool_suite());
}
