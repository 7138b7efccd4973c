/* check_eventlog.c - unit tests for lib/eventlog.c (read side of the log).
 * SPDX-License-Identifier: MIT
 *
 * Every test gets a fresh directory with an initialised log (events.db)
 * made by lib/admin.c, the same way `sselite init` makes one; other
 * connections (publishers, damage) are real SQLite connections to the file.
 */
#include <check.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "admin.h"
#include "eventlog.h"
#include "eventlog_engine.h"
#include "request.h"
#include "sse_error.h"
#include "testutil.h"

static char *dir;  /* the test's temporary directory */
static char *path; /* dir/events.db, initialised */

static void setup(void)
{
    dir = tu_tmpdir_new();
    path = tu_log_create(dir, "events.db");
}

static void teardown(void)
{
    free(path);
    path = NULL;
    tu_tmpdir_remove(dir);
    dir = NULL;
}

static struct sse_eventlog *open_log(void)
{
    struct sse_eventlog *log = NULL;
    int rc = sse_eventlog_open(path, 5000, &log);
    ck_assert_msg(rc == 0, "sse_eventlog_open: %s", sse_strerror(rc));
    ck_assert_ptr_nonnull(log);
    return log;
}

/* Publishes n events "e1".."en" on channel (NULL = default). */
static void publish_n(const char *channel, int n)
{
    struct sse_admin *a = tu_admin_open(path);
    for (int i = 1; i <= n; i++) {
        char data[32];
        snprintf(data, sizeof(data), "e%d", i);
        tu_publish(a, channel, NULL, data);
    }
    sse_admin_close(a);
}

/* What a read saw. */
#define MAX_ROWS 2048
struct collect {
    size_t n;
    int64_t ids[MAX_ROWS];
    char channel[MAX_ROWS][16];
    size_t stop_after; /* take this many rows, then stop (0 = never) */
    int stop_rc;       /* returned to stop before the next row */
    struct sse_eventlog_progress p; /* of the last read_into */
    struct sse_eventlog *log;       /* set: checked to be reading */
    /* Copies of the last row's fields. */
    int type_null;
    char type[64];
    size_t type_len;
    char data[64];
    size_t data_len;
    int64_t created_ms;
};

static int collect_row(const struct sse_event_row *row, void *ctx)
{
    struct collect *c = ctx;
    if (c->log)
        ck_assert_int_eq(sse_eventlog_reading(c->log), 1);
    if (c->stop_after && c->n == c->stop_after)
        return c->stop_rc;
    ck_assert_uint_lt(c->n, MAX_ROWS);
    if (c->n > 0)
        ck_assert_int_gt(row->id, c->ids[c->n - 1]);
    c->ids[c->n] = row->id;
    ck_assert_uint_lt(row->channel_len, sizeof(c->channel[0]));
    memcpy(c->channel[c->n], row->channel, row->channel_len);
    c->channel[c->n][row->channel_len] = '\0';
    c->type_null = row->type == NULL;
    c->type_len = row->type_len;
    if (row->type != NULL && row->type_len < sizeof(c->type)) {
        memcpy(c->type, row->type, row->type_len);
        c->type[row->type_len] = '\0';
    }
    c->data_len = row->data_len;
    if (row->data_len <= sizeof(c->data) && row->data_len > 0)
        memcpy(c->data, row->data, row->data_len);
    c->created_ms = row->created_ms;
    c->n++;
    return 0;
}

/* Reads into c (reset first) and returns the read's result; the progress
 * must agree with the callback unless the read failed: every row taken was
 * counted, and without skips the last one taken is last_seen. */
static int read_into(struct sse_eventlog *log, int64_t after, int64_t upto,
                     const char (*channels)[SSE_CHANNEL_MAX + 1],
                     size_t nchannels, size_t limit, struct collect *c)
{
    memset(&c->p, 0xA5, sizeof c->p);
    c->n = 0;
    int rc = sse_eventlog_read(log, after, upto, channels, nchannels, limit,
                               collect_row, c, &c->p);
    ck_assert_int_eq(sse_eventlog_reading(log), 0);
    if (rc >= 0 || rc == c->stop_rc) {
        ck_assert_uint_eq(c->p.rows, c->n);
        if (c->p.skipped == 0)
            ck_assert_int_eq(c->p.last_seen, c->n ? c->ids[c->n - 1] : after);
        ck_assert_int_ge(c->p.last_seen, after);
    }
    return rc;
}

static void assert_ids(const struct collect *c, const int64_t *want, size_t n)
{
    ck_assert_uint_eq(c->n, n);
    for (size_t i = 0; i < n; i++)
        ck_assert_msg(c->ids[i] == want[i],
                      "row %zu: id %" PRId64 " want %" PRId64, i, c->ids[i],
                      want[i]);
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* --- open ---------------------------------------------------------------- */

START_TEST(test_eventlog_open_initialised_ok)
{
    struct sse_eventlog *log = open_log();
    ck_assert_str_eq(sse_eventlog_path(log), path);
    sse_eventlog_close(log);
}
END_TEST

START_TEST(test_eventlog_open_missing_enoent)
{
    char *missing = tu_path(dir, "missing.db");
    struct sse_eventlog *log = NULL;
    ck_assert_int_eq(sse_eventlog_open(missing, 100, &log), SSE_ENOENT);
    ck_assert_ptr_null(log);
    /* Opening read-only never creates the file. */
    ck_assert_int_ne(access(missing, F_OK), 0);
    free(missing);
}
END_TEST

START_TEST(test_eventlog_open_missing_dir_enoent)
{
    char *missing = tu_path(dir, "no/such/dir/events.db");
    struct sse_eventlog *log = NULL;
    ck_assert_int_eq(sse_eventlog_open(missing, 100, &log), SSE_ENOENT);
    ck_assert_ptr_null(log);
    free(missing);
}
END_TEST

START_TEST(test_eventlog_open_not_database_ecorrupt)
{
    char text[4096];
    for (size_t i = 0; i < sizeof(text); i++)
        text[i] = "this is not a database\n"[i % 23];
    char *p = tu_path(dir, "text.db");
    tu_write_file(p, text, sizeof(text));
    struct sse_eventlog *log = NULL;
    ck_assert_int_eq(sse_eventlog_open(p, 100, &log), SSE_ECORRUPT);
    ck_assert_ptr_null(log);
    free(p);
}
END_TEST

START_TEST(test_eventlog_open_empty_file_eschema)
{
    /* A zero-byte file is a valid, empty SQLite database. */
    char *p = tu_path(dir, "empty.db");
    tu_write_file(p, "", 0);
    struct sse_eventlog *log = NULL;
    ck_assert_int_eq(sse_eventlog_open(p, 100, &log), SSE_ESCHEMA);
    ck_assert_ptr_null(log);
    free(p);
}
END_TEST

START_TEST(test_eventlog_open_other_database_eschema)
{
    char *p = tu_path(dir, "other.db");
    tu_write_file(p, "", 0);
    tu_sql(p, "CREATE TABLE notes(id INTEGER PRIMARY KEY, body TEXT);"
              "INSERT INTO notes(body) VALUES ('x');");
    struct sse_eventlog *log = NULL;
    ck_assert_int_eq(sse_eventlog_open(p, 100, &log), SSE_ESCHEMA);
    ck_assert_ptr_null(log);
    free(p);
}
END_TEST

START_TEST(test_eventlog_open_directory_fails)
{
    struct sse_eventlog *log = NULL;
    ck_assert_int_ne(sse_eventlog_open(dir, 100, &log), 0);
    ck_assert_ptr_null(log);
}
END_TEST

START_TEST(test_eventlog_close_null_safe)
{
    sse_eventlog_close(NULL);
}
END_TEST

/* --- read ranges --------------------------------------------------------- */

START_TEST(test_eventlog_read_all_in_order)
{
    static const int64_t want[] = {1, 2, 3, 4, 5};
    struct collect c = {0};
    publish_n(NULL, 5);
    struct sse_eventlog *log = open_log();
    ck_assert_int_eq(read_into(log, 0, INT64_MAX, NULL, 0, 100, &c), 0);
    assert_ids(&c, want, 5);
    sse_eventlog_close(log);
}
END_TEST

START_TEST(test_eventlog_read_after)
{
    static const int64_t want[] = {3, 4, 5};
    struct collect c = {0};
    publish_n(NULL, 5);
    struct sse_eventlog *log = open_log();
    ck_assert_int_eq(read_into(log, 2, INT64_MAX, NULL, 0, 100, &c), 0);
    assert_ids(&c, want, 3);
    sse_eventlog_close(log);
}
END_TEST

START_TEST(test_eventlog_read_upto)
{
    static const int64_t want[] = {1, 2, 3, 4};
    struct collect c = {0};
    publish_n(NULL, 5);
    struct sse_eventlog *log = open_log();
    ck_assert_int_eq(read_into(log, 0, 4, NULL, 0, 100, &c), 0);
    assert_ids(&c, want, 4);
    sse_eventlog_close(log);
}
END_TEST

START_TEST(test_eventlog_read_after_and_upto)
{
    static const int64_t want[] = {3, 4};
    struct collect c = {0};
    publish_n(NULL, 5);
    struct sse_eventlog *log = open_log();
    ck_assert_int_eq(read_into(log, 2, 4, NULL, 0, 100, &c), 0);
    assert_ids(&c, want, 2);
    sse_eventlog_close(log);
}
END_TEST

START_TEST(test_eventlog_read_limit)
{
    static const int64_t want[] = {2, 3};
    struct collect c = {0};
    publish_n(NULL, 5);
    struct sse_eventlog *log = open_log();
    ck_assert_int_eq(read_into(log, 1, INT64_MAX, NULL, 0, 2, &c), 0);
    assert_ids(&c, want, 2);
    ck_assert_int_eq(c.p.complete, 0);
    /* Fewer rows than the limit: the range was read to its end. */
    ck_assert_int_eq(read_into(log, 3, INT64_MAX, NULL, 0, 3, &c), 0);
    ck_assert_uint_eq(c.n, 2);
    ck_assert_int_eq(c.p.complete, 1);
    sse_eventlog_close(log);
}
END_TEST

START_TEST(test_eventlog_read_after_head_empty)
{
    struct collect c = {0};
    publish_n(NULL, 3);
    struct sse_eventlog *log = open_log();
    ck_assert_int_eq(read_into(log, 3, INT64_MAX, NULL, 0, 100, &c), 0);
    ck_assert_uint_eq(c.n, 0);
    ck_assert_int_eq(read_into(log, 1000, INT64_MAX, NULL, 0, 100, &c), 0);
    ck_assert_uint_eq(c.n, 0);
    sse_eventlog_close(log);
}
END_TEST

START_TEST(test_eventlog_read_upto_not_above_after_empty)
{
    struct collect c = {0};
    publish_n(NULL, 5);
    struct sse_eventlog *log = open_log();
    ck_assert_int_eq(read_into(log, 3, 3, NULL, 0, 100, &c), 0);
    ck_assert_uint_eq(c.n, 0);
    ck_assert_int_eq(read_into(log, 4, 2, NULL, 0, 100, &c), 0);
    ck_assert_uint_eq(c.n, 0);
    sse_eventlog_close(log);
}
END_TEST

START_TEST(test_eventlog_read_empty_log)
{
    struct collect c = {0};
    struct sse_eventlog *log = open_log();
    ck_assert_int_eq(read_into(log, 0, INT64_MAX, NULL, 0, 100, &c), 0);
    ck_assert_uint_eq(c.n, 0);
    sse_eventlog_close(log);
}
END_TEST

START_TEST(test_eventlog_read_progress_null_ok)
{
    struct collect c = {0};
    publish_n(NULL, 2);
    struct sse_eventlog *log = open_log();
    ck_assert_int_eq(sse_eventlog_read(log, 0, INT64_MAX, NULL, 0, 10,
                                       collect_row, &c, NULL),
                     0);
    ck_assert_uint_eq(c.n, 2);
    sse_eventlog_close(log);
}
END_TEST

START_TEST(test_eventlog_read_row_fields)
{
    struct collect c = {0};
    struct sse_admin *a = tu_admin_open(path);
    int64_t before = now_ms();
    int64_t id = tu_publish(a, "news", "update", "{\"n\":1}");
    sse_admin_close(a);
    struct sse_eventlog *log = open_log();
    ck_assert_int_eq(read_into(log, 0, INT64_MAX, NULL, 0, 10, &c), 0);
    ck_assert_uint_eq(c.n, 1);
    ck_assert_int_eq(c.ids[0], id);
    ck_assert_str_eq(c.channel[0], "news");
    ck_assert_int_eq(c.type_null, 0);
    ck_assert_uint_eq(c.type_len, 6);
    ck_assert_str_eq(c.type, "update");
    ck_assert_uint_eq(c.data_len, 7);
    ck_assert_mem_eq(c.data, "{\"n\":1}", 7);
    /* created_at is milliseconds since the epoch, set by the default. */
    ck_assert_int_ge(c.created_ms, before - 60000);
    ck_assert_int_le(c.created_ms, now_ms() + 60000);
    sse_eventlog_close(log);
}
END_TEST

START_TEST(test_eventlog_read_data_with_nul)
{
    struct collect c = {0};
    struct sse_admin *a = tu_admin_open(path);
    ck_assert_int_eq(sse_admin_publish(a, NULL, NULL, "a\0b", 3, NULL), 0);
    sse_admin_close(a);
    struct sse_eventlog *log = open_log();
    ck_assert_int_eq(read_into(log, 0, INT64_MAX, NULL, 0, 10, &c), 0);
    ck_assert_uint_eq(c.data_len, 3);
    ck_assert_mem_eq(c.data, "a\0b", 3);
    sse_eventlog_close(log);
}
END_TEST

START_TEST(test_eventlog_read_empty_data)
{
    struct collect c = {0};
    struct sse_admin *a = tu_admin_open(path);
    tu_publish(a, NULL, NULL, "");
    sse_admin_close(a);
    struct sse_eventlog *log = open_log();
    ck_assert_int_eq(read_into(log, 0, INT64_MAX, NULL, 0, 10, &c), 0);
    ck_assert_uint_eq(c.n, 1);
    ck_assert_uint_eq(c.data_len, 0);
    ck_assert_str_eq(c.channel[0], "default");
    sse_eventlog_close(log);
}
END_TEST

/* A row inserted with event = sql_type reads back as the default type. */
static void check_default_type(const char *sql_type)
{
    struct collect c = {0};
    char sql[160];
    snprintf(sql, sizeof(sql),
             "INSERT INTO events(channel, event, data) "
             "VALUES ('default', %s, 'x')",
             sql_type);
    tu_sql(path, sql);
    struct sse_eventlog *log = open_log();
    ck_assert_int_eq(read_into(log, 0, INT64_MAX, NULL, 0, 10, &c), 0);
    ck_assert_uint_eq(c.n, 1);
    ck_assert_msg(c.type_null || c.type_len == 0, "type_len %zu", c.type_len);
    sse_eventlog_close(log);
}

START_TEST(test_eventlog_read_null_type)
{
    check_default_type("NULL");
}
END_TEST

START_TEST(test_eventlog_read_empty_type)
{
    check_default_type("''");
}
END_TEST

START_TEST(test_eventlog_read_callback_stop_propagated)
{
    struct collect c = {0};
    c.stop_after = 2;
    c.stop_rc = 7;
    publish_n(NULL, 5);
    struct sse_eventlog *log = open_log();
    ck_assert_int_eq(read_into(log, 0, INT64_MAX, NULL, 0, 100, &c), 7);
    ck_assert_uint_eq(c.n, 2);
    /* The row it stopped before is not consumed. */
    ck_assert_int_eq(c.p.last_seen, 2);
    ck_assert_int_eq(c.p.complete, 0);
    /* The connection is usable again after an early stop. */
    c.stop_after = 0;
    ck_assert_int_eq(read_into(log, 0, INT64_MAX, NULL, 0, 100, &c), 0);
    ck_assert_uint_eq(c.n, 5);
    sse_eventlog_close(log);
}
END_TEST

START_TEST(test_eventlog_read_callback_negative_stop_propagated)
{
    struct collect c = {0};
    c.stop_after = 1;
    c.stop_rc = SSE_EIO;
    publish_n(NULL, 3);
    struct sse_eventlog *log = open_log();
    ck_assert_int_eq(read_into(log, 0, INT64_MAX, NULL, 0, 100, &c), SSE_EIO);
    ck_assert_uint_eq(c.n, 1);
    sse_eventlog_close(log);
}
END_TEST

START_TEST(test_eventlog_read_sees_later_commits)
{
    struct collect c = {0};
    publish_n(NULL, 2);
    struct sse_eventlog *log = open_log();
    ck_assert_int_eq(read_into(log, 0, INT64_MAX, NULL, 0, 100, &c), 0);
    ck_assert_uint_eq(c.n, 2);
    publish_n(NULL, 1);
    ck_assert_int_eq(read_into(log, 0, INT64_MAX, NULL, 0, 100, &c), 0);
    ck_assert_uint_eq(c.n, 3);
    sse_eventlog_close(log);
}
END_TEST

START_TEST(test_eventlog_read_holds_no_snapshot)
{
    /* A checkpoint completes between reads: no read transaction is left
     * open, also after a callback stopped a read early. */
    struct collect c = {0};
    publish_n(NULL, 10);
    struct sse_eventlog *log = open_log();
    c.stop_after = 3;
    c.stop_rc = 1;
    ck_assert_int_eq(read_into(log, 0, INT64_MAX, NULL, 0, 100, &c), 1);
    struct sse_admin *a = tu_admin_open(path);
    tu_publish(a, NULL, NULL, "more");
    int busy = -1;
    ck_assert_int_eq(sse_admin_checkpoint(a, &busy), 0);
    ck_assert_int_eq(busy, 0);
    sse_admin_close(a);
    sse_eventlog_close(log);
}
END_TEST

START_TEST(test_eventlog_read_batches_cover_all)
{
    struct collect c = {0};
    publish_n(NULL, 1000);
    struct sse_eventlog *log = open_log();
    int64_t after = 0;
    size_t total = 0;
    for (int guard = 0; guard < 100; guard++) {
        ck_assert_int_eq(read_into(log, after, INT64_MAX, NULL, 0, 256, &c), 0);
        ck_assert_uint_le(c.n, 256);
        if (c.n == 0)
            break;
        ck_assert_int_eq(c.ids[0], after + 1);
        after = c.ids[c.n - 1];
        total += c.n;
    }
    ck_assert_uint_eq(total, 1000);
    ck_assert_int_eq(after, 1000);
    sse_eventlog_close(log);
}
END_TEST

START_TEST(test_eventlog_read_damaged_ecorrupt)
{
    /* Rows moved into the main file, then every page but the first (the
     * schema) overwritten: the open may notice, a read must. */
    struct sse_admin *a = tu_admin_open(path);
    char data[1024];
    memset(data, 'd', sizeof(data) - 1);
    data[sizeof(data) - 1] = '\0';
    for (int i = 0; i < 50; i++)
        tu_publish(a, NULL, NULL, data);
    int busy = -1;
    ck_assert_int_eq(sse_admin_checkpoint(a, &busy), 0);
    ck_assert_int_eq(busy, 0);
    sse_admin_close(a);
    FILE *f = fopen(path, "r+b");
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(fseek(f, 0, SEEK_END), 0);
    long size = ftell(f);
    ck_assert_int_gt(size, 8192);
    ck_assert_int_eq(fseek(f, 4096, SEEK_SET), 0);
    for (long i = 4096; i < size; i++)
        ck_assert_int_ne(fputc(0xA5, f), EOF);
    ck_assert_int_eq(fclose(f), 0);

    struct sse_eventlog *log = NULL;
    int rc = sse_eventlog_open(path, 100, &log);
    if (rc == 0) {
        struct collect c = {0};
        rc = read_into(log, 0, INT64_MAX, NULL, 0, 100, &c);
        sse_eventlog_close(log);
    }
    ck_assert_int_eq(rc, SSE_ECORRUPT);
}
END_TEST

/* --- channel filter ------------------------------------------------------ */

/* ids: 1 a, 2 b, 3 a, 4 c, 5 b, 6 default */
static void publish_mixed(void)
{
    static const char *const ch[] = {"a", "b", "a", "c", "b", NULL};
    struct sse_admin *a = tu_admin_open(path);
    for (int i = 0; i < 6; i++)
        tu_publish(a, ch[i], NULL, "x");
    sse_admin_close(a);
}

START_TEST(test_eventlog_read_channel_single)
{
    static const char chans[1][SSE_CHANNEL_MAX + 1] = {"a"};
    static const int64_t want[] = {1, 3};
    struct collect c = {0};
    publish_mixed();
    struct sse_eventlog *log = open_log();
    ck_assert_int_eq(read_into(log, 0, INT64_MAX, chans, 1, 100, &c), 0);
    assert_ids(&c, want, 2);
    ck_assert_str_eq(c.channel[0], "a");
    ck_assert_str_eq(c.channel[1], "a");
    sse_eventlog_close(log);
}
END_TEST

START_TEST(test_eventlog_read_channel_multi_id_order)
{
    static const char chans[2][SSE_CHANNEL_MAX + 1] = {"b", "a"};
    static const int64_t want[] = {1, 2, 3, 5};
    struct collect c = {0};
    publish_mixed();
    struct sse_eventlog *log = open_log();
    ck_assert_int_eq(read_into(log, 0, INT64_MAX, chans, 2, 100, &c), 0);
    assert_ids(&c, want, 4);
    sse_eventlog_close(log);
}
END_TEST

START_TEST(test_eventlog_read_channel_multi_limit_lowest_ids)
{
    /* The limit applies to the merged id order, not per channel. */
    static const char chans[2][SSE_CHANNEL_MAX + 1] = {"b", "a"};
    static const int64_t want[] = {2, 3};
    struct collect c = {0};
    publish_mixed();
    struct sse_eventlog *log = open_log();
    ck_assert_int_eq(read_into(log, 1, INT64_MAX, chans, 2, 2, &c), 0);
    assert_ids(&c, want, 2);
    sse_eventlog_close(log);
}
END_TEST

START_TEST(test_eventlog_read_channel_multi_range)
{
    static const char chans[3][SSE_CHANNEL_MAX + 1] = {"c", "b", "default"};
    static const int64_t want[] = {4, 5};
    struct collect c = {0};
    publish_mixed();
    struct sse_eventlog *log = open_log();
    ck_assert_int_eq(read_into(log, 2, 5, chans, 3, 100, &c), 0);
    assert_ids(&c, want, 2);
    sse_eventlog_close(log);
}
END_TEST

START_TEST(test_eventlog_read_channel_unknown_empty)
{
    static const char chans[1][SSE_CHANNEL_MAX + 1] = {"zzz"};
    struct collect c = {0};
    publish_mixed();
    struct sse_eventlog *log = open_log();
    ck_assert_int_eq(read_into(log, 0, INT64_MAX, chans, 1, 100, &c), 0);
    ck_assert_uint_eq(c.n, 0);
    sse_eventlog_close(log);
}
END_TEST

START_TEST(test_eventlog_read_channel_max_set)
{
    /* 32 channels at once (the request limit), every other one present. */
    char chans[32][SSE_CHANNEL_MAX + 1];
    struct collect c = {0};
    struct sse_admin *a = tu_admin_open(path);
    for (int i = 0; i < 64; i++) {
        char name[16];
        snprintf(name, sizeof(name), "ch%d", i);
        tu_publish(a, name, NULL, "x");
    }
    sse_admin_close(a);
    for (int i = 0; i < 32; i++)
        snprintf(chans[i], sizeof(chans[i]), "ch%d", 2 * i);
    struct sse_eventlog *log = open_log();
    ck_assert_int_eq(read_into(log, 0, INT64_MAX,
                               (const char(*)[SSE_CHANNEL_MAX + 1]) chans, 32,
                               1000, &c),
                     0);
    ck_assert_uint_eq(c.n, 32);
    for (size_t i = 0; i < c.n; i++)
        ck_assert_int_eq(c.ids[i], (int64_t)(2 * i + 1));
    sse_eventlog_close(log);
}
END_TEST

/* --- patterns ----------------------------------------------------------- */

/* Publishes one "x" row per channel, in order; ids are 1, 2, ... */
static void publish_channels(const char *const *names, size_t n)
{
    struct sse_admin *a = tu_admin_open(path);
    for (size_t i = 0; i < n; i++)
        tu_publish(a, names[i], NULL, "x");
    sse_admin_close(a);
}

/* The ids a read of the patterns (one string each) returns after 0. */
static size_t read_patterns(struct sse_eventlog *log, const char *const *pats,
                            size_t n, struct collect *c)
{
    char chans[SSE_REQUEST_MAX_CHANNELS][SSE_CHANNEL_MAX + 1];
    for (size_t i = 0; i < n; i++)
        snprintf(chans[i], sizeof chans[i], "%s", pats[i]);
    ck_assert_int_eq(read_into(log, 0, INT64_MAX,
                               (const char(*)[SSE_CHANNEL_MAX + 1]) chans, n,
                               1000, c),
                     0);
    return c->n;
}

static const char *const SHARED_PREFIX[] = {
    "user/4",    "user/42/x",  "user/42", "user/4/a",
    "user/42/y", "user/420/z", "user/4:b"};

START_TEST(test_eventlog_read_prefix_needs_separator)
{
    struct collect c = {0};
    publish_channels(SHARED_PREFIX, 7);
    struct sse_eventlog *log = open_log();
    static const char *const p42[] = {"user/42/*"};
    ck_assert_uint_eq(read_patterns(log, p42, 1, &c), 2);
    ck_assert_int_eq(c.ids[0], 2); /* user/42/x */
    ck_assert_int_eq(c.ids[1], 5); /* user/42/y: not user/42, user/420/z */
    static const char *const p4[] = {"user/4/*"};
    ck_assert_uint_eq(read_patterns(log, p4, 1, &c), 1);
    ck_assert_str_eq(c.channel[0], "user/4/a"); /* not user/42/x, user/4:b */
    static const char *const colon[] = {"user/4:*"};
    ck_assert_uint_eq(read_patterns(log, colon, 1, &c), 1);
    ck_assert_str_eq(c.channel[0], "user/4:b");
    sse_eventlog_close(log);
}
END_TEST

START_TEST(test_eventlog_read_prefix_with_names_in_id_order_once)
{
    static const char *const ch[] = {"orders:1", "news",     "orders:2",
                                     "other",    "orders:1", "orders@",
                                     "news",     "orders:"};
    struct collect c = {0};
    publish_channels(ch, 8);
    struct sse_eventlog *log = open_log();
    /* "orders:1" is covered by the prefix: its rows still come once. */
    static const char *const pats[] = {"news", "orders:*", "orders:1"};
    static const int64_t want[] = {1, 2, 3, 5, 7, 8};
    ck_assert_uint_eq(read_patterns(log, pats, 3, &c), 6);
    for (size_t i = 0; i < 6; i++)
        ck_assert_int_eq(c.ids[i], want[i]);
    ck_assert_int_eq(c.p.complete, 1);
    sse_eventlog_close(log);
}
END_TEST

START_TEST(test_eventlog_read_star_reads_every_channel)
{
    struct collect c = {0};
    publish_channels(SHARED_PREFIX, 7);
    struct sse_eventlog *log = open_log();
    static const char *const all[] = {"news", "*"};
    ck_assert_uint_eq(read_patterns(log, all, 2, &c), 7);
    sse_eventlog_close(log);
}
END_TEST

START_TEST(test_eventlog_read_prefix_limit_and_progress)
{
    static const char *const ch[] = {"a:1", "b", "a:2", "a:3", "b", "a:1"};
    char chans[1][SSE_CHANNEL_MAX + 1] = {"a:*"};
    struct collect c = {0};
    publish_channels(ch, 6);
    struct sse_eventlog *log = open_log();
    ck_assert_int_eq(read_into(log, 0, INT64_MAX,
                               (const char(*)[SSE_CHANNEL_MAX + 1]) chans, 1, 2,
                               &c),
                     0);
    ck_assert_uint_eq(c.n, 2);
    ck_assert_int_eq(c.p.last_seen, 3);
    ck_assert_int_eq(c.p.complete, 0);
    ck_assert_int_eq(read_into(log, 3, 5,
                               (const char(*)[SSE_CHANNEL_MAX + 1]) chans, 1,
                               10, &c),
                     0);
    ck_assert_uint_eq(c.n, 1); /* 4; 6 is above upto */
    ck_assert_int_eq(c.ids[0], 4);
    ck_assert_int_eq(c.p.complete, 1);
    sse_eventlog_close(log);
}
END_TEST

static int count_row(const struct sse_event_row *row, void *ctx)
{
    (void)row;
    ++*(size_t *)ctx;
    return 0;
}

/* A resume near the head of a prefix with many stored rows reads those
 * rows, not every row of the prefix: the prefix's channels are found by
 * index seeks and read as ranges after the resume id. */
START_TEST(test_eventlog_read_prefix_resume_is_bounded)
{
    tu_sql(path, "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 "
                 "FROM n WHERE i < 20000) INSERT INTO events(channel, data) "
                 "SELECT 'big:' || (i % 3), 'x' FROM n");
    char chans[2][SSE_CHANNEL_MAX + 1] = {"big:*", "none"};
    struct collect c = {0};
    struct sse_eventlog *log = open_log();
    ck_assert_int_eq(read_into(log, 19995, INT64_MAX,
                               (const char(*)[SSE_CHANNEL_MAX + 1]) chans, 2,
                               100, &c),
                     0);
    ck_assert_uint_eq(c.n, 5);
    int64_t bounded = sse_eventlog_last_read_steps(log);
    /* The measure sees rows: reading them all takes far more steps. */
    size_t rows = 0;
    ck_assert_int_eq(sse_eventlog_read(log, 0, INT64_MAX,
                                       (const char(*)[SSE_CHANNEL_MAX + 1])
                                           chans,
                                       2, 100000, count_row, &rows, NULL),
                     0);
    ck_assert_uint_eq(rows, 20000);
    int64_t full = sse_eventlog_last_read_steps(log);
    ck_assert_msg(bounded * 50 < full,
                  "resume read took %" PRId64 " steps, full read %" PRId64,
                  bounded, full);
    sse_eventlog_close(log);
}
END_TEST

START_TEST(test_eventlog_replay_start_prefix)
{
    static const char *const ch[] = {"q:1", "r", "q:2", "r", "q:1", "r"};
    static const char chans[1][SSE_CHANNEL_MAX + 1] = {"q:*"};
    int64_t after = -1;
    publish_channels(ch, 6);
    struct sse_eventlog *log = open_log();
    ck_assert_int_eq(
        sse_eventlog_replay_start(log, chans, 1, 2, INT64_MAX, &after), 0);
    ck_assert_int_eq(after, 2); /* the two newest q:* are 3 and 5 */
    ck_assert_int_eq(sse_eventlog_replay_start(log, chans, 1, 9, 4, &after), 0);
    ck_assert_int_eq(after, 0); /* fewer than 9 up to id 4 */
    sse_eventlog_close(log);
}
END_TEST

START_TEST(test_eventlog_pruned_through_prefix)
{
    static const char *const ch[] = {"p:1", "p:2", "px", "p:1", "p", "px"};
    static const char pre[1][SSE_CHANNEL_MAX + 1] = {"p:*"};
    static const char mixed[2][SSE_CHANNEL_MAX + 1] = {"zz", "p:*"};
    static const char other[2][SSE_CHANNEL_MAX + 1] = {"p", "q:*"};
    int64_t through = -1;
    publish_channels(ch, 6);
    tu_sql(path, "DELETE FROM events WHERE id IN (2, 3, 5)");
    struct sse_eventlog *log = open_log();
    ck_assert_int_eq(sse_eventlog_pruned_through(log, pre, 1, &through), 0);
    ck_assert_int_eq(through, 2); /* p:2; not px (3) nor p (5) */
    ck_assert_int_eq(sse_eventlog_pruned_through(log, mixed, 2, &through), 0);
    ck_assert_int_eq(through, 2);
    ck_assert_int_eq(sse_eventlog_pruned_through(log, other, 2, &through), 0);
    ck_assert_int_eq(through, 5);
    sse_eventlog_close(log);
}
END_TEST

/* What both engines are handed for a request's channels (eventlog.c). */
START_TEST(test_eventlog_filter_init_ranges)
{
    static const char mix[4][SSE_CHANNEL_MAX + 1] = {"a/b/*", "news", "c:*",
                                                     "bad*"};
    static const char star[2][SSE_CHANNEL_MAX + 1] = {"news", "*"};
    static const char many[SSE_EVENTLOG_MULTI_SLOTS + 1][SSE_CHANNEL_MAX + 1];
    struct sse_eventlog_filter f;
    ck_assert_int_eq(sse_eventlog_filter_init(mix, 4, &f), 0);
    ck_assert_int_eq(f.kind, SSE_EVENTLOG_FILTER_PATTERNS);
    ck_assert_uint_eq(f.nprefixes, 2);
    /* '/' + 1 is '0', ':' + 1 is ';': the ends of the prefixes' ranges. */
    ck_assert_str_eq(f.lo[0], "a/b/");
    ck_assert_str_eq(f.hi[0], "a/b0");
    ck_assert_str_eq(f.lo[1], "c:");
    ck_assert_str_eq(f.hi[1], "c;");
    /* Not a pattern: a name, which matches nothing. */
    ck_assert_uint_eq(f.nnames, 2);
    ck_assert_str_eq(f.names[0], "news");
    ck_assert_str_eq(f.names[1], "bad*");
    ck_assert_int_eq(sse_eventlog_filter_init(mix + 1, 1, &f), 0);
    ck_assert_int_eq(f.kind, SSE_EVENTLOG_FILTER_NAMES);
    ck_assert_uint_eq(f.nprefixes, 0);
    ck_assert_int_eq(sse_eventlog_filter_init(star, 2, &f), 0);
    ck_assert_int_eq(f.kind, SSE_EVENTLOG_FILTER_ALL);
    ck_assert_int_eq(sse_eventlog_filter_init(NULL, 0, &f), 0);
    ck_assert_int_eq(f.kind, SSE_EVENTLOG_FILTER_ALL);
    ck_assert_int_eq(
        sse_eventlog_filter_init(many, SSE_EVENTLOG_MULTI_SLOTS + 1, &f),
        SSE_EINVAL);
}
END_TEST

/* --- grants --------------------------------------------------------------- */

static int grant_seen(void *ctx, const char *pattern, size_t len,
                      int64_t expires_ms)
{
    char line[300];
    snprintf(line, sizeof line, "%.*s@%lld;", (int)len, pattern,
             (long long)(expires_ms == INT64_MAX ? -1 : expires_ms));
    strncat(ctx, line, 1000 - strlen(ctx) - 1);
    return 0;
}

START_TEST(test_eventlog_grants_of_principal_unexpired)
{
    tu_sql(path, "INSERT INTO grants VALUES ('bob', 'a:*', NULL), "
                 "('bob', 'b', 5000), ('bob', 'c', 4000), "
                 "('alice', 'd', NULL); PRAGMA ignore_check_constraints = 1; "
                 "INSERT INTO grants VALUES ('bob', x'00', NULL)");
    struct sse_eventlog *log = open_log();
    char seen[1000] = "";
    ck_assert_int_eq(sse_eventlog_grants(log, "bob", 4000, grant_seen, seen),
                     0);
    /* c expired at 4000; the BLOB pattern is skipped. */
    ck_assert_str_eq(seen, "a:*@-1;b@5000;");
    seen[0] = '\0';
    ck_assert_int_eq(sse_eventlog_grants(log, "nobody", 0, grant_seen, seen),
                     0);
    ck_assert_str_eq(seen, "");
    ck_assert_int_eq(sse_eventlog_reading(log), 0);
    sse_eventlog_close(log);
    /* A version 4 log has no grants table: nothing, no error. */
    tu_sql(path, "DROP TABLE grants; PRAGMA user_version = 4");
    log = open_log();
    ck_assert_int_eq(sse_eventlog_grants(log, "bob", 0, grant_seen, seen), 0);
    ck_assert_str_eq(seen, "");
    sse_eventlog_close(log);
}
END_TEST

/* --- replay start -------------------------------------------------------- */

START_TEST(test_eventlog_replay_start_all_channels)
{
    int64_t after = -1;
    publish_n(NULL, 10);
    struct sse_eventlog *log = open_log();
    ck_assert_int_eq(
        sse_eventlog_replay_start(log, NULL, 0, 3, INT64_MAX, &after), 0);
    ck_assert_int_eq(after, 7);
    sse_eventlog_close(log);
}
END_TEST

START_TEST(test_eventlog_replay_start_fewer_rows)
{
    int64_t after = -1;
    publish_n(NULL, 2);
    struct sse_eventlog *log = open_log();
    ck_assert_int_eq(
        sse_eventlog_replay_start(log, NULL, 0, 5, INT64_MAX, &after), 0);
    ck_assert_int_eq(after, 0);
    sse_eventlog_close(log);
}
END_TEST

START_TEST(test_eventlog_replay_start_channels)
{
    static const char chans[1][SSE_CHANNEL_MAX + 1] = {"b"};
    int64_t after = -1;
    publish_mixed();
    struct sse_eventlog *log = open_log();
    ck_assert_int_eq(
        sse_eventlog_replay_start(log, chans, 1, 1, INT64_MAX, &after), 0);
    ck_assert_int_eq(after, 4); /* newest "b" is 5 */
    ck_assert_int_eq(
        sse_eventlog_replay_start(log, chans, 1, 2, INT64_MAX, &after), 0);
    ck_assert_int_eq(after, 1); /* second newest "b" is 2 */
    sse_eventlog_close(log);
}
END_TEST

START_TEST(test_eventlog_replay_start_upto)
{
    int64_t after = -1;
    publish_n(NULL, 10);
    struct sse_eventlog *log = open_log();
    ck_assert_int_eq(sse_eventlog_replay_start(log, NULL, 0, 2, 5, &after), 0);
    ck_assert_int_eq(after, 3);
    sse_eventlog_close(log);
}
END_TEST

/* --- bounds -------------------------------------------------------------- */

static void bounds(struct sse_eventlog *log, int64_t *oldest, int64_t *head)
{
    *oldest = -1;
    *head = -1;
    ck_assert_int_eq(sse_eventlog_bounds(log, oldest, head), 0);
}

START_TEST(test_eventlog_bounds_new_log)
{
    int64_t oldest, head;
    struct sse_eventlog *log = open_log();
    bounds(log, &oldest, &head);
    ck_assert_int_eq(head, 0);
    ck_assert_int_eq(oldest, 1);
    sse_eventlog_close(log);
}
END_TEST

START_TEST(test_eventlog_bounds_rows)
{
    int64_t oldest, head;
    publish_n(NULL, 3);
    struct sse_eventlog *log = open_log();
    bounds(log, &oldest, &head);
    ck_assert_int_eq(oldest, 1);
    ck_assert_int_eq(head, 3);
    sse_eventlog_close(log);
}
END_TEST

START_TEST(test_eventlog_bounds_after_prune_head_stays)
{
    int64_t oldest, head, deleted = -1;
    publish_n(NULL, 5);
    struct sse_admin *a = tu_admin_open(path);
    ck_assert_int_eq(sse_admin_prune(a, 2, -1, NULL, &deleted), 0);
    ck_assert_int_eq(deleted, 3);
    sse_admin_close(a);
    struct sse_eventlog *log = open_log();
    bounds(log, &oldest, &head);
    ck_assert_int_eq(oldest, 4);
    ck_assert_int_eq(head, 5);
    sse_eventlog_close(log);
}
END_TEST

START_TEST(test_eventlog_bounds_all_pruned)
{
    int64_t oldest, head;
    publish_n(NULL, 5);
    struct sse_admin *a = tu_admin_open(path);
    ck_assert_int_eq(sse_admin_prune(a, 0, -1, NULL, NULL), 0);
    sse_admin_close(a);
    struct sse_eventlog *log = open_log();
    bounds(log, &oldest, &head);
    ck_assert_int_eq(head, 5);
    ck_assert_int_eq(oldest, 6);
    sse_eventlog_close(log);
}
END_TEST

START_TEST(test_eventlog_bounds_newest_deleted_head_stays)
{
    /* Deleting the newest rows must not lower head: ids are never reused,
     * so a client at id 5 is not "in the future". */
    int64_t oldest, head;
    publish_n(NULL, 5);
    tu_sql(path, "DELETE FROM events WHERE id >= 4");
    struct sse_eventlog *log = open_log();
    bounds(log, &oldest, &head);
    ck_assert_int_eq(head, 5);
    ck_assert_int_eq(oldest, 1);
    sse_eventlog_close(log);
}
END_TEST

START_TEST(test_eventlog_bounds_follow_commits)
{
    int64_t oldest, head;
    struct sse_eventlog *log = open_log();
    bounds(log, &oldest, &head);
    ck_assert_int_eq(head, 0);
    publish_n(NULL, 2);
    bounds(log, &oldest, &head);
    ck_assert_int_eq(head, 2);
    ck_assert_int_eq(oldest, 1);
    sse_eventlog_close(log);
}
END_TEST

/* --- change detection ---------------------------------------------------- */

static int changed(struct sse_eventlog *log)
{
    int ch = -1;
    ck_assert_int_eq(sse_eventlog_changed(log, &ch), 0);
    ck_assert(ch == 0 || ch == 1);
    return ch;
}

START_TEST(test_eventlog_changed_first_call_one)
{
    struct sse_eventlog *log = open_log();
    ck_assert_int_eq(changed(log), 1);
    ck_assert_int_eq(changed(log), 0);
    ck_assert_int_eq(changed(log), 0);
    sse_eventlog_close(log);
}
END_TEST

START_TEST(test_eventlog_changed_after_commit)
{
    struct sse_eventlog *log = open_log();
    changed(log);
    publish_n(NULL, 1);
    ck_assert_int_eq(changed(log), 1);
    ck_assert_int_eq(changed(log), 0);
    sse_eventlog_close(log);
}
END_TEST

START_TEST(test_eventlog_changed_own_reads_not_change)
{
    struct collect c = {0};
    publish_n(NULL, 3);
    struct sse_eventlog *log = open_log();
    changed(log);
    ck_assert_int_eq(read_into(log, 0, INT64_MAX, NULL, 0, 100, &c), 0);
    int64_t oldest, head;
    bounds(log, &oldest, &head);
    ck_assert_int_eq(changed(log), 0);
    sse_eventlog_close(log);
}
END_TEST

START_TEST(test_eventlog_changed_raw_insert)
{
    /* Any publisher's INSERT counts, not only lib/admin.c's. */
    struct sse_eventlog *log = open_log();
    changed(log);
    tu_sql(path, "INSERT INTO events(data) VALUES ('raw')");
    ck_assert_int_eq(changed(log), 1);
    sse_eventlog_close(log);
}
END_TEST

/* --- replaced ------------------------------------------------------------ */

START_TEST(test_eventlog_replaced_same_file_false)
{
    struct sse_eventlog *log = open_log();
    ck_assert_int_eq(sse_eventlog_replaced(log), 0);
    publish_n(NULL, 2); /* writes do not replace the file */
    ck_assert_int_eq(sse_eventlog_replaced(log), 0);
    sse_eventlog_close(log);
}
END_TEST

START_TEST(test_eventlog_replaced_after_rename_over)
{
    struct sse_eventlog *log = open_log();
    char *other = tu_log_create(dir, "restored.db");
    ck_assert_int_eq(rename(other, path), 0);
    ck_assert_int_eq(sse_eventlog_replaced(log), 1);
    free(other);
    sse_eventlog_close(log);
}
END_TEST

START_TEST(test_eventlog_replaced_after_unlink)
{
    struct sse_eventlog *log = open_log();
    ck_assert_int_eq(unlink(path), 0);
    ck_assert_int_eq(sse_eventlog_replaced(log), 1);
    sse_eventlog_close(log);
}
END_TEST

/* --- unreadable rows ---------------------------------------------------- */

/* Creates dir/hand.db: an events table made by hand, without the CHECKs
 * and NOT NULLs of schema/, and user_version set so that the log is
 * accepted; runs rows_sql on it and opens it. */
static struct sse_eventlog *open_handmade(const char *rows_sql)
{
    char *p = tu_path(dir, "hand.db");
    char sql[512];
    tu_write_file(p, "", 0);
    snprintf(sql, sizeof(sql),
             "PRAGMA journal_mode=WAL;"
             "CREATE TABLE events (id INTEGER PRIMARY KEY AUTOINCREMENT,"
             " channel TEXT, event TEXT, data TEXT, created_at INTEGER);"
             "PRAGMA user_version = %d;",
             SSE_SCHEMA_VERSION);
    tu_sql(p, sql);
    tu_sql(p, rows_sql);
    struct sse_eventlog *log = NULL;
    int rc = sse_eventlog_open(p, 5000, &log);
    ck_assert_msg(rc == 0, "sse_eventlog_open(%s): %s", p, sse_strerror(rc));
    free(p);
    return log;
}

START_TEST(test_eventlog_read_null_data_skipped)
{
    static const int64_t want[] = {1, 3};
    struct collect c = {0};
    struct sse_eventlog *log =
        open_handmade("INSERT INTO events(channel, data) VALUES ('a', 'e1');"
                      "INSERT INTO events(channel, data) VALUES ('a', NULL);"
                      "INSERT INTO events(channel, data) VALUES ('a', 'e3');");
    ck_assert_int_eq(read_into(log, 0, INT64_MAX, NULL, 0, 100, &c), 0);
    assert_ids(&c, want, 2);
    ck_assert_uint_eq(c.p.skipped, 1);
    ck_assert_int_eq(c.p.last_seen, 3);
    ck_assert_int_eq(c.p.complete, 1);
    /* The same through the channel-filtered statement. */
    static const char chans[1][SSE_CHANNEL_MAX + 1] = {"a"};
    ck_assert_int_eq(read_into(log, 0, INT64_MAX, chans, 1, 100, &c), 0);
    assert_ids(&c, want, 2);
    ck_assert_uint_eq(c.p.skipped, 1);
    sse_eventlog_close(log);
}
END_TEST

START_TEST(test_eventlog_read_null_channel_skipped)
{
    static const int64_t want[] = {2};
    struct collect c = {0};
    struct sse_eventlog *log =
        open_handmade("INSERT INTO events(channel, data) VALUES (NULL, 'e1');"
                      "INSERT INTO events(channel, data) VALUES ('a', 'e2');");
    ck_assert_int_eq(read_into(log, 0, INT64_MAX, NULL, 0, 100, &c), 0);
    assert_ids(&c, want, 1);
    ck_assert_uint_eq(c.p.skipped, 1);
    sse_eventlog_close(log);
}
END_TEST

START_TEST(test_eventlog_read_trailing_bad_row_last_seen)
{
    /* A bad row at the end of the range is consumed too: a caller that
     * moves to last_seen does not read it again. */
    struct collect c = {0};
    struct sse_eventlog *log =
        open_handmade("INSERT INTO events(channel, data) VALUES ('a', 'e1');"
                      "INSERT INTO events(channel, data) VALUES ('a', NULL);");
    ck_assert_int_eq(read_into(log, 0, INT64_MAX, NULL, 0, 100, &c), 0);
    ck_assert_uint_eq(c.n, 1);
    ck_assert_int_eq(c.p.last_seen, 2);
    ck_assert_int_eq(read_into(log, c.p.last_seen, INT64_MAX, NULL, 0, 100, &c),
                     0);
    ck_assert_uint_eq(c.n, 0);
    ck_assert_uint_eq(c.p.skipped, 0);
    ck_assert_int_eq(c.p.last_seen, 2);
    sse_eventlog_close(log);
}
END_TEST

START_TEST(test_eventlog_read_only_bad_rows_limit_advances)
{
    /* A batch of nothing but bad rows still moves last_seen to its end and
     * is not complete: the limit counts every row looked at. */
    static const int64_t want[] = {4};
    struct collect c = {0};
    struct sse_eventlog *log =
        open_handmade("INSERT INTO events(channel, data) VALUES ('a', NULL);"
                      "INSERT INTO events(channel, data) VALUES ('a', NULL);"
                      "INSERT INTO events(channel, data) VALUES ('a', NULL);"
                      "INSERT INTO events(channel, data) VALUES ('a', 'e4');");
    ck_assert_int_eq(read_into(log, 0, INT64_MAX, NULL, 0, 2, &c), 0);
    ck_assert_uint_eq(c.n, 0);
    ck_assert_uint_eq(c.p.skipped, 2);
    ck_assert_int_eq(c.p.last_seen, 2);
    ck_assert_int_eq(c.p.complete, 0);
    ck_assert_int_eq(read_into(log, 2, INT64_MAX, NULL, 0, 2, &c), 0);
    assert_ids(&c, want, 1);
    ck_assert_int_eq(c.p.last_seen, 4);
    ck_assert_int_eq(c.p.complete, 0);
    ck_assert_int_eq(read_into(log, 4, INT64_MAX, NULL, 0, 2, &c), 0);
    ck_assert_int_eq(c.p.complete, 1);
    sse_eventlog_close(log);
}
END_TEST

START_TEST(test_eventlog_read_blob_channel_skipped_on_every_path)
{
    /* With CHECKs off a BLOB channel can be stored. Filtered reads never
     * match it (BLOB <> TEXT), so the all-channels read must skip it too:
     * the live path and resume then agree. */
    static const int64_t want[] = {1, 3};
    static const char chans[1][SSE_CHANNEL_MAX + 1] = {"blobch"};
    static const char two[2][SSE_CHANNEL_MAX + 1] = {"blobch", "x"};
    struct collect c = {0};
    tu_sql(path, "PRAGMA ignore_check_constraints = ON;"
                 "DROP TRIGGER IF EXISTS events_limits_insert;"
                 "INSERT INTO events(channel, data) VALUES ('blobch', 'a');"
                 "INSERT INTO events(channel, data)"
                 " VALUES (CAST('blobch' AS BLOB), 'b');"
                 "INSERT INTO events(channel, data) VALUES ('blobch', 'c');");
    struct sse_eventlog *log = open_log();
    ck_assert_int_eq(read_into(log, 0, INT64_MAX, NULL, 0, 100, &c), 0);
    assert_ids(&c, want, 2);
    ck_assert_uint_eq(c.p.skipped, 1);
    ck_assert_int_eq(read_into(log, 0, INT64_MAX, chans, 1, 100, &c), 0);
    assert_ids(&c, want, 2);
    ck_assert_int_eq(read_into(log, 0, INT64_MAX, two, 2, 100, &c), 0);
    assert_ids(&c, want, 2);
    sse_eventlog_close(log);
}
END_TEST

START_TEST(test_eventlog_read_invalid_channel_name_skipped)
{
    /* A NUL inside a channel passes length() and GLOB (CHECKs of schema
     * version 2); no request can name it, and a C string would stop at it. */
    struct collect c = {0};
    tu_sql(path, "PRAGMA ignore_check_constraints = ON;"
                 "DROP TRIGGER IF EXISTS events_limits_insert;"
                 "INSERT INTO events(channel, data)"
                 " VALUES ('ab' || char(0) || 'cd', 'x');"
                 "INSERT INTO events(channel, data) VALUES ('bad name', 'x');"
                 "INSERT INTO events(channel, data) VALUES ('', 'x');"
                 "INSERT INTO events(channel, data) VALUES ('ab', 'y');");
    struct sse_eventlog *log = open_log();
    ck_assert_int_eq(read_into(log, 0, INT64_MAX, NULL, 0, 100, &c), 0);
    ck_assert_uint_eq(c.n, 1);
    ck_assert_int_eq(c.ids[0], 4);
    ck_assert_str_eq(c.channel[0], "ab");
    ck_assert_uint_eq(c.p.skipped, 3);
    sse_eventlog_close(log);
}
END_TEST

START_TEST(test_eventlog_read_data_size_limit)
{
    /* Exactly SSE_EVENT_DATA_MAX bytes are delivered, one more is not.
     * hex(zeroblob(n)) is 2n characters of TEXT. */
    struct collect c = {0};
    char sql[512];
    snprintf(sql, sizeof(sql),
             "PRAGMA ignore_check_constraints = ON;"
             "DROP TRIGGER IF EXISTS events_limits_insert;"
             "INSERT INTO events(channel, data)"
             " VALUES ('a', hex(zeroblob(%d)));"
             "INSERT INTO events(channel, data)"
             " VALUES ('a', substr(hex(zeroblob(%d)), 1, %d));"
             "INSERT INTO events(channel, data) VALUES ('a', 'small');",
             SSE_EVENT_DATA_MAX / 2, SSE_EVENT_DATA_MAX / 2 + 1,
             SSE_EVENT_DATA_MAX + 1);
    tu_sql(path, sql);
    struct sse_eventlog *log = open_log();
    ck_assert_int_eq(read_into(log, 0, INT64_MAX, NULL, 0, 100, &c), 0);
    ck_assert_uint_eq(c.n, 2);
    ck_assert_int_eq(c.ids[0], 1);
    ck_assert_int_eq(c.ids[1], 3);
    ck_assert_uint_eq(c.p.skipped, 1);
    ck_assert_int_eq(c.p.last_seen, 3);
    sse_eventlog_close(log);
}
END_TEST

/* Runs a read of every row of log on p with stderr sent to a file; returns
 * the number of lines written that report a skipped row. */
static int skip_lines_of_read(struct sse_eventlog *log)
{
    char *out = tu_path(dir, "stderr.txt");
    FILE *f = fopen(out, "w+");
    ck_assert_ptr_nonnull(f);
    fflush(stderr);
    int saved = dup(2);
    ck_assert_int_ge(saved, 0);
    ck_assert_int_ge(dup2(fileno(f), 2), 0);
    struct collect c = {0};
    int rc = read_into(log, 0, INT64_MAX, NULL, 0, 1000, &c);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    ck_assert_int_eq(rc, 0);
    rewind(f);
    char line[4096];
    int n = 0;
    while (fgets(line, sizeof(line), f))
        if (strstr(line, "skipped: data is NULL"))
            n++;
    fclose(f);
    free(out);
    return n;
}

START_TEST(test_eventlog_read_skip_log_rate_limited)
{
    /* 200 bad rows: the warnings stop at the burst, and a second read of
     * the same rows on the same connection logs nothing new. */
    struct sse_eventlog *log = open_handmade(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1"
        " FROM n WHERE i < 200)"
        " INSERT INTO events(channel, data) SELECT 'a', NULL FROM n;");
    ck_assert_int_eq(skip_lines_of_read(log), SSE_EVENTLOG_SKIP_LOG_BURST);
    ck_assert_int_eq(skip_lines_of_read(log), 0);
    sse_eventlog_close(log);
}
END_TEST

/* --- schema version ----------------------------------------------------- */

static void set_version(const char *p, int v)
{
    char sql[64];
    snprintf(sql, sizeof(sql), "PRAGMA user_version = %d;", v);
    tu_sql(p, sql);
}

START_TEST(test_eventlog_open_newer_version_eschema)
{
    set_version(path, SSE_SCHEMA_VERSION + 1);
    struct sse_eventlog *log = NULL;
    ck_assert_int_eq(sse_eventlog_open(path, 100, &log), SSE_ESCHEMA);
    ck_assert_ptr_null(log);
}
END_TEST

START_TEST(test_eventlog_open_version_zero_eschema)
{
    /* A valid events table that `sselite init` did not make. */
    set_version(path, 0);
    struct sse_eventlog *log = NULL;
    ck_assert_int_eq(sse_eventlog_open(path, 100, &log), SSE_ESCHEMA);
    ck_assert_ptr_null(log);
}
END_TEST

START_TEST(test_eventlog_open_negative_version_eschema)
{
    set_version(path, -1);
    struct sse_eventlog *log = NULL;
    ck_assert_int_eq(sse_eventlog_open(path, 100, &log), SSE_ESCHEMA);
    ck_assert_ptr_null(log);
}
END_TEST

START_TEST(test_eventlog_open_every_known_version_ok)
{
    for (int v = 1; v <= SSE_SCHEMA_VERSION; v++) {
        set_version(path, v);
        sse_eventlog_close(open_log());
    }
}
END_TEST

START_TEST(test_eventlog_reading_only_during_read)
{
    struct collect c = {0};
    publish_n(NULL, 3);
    struct sse_eventlog *log = open_log();
    ck_assert_int_eq(sse_eventlog_reading(log), 0);
    c.log = log; /* collect_row asserts reading == 1 */
    ck_assert_int_eq(read_into(log, 0, INT64_MAX, NULL, 0, 100, &c), 0);
    ck_assert_uint_eq(c.n, 3);
    c.stop_after = 1;
    c.stop_rc = 5;
    ck_assert_int_eq(read_into(log, 0, INT64_MAX, NULL, 0, 100, &c), 5);
    int64_t oldest, head;
    ck_assert_int_eq(sse_eventlog_bounds(log, &oldest, &head), 0);
    ck_assert_int_eq(sse_eventlog_reading(log), 0);
    sse_eventlog_close(log);
}
END_TEST

static Suite *eventlog_suite(void)
{
    Suite *s = suite_create("eventlog");
    TCase *tc = tcase_create("open");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_eventlog_open_initialised_ok);
    tcase_add_test(tc, test_eventlog_open_missing_enoent);
    tcase_add_test(tc, test_eventlog_open_missing_dir_enoent);
    tcase_add_test(tc, test_eventlog_open_not_database_ecorrupt);
    tcase_add_test(tc, test_eventlog_open_empty_file_eschema);
    tcase_add_test(tc, test_eventlog_open_other_database_eschema);
    tcase_add_test(tc, test_eventlog_open_directory_fails);
    tcase_add_test(tc, test_eventlog_close_null_safe);
    tcase_add_test(tc, test_eventlog_open_newer_version_eschema);
    tcase_add_test(tc, test_eventlog_open_version_zero_eschema);
    tcase_add_test(tc, test_eventlog_open_negative_version_eschema);
    tcase_add_test(tc, test_eventlog_open_every_known_version_ok);
    suite_add_tcase(s, tc);

    tc = tcase_create("read");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_eventlog_read_all_in_order);
    tcase_add_test(tc, test_eventlog_read_after);
    tcase_add_test(tc, test_eventlog_read_upto);
    tcase_add_test(tc, test_eventlog_read_after_and_upto);
    tcase_add_test(tc, test_eventlog_read_limit);
    tcase_add_test(tc, test_eventlog_read_after_head_empty);
    tcase_add_test(tc, test_eventlog_read_upto_not_above_after_empty);
    tcase_add_test(tc, test_eventlog_read_empty_log);
    tcase_add_test(tc, test_eventlog_read_progress_null_ok);
    tcase_add_test(tc, test_eventlog_read_row_fields);
    tcase_add_test(tc, test_eventlog_read_data_with_nul);
    tcase_add_test(tc, test_eventlog_read_empty_data);
    tcase_add_test(tc, test_eventlog_read_null_type);
    tcase_add_test(tc, test_eventlog_read_empty_type);
    tcase_add_test(tc, test_eventlog_read_callback_stop_propagated);
    tcase_add_test(tc, test_eventlog_read_callback_negative_stop_propagated);
    tcase_add_test(tc, test_eventlog_read_sees_later_commits);
    tcase_add_test(tc, test_eventlog_read_holds_no_snapshot);
    tcase_add_test(tc, test_eventlog_read_batches_cover_all);
    tcase_add_test(tc, test_eventlog_read_damaged_ecorrupt);
    tcase_add_test(tc, test_eventlog_read_channel_single);
    tcase_add_test(tc, test_eventlog_read_channel_multi_id_order);
    tcase_add_test(tc, test_eventlog_read_channel_multi_limit_lowest_ids);
    tcase_add_test(tc, test_eventlog_read_channel_multi_range);
    tcase_add_test(tc, test_eventlog_read_channel_unknown_empty);
    tcase_add_test(tc, test_eventlog_read_channel_max_set);
    tcase_add_test(tc, test_eventlog_replay_start_all_channels);
    tcase_add_test(tc, test_eventlog_replay_start_fewer_rows);
    tcase_add_test(tc, test_eventlog_replay_start_channels);
    tcase_add_test(tc, test_eventlog_replay_start_upto);
    tcase_add_test(tc, test_eventlog_read_prefix_needs_separator);
    tcase_add_test(tc, test_eventlog_read_prefix_with_names_in_id_order_once);
    tcase_add_test(tc, test_eventlog_read_star_reads_every_channel);
    tcase_add_test(tc, test_eventlog_read_prefix_limit_and_progress);
    tcase_add_test(tc, test_eventlog_read_prefix_resume_is_bounded);
    tcase_add_test(tc, test_eventlog_replay_start_prefix);
    tcase_add_test(tc, test_eventlog_pruned_through_prefix);
    tcase_add_test(tc, test_eventlog_grants_of_principal_unexpired);
    tcase_add_test(tc, test_eventlog_filter_init_ranges);
    suite_add_tcase(s, tc);

    tc = tcase_create("unreadable_rows");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_eventlog_read_null_data_skipped);
    tcase_add_test(tc, test_eventlog_read_null_channel_skipped);
    tcase_add_test(tc, test_eventlog_read_trailing_bad_row_last_seen);
    tcase_add_test(tc, test_eventlog_read_only_bad_rows_limit_advances);
    tcase_add_test(tc, test_eventlog_read_blob_channel_skipped_on_every_path);
    tcase_add_test(tc, test_eventlog_read_invalid_channel_name_skipped);
    tcase_add_test(tc, test_eventlog_read_data_size_limit);
    tcase_add_test(tc, test_eventlog_read_skip_log_rate_limited);
    tcase_add_test(tc, test_eventlog_reading_only_during_read);
    suite_add_tcase(s, tc);

    tc = tcase_create("bounds_changes");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_eventlog_bounds_new_log);
    tcase_add_test(tc, test_eventlog_bounds_rows);
    tcase_add_test(tc, test_eventlog_bounds_after_prune_head_stays);
    tcase_add_test(tc, test_eventlog_bounds_all_pruned);
    tcase_add_test(tc, test_eventlog_bounds_newest_deleted_head_stays);
    tcase_add_test(tc, test_eventlog_bounds_follow_commits);
    tcase_add_test(tc, test_eventlog_changed_first_call_one);
    tcase_add_test(tc, test_eventlog_changed_after_commit);
    tcase_add_test(tc, test_eventlog_changed_own_reads_not_change);
    tcase_add_test(tc, test_eventlog_changed_raw_insert);
    tcase_add_test(tc, test_eventlog_replaced_same_file_false);
    tcase_add_test(tc, test_eventlog_replaced_after_rename_over);
    tcase_add_test(tc, test_eventlog_replaced_after_unlink);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run_suite(eventlog_suite());
}
