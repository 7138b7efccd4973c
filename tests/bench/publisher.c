/* publisher.c - paced or flat-out event publisher for the benchmarks.
 * SPDX-License-Identifier: MIT
 *
 * Publishes events whose data is {"seq":N,"t":<unix microseconds>}, the
 * format loadclient measures, to one of the two systems under test:
 *
 *   publisher sqlite --db DB --channel C --count N [--rate R] [--batch B]
 *       INSERTs into the sselite event log, one autocommit transaction per
 *       event (the durable path: each event is on disk when the INSERT
 *       returns), or B events per transaction with --batch.
 *   publisher pg --db postgresql://... --channel C --count N [--rate R]
 *       [--batch B] [--schema S]
 *       The same INSERTs into the log in PostgreSQL (libpq, one prepared
 *       statement, autocommit or B events per transaction). The server's
 *       synchronous_commit decides when COMMIT returns; --synchronous
 *       normal|off sets it off for this session (SQLite's NORMAL: a crash
 *       can lose the last commits, never order them differently).
 *   publisher nchan --port P --path '/pub?channel=C' --count N [--rate R]
 *       POSTs each event to an Nchan publisher location over one
 *       keep-alive connection, waiting for each response (201 or 202).
 *       A refused or broken connection is retried (--retry-s) so the
 *       publisher rides out a server restart; such retries are counted.
 *   publisher head --db DB|postgresql://... [--schema S]
 *       Prints the highest event id ever assigned (0 for an empty log):
 *       a subscriber that resumes from it gets exactly the new events.
 *
 * Pacing uses absolute deadlines (event i is due at start + i / rate), so a
 * slow call is caught up rather than shifting every later event. Without
 * --rate the events go out as fast as the target accepts them. The summary
 * is one JSON object on stdout.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <libpq-fe.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "bench_util.h"

struct opts {
    const char *mode;
    const char *db;
    const char *schema; /* pg: the log's schema */
    const char *channel;
    const char *host;
    int port;
    const char *path;
    int64_t count;
    int64_t seq_start;
    double rate;      /* events per second, 0 = as fast as possible */
    int batch;        /* events per transaction (sqlite, pg) */
    const char *sync; /* PRAGMA synchronous value, NULL = default */
    double retry_s;   /* nchan: keep retrying a refused POST this long */
    int64_t mark_at;  /* create mark_file once this many are published */
    const char *mark_file;
};

struct result {
    int64_t published, retries, first_id, last_id;
    int64_t ambiguous; /* retries after a POST was sent but not answered:
                          the server may have taken it, so the event can
                          arrive twice (under two ids) */
    int64_t max_call_us;
    double elapsed_s;
    int sync_level; /* sqlite: PRAGMA synchronous; pg: synchronous_commit
                       is on (1) or off (0); -1: unknown */
};

static volatile sig_atomic_t got_signal;

static void on_signal(int sig)
{
    (void)sig;
    got_signal = 1;
}

/* Sleeps until event i is due. */
static void pace(const struct opts *o, int64_t start_ns, int64_t i)
{
    struct timespec ts;
    int64_t due;
    if (o->rate <= 0)
        return;
    due = start_ns + (int64_t)((double)i * 1e9 / o->rate);
    ts.tv_sec = due / 1000000000;
    ts.tv_nsec = due % 1000000000;
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) ==
               EINTR &&
           !got_signal)
        ;
}

/* Counts one published event; creates the mark file when the count
 * reaches --mark-at, so a script can act mid-run without guessing times. */
static void published_one(const struct opts *o, struct result *r)
{
    FILE *f;
    r->published++;
    if (!o->mark_file || r->published != o->mark_at)
        return;
    f = fopen(o->mark_file, "we");
    if (!f)
        die("%s: %s", o->mark_file, strerror(errno));
    fprintf(f, "%" PRId64 "\n", r->published);
    fclose(f);
}

static int make_data(char *buf, size_t len, int64_t seq)
{
    int n = snprintf(buf, len, "{\"seq\":%" PRId64 ",\"t\":%" PRId64 "}", seq,
                     real_us());
    if (n < 0 || (size_t)n >= len)
        die("event data does not fit");
    return n;
}

/* ---- sselite: INSERT into the event log ---- */

static sqlite3 *db_open(const char *path)
{
    sqlite3 *db = NULL;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK)
        die("%s: %s", path, db ? sqlite3_errmsg(db) : "cannot open");
    sqlite3_busy_timeout(db, 10000);
    return db;
}

static int64_t db_head(sqlite3 *db)
{
    sqlite3_stmt *st = NULL;
    int64_t head = 0;
    if (sqlite3_prepare_v2(db,
                           "SELECT coalesce((SELECT seq FROM sqlite_sequence"
                           " WHERE name = 'events'), 0)",
                           -1, &st, NULL) != SQLITE_OK)
        die("head: %s", sqlite3_errmsg(db));
    if (sqlite3_step(st) == SQLITE_ROW)
        head = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return head;
}

static void db_exec(sqlite3 *db, const char *sql)
{
    char *err = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK)
        die("%s: %s", sql, err ? err : "?");
}

static void run_sqlite(const struct opts *o, struct result *r)
{
    sqlite3 *db = db_open(o->db);
    sqlite3_stmt *ins = NULL, *sy = NULL;
    int64_t start, i;
    char data[128], pragma[64];

    if (o->sync) {
        snprintf(pragma, sizeof pragma, "PRAGMA synchronous=%s", o->sync);
        db_exec(db, pragma);
    }
    if (sqlite3_prepare_v2(db, "PRAGMA synchronous", -1, &sy, NULL) ==
            SQLITE_OK &&
        sqlite3_step(sy) == SQLITE_ROW)
        r->sync_level = sqlite3_column_int(sy, 0);
    sqlite3_finalize(sy);
    if (sqlite3_prepare_v2(db, "INSERT INTO events(channel, data) VALUES(?, ?)",
                           -1, &ins, NULL) != SQLITE_OK)
        die("prepare: %s", sqlite3_errmsg(db));
    sqlite3_bind_text(ins, 1, o->channel, -1, SQLITE_STATIC);
    start = mono_ns();
    for (i = 0; i < o->count && !got_signal; i++) {
        int64_t t0, dt;
        int n;
        pace(o, start, i);
        t0 = mono_ns();
        if (o->batch > 1 && i % o->batch == 0)
            db_exec(db, "BEGIN IMMEDIATE");
        n = make_data(data, sizeof data, o->seq_start + i);
        sqlite3_bind_text(ins, 2, data, n, SQLITE_TRANSIENT);
        if (sqlite3_step(ins) != SQLITE_DONE)
            die("insert: %s", sqlite3_errmsg(db));
        sqlite3_reset(ins);
        r->last_id = sqlite3_last_insert_rowid(db);
        if (i == 0)
            r->first_id = r->last_id;
        if (o->batch > 1 && (i % o->batch == o->batch - 1 || i == o->count - 1))
            db_exec(db, "COMMIT");
        published_one(o, r);
        dt = (mono_ns() - t0) / 1000;
        if (dt > r->max_call_us)
            r->max_call_us = dt;
    }
    if (o->batch > 1 && sqlite3_get_autocommit(db) == 0)
        db_exec(db, "COMMIT");
    r->elapsed_s = (double)(mono_ns() - start) / 1e9;
    sqlite3_finalize(ins);
    sqlite3_close(db);
}

/* ---- sselite on PostgreSQL: INSERT through libpq ---- */

static int is_pg_uri(const char *db)
{
    return strncmp(db, "postgresql://", 13) == 0 ||
           strncmp(db, "postgres://", 11) == 0;
}

static PGconn *pg_open(const char *uri)
{
    PGconn *c = PQconnectdb(uri);
    if (PQstatus(c) != CONNECTION_OK)
        die("connect: %s", PQerrorMessage(c));
    return c;
}

/* Runs sql (no parameters); dies unless it returns status want. The
 * result is the caller's to PQclear. */
static PGresult *pg_exec(PGconn *c, const char *sql, ExecStatusType want)
{
    PGresult *res = PQexec(c, sql);
    if (PQresultStatus(res) != want)
        die("%s: %s", sql, PQerrorMessage(c));
    return res;
}

/* "schema.name" with the schema quoted as an identifier. */
static void pg_table(PGconn *c, const char *schema, const char *name, char *out,
                     size_t len)
{
    char *q = PQescapeIdentifier(c, schema, strlen(schema));
    int n;
    if (!q)
        die("schema: %s", PQerrorMessage(c));
    n = snprintf(out, len, "%s.%s", q, name);
    PQfreemem(q);
    if (n < 0 || (size_t)n >= len)
        die("schema name too long");
}

/* The highest id ever assigned, as the worker's head: live rows and what
 * pruning removed (events_pruned), whichever is higher. */
static int64_t pg_head(PGconn *c, const char *schema)
{
    char ev[256], pr[256], sql[768];
    PGresult *res;
    int64_t head;
    pg_table(c, schema, "events", ev, sizeof ev);
    pg_table(c, schema, "events_pruned", pr, sizeof pr);
    snprintf(sql, sizeof sql,
             "SELECT greatest(coalesce((SELECT max(id) FROM %s), 0),"
             " coalesce((SELECT max(through_id) FROM %s), 0))",
             ev, pr);
    res = pg_exec(c, sql, PGRES_TUPLES_OK);
    head = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    PQclear(res);
    return head;
}

static void run_pg(const struct opts *o, struct result *r)
{
    PGconn *c = pg_open(o->db);
    PGresult *res;
    char ev[256], sql[512], data[128];
    int64_t start, i;

    if (o->sync)
        PQclear(pg_exec(c,
                        strcmp(o->sync, "full") == 0 ||
                                strcmp(o->sync, "extra") == 0
                            ? "SET synchronous_commit = on"
                            : "SET synchronous_commit = off",
                        PGRES_COMMAND_OK));
    res = pg_exec(c, "SHOW synchronous_commit", PGRES_TUPLES_OK);
    r->sync_level = strcmp(PQgetvalue(res, 0, 0), "off") != 0;
    PQclear(res);
    pg_table(c, o->schema, "events", ev, sizeof ev);
    snprintf(sql, sizeof sql,
             "INSERT INTO %s (channel, data) VALUES ($1, $2) RETURNING id", ev);
    res = PQprepare(c, "ins", sql, 2, NULL);
    if (PQresultStatus(res) != PGRES_COMMAND_OK)
        die("prepare: %s", PQerrorMessage(c));
    PQclear(res);
    start = mono_ns();
    for (i = 0; i < o->count && !got_signal; i++) {
        const char *params[2];
        int64_t t0, dt;
        pace(o, start, i);
        t0 = mono_ns();
        if (o->batch > 1 && i % o->batch == 0)
            PQclear(pg_exec(c, "BEGIN", PGRES_COMMAND_OK));
        make_data(data, sizeof data, o->seq_start + i);
        params[0] = o->channel;
        params[1] = data;
        res = PQexecPrepared(c, "ins", 2, params, NULL, NULL, 0);
        if (PQresultStatus(res) != PGRES_TUPLES_OK)
            die("insert: %s", PQerrorMessage(c));
        r->last_id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
        PQclear(res);
        if (i == 0)
            r->first_id = r->last_id;
        if (o->batch > 1 && (i % o->batch == o->batch - 1 || i == o->count - 1))
            PQclear(pg_exec(c, "COMMIT", PGRES_COMMAND_OK));
        published_one(o, r);
        dt = (mono_ns() - t0) / 1000;
        if (dt > r->max_call_us)
            r->max_call_us = dt;
    }
    if (o->batch > 1 && PQtransactionStatus(c) == PQTRANS_INTRANS)
        PQclear(pg_exec(c, "COMMIT", PGRES_COMMAND_OK));
    r->elapsed_s = (double)(mono_ns() - start) / 1e9;
    PQfinish(c);
}

/* ---- Nchan: HTTP POST over a keep-alive connection ---- */

struct http {
    int fd;
    struct sockaddr_in addr;
    char buf[16384];
    size_t len;
};

static int http_connect(struct http *h)
{
    int one = 1;
    h->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (h->fd < 0)
        return -1;
    setsockopt(h->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(h->fd, (struct sockaddr *)&h->addr, sizeof h->addr) < 0) {
        close(h->fd);
        h->fd = -1;
        return -1;
    }
    h->len = 0;
    return 0;
}

static void http_close(struct http *h)
{
    if (h->fd >= 0)
        close(h->fd);
    h->fd = -1;
    h->len = 0;
}

static int write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Reads more response bytes into h->buf. Returns 0, or -1 on EOF, an
 * error or a full buffer (the connection is then unusable). */
static int http_read_more(struct http *h)
{
    for (;;) {
        ssize_t n;
        if (h->len >= sizeof h->buf - 1)
            return -1;
        n = read(h->fd, h->buf + h->len, sizeof h->buf - 1 - h->len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        h->len += (size_t)n;
        h->buf[h->len] = '\0';
        return 0;
    }
}

/* Reads one response. Returns its status (0 on a broken connection) and
 * sets *close_after when the server announced "Connection: close". Only
 * Content-Length bodies are expected from Nchan's publisher. */
static int http_response(struct http *h, int *close_after)
{
    char *end;
    long long clen = 0;
    size_t head;
    int status = 0;
    const char *v;

    *close_after = 0;
    h->buf[h->len] = '\0';
    while (!(end = strstr(h->buf, "\r\n\r\n")))
        if (http_read_more(h) < 0)
            return 0;
    head = (size_t)(end - h->buf) + 4;
    *end = '\0';
    if (sscanf(h->buf, "HTTP/1.%*d %d", &status) != 1)
        return 0;
    if ((v = strcasestr(h->buf, "\r\nContent-Length:")))
        clen = strtoll(v + 17, NULL, 10);
    if (clen < 0 || (size_t)clen > sizeof h->buf - 1 - head)
        return 0;
    if ((v = strcasestr(h->buf, "\r\nConnection:")) &&
        strncasecmp(v + 13 + strspn(v + 13, " "), "close", 5) == 0)
        *close_after = 1;
    if (strcasestr(h->buf, "\r\nTransfer-Encoding:"))
        *close_after = 1; /* not expected; resync by reconnecting */
    while (h->len - head < (size_t)clen)
        if (http_read_more(h) < 0)
            return 0;
    /* Keep anything after this response (there should be nothing). */
    memmove(h->buf, h->buf + head + (size_t)clen, h->len - head - (size_t)clen);
    h->len -= head + (size_t)clen;
    return status;
}

static void run_nchan(const struct opts *o, struct result *r)
{
    struct http h;
    char data[128], req[1024];
    int64_t start, i;

    memset(&h, 0, sizeof h);
    h.fd = -1;
    h.addr.sin_family = AF_INET;
    h.addr.sin_port = htons((uint16_t)o->port);
    if (inet_pton(AF_INET, o->host, &h.addr.sin_addr) != 1)
        die("--host: '%s' is not an IPv4 address", o->host);
    start = mono_ns();
    for (i = 0; i < o->count && !got_signal; i++) {
        int64_t t0, dt, give_up = 0;
        pace(o, start, i);
        t0 = mono_ns();
        for (;;) {
            int n, m, status = 0, close_after = 0;
            if (h.fd < 0 && http_connect(&h) < 0)
                goto retry;
            /* The timestamp is taken per attempt, so latency counts from
             * the POST that the server accepted. */
            n = make_data(data, sizeof data, o->seq_start + i);
            m = snprintf(req, sizeof req,
                         "POST %s HTTP/1.1\r\nHost: %s:%d\r\n"
                         "Content-Type: text/plain\r\n"
                         "Content-Length: %d\r\n\r\n%s",
                         o->path, o->host, o->port, n, data);
            if (m < 0 || (size_t)m >= sizeof req)
                die("request too long");
            if (write_all(h.fd, req, (size_t)m) == 0) {
                status = http_response(&h, &close_after);
                if (status == 0)
                    r->ambiguous++;
            }
            if (close_after || status == 0)
                http_close(&h);
            if (status == 201 || status == 202)
                break;
            if (status != 0)
                die("POST %s: HTTP status %d", o->path, status);
        retry:
            r->retries++;
            if (!give_up)
                give_up = mono_ns() + (int64_t)(o->retry_s * 1e9);
            if (mono_ns() > give_up || got_signal)
                die("POST %s: no answer for %.1f s (event %" PRId64 ")",
                    o->path, o->retry_s, o->seq_start + i);
            {
                struct timespec ts = {0, 20 * 1000000};
                nanosleep(&ts, NULL); /* back off while the server is down */
            }
        }
        published_one(o, r);
        dt = (mono_ns() - t0) / 1000;
        if (dt > r->max_call_us)
            r->max_call_us = dt;
    }
    r->elapsed_s = (double)(mono_ns() - start) / 1e9;
    http_close(&h);
}

/* ---- main ---- */

static void usage(FILE *f)
{
    fputs("usage: publisher sqlite --db DB [--channel C] --count N [--rate R]"
          " [--batch B] [--synchronous full|normal|off]\n"
          "       publisher pg --db postgresql://... [--schema S] [--channel C]"
          " --count N [--rate R] [--batch B] [--synchronous full|normal|off]\n"
          "       publisher nchan --port P [--host ADDR] --path '/pub?...'"
          " --count N [--rate R] [--retry-s S]\n"
          "       publisher head --db DB|postgresql://... [--schema S]\n"
          "  both publishing modes: [--seq-start S] (first seq, 1)\n"
          "    [--mark-at K --mark-file F] (create F after K events)\n",
          f);
}

static double cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

int main(int argc, char **argv)
{
    enum {
        OPT_DB = 256,
        OPT_SCHEMA,
        OPT_CHANNEL,
        OPT_HOST,
        OPT_PORT,
        OPT_PATH,
        OPT_COUNT,
        OPT_RATE,
        OPT_BATCH,
        OPT_SYNC,
        OPT_SEQ,
        OPT_RETRY,
        OPT_MARK_AT,
        OPT_MARK_FILE
    };
    static const struct option lo[] = {
        {"db", required_argument, NULL, OPT_DB},
        {"schema", required_argument, NULL, OPT_SCHEMA},
        {"channel", required_argument, NULL, OPT_CHANNEL},
        {"host", required_argument, NULL, OPT_HOST},
        {"port", required_argument, NULL, OPT_PORT},
        {"path", required_argument, NULL, OPT_PATH},
        {"count", required_argument, NULL, OPT_COUNT},
        {"rate", required_argument, NULL, OPT_RATE},
        {"batch", required_argument, NULL, OPT_BATCH},
        {"synchronous", required_argument, NULL, OPT_SYNC},
        {"seq-start", required_argument, NULL, OPT_SEQ},
        {"retry-s", required_argument, NULL, OPT_RETRY},
        {"mark-at", required_argument, NULL, OPT_MARK_AT},
        {"mark-file", required_argument, NULL, OPT_MARK_FILE},
        {NULL, 0, NULL, 0}};
    struct opts o;
    struct result r;
    struct sigaction sa;
    int ch;

    memset(&o, 0, sizeof o);
    memset(&r, 0, sizeof r);
    r.sync_level = -1;
    o.channel = "bench";
    o.schema = "sselite";
    o.host = "127.0.0.1";
    o.seq_start = 1;
    o.batch = 1;
    o.retry_s = 30;
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    o.mode = argv[1];
    optind = 2;
    while ((ch = getopt_long(argc, argv, "", lo, NULL)) != -1) {
        switch (ch) {
        case OPT_DB:
            o.db = optarg;
            break;
        case OPT_SCHEMA:
            o.schema = optarg;
            break;
        case OPT_CHANNEL:
            o.channel = optarg;
            break;
        case OPT_HOST:
            o.host = optarg;
            break;
        case OPT_PORT:
            o.port = (int)parse_ll("port", optarg, 1, 65535);
            break;
        case OPT_PATH:
            o.path = optarg;
            break;
        case OPT_COUNT:
            o.count = parse_ll("count", optarg, 0, 1LL << 40);
            break;
        case OPT_RATE:
            o.rate = (double)parse_ll("rate", optarg, 0, 10000000);
            break;
        case OPT_BATCH:
            o.batch = (int)parse_ll("batch", optarg, 1, 1000000);
            break;
        case OPT_SYNC:
            if (strcmp(optarg, "full") && strcmp(optarg, "normal") &&
                strcmp(optarg, "off") && strcmp(optarg, "extra"))
                die("--synchronous: '%s' is not off|normal|full|extra", optarg);
            o.sync = optarg;
            break;
        case OPT_SEQ:
            o.seq_start = parse_ll("seq-start", optarg, 0, 1LL << 62);
            break;
        case OPT_RETRY:
            o.retry_s = (double)parse_ll("retry-s", optarg, 0, 3600);
            break;
        case OPT_MARK_AT:
            o.mark_at = parse_ll("mark-at", optarg, 1, 1LL << 40);
            break;
        case OPT_MARK_FILE:
            o.mark_file = optarg;
            break;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind < argc)
        die("unexpected argument '%s'", argv[optind]);
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    if (strcmp(o.mode, "head") == 0) {
        sqlite3 *db;
        if (!o.db)
            die("head: --db is required");
        if (is_pg_uri(o.db)) {
            PGconn *c = pg_open(o.db);
            printf("%" PRId64 "\n", pg_head(c, o.schema));
            PQfinish(c);
            return 0;
        }
        db = db_open(o.db);
        printf("%" PRId64 "\n", db_head(db));
        sqlite3_close(db);
        return 0;
    } else if (strcmp(o.mode, "sqlite") == 0) {
        if (!o.db)
            die("sqlite: --db is required");
        run_sqlite(&o, &r);
    } else if (strcmp(o.mode, "pg") == 0) {
        if (!o.db || !is_pg_uri(o.db))
            die("pg: --db postgresql://... is required");
        run_pg(&o, &r);
    } else if (strcmp(o.mode, "nchan") == 0) {
        if (!o.port || !o.path)
            die("nchan: --port and --path are required");
        run_nchan(&o, &r);
    } else {
        usage(stderr);
        return 2;
    }
    printf("{\"mode\":\"%s\",\"count\":%" PRId64 ",\"published\":%" PRId64
           ",\"retries\":%" PRId64 ",\"ambiguous_retries\":%" PRId64
           ",\"first_id\":%" PRId64 ",\"last_id\":%" PRId64
           ",\"elapsed_s\":%.3f,\"rate\":%.1f,"
           "\"max_call_ms\":%.3f,\"synchronous\":%d,\"cpu_s\":%.3f}\n",
           o.mode, o.count, r.published, r.retries, r.ambiguous, r.first_id,
           r.last_id, r.elapsed_s,
           r.elapsed_s > 0 ? (double)r.published / r.elapsed_s : 0.0,
           (double)r.max_call_us / 1000.0, r.sync_level, cpu_s());
    return r.published == o.count ? 0 : 1;
}
