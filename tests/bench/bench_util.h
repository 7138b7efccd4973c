/* bench_util.h - clocks, fatal errors and number parsing for the bench tools.
 * SPDX-License-Identifier: MIT
 *
 * Header-only (static inline) so each tool stays one cc command with no
 * library; loadclient.c and publisher.c include it. Needs _GNU_SOURCE for
 * program_invocation_short_name.
 */
#ifndef SSE_BENCH_UTIL_H
#define SSE_BENCH_UTIL_H

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

/* Nanoseconds on CLOCK_MONOTONIC: for pacing and timeouts. */
static inline int64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Microseconds since the Unix epoch on CLOCK_REALTIME: the publish time
 * written into events and the receive time they are compared with (both
 * ends run on the same host, so the clocks agree). */
static inline int64_t real_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static inline void die(const char *fmt, ...)
    __attribute__((format(printf, 1, 2), noreturn));

/* Prints "PROGRAM: message" to stderr and exits with status 2. */
static inline void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "%s: ", program_invocation_short_name);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(2);
}

/* Parses a whole decimal integer in [lo, hi]; on anything else exits with
 * a message naming the option opt. */
static inline long long parse_ll(const char *opt, const char *s, long long lo,
                                 long long hi)
{
    char *end;
    long long v;
    errno = 0;
    v = strtoll(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi)
        die("--%s: '%s' is not a whole number from %lld to %lld", opt, s, lo,
            hi);
    return v;
}

#endif
