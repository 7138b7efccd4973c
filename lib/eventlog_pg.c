/* eventlog_pg.c - the PostgreSQL engine of the event log's read side.
 * SPDX-License-Identifier: MIT
 *
 * One libpq connection with its statements prepared at open. Each call is
 * one statement, hence one snapshot, and its whole result is in memory when
 * the rows are handed over, so nothing is held on the server while the
 * caller works. Because the result is fetched at once, a range read is
 * bounded by bytes in SQL as well as by rows: it returns the rows whose
 * preceding rows hold less than READ_BYTES of data (always the first), so a
 * read of 256 rows of 4 MiB each cannot take 1 GiB of memory.
 *
 * Change detection (sse_eventlog_changed) is LISTEN on the channel named
 * after the log's schema, whose insert trigger sends NOTIFY: PostgreSQL
 * delivers it at commit, to this connection's socket, which the hub watches.
 * LISTEN starts at the first call, so only the one connection per process
 * that asks for changes listens (a pooled connection that listened would
 * collect notifications nobody reads). A hot standby cannot LISTEN; there,
 * and as the fallback everywhere, each call without a notification compares
 * max(id) and min(id) (new rows, pruning), two probes of the primary key's
 * index, with the last ones.
 *
 * The head (the highest id ever committed) is the larger of max(id) and the
 * highest id ever pruned (events_pruned), never the sequence: a sequence
 * hands out ids that are not committed yet, or never will be.
 *
 * A pattern subscription ("orders:*") reads, as on SQLite, the key range
 * channel >= 'orders:' AND channel < 'orders;' of the (channel, id) index,
 * whose channel column is COLLATE "C" (byte order, whatever the database's
 * collation): a recursive walk finds the range's distinct channels, one
 * index probe each, and each channel is then read as a range of its own
 * (channel = c AND id > after ... LIMIT), so a resume reads at most the
 * limit's worth of rows per channel after its id, never every stored row of
 * the prefix. tests/postgres counts the index entries such a read takes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin.h"
#include "eventlog_engine.h"
#include "pg_conn.h"
#include "sse_error.h"

/* Data bytes a range read may return besides its first row. */
#define READ_BYTES ((int64_t)4 * 1024 * 1024)

/* Invariant: conn is connected (or was: a lost connection fails calls). */
struct pg_log {
    PGconn *conn;
    char schema[SSE_PG_SCHEMA_MAX + 1];
    int replica;      /* the server was a hot standby at open */
    int listen_tried; /* changed() was called: LISTEN issued if possible */
    int listening;
    int64_t last_max;    /* max(id) at the last look; -2 before the first */
    int64_t last_min;    /* min(id) at the last look */
    int grants_prepared; /* the "grants" statement exists (prepare_grants) */
};

#define COLUMNS "id, channel, event, data, created_at"
#define STR_(x) #x
#define STR(x) STR_(x)
/* $1 after, $2 upto, $3 limit, $4 the channel(s), $5 READ_BYTES; rows is a
 * query of COLUMNS in id order, at most $3 of them. The window runs over
 * the limited rows only. */
#define BOUNDED(rows)                                                          \
    "SELECT " COLUMNS ", n FROM (SELECT " COLUMNS ", count(*) OVER () AS n,"   \
    " coalesce(sum(octet_length(data)) OVER (ORDER BY id ROWS BETWEEN"         \
    " UNBOUNDED PRECEDING AND 1 PRECEDING), 0) AS before FROM (" rows          \
    ") AS r) AS w WHERE before < $5 ORDER BY id"
#define BOUNDED_READ(where)                                                    \
    BOUNDED("SELECT " COLUMNS " FROM events WHERE id > $1 AND id <= $2" where  \
            " ORDER BY id LIMIT $3")
/* The channels a request of names (the text[] parameter names) and prefix
 * ranges (the text[] parameters lo and hi, pairwise) wants that have rows,
 * as want(c): each prefix's channels are walked in events_channel_id, one
 * probe per distinct channel (min(channel) above the previous one); UNION
 * drops a name that a prefix also found. */
#define WANT(names, lo, hi)                                                    \
    "WITH RECURSIVE pc(c, hi) AS (SELECT (SELECT min(channel) FROM events"     \
    " WHERE channel >= r.lo COLLATE \"C\" AND channel < r.hi COLLATE \"C\"),"  \
    " r.hi FROM unnest(" lo "::text[], " hi "::text[]) AS r(lo, hi)"           \
    " UNION ALL SELECT (SELECT min(channel) FROM events WHERE channel > pc.c"  \
    " AND channel < pc.hi COLLATE \"C\"), pc.hi FROM pc"                       \
    " WHERE pc.c IS NOT NULL), want(c) AS (SELECT c FROM pc"                   \
    " WHERE c IS NOT NULL UNION SELECT unnest(" names "::text[]))"

/* Type oids of the parameters (pg_type.h is server-side only). */
#define INT8 20
#define TEXT 25
#define TEXT_ARRAY 1009

static const struct {
    const char *name;
    const char *sql;
    int nparams;
    Oid types[7];
} STATEMENTS[] = {
    {"read_all", BOUNDED_READ(""), 5, {INT8, INT8, INT8, TEXT, INT8}},
    {"read_one",
     BOUNDED_READ(" AND channel = $4"),
     5,
     {INT8, INT8, INT8, TEXT, INT8}},
    {"read_multi",
     BOUNDED_READ(" AND channel = ANY ($4)"),
     5,
     {INT8, INT8, INT8, TEXT_ARRAY, INT8}},
    /* $6, $7: the prefixes' low and high ends. */
    {"read_pattern",
     BOUNDED(WANT("$4", "$6", "$7") " SELECT e.* FROM want, LATERAL"
                                    " (SELECT " COLUMNS " FROM events"
                                    " WHERE channel = want.c AND id > $1"
                                    " AND id <= $2 ORDER BY id LIMIT $3) AS e"
                                    " ORDER BY e.id LIMIT $3"),
     7,
     {INT8, INT8, INT8, TEXT_ARRAY, INT8, TEXT_ARRAY, TEXT_ARRAY}},
    {"nth_all",
     "SELECT id FROM events WHERE id <= $1 ORDER BY id DESC LIMIT 1 OFFSET $2",
     2,
     {INT8, INT8}},
    {"nth_multi",
     "SELECT id FROM events WHERE id <= $1 AND channel = ANY ($3)"
     " ORDER BY id DESC LIMIT 1 OFFSET $2",
     3,
     {INT8, INT8, TEXT_ARRAY}},
    /* The n-th newest needs at most n rows of each channel. */
    {"nth_pattern",
     WANT("$3", "$4", "$5") " SELECT e.id FROM want, LATERAL (SELECT id FROM"
                            " events WHERE channel = want.c AND id <= $1"
                            " ORDER BY id DESC LIMIT $2 + 1) AS e"
                            " ORDER BY e.id DESC LIMIT 1 OFFSET $2",
     5,
     {INT8, INT8, TEXT_ARRAY, TEXT_ARRAY, TEXT_ARRAY}},
    {"bounds",
     "SELECT (SELECT min(id) FROM events),"
     " greatest((SELECT max(id) FROM events),"
     " (SELECT max(through_id) FROM events_pruned), 0)",
     0,
     {0}},
    {"pruned_all",
     "SELECT coalesce(max(through_id), 0) FROM events_pruned",
     0,
     {0}},
    {"pruned_multi",
     "SELECT coalesce(max(through_id), 0) FROM events_pruned"
     " WHERE channel = ANY ($1)",
     1,
     {TEXT_ARRAY}},
    /* One primary-key range per prefix. */
    {"pruned_pattern",
     "SELECT coalesce(max(t), 0) FROM (SELECT through_id AS t"
     " FROM events_pruned WHERE channel = ANY ($1) UNION ALL"
     " SELECT p.through_id FROM unnest($2::text[], $3::text[]) AS r(lo, hi)"
     " JOIN events_pruned AS p ON p.channel >= r.lo COLLATE \"C\""
     " AND p.channel < r.hi COLLATE \"C\") AS x",
     3,
     {TEXT_ARRAY, TEXT_ARRAY, TEXT_ARRAY}},
    {"newest",
     "SELECT (SELECT max(id) FROM events WHERE channel = c AND id <= $2)"
     " FROM unnest($1) AS c",
     2,
     {TEXT_ARRAY, INT8}},
    {"ends",
     "SELECT coalesce(max(id), 0), coalesce(min(id), 0) FROM events",
     0,
     {0}},
};

static void pg_close(void *impl)
{
    struct pg_log *log = impl;
    if (!log)
        return;
    PQfinish(log->conn);
    free(log);
}

/* Runs a prepared statement; returns 0 with *res (PQclear it) holding rows,
 * or an SSE_E* code. */
static int run(struct pg_log *log, const char *name, int nparams,
               const char *const *params, PGresult **res)
{
    PGresult *r =
        PQexecPrepared(log->conn, name, nparams, params, NULL, NULL, 0);
    if (PQresultStatus(r) == PGRES_TUPLES_OK) {
        *res = r;
        return 0;
    }
    int rc = sse_pg_error(log->conn, r);
    PQclear(r);
    return rc;
}

/* Refuses a schema `sselite init` did not make, or made by a newer build. */
static int check_version(struct pg_log *log, char *err, size_t errlen)
{
    PGresult *res =
        PQexec(log->conn, "SELECT max(version) FROM schema_version");
    int rc = 0;
    int64_t v = 0;
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        rc = sse_pg_error(log->conn, res);
        if (rc == SSE_ESCHEMA)
            snprintf(err, errlen,
                     "no sselite event log in schema \"%s\" (run: sselite "
                     "init URI)",
                     log->schema);
        else
            sse_pg_message(log->conn, res, err, errlen);
    } else if (PQntuples(res) != 1 || PQgetisnull(res, 0, 0) ||
               sse_pg_int64(PQgetvalue(res, 0, 0), &v) || v < 1 ||
               v > SSE_SCHEMA_VERSION) {
        rc = SSE_ESCHEMA;
    }
    PQclear(res);
    return rc;
}

/* Notes whether the server is a hot standby (which lags behind its
 * primary, and cannot LISTEN). */
static int query_replica(struct pg_log *log)
{
    PGresult *res = PQexec(log->conn, "SELECT pg_is_in_recovery()");
    int rc = 0;
    if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1)
        rc = sse_pg_error(log->conn, res);
    else
        log->replica = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
    PQclear(res);
    return rc;
}

static int pg_open(const char *db, int busy_timeout_ms, void **out, char *err,
                   size_t errlen)
{
    char scratch[256];
    if (!err || !errlen) {
        err = scratch;
        errlen = sizeof scratch;
    }
    struct pg_log *log = calloc(1, sizeof *log);
    if (!log)
        return SSE_ENOMEM;
    log->last_max = -2;
    int rc =
        sse_pg_connect(db, "sselite-fcgi", busy_timeout_ms, busy_timeout_ms,
                       &log->conn, log->schema, err, errlen);
    if (!rc)
        rc = check_version(log, err, errlen);
    if (!rc)
        rc = query_replica(log);
    for (size_t i = 0; !rc && i < sizeof STATEMENTS / sizeof STATEMENTS[0];
         i++) {
        PGresult *res =
            PQprepare(log->conn, STATEMENTS[i].name, STATEMENTS[i].sql,
                      STATEMENTS[i].nparams, STATEMENTS[i].types);
        if (PQresultStatus(res) != PGRES_COMMAND_OK) {
            rc = sse_pg_error(log->conn, res);
            sse_pg_message(log->conn, res, err, errlen);
        }
        PQclear(res);
    }
    if (rc) {
        pg_close(log);
        return rc;
    }
    *out = log;
    return 0;
}

/* Writes items[0..n) as a PostgreSQL array literal into out: {"a","b"}.
 * Items are channel names or prefix bounds (no quote, no backslash),
 * checked here anyway. */
static int array_literal(const char *const *items, size_t n, char *out,
                         size_t cap)
{
    size_t o = 0;
    out[o++] = '{';
    for (size_t i = 0; i < n; i++) {
        const char *c = items[i];
        if (strpbrk(c, "\"\\"))
            return SSE_EINVAL;
        int w = snprintf(out + o, cap - o, "%s\"%s\"", i ? "," : "", c);
        if (w < 0 || (size_t)w >= cap - o)
            return SSE_EINVAL;
        o += (size_t)w;
    }
    if (o + 2 > cap)
        return SSE_EINVAL;
    out[o++] = '}';
    out[o] = '\0';
    return 0;
}

#define ARRAY_CAP (SSE_EVENTLOG_MULTI_SLOTS * (SSE_CHANNEL_MAX + 3) + 3)

/* A filter's names and prefix bounds as array literals. */
struct filter_arrays {
    char names[ARRAY_CAP];
    char lo[ARRAY_CAP];
    char hi[ARRAY_CAP];
};

static int filter_arrays(const struct sse_eventlog_filter *f,
                         struct filter_arrays *a)
{
    const char *lo[SSE_EVENTLOG_MULTI_SLOTS], *hi[SSE_EVENTLOG_MULTI_SLOTS];
    for (size_t i = 0; i < f->nprefixes; i++) {
        lo[i] = f->lo[i];
        hi[i] = f->hi[i];
    }
    int rc = array_literal(f->names, f->nnames, a->names, sizeof a->names);
    if (!rc)
        rc = array_literal(lo, f->nprefixes, a->lo, sizeof a->lo);
    if (!rc)
        rc = array_literal(hi, f->nprefixes, a->hi, sizeof a->hi);
    return rc;
}

/* A prepared statement and how many parameters it takes. */
struct form {
    const char *name;
    int nparams;
};

/* Picks, by f's kind, one of forms[] (every channel, names, names and
 * prefixes: the order of enum sse_eventlog_filter_kind) and, for the two
 * that take the channels, fills arr. Returns 0 or SSE_EINVAL. */
static int choose(const struct sse_eventlog_filter *f,
                  const struct form forms[3], struct form *out,
                  struct filter_arrays *arr)
{
    *out = forms[f->kind];
    return f->kind == SSE_EVENTLOG_FILTER_ALL ? 0 : filter_arrays(f, arr);
}

static int int64_at(const PGresult *res, int row, int col, int64_t *v)
{
    if (PQgetisnull(res, row, col))
        return SSE_EDB;
    return sse_pg_int64(PQgetvalue(res, row, col), v);
}

static int pg_read(void *impl, int64_t after_id, int64_t upto_id,
                   const struct sse_eventlog_filter *f, size_t limit,
                   sse_eventlog_raw_fn fn, void *ctx, int *complete)
{
    struct pg_log *log = impl;
    char a[24], u[24], l[24], bytes[24];
    struct filter_arrays arr;
    snprintf(a, sizeof a, "%lld", (long long)after_id);
    snprintf(u, sizeof u, "%lld", (long long)upto_id);
    snprintf(l, sizeof l, "%lld", (long long)limit);
    snprintf(bytes, sizeof bytes, "%lld", (long long)READ_BYTES);
    static const struct form forms[] = {
        {"read_all", 5}, {"read_multi", 5}, {"read_pattern", 7}};
    struct form form;
    int rc = choose(f, forms, &form, &arr);
    const char *chan = arr.names;
    if (f->kind == SSE_EVENTLOG_FILTER_NAMES && f->nnames == 1) {
        form.name = "read_one"; /* the plain range of one channel */
        chan = f->names[0];
    }
    const char *params[] = {a, u, l, chan, bytes, arr.lo, arr.hi};
    PGresult *res = NULL;
    *complete = 0;
    if (!rc)
        rc = run(log, form.name, form.nparams, params, &res);
    if (rc)
        return rc;
    int n = PQntuples(res);
    int64_t total = 0;
    for (int i = 0; !rc && i < n; i++) {
        struct sse_event_row row = {0};
        const char *why = NULL;
        rc = int64_at(res, i, 0, &row.id);
        if (!rc && i == 0)
            rc = int64_at(res, i, 5, &total);
        if (rc)
            break;
        /* NOT NULL constraints make these impossible in a table `sselite
         * init` made; one made by hand is read like a SQLite one. */
        if (PQgetisnull(res, i, 1))
            why = "channel is NULL";
        else if (PQgetisnull(res, i, 3))
            why = "data is NULL";
        if (!why) {
            row.channel = PQgetvalue(res, i, 1);
            row.channel_len = (size_t)PQgetlength(res, i, 1);
            if (!PQgetisnull(res, i, 2)) {
                row.type = PQgetvalue(res, i, 2);
                row.type_len = (size_t)PQgetlength(res, i, 2);
            }
            row.data = PQgetvalue(res, i, 3);
            row.data_len = (size_t)PQgetlength(res, i, 3);
            if (!PQgetisnull(res, i, 4) &&
                sse_pg_int64(PQgetvalue(res, i, 4), &row.created_ms))
                row.created_ms = 0;
        }
        rc = fn(&row, why, ctx);
    }
    /* Complete only if the limit did not cut the range and the byte bound
     * did not cut the limited rows. */
    *complete = !rc && (size_t)total < limit && n == total;
    PQclear(res);
    return rc;
}

static int64_t pg_last_read_steps(const void *impl)
{
    (void)impl; /* PostgreSQL counts per table and index, not per query */
    return -1;
}

static int pg_reading(const void *impl)
{
    (void)impl; /* every result is complete before a call returns */
    return 0;
}

/* Runs a statement whose one row holds one integer (NULL: *v = dflt). */
static int one_int(struct pg_log *log, const char *name, int nparams,
                   const char *const *params, int64_t dflt, int64_t *v)
{
    PGresult *res = NULL;
    int rc = run(log, name, nparams, params, &res);
    if (rc)
        return rc;
    if (PQntuples(res) == 0 || PQgetisnull(res, 0, 0))
        *v = dflt;
    else
        rc = sse_pg_int64(PQgetvalue(res, 0, 0), v);
    PQclear(res);
    return rc;
}

static int pg_replay_start(void *impl, const struct sse_eventlog_filter *f,
                           int64_t n, int64_t upto_id, int64_t *after)
{
    struct pg_log *log = impl;
    char u[24], off[24];
    struct filter_arrays arr;
    snprintf(u, sizeof u, "%lld", (long long)upto_id);
    snprintf(off, sizeof off, "%lld", (long long)(n - 1));
    static const struct form forms[] = {
        {"nth_all", 2}, {"nth_multi", 3}, {"nth_pattern", 5}};
    struct form form;
    int rc = choose(f, forms, &form, &arr);
    const char *params[] = {u, off, arr.names, arr.lo, arr.hi};
    int64_t id = 0;
    if (!rc)
        rc = one_int(log, form.name, form.nparams, params, 1, &id);
    if (!rc)
        *after = id - 1;
    return rc;
}

static int pg_newest_ids(void *impl,
                         const char (*channels)[SSE_CHANNEL_MAX + 1],
                         size_t nchannels, int64_t upto_id, int64_t *ids,
                         size_t *nids)
{
    struct pg_log *log = impl;
    char u[24], chans[ARRAY_CAP];
    snprintf(u, sizeof u, "%lld", (long long)upto_id);
    const char *names[SSE_EVENTLOG_MULTI_SLOTS];
    int rc = nchannels > SSE_EVENTLOG_MULTI_SLOTS ? SSE_EINVAL : 0;
    for (size_t i = 0; !rc && i < nchannels; i++)
        names[i] = channels[i];
    if (!rc)
        rc = array_literal(names, nchannels, chans, sizeof chans);
    const char *params[] = {chans, u};
    PGresult *res = NULL;
    if (!rc)
        rc = run(log, "newest", 2, params, &res);
    if (rc)
        return rc;
    size_t n = 0;
    for (int i = 0; !rc && i < PQntuples(res) && n < nchannels; i++)
        if (!PQgetisnull(res, i, 0))
            rc = sse_pg_int64(PQgetvalue(res, i, 0), &ids[n++]);
    PQclear(res);
    if (!rc)
        *nids = n;
    return rc;
}

static int pg_bounds(void *impl, int64_t *oldest, int64_t *head)
{
    struct pg_log *log = impl;
    PGresult *res = NULL;
    int rc = run(log, "bounds", 0, NULL, &res);
    if (rc)
        return rc;
    int64_t h = 0, o = 0;
    if (PQntuples(res) != 1)
        rc = SSE_EDB;
    if (!rc)
        rc = int64_at(res, 0, 1, &h);
    if (!rc && PQgetisnull(res, 0, 0))
        o = h + 1;
    else if (!rc)
        rc = int64_at(res, 0, 0, &o);
    PQclear(res);
    if (!rc) {
        *oldest = o;
        *head = h;
    }
    return rc;
}

static int pg_pruned_through(void *impl, const struct sse_eventlog_filter *f,
                             int64_t *through)
{
    struct pg_log *log = impl;
    struct filter_arrays arr;
    static const struct form forms[] = {
        {"pruned_all", 0}, {"pruned_multi", 1}, {"pruned_pattern", 3}};
    struct form form;
    int rc = choose(f, forms, &form, &arr);
    const char *params[] = {arr.names, arr.lo, arr.hi};
    if (!rc)
        rc = one_int(log, form.name, form.nparams, params, 0, through);
    return rc;
}

/* Prepares the grants look-up at its first use: a log of schema version 5
 * (made before grants existed) has no table until `sselite init` adds it.
 * Returns 0 with *ready 1 when the statement exists, 0 with *ready 0 when
 * the table does not, or an SSE_E* code. */
static int prepare_grants(struct pg_log *log, int *ready)
{
    *ready = log->grants_prepared;
    if (log->grants_prepared)
        return 0;
    PGresult *res =
        PQprepare(log->conn, "grants",
                  "SELECT pattern, expires_at FROM grants WHERE principal = $1"
                  " AND (expires_at IS NULL OR expires_at > $2) LIMIT " STR(
                      SSE_EVENTLOG_GRANTS_MAX),
                  2, (const Oid[]){TEXT, INT8});
    int rc = 0;
    if (PQresultStatus(res) == PGRES_COMMAND_OK)
        *ready = log->grants_prepared = 1;
    else
        rc = sse_pg_error(log->conn, res);
    PQclear(res);
    return rc == SSE_ESCHEMA ? 0 : rc; /* an older schema: no grants */
}

static int pg_grants(void *impl, const char *principal, int64_t now_ms,
                     sse_eventlog_grant_fn fn, void *ctx)
{
    struct pg_log *log = impl;
    int ready = 0;
    int rc = prepare_grants(log, &ready);
    if (rc || !ready)
        return rc;
    char now[24];
    snprintf(now, sizeof now, "%lld", (long long)now_ms);
    const char *params[] = {principal, now};
    PGresult *res = NULL;
    rc = run(log, "grants", 2, params, &res);
    if (rc)
        return rc;
    for (int i = 0; !rc && i < PQntuples(res); i++) {
        if (PQgetisnull(res, i, 0))
            continue; /* NOT NULL in a table `sselite init` made */
        int64_t expires = INT64_MAX;
        if (!PQgetisnull(res, i, 1))
            rc = int64_at(res, i, 1, &expires);
        if (!rc)
            rc = fn(ctx, PQgetvalue(res, i, 0), (size_t)PQgetlength(res, i, 0),
                    expires);
    }
    PQclear(res);
    return rc;
}

/* LISTENs for the insert trigger's NOTIFY, unless the server is a hot
 * standby (which refuses LISTEN: it is polled). */
static int start_listening(struct pg_log *log)
{
    log->listen_tried = 1;
    int rc = query_replica(log); /* it may have been promoted since */
    if (rc || log->replica)
        return rc;
    char *ident =
        PQescapeIdentifier(log->conn, log->schema, strlen(log->schema));
    if (!ident)
        return SSE_ENOMEM;
    char sql[SSE_PG_SCHEMA_MAX * 2 + 16];
    snprintf(sql, sizeof sql, "LISTEN %s", ident);
    PQfreemem(ident);
    rc = sse_pg_exec(log->conn, sql, NULL, 0);
    log->listening = rc == 0;
    return rc;
}

static int pg_changed(void *impl, int *changed)
{
    struct pg_log *log = impl;
    int rc = log->listen_tried ? 0 : start_listening(log);
    if (rc)
        return rc;
    int notified = 0;
    if (log->listening) {
        /* Reads what the socket holds without waiting; fails when the
         * server has gone away (a restart, a failover). */
        if (!PQconsumeInput(log->conn))
            return SSE_EDB;
        PGnotify *n;
        while ((n = PQnotifies(log->conn)) != NULL) {
            notified = 1;
            PQfreemem(n);
        }
    }
    if (PQstatus(log->conn) != CONNECTION_OK)
        return SSE_EDB;
    if (notified && log->last_max != -2) {
        *changed = 1;
        return 0;
    }
    PGresult *res = NULL;
    rc = run(log, "ends", 0, NULL, &res);
    if (rc)
        return rc;
    int64_t max = 0, min = 0;
    if (PQntuples(res) != 1 || int64_at(res, 0, 0, &max) ||
        int64_at(res, 0, 1, &min))
        rc = SSE_EDB;
    PQclear(res);
    if (rc)
        return rc;
    *changed = notified || max != log->last_max || min != log->last_min;
    log->last_max = max;
    log->last_min = min;
    return 0;
}

static int pg_lagging(const void *impl)
{
    const struct pg_log *log = impl;
    return log->replica;
}

static int pg_replaced(const void *impl)
{
    (void)impl;
    return 0;
}

static int pg_wake_fd(const void *impl)
{
    const struct pg_log *log = impl;
    return PQsocket(log->conn);
}

/* libpq keeps the last failure's message on the connection (the server's
 * ERROR line for a failed statement). */
static void pg_last_error(const void *impl, char *out, size_t cap)
{
    const struct pg_log *log = impl;
    sse_pg_message(log->conn, NULL, out, cap);
    /* "ERROR:  canceling statement ...": the severity adds nothing. */
    if (strncmp(out, "ERROR:", 6) == 0) {
        size_t skip = 6 + strspn(out + 6, " ");
        memmove(out, out + skip, strlen(out + skip) + 1);
    }
}

const struct sse_eventlog_engine sse_eventlog_pg_engine = {
    .name = "postgresql",
    .open = pg_open,
    .close = pg_close,
    .read = pg_read,
    .last_read_steps = pg_last_read_steps,
    .reading = pg_reading,
    .replay_start = pg_replay_start,
    .newest_ids = pg_newest_ids,
    .bounds = pg_bounds,
    .pruned_through = pg_pruned_through,
    .grants = pg_grants,
    .changed = pg_changed,
    .replaced = pg_replaced,
    .lagging = pg_lagging,
    .wake_fd = pg_wake_fd,
    .last_error = pg_last_error,
};
