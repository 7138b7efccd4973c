/* pg_conn.c - connecting to a PostgreSQL event log, and its errors.
 * SPDX-License-Identifier: MIT
 *
 * The URI is handed to libpq as the dbname of PQconnectdbParams with
 * expand_dbname, after our defaults, so anything the URI says (host=/run/..
 * sockets, sslmode, target_session_attrs, several hosts) wins over them.
 * libpq refuses parameters it does not know, hence sselite_schema is cut
 * out of the query string first.
 */
#include "pg_conn.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dbname.h"
#include "sse_error.h"

#define SCHEMA_PARAM "sselite_schema="

static void set_err(char *err, size_t errlen, const char *fmt, const char *a)
{
    if (err && errlen)
        snprintf(err, errlen, fmt, a);
}

/* The first line of msg, without "ERROR:  "-style prefixes or a trailing
 * newline, into out. */
static void one_line(const char *msg, char *out, size_t cap)
{
    if (!msg)
        msg = "";
    size_t n = strcspn(msg, "\r\n");
    int w = snprintf(out, cap, "%.*s", (int)n, msg);
    (void)w;
}

static int valid_schema(const char *s, size_t n)
{
    if (n == 0 || n > SSE_PG_SCHEMA_MAX || (s[0] >= '0' && s[0] <= '9'))
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') ||
              s[i] == '_'))
            return 0;
    return 1;
}

/* Copies uri into *conninfo (owned by the caller) without the
 * sselite_schema parameter, whose value goes to schema. */
static int split_uri(const char *uri, char **conninfo, char *schema, char *err,
                     size_t errlen)
{
    size_t len = strlen(uri);
    char *out = malloc(len + 1);
    if (!out)
        return SSE_ENOMEM;
    snprintf(schema, SSE_PG_SCHEMA_MAX + 1, "%s", SSE_PG_SCHEMA_DEFAULT);
    const char *q = strchr(uri, '?');
    size_t head = q ? (size_t)(q - uri) : len;
    memcpy(out, uri, head);
    size_t o = head;
    int first = 1;
    for (const char *p = q; p && *p;) {
        const char *param = p + 1;
        const char *next = strchr(param, '&');
        size_t plen = next ? (size_t)(next - param) : strlen(param);
        size_t klen = strlen(SCHEMA_PARAM);
        if (plen >= klen && strncmp(param, SCHEMA_PARAM, klen) == 0) {
            if (!valid_schema(param + klen, plen - klen)) {
                set_err(err, errlen, "%s",
                        "sselite_schema must be 1 to 63 of a-z 0-9 _, not "
                        "starting with a digit");
                free(out);
                return SSE_EINVAL;
            }
            memcpy(schema, param + klen, plen - klen);
            schema[plen - klen] = '\0';
        } else if (plen > 0) {
            out[o++] = first ? '?' : '&';
            memcpy(out + o, param, plen);
            o += plen;
            first = 0;
        }
        p = next;
    }
    out[o] = '\0';
    *conninfo = out;
    return 0;
}

int sse_pg_exec(PGconn *conn, const char *sql, char *err, size_t errlen)
{
    PGresult *res = PQexec(conn, sql);
    ExecStatusType st = PQresultStatus(res);
    int rc = 0;
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
        rc = sse_pg_error(conn, res);
        if (err && errlen)
            sse_pg_message(conn, res, err, errlen);
    }
    PQclear(res);
    return rc;
}

/* Server notices ("schema already exists, skipping") are not errors; libpq
 * would print them on stderr, in the middle of a worker's log. */
static void ignore_notice(void *arg, const char *message)
{
    (void)arg;
    (void)message;
}

int sse_pg_connect(const char *uri, const char *app, int statement_ms,
                   int lock_ms, PGconn **out, char *schema, char *err,
                   size_t errlen)
{
    char *conninfo = NULL;
    PGconn *conn = NULL;
    int rc = split_uri(uri, &conninfo, schema, err, errlen);
    if (rc)
        return rc;
    /* Later entries override earlier ones, and the expanded URI is last. */
    const char *const keys[] = {"connect_timeout",
                                "keepalives_idle",
                                "keepalives_interval",
                                "keepalives_count",
                                "fallback_application_name",
                                "client_encoding",
                                "dbname",
                                NULL};
    const char *const values[] = {"10", "10",   "5",      "3",
                                  app,  "UTF8", conninfo, NULL};
    conn = PQconnectdbParams(keys, values, 1);
    if (!conn) {
        rc = SSE_ENOMEM;
        goto out;
    }
    if (PQstatus(conn) != CONNECTION_OK) {
        if (err && errlen) {
            one_line(PQerrorMessage(conn), err, errlen);
            sse_dbname_hide_passwords(uri, err);
        }
        rc = SSE_EDB;
        goto out;
    }
    PQsetNoticeProcessor(conn, ignore_notice, NULL);
    char *ident = PQescapeIdentifier(conn, schema, strlen(schema));
    char sql[256];
    if (!ident) {
        rc = SSE_ENOMEM;
        goto out;
    }
    int n = snprintf(sql, sizeof sql,
                     "SET search_path = %s; SET statement_timeout = %d;"
                     " SET lock_timeout = %d",
                     ident, statement_ms, lock_ms);
    PQfreemem(ident);
    rc = n > 0 && (size_t)n < sizeof sql ? sse_pg_exec(conn, sql, err, errlen)
                                         : SSE_EINVAL;
out:
    free(conninfo);
    if (rc) {
        PQfinish(conn);
        return rc;
    }
    *out = conn;
    return 0;
}

int sse_pg_error(PGconn *conn, const PGresult *res)
{
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    if (!state || strlen(state) != 5) {
        if (!res && conn && PQstatus(conn) == CONNECTION_OK)
            return SSE_ENOMEM; /* libpq could not allocate a result */
        return SSE_EDB;
    }
    static const struct {
        const char *prefix;
        int err;
    } map[] = {
        {"08", SSE_EDB},        /* connection exception */
        {"57P", SSE_EDB},       /* server shutting down, restarting */
        {"57014", SSE_EBUSY},   /* statement_timeout, cancel */
        {"55P03", SSE_EBUSY},   /* lock_timeout */
        {"40", SSE_EBUSY},      /* serialization, recovery conflict, deadlock */
        {"23", SSE_EINVAL},     /* CHECK, NOT NULL, unique */
        {"22", SSE_EINVAL},     /* data exception (sequence at its maximum) */
        {"P0001", SSE_EINVAL},  /* RAISE EXCEPTION without a code */
        {"42P01", SSE_ESCHEMA}, /* undefined table */
        {"42703", SSE_ESCHEMA}, /* undefined column */
        {"42883", SSE_ESCHEMA}, /* undefined function */
        {"3F000", SSE_ESCHEMA}, /* invalid schema name */
        {"53200", SSE_ENOMEM},  /* out of memory */
    };
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if (strncmp(state, map[i].prefix, strlen(map[i].prefix)) == 0)
            return map[i].err;
    return SSE_EDB;
}

void sse_pg_message(PGconn *conn, const PGresult *res, char *out, size_t cap)
{
    const char *m =
        res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    if (!m || !*m)
        m = conn ? PQerrorMessage(conn) : "";
    one_line(m, out, cap);
}

int sse_pg_int64(const char *s, int64_t *v)
{
    char *end;
    errno = 0;
    long long x = strtoll(s, &end, 10);
    if (errno || end == s || *end)
        return SSE_EDB;
    *v = x;
    return 0;
}
