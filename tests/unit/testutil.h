/* testutil.h - shared helpers for the Check suites in tests/unit.
 * SPDX-License-Identifier: MIT
 *
 * Temporary directories, real SQLite event log files, a seeded PRNG for
 * property tests and an event-stream round-trip helper. Helpers that cannot
 * go on (a failed mkdtemp, an event log that cannot be created) fail the
 * running test through Check's ck_assert_msg, so callers need no error
 * paths of their own; use them only inside a test or a checked fixture.
 * Names start with tu_ (test utility) to keep them apart from lib/.
 *
 * Thread-safety: one test at a time (Check runs tests one by one).
 */
#ifndef SSE_TESTUTIL_H
#define SSE_TESTUTIL_H

#include <check.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "fanout.h"
#include "hub.h"
#include "logpool.h"
#include "metrics.h"
#include "stream.h"

struct sse_admin;
struct sse_parser;

/* --- files --- */

/* Creates a fresh directory /tmp/sselite-test-XXXXXX. Returns its path,
 * owned by caller (pass it to tu_tmpdir_remove). */
char *tu_tmpdir_new(void);

/* Removes dir and everything below it, then frees the string. NULL-safe. */
void tu_tmpdir_remove(char *dir);

/* Returns "dir/name", owned by caller. */
char *tu_path(const char *dir, const char *name);

/* Writes n bytes to a new file at path (replacing any), e.g. a file that is
 * not a database. */
void tu_write_file(const char *path, const void *bytes, size_t n);

/* --- event logs --- */

/* Creates dir/name as an initialised event log (sse_admin_open with create,
 * then sse_admin_init). Returns the path, owned by caller. */
char *tu_log_create(const char *dir, const char *name);

/* Opens an existing log read-write for publishing; owned by caller (close
 * with sse_admin_close). */
struct sse_admin *tu_admin_open(const char *path);

/* Publishes one event through sse_admin_publish (data is a C string; type
 * and channel may be NULL) and returns its id. */
int64_t tu_publish(struct sse_admin *a, const char *channel, const char *type,
                   const char *data);

/* Runs sql (one or more statements) on path with a separate raw sqlite3
 * connection, for rows the admin API would not write (NULL or '' types,
 * explicit ids) and for damaging files. */
void tu_sql(const char *path, const char *sql);

/* --- seeded pseudo-random numbers --- */

/* splitmix64: small, fast, and the same sequence on every platform. */
struct tu_rng {
    uint64_t state;
    uint64_t seed; /* the seed it started from, for failure messages */
};

/* Seeds r from SSELITE_TEST_SEED (decimal) when set, else from the clock
 * and the process id; prints "<what>: seed N" to stderr so that any run can
 * be repeated. Returns the seed. */
uint64_t tu_rng_init(struct tu_rng *r, const char *what);

/* The next 64 random bits. */
uint64_t tu_rng_next(struct tu_rng *r);

/* A uniform number in [0, n); n > 0. */
uint64_t tu_rng_below(struct tu_rng *r, uint64_t n);

/* Fails the running test unless cond holds, with the seed first in the
 * message. fmt is a string literal and takes at least one argument (say,
 * the iteration number). Needs <check.h>. */
#define tu_rng_assert(r, cond, fmt, ...)                                       \
    ck_assert_msg((cond), "SSELITE_TEST_SEED=%llu: " fmt,                      \
                  (unsigned long long)(r)->seed, __VA_ARGS__)

/* --- event streams --- */

/* Feeds bytes[0..n) to the parser in one piece, failing the test if the
 * parser runs out of memory. */
void tu_parse(struct sse_parser *p, const void *bytes, size_t n);

/* Feeds bytes[0..n) to the parser in chunks of 1 to max_chunk bytes chosen
 * by r. */
void tu_parse_chunked(struct sse_parser *p, struct tu_rng *r, const void *bytes,
                      size_t n, size_t max_chunk);

/* Returns a new parser that has read the whole C string s; owned by caller
 * (free with sse_parser_free). */
struct sse_parser *tu_parse_str(const char *s);

/* --- the worker's shared objects --- */

/* A hub with its fan-out and read pool, built as fcgi/main.c builds them;
 * env is filled in for streams and handlers. */
struct tu_hub {
    struct sse_fanout *fanout;
    struct sse_logpool *pool;
    struct sse_hub *hub;
    struct sse_stream_env env;
};

/* Creates the three for cfg and m (borrowed), hub not started. Returns 0
 * or the first error (h then half-built: tu_hub_free it). */
int tu_hub_new(struct tu_hub *h, const struct sse_config *cfg,
               struct sse_metrics *m);

/* Stops the hub (if any) and frees what h holds; h may be zeroed. */
void tu_hub_free(struct tu_hub *h);

/* --- running --- */

/* Runs the suite (freeing it) with the verbosity from CK_VERBOSITY and
 * returns a process exit status: 0 when every test passed, else 1. */
int tu_run_suite(Suite *s);

/* Sleeps one millisecond: the step of a test's bounded polling loop. */
void tu_tick(void);

#endif
