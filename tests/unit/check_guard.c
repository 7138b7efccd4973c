/* check_guard.c - unit tests for fcgi/guard.c (cutting slow connections).
 * SPDX-License-Identifier: MIT
 *
 * Connections are real socket pairs: one end plays the worker's connection
 * (the fd a guard watches), the other the peer. A cut shows on the peer as
 * end of file, and on a thread blocked reading the worker's end as a read
 * that returns 0, which is what makes libfcgi give up on a request.
 */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "guard.h"
#include "clock.h"
#include "sse_error.h"
#include "testutil.h"

#define SECOND 1000000000LL

static void pair(int sv[2])
{
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
}

/* 1 if the peer end sees end of file now, 0 if the pair is still open. */
static int peer_sees_eof(int fd)
{
    char c;
    ssize_t n = recv(fd, &c, 1, MSG_DONTWAIT);
    if (n < 0)
        ck_assert_int_eq(errno, EAGAIN);
    return n == 0;
}

static int open_fds(void)
{
    int n = 0;
    DIR *d = opendir("/proc/self/fd");
    ck_assert_ptr_nonnull(d);
    while (readdir(d))
        n++;
    closedir(d);
    return n - 1; /* the directory's own fd; "." and ".." counted too */
}

START_TEST(test_guard_check_cuts_past_deadline)
{
    struct sse_guard g;
    int sv[2];
    pair(sv);
    ck_assert_int_eq(sse_guard_init(&g), 0);
    int64_t now = sse_now_ns();
    ck_assert_int_eq(sse_guard_arm(&g, sv[0], now), 0);
    ck_assert_int_eq(sse_guards_check(&g, 1, now), INT64_MAX);
    ck_assert_int_eq(peer_sees_eof(sv[1]), 1);
    ck_assert_int_eq(sse_guard_disarm(&g), 1);
    /* The watched descriptor is borrowed: still open after the cut. */
    ck_assert_int_ge(fcntl(sv[0], F_GETFD), 0);
    close(sv[0]);
    close(sv[1]);
    sse_guard_cleanup(&g);
}
END_TEST

START_TEST(test_guard_check_spares_future_deadline)
{
    struct sse_guard g;
    int sv[2];
    pair(sv);
    ck_assert_int_eq(sse_guard_init(&g), 0);
    int64_t now = sse_now_ns();
    ck_assert_int_eq(sse_guard_arm(&g, sv[0], now + SECOND), 0);
    ck_assert_int_eq(sse_guards_check(&g, 1, now + SECOND - 1), now + SECOND);
    ck_assert_int_eq(peer_sees_eof(sv[1]), 0);
    ck_assert_int_eq(sse_guard_disarm(&g), 0);
    /* A disarmed guard is never cut. */
    ck_assert_int_eq(sse_guards_check(&g, 1, now + 2 * SECOND), INT64_MAX);
    ck_assert_int_eq(peer_sees_eof(sv[1]), 0);
    close(sv[0]);
    close(sv[1]);
    sse_guard_cleanup(&g);
}
END_TEST

START_TEST(test_guard_check_returns_earliest_pending)
{
    struct sse_guard g[3];
    int a[2], b[2];
    pair(a);
    pair(b);
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(sse_guard_init(&g[i]), 0);
    int64_t now = sse_now_ns();
    ck_assert_int_eq(sse_guard_arm(&g[0], a[0], now + 3 * SECOND), 0);
    /* g[1] stays disarmed. */
    ck_assert_int_eq(sse_guard_arm(&g[2], b[0], now + 2 * SECOND), 0);
    ck_assert_int_eq(sse_guards_check(g, 3, now), now + 2 * SECOND);
    ck_assert_int_eq(sse_guards_check(g, 3, now + 2 * SECOND),
                     now + 3 * SECOND);
    ck_assert_int_eq(peer_sees_eof(b[1]), 1);
    ck_assert_int_eq(peer_sees_eof(a[1]), 0);
    ck_assert_int_eq(sse_guard_disarm(&g[0]), 0);
    ck_assert_int_eq(sse_guard_disarm(&g[1]), 0);
    ck_assert_int_eq(sse_guard_disarm(&g[2]), 1);
    for (int i = 0; i < 3; i++)
        sse_guard_cleanup(&g[i]);
    close(a[0]);
    close(a[1]);
    close(b[0]);
    close(b[1]);
}
END_TEST

static void *read_one(void *arg)
{
    char c;
    return (void *)(intptr_t)read(*(int *)arg, &c, 1);
}

START_TEST(test_guard_cut_wakes_blocked_reader)
{
    struct sse_guard g;
    int sv[2];
    pair(sv);
    ck_assert_int_eq(sse_guard_init(&g), 0);
    int64_t now = sse_now_ns();
    ck_assert_int_eq(sse_guard_arm(&g, sv[0], now + SECOND / 10), 0);
    pthread_t t;
    ck_assert_int_eq(pthread_create(&t, NULL, read_one, &sv[0]), 0);
    /* Whether or not the reader is blocked yet, its read must end. */
    struct timespec pause = {0, 50 * 1000 * 1000};
    nanosleep(&pause, NULL);
    sse_guards_check(&g, 1, now + SECOND / 10);
    void *n;
    ck_assert_int_eq(pthread_join(t, &n), 0);
    ck_assert_int_eq((int)(intptr_t)n, 0); /* end of file */
    ck_assert_int_eq(sse_guard_disarm(&g), 1);
    close(sv[0]);
    close(sv[1]);
    sse_guard_cleanup(&g);
}
END_TEST

/* libfcgi closes a failed connection itself and accept may hand its number
 * to the next connection before the thread disarms: a late cut must hit
 * the old socket only. */
START_TEST(test_guard_cut_after_close_spares_reused_number)
{
    struct sse_guard g;
    int old[2], fresh[2];
    pair(old);
    ck_assert_int_eq(sse_guard_init(&g), 0);
    int64_t now = sse_now_ns();
    ck_assert_int_eq(sse_guard_arm(&g, old[0], now), 0);
    int number = old[0];
    close(old[0]);
    pair(fresh);
    ck_assert_int_eq(fresh[0], number); /* the number was reused */
    sse_guards_check(&g, 1, now);
    ck_assert_int_eq(peer_sees_eof(old[1]), 1);
    ck_assert_int_eq(send(fresh[1], "x", 1, 0), 1);
    char c = 0;
    ck_assert_int_eq(recv(fresh[0], &c, 1, 0), 1);
    ck_assert_int_eq(c, 'x');
    ck_assert_int_eq(sse_guard_disarm(&g), 1);
    close(old[1]);
    close(fresh[0]);
    close(fresh[1]);
    sse_guard_cleanup(&g);
}
END_TEST

START_TEST(test_guard_disarm_releases_duplicate)
{
    struct sse_guard g;
    int sv[2];
    pair(sv);
    ck_assert_int_eq(sse_guard_init(&g), 0);
    int before = open_fds();
    ck_assert_int_eq(sse_guard_arm(&g, sv[0], sse_now_ns() + SECOND), 0);
    ck_assert_int_eq(open_fds(), before + 1);
    sse_guard_disarm(&g);
    ck_assert_int_eq(open_fds(), before);
    /* Cleanup disarms an armed guard too. */
    ck_assert_int_eq(sse_guard_arm(&g, sv[0], sse_now_ns() + SECOND), 0);
    sse_guard_cleanup(&g);
    ck_assert_int_eq(open_fds(), before);
    sse_guard_cleanup(NULL);
    close(sv[0]);
    close(sv[1]);
}
END_TEST

START_TEST(test_guard_arm_without_descriptors_fails)
{
    struct sse_guard g;
    int sv[2];
    pair(sv);
    ck_assert_int_eq(sse_guard_init(&g), 0);
    /* A soft limit at the lowest free number leaves no number free. */
    int lowest = fcntl(sv[0], F_DUPFD, 0);
    ck_assert_int_ge(lowest, 0);
    close(lowest);
    struct rlimit saved, low;
    ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &saved), 0);
    low = saved;
    low.rlim_cur = (rlim_t)lowest;
    ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &low), 0);
    int rc = sse_guard_arm(&g, sv[0], sse_now_ns());
    int err = errno;
    ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &saved), 0);
    ck_assert_int_eq(rc, SSE_EIO);
    ck_assert_int_eq(err, EMFILE);
    /* Still disarmed: nothing to cut, nothing to release. */
    ck_assert_int_eq(sse_guards_check(&g, 1, INT64_MAX), INT64_MAX);
    ck_assert_int_eq(peer_sees_eof(sv[1]), 0);
    ck_assert_int_eq(sse_guard_disarm(&g), 0);
    close(sv[0]);
    close(sv[1]);
    sse_guard_cleanup(&g);
}
END_TEST

static Suite *guard_suite(void)
{
    Suite *s = suite_create("guard");
    TCase *tc = tcase_create("guard");
    tcase_add_test(tc, test_guard_check_cuts_past_deadline);
    tcase_add_test(tc, test_guard_check_spares_future_deadline);
    tcase_add_test(tc, test_guard_check_returns_earliest_pending);
    tcase_add_test(tc, test_guard_cut_wakes_blocked_reader);
    tcase_add_test(tc, test_guard_cut_after_close_spares_reused_number);
    tcase_add_test(tc, test_guard_disarm_releases_duplicate);
    tcase_add_test(tc, test_guard_arm_without_descriptors_fails);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run_suite(guard_suite());
}
