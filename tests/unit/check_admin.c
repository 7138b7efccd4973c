/* check_admin.c - Check suite for lib/admin.c (create/upgrade, publish,
 * prune, stats, checkpoint) against real SQLite files.
 * SPDX-License-Identifier: MIT
 *
 * Each test gets a fresh directory from mkdtemp (through testutil) and
 * checks what admin.c wrote with a separate raw sqlite3 connection, so a
 * test never trusts the module to report on itself.
 */
#include <check.h>
#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin.h"
#include "buf.h"
#include "channel.h"
#include "eventlog.h"
#include "schema_sql.h"
#include "sse_error.h"
#include "sse_limits.h"
#include "testutil.h"

/* The fixture's directory and database path; set by setup for each test
 * (Check runs every test in its own process). */
static char *dir;
static char *db;

static void setup(void)
{
    dir = tu_tmpdir_new();
    db = tu_path(dir, "events.db");
}

static void teardown(void)
{
    free(db);
    db = NULL;
    tu_tmpdir_remove(dir);
    dir = NULL;
}

/* --- helpers that look at the file with a raw connection --- */

static sqlite3 *raw_open(const char *path)
{
    sqlite3 *h = NULL;
    int rc = sqlite3_open_v2(path, &h, SQLITE_OPEN_READWRITE, NULL);
    ck_assert_msg(rc == SQLITE_OK, "open %s: %s", path, sqlite3_errstr(rc));
    sqlite3_busy_timeout(h, 5000);
    return h;
}

/* Runs sql on path and returns the integer in the first column of the
 * first row (0 for NULL or no row). */
static int64_t raw_i64(const char *path, const char *sql)
{
    sqlite3 *h = raw_open(path);
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(h, sql, -1, &st, NULL);
    ck_assert_msg(rc == SQLITE_OK, "%s: %s", sql, sqlite3_errmsg(h));
    rc = sqlite3_step(st);
    ck_assert_msg(rc == SQLITE_ROW || rc == SQLITE_DONE, "%s: %s", sql,
                  sqlite3_errmsg(h));
    int64_t v = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
    sqlite3_finalize(st);
    sqlite3_close(h);
    return v;
}

/* Like raw_i64 for a text result; returns a malloc'd copy ("" for NULL). */
static char *raw_text(const char *path, const char *sql)
{
    sqlite3 *h = raw_open(path);
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(h, sql, -1, &st, NULL);
    ck_assert_msg(rc == SQLITE_OK, "%s: %s", sql, sqlite3_errmsg(h));
    rc = sqlite3_step(st);
    ck_assert_msg(rc == SQLITE_ROW, "%s: no row", sql);
    const char *t = (const char *)sqlite3_column_text(st, 0);
    char *copy = strdup(t ? t : "");
    ck_assert_ptr_nonnull(copy);
    sqlite3_finalize(st);
    sqlite3_close(h);
    return copy;
}

/* Runs sql on a raw connection and returns SQLite's primary result code. */
static int raw_exec_rc(const char *path, const char *sql)
{
    sqlite3 *h = raw_open(path);
    int rc = sqlite3_exec(h, sql, NULL, NULL, NULL);
    sqlite3_close(h);
    return rc & 0xff;
}

/* Creates path (if needed) and runs sql on it with a raw connection. */
static void raw_create(const char *path, const char *sql)
{
    sqlite3 *h = NULL;
    int rc = sqlite3_open_v2(path, &h,
                             SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL);
    ck_assert_int_eq(rc, SQLITE_OK);
    rc = sqlite3_exec(h, sql, NULL, NULL, NULL);
    ck_assert_msg(rc == SQLITE_OK, "%s: %s", sql, sqlite3_errmsg(h));
    sqlite3_close(h);
}

/* Creates path as a schema version 1 database, as a 0.x sselite would
 * have left it: only schema/001 applied, user_version 1, rollback journal. */
static void make_v1(const char *path)
{
    raw_create(path, schema_step_001);
    raw_create(path, "PRAGMA user_version = 1");
}

/* Creates path as a schema version 2 database, as sselite 0.x with the id
 * guard left it (schema/001 and 002, user_version 2). */
static void make_v2(const char *path)
{
    make_v1(path);
    raw_create(path, schema_step_002);
    raw_create(path, "PRAGMA user_version = 2");
}

/* Inserts row into path with a raw connection, as a publisher in another
 * language would, and returns SQLite's primary result code; on failure
 * SQLite's message goes to msg[0..cap). row->id < 0 leaves the id to SQLite,
 * a NULL type is SQL NULL, created_ms is not used; strings are bound with
 * their lengths, so they may hold NUL. */
static int raw_insert(const char *path, const struct sse_event_row *row,
                      char *msg, size_t cap)
{
    sqlite3 *h = raw_open(path);
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(h,
                                "INSERT INTO events(id, channel, event, data)"
                                " VALUES (?1, ?2, ?3, ?4)",
                                -1, &st, NULL);
    ck_assert_msg(rc == SQLITE_OK, "prepare: %s", sqlite3_errmsg(h));
    if (row->id >= 0)
        ck_assert_int_eq(sqlite3_bind_int64(st, 1, row->id), SQLITE_OK);
    ck_assert_int_eq(sqlite3_bind_text64(st, 2, row->channel, row->channel_len,
                                         SQLITE_STATIC, SQLITE_UTF8),
                     SQLITE_OK);
    if (row->type != NULL)
        ck_assert_int_eq(sqlite3_bind_text64(st, 3, row->type, row->type_len,
                                             SQLITE_STATIC, SQLITE_UTF8),
                         SQLITE_OK);
    ck_assert_int_eq(sqlite3_bind_text64(st, 4, row->data, row->data_len,
                                         SQLITE_STATIC, SQLITE_UTF8),
                     SQLITE_OK);
    rc = sqlite3_step(st);
    snprintf(msg, cap, "%s", rc == SQLITE_DONE ? "" : sqlite3_errmsg(h));
    sqlite3_finalize(st);
    sqlite3_close(h);
    return rc == SQLITE_DONE ? SQLITE_OK : rc & 0xff;
}

/* Opens db read-write (creating it) and applies the schema. */
static struct sse_admin *open_init(void)
{
    struct sse_admin *a = NULL;
    ck_assert_int_eq(sse_admin_open(db, 1, 5000, &a), 0);
    ck_assert_int_eq(sse_admin_init(a, NULL, NULL), 0);
    return a;
}

/* Publishes n events with data "e<i>" to channel and returns the last id. */
static int64_t publish_n(struct sse_admin *a, const char *channel, int n)
{
    int64_t id = 0;
    for (int i = 0; i < n; i++) {
        char data[32];
        int len = snprintf(data, sizeof data, "e%d", i);
        ck_assert(len > 0 && (size_t)len < sizeof data);
        ck_assert_int_eq(
            sse_admin_publish(a, channel, NULL, data, (size_t)len, &id), 0);
    }
    return id;
}

/* --- open --- */

START_TEST(test_admin_open_missing_file_enoent)
{
    struct sse_admin *a = (struct sse_admin *)&a; /* must stay untouched */
    struct sse_admin *before = a;
    ck_assert_int_eq(sse_admin_open(db, 0, 100, &a), SSE_ENOENT);
    ck_assert_ptr_eq(a, before);
    /* ... and nothing was created. */
    ck_assert_int_eq(sse_admin_open(db, 0, 100, &a), SSE_ENOENT);
}
END_TEST

START_TEST(test_admin_open_path_through_file_enoent)
{
    tu_write_file(db, "x", 1);
    char *below = tu_path(db, "sub.db"); /* "events.db/sub.db" */
    struct sse_admin *a = NULL;
    ck_assert_int_eq(sse_admin_open(below, 0, 100, &a), SSE_ENOENT);
    ck_assert_ptr_null(a);
    free(below);
}
END_TEST

START_TEST(test_admin_open_not_a_database_ecorrupt)
{
    static const char junk[] = "this is not an SQLite database, just text "
                               "long enough to fill a header page .........";
    tu_write_file(db, junk, sizeof junk - 1);
    struct sse_admin *a = NULL;
    ck_assert_int_eq(sse_admin_open(db, 0, 100, &a), SSE_ECORRUPT);
    ck_assert_ptr_null(a);
}
END_TEST

START_TEST(test_admin_close_null_is_noop)
{
    sse_admin_close(NULL);
}
END_TEST

/* --- init --- */

/* Collects "principal pattern expires" lines from sse_admin_grants. */
static int grant_line(const struct sse_admin_grant *g, void *ctx)
{
    char line[600];
    snprintf(line, sizeof line, "%s %s %lld;", g->principal, g->pattern,
             (long long)g->expires_ms);
    ck_assert_int_eq(sse_buf_append_str(ctx, line), 0);
    return 0;
}

START_TEST(test_admin_grants_grant_revoke_list)
{
    struct sse_admin *a = NULL;
    ck_assert_int_eq(sse_admin_open(db, 1, 5000, &a), 0);
    ck_assert_int_eq(sse_admin_init(a, NULL, NULL), 0);
    ck_assert_int_eq(sse_admin_grant(a, "bob", "team:*", 0), 0);
    ck_assert_int_eq(sse_admin_grant(a, "alice", "user/{user}/*", 5), 0);
    /* Granting again replaces the expiry. */
    ck_assert_int_eq(sse_admin_grant(a, "alice", "user/{user}/*", 7), 0);
    struct sse_buf b;
    sse_buf_init(&b, 0);
    ck_assert_int_eq(sse_admin_grants(a, NULL, grant_line, &b), 0);
    ck_assert_str_eq(b.data, "alice user/{user}/* 7;bob team:* 0;");
    sse_buf_reset(&b);
    ck_assert_int_eq(sse_admin_grants(a, "bob", grant_line, &b), 0);
    ck_assert_str_eq(b.data, "bob team:* 0;");
    int64_t removed = -1;
    ck_assert_int_eq(sse_admin_revoke(a, "bob", "team:*", &removed), 0);
    ck_assert_int_eq(removed, 1);
    ck_assert_int_eq(sse_admin_revoke(a, "bob", "team:*", &removed), 0);
    ck_assert_int_eq(removed, 0);
    /* The schema refuses an empty principal. */
    ck_assert_int_eq(sse_admin_grant(a, "", "x", 0), SSE_EINVAL);
    sse_buf_cleanup(&b);
    sse_admin_close(a);
}
END_TEST

START_TEST(test_admin_grants_need_version_6)
{
    struct sse_admin *a = NULL;
    /* A version 5 log, as sselite left it before grants existed. */
    make_v2(db);
    raw_create(db, schema_step_003);
    raw_create(db, schema_step_004);
    raw_create(db, schema_step_005);
    raw_create(db, "PRAGMA user_version = 5");
    ck_assert_int_eq(sse_admin_open(db, 0, 5000, &a), 0);
    ck_assert_int_eq(sse_admin_grant(a, "bob", "x", 0), SSE_ESCHEMA);
    ck_assert_ptr_nonnull(strstr(sse_admin_errmsg(a), "sselite init"));
    int from = 0, to = 0;
    ck_assert_int_eq(sse_admin_init(a, &from, &to), 0);
    ck_assert_int_eq(from, 5);
    ck_assert_int_eq(to, SSE_SCHEMA_VERSION);
    ck_assert_int_eq(sse_admin_grant(a, "bob", "x", 0), 0);
    sse_admin_close(a);
}
END_TEST

START_TEST(test_admin_init_new_file_latest_version_wal)
{
    struct sse_admin *a = NULL;
    int from = -1, to = -1;
    ck_assert_int_eq(sse_admin_open(db, 1, 5000, &a), 0);
    ck_assert_int_eq(sse_admin_init(a, &from, &to), 0);
    ck_assert_int_eq(from, 0);
    ck_assert_int_eq(to, SSE_SCHEMA_VERSION);
    sse_admin_close(a);

    ck_assert_int_eq(raw_i64(db, "PRAGMA user_version"), SSE_SCHEMA_VERSION);
    char *mode = raw_text(db, "PRAGMA journal_mode");
    ck_assert_str_eq(mode, "wal");
    free(mode);
    ck_assert_int_eq(raw_i64(db, "SELECT count(*) FROM sqlite_master"
                                 " WHERE name IN ('events', 'events_id_guard',"
                                 " 'events_channel_id', 'events_created_at',"
                                 " 'events_limits_insert',"
                                 " 'events_limits_update',"
                                 " 'events_channel_idem_key',"
                                 " 'events_idem_key_insert',"
                                 " 'events_idem_key_update')"),
                     9);
}
END_TEST

START_TEST(test_admin_init_twice_idempotent)
{
    struct sse_admin *a = open_init();
    int64_t id = publish_n(a, "news", 3);
    int from = -1, to = -1;
    ck_assert_int_eq(sse_admin_init(a, &from, &to), 0);
    ck_assert_int_eq(from, SSE_SCHEMA_VERSION);
    ck_assert_int_eq(to, SSE_SCHEMA_VERSION);
    sse_admin_close(a);

    /* A second process (new connection) sees the same: nothing to do. */
    ck_assert_int_eq(sse_admin_open(db, 0, 5000, &a), 0);
    ck_assert_int_eq(sse_admin_init(a, &from, &to), 0);
    ck_assert_int_eq(from, SSE_SCHEMA_VERSION);
    sse_admin_close(a);
    ck_assert_int_eq(raw_i64(db, "SELECT count(*) FROM events"), 3);
    ck_assert_int_eq(raw_i64(db, "SELECT max(id) FROM events"), id);
}
END_TEST

START_TEST(test_admin_init_v1_upgrades_to_latest)
{
    make_v1(db);
    tu_sql(db, "INSERT INTO events(channel, event, data)"
               " VALUES ('news', 'up', 'kept'), ('news', NULL, 'also')");
    ck_assert_int_eq(raw_i64(db, "SELECT count(*) FROM sqlite_master"
                                 " WHERE name = 'events_id_guard'"),
                     0);

    struct sse_admin *a = NULL;
    int from = -1, to = -1;
    ck_assert_int_eq(sse_admin_open(db, 0, 5000, &a), 0);
    ck_assert_int_eq(sse_admin_init(a, &from, &to), 0);
    ck_assert_int_eq(from, 1);
    ck_assert_int_eq(to, SSE_SCHEMA_VERSION);
    sse_admin_close(a);

    ck_assert_int_eq(raw_i64(db, "PRAGMA user_version"), SSE_SCHEMA_VERSION);
    ck_assert_int_eq(raw_i64(db, "SELECT count(*) FROM sqlite_master"
                                 " WHERE type = 'trigger' AND name IN"
                                 " ('events_id_guard', 'events_limits_insert',"
                                 " 'events_limits_update')"),
                     3);
    ck_assert_int_eq(raw_i64(db, "SELECT count(*) FROM events"), 2);
    char *mode = raw_text(db, "PRAGMA journal_mode");
    ck_assert_str_eq(mode, "wal");
    free(mode);
    /* Schema 3: pruning is recorded per channel from now on. */
    tu_sql(db, "DELETE FROM events WHERE data = 'kept'");
    ck_assert_int_eq(raw_i64(db, "SELECT through_id FROM events_pruned"
                                 " WHERE channel = 'news'"),
                     1);
}
END_TEST

START_TEST(test_admin_init_v2_upgrades_to_latest_keeps_rows)
{
    make_v2(db);
    /* A pruned head: sqlite_sequence (7) is above max(id) (5). */
    tu_sql(db, "INSERT INTO events(channel, data) VALUES"
               " ('a', '1'), ('a', '2'), ('b', '3'), ('a', '4'), ('b', '5'),"
               " ('a', '6'), ('a', '7');"
               "DELETE FROM events WHERE id > 5");
    struct sse_admin *a = NULL;
    int from = -1, to = -1;
    ck_assert_int_eq(sse_admin_open(db, 0, 5000, &a), 0);
    ck_assert_int_eq(sse_admin_init(a, &from, &to), 0);
    ck_assert_int_eq(from, 2);
    ck_assert_int_eq(to, SSE_SCHEMA_VERSION);
    int64_t id = 0;
    ck_assert_int_eq(sse_admin_publish(a, "a", NULL, "8", 1, &id), 0);
    ck_assert_int_eq(id, 8);
    sse_admin_close(a);

    ck_assert_int_eq(raw_i64(db, "PRAGMA user_version"), SSE_SCHEMA_VERSION);
    char *rows = raw_text(db, "SELECT group_concat(id || channel || data, ',')"
                              " FROM (SELECT * FROM events ORDER BY id)");
    ck_assert_str_eq(rows, "1a1,2a2,3b3,4a4,5b5,8a8");
    free(rows);
    /* The upgraded log refuses what a new one refuses. */
    char msg[256];
    struct sse_event_row big = {
        INT64_C(1000000000000000000), "a", 1, NULL, 0, "x", 1, 0};
    ck_assert_int_eq(raw_insert(db, &big, msg, sizeof msg), SQLITE_CONSTRAINT);
    struct sse_event_row nul = {-1, "a\0b", 3, NULL, 0, "x", 1, 0};
    ck_assert_int_eq(raw_insert(db, &nul, msg, sizeof msg), SQLITE_CONSTRAINT);
    ck_assert_int_eq(raw_exec_rc(db, "INSERT INTO events(id, data)"
                                     " VALUES (6, 'below the head')"),
                     SQLITE_CONSTRAINT);
}
END_TEST

START_TEST(test_admin_init_v2_ids_above_max_refused)
{
    /* Version 2 let explicit ids past 18 digits in (no client can resume
     * from them); the upgrade says so instead of leaving a log that would
     * refuse every INSERT. */
    make_v2(db);
    tu_sql(db, "INSERT INTO events(channel, data) VALUES ('a', 'ok');"
               "INSERT INTO events(id, channel, data)"
               " VALUES (1000000000000000000, 'a', 'too big')");
    struct sse_admin *a = NULL;
    int from = -1;
    ck_assert_int_eq(sse_admin_open(db, 0, 5000, &a), 0);
    ck_assert_int_eq(sse_admin_init(a, &from, NULL), SSE_ESCHEMA);
    ck_assert_int_eq(from, -1);
    ck_assert_ptr_nonnull(
        strstr(sse_admin_errmsg(a), "above 999999999999999999"));
    sse_admin_close(a);
    ck_assert_int_eq(raw_i64(db, "PRAGMA user_version"), 2);
    ck_assert_int_eq(raw_i64(db, "SELECT count(*) FROM events"), 2);

    /* The README's repair, then init succeeds. */
    tu_sql(db, "DELETE FROM events WHERE id > 999999999999999999;"
               "UPDATE sqlite_sequence SET seq = (SELECT coalesce(max(id), 0)"
               " FROM events) WHERE name = 'events'");
    ck_assert_int_eq(sse_admin_open(db, 0, 5000, &a), 0);
    ck_assert_int_eq(sse_admin_init(a, &from, NULL), 0);
    ck_assert_int_eq(from, 2);
    int64_t id = 0;
    ck_assert_int_eq(sse_admin_publish(a, "a", NULL, "x", 1, &id), 0);
    ck_assert_int_eq(id, 2);
    sse_admin_close(a);
}
END_TEST

START_TEST(test_admin_init_newer_version_refused)
{
    make_v1(db);
    tu_sql(db, "PRAGMA user_version = 99");
    struct sse_admin *a = NULL;
    int from = -1, to = -1;
    ck_assert_int_eq(sse_admin_open(db, 0, 5000, &a), 0);
    ck_assert_int_eq(sse_admin_init(a, &from, &to), SSE_ESCHEMA);
    ck_assert_int_eq(from, -1);
    ck_assert_int_eq(to, -1);
    ck_assert_ptr_nonnull(strstr(sse_admin_errmsg(a), "99"));
    sse_admin_close(a);

    /* Refused means untouched: no downgrade, no journal mode change. */
    ck_assert_int_eq(raw_i64(db, "PRAGMA user_version"), 99);
    char *mode = raw_text(db, "PRAGMA journal_mode");
    ck_assert_str_eq(mode, "delete");
    free(mode);
}
END_TEST

START_TEST(test_admin_init_foreign_events_table_refused)
{
    raw_create(db, "CREATE TABLE events (x INTEGER)");
    struct sse_admin *a = NULL;
    ck_assert_int_eq(sse_admin_open(db, 0, 5000, &a), 0);
    ck_assert_int_eq(sse_admin_init(a, NULL, NULL), SSE_ESCHEMA);
    ck_assert_str_ne(sse_admin_errmsg(a), "");
    sse_admin_close(a);
    ck_assert_int_eq(raw_i64(db, "PRAGMA user_version"), 0);
}
END_TEST

START_TEST(test_admin_init_other_tables_kept)
{
    /* sselite may live in the application's own database (outbox). */
    raw_create(db, "CREATE TABLE orders (id INTEGER PRIMARY KEY, total INT);"
                   "INSERT INTO orders(total) VALUES (42)");
    struct sse_admin *a = NULL;
    int from = -1;
    ck_assert_int_eq(sse_admin_open(db, 0, 5000, &a), 0);
    ck_assert_int_eq(sse_admin_init(a, &from, NULL), 0);
    ck_assert_int_eq(from, 0);
    sse_admin_close(a);
    ck_assert_int_eq(raw_i64(db, "SELECT total FROM orders"), 42);
    ck_assert_int_eq(raw_i64(db, "PRAGMA user_version"), SSE_SCHEMA_VERSION);
}
END_TEST

START_TEST(test_admin_open_locked_ebusy)
{
    struct sse_admin *a = NULL;
    make_v1(db);
    sqlite3 *h = raw_open(db);
    ck_assert_int_eq(sqlite3_exec(h, "BEGIN EXCLUSIVE", NULL, NULL, NULL),
                     SQLITE_OK);
    ck_assert_int_eq(sse_admin_open(db, 0, 50, &a), SSE_EBUSY);
    ck_assert_int_eq(sqlite3_exec(h, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(h);
    ck_assert_int_eq(raw_i64(db, "PRAGMA user_version"), 1);
}
END_TEST

/* --- publish --- */

START_TEST(test_admin_publish_ids_increase)
{
    struct sse_admin *a = open_init();
    int64_t prev = 0;
    for (int i = 0; i < 50; i++) {
        int64_t id = -1;
        ck_assert_int_eq(sse_admin_publish(a, "c", NULL, "x", 1, &id), 0);
        ck_assert_int_gt(id, prev);
        prev = id;
    }
    ck_assert_int_eq(prev, 50);
    /* id may be NULL. */
    ck_assert_int_eq(sse_admin_publish(a, "c", NULL, "x", 1, NULL), 0);
    sse_admin_close(a);
    ck_assert_int_eq(raw_i64(db, "SELECT max(id) FROM events"), 51);
}
END_TEST

START_TEST(test_admin_publish_stores_fields)
{
    struct sse_admin *a = open_init();
    int64_t id = 0;
    ck_assert_int_eq(sse_admin_publish(a, NULL, NULL, "a", 1, &id), 0);
    ck_assert_int_eq(sse_admin_publish(a, "x.y:z/w@v-1_2", "", "", 0, &id), 0);
    ck_assert_int_eq(sse_admin_publish(a, "n", "update", NULL, 0, &id), 0);
    sse_admin_close(a);

    char *s = raw_text(db, "SELECT channel FROM events WHERE id = 1");
    ck_assert_str_eq(s, SSE_CHANNEL_DEFAULT);
    free(s);
    ck_assert_int_eq(raw_i64(db, "SELECT count(*) FROM events"
                                 " WHERE event IS NULL"),
                     2);
    s = raw_text(db, "SELECT channel || '|' || data FROM events WHERE id = 2");
    ck_assert_str_eq(s, "x.y:z/w@v-1_2|");
    free(s);
    s = raw_text(db, "SELECT event || '|' || typeof(data) FROM events"
                     " WHERE id = 3");
    ck_assert_str_eq(s, "update|text");
    free(s);
    /* created_at is milliseconds since the epoch: after 2020, and now. */
    ck_assert_int_gt(raw_i64(db, "SELECT min(created_at) FROM events"),
                     INT64_C(1577836800000));
}
END_TEST

START_TEST(test_admin_publish_data_byte_exact)
{
    static const char data[] = "a\r\nb\rc\n\n  lead\0nul \xF0\x9F\x98\x80\n";
    struct sse_admin *a = open_init();
    int64_t id = 0;
    ck_assert_int_eq(sse_admin_publish(a, "c", "t", data, sizeof data - 1, &id),
                     0);
    sse_admin_close(a);

    char *hex = raw_text(db, "SELECT hex(CAST(data AS BLOB)) FROM events");
    char want[2 * sizeof data + 1];
    for (size_t i = 0; i + 1 < sizeof data; i++)
        snprintf(want + 2 * i, 3, "%02X", (unsigned char)data[i]);
    ck_assert_str_eq(hex, want);
    free(hex);
    ck_assert_int_eq(raw_i64(db, "SELECT typeof(data) = 'text' FROM events"),
                     1);
}
END_TEST

START_TEST(test_admin_publish_bad_channel_einval)
{
    char longname[130];
    memset(longname, 'a', sizeof longname - 1);
    longname[sizeof longname - 1] = '\0'; /* 129 bytes: one too many */
    const char *bad[] = {"a b", "", "é", "a\nb", "x#y", "a?b", longname};
    struct sse_admin *a = open_init();
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int64_t id = -7;
        ck_assert_msg(sse_admin_publish(a, bad[i], NULL, "d", 1, &id) ==
                          SSE_EINVAL,
                      "channel '%s' accepted", bad[i]);
        ck_assert_int_eq(id, -7);
    }
    longname[128] = '\0'; /* 128 bytes is the limit */
    ck_assert_int_eq(sse_admin_publish(a, longname, NULL, "d", 1, NULL), 0);
    ck_assert_str_ne(sse_admin_errmsg(a), "");
    sse_admin_close(a);
    ck_assert_int_eq(raw_i64(db, "SELECT count(*) FROM events"), 1);
}
END_TEST

START_TEST(test_admin_publish_bad_type_einval)
{
    char longtype[130];
    memset(longtype, 't', sizeof longtype - 1);
    longtype[sizeof longtype - 1] = '\0';
    const char *bad[] = {"a\nb", "a\rb", "\n", longtype};
    struct sse_admin *a = open_init();
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        ck_assert_msg(sse_admin_publish(a, "c", bad[i], "d", 1, NULL) ==
                          SSE_EINVAL,
                      "type %zu accepted", i);
    longtype[128] = '\0';
    ck_assert_int_eq(sse_admin_publish(a, "c", longtype, "d", 1, NULL), 0);
    /* Counted in bytes: 65 two-byte characters are 130 bytes, too many. */
    char wide[2 * 65 + 1];
    for (size_t i = 0; i < 65; i++)
        memcpy(wide + 2 * i, "\xC3\xA9", 2);
    wide[2 * 65] = '\0';
    ck_assert_int_eq(sse_admin_publish(a, "c", wide, "d", 1, NULL), SSE_EINVAL);
    ck_assert_ptr_nonnull(strstr(sse_admin_errmsg(a), "128 bytes"));
    wide[2 * 64] = '\0';
    ck_assert_int_eq(sse_admin_publish(a, "c", wide, "d", 1, NULL), 0);
    ck_assert_int_eq(sse_admin_publish(a, "c", "with space: ok", "d", 1, NULL),
                     0);
    sse_admin_close(a);
}
END_TEST

START_TEST(test_admin_publish_uninitialised_eschema)
{
    struct sse_admin *a = NULL;
    ck_assert_int_eq(sse_admin_open(db, 1, 5000, &a), 0);
    ck_assert_int_eq(sse_admin_publish(a, "c", NULL, "d", 1, NULL),
                     SSE_ESCHEMA);
    ck_assert_int_eq(sse_admin_prune(a, 0, -1, NULL, NULL), SSE_ESCHEMA);
    struct sse_admin_stats st;
    ck_assert_int_eq(sse_admin_stats(a, &st, NULL, NULL), SSE_ESCHEMA);
    sse_admin_close(a);
}
END_TEST

START_TEST(test_admin_publish_locked_ebusy)
{
    struct sse_admin *a = NULL;
    sse_admin_close(open_init());
    ck_assert_int_eq(sse_admin_open(db, 0, 50, &a), 0);
    sqlite3 *h = raw_open(db);
    ck_assert_int_eq(sqlite3_exec(h, "BEGIN IMMEDIATE", NULL, NULL, NULL),
                     SQLITE_OK);
    int64_t id = -7;
    ck_assert_int_eq(sse_admin_publish(a, "c", NULL, "d", 1, &id), SSE_EBUSY);
    ck_assert_int_eq(id, -7);
    ck_assert_int_eq(sqlite3_exec(h, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(h);
    ck_assert_int_eq(sse_admin_publish(a, "c", NULL, "d", 1, &id), 0);
    ck_assert_int_eq(id, 1);
    sse_admin_close(a);
}
END_TEST

/* --- idempotent publish (schema version 4) --- */

START_TEST(test_admin_publish_idem_retry_returns_first_id)
{
    struct sse_admin *a = open_init();
    int64_t first = 0, again = 0, other = 0;
    int dup = -1;
    ck_assert_int_eq(sse_admin_publish_idem(a, "orders", "paid", "v1", 2,
                                            "order-7", &first, &dup),
                     0);
    ck_assert_int_eq(dup, 0);
    publish_n(a, "orders", 2);
    /* A retry (even with other data) stores nothing and gets the first id. */
    ck_assert_int_eq(sse_admin_publish_idem(a, "orders", "paid", "v2", 2,
                                            "order-7", &again, &dup),
                     0);
    ck_assert_int_eq(dup, 1);
    ck_assert_int_eq(again, first);
    /* The same key in another channel is another event. */
    ck_assert_int_eq(sse_admin_publish_idem(a, "audit", NULL, "x", 1, "order-7",
                                            &other, &dup),
                     0);
    ck_assert_int_eq(dup, 0);
    ck_assert_int_gt(other, first);
    sse_admin_close(a);
    ck_assert_int_eq(raw_i64(db, "SELECT count(*) FROM events"
                                 " WHERE idem_key = 'order-7'"),
                     2);
    char *data = raw_text(db, "SELECT data FROM events WHERE channel ="
                              " 'orders' AND idem_key = 'order-7'");
    ck_assert_str_eq(data, "v1");
    free(data);
}
END_TEST

START_TEST(test_admin_publish_idem_null_key_never_collides)
{
    struct sse_admin *a = open_init();
    int64_t id1 = 0, id2 = 0;
    int dup = -1;
    ck_assert_int_eq(
        sse_admin_publish_idem(a, "c", NULL, "x", 1, NULL, &id1, &dup), 0);
    ck_assert_int_eq(dup, 0);
    ck_assert_int_eq(
        sse_admin_publish_idem(a, "c", NULL, "x", 1, NULL, &id2, &dup), 0);
    ck_assert_int_eq(dup, 0);
    ck_assert_int_gt(id2, id1);
    sse_admin_close(a);
    ck_assert_int_eq(raw_i64(db, "SELECT count(*) FROM events"), 2);
    /* Raw publishers: plain INSERTs without a key are never compared. */
    tu_sql(db, "INSERT INTO events(channel, data) VALUES ('c', 'y');"
               "INSERT INTO events(channel, data, idem_key)"
               " VALUES ('c', 'z', NULL)");
    ck_assert_int_eq(raw_i64(db, "SELECT count(*) FROM events"), 4);
}
END_TEST

START_TEST(test_admin_publish_idem_key_limits_einval)
{
    struct sse_admin *a = open_init();
    char key[SSE_IDEM_KEY_MAX + 2];
    memset(key, 'k', sizeof key - 1);
    key[SSE_IDEM_KEY_MAX + 1] = '\0';
    int64_t id = -7;
    ck_assert_int_eq(
        sse_admin_publish_idem(a, "c", NULL, "x", 1, key, &id, NULL),
        SSE_EINVAL);
    ck_assert_int_eq(id, -7);
    ck_assert_ptr_nonnull(strstr(sse_admin_errmsg(a), "idem_key"));
    ck_assert_int_eq(
        sse_admin_publish_idem(a, "c", NULL, "x", 1, "", &id, NULL),
        SSE_EINVAL);
    key[SSE_IDEM_KEY_MAX] = '\0';
    ck_assert_int_eq(
        sse_admin_publish_idem(a, "c", NULL, "x", 1, key, &id, NULL), 0);
    sse_admin_close(a);
    ck_assert_int_eq(raw_i64(db, "SELECT count(*) FROM events"), 1);
    /* The schema refuses the same for raw publishers and updates. */
    ck_assert_int_eq(raw_exec_rc(db, "INSERT INTO events(data, idem_key)"
                                     " VALUES ('x', x'6b6b')"),
                     SQLITE_CONSTRAINT);
    ck_assert_int_eq(
        raw_exec_rc(db, "UPDATE events SET idem_key = '' WHERE id = 1"),
        SQLITE_CONSTRAINT);
}
END_TEST

START_TEST(test_admin_publish_idem_key_freed_by_prune)
{
    /* The key is remembered while its event is stored. */
    struct sse_admin *a = open_init();
    int64_t first = 0, later = 0;
    int dup = -1;
    ck_assert_int_eq(
        sse_admin_publish_idem(a, "c", NULL, "x", 1, "k", &first, &dup), 0);
    publish_n(a, "c", 1);
    ck_assert_int_eq(sse_admin_prune(a, 1, -1, NULL, NULL), 0);
    ck_assert_int_eq(
        sse_admin_publish_idem(a, "c", NULL, "x", 1, "k", &later, &dup), 0);
    ck_assert_int_eq(dup, 0);
    ck_assert_int_gt(later, first);
    sse_admin_close(a);
}
END_TEST

START_TEST(test_admin_publish_idem_old_schema_eschema)
{
    make_v2(db);
    struct sse_admin *a = NULL;
    ck_assert_int_eq(sse_admin_open(db, 0, 5000, &a), 0);
    int64_t id = -7;
    ck_assert_int_eq(
        sse_admin_publish_idem(a, "c", NULL, "x", 1, "k", &id, NULL),
        SSE_ESCHEMA);
    ck_assert_int_eq(id, -7);
    ck_assert_ptr_nonnull(strstr(sse_admin_errmsg(a), "sselite init"));
    /* Without a key an old log still takes events. */
    ck_assert_int_eq(sse_admin_publish(a, "c", NULL, "x", 1, &id), 0);
    ck_assert_int_eq(sse_admin_init(a, NULL, NULL), 0);
    ck_assert_int_eq(
        sse_admin_publish_idem(a, "c", NULL, "x", 1, "k", &id, NULL), 0);
    ck_assert_int_eq(id, 2);
    sse_admin_close(a);
}
END_TEST

START_TEST(test_admin_publish_idem_locked_ebusy)
{
    struct sse_admin *a = NULL;
    sse_admin_close(open_init());
    ck_assert_int_eq(sse_admin_open(db, 0, 50, &a), 0);
    sqlite3 *h = raw_open(db);
    ck_assert_int_eq(sqlite3_exec(h, "BEGIN IMMEDIATE", NULL, NULL, NULL),
                     SQLITE_OK);
    int64_t id = -7;
    ck_assert_int_eq(
        sse_admin_publish_idem(a, "c", NULL, "d", 1, "k", &id, NULL),
        SSE_EBUSY);
    ck_assert_int_eq(id, -7);
    ck_assert_int_eq(sqlite3_exec(h, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(h);
    /* The failed call left no transaction open behind it. */
    ck_assert_int_eq(
        sse_admin_publish_idem(a, "c", NULL, "d", 1, "k", &id, NULL), 0);
    ck_assert_int_eq(id, 1);
    ck_assert_int_eq(sse_admin_publish(a, "c", NULL, "d", 1, &id), 0);
    sse_admin_close(a);
}
END_TEST

/* --- the schema version 2 id guard (raw SQL, as other publishers) --- */

START_TEST(test_admin_init_guard_refuses_id_at_or_below_head)
{
    struct sse_admin *a = open_init();
    publish_n(a, "c", 5);
    ck_assert_int_eq(sse_admin_prune(a, 1, -1, NULL, NULL), 0);
    sse_admin_close(a);

    /* Ids 1..4 are free rows now, but a client may be past them. */
    ck_assert_int_eq(raw_exec_rc(db, "INSERT INTO events(id, data)"
                                     " VALUES (3, 'late')"),
                     SQLITE_CONSTRAINT);
    ck_assert_int_eq(raw_exec_rc(db, "INSERT INTO events(id, data)"
                                     " VALUES (5, 'dup')"),
                     SQLITE_CONSTRAINT);
    ck_assert_int_eq(raw_exec_rc(db, "INSERT INTO events(id, data)"
                                     " VALUES (0, 'zero')"),
                     SQLITE_CONSTRAINT);
    /* Above the head is harmless and allowed; SQLite-assigned ids go on. */
    ck_assert_int_eq(raw_exec_rc(db, "INSERT INTO events(id, data)"
                                     " VALUES (10, 'ahead')"),
                     SQLITE_OK);
    ck_assert_int_eq(raw_exec_rc(db, "INSERT INTO events(data)"
                                     " VALUES ('next')"),
                     SQLITE_OK);
    ck_assert_int_eq(raw_i64(db, "SELECT max(id) FROM events"), 11);
    ck_assert_int_eq(raw_i64(db, "SELECT count(*) FROM events"), 3);
}
END_TEST

/* --- the schema version 3 limits (raw SQL, as other publishers) --- */

/* The schema states each limit as a number of its own; these tests pin
 * every one to lib/sse_limits.h, on both sides of the boundary. */

START_TEST(test_admin_limits_id_max)
{
    sse_admin_close(open_init());
    char msg[256];
    const int64_t too_big[] = {SSE_ID_MAX + 1, INT64_MAX};
    for (size_t i = 0; i < 2; i++) {
        struct sse_event_row r = {too_big[i], "c", 1, NULL, 0, "x", 1, 0};
        ck_assert_int_eq(raw_insert(db, &r, msg, sizeof msg),
                         SQLITE_CONSTRAINT);
        ck_assert_ptr_nonnull(strstr(msg, "at most 999999999999999999"));
    }
    struct sse_event_row last_but_one = {
        SSE_ID_MAX - 1, "c", 1, NULL, 0, "x", 1, 0};
    ck_assert_int_eq(raw_insert(db, &last_but_one, msg, sizeof msg), SQLITE_OK);
    /* SQLite assigns the last id, then has none left to give. */
    struct sse_event_row next = {-1, "c", 1, NULL, 0, "y", 1, 0};
    ck_assert_int_eq(raw_insert(db, &next, msg, sizeof msg), SQLITE_OK);
    ck_assert_int_eq(raw_i64(db, "SELECT max(id) FROM events"), SSE_ID_MAX);
    ck_assert_int_eq(raw_insert(db, &next, msg, sizeof msg), SQLITE_CONSTRAINT);
    ck_assert_ptr_nonnull(strstr(msg, "last id"));
    struct sse_admin *a = NULL;
    ck_assert_int_eq(sse_admin_open(db, 0, 5000, &a), 0);
    ck_assert_int_eq(sse_admin_publish(a, "c", NULL, "z", 1, NULL), SSE_EINVAL);
    sse_admin_close(a);
    ck_assert_int_eq(raw_i64(db, "SELECT count(*) FROM events"), 2);
    ck_assert_int_eq(raw_exec_rc(db,
                                 "UPDATE events SET id = 1000000000000000000"
                                 " WHERE id = 999999999999999998"),
                     SQLITE_CONSTRAINT);
}
END_TEST

START_TEST(test_admin_limits_channel_bytes_and_nul)
{
    sse_admin_close(open_init());
    char name[SSE_CHANNEL_MAX + 1];
    memset(name, 'n', sizeof name);
    char msg[256];
    struct sse_event_row r = {-1, name, SSE_CHANNEL_MAX + 1, NULL, 0, "x",
                              1,  0};
    ck_assert_int_eq(raw_insert(db, &r, msg, sizeof msg), SQLITE_CONSTRAINT);
    ck_assert_ptr_nonnull(strstr(msg, "1 to 128 bytes"));
    r.channel_len = SSE_CHANNEL_MAX;
    ck_assert_int_eq(raw_insert(db, &r, msg, sizeof msg), SQLITE_OK);
    /* length() and GLOB stop at NUL; version 1's CHECK let these in. */
    const char *with_nul[] = {"a\0b", "a\0 bad", "\0"};
    const size_t lens[] = {3, 7, 1};
    for (size_t i = 0; i < 3; i++) {
        struct sse_event_row n = {-1, with_nul[i], lens[i], NULL, 0, "x", 1, 0};
        ck_assert_msg(raw_insert(db, &n, msg, sizeof msg) == SQLITE_CONSTRAINT,
                      "channel %zu with NUL accepted", i);
    }
    ck_assert_int_eq(raw_exec_rc(db, "UPDATE events SET channel = 'a' ||"
                                     " char(0) || 'b'"),
                     SQLITE_CONSTRAINT);
    ck_assert_int_eq(raw_i64(db, "SELECT count(*) FROM events"), 1);
}
END_TEST

START_TEST(test_admin_limits_type_bytes_and_nul)
{
    sse_admin_close(open_init());
    char t[SSE_EVENT_TYPE_MAX + 2];
    for (size_t i = 0; i + 1 < sizeof t; i += 2)
        memcpy(t + i, "\xC3\xA9", 2); /* é: two bytes */
    char msg[256];
    struct sse_event_row r = {-1, "c", 1, t, SSE_EVENT_TYPE_MAX + 2, "x", 1, 0};
    ck_assert_int_eq(raw_insert(db, &r, msg, sizeof msg), SQLITE_CONSTRAINT);
    ck_assert_ptr_nonnull(strstr(msg, "at most 128 bytes"));
    r.type_len = SSE_EVENT_TYPE_MAX;
    ck_assert_int_eq(raw_insert(db, &r, msg, sizeof msg), SQLITE_OK);
    struct sse_event_row n = {-1, "c", 1, "ok\0x", 4, "x", 1, 0};
    ck_assert_int_eq(raw_insert(db, &n, msg, sizeof msg), SQLITE_CONSTRAINT);
    ck_assert_ptr_nonnull(strstr(msg, "NUL"));
    /* CR and LF after a NUL are seen too. */
    struct sse_event_row lf = {-1, "c", 1, "\0\n", 2, "x", 1, 0};
    ck_assert_int_eq(raw_insert(db, &lf, msg, sizeof msg), SQLITE_CONSTRAINT);
    ck_assert_int_eq(
        raw_exec_rc(db, "UPDATE events SET event = 'a' || char(0)"),
        SQLITE_CONSTRAINT);
    ck_assert_int_eq(raw_i64(db, "SELECT count(*) FROM events"), 1);
}
END_TEST

START_TEST(test_admin_limits_data_bytes)
{
    struct sse_admin *a = open_init();
    char *data = malloc(SSE_EVENT_DATA_MAX + 1);
    ck_assert_ptr_nonnull(data);
    memset(data, 'd', SSE_EVENT_DATA_MAX + 1);
    data[7] = '\0'; /* NUL in data is delivered byte for byte: allowed */
    char msg[256];
    struct sse_event_row r = {-1, "c", 1, NULL, 0, data, SSE_EVENT_DATA_MAX + 1,
                              0};
    ck_assert_int_eq(raw_insert(db, &r, msg, sizeof msg), SQLITE_CONSTRAINT);
    ck_assert_ptr_nonnull(strstr(msg, "at most 4194304 bytes"));
    ck_assert_int_eq(
        sse_admin_publish(a, "c", NULL, data, SSE_EVENT_DATA_MAX + 1, NULL),
        SSE_EINVAL);
    ck_assert_ptr_nonnull(strstr(sse_admin_errmsg(a), "4194304"));
    r.data_len = SSE_EVENT_DATA_MAX;
    ck_assert_int_eq(raw_insert(db, &r, msg, sizeof msg), SQLITE_OK);
    /* Bytes, not characters: 2^21 two-byte characters fill the limit,
     * and one more byte is too many. */
    for (size_t i = 0; i + 1 < SSE_EVENT_DATA_MAX + 1; i += 2)
        memcpy(data + i, "\xC3\xA9", 2);
    ck_assert_int_eq(
        sse_admin_publish(a, "c", NULL, data, SSE_EVENT_DATA_MAX, NULL), 0);
    memcpy(data + SSE_EVENT_DATA_MAX, "x", 1);
    ck_assert_int_eq(
        sse_admin_publish(a, "c", NULL, data, SSE_EVENT_DATA_MAX + 1, NULL),
        SSE_EINVAL);
    sse_admin_close(a);
    free(data);
    ck_assert_int_eq(raw_i64(db, "SELECT count(*) FROM events"), 2);
    ck_assert_int_eq(raw_i64(db, "SELECT max(length(CAST(data AS BLOB)))"
                                 " FROM events"),
                     SSE_EVENT_DATA_MAX);
}
END_TEST

/* --- prune --- */

START_TEST(test_admin_prune_keep_newest)
{
    struct sse_admin *a = open_init();
    publish_n(a, "c", 10);
    int64_t deleted = -1;
    ck_assert_int_eq(sse_admin_prune(a, 3, -1, NULL, &deleted), 0);
    ck_assert_int_eq(deleted, 7);
    ck_assert_int_eq(sse_admin_prune(a, 3, -1, NULL, &deleted), 0);
    ck_assert_int_eq(deleted, 0);
    ck_assert_int_eq(sse_admin_prune(a, 100, -1, NULL, &deleted), 0);
    ck_assert_int_eq(deleted, 0);
    sse_admin_close(a);
    ck_assert_int_eq(raw_i64(db, "SELECT min(id) FROM events"), 8);
    ck_assert_int_eq(raw_i64(db, "SELECT count(*) FROM events"), 3);
}
END_TEST

START_TEST(test_admin_prune_keep_zero_empties)
{
    struct sse_admin *a = open_init();
    publish_n(a, "c", 4);
    int64_t deleted = -1;
    ck_assert_int_eq(sse_admin_prune(a, 0, -1, NULL, &deleted), 0);
    ck_assert_int_eq(deleted, 4);
    ck_assert_int_eq(sse_admin_prune(a, 0, -1, NULL, &deleted), 0);
    ck_assert_int_eq(deleted, 0);
    sse_admin_close(a);
}
END_TEST

START_TEST(test_admin_prune_older_than)
{
    struct sse_admin *a = open_init();
    publish_n(a, "c", 6);
    /* Back-date ids 1..4 by two hours (and id 1 by two days). */
    tu_sql(db, "UPDATE events SET created_at = created_at - 7200000"
               " WHERE id <= 4;"
               "UPDATE events SET created_at = created_at - 172800000"
               " WHERE id = 1");
    int64_t deleted = -1;
    ck_assert_int_eq(sse_admin_prune(a, -1, 86400000, NULL, &deleted), 0);
    ck_assert_int_eq(deleted, 1);
    ck_assert_int_eq(sse_admin_prune(a, -1, 3600000, NULL, &deleted), 0);
    ck_assert_int_eq(deleted, 3);
    ck_assert_int_eq(sse_admin_prune(a, -1, INT64_MAX, NULL, &deleted), 0);
    ck_assert_int_eq(deleted, 0);
    sse_admin_close(a);
    ck_assert_int_eq(raw_i64(db, "SELECT min(id) FROM events"), 5);
}
END_TEST

START_TEST(test_admin_prune_either_rule)
{
    struct sse_admin *a = open_init();
    publish_n(a, "c", 10);
    tu_sql(db, "UPDATE events SET created_at = created_at - 7200000"
               " WHERE id <= 2");
    int64_t deleted = -1;
    /* keep 5 removes 1..5; the age rule alone would remove 1..2. */
    ck_assert_int_eq(sse_admin_prune(a, 5, 3600000, NULL, &deleted), 0);
    ck_assert_int_eq(deleted, 5);
    tu_sql(db, "UPDATE events SET created_at = created_at - 7200000"
               " WHERE id <= 8");
    /* keep 4 removes nothing more than age does (6..8). */
    ck_assert_int_eq(sse_admin_prune(a, 4, 3600000, NULL, &deleted), 0);
    ck_assert_int_eq(deleted, 3);
    sse_admin_close(a);
    ck_assert_int_eq(raw_i64(db, "SELECT count(*) FROM events"), 2);
}
END_TEST

START_TEST(test_admin_prune_channel_only)
{
    struct sse_admin *a = open_init();
    publish_n(a, "a", 5); /* ids 1..5 */
    publish_n(a, "b", 5); /* ids 6..10 */
    publish_n(a, "a", 2); /* ids 11..12 */
    int64_t deleted = -1;
    ck_assert_int_eq(sse_admin_prune(a, 2, -1, "a", &deleted), 0);
    ck_assert_int_eq(deleted, 5);
    ck_assert_int_eq(sse_admin_prune(a, -1, 0, "none", &deleted), 0);
    ck_assert_int_eq(deleted, 0);
    sse_admin_close(a);
    ck_assert_int_eq(raw_i64(db, "SELECT count(*) FROM events"
                                 " WHERE channel = 'b'"),
                     5);
    ck_assert_int_eq(raw_i64(db, "SELECT min(id) FROM events"
                                 " WHERE channel = 'a'"),
                     11);
}
END_TEST

START_TEST(test_admin_prune_no_rule_einval)
{
    struct sse_admin *a = open_init();
    publish_n(a, "c", 2);
    int64_t deleted = -7;
    ck_assert_int_eq(sse_admin_prune(a, -1, -1, NULL, &deleted), SSE_EINVAL);
    ck_assert_int_eq(deleted, -7);
    sse_admin_close(a);
    ck_assert_int_eq(raw_i64(db, "SELECT count(*) FROM events"), 2);
}
END_TEST

START_TEST(test_admin_prune_newest_ids_not_reused)
{
    struct sse_admin *a = open_init();
    publish_n(a, "c", 5);
    ck_assert_int_eq(sse_admin_prune(a, 0, -1, NULL, NULL), 0);
    int64_t id = 0;
    ck_assert_int_eq(sse_admin_publish(a, "c", NULL, "d", 1, &id), 0);
    ck_assert_int_eq(id, 6);
    sse_admin_close(a);

    /* Also across connections and after deleting the newest row by hand. */
    tu_sql(db, "DELETE FROM events WHERE id = 6");
    ck_assert_int_eq(sse_admin_open(db, 0, 5000, &a), 0);
    ck_assert_int_eq(sse_admin_publish(a, "c", NULL, "d", 1, &id), 0);
    ck_assert_int_eq(id, 7);
    sse_admin_close(a);
}
END_TEST

/* --- stats --- */

struct channel_seen {
    int n;
    char names[4][16];
    int64_t rows[4];
    int64_t last[4];
    int64_t resume_after[4];
    int stop_after; /* return 1 after this many calls (0 = never) */
};

static int record_channel(const struct sse_admin_channel *ch, void *ctx)
{
    struct channel_seen *s = ctx;
    ck_assert_int_lt(s->n, 4);
    snprintf(s->names[s->n], sizeof s->names[s->n], "%s", ch->name);
    s->rows[s->n] = ch->rows;
    s->last[s->n] = ch->last_id;
    s->resume_after[s->n] = ch->resume_after;
    s->n++;
    return s->stop_after && s->n >= s->stop_after ? 1 : 0;
}

START_TEST(test_admin_stats_numbers)
{
    struct sse_admin *a = open_init();
    publish_n(a, "b", 3);                                       /* 1..3 */
    publish_n(a, "a", 4);                                       /* 4..7 */
    ck_assert_int_eq(sse_admin_prune(a, 5, -1, NULL, NULL), 0); /* 3..7 */
    tu_sql(db, "UPDATE events SET created_at = 1000 WHERE id = 3;"
               "UPDATE events SET created_at = 2000 WHERE id = 7");

    struct sse_admin_stats st;
    struct channel_seen seen = {0};
    ck_assert_int_eq(sse_admin_stats(a, &st, record_channel, &seen), 0);
    ck_assert_int_eq(st.schema_version, SSE_SCHEMA_VERSION);
    ck_assert_str_eq(st.journal_mode, "wal");
    ck_assert_int_eq(st.rows, 5);
    ck_assert_int_eq(st.head_id, 7);
    ck_assert_int_eq(st.oldest_id, 3);
    ck_assert_int_eq(st.oldest_ms, 1000);
    ck_assert_int_eq(st.newest_ms, 2000);
    ck_assert_int_gt(st.db_bytes, 0);
    ck_assert_int_gt(st.wal_bytes, 0);

    ck_assert_int_eq(seen.n, 2);
    ck_assert_str_eq(seen.names[0], "a");
    ck_assert_int_eq(seen.rows[0], 4);
    ck_assert_int_eq(seen.last[0], 7);
    ck_assert_str_eq(seen.names[1], "b");
    ck_assert_int_eq(seen.rows[1], 1);
    ck_assert_int_eq(seen.last[1], 3);
    sse_admin_close(a);
}
END_TEST

START_TEST(test_admin_stats_empty_log)
{
    struct sse_admin *a = open_init();
    struct sse_admin_stats st;
    ck_assert_int_eq(sse_admin_stats(a, &st, NULL, NULL), 0);
    ck_assert_int_eq(st.rows, 0);
    ck_assert_int_eq(st.head_id, 0);
    ck_assert_int_eq(st.oldest_id, 1);
    ck_assert_int_eq(st.oldest_ms, 0);
    ck_assert_int_eq(st.newest_ms, 0);

    /* Emptied by pruning: head stays, oldest is head + 1. */
    publish_n(a, "c", 3);
    ck_assert_int_eq(sse_admin_prune(a, 0, -1, NULL, NULL), 0);
    ck_assert_int_eq(sse_admin_stats(a, &st, NULL, NULL), 0);
    ck_assert_int_eq(st.rows, 0);
    ck_assert_int_eq(st.head_id, 3);
    ck_assert_int_eq(st.oldest_id, 4);
    sse_admin_close(a);
}
END_TEST

START_TEST(test_admin_stats_callback_stops)
{
    struct sse_admin *a = open_init();
    publish_n(a, "a", 1);
    publish_n(a, "b", 1);
    publish_n(a, "c", 1);
    struct sse_admin_stats st;
    memset(&st, 0x5a, sizeof st);
    struct sse_admin_stats before = st;
    struct channel_seen seen = {.stop_after = 2};
    ck_assert_int_eq(sse_admin_stats(a, &st, record_channel, &seen), 1);
    ck_assert_int_eq(seen.n, 2);
    ck_assert_mem_eq(&st, &before, sizeof st);
    /* The read transaction was ended: a write goes through at once. */
    ck_assert_int_eq(sse_admin_publish(a, "d", NULL, "x", 1, NULL), 0);
    sse_admin_close(a);
}
END_TEST

START_TEST(test_admin_stats_v1_database)
{
    make_v1(db);
    tu_sql(db, "INSERT INTO events(data) VALUES ('x')");
    struct sse_admin *a = NULL;
    ck_assert_int_eq(sse_admin_open(db, 0, 5000, &a), 0);
    struct sse_admin_stats st;
    ck_assert_int_eq(sse_admin_stats(a, &st, NULL, NULL), 0);
    ck_assert_int_eq(st.schema_version, 1);
    ck_assert_str_eq(st.journal_mode, "delete");
    ck_assert_int_eq(st.rows, 1);
    ck_assert_int_eq(st.wal_bytes, 0);
    sse_admin_close(a);
}
END_TEST

/* A channel pruned harder than the rest resumes from its own horizon; a
 * channel that lost every row is still listed. */
START_TEST(test_admin_stats_channel_resume_after)
{
    struct sse_admin *a = open_init();
    publish_n(a, "a", 2); /* 1..2 */
    publish_n(a, "b", 3); /* 3..5 */
    publish_n(a, "c", 2); /* 6..7 */
    int64_t n = 0;
    ck_assert_int_eq(sse_admin_delete_through(a, "b", 4, 10, &n), 0);
    ck_assert_int_eq(n, 2);
    ck_assert_int_eq(sse_admin_delete_through(a, "c", 7, 10, &n), 0);
    ck_assert_int_eq(n, 2);
    struct sse_admin_stats st;
    struct channel_seen seen = {0};
    ck_assert_int_eq(sse_admin_stats(a, &st, record_channel, &seen), 0);
    ck_assert_int_eq(seen.n, 3);
    ck_assert_str_eq(seen.names[0], "a");
    ck_assert_int_eq(seen.resume_after[0], 0);
    ck_assert_str_eq(seen.names[1], "b");
    ck_assert_int_eq(seen.rows[1], 1);
    ck_assert_int_eq(seen.resume_after[1], 4);
    ck_assert_str_eq(seen.names[2], "c");
    ck_assert_int_eq(seen.rows[2], 0);
    ck_assert_int_eq(seen.last[2], 0);
    ck_assert_int_eq(seen.resume_after[2], 7);
    /* The log's lowest id raises every channel's horizon. */
    ck_assert_int_eq(sse_admin_delete_through(a, "a", 2, 10, &n), 0);
    seen.n = 0;
    ck_assert_int_eq(sse_admin_stats(a, &st, record_channel, &seen), 0);
    ck_assert_int_eq(st.oldest_id, 5);
    ck_assert_str_eq(seen.names[1], "b");
    ck_assert_int_eq(seen.resume_after[1], 4);
    sse_admin_close(a);
}
END_TEST

/* --- bounded pruning --- */

START_TEST(test_admin_pruned_trigger_records_any_delete)
{
    struct sse_admin *a = open_init();
    publish_n(a, "a", 3); /* 1..3 */
    publish_n(a, "b", 3); /* 4..6 */
    sse_admin_close(a);
    tu_sql(db, "DELETE FROM events WHERE id IN (2, 5);"
               "DELETE FROM events WHERE id = 1");
    ck_assert_int_eq(
        raw_i64(db, "SELECT through_id FROM events_pruned WHERE channel='a'"),
        2);
    ck_assert_int_eq(
        raw_i64(db, "SELECT through_id FROM events_pruned WHERE channel='b'"),
        5);
    ck_assert_int_eq(raw_i64(db, "SELECT count(*) FROM events_pruned"), 2);
}
END_TEST

START_TEST(test_admin_next_channel_walks_in_order)
{
    struct sse_admin *a = open_init();
    publish_n(a, "b", 2);
    publish_n(a, "a", 1);
    publish_n(a, "c/1", 1);
    char name[SSE_CHANNEL_MAX + 1] = "", next[SSE_CHANNEL_MAX + 1];
    const char *want[] = {"a", "b", "c/1"};
    int found = 0;
    for (size_t i = 0; i < 3; i++) {
        ck_assert_int_eq(sse_admin_next_channel(a, name, next, &found), 0);
        ck_assert_int_eq(found, 1);
        ck_assert_str_eq(next, want[i]);
        memcpy(name, next, sizeof name);
    }
    ck_assert_int_eq(sse_admin_next_channel(a, name, next, &found), 0);
    ck_assert_int_eq(found, 0);
    sse_admin_close(a);
}
END_TEST

START_TEST(test_admin_prune_cutoff_keep)
{
    struct sse_admin *a = open_init();
    for (int i = 0; i < 5; i++) { /* a: 1, 3, 5, 7, 9 */
        publish_n(a, "a", 1);
        publish_n(a, "b", 1);
    }
    int64_t cut = -1;
    ck_assert_int_eq(sse_admin_prune_cutoff(a, "a", 2, -1, &cut), 0);
    ck_assert_int_eq(cut, 5);
    ck_assert_int_eq(sse_admin_prune_cutoff(a, "a", 0, -1, &cut), 0);
    ck_assert_int_eq(cut, 9);
    ck_assert_int_eq(sse_admin_prune_cutoff(a, "a", 5, -1, &cut), 0);
    ck_assert_int_eq(cut, 0);
    ck_assert_int_eq(sse_admin_prune_cutoff(a, "nope", 0, -1, &cut), 0);
    ck_assert_int_eq(cut, 0);
    ck_assert_int_eq(sse_admin_prune_cutoff(a, "a", -1, -1, &cut), SSE_EINVAL);
    sse_admin_close(a);
}
END_TEST

START_TEST(test_admin_prune_cutoff_older_than)
{
    struct sse_admin *a = open_init();
    publish_n(a, "a", 6);
    sse_admin_close(a);
    /* 1-3 a day old, 4 new, 5 old again (a clock that went back), 6 new. */
    tu_sql(db, "UPDATE events SET created_at = created_at - 86400000"
               " WHERE id IN (1, 2, 3, 5)");
    ck_assert_int_eq(sse_admin_open(db, 0, 5000, &a), 0);
    int64_t cut = -1;
    ck_assert_int_eq(sse_admin_prune_cutoff(a, "a", -1, 3600000, &cut), 0);
    ck_assert_int_eq(cut, 3); /* up to the first young row */
    /* Either rule may decide: keep 1 goes further. */
    ck_assert_int_eq(sse_admin_prune_cutoff(a, "a", 1, 3600000, &cut), 0);
    ck_assert_int_eq(cut, 5);
    /* Every row old: all go. */
    ck_assert_int_eq(sse_admin_prune_cutoff(a, "a", -1, 0, &cut), 0);
    ck_assert_int_eq(cut, 6);
    sse_admin_close(a);
}
END_TEST

START_TEST(test_admin_delete_through_bounded_batches)
{
    struct sse_admin *a = open_init();
    for (int i = 0; i < 10; i++) { /* a: odd ids, b: even ids */
        publish_n(a, "a", 1);
        publish_n(a, "b", 1);
    }
    int64_t n = -1;
    ck_assert_int_eq(sse_admin_delete_through(a, "a", 15, 3, &n), 0);
    ck_assert_int_eq(n, 3);
    ck_assert_int_eq(
        raw_i64(db, "SELECT min(id) FROM events WHERE channel='a'"), 7);
    ck_assert_int_eq(sse_admin_delete_through(a, "a", 15, 3, &n), 0);
    ck_assert_int_eq(n, 3);
    ck_assert_int_eq(sse_admin_delete_through(a, "a", 15, 3, &n), 0);
    ck_assert_int_eq(n, 2);
    ck_assert_int_eq(
        raw_i64(db, "SELECT min(id) FROM events WHERE channel='a'"), 17);
    ck_assert_int_eq(
        raw_i64(db, "SELECT count(*) FROM events WHERE channel='b'"), 10);
    ck_assert_int_eq(
        raw_i64(db, "SELECT through_id FROM events_pruned WHERE channel='a'"),
        15);
    sse_admin_close(a);
}
END_TEST

START_TEST(test_admin_vacuum_shrinks_file)
{
    struct sse_admin *a = open_init();
    char big[4096];
    memset(big, 'x', sizeof big);
    for (int i = 0; i < 100; i++)
        ck_assert_int_eq(sse_admin_publish(a, "a", NULL, big, sizeof big, NULL),
                         0);
    int64_t n = 0;
    ck_assert_int_eq(sse_admin_delete_through(a, "a", 100, 1000, &n), 0);
    ck_assert_int_eq(sse_admin_checkpoint(a, NULL), 0);
    struct sse_admin_stats before, after;
    ck_assert_int_eq(sse_admin_stats(a, &before, NULL, NULL), 0);
    ck_assert_int_eq(sse_admin_vacuum(a), 0);
    ck_assert_int_eq(sse_admin_checkpoint(a, NULL), 0);
    ck_assert_int_eq(sse_admin_stats(a, &after, NULL, NULL), 0);
    ck_assert_int_lt(after.db_bytes, before.db_bytes / 4);
    sse_admin_close(a);
}
END_TEST

/* --- checkpoint --- */

START_TEST(test_admin_checkpoint_truncates_wal)
{
    struct sse_admin *a = open_init();
    publish_n(a, "c", 100);
    struct sse_admin_stats st;
    ck_assert_int_eq(sse_admin_stats(a, &st, NULL, NULL), 0);
    ck_assert_int_gt(st.wal_bytes, 0);
    int busy = -1;
    ck_assert_int_eq(sse_admin_checkpoint(a, &busy), 0);
    ck_assert_int_eq(busy, 0);
    ck_assert_int_eq(sse_admin_stats(a, &st, NULL, NULL), 0);
    ck_assert_int_eq(st.wal_bytes, 0);
    ck_assert_int_eq(st.rows, 100);
    ck_assert_int_eq(sse_admin_checkpoint(a, NULL), 0);
    sse_admin_close(a);
    ck_assert_int_eq(raw_i64(db, "SELECT count(*) FROM events"), 100);
}
END_TEST

START_TEST(test_admin_checkpoint_reader_reports_busy)
{
    struct sse_admin *a = open_init();
    sse_admin_close(a);
    ck_assert_int_eq(sse_admin_open(db, 0, 50, &a), 0);
    publish_n(a, "c", 10);

    /* A reader inside a read transaction pins the WAL. */
    sqlite3 *h = raw_open(db);
    sqlite3_stmt *st = NULL;
    ck_assert_int_eq(sqlite3_exec(h, "BEGIN", NULL, NULL, NULL), SQLITE_OK);
    ck_assert_int_eq(
        sqlite3_prepare_v2(h, "SELECT count(*) FROM events", -1, &st, NULL),
        SQLITE_OK);
    ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
    publish_n(a, "c", 10);

    int busy = -1;
    ck_assert_int_eq(sse_admin_checkpoint(a, &busy), 0);
    ck_assert_int_eq(busy, 1);

    sqlite3_finalize(st);
    ck_assert_int_eq(sqlite3_exec(h, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(h);
    ck_assert_int_eq(sse_admin_checkpoint(a, &busy), 0);
    ck_assert_int_eq(busy, 0);
    sse_admin_close(a);
}
END_TEST

static Suite *admin_suite(void)
{
    Suite *s = suite_create("admin");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_admin_grants_grant_revoke_list);
    tcase_add_test(tc, test_admin_grants_need_version_6);
    tcase_add_test(tc, test_admin_open_missing_file_enoent);
    tcase_add_test(tc, test_admin_open_path_through_file_enoent);
    tcase_add_test(tc, test_admin_open_not_a_database_ecorrupt);
    tcase_add_test(tc, test_admin_close_null_is_noop);
    tcase_add_test(tc, test_admin_init_new_file_latest_version_wal);
    tcase_add_test(tc, test_admin_init_twice_idempotent);
    tcase_add_test(tc, test_admin_init_v1_upgrades_to_latest);
    tcase_add_test(tc, test_admin_init_v2_upgrades_to_latest_keeps_rows);
    tcase_add_test(tc, test_admin_init_v2_ids_above_max_refused);
    tcase_add_test(tc, test_admin_init_newer_version_refused);
    tcase_add_test(tc, test_admin_init_foreign_events_table_refused);
    tcase_add_test(tc, test_admin_init_other_tables_kept);
    tcase_add_test(tc, test_admin_open_locked_ebusy);
    tcase_add_test(tc, test_admin_init_guard_refuses_id_at_or_below_head);
    tcase_add_test(tc, test_admin_limits_id_max);
    tcase_add_test(tc, test_admin_limits_channel_bytes_and_nul);
    tcase_add_test(tc, test_admin_limits_type_bytes_and_nul);
    tcase_add_test(tc, test_admin_limits_data_bytes);
    tcase_add_test(tc, test_admin_publish_ids_increase);
    tcase_add_test(tc, test_admin_publish_stores_fields);
    tcase_add_test(tc, test_admin_publish_data_byte_exact);
    tcase_add_test(tc, test_admin_publish_bad_channel_einval);
    tcase_add_test(tc, test_admin_publish_bad_type_einval);
    tcase_add_test(tc, test_admin_publish_uninitialised_eschema);
    tcase_add_test(tc, test_admin_publish_locked_ebusy);
    tcase_add_test(tc, test_admin_publish_idem_retry_returns_first_id);
    tcase_add_test(tc, test_admin_publish_idem_null_key_never_collides);
    tcase_add_test(tc, test_admin_publish_idem_key_limits_einval);
    tcase_add_test(tc, test_admin_publish_idem_key_freed_by_prune);
    tcase_add_test(tc, test_admin_publish_idem_old_schema_eschema);
    tcase_add_test(tc, test_admin_publish_idem_locked_ebusy);
    tcase_add_test(tc, test_admin_prune_keep_newest);
    tcase_add_test(tc, test_admin_prune_keep_zero_empties);
    tcase_add_test(tc, test_admin_prune_older_than);
    tcase_add_test(tc, test_admin_stats_channel_resume_after);
    tcase_add_test(tc, test_admin_pruned_trigger_records_any_delete);
    tcase_add_test(tc, test_admin_next_channel_walks_in_order);
    tcase_add_test(tc, test_admin_prune_cutoff_keep);
    tcase_add_test(tc, test_admin_prune_cutoff_older_than);
    tcase_add_test(tc, test_admin_delete_through_bounded_batches);
    tcase_add_test(tc, test_admin_vacuum_shrinks_file);
    tcase_add_test(tc, test_admin_prune_either_rule);
    tcase_add_test(tc, test_admin_prune_channel_only);
    tcase_add_test(tc, test_admin_prune_no_rule_einval);
    tcase_add_test(tc, test_admin_prune_newest_ids_not_reused);
    tcase_add_test(tc, test_admin_stats_numbers);
    tcase_add_test(tc, test_admin_stats_empty_log);
    tcase_add_test(tc, test_admin_stats_callback_stops);
    tcase_add_test(tc, test_admin_stats_v1_database);
    tcase_add_test(tc, test_admin_checkpoint_truncates_wal);
    tcase_add_test(tc, test_admin_checkpoint_reader_reports_busy);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(admin_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
