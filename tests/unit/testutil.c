/* testutil.c - shared helpers for the Check suites in tests/unit.
 * SPDX-License-Identifier: MIT
 *
 * Everything here fails the running test on error (ck_assert_msg), so the
 * suites stay about the behaviour they test. Event logs are real SQLite
 * files under a per-test mkdtemp directory, created through lib/admin.h
 * exactly as `sselite init` creates them.
 */
#include "testutil.h"

#include <check.h>
#include <errno.h>
#include <ftw.h>
#include <inttypes.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "admin.h"
#include "sse_error.h"
#include "sse_parser.h"

char *tu_tmpdir_new(void)
{
    char tmpl[] = "/tmp/sselite-test-XXXXXX";
    ck_assert_msg(mkdtemp(tmpl) != NULL, "mkdtemp: %s", strerror(errno));
    char *dir = strdup(tmpl);
    ck_assert_ptr_nonnull(dir);
    return dir;
}

static int remove_entry(const char *path, const struct stat *st, int flag,
                        struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    /* Keep going on errors: a leftover file must not hide the test result. */
    if (remove(path) != 0)
        fprintf(stderr, "testutil: cannot remove %s: %s\n", path,
                strerror(errno));
    return 0;
}

void tu_tmpdir_remove(char *dir)
{
    if (dir == NULL)
        return;
    /* Only ever our own mkdtemp directories. */
    if (strncmp(dir, "/tmp/sselite-test-", 18) == 0)
        nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(dir);
}

char *tu_path(const char *dir, const char *name)
{
    size_t n = strlen(dir) + 1 + strlen(name) + 1;
    char *p = malloc(n);
    ck_assert_ptr_nonnull(p);
    int w = snprintf(p, n, "%s/%s", dir, name);
    ck_assert_msg(w >= 0 && (size_t)w < n, "tu_path: truncated");
    return p;
}

void tu_write_file(const char *path, const void *bytes, size_t n)
{
    FILE *f = fopen(path, "wb");
    ck_assert_msg(f != NULL, "fopen %s: %s", path, strerror(errno));
    size_t w = n > 0 ? fwrite(bytes, 1, n, f) : 0;
    int rc = fclose(f);
    ck_assert_msg(w == n && rc == 0, "writing %s failed", path);
}

char *tu_log_create(const char *dir, const char *name)
{
    char *path = tu_path(dir, name);
    struct sse_admin *a = NULL;
    int rc = sse_admin_open(path, 1, 5000, &a);
    ck_assert_msg(rc == 0, "sse_admin_open(%s): %s", path, sse_strerror(rc));
    int from = -1, to = -1;
    rc = sse_admin_init(a, &from, &to);
    ck_assert_msg(rc == 0, "sse_admin_init(%s): %s", path, sse_strerror(rc));
    ck_assert_int_eq(to, SSE_SCHEMA_VERSION);
    sse_admin_close(a);
    return path;
}

struct sse_admin *tu_admin_open(const char *path)
{
    struct sse_admin *a = NULL;
    int rc = sse_admin_open(path, 0, 5000, &a);
    ck_assert_msg(rc == 0, "sse_admin_open(%s): %s", path, sse_strerror(rc));
    return a;
}

int64_t tu_publish(struct sse_admin *a, const char *channel, const char *type,
                   const char *data)
{
    int64_t id = -1;
    int rc = sse_admin_publish(a, channel, type, data, strlen(data), &id);
    ck_assert_msg(rc == 0, "sse_admin_publish: %s", sse_strerror(rc));
    ck_assert_msg(id > 0, "sse_admin_publish gave id %" PRId64, id);
    return id;
}

void tu_sql(const char *path, const char *sql)
{
    sqlite3 *db = NULL;
    char *msg = NULL;
    int rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL);
    ck_assert_msg(rc == SQLITE_OK, "sqlite3_open_v2(%s): %s", path,
                  sqlite3_errstr(rc));
    sqlite3_busy_timeout(db, 5000);
    rc = sqlite3_exec(db, sql, NULL, NULL, &msg);
    char err[256];
    snprintf(err, sizeof(err), "%s", msg ? msg : "");
    sqlite3_free(msg);
    sqlite3_close(db);
    ck_assert_msg(rc == SQLITE_OK, "SQL failed (%s): %s", err, sql);
}

/* splitmix64 (Steele, Lea, Flood 2014), as used to seed xoshiro. */
uint64_t tu_rng_next(struct tu_rng *r)
{
    uint64_t z = (r->state += UINT64_C(0x9E3779B97F4A7C15));
    z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
    return z ^ (z >> 31);
}

uint64_t tu_rng_below(struct tu_rng *r, uint64_t n)
{
    /* Rejection sampling keeps the distribution uniform for any n. */
    uint64_t limit = UINT64_MAX - UINT64_MAX % n;
    uint64_t v;
    do {
        v = tu_rng_next(r);
    } while (v >= limit);
    return v % n;
}

uint64_t tu_rng_init(struct tu_rng *r, const char *what)
{
    const char *env = getenv("SSELITE_TEST_SEED");
    uint64_t seed;
    if (env != NULL && env[0] != '\0') {
        char *end = NULL;
        errno = 0;
        unsigned long long v = strtoull(env, &end, 10);
        ck_assert_msg(errno == 0 && end != env && *end == '\0' && env[0] != '-',
                      "SSELITE_TEST_SEED='%s' is not a decimal number", env);
        seed = (uint64_t)v;
    } else {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        seed = ((uint64_t)ts.tv_sec * UINT64_C(1000000000) +
                (uint64_t)ts.tv_nsec) ^
               ((uint64_t)getpid() << 32);
    }
    r->seed = seed;
    r->state = seed;
    fprintf(stderr, "%s: seed %llu (SSELITE_TEST_SEED=%llu repeats it)\n", what,
            (unsigned long long)seed, (unsigned long long)seed);
    return seed;
}

void tu_parse(struct sse_parser *p, const void *bytes, size_t n)
{
    ck_assert_msg(sse_parser_feed(p, bytes, n) == 0, "parser: out of memory");
}

void tu_parse_chunked(struct sse_parser *p, struct tu_rng *r, const void *bytes,
                      size_t n, size_t max_chunk)
{
    const char *s = bytes;
    size_t off = 0;
    while (off < n) {
        size_t k = 1 + (size_t)tu_rng_below(r, max_chunk);
        if (k > n - off)
            k = n - off;
        tu_parse(p, s + off, k);
        off += k;
    }
}

struct sse_parser *tu_parse_str(const char *s)
{
    struct sse_parser *p = sse_parser_new();
    ck_assert_ptr_nonnull(p);
    tu_parse(p, s, strlen(s));
    return p;
}

void tu_tick(void)
{
    struct timespec ts = {0, 1000000L};
    nanosleep(&ts, NULL);
}

int tu_run_suite(Suite *s)
{
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_ENV);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}

int tu_hub_new(struct tu_hub *h, const struct sse_config *cfg,
               struct sse_metrics *m)
{
    memset(h, 0, sizeof *h);
    int rc = sse_fanout_new(cfg, m, &h->fanout);
    if (!rc)
        rc = sse_logpool_new(cfg->db, cfg->busy_timeout_ms,
                             (size_t)cfg->db_connections, m, &h->pool);
    if (!rc)
        rc = sse_hub_new(cfg, m, h->fanout, h->pool, &h->hub);
    h->env.cfg = cfg;
    h->env.metrics = m;
    h->env.fanout = h->fanout;
    h->env.logpool = h->pool;
    return rc;
}

void tu_hub_free(struct tu_hub *h)
{
    if (h->hub) {
        sse_hub_stop(h->hub);
        sse_hub_free(h->hub);
    }
    sse_logpool_free(h->pool);
    sse_fanout_free(h->fanout);
    memset(h, 0, sizeof *h);
}
