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
#include "dbname.h"
#include "encode.h"
#include "eventlog.h"
#include "pattern.h"
#include "request.h"
#include "retention.h"
#include "sse_error.h"
#include "sse_limits.h"
#include "token.h"

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

/* A one-line reason for a library error: msg is the library's own
 * explanation ("" if none). */
static const char *reason(int err, const char *msg, char *tmp, size_t cap)
{
    switch (err) {
    case SSE_ENOENT:
        return "no such file (create it with: sselite init DB)";
    case SSE_EDB:
        if (msg[0] == '\0')
            return "database error (check that the file and its directory"
                   " exist and are readable and writable, or that the"
                   " PostgreSQL server is reachable)";
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

/* Prints the runtime failure err on db, explained by msg (may be NULL),
 * and returns EXIT_RUNTIME. A URI is shown without its password. */
static int failed_msg(const char *cmd, const char *db, int err, const char *msg)
{
    char tmp[320], name[512];
    say(cmd, "%s: %s", sse_dbname_display(db, name, sizeof name),
        reason(err, msg ? msg : "", tmp, sizeof tmp));
    return EXIT_RUNTIME;
}

/* Prints the runtime failure err on db (a may be NULL) and returns
 * EXIT_RUNTIME. */
static int db_failed(const char *cmd, const char *db, int err,
                     const struct sse_admin *a)
{
    return failed_msg(cmd, db, err, a ? sse_admin_errmsg(a) : NULL);
}

/* Opens db for writing (not creating it); on failure prints why and
 * returns EXIT_RUNTIME, else 0 with *a set. */
static int open_admin(const char *cmd, const char *db, int busy_ms,
                      struct sse_admin **a)
{
    char why[256];
    int err = sse_admin_open_msg(db, 0, busy_ms, a, why, sizeof why);
    return err ? failed_msg(cmd, db, err, why) : 0;
}

/* --- argument parsing --- */

struct opt {
    const char *name; /* long name without "--" */
    int has_arg;
};

/* Called for each known option of a command: k is its index in the
 * command's option table, val its value (NULL for a flag). Returns 0, or
 * -1 after printing why the value is refused. */
typedef int (*opt_fn)(const char *cmd, int k, const char *val, void *ctx);

/* What one command accepts besides -h/--help and its DB argument. */
struct cmd_spec {
    const char *name;
    const char *help;
    const struct opt *opts;
    size_t nopts;
    opt_fn on_opt;
};

enum { GO_ON = -1 };

/* Finds the option named by s ("--name" or "--name=value"), taking its
 * value from s or from argv[*i] (then advancing *i). Returns its index in
 * spec->opts, or -1 after printing why not. */
static int find_opt(const struct cmd_spec *spec, const char *s, int argc,
                    char **argv, int *i, const char **val)
{
    char q[300];
    const char *name = s + 2;
    const char *eq = strchr(name, '=');
    size_t n = eq ? (size_t)(eq - name) : strlen(name);
    for (size_t k = 0; s[1] == '-' && k < spec->nopts; k++) {
        const struct opt *o = &spec->opts[k];
        if (strlen(o->name) != n || memcmp(o->name, name, n) != 0)
            continue;
        if (!o->has_arg && eq) {
            say(spec->name, "option '--%s' takes no value", o->name);
            return -1;
        }
        if (o->has_arg && !eq && *i >= argc) {
            say(spec->name, "option '--%s' needs a value", o->name);
            return -1;
        }
        *val = !o->has_arg ? NULL : eq ? eq + 1 : argv[(*i)++];
        return (int)k;
    }
    say(spec->name, "unknown option '%s' (see: sselite %s --help)",
        quote(q, sizeof q, s, strlen(s)), spec->name);
    return -1;
}

/* Parses argv[0..argc) of a command: exactly one non-empty DB argument,
 * anywhere, and the options of spec, each handed to spec->on_opt with ctx;
 * "--" ends the options. Returns GO_ON with *db set, or the status to exit
 * with: EXIT_OK after printing the help, EXIT_USAGE after printing why the
 * arguments are refused. */
/* The positional arguments a command takes: names[0..max), of which the
 * first min are required ("DB", "PRINCIPAL", ...). */
struct positionals {
    const char *const *names;
    int min, max;
};

static int parse_argv(const struct cmd_spec *spec, void *ctx, int argc,
                      char **argv, const struct positionals *want,
                      const char **got);

static const char *const DB_ONLY[] = {"DB"};

static int parse_args(const struct cmd_spec *spec, void *ctx, int argc,
                      char **argv, const char **db)
{
    static const struct positionals one_db = {DB_ONLY, 1, 1};
    return parse_argv(spec, ctx, argc, argv, &one_db, db);
}

/* parse_args for a command that takes options only. */
static int parse_options(const struct cmd_spec *spec, void *ctx, int argc,
                         char **argv)
{
    static const struct positionals none = {DB_ONLY, 0, 0};
    return parse_argv(spec, ctx, argc, argv, &none, NULL);
}

/* parse_args with the positional arguments of want, stored in got (as
 * many as want->max; those not given NULL). */
static int parse_argv(const struct cmd_spec *spec, void *ctx, int argc,
                      char **argv, const struct positionals *want,
                      const char **got)
{
    char q[300];
    int options_done = 0, n = 0;
    for (int k = 0; k < want->max; k++)
        got[k] = NULL;
    for (int i = 0; i < argc;) {
        const char *s = argv[i++];
        if (!options_done && strcmp(s, "--") == 0) {
            options_done = 1;
            continue;
        }
        if (!options_done &&
            (strcmp(s, "-h") == 0 || strcmp(s, "--help") == 0)) {
            fputs(spec->help, stdout);
            return EXIT_OK;
        }
        if (!options_done && s[0] == '-' && s[1] != '\0') {
            const char *val = NULL;
            int k = find_opt(spec, s, argc, argv, &i, &val);
            if (k < 0 || spec->on_opt(spec->name, k, val, ctx) != 0)
                return EXIT_USAGE;
            continue;
        }
        if (n == want->max) {
            say(spec->name, "unexpected argument '%s' (%s)",
                quote(q, sizeof q, s, strlen(s)),
                want->max == 0   ? "it takes options only"
                : want->max == 1 ? "one DB only"
                                 : "too many arguments");
            return EXIT_USAGE;
        }
        if (s[0] == '\0') {
            say(spec->name, "%s must not be empty", want->names[n]);
            return EXIT_USAGE;
        }
        got[n++] = s;
    }
    if (n < want->min) {
        say(spec->name, "missing %s argument (see: sselite %s --help)",
            want->names[n], spec->name);
        return EXIT_USAGE;
    }
    return GO_ON;
}

/* Parses a whole number of 1 to 18 digits (no sign, no spaces). */
static int parse_count(const char *cmd, const char *opt, const char *s,
                       int64_t min, int64_t *out)
{
    int64_t v;
    char q[300];
    if (sse_request_parse_id(s, strlen(s), &v) != 0 || v < min) {
        say(cmd, "%s '%s' is not valid: use a whole number from %" PRId64, opt,
            quote(q, sizeof q, s, strlen(s)), min);
        return -1;
    }
    *out = v;
    return 0;
}

/* Parses a duration (see sse_retention_parse_duration) into milliseconds. */
static int parse_duration(const char *cmd, const char *opt, const char *s,
                          int64_t *ms)
{
    char q[300];
    if (sse_retention_parse_duration(s, strlen(s), ms) == 0)
        return 0;
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
    say(cmd, "channel '%s' is not valid: use 1-%d of A-Z a-z 0-9 _ . : / @ -",
        quote(q, sizeof q, c, strlen(c)), SSE_CHANNEL_MAX);
    return -1;
}

static int check_pattern(const char *cmd, const char *c)
{
    char q[300];
    enum sse_pattern_kind kind;
    if (sse_pattern_parse(c, strlen(c), &kind) == 0)
        return 0;
    say(cmd,
        "channel '%s' is not valid: use 1-%d of A-Z a-z 0-9 _ . : / @ -, or "
        "a prefix ending in /* or :*, or * alone",
        quote(q, sizeof q, c, strlen(c)), SSE_CHANNEL_MAX);
    return -1;
}

/* --- init --- */

static const char init_help[] =
    "Usage: sselite init DB\n"
    "\n"
    "Create the event log DB, or upgrade an older one in place, to schema\n"
    "version " STR(SSE_SCHEMA_VERSION) " in WAL mode. Safe to run again: an"
                                       " up-to-date log is\n"
                                       "left as it is. Other tables in DB are "
                                       "not touched, so the log may live\n"
                                       "in the application's own database.\n";

static int cmd_init(int argc, char **argv, int busy_ms)
{
    static const char cmd[] = "init";
    static const struct cmd_spec spec = {cmd, init_help, NULL, 0, NULL};
    const char *db;
    int rc = parse_args(&spec, NULL, argc, argv, &db);
    if (rc != GO_ON)
        return rc;

    /* A PostgreSQL database exists before its log is made in it. */
    struct stat sb;
    int existed = sse_dbname_is_uri(db) || stat(db, &sb) == 0;
    struct sse_admin *a = NULL;
    int from = 0, to = 0;
    char why[256], name[512];
    sse_dbname_display(db, name, sizeof name);
    int err = sse_admin_open_msg(db, 1, busy_ms, &a, why, sizeof why);
    if (err) {
        rc = failed_msg(cmd, db, err, why);
        goto out;
    }
    err = sse_admin_init(a, &from, &to);
    rc = EXIT_OK;
    if (err)
        rc = db_failed(cmd, db, err, a);
    else if (from == to)
        printf("%s is up to date (schema version %d)\n", name, to);
    else if (from > 0)
        printf("upgraded %s from schema version %d to %d\n", name, from, to);
    else
        printf("%s %s (schema version %d)\n",
               existed ? "initialised" : "created", name, to);
out:
    sse_admin_close(a);
    return rc;
}

/* --- publish --- */

static const char publish_help[] =
    "Usage: sselite publish DB [--channel C] [--event T] [--data D]\n"
    "                          [--idem-key K]\n"
    "\n"
    "Add one event to DB and print its id. Without --data the data is all\n"
    "of standard input, byte for byte (a final newline is kept, and becomes\n"
    "a last empty data line on the stream).\n"
    "\n"
    "  --channel C   channel name, 1-128 of A-Z a-z 0-9 _ . : / @ -\n"
    "                (default: default)\n"
    "  --event T     event type (addEventListener name), at most 128 bytes,\n"
    "                no line breaks (default: none, i.e. \"message\")\n"
    "  --data D      the event's data, at most 4 MiB; may contain line "
    "breaks\n"
    "  --idem-key K  idempotency key, 1-128 bytes: if C already holds an\n"
    "                event with key K, store nothing and print that event's\n"
    "                id (exit 0), so a retry never publishes twice\n";

_Static_assert(SSE_CHANNEL_MAX == 128 && SSE_EVENT_TYPE_MAX == 128 &&
                   SSE_EVENT_DATA_MAX == 4 * 1024 * 1024 &&
                   SSE_IDEM_KEY_MAX == 128,
               "publish_help states the limits of sse_limits.h");

/* Reads all of stdin into b, but stops once b holds more than max bytes:
 * the caller refuses such data anyway, so memory stays bounded. */
static int read_stdin(struct sse_buf *b, size_t max)
{
    char chunk[65536];
    size_t n;
    while (b->len <= max && (n = fread(chunk, 1, sizeof chunk, stdin)) > 0) {
        int err = sse_buf_append(b, chunk, n);
        if (err)
            return err;
    }
    return ferror(stdin) ? SSE_EIO : 0;
}

struct publish_args {
    const char *channel;
    const char *type; /* NULL: none */
    const char *data; /* NULL: read stdin */
    const char *key;  /* NULL: no idempotency key */
};

static int publish_opt(const char *cmd, int k, const char *val, void *ctx)
{
    struct publish_args *pa = ctx;
    char q[300];
    switch (k) {
    case 0:
        pa->channel = val;
        return check_channel(cmd, val);
    case 1:
        pa->type = val;
        if (sse_event_type_valid(val, strlen(val)))
            return 0;
        say(cmd,
            "event type '%s' is not valid: use at most %d bytes and no line"
            " breaks",
            quote(q, sizeof q, val, strlen(val)), SSE_EVENT_TYPE_MAX);
        return -1;
    case 2:
        pa->data = val;
        return 0;
    default:
        pa->key = val;
        if (val[0] != '\0' && strlen(val) <= SSE_IDEM_KEY_MAX)
            return 0;
        say(cmd, "idempotency key '%s' is not valid: use 1 to %d bytes",
            quote(q, sizeof q, val, strlen(val)), SSE_IDEM_KEY_MAX);
        return -1;
    }
}

static int cmd_publish(int argc, char **argv, int busy_ms)
{
    static const char cmd[] = "publish";
    static const struct opt opts[] = {
        {"channel", 1}, {"event", 1}, {"data", 1}, {"idem-key", 1}};
    static const struct cmd_spec spec = {cmd, publish_help, opts, 4,
                                         publish_opt};
    struct publish_args pa = {SSE_CHANNEL_DEFAULT, NULL, NULL, NULL};
    const char *db;
    int rc = parse_args(&spec, &pa, argc, argv, &db);
    if (rc != GO_ON)
        return rc;
    const char *data = pa.data;

    struct sse_buf in;
    sse_buf_init(&in, 0);
    struct sse_admin *a = NULL;
    int64_t id = 0;
    int err = 0;
    rc = open_admin(cmd, db, busy_ms, &a);
    if (rc)
        goto out;
    size_t len = data ? strlen(data) : 0;
    if (data == NULL) {
        err = read_stdin(&in, SSE_EVENT_DATA_MAX);
        if (err) {
            say(cmd, "cannot read the data from standard input: %s",
                err == SSE_EIO ? strerror(errno) : sse_strerror(err));
            rc = EXIT_RUNTIME;
            goto out;
        }
        data = in.data;
        len = in.len;
    }
    if (len > SSE_EVENT_DATA_MAX) {
        say(cmd,
            "the data is larger than %d bytes (4 MiB), the most one event"
            " may carry",
            SSE_EVENT_DATA_MAX);
        rc = EXIT_USAGE;
        goto out;
    }
    /* A retry with a known key prints the first event's id, like the
     * publish that stored it: the caller cannot tell, and need not. */
    err = sse_admin_publish_idem(a, pa.channel, pa.type, data, len, pa.key, &id,
                                 NULL);
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

#ifndef SSELITE_RETENTION_FILE
#define SSELITE_RETENTION_FILE "/etc/sselite/retention.conf"
#endif
/* Rows per write transaction when applying the rules (the help says so):
 * a few ms on a small machine (measured by tests/cli/test_retention.sh),
 * so a publisher waits about that long at most. */
#define PRUNE_BATCH 1000

static const char prune_help[] =
    "Usage: sselite prune DB [--rules FILE] [--dry-run] [--batch N] "
    "[--vacuum]\n"
    "       sselite prune DB [--keep N] [--older-than DURATION] [--channel C]\n"
    "\n"
    "Delete old events, then checkpoint the WAL (TRUNCATE) so that the -wal\n"
    "file shrinks. Ids are never reused: clients resuming from a pruned id\n"
    "get an sselite-gap event.\n"
    "\n"
    "Without --keep and --older-than, apply the retention rules of FILE\n"
    "(default " SSELITE_RETENTION_FILE "; see sselite(1))\n"
    "channel by channel, in write transactions of at most N rows with a\n"
    "pause between them; print a line per channel that lost events and a\n"
    "summary.\n"
    "\n"
    "  --rules FILE           the retention rules to apply\n"
    "  --dry-run              print what the rules would delete; change\n"
    "                         nothing\n"
    "  --batch N              rows per write transaction (default 1000)\n"
    "  --vacuum               then VACUUM: give free pages back to the file\n"
    "                         system (needs as much free disk as DB, and\n"
    "                         blocks publishers while it runs)\n"
    "\n"
    "With --keep, --older-than or both (an event goes if either says so),\n"
    "delete in one transaction and print how many went:\n"
    "  --keep N               keep only the newest N events\n"
    "  --older-than DURATION  delete events created longer ago than this:\n"
    "                         90s, 30m, 12h, 7d, 500ms or plain seconds\n"
    "  --channel C            apply both to channel C only\n"
    "  --vacuum               as above\n";

struct prune_args {
    int64_t keep;     /* -1: not given */
    int64_t older_ms; /* -1: not given */
    const char *channel;
    const char *rules; /* NULL: the default file */
    int dry_run;
    int64_t batch;
    int vacuum;
};

static int prune_opt(const char *cmd, int k, const char *val, void *ctx)
{
    struct prune_args *pa = ctx;
    switch (k) {
    case 0:
        return parse_count(cmd, "--keep", val, 0, &pa->keep);
    case 1:
        return parse_duration(cmd, "--older-than", val, &pa->older_ms);
    case 2:
        pa->channel = val;
        return check_channel(cmd, val);
    case 3:
        pa->rules = val;
        return 0;
    case 4:
        pa->dry_run = 1;
        return 0;
    case 5:
        return parse_count(cmd, "--batch", val, 1, &pa->batch);
    default:
        pa->vacuum = 1;
        return 0;
    }
}

/* Prints one line per channel the rules touched (or would touch). */
static int prune_report(const struct sse_retention_result *res, void *ctx)
{
    const struct prune_args *pa = ctx;
    if (res->cutoff == 0)
        return 0;
    if (pa->dry_run)
        printf("%s: would delete through id %" PRId64 " (rule '%s', line %d)\n",
               res->channel, res->cutoff, res->rule->pattern, res->rule->line);
    else if (res->deleted > 0)
        printf("%s: deleted %" PRId64 " through id %" PRId64
               " (rule '%s', line %d)\n",
               res->channel, res->deleted, res->cutoff, res->rule->pattern,
               res->rule->line);
    return 0;
}

/* Applies the rules file to the open log a. */
static int prune_by_rules(const char *cmd, const char *db, struct sse_admin *a,
                          const struct prune_args *pa)
{
    const char *path = pa->rules ? pa->rules : SSELITE_RETENTION_FILE;
    char msg[512];
    struct sse_retention *r = NULL;
    int err = sse_retention_load(path, &r, msg, sizeof msg);
    if (err) {
        say(cmd, "%s%s", msg,
            err == SSE_ENOENT ? " (write the rules there, or give --rules"
                                " FILE, --keep or --older-than)"
                              : "");
        return err == SSE_EINVAL ? EXIT_USAGE : EXIT_RUNTIME;
    }
    struct sse_retention_totals t;
    err = sse_retention_apply(r, a, pa->batch, pa->dry_run, prune_report,
                              (void *)pa, &t);
    sse_retention_free(r);
    printf("%s %" PRId64 " events of %" PRId64 " channels (%" PRId64
           " with a rule) in %" PRId64 " transactions, the longest %" PRId64
           ".%03" PRId64 " ms\n",
           pa->dry_run ? "dry run: deleted" : "deleted", t.deleted, t.channels,
           t.channels_ruled, t.batches, t.longest_batch_us / 1000,
           t.longest_batch_us % 1000);
    return err ? db_failed(cmd, db, err, a) : EXIT_OK;
}

static int cmd_prune(int argc, char **argv, int busy_ms)
{
    static const char cmd[] = "prune";
    static const struct opt opts[] = {
        {"keep", 1},    {"older-than", 1}, {"channel", 1}, {"rules", 1},
        {"dry-run", 0}, {"batch", 1},      {"vacuum", 0}};
    static const struct cmd_spec spec = {cmd, prune_help, opts, 7, prune_opt};
    struct prune_args pa = {-1, -1, NULL, NULL, 0, PRUNE_BATCH, 0};
    const char *db;
    int rc = parse_args(&spec, &pa, argc, argv, &db);
    if (rc != GO_ON)
        return rc;
    int by_rules = pa.keep < 0 && pa.older_ms < 0;
    if (by_rules && pa.channel) {
        say(cmd, "--channel needs --keep N and/or --older-than DURATION");
        return EXIT_USAGE;
    }
    if (!by_rules && (pa.rules || pa.dry_run)) {
        say(cmd, "--rules and --dry-run apply the rules file: leave out"
                 " --keep and --older-than");
        return EXIT_USAGE;
    }

    struct sse_admin *a = NULL;
    int64_t deleted = 0;
    int busy = 0;
    int err = 0;
    rc = open_admin(cmd, db, busy_ms, &a);
    if (rc)
        goto out;
    if (by_rules) {
        rc = prune_by_rules(cmd, db, a, &pa);
        if (rc != EXIT_OK || pa.dry_run)
            goto out;
    } else {
        err = sse_admin_prune(a, pa.keep, pa.older_ms, pa.channel, &deleted);
        if (err) {
            rc = db_failed(cmd, db, err, a);
            goto out;
        }
        printf("%" PRId64 "\n", deleted);
    }
    err = sse_admin_checkpoint(a, &busy);
    if (!err && pa.vacuum)
        err = sse_admin_vacuum(a);
    if (err)
        rc = db_failed(cmd, db, err, a);
    else if (busy)
        say(cmd, "note: a reader kept the WAL checkpoint from completing;"
                 " the -wal file was not truncated");
out:
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
    "  --channel C         only channel C, or a pattern: orders:* or\n"
    "                      user/42/* for every channel under the prefix, *\n"
    "                      for all; repeat for up to 32 (default: all)\n"
    "  --after ID          start after event ID (default 0: from the oldest)\n"
    "  --limit N           stop after N events\n"
    "  --follow            then wait for new events until SIGINT or SIGTERM\n"
    "  --timeout DURATION  with --follow, stop after this long: 90s, 30m,\n"
    "                      500ms or plain seconds\n";

struct tail_state {
    struct sse_buf out;
    int64_t last_id; /* highest id printed or skipped (or --after) */
    int64_t printed;
    int64_t limit; /* INT64_MAX when not given */
};

static int tail_row(const struct sse_event_row *row, void *ctx)
{
    struct tail_state *t = ctx;
    int err = sse_encode_row(&t->out, row->id, row->type, row->type_len,
                             row->data, row->data_len);
    if (err)
        return err;
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
        size_t want = TAIL_BATCH;
        if (t->limit - t->printed < (int64_t)want)
            want = (size_t)(t->limit - t->printed);
        if (want == 0)
            return 0;
        sse_buf_reset(&t->out);
        struct sse_eventlog_progress p;
        int err = sse_eventlog_read(log, t->last_id, INT64_MAX, channels,
                                    nchannels, want, tail_row, t, &p);
        /* Past the rows printed and any skipped as unreadable (logged). */
        t->last_id = p.last_seen;
        /* Rows encoded before an error are still printed. */
        if (t->out.len > 0 &&
            (fwrite(t->out.data, 1, t->out.len, stdout) != t->out.len ||
             fflush(stdout) != 0))
            return SSE_EIO;
        if (err)
            return err;
        if (p.complete)
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

struct tail_args {
    char channels[SSE_REQUEST_MAX_CHANNELS][SSE_CHANNEL_MAX + 1];
    size_t nchannels;
    int64_t after;
    int64_t limit; /* INT64_MAX: not given */
    int follow;
    int64_t timeout_ms; /* -1: not given */
};

static int tail_opt(const char *cmd, int k, const char *val, void *ctx)
{
    struct tail_args *ta = ctx;
    switch (k) {
    case 0:
        if (check_pattern(cmd, val))
            return -1;
        if (ta->nchannels == SSE_REQUEST_MAX_CHANNELS) {
            say(cmd, "too many channels: at most %d", SSE_REQUEST_MAX_CHANNELS);
            return -1;
        }
        snprintf(ta->channels[ta->nchannels++], sizeof ta->channels[0], "%s",
                 val);
        return 0;
    case 1:
        return parse_count(cmd, "--after", val, 0, &ta->after);
    case 2:
        return parse_count(cmd, "--limit", val, 1, &ta->limit);
    case 3:
        ta->follow = 1;
        return 0;
    default:
        return parse_duration(cmd, "--timeout", val, &ta->timeout_ms);
    }
}

static int cmd_tail(int argc, char **argv, int busy_ms)
{
    static const char cmd[] = "tail";
    static const struct opt opts[] = {{"channel", 1},
                                      {"after", 1},
                                      {"limit", 1},
                                      {"follow", 0},
                                      {"timeout", 1}};
    static const struct cmd_spec spec = {cmd, tail_help, opts, 5, tail_opt};
    struct tail_args ta = {.after = 0, .limit = INT64_MAX, .timeout_ms = -1};
    const char *db;
    int rc = parse_args(&spec, &ta, argc, argv, &db);
    if (rc != GO_ON)
        return rc;
    if (ta.timeout_ms >= 0 && !ta.follow) {
        say(cmd, "--timeout only applies with --follow");
        return EXIT_USAGE;
    }
    struct tail_state t = {
        .last_id = ta.after, .printed = 0, .limit = ta.limit};

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
    if (ta.follow)
        sigprocmask(SIG_BLOCK, &sigs, &old);

    sse_buf_init(&t.out, 0);
    /* Adding const through a pointer to array needs a cast before C23. */
    const char(*chans)[SSE_CHANNEL_MAX + 1] =
        ta.nchannels ? (const char(*)[SSE_CHANNEL_MAX + 1]) ta.channels : NULL;
    struct sse_eventlog *log = NULL;
    char why[256];
    int err = sse_eventlog_open_msg(db, busy_ms, &log, why, sizeof why);
    if (!err)
        err = ta.follow ? tail_follow(log, chans, ta.nchannels, &t,
                                      ta.timeout_ms, &sigs)
                        : tail_drain(log, chans, ta.nchannels, &t);
    rc = EXIT_OK;
    if (err == SSE_ECLOSED) {
        say(cmd, "%s: the file was replaced or removed; stopping", db);
        rc = EXIT_RUNTIME;
    } else if (err == SSE_EIO) {
        say(cmd, "cannot write to standard output: %s", strerror(errno));
        rc = EXIT_RUNTIME;
    } else if (err) {
        rc = failed_msg(cmd, db, err, log ? NULL : why);
    }
    sse_eventlog_close(log);
    sse_buf_cleanup(&t.out);
    if (ta.follow)
        sigprocmask(SIG_SETMASK, &old, NULL);
    return rc;
}

/* --- token --- */

static const char token_help[] =
    "Usage: sselite token --secret-file FILE --channel PATTERN...\n"
    "                     [--sub USER] [--ttl DURATION]\n"
    "\n"
    "Print a signed access token (a JWT, HS256) for the worker's\n"
    "auth-secret-file: the bearer may read the channels of every PATTERN\n"
    "until the token expires. Signed with the file's first secret.\n"
    "\n"
    "  --secret-file FILE  the worker's auth-secret-file (one secret a line)\n"
    "  --channel PATTERN   a channel, a prefix (orders/* or orders:*) or *;\n"
    "                      {user} stands for --sub; repeat for up to 64\n"
    "  --sub USER          the user the token is for (the sub claim)\n"
    "  --ttl DURATION      lifetime: 90s, 15m (the default), 12h, 7d\n";

struct token_args {
    const char *secret_file;
    struct sse_token_claims claims;
    int64_t ttl_ms;
};

static int token_opt(const char *cmd, int k, const char *val, void *ctx)
{
    struct token_args *ta = ctx;
    struct sse_token_claims *c = &ta->claims;
    char q[300];
    switch (k) {
    case 0:
        ta->secret_file = val;
        return 0;
    case 1:
        if (strlen(val) > SSE_PATTERN_MAX ||
            !sse_pattern_template_valid(val, strlen(val))) {
            say(cmd,
                "--channel '%s' is not a pattern: use a channel name, a "
                "prefix ending in /* or :*, or *; {user} for the user",
                quote(q, sizeof q, val, strlen(val)));
            return -1;
        }
        if (c->nchannels == SSE_TOKEN_MAX_CHANNELS) {
            say(cmd, "too many channels: at most %d", SSE_TOKEN_MAX_CHANNELS);
            return -1;
        }
        snprintf(c->channels[c->nchannels++], sizeof c->channels[0], "%s", val);
        return 0;
    case 2:
        if (strlen(val) > SSE_TOKEN_SUB_MAX || val[0] == '\0') {
            say(cmd, "--sub must be 1 to %d bytes", SSE_TOKEN_SUB_MAX);
            return -1;
        }
        snprintf(c->sub, sizeof c->sub, "%s", val);
        c->has_sub = 1;
        return 0;
    default:
        if (parse_duration(cmd, "--ttl", val, &ta->ttl_ms))
            return -1;
        if (ta->ttl_ms < 1000) {
            say(cmd, "--ttl must be at least 1s");
            return -1;
        }
        return 0;
    }
}

static int cmd_token(int argc, char **argv, int busy_ms)
{
    (void)busy_ms;
    static const char cmd[] = "token";
    static const struct opt opts[] = {
        {"secret-file", 1}, {"channel", 1}, {"sub", 1}, {"ttl", 1}};
    static const struct cmd_spec spec = {cmd, token_help, opts, 4, token_opt};
    static struct token_args ta; /* 8 KiB of claims: not on the stack */
    ta.ttl_ms = 15 * 60 * 1000;
    int rc = parse_options(&spec, &ta, argc, argv);
    if (rc != GO_ON)
        return rc;
    if (!ta.secret_file || ta.claims.nchannels == 0) {
        say(cmd, "--secret-file and at least one --channel are required");
        return EXIT_USAGE;
    }
    char err[512];
    struct sse_token_secrets *s = NULL;
    if (sse_token_secrets_load(ta.secret_file, &s, err, sizeof err)) {
        say(cmd, "%s", err);
        return EXIT_RUNTIME;
    }
    int64_t now = (int64_t)time(NULL);
    ta.claims.exp_s = now + (ta.ttl_ms + 999) / 1000;
    struct sse_buf out;
    sse_buf_init(&out, 0);
    int err_rc = sse_token_sign(s, &ta.claims, now, &out);
    if (!err_rc)
        err_rc = sse_buf_append(&out, "\n", 1);
    if (!err_rc)
        fputs(out.data, stdout);
    else
        say(cmd, "cannot sign: %s", sse_strerror(err_rc));
    sse_buf_cleanup(&out);
    sse_token_secrets_free(s);
    return err_rc ? EXIT_RUNTIME : EXIT_OK;
}

/* --- stats --- */

static const char stats_help[] =
    "Usage: sselite stats DB [--json]\n"
    "\n"
    "Print the schema version, journal mode, number of events, highest id\n"
    "ever assigned (head), oldest stored id, times of the oldest and newest\n"
    "events, database and WAL sizes, and per channel: events, last id, the\n"
    "lowest id a client can resume after without an sselite-gap event, and\n"
    "the time of its oldest event (how far back a client can catch up).\n"
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

static const char *iso_time(char *out, size_t cap, int64_t ms);

static int stats_channel(const struct sse_admin_channel *ch, void *ctx)
{
    struct stats_ctx *c = ctx;
    char t[48];
    int err;
    if (c->json) {
        err = sse_buf_append_str(&c->channels,
                                 c->n ? ",{\"name\":" : "{\"name\":");
        if (!err)
            err = json_str(&c->channels, ch->name);
        if (!err)
            err = sse_buf_appendf(&c->channels,
                                  ",\"rows\":%" PRId64 ",\"last_id\":%" PRId64
                                  ",\"oldest_id\":%" PRId64
                                  ",\"oldest_ms\":%" PRId64
                                  ",\"resume_after\":%" PRId64 "}",
                                  ch->rows, ch->last_id, ch->oldest_id,
                                  ch->oldest_ms, ch->resume_after);
    } else {
        /* "resumes after": the lowest Last-Event-ID that still gets every
         * later event of the channel without an sselite-gap event. */
        err = sse_buf_appendf(
            &c->channels,
            "  %-20s rows %" PRId64 ", last id %" PRId64
            ", resumes after id %" PRId64 ", oldest event %s\n",
            ch->name, ch->rows, ch->last_id, ch->resume_after,
            ch->rows ? iso_time(t, sizeof t, ch->oldest_ms) : "-");
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

static int stats_opt(const char *cmd, int k, const char *val, void *ctx)
{
    (void)cmd;
    (void)k;
    (void)val;
    ((struct stats_ctx *)ctx)->json = 1;
    return 0;
}

static int cmd_stats(int argc, char **argv, int busy_ms)
{
    static const char cmd[] = "stats";
    static const struct opt opts[] = {{"json", 0}};
    static const struct cmd_spec spec = {cmd, stats_help, opts, 1, stats_opt};
    struct stats_ctx c = {.json = 0, .n = 0};
    const char *db;
    int rc = parse_args(&spec, &c, argc, argv, &db);
    if (rc != GO_ON)
        return rc;

    sse_buf_init(&c.channels, 0);
    struct sse_admin *a = NULL;
    struct sse_admin_stats st;
    rc = open_admin(cmd, db, busy_ms, &a);
    int err = rc ? 0 : sse_admin_stats(a, &st, stats_channel, &c);
    if (err)
        rc = db_failed(cmd, db, err, a);
    else if (!rc)
        print_stats(&st, &c);
    sse_admin_close(a);
    sse_buf_cleanup(&c.channels);
    return rc;
}

/* --- main --- */

/* --- grant, revoke, grants --- */

static const char grant_help[] =
    "Usage: sselite grant DB PRINCIPAL PATTERN [--ttl DURATION]\n"
    "\n"
    "Let PRINCIPAL, a user the web server authenticates (REMOTE_USER),\n"
    "read the channels of PATTERN: a channel, a prefix (orders/* or\n"
    "orders:*) or *; {user} stands for the principal. With --ttl, until\n"
    "then (90s, 30m, 12h, 7d); granting again replaces the expiry. Takes\n"
    "effect at the subscriber's next connect; a stream ends when the grant\n"
    "it depends on expires. Needs access control on in the worker.\n";

static const char revoke_help[] =
    "Usage: sselite revoke DB PRINCIPAL PATTERN\n"
    "\n"
    "Remove the grant of PATTERN to PRINCIPAL (exactly as granted). Streams\n"
    "already open keep running until they end; reconnects are refused.\n";

static const char grants_help[] =
    "Usage: sselite grants DB [PRINCIPAL]\n"
    "\n"
    "List the grants (of PRINCIPAL): principal, pattern and expiry, one a\n"
    "line, tab-separated; expired grants are marked and grant nothing.\n";

static int grant_opt(const char *cmd, int k, const char *val, void *ctx)
{
    (void)k;
    return parse_duration(cmd, "--ttl", val, ctx);
}

static int no_opt(const char *cmd, int k, const char *val, void *ctx)
{
    (void)cmd, (void)k, (void)val, (void)ctx;
    return -1; /* no options: find_opt refused it already */
}

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* grant (grant != 0) or revoke. */
static int grant_or_revoke(int argc, char **argv, int busy_ms, int grant)
{
    const char *cmd = grant ? "grant" : "revoke";
    static const struct opt opts[] = {{"ttl", 1}};
    static const char *const names[] = {"DB", "PRINCIPAL", "PATTERN"};
    static const struct positionals three = {names, 3, 3};
    const struct cmd_spec spec = {cmd, grant ? grant_help : revoke_help, opts,
                                  grant ? 1 : 0, grant ? grant_opt : no_opt};
    const char *arg[3];
    int64_t ttl_ms = -1;
    int rc = parse_argv(&spec, &ttl_ms, argc, argv, &three, arg);
    if (rc != GO_ON)
        return rc;
    char q[300];
    if (strlen(arg[1]) > 256) {
        say(cmd, "PRINCIPAL is longer than 256 bytes");
        return EXIT_USAGE;
    }
    if (strlen(arg[2]) > SSE_PATTERN_MAX ||
        !sse_pattern_template_valid(arg[2], strlen(arg[2]))) {
        say(cmd,
            "pattern '%s' is not valid: use a channel name, a prefix ending "
            "in /* or :*, or *; {user} for the principal",
            quote(q, sizeof q, arg[2], strlen(arg[2])));
        return EXIT_USAGE;
    }
    struct sse_admin *a = NULL;
    int64_t removed = 0;
    int64_t expires = ttl_ms >= 0 ? wall_ms() + ttl_ms : 0;
    rc = open_admin(cmd, arg[0], busy_ms, &a);
    if (rc)
        return rc;
    int err = grant ? sse_admin_grant(a, arg[1], arg[2], expires)
                    : sse_admin_revoke(a, arg[1], arg[2], &removed);
    rc = err ? db_failed(cmd, arg[0], err, a) : EXIT_OK;
    char t[48];
    if (!err && grant)
        printf("granted %s to %s until %s\n", arg[2], arg[1],
               ttl_ms >= 0 ? iso_time(t, sizeof t, expires) : "revoked");
    else if (!err)
        printf("%s %s from %s\n", removed ? "revoked" : "no grant of", arg[2],
               arg[1]);
    sse_admin_close(a);
    return rc;
}

static int cmd_grant(int argc, char **argv, int busy_ms)
{
    return grant_or_revoke(argc, argv, busy_ms, 1);
}

static int cmd_revoke(int argc, char **argv, int busy_ms)
{
    return grant_or_revoke(argc, argv, busy_ms, 0);
}

static int print_grant(const struct sse_admin_grant *g, void *ctx)
{
    int64_t now = *(const int64_t *)ctx;
    char t[48];
    if (g->expires_ms <= 0)
        printf("%s\t%s\tnever\n", g->principal, g->pattern);
    else
        printf("%s\t%s\t%s%s\n", g->principal, g->pattern,
               iso_time(t, sizeof t, g->expires_ms),
               g->expires_ms <= now ? " (expired)" : "");
    return 0;
}

static int cmd_grants(int argc, char **argv, int busy_ms)
{
    static const char *const names[] = {"DB", "PRINCIPAL"};
    static const struct positionals one_or_two = {names, 1, 2};
    static const struct cmd_spec spec = {"grants", grants_help, NULL, 0,
                                         no_opt};
    const char *arg[2];
    int rc = parse_argv(&spec, NULL, argc, argv, &one_or_two, arg);
    if (rc != GO_ON)
        return rc;
    struct sse_admin *a = NULL;
    int64_t now = wall_ms();
    rc = open_admin("grants", arg[0], busy_ms, &a);
    if (rc)
        return rc;
    int err = sse_admin_grants(a, arg[1], print_grant, &now);
    rc = err ? db_failed("grants", arg[0], err, a) : EXIT_OK;
    sse_admin_close(a);
    return rc;
}

static const char main_help[] =
    "Usage: sselite COMMAND DB [OPTION]...\n"
    "\n"
    "Manage an sselite event log: the SQLite database (or the PostgreSQL\n"
    "one, for a DB that is a postgresql:// URI) that sselite-fcgi streams\n"
    "to browsers as Server-Sent Events.\n"
    "\n"
    "Commands:\n"
    "  init DB      create DB, or upgrade its schema, in WAL mode\n"
    "  publish DB   add one event (data from --data or stdin); print its id\n"
    "  prune DB     delete old events; print how many; shrink the WAL\n"
    "  tail DB      print events as a browser receives them; --follow\n"
    "  stats DB     print the state and size of the log\n"
    "  token        print a signed access token (--secret-file, --channel)\n"
    "  grant DB PRINCIPAL PATTERN [--ttl D]   let a web-server user read\n"
    "  revoke DB PRINCIPAL PATTERN            take a grant back\n"
    "  grants DB [PRINCIPAL]                  list the grants\n"
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
    {"stats", cmd_stats, stats_help},    {"token", cmd_token, token_help},
    {"grant", cmd_grant, grant_help},    {"revoke", cmd_revoke, revoke_help},
    {"grants", cmd_grants, grants_help},
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
    /* A password in a URI argument stays out of ps and
     * /proc/PID/cmdline (tail --follow may run for days): the command
     * works on a copy, and our own argv is scrubbed at once. */
    char **args = calloc((size_t)argc, sizeof *args);
    if (args == NULL) {
        say(name, "out of memory");
        return EXIT_RUNTIME;
    }
    for (int i = 0; i < argc; i++) {
        args[i] = argv[i];
        if (sse_dbname_is_uri(argv[i]) && (args[i] = strdup(argv[i])) != NULL)
            sse_dbname_scrub(argv[i]);
        else if (args[i] == NULL)
            args[i] = argv[i];
    }
    int rc = c->run(argc - 2, args + 2, (int)busy_ms);
    for (int i = 0; i < argc; i++)
        if (args[i] != argv[i])
            free(args[i]);
    free(args);
    /* Output that could not be written is a failure (e.g. a full disk). */
    if (fflush(stdout) != 0 || ferror(stdout)) {
        fprintf(stderr, "sselite %s: cannot write to standard output\n", name);
        return EXIT_RUNTIME;
    }
    return rc;
}
