/* sselite.c - the sselite command-line tool: init, publish, prune, tail,
 * stats for an sselite event log.
 * SPDX-License-Identifier: MIT
 *
 * A thin shell over lib/admin.c (writes) and lib/eventlog.c (reads): every
 * command parses its arguments by hand, runs one library call or loop, and
 * turns each failure into one line on stderr that names the command and the
 * problem. Exit status: 0 success, 1 runtime error (database missing,
 * locked, damaged ...), 2 usage error (bad option, bad channel name ...).
 *
 * There is no global mutable state: `tail --follow` waits for SIGINT and
 * SIGTERM with sigtimedwait() on blocked signals instead of a handler and a
 * flag, which doubles as its 100 ms poll timer.
 */
#ifdef HAVE_CONFIG_H
#include "config.h" /* the top build dir's, for PACKAGE_VERSION */
#endif
#ifndef PACKAGE_VERSION
#error "PACKAGE_VERSION is not defined: build through configure"
#endif

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <sqlite3.h>

#include "admin.h"
#include "buf.h"
#include "channel.h"
#include "encode.h"
#include "eventlog.h"
#include "request.h"
#include "sse_error.h"

enum { EXIT_OK = 0, EXIT_RUNTIME = 1, EXIT_USAGE = 2 };

/* The same busy timeout the worker and the documented publishers use;
 * SSELITE_BUSY_TIMEOUT_MS (the worker's variable) overrides it. */
#define BUSY_TIMEOUT_MS 5000
#define BUSY_TIMEOUT_MAX_MS 3600000
/* Rows per read in tail; bounds the memory one batch of output takes. */
#define TAIL_BATCH 256
/* tail --follow checks for new rows this often. */
#define TAIL_POLL_MS 100

#define STR_(x) #x
#define STR(x) STR_(x)

/* --- messages --- */

/* Prints "sselite <cmd>: <message>" as one line on stderr. */
static void say(const char *cmd, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void say(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "sselite %s: ", cmd);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

/* Writes into q (capacity cap >= 8) a printable, one-line rendering of
 * s[0..len): bytes outside printable ASCII, and backslashes, become \xNN
 * (UTF-8 included: the point is an unambiguous message), cut at about 64
 * bytes with "...". Returns q. */
static const char *quote(char *q, size_t cap, const char *s, size_t len)
{
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        int printable = c >= 0x20 && c < 0x7f && c != '\\';
        size_t need = printable ? 1 : 4;
        if (i >= 64 || o + need + 4 > cap) {
            memcpy(q + o, "...", 3);
            o += 3;
            break;
        }
        if (printable)
            q[o++] = (char)c;
        else
            o += (size_t)snprintf(q + o, cap - o, "\\x%02X", c);
    }
    q[o] = '\0';
    return q;
}

/* A one-line reason for a library error on db (a may be NULL). */
static const char *reason(int err, const struct sse_admin *a, char *tmp,
                          size_t cap)
{
    const char *msg = a ? sse_admin_errmsg(a) : "";
    switch (err) {
    case SSE_ENOENT:
        return "no such file (create it with: sselite init DB)";
    case SSE_EDB:
        if (msg[0] == '\0')
            return "database error (check that the file and its directory"
                   " exist and are readable and writable)";
        snprintf(tmp, cap, "database error: %s", msg);
        return tmp;
    case SSE_ESCHEMA:
    case SSE_EINVAL:
    case SSE_ETOOBIG:
    case SSE_EIO:
        return msg[0] ? msg : sse_strerror(err);
    default:
        return sse_strerror(err);
    }
}

/* Prints the runtime failure err on db and returns EXIT_RUNTIME. */
static int db_failed(const char *cmd, const char *db, int err,
                     const struct sse_admin *a)
{
    char tmp[320];
    say(cmd, "%s: %s", db, reason(err, a, tmp, sizeof tmp));
    return EXIT_RUNTIME;
}

/* --- argument parsing --- */

struct opt {
    const char *name; /* long name without "--" */
    int has_arg;
};

/* Walks argv[first..argc) of one command. */
struct args {
    const char *cmd;
    int argc;
    char **argv;
    int i;
    int positional_only; /* seen "--" */
};

enum { ARG_END = -1, ARG_POSITIONAL = -2, ARG_BAD = -3, ARG_HELP = -4 };

/* Returns the index into opts of the next option (its value, if it takes
 * one, in *val), ARG_POSITIONAL with the argument in *val, ARG_HELP for
 * -h/--help, ARG_END when done, or ARG_BAD after printing why. */
static int next_arg(struct args *p, const struct opt *opts, size_t nopts,
                    const char **val)
{
    for (;;) {
        if (p->i >= p->argc)
            return ARG_END;
        const char *s = p->argv[p->i++];
        if (p->positional_only || s[0] != '-' || s[1] == '\0') {
            *val = s;
            return ARG_POSITIONAL;
        }
        if (strcmp(s, "--") == 0) {
            p->positional_only = 1;
            continue;
        }
        if (strcmp(s, "-h") == 0 || strcmp(s, "--help") == 0)
            return ARG_HELP;
        char q[300];
        if (s[1] != '-') {
            say(p->cmd, "unknown option '%s' (see: sselite %s --help)",
                quote(q, sizeof q, s, strlen(s)), p->cmd);
            return ARG_BAD;
        }
        const char *name = s + 2;
        const char *eq = strchr(name, '=');
        size_t n = eq ? (size_t)(eq - name) : strlen(name);
        for (size_t k = 0; k < nopts; k++) {
            if (strlen(opts[k].name) != n || memcmp(opts[k].name, name, n))
                continue;
            if (!opts[k].has_arg) {
                if (eq) {
                    say(p->cmd, "option '--%s' takes no value", opts[k].name);
                    return ARG_BAD;
                }
                return (int)k;
            }
            if (eq) {
                *val = eq + 1;
            } else if (p->i < p->argc) {
                *val = p->argv[p->i++];
            } else {
                say(p->cmd, "option '--%s' needs a value", opts[k].name);
                return ARG_BAD;
            }
            return (int)k;
        }
        say(p->cmd, "unknown option '%s' (see: sselite %s --help)",
            quote(q, sizeof q, s, strlen(s)), p->cmd);
        return ARG_BAD;
    }
}

/* Stores the one positional argument DB; a second one is an error. */
static int take_db(const char *cmd, const char **db, const char *val)
{
    char q[300];
    if (*db != NULL) {
        say(cmd, "unexpected argument '%s' (one DB only)",
            quote(q, sizeof q, val, strlen(val)));
        return -1;
    }
    if (val[0] == '\0') {
        say(cmd, "DB must not be empty");
        return -1;
    }
    *db = val;
    return 0;
}

/* Parses a whole number of 1 to 18 digits (no sign, no spaces). */
static int parse_count(const char *cmd, const char *opt, const char *s,
                       int64_t min, int64_t *out)
{
    int64_t v;
    char q[300];
    if (sse_request_parse_id(s, strlen(s), &v) != 0 || v < min) {
        say(cmd, "%s '%s' is not valid: use a whole number from %" PRId64,
            opt, quote(q, sizeof q, s, strlen(s)), min);
        return -1;
    }
    *out = v;
    return 0;
}

/* Parses a duration: digits with an optional unit ms, s, m, h or d (plain
 * digits are seconds) into milliseconds. */
static int parse_duration(const char *cmd, const char *opt, const char *s,
                          int64_t *ms)
{
    static const struct {
        const char *unit;
        int64_t ms;
    } units[] = {{"", 1000},   {"s", 1000},     {"ms", 1},
                 {"m", 60000}, {"h", 3600000}, {"d", 86400000}};
    size_t n = strspn(s, "0123456789");
    int64_t v;
    char q[300];
    if (sse_request_parse_id(s, n, &v) == 0) {
        for (size_t k = 0; k < sizeof units / sizeof units[0]; k++) {
            if (strcmp(s + n, units[k].unit) != 0)
                continue;
            if (v > INT64_MAX / units[k].ms)
                break;
            *ms = v * units[k].ms;
            return 0;
        }
    }
    say(cmd,
        "%s '%s' is not a duration: use e.g. 90s, 30m, 12h, 7d, 500ms or"
        " plain seconds",
        opt, quote(q, sizeof q, s, strlen(s)));
    return -1;
}

static int check_channel(const char *cmd, const char *c)
{
    char q[300];
    if (sse_channel_valid(c, strlen(c)))
        return 0;
    say(cmd,
        "channel '%s' is not valid: use 1-128 of A-Z a-z 0-9 _ . : / @ -",
        quote(q, sizeof q, c, strlen(c)));
    return -1;
}

/* Common ending of option parsing: DB is required. */
static int need_db(const char *cmd, const char *db)
{
    if (db != NULL)
        return 0;
    say(cmd, "missing DB argument (see: sselite %s --help)", cmd);
    return -1;
}

/* --- init --- */

static const char init_help[] =
    "Usage: sselite init DB\n"
    "\n"
    "Create the event log DB, or upgrade an older one in place, to schema\n"
    "version " STR(SSE_SCHEMA_VERSION) " in WAL mode. Safe to run again: an up-to-date log is left\n"
    "as it is. Other tables in DB are not touched, so the log may live in\n"
    "the application's own database.\n";

static int cmd_init(int argc, char **argv, int busy_ms)
{
    static const char cmd[] = "init";
    struct args p = {cmd, argc, argv, 0, 0};
    const char *db = NULL, *val = NULL;
    int k;
    while ((k = next_arg(&p, NULL, 0, &val)) != ARG_END) {
        if (k == ARG_HELP) {
            fputs(init_help, stdout);
            return EXIT_OK;
        }
        if (k != ARG_POSITIONAL || take_db(cmd, &db, val))
            return EXIT_USAGE;
    }
    if (need_db(cmd, db))
        return EXIT_USAGE;

    struct stat sb;
    int existed = stat(db, &sb) == 0;
    struct sse_admin *a = NULL;
    int from = 0, to = 0;
    int err = sse_admin_open(db, 1, busy_ms, &a);
    if (!err)
        err = sse_admin_init(a, &from, &to);
    int rc = EXIT_OK;
    if (err)
        rc = db_failed(cmd, db, err, a);
    else if (from == to)
        printf("%s is up to date (schema version %d)\n", db, to);
    else if (from > 0)
        printf("upgraded %s from schema version %d to %d\n", db, from, to);
    else
        printf("%s %s (schema version %d)\n", existed ? "initialised" : "created",
               db, to);
    sse_admin_close(a);
    return rc;
}

/* --- publish --- */

static const char publish_help[] =
    "Usage: sselite publish DB [--channel C] [--event T] [--data D]\n"
    "\n"
    "Add one event to DB and print its id. Without --data the data is all\n"
    "of standard input, byte for byte (a final newline is kept, and becomes\n"
    "a last empty data line on the stream).\n"
    "\n"
    "  --channel C   channel name, 1-128 of A-Z a-z 0-9 _ . : / @ -\n"
    "                (default: default)\n"
    "  --event T     event type (addEventListener name), at most 128 bytes,\n"
    "                no line breaks (default: none, i.e. \"message\")\n"
    "  --data D      the event's data; may contain line breaks\n";

/* Reads all of stdin into b. */
static int read_stdin(struct sse_buf *b)
{
    char chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, stdin)) > 0) {
        int err = sse_buf_append(b, chunk, n);
        if (err)
            return err;
    }
    return ferror(stdin) ? SSE_EIO : 0;
}

static int cmd_publish(int argc, char **argv, int busy_ms)
{
    static const char cmd[] = "publish";
    static const struct opt opts[] = {
        {"channel", 1}, {"event", 1}, {"data", 1}};
    struct args p = {cmd, argc, argv, 0, 0};
    const char *db = NULL, *val = NULL;
    const char *channel = SSE_CHANNEL_DEFAULT, *type = NULL, *data = NULL;
    char q[300];
    int k;
    while ((k = next_arg(&p, opts, 3, &val)) != ARG_END) {
        switch (k) {
        case ARG_HELP:
            fputs(publish_help, stdout);
            return EXIT_OK;
        case ARG_POSITIONAL:
            if (take_db(cmd, &db, val))
                return EXIT_USAGE;
            break;
        case 0:
            if (check_channel(cmd, val))
                return EXIT_USAGE;
            channel = val;
            break;
        case 1:
            if (!sse_event_type_valid(val, strlen(val))) {
                say(cmd,
                    "event type '%s' is not valid: use at most %d bytes and"
                    " no line breaks",
                    quote(q, sizeof q, val, strlen(val)),
                    SSE_EVENT_TYPE_MAX);
                return EXIT_USAGE;
            }
            type = val;
            break;
        case 2:
            data = val;
            break;
        default:
            return EXIT_USAGE;
        }
    }
    if (need_db(cmd, db))
        return EXIT_USAGE;

    struct sse_buf in;
    sse_buf_init(&in, 0);
    struct sse_admin *a = NULL;
    int64_t id = 0;
    int rc = EXIT_OK;
    int err = sse_admin_open(db, 0, busy_ms, &a);
    if (err) {
        rc = db_failed(cmd, db, err, a);
        goto out;
    }
    size_t len = data ? strlen(data) : 0;
    if (data == NULL) {
        err = read_stdin(&in);
        if (err) {
            say(cmd, "cannot read the data from standard input: %s",
                err == SSE_EIO ? strerror(errno) : sse_strerror(err));
            rc = EXIT_RUNTIME;
            goto out;
        }
        data = in.data;
        len = in.len;
    }
    err = sse_admin_publish(a, channel, type, data, len, &id);
    if (err) {
        rc = db_failed(cmd, db, err, a);
        goto out;
    }
    printf("%" PRId64 "\n", id);
out:
    sse_admin_close(a);
    sse_buf_cleanup(&in);
    return rc;
}

/* --- prune --- */

static const char prune_help[] =
    "Usage: sselite prune DB [--keep N] [--older-than DURATION] [--channel C]\n"
    "\n"
    "Delete old events and print how many went, then checkpoint the WAL\n"
    "(TRUNCATE) so that the -wal file shrinks. Give --keep, --older-than or\n"
    "both (an event goes if either rule says so). Ids are never reused:\n"
    "clients resuming from a pruned id get an sselite-gap event.\n"
    "\n"
    "  --keep N               keep only the newest N events\n"
    "  --older-than DURATION  delete events created longer ago than this:\n"
    "                         90s, 30m, 12h, 7d, 500ms or plain seconds\n"
    "  --channel C            apply both rules to channel C only\n";

static int cmd_prune(int argc, char **argv, int busy_ms)
{
    static const char cmd[] = "prune";
    static const struct opt opts[] = {
        {"keep", 1}, {"older-than", 1}, {"channel", 1}};
    struct args p = {cmd, argc, argv, 0, 0};
    const char *db = NULL, *val = NULL, *channel = NULL;
    int64_t keep = -1, older = -1;
    int k;
    while ((k = next_arg(&p, opts, 3, &val)) != ARG_END) {
        int bad = 0;
        switch (k) {
        case ARG_HELP:
            fputs(prune_help, stdout);
            return EXIT_OK;
        case ARG_POSITIONAL:
            bad = take_db(cmd, &db, val);
            break;
        case 0:
            bad = parse_count(cmd, "--keep", val, 0, &keep);
            break;
        case 1:
            bad = parse_duration(cmd, "--older-than", val, &older);
            break;
        case 2:
            bad = check_channel(cmd, val);
            channel = val;
            break;
        default:
            bad = 1;
        }
        if (bad)
            return EXIT_USAGE;
    }
    if (need_db(cmd, db))
        return EXIT_USAGE;
    if (keep < 0 && older < 0) {
        say(cmd, "nothing to do: give --keep N and/or --older-than DURATION");
        return EXIT_USAGE;
    }

    struct sse_admin *a = NULL;
    int64_t deleted = 0;
    int busy = 0;
    int err = sse_admin_open(db, 0, busy_ms, &a);
    if (!err)
        err = sse_admin_prune(a, keep, older, channel, &deleted);
    if (!err) {
        printf("%" PRId64 "\n", deleted);
        err = sse_admin_checkpoint(a, &busy);
    }
    int rc = EXIT_OK;
    if (err)
        rc = db_failed(cmd, db, err, a);
    else if (busy)
        say(cmd, "note: the WAL was not fully checkpointed (a reader was"
                 " active); it is reused, not grown");
    sse_admin_close(a);
    return rc;
}

/* --- tail --- */

static const char tail_help[] =
    "Usage: sselite tail DB [--channel C]... [--after ID] [--limit N]\n"
    "                       [--follow [--timeout DURATION]]\n"
    "\n"
    "Print stored events exactly as a browser's EventSource receives them\n"
    "(id:, event:, one data: line per payload line, blank line).\n"
    "\n"
    "  --channel C         only channel C; repeat for up to 32 channels\n"
    "                      (default: every channel)\n"
    "  --after ID          start after event ID (default 0: from the oldest)\n"
    "  --limit N           stop after N events\n"
    "  --follow            then wait for new events until SIGINT or SIGTERM\n"
    "  --timeout DURATION  with --follow, stop after this long: 90s, 30m,\n"
    "                      500ms or plain seconds\n";

struct tail_state {
    struct sse_buf out;
    int64_t last_id; /* highest id printed (or the --after value) */
    int64_t printed;
    int64_t limit; /* INT64_MAX when not given */
};

static int tail_row(const struct sse_event_row *row, void *ctx)
{
    struct tail_state *t = ctx;
    int err = sse_encode_event(&t->out, row->id, row->type, row->type_len,
                               row->data, row->data_len);
    if (err)
        return err;
    t->last_id = row->id;
    t->printed++;
    return 0;
}

/* Prints every matching row after t->last_id, up to the limit, in batches;
 * the output of each batch is written and flushed before the next read. */
static int tail_drain(struct sse_eventlog *log,
                      const char (*channels)[SSE_CHANNEL_MAX + 1],
                      size_t nchannels, struct tail_state *t)
{
    for (;;) {
        size_t want = TAIL_BATCH, got = 0;
        if (t->limit - t->printed < (int64_t)want)
            want = (size_t)(t->limit - t->printed);
        if (want == 0)
            return 0;
        sse_buf_reset(&t->out);
        int err = sse_eventlog_read(log, t->last_id, INT64_MAX, channels,
                                    nchannels, want, tail_row, t, &got);
        /* Rows encoded before an error are still printed. */
        if (t->out.len > 0 &&
            (fwrite(t->out.data, 1, t->out.len, stdout) != t->out.len ||
             fflush(stdout) != 0))
            return SSE_EIO;
        if (err)
            return err;
        if (got < want)
            return 0;
    }
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Polls for new rows every TAIL_POLL_MS until the limit, a deadline
 * (timeout_ms >= 0), or SIGINT/SIGTERM (blocked by the caller, in sigs). */
static int tail_follow(struct sse_eventlog *log,
                       const char (*channels)[SSE_CHANNEL_MAX + 1],
                       size_t nchannels, struct tail_state *t,
                       int64_t timeout_ms, const sigset_t *sigs)
{
    int64_t deadline = timeout_ms >= 0 ? now_ms() + timeout_ms : INT64_MAX;
    for (;;) {
        int changed = 0;
        int err = sse_eventlog_changed(log, &changed);
        if (!err && changed)
            err = tail_drain(log, channels, nchannels, t);
        if (err)
            return err;
        if (t->printed >= t->limit)
            return 0;
        if (sse_eventlog_replaced(log))
            return SSE_ECLOSED;
        int64_t left = deadline - now_ms();
        if (left <= 0)
            return 0;
        if (left > TAIL_POLL_MS)
            left = TAIL_POLL_MS;
        struct timespec ts = {0, (long)left * 1000000L};
        int sig = sigtimedwait(sigs, NULL, &ts);
        if (sig == SIGINT || sig == SIGTERM)
            return 0;
        /* -1 with EAGAIN is the poll timer; EINTR another signal. */
    }
}

static int cmd_tail(int argc, char **argv, int busy_ms)
{
    static const char cmd[] = "tail";
    static const struct opt opts[] = {{"channel", 1}, {"after", 1},
                                      {"limit", 1},   {"follow", 0},
                                      {"timeout", 1}};
    struct args p = {cmd, argc, argv, 0, 0};
    const char *db = NULL, *val = NULL;
    char channels[SSE_REQUEST_MAX_CHANNELS][SSE_CHANNEL_MAX + 1];
    size_t nchannels = 0;
    int follow = 0;
    int64_t timeout_ms = -1;
    struct tail_state t = {.last_id = 0, .printed = 0, .limit = INT64_MAX};
    int k;
    while ((k = next_arg(&p, opts, 5, &val)) != ARG_END) {
        int bad = 0;
        switch (k) {
        case ARG_HELP:
            fputs(tail_help, stdout);
            return EXIT_OK;
        case ARG_POSITIONAL:
            bad = take_db(cmd, &db, val);
            break;
        case 0:
            bad = check_channel(cmd, val);
            if (!bad && nchannels == SSE_REQUEST_MAX_CHANNELS) {
                say(cmd, "too many channels: at most %d",
                    SSE_REQUEST_MAX_CHANNELS);
                bad = 1;
            }
            if (!bad)
                snprintf(channels[nchannels++], sizeof channels[0], "%s", val);
            break;
        case 1:
            bad = parse_count(cmd, "--after", val, 0, &t.last_id);
            break;
        case 2:
            bad = parse_count(cmd, "--limit", val, 1, &t.limit);
            break;
        case 3:
            follow = 1;
            break;
        case 4:
            bad = parse_duration(cmd, "--timeout", val, &timeout_ms);
            break;
        default:
            bad = 1;
        }
        if (bad)
            return EXIT_USAGE;
    }
    if (need_db(cmd, db))
        return EXIT_USAGE;
    if (timeout_ms >= 0 && !follow) {
        say(cmd, "--timeout only applies with --follow");
        return EXIT_USAGE;
    }

    /* Blocked before anything else, so a signal sent while we open the
     * database is still seen by the first wait. A signal the parent set to
     * be ignored (a shell does so for SIGINT of background jobs) stays
     * ignored, as is the convention, rather than pending on some systems
     * and discarded on others. */
    sigset_t sigs, old;
    sigemptyset(&sigs);
    static const int stop_signals[] = {SIGINT, SIGTERM};
    for (size_t i = 0; i < 2; i++) {
        struct sigaction sa;
        if (sigaction(stop_signals[i], NULL, &sa) == 0 &&
            sa.sa_handler != SIG_IGN)
            sigaddset(&sigs, stop_signals[i]);
    }
    if (follow)
        sigprocmask(SIG_BLOCK, &sigs, &old);

    sse_buf_init(&t.out, 0);
    /* Adding const through a pointer to array needs a cast before C23. */
    const char(*chans)[SSE_CHANNEL_MAX + 1] =
        nchannels ? (const char(*)[SSE_CHANNEL_MAX + 1])channels : NULL;
    struct sse_eventlog *log = NULL;
    int err = sse_eventlog_open(db, busy_ms, &log);
    if (!err)
        err = follow ? tail_follow(log, chans, nchannels, &t, timeout_ms, &sigs)
                     : tail_drain(log, chans, nchannels, &t);
    int rc = EXIT_OK;
    if (err == SSE_ECLOSED) {
        say(cmd, "%s: the file was replaced or removed; stopping", db);
        rc = EXIT_RUNTIME;
    } else if (err == SSE_EIO) {
        say(cmd, "cannot write to standard output: %s", strerror(errno));
        rc = EXIT_RUNTIME;
    } else if (err) {
        rc = db_failed(cmd, db, err, NULL);
    }
    sse_eventlog_close(log);
    sse_buf_cleanup(&t.out);
    if (follow)
        sigprocmask(SIG_SETMASK, &old, NULL);
    return rc;
}

/* --- stats --- */

static const char stats_help[] =
    "Usage: sselite stats DB [--json]\n"
    "\n"
    "Print the schema version, journal mode, number of events, highest id\n"
    "ever assigned (head), oldest stored id, times of the oldest and newest\n"
    "events, database and WAL sizes, and events and last id per channel.\n"
    "\n"
    "  --json   one JSON object instead of text\n";

/* Collects per-channel lines while sse_admin_stats runs. */
struct stats_ctx {
    struct sse_buf channels;
    int json;
    int64_t n;
};

/* Appends s as a JSON string. Channel names are plain ASCII by the
 * schema's CHECK, but escaping keeps the output valid whatever the file
 * holds. */
static int json_str(struct sse_buf *b, const char *s)
{
    int err = sse_buf_append(b, "\"", 1);
    for (; !err && *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            err = sse_buf_appendf(b, "\\%c", c);
        else if (c < 0x20)
            err = sse_buf_appendf(b, "\\u%04x", c);
        else
            err = sse_buf_append(b, s, 1);
    }
    return err ? err : sse_buf_append(b, "\"", 1);
}

static int stats_channel(const char *name, int64_t rows, int64_t last_id,
                         void *ctx)
{
    struct stats_ctx *c = ctx;
    int err;
    if (c->json) {
        err = sse_buf_append_str(&c->channels, c->n ? ",{\"name\":" : "{\"name\":");
        if (!err)
            err = json_str(&c->channels, name);
        if (!err)
            err = sse_buf_appendf(&c->channels,
                                  ",\"rows\":%" PRId64 ",\"last_id\":%" PRId64
                                  "}",
                                  rows, last_id);
    } else {
        err = sse_buf_appendf(&c->channels,
                              "  %-20s rows %" PRId64 ", last id %" PRId64
                              "\n",
                              name, rows, last_id);
    }
    c->n++;
    return err;
}

/* Formats ms since the epoch as UTC ISO 8601 with milliseconds. */
static const char *iso_time(char *out, size_t cap, int64_t ms)
{
    time_t sec = (time_t)(ms / 1000);
    struct tm tm;
    char base[32];
    if (gmtime_r(&sec, &tm) == NULL ||
        strftime(base, sizeof base, "%Y-%m-%dT%H:%M:%S", &tm) == 0)
        snprintf(out, cap, "?");
    else
        snprintf(out, cap, "%s.%03dZ", base, (int)(ms % 1000));
    return out;
}

static void print_stats(const struct sse_admin_stats *st,
                        const struct stats_ctx *c)
{
    char t1[48], t2[48];
    const char *ch = c->channels.data ? c->channels.data : "";
    if (c->json) {
        /* Times as ms and as ISO 8601 strings (null for an empty log). */
        char q1[64], q2[64];
        snprintf(q1, sizeof q1, st->rows ? "\"%s\"" : "null",
                 iso_time(t1, sizeof t1, st->oldest_ms));
        snprintf(q2, sizeof q2, st->rows ? "\"%s\"" : "null",
                 iso_time(t2, sizeof t2, st->newest_ms));
        printf("{\"schema_version\":%d,\"journal_mode\":\"%s\","
               "\"rows\":%" PRId64 ",\"head_id\":%" PRId64
               ",\"oldest_id\":%" PRId64 ",\"oldest_ms\":%" PRId64
               ",\"newest_ms\":%" PRId64 ",\"oldest_time\":%s"
               ",\"newest_time\":%s,\"db_bytes\":%" PRId64
               ",\"wal_bytes\":%" PRId64 ",\"channels\":[%s]}\n",
               st->schema_version, st->journal_mode, st->rows, st->head_id,
               st->oldest_id, st->oldest_ms, st->newest_ms, q1, q2,
               st->db_bytes, st->wal_bytes, ch);
        return;
    }
    printf("schema version  %d\n"
           "journal mode    %s\n"
           "rows            %" PRId64 "\n"
           "head id         %" PRId64 "\n"
           "oldest id       %" PRId64 "\n"
           "oldest event    %s\n"
           "newest event    %s\n"
           "db bytes        %" PRId64 "\n"
           "wal bytes       %" PRId64 "\n"
           "channels        %" PRId64 "\n%s",
           st->schema_version, st->journal_mode, st->rows, st->head_id,
           st->oldest_id,
           st->rows ? iso_time(t1, sizeof t1, st->oldest_ms) : "-",
           st->rows ? iso_time(t2, sizeof t2, st->newest_ms) : "-",
           st->db_bytes, st->wal_bytes, c->n, ch);
}

static int cmd_stats(int argc, char **argv, int busy_ms)
{
    static const char cmd[] = "stats";
    static const struct opt opts[] = {{"json", 0}};
    struct args p = {cmd, argc, argv, 0, 0};
    const char *db = NULL, *val = NULL;
    struct stats_ctx c = {.json = 0, .n = 0};
    int k;
    while ((k = next_arg(&p, opts, 1, &val)) != ARG_END) {
        if (k == ARG_HELP) {
            fputs(stats_help, stdout);
            return EXIT_OK;
        }
        if (k == 0)
            c.json = 1;
        else if (k != ARG_POSITIONAL || take_db(cmd, &db, val))
            return EXIT_USAGE;
    }
    if (need_db(cmd, db))
        return EXIT_USAGE;

    sse_buf_init(&c.channels, 0);
    struct sse_admin *a = NULL;
    struct sse_admin_stats st;
    int err = sse_admin_open(db, 0, busy_ms, &a);
    if (!err)
        err = sse_admin_stats(a, &st, stats_channel, &c);
    int rc = EXIT_OK;
    if (err)
        rc = db_failed(cmd, db, err, a);
    else
        print_stats(&st, &c);
    sse_admin_close(a);
    sse_buf_cleanup(&c.channels);
    return rc;
}

/* --- main --- */

static const char main_help[] =
    "Usage: sselite COMMAND DB [OPTION]...\n"
    "\n"
    "Manage an sselite event log: the SQLite database that sselite-fcgi\n"
    "streams to browsers as Server-Sent Events.\n"
    "\n"
    "Commands:\n"
    "  init DB      create DB, or upgrade its schema, in WAL mode\n"
    "  publish DB   add one event (data from --data or stdin); print its id\n"
    "  prune DB     delete old events; print how many; shrink the WAL\n"
    "  tail DB      print events as a browser receives them; --follow\n"
    "  stats DB     print the state and size of the log\n"
    "  help [CMD]   this help, or a command's (same as: sselite CMD --help)\n"
    "\n"
    "Options:\n"
    "  -h, --help   show this help\n"
    "  --version    show the version\n"
    "\n"
    "Environment:\n"
    "  SSELITE_BUSY_TIMEOUT_MS   how long to wait for a locked database\n"
    "                            (default 5000)\n"
    "\n"
    "Exit status: 0 success, 1 runtime error (database missing, locked,\n"
    "damaged ...), 2 usage error. See sselite(1).\n";

struct command {
    const char *name;
    int (*run)(int argc, char **argv, int busy_ms);
    const char *help;
};

static const struct command commands[] = {
    {"init", cmd_init, init_help},       {"publish", cmd_publish, publish_help},
    {"prune", cmd_prune, prune_help},    {"tail", cmd_tail, tail_help},
    {"stats", cmd_stats, stats_help},
};

static const struct command *find_command(const char *name)
{
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (strcmp(commands[i].name, name) == 0)
            return &commands[i];
    return NULL;
}

static int unknown_command(const char *name)
{
    char q[300];
    fprintf(stderr, "sselite: unknown command '%s' (see: sselite --help)\n",
            quote(q, sizeof q, name, strlen(name)));
    return EXIT_USAGE;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fputs(main_help, stderr);
        return EXIT_USAGE;
    }
    const char *name = argv[1];
    if (strcmp(name, "-h") == 0 || strcmp(name, "--help") == 0) {
        fputs(main_help, stdout);
        return EXIT_OK;
    }
    if (strcmp(name, "--version") == 0) {
        printf("sselite %s (schema version %d, SQLite %s)\n", PACKAGE_VERSION,
               SSE_SCHEMA_VERSION, sqlite3_libversion());
        return EXIT_OK;
    }
    if (strcmp(name, "help") == 0) {
        if (argc == 2) {
            fputs(main_help, stdout);
            return EXIT_OK;
        }
        const struct command *c = find_command(argv[2]);
        if (c == NULL)
            return unknown_command(argv[2]);
        fputs(c->help, stdout);
        return EXIT_OK;
    }
    const struct command *c = find_command(name);
    if (c == NULL)
        return unknown_command(name);
    int64_t busy_ms = BUSY_TIMEOUT_MS;
    const char *env = getenv("SSELITE_BUSY_TIMEOUT_MS");
    if (env != NULL && (sse_request_parse_id(env, strlen(env), &busy_ms) ||
                        busy_ms > BUSY_TIMEOUT_MAX_MS)) {
        char q[300];
        say(name,
            "SSELITE_BUSY_TIMEOUT_MS '%s' is not valid: use a whole number"
            " of milliseconds from 0 to %d",
            quote(q, sizeof q, env, strlen(env)), BUSY_TIMEOUT_MAX_MS);
        return EXIT_USAGE;
    }
    int rc = c->run(argc - 2, argv + 2, (int)busy_ms);
    /* Output that could not be written is a failure (e.g. a full disk). */
    if (fflush(stdout) != 0 || ferror(stdout)) {
        fprintf(stderr, "sselite %s: cannot write to standard output\n", name);
        return EXIT_RUNTIME;
    }
    return rc;
}
