/* admin_pg.c - the PostgreSQL engine of the event log's write side:
 * create/upgrade, publish, prune, statistics.
 * SPDX-License-Identifier: MIT
 *
 * As on SQLite, this runs from the `sselite` tool and tests, so statements
 * are sent per call (PQexecParams, values always bound) and favour plain,
 * obviously atomic SQL. `sselite init` creates the log's schema if needed
 * and applies the steps of schema/postgresql/ in one transaction (DDL is
 * transactional here) under an advisory lock, so concurrent inits apply
 * each step once and a failed one leaves nothing behind.
 *
 * The grants table (schema version 6) is managed here as on SQLite: one
 * statement per call, an upsert for grant.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin_engine.h"
#include "channel.h"
#include "pg_conn.h"
#include "schema_sql.h"
#include "sse_error.h"
#include "sse_limits.h"

/* Step i brings a log from the interface of version steps[i].from to
 * SSE_SCHEMA_VERSION's; the first creates it (from 0). */
static const struct {
    int version; /* the version after the step */
    const char *sql;
} pg_steps[] = {
    {5, schema_pg_step_001},
    {6, schema_pg_step_006},
};

_Static_assert(SSE_SCHEMA_VERSION == 6,
               "a new schema version needs a step in schema/postgresql/");

/* The advisory lock key of `sselite init` ('SSE' as a number, 0); the
 * insert trigger uses ('SSE', the table's oid). */
#define INIT_LOCK "SELECT pg_advisory_xact_lock(5460805, 0)"
#define NOW_MS "floor(extract(epoch FROM clock_timestamp()) * 1000)::bigint"

/* Invariant: conn is set; err is NUL-terminated (empty until a failure). */
struct pg_admin {
    PGconn *conn;
    char schema[SSE_PG_SCHEMA_MAX + 1];
    char err[256];
};

static int own_fail(struct pg_admin *a, int err, const char *msg)
{
    snprintf(a->err, sizeof a->err, "%s", msg);
    return err;
}

/* The schema's rules by constraint name, in the words of the SQLite
 * schema's messages (schema/003-limits.sql). */
static const struct {
    const char *constraint;
    const char *msg;
} RULES[] = {
    {"events_id_check", "sselite: events.id must be at most "
                        "999999999999999999 (18 digits, the longest "
                        "Last-Event-ID sselite can resume from)"},
    {"events_channel_check", "sselite: events.channel must be 1 to 128 bytes "
                             "of A-Z a-z 0-9 _ . : / @ -"},
    {"events_event_check", "sselite: events.event (the event type) must be "
                           "NULL or text of at most 128 bytes without CR, LF "
                           "or NUL"},
    {"events_data_check", "sselite: events.data must be text of at most "
                          "4194304 bytes (4 MiB)"},
    {"events_idem_key_check", "sselite: events.idem_key must be NULL or text "
                              "of 1 to 128 bytes"},
    {"grants_principal_check", "sselite: grants.principal must be text of 1 "
                               "to 256 bytes"},
    {"grants_pattern_check", "sselite: grants.pattern must be text of 1 to "
                             "512 bytes"},
};

/* Records why res failed and returns its SSE_E* code. */
static int db_fail(struct pg_admin *a, const PGresult *res)
{
    int rc = sse_pg_error(a->conn, res);
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    const char *cons =
        res ? PQresultErrorField(res, PG_DIAG_CONSTRAINT_NAME) : NULL;
    for (size_t i = 0; cons && i < sizeof RULES / sizeof RULES[0]; i++)
        if (strcmp(cons, RULES[i].constraint) == 0)
            return own_fail(a, rc, RULES[i].msg);
    if (state && strcmp(state, "2200H") == 0)
        return own_fail(a, rc,
                        "sselite: the event log has used its last id, "
                        "999999999999999999 (18 digits, the longest "
                        "Last-Event-ID sselite can resume from)");
    sse_pg_message(a->conn, res, a->err, sizeof a->err);
    /* A missing table: say what to do, as on SQLite. */
    if (rc == SSE_ESCHEMA && state && strcmp(state, "42P01") == 0)
        return own_fail(a, rc,
                        "no events table: not initialised (run sselite init)");
    return rc;
}

/* Runs sql with n text parameters (NULL for SQL NULL; lens/binary may be
 * NULL). Returns 0 with *res (PQclear it; may be NULL to drop it) or an
 * SSE_E* code with a->err set. */
static int exec(struct pg_admin *a, const char *sql, int n,
                const char *const *values, const int *lens, const int *binary,
                PGresult **res)
{
    PGresult *r = PQexecParams(a->conn, sql, n, NULL, values, lens, binary, 0);
    ExecStatusType st = PQresultStatus(r);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
        int rc = db_fail(a, r);
        PQclear(r);
        return rc;
    }
    if (res)
        *res = r;
    else
        PQclear(r);
    return 0;
}

/* Runs a statement that changes rows, with n text parameters; *count (may
 * be NULL) gets how many it changed. Errors as exec. */
static int exec_count(struct pg_admin *a, const char *sql, int n,
                      const char *const *values, int64_t *count)
{
    PGresult *res = NULL;
    int rc = exec(a, sql, n, values, NULL, NULL, &res);
    if (rc)
        return rc;
    if (count && sse_pg_int64(PQcmdTuples(res), count))
        *count = 0;
    PQclear(res);
    return 0;
}

/* Runs SQL text without parameters, which may be several statements (a
 * schema step). */
static int exec0(struct pg_admin *a, const char *sql)
{
    PGresult *r = PQexec(a->conn, sql);
    ExecStatusType st = PQresultStatus(r);
    int rc =
        st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK ? 0 : db_fail(a, r);
    PQclear(r);
    return rc;
}

/* Runs a query whose first row's first column is an integer (NULL and no
 * row read as dflt). */
static int query_i64(struct pg_admin *a, const char *sql, int n,
                     const char *const *values, int64_t dflt, int64_t *out)
{
    PGresult *res = NULL;
    int rc = exec(a, sql, n, values, NULL, NULL, &res);
    if (rc)
        return rc;
    if (PQntuples(res) < 1 || PQgetisnull(res, 0, 0))
        *out = dflt;
    else if (sse_pg_int64(PQgetvalue(res, 0, 0), out))
        rc = own_fail(a, SSE_EDB, "not an integer");
    PQclear(res);
    return rc;
}

static void pg_close(void *impl)
{
    struct pg_admin *a = impl;
    if (!a)
        return;
    PQfinish(a->conn);
    free(a);
}

static int pg_open(const char *db, int create, int busy_timeout_ms, void **out,
                   char *err, size_t errlen)
{
    (void)create; /* a database is made by its owner, not by sselite */
    struct pg_admin *a = calloc(1, sizeof *a);
    if (!a)
        return SSE_ENOMEM;
    int rc = sse_pg_connect(db, "sselite", 0, busy_timeout_ms, &a->conn,
                            a->schema, err, errlen);
    if (rc) {
        free(a);
        return rc;
    }
    *out = a;
    return 0;
}

static const char *pg_errmsg(const void *impl)
{
    const struct pg_admin *a = impl;
    return a->err;
}

/* Inside init's transaction: the log's version (0: none), refusing a
 * schema with an events table that init did not make. */
static int current_version(struct pg_admin *a, int64_t *v)
{
    int64_t has_version = 0, has_events = 0;
    int rc = query_i64(a,
                       "SELECT (to_regclass('schema_version') IS NOT NULL)"
                       "::int",
                       0, NULL, 0, &has_version);
    if (!rc && !has_version) {
        rc = query_i64(a, "SELECT (to_regclass('events') IS NOT NULL)::int", 0,
                       NULL, 0, &has_events);
        if (!rc && has_events)
            rc = own_fail(a, SSE_ESCHEMA,
                          "schema version 0 but an events table exists:"
                          " not an sselite event log");
        *v = 0;
        return rc;
    }
    if (!rc)
        rc = query_i64(a, "SELECT max(version) FROM schema_version", 0, NULL, 0,
                       v);
    return rc;
}

static int pg_init(void *impl, int *from, int *to)
{
    struct pg_admin *a = impl;
    int64_t v = 0;
    char *ident = PQescapeIdentifier(a->conn, a->schema, strlen(a->schema));
    char sql[SSE_PG_SCHEMA_MAX * 2 + 64];
    if (!ident)
        return own_fail(a, SSE_ENOMEM, "out of memory");
    snprintf(sql, sizeof sql, "CREATE SCHEMA IF NOT EXISTS %s", ident);
    PQfreemem(ident);
    int rc = exec0(a, "BEGIN");
    if (rc)
        return rc;
    rc = exec0(a, INIT_LOCK);
    if (!rc)
        rc = exec0(a, sql);
    if (!rc)
        rc = current_version(a, &v);
    if (!rc && v > SSE_SCHEMA_VERSION)
        rc = own_fail(a, SSE_ESCHEMA,
                      "the log's schema version is newer than this build's");
    int64_t was = v;
    for (size_t i = 0; !rc && i < sizeof pg_steps / sizeof pg_steps[0]; i++) {
        if (pg_steps[i].version <= v)
            continue;
        rc = exec0(a, pg_steps[i].sql);
        v = pg_steps[i].version;
    }
    if (!rc && v != was) {
        char n[24];
        snprintf(n, sizeof n, "%" PRId64, v);
        const char *const values[] = {n};
        rc = exec0(a, "DELETE FROM schema_version");
        if (!rc)
            rc = exec(a, "INSERT INTO schema_version (version) VALUES ($1)", 1,
                      values, NULL, NULL, NULL);
    }
    if (rc) {
        PQclear(PQexec(a->conn, "ROLLBACK"));
        return rc;
    }
    rc = exec0(a, "COMMIT");
    if (!rc && from)
        *from = (int)was;
    if (!rc && to)
        *to = (int)v;
    return rc;
}

/* Runs the insert (and, for a known key, the look-up) of one event. */
static int insert_event(struct pg_admin *a, const char *channel,
                        const char *type, const char *data, size_t len,
                        const char *key, int64_t *id, int *duplicate)
{
    /* data goes in binary form, which for text is its bytes: no NUL
     * terminator needed, and the server still checks the encoding. */
    const char *const values[] = {channel, type, data, key};
    const int lens[] = {0, 0, (int)len, 0};
    const int binary[] = {0, 0, 1, 0};
    PGresult *res = NULL;
    int rc = exec(a,
                  key ? "INSERT INTO events (channel, event, data, idem_key)"
                        " VALUES ($1, $2, $3::text, $4) ON CONFLICT DO NOTHING"
                        " RETURNING id"
                      : "INSERT INTO events (channel, event, data)"
                        " VALUES ($1, $2, $3::text) RETURNING id",
                  key ? 4 : 3, values, lens, binary, &res);
    if (rc)
        return rc;
    int stored = PQntuples(res) == 1;
    if (stored && sse_pg_int64(PQgetvalue(res, 0, 0), id))
        rc = own_fail(a, SSE_EDB, "the id is not an integer");
    PQclear(res);
    if (rc || stored) {
        *duplicate = 0;
        return rc;
    }
    const char *const look[] = {channel, key};
    rc = query_i64(a,
                   "SELECT id FROM events WHERE channel = $1 AND idem_key = $2",
                   2, look, 0, id);
    if (!rc && *id == 0)
        rc = own_fail(a, SSE_EDB, "the event was neither stored nor found");
    *duplicate = 1;
    return rc;
}

static int pg_publish_idem(void *impl, const char *channel, const char *type,
                           const char *data, size_t len, const char *key,
                           int64_t *id, int *duplicate)
{
    struct pg_admin *a = impl;
    if (!channel)
        channel = SSE_CHANNEL_DEFAULT;
    if (len > SSE_EVENT_DATA_MAX)
        return own_fail(a, SSE_EINVAL,
                        "sselite: events.data must be text of at most 4194304 "
                        "bytes (4 MiB)");
    if (memchr(data, '\0', len))
        return own_fail(a, SSE_EINVAL,
                        "events.data cannot hold a NUL byte on PostgreSQL");
    if (key && (key[0] == '\0' || strlen(key) > SSE_IDEM_KEY_MAX))
        return own_fail(a, SSE_EINVAL,
                        "sselite: events.idem_key must be NULL or text of 1 "
                        "to 128 bytes");
    int64_t new_id = 0;
    int dup = 0;
    /* One transaction: the look-up after a skipped INSERT sees the row
     * that made it skip (READ COMMITTED takes a snapshot per statement). */
    int rc = exec0(a, "BEGIN");
    if (!rc)
        rc = insert_event(a, channel, type, data, len, key, &new_id, &dup);
    if (rc) {
        PQclear(PQexec(a->conn, "ROLLBACK"));
        return rc;
    }
    rc = exec0(a, "COMMIT");
    if (rc)
        return rc;
    if (id)
        *id = new_id;
    if (duplicate)
        *duplicate = dup;
    return 0;
}

static int pg_prune(void *impl, int64_t keep, int64_t older_than_ms,
                    const char *channel, int64_t *deleted)
{
    struct pg_admin *a = impl;
    if (keep < 0 && older_than_ms < 0)
        return own_fail(a, SSE_EINVAL, "neither keep nor older-than given");
    char k[24], o[24];
    snprintf(k, sizeof k, "%" PRId64, keep);
    snprintf(o, sizeof o, "%" PRId64, older_than_ms);
    const char *const values[] = {channel, k, o};
    /* One statement, hence one transaction, as on SQLite. */
    return exec_count(
        a,
        "DELETE FROM events"
        " WHERE ($1::text IS NULL OR channel = $1)"
        "   AND (($2::bigint >= 0 AND id <= (SELECT id FROM events"
        "                          WHERE $1::text IS NULL OR channel = $1"
        "                          ORDER BY id DESC"
        "                          LIMIT 1 OFFSET greatest($2::bigint, 0)))"
        "     OR ($3::bigint >= 0 AND created_at < " NOW_MS " - $3::bigint))",
        3, values, deleted);
}

/* Fills st's numbers and calls fn per channel, inside the caller's
 * snapshot. */
static int read_stats(struct pg_admin *a, struct sse_admin_stats *st,
                      sse_admin_channel_fn fn, void *ctx)
{
    int64_t v = 0;
    PGresult *res = NULL;
    int rc =
        query_i64(a, "SELECT max(version) FROM schema_version", 0, NULL, 0, &v);
    if (rc)
        return rc;
    st->schema_version = (int)v;
    snprintf(st->journal_mode, sizeof st->journal_mode, "postgresql");
    rc = exec(
        a,
        "SELECT (SELECT count(*) FROM events),"
        " greatest((SELECT max(id) FROM events),"
        "          (SELECT max(through_id) FROM events_pruned), 0),"
        " (SELECT min(id) FROM events),"
        " coalesce((SELECT created_at FROM events ORDER BY id LIMIT 1), 0),"
        " coalesce((SELECT created_at FROM events ORDER BY id DESC"
        "           LIMIT 1), 0),"
        " pg_total_relation_size('events')"
        "   + pg_total_relation_size('events_pruned')",
        0, NULL, NULL, NULL, &res);
    if (rc)
        return rc;
    int64_t nums[6] = {0};
    for (int c = 0; c < 6; c++)
        if (!PQgetisnull(res, 0, c))
            rc |= sse_pg_int64(PQgetvalue(res, 0, c), &nums[c]);
    int empty = PQgetisnull(res, 0, 2);
    PQclear(res);
    if (rc)
        return own_fail(a, SSE_EDB, "a number is not an integer");
    st->rows = nums[0];
    st->head_id = nums[1];
    st->oldest_id = empty ? st->head_id + 1 : nums[2];
    st->oldest_ms = nums[3];
    st->newest_ms = nums[4];
    st->db_bytes = nums[5];
    st->wal_bytes = 0;
    if (!fn)
        return 0;
    rc = exec(a,
              "WITH c AS (SELECT channel, count(*) AS n, max(id) AS hi,"
              "                  min(id) AS lo FROM events GROUP BY channel)"
              " SELECT ch.channel, coalesce(c.n, 0), coalesce(c.hi, 0),"
              "        coalesce(c.lo, 0),"
              "        coalesce((SELECT created_at FROM events"
              "                  WHERE id = c.lo), 0),"
              "        coalesce(p.through_id, 0)"
              " FROM (SELECT channel FROM c"
              "       UNION SELECT channel FROM events_pruned) AS ch"
              " LEFT JOIN c ON c.channel = ch.channel"
              " LEFT JOIN events_pruned AS p ON p.channel = ch.channel"
              " ORDER BY ch.channel",
              0, NULL, NULL, NULL, &res);
    if (rc)
        return rc;
    for (int r = 0; !rc && r < PQntuples(res); r++) {
        int64_t n[5];
        for (int c = 0; c < 5; c++)
            if (sse_pg_int64(PQgetvalue(res, r, c + 1), &n[c]))
                rc = own_fail(a, SSE_EDB, "a number is not an integer");
        if (rc)
            break;
        struct sse_admin_channel ch = {
            .name = PQgetvalue(res, r, 0),
            .rows = n[0],
            .last_id = n[1],
            .oldest_id = n[2],
            .oldest_ms = n[3],
            .resume_after = n[4],
        };
        if (ch.resume_after < st->oldest_id - 1)
            ch.resume_after = st->oldest_id - 1;
        rc = fn(&ch, ctx);
    }
    PQclear(res);
    return rc;
}

static int pg_stats(void *impl, struct sse_admin_stats *st,
                    sse_admin_channel_fn fn, void *ctx)
{
    struct pg_admin *a = impl;
    struct sse_admin_stats s;
    memset(&s, 0, sizeof s);
    /* One snapshot for every number. */
    int rc = exec0(a, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
    if (rc)
        return rc;
    rc = read_stats(a, &s, fn, ctx);
    PQclear(PQexec(a->conn, rc ? "ROLLBACK" : "COMMIT"));
    if (!rc)
        *st = s;
    return rc;
}

static int pg_checkpoint(void *impl, int *busy)
{
    (void)impl; /* the server checkpoints its own WAL */
    if (busy)
        *busy = 0;
    return 0;
}

static int pg_next_channel(void *impl, const char *after, char *out, int *found)
{
    struct pg_admin *a = impl;
    const char *const values[] = {after};
    PGresult *res = NULL;
    /* One index seek per channel (channel is COLLATE "C", as the index). */
    int rc = exec(a,
                  "SELECT channel FROM events WHERE channel > $1"
                  " ORDER BY channel LIMIT 1",
                  1, values, NULL, NULL, &res);
    if (rc)
        return rc;
    *found = PQntuples(res) == 1;
    if (*found)
        snprintf(out, SSE_CHANNEL_MAX + 1, "%s", PQgetvalue(res, 0, 0));
    PQclear(res);
    return 0;
}

static int pg_prune_cutoff(void *impl, const char *channel, int64_t keep,
                           int64_t older_than_ms, int64_t *cutoff)
{
    struct pg_admin *a = impl;
    if (keep < 0 && older_than_ms < 0)
        return own_fail(a, SSE_EINVAL, "neither keep nor older-than given");
    char k[24], o[24];
    snprintf(k, sizeof k, "%" PRId64, keep);
    snprintf(o, sizeof o, "%" PRId64, older_than_ms);
    const char *const values[] = {channel, k, o};
    /* As admin_sqlite.c: both walk the (channel, id) index. */
    return query_i64(
        a,
        "SELECT greatest("
        "  CASE WHEN $2::bigint < 0 THEN 0 ELSE coalesce("
        "    (SELECT id FROM events WHERE channel = $1"
        "     ORDER BY id DESC LIMIT 1 OFFSET greatest($2::bigint, 0)), 0) END,"
        "  CASE WHEN $3::bigint < 0 THEN 0 ELSE coalesce("
        "    (SELECT id - 1 FROM events WHERE channel = $1"
        "     AND created_at >= " NOW_MS " - $3::bigint ORDER BY id LIMIT 1),"
        "    (SELECT max(id) FROM events WHERE channel = $1), 0) END)",
        3, values, 0, cutoff);
}

static int pg_delete_through(void *impl, const char *channel, int64_t cutoff,
                             int64_t limit, int64_t *deleted)
{
    struct pg_admin *a = impl;
    char c[24], l[24];
    snprintf(c, sizeof c, "%" PRId64, cutoff);
    snprintf(l, sizeof l, "%" PRId64, limit);
    const char *const values[] = {channel, c, l};
    return exec_count(a,
                      "DELETE FROM events WHERE id IN"
                      " (SELECT id FROM events WHERE channel = $1 AND id <= $2"
                      "  ORDER BY id LIMIT $3)",
                      3, values, deleted);
}

static int pg_vacuum(void *impl)
{
    /* The plain VACUUM: it makes the space of deleted rows reusable without
     * blocking publishers (VACUUM FULL would lock the table). */
    return exec0(impl, "VACUUM (ANALYZE) events, events_pruned");
}

/* db_fail for a statement on "grants": a log made before schema version 6
 * has none, and `sselite init` adds it. */
static int grants_fail(struct pg_admin *a, int rc)
{
    if (rc == SSE_ESCHEMA)
        return own_fail(a, rc,
                        "no grants table: the log is older than schema "
                        "version 6 (run sselite init)");
    return rc;
}

static int pg_grant(void *impl, const char *principal, const char *pattern,
                    int64_t expires_ms)
{
    struct pg_admin *a = impl;
    char exp[24];
    snprintf(exp, sizeof exp, "%" PRId64, expires_ms);
    const char *const values[] = {principal, pattern,
                                  expires_ms > 0 ? exp : NULL};
    /* Granting again replaces the expiry: the newest word wins. */
    return grants_fail(
        a, exec(a,
                "INSERT INTO grants (principal, pattern, expires_at)"
                " VALUES ($1, $2, $3::bigint) ON CONFLICT (principal, pattern)"
                " DO UPDATE SET expires_at = excluded.expires_at",
                3, values, NULL, NULL, NULL));
}

static int pg_revoke(void *impl, const char *principal, const char *pattern,
                     int64_t *removed)
{
    struct pg_admin *a = impl;
    const char *const values[] = {principal, pattern};
    return grants_fail(
        a, exec_count(
               a, "DELETE FROM grants WHERE principal = $1 AND pattern = $2", 2,
               values, removed));
}

static int pg_grants(void *impl, const char *principal, sse_admin_grant_fn fn,
                     void *ctx)
{
    struct pg_admin *a = impl;
    const char *const values[] = {principal};
    PGresult *res = NULL;
    /* COLLATE "C" columns: byte order, as on SQLite. */
    int rc = exec(a,
                  "SELECT principal, pattern, coalesce(expires_at, 0)"
                  " FROM grants WHERE $1::text IS NULL OR principal = $1"
                  " ORDER BY principal, pattern",
                  1, values, NULL, NULL, &res);
    if (rc)
        return grants_fail(a, rc);
    for (int r = 0; !rc && r < PQntuples(res); r++) {
        struct sse_admin_grant g = {
            .principal = PQgetvalue(res, r, 0),
            .pattern = PQgetvalue(res, r, 1),
        };
        if (sse_pg_int64(PQgetvalue(res, r, 2), &g.expires_ms))
            rc = own_fail(a, SSE_EDB, "expires_at is not an integer");
        else
            rc = fn(&g, ctx);
    }
    PQclear(res);
    return rc;
}

const struct sse_admin_engine sse_admin_pg_engine = {
    .name = "postgresql",
    .open = pg_open,
    .close = pg_close,
    .errmsg = pg_errmsg,
    .init = pg_init,
    .publish_idem = pg_publish_idem,
    .prune = pg_prune,
    .stats = pg_stats,
    .checkpoint = pg_checkpoint,
    .next_channel = pg_next_channel,
    .prune_cutoff = pg_prune_cutoff,
    .delete_through = pg_delete_through,
    .vacuum = pg_vacuum,
    .grant = pg_grant,
    .revoke = pg_revoke,
    .grants = pg_grants,
};
