/* main.c - sselite-fcgi: the FastCGI worker process.
 * SPDX-License-Identifier: MIT
 *
 * Options and environment become a struct sse_config; the listening socket
 * is found (listen.c); one hub per process watches the event log; a pool of
 * threads accepts connections (accept.c) and serves their requests
 * (conn.c), each holding one connection at a time until its stream is
 * parked in the event loop (loop.h), which holds every caught-up stream
 * without a thread. The main
 * thread waits for signals and, in between, cuts connections that are too
 * slow to deliver a request (guard.c): SIGTERM, SIGINT and SIGUSR1
 * (multiwatch and libfcgi's own convention) end every stream cleanly and
 * exit. Our handlers are installed before FCGX_Init because libfcgi
 * installs a flag-only SIGTERM/SIGUSR1 handler when it finds the default
 * one, and a worker blocked in accept() would then never exit.
 */
#include <errno.h>
#include <fcgiapp.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "accept.h"
#include "access.h"
#include "buf.h"
#include "clock.h"
#include "config.h"
#include "conn.h"
#include "dbname.h"
#include "fanout.h"
#include "guard.h"
#include "hub.h"
#include "listen.h"
#include "logging.h"
#include "logpool.h"
#include "loop.h"
#include "metrics.h"
#include "sse_error.h"
#include "stream.h"

#ifndef PACKAGE_VERSION
#define PACKAGE_VERSION "dev"
#endif

#define THREAD_STACK (256 * 1024)
#define SHUTDOWN_WAIT_MS 5000

/* Longest sleep of the main thread between two guard checks: a guard armed
 * meanwhile has a deadline at least request-timeout (>= 1 s) away. */
#define GUARD_TICK_NS 1000000000LL

struct worker {
    const struct sse_config *cfg;
    struct sse_hub *hub;
    struct sse_stream_env env; /* what every stream shares */
    struct sse_metrics metrics;
    struct sse_acceptor acceptor;
    atomic_int busy;          /* threads holding a connection */
    struct sse_guard *guards; /* one per serving thread */
};

/* What a serving thread is started with. */
struct serving {
    struct worker *w;
    struct sse_guard *guard;
};

static void usage(FILE *f)
{
    struct sse_buf b;
    sse_buf_init(&b, 0);
    sse_config_usage(&b);
    fprintf(f,
            "Usage: sselite-fcgi [--db PATH|URI] [OPTION...]\n"
            "Serves Server-Sent Events from an sselite event log (a SQLite "
            "file, or\nPostgreSQL through a postgresql:// URI) over "
            "FastCGI.\n"
            "Every option can also be given as an environment variable; "
            "options win.\n\n"
            "%s"
            "  --help, --version\n",
            b.data ? b.data : "");
    sse_buf_cleanup(&b);
}

static const char *env_lookup(const char *name, void *ctx)
{
    (void)ctx;
    return getenv(name);
}

/* A flag may be followed by an explicit value ("--cors-credentials 0"). */
static int is_bool_word(const char *s)
{
    static const char *const words[] = {"0",  "1",   "yes",  "no",
                                        "on", "off", "true", "false"};
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++)
        if (strcmp(s, words[i]) == 0)
            return 1;
    return 0;
}

/* Parses --name value, --name=value and --flag. Returns 0, 1 when the
 * program should exit 0 (help/version), or -1 after printing an error. */
static int parse_args(struct sse_config *cfg, int argc, char **argv)
{
    char err[256];
    if (sse_config_from_env(cfg, env_lookup, NULL, err, sizeof err)) {
        fprintf(stderr, "sselite-fcgi: %s\n", err);
        return -1;
    }
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            return 1;
        }
        if (strcmp(a, "--version") == 0) {
            printf("sselite-fcgi %s (SQLite %s)\n", PACKAGE_VERSION,
                   sqlite3_libversion());
            return 1;
        }
        if (strncmp(a, "--", 2) != 0) {
            fprintf(stderr,
                    "sselite-fcgi: unexpected argument '%s' (see --help)\n", a);
            return -1;
        }
        char name[64];
        const char *value;
        const char *eq = strchr(a + 2, '=');
        size_t nlen = eq ? (size_t)(eq - a - 2) : strlen(a + 2);
        if (nlen >= sizeof name) {
            fprintf(stderr, "sselite-fcgi: unknown option '%s' (see --help)\n",
                    a);
            return -1;
        }
        memcpy(name, a + 2, nlen);
        name[nlen] = '\0';
        if (eq)
            value = eq + 1;
        else if (sse_config_is_flag(name))
            value = i + 1 < argc && is_bool_word(argv[i + 1]) ? argv[++i] : "1";
        else if (i + 1 < argc)
            value = argv[++i];
        else {
            fprintf(stderr, "sselite-fcgi: option '--%s' needs a value\n",
                    name);
            return -1;
        }
        if (sse_config_set(cfg, name, value, err, sizeof err)) {
            fprintf(stderr, "sselite-fcgi: %s\n", err);
            return -1;
        }
    }
    if (sse_config_validate(cfg, err, sizeof err)) {
        fprintf(stderr, "sselite-fcgi: %s\n", err);
        return -1;
    }
    return 0;
}

static int stopping(void *hub)
{
    return sse_hub_stopping(hub);
}

static void *serve_thread(void *arg)
{
    const struct serving *t = arg;
    struct worker *w = t->w;
    const struct sse_conn_ctx ctx = {.env = &w->env, .busy = &w->busy};
    FCGX_Request req;
    /* No listening socket: libfcgi never accepts (conn.h). */
    FCGX_InitRequest(&req, -1, 0);
    for (;;) {
        char peer[64];
        int fd = sse_acceptor_next(&w->acceptor, stopping, w->hub, peer,
                                   sizeof peer);
        if (fd < 0)
            break;
        /* Busy from accept on, so that while this thread waits for a slow
         * peer's request the spare thread still answers "busy". */
        atomic_fetch_add(&w->busy, 1);
        sse_conn_serve(&ctx, &req, t->guard, fd, peer);
        atomic_fetch_sub(&w->busy, 1);
    }
    return NULL;
}

static void on_signal(int sig)
{
    (void)sig;
}

/* Descriptors 0-2 closed by whoever started us would be reused for a
 * connection (and log lines would go to it). */
static void open_std_fds(void)
{
    for (int fd = 0; fd < 3; fd++)
        if (fcntl(fd, F_GETFD) < 0 && errno == EBADF &&
            open("/dev/null", O_RDWR) != fd)
            break;
}

/* Cuts the connections past their deadline, then waits for a signal until
 * the next deadline (at most GUARD_TICK_NS). Returns the signal, or 0. */
static int wait_signal(const sigset_t *set, struct worker *w, int nthreads)
{
    int64_t now = sse_now_ns();
    int64_t next = sse_guards_check(w->guards, (size_t)nthreads, now);
    int64_t span = next - now < GUARD_TICK_NS ? next - now : GUARD_TICK_NS;
    struct timespec ts = {(time_t)(span / 1000000000LL),
                          (long)(span % 1000000000LL)};
    int sig = sigtimedwait(set, NULL, &ts);
    return sig > 0 ? sig : 0;
}

/* Raises the open-files limit to its hard limit and returns it. */
static long long raise_fd_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return 1024;
    if (rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
        getrlimit(RLIMIT_NOFILE, &rl);
    }
    return rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur > INT32_MAX
               ? INT32_MAX
               : (long long)rl.rlim_cur;
}

/* max-streams 0: each stream holds one descriptor (its connection); keep
 * room for the listening socket, the log's connections (the hub's, the
 * read pool's), epoll, inotify, eventfds, the guards' duplicates and the
 * hand-shakes. */
static int default_max_streams(long long nofile, int threads)
{
    long long reserve = 64 + 2LL * threads;
    /* A tiny limit (a test, a container) still gets half of it. */
    if (reserve > nofile / 2)
        reserve = nofile / 2;
    long long n = nofile - reserve;
    return n < 1 ? 1 : n > 16777216 ? 16777216 : (int)n;
}

_Static_assert(SSE_CONFIG_MAX_DB_CONNECTIONS <= SSE_LOGPOOL_MAX_OPEN,
               "every db-connections value fits a pool");

int main(int argc, char **argv)
{
    struct sse_config cfg;
    sse_config_init(&cfg);
    int pr = parse_args(&cfg, argc, argv);
    if (pr) {
        sse_config_cleanup(&cfg);
        return pr > 0 ? 0 : 2;
    }
    /* The settings hold their own copies now: hide a password given in a
     * --db URI from ps and /proc/PID/cmdline (the environment, where
     * SSELITE_DB may carry one, is readable only by our user and root). */
    for (int i = 1; i < argc; i++)
        sse_dbname_scrub(argv[i]);
    open_std_fds();
    sse_log_setup("sselite-fcgi", cfg.log_level);
    /* Before anything is served: a secret file that is missing, empty or
     * open to others stops the worker here, with a message naming it. */
    struct sse_access *access = NULL;
    char aerr[512];
    if (sse_access_new(&cfg, &access, aerr, sizeof aerr)) {
        sse_log(SSE_LOG_ERROR, "cannot start: %s", aerr);
        sse_config_cleanup(&cfg);
        return 2;
    }
    cfg.access = access;

    /* Handlers before FCGX_Init (see the file comment); then block them in
     * every thread so only sigtimedwait() in main sees them. */
    struct sigaction sa = {.sa_handler = on_signal};
    sigemptyset(&sa.sa_mask);
    int sigs[] = {SIGTERM, SIGINT, SIGUSR1, SIGHUP};
    sigset_t set;
    sigemptyset(&set);
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++) {
        sigaction(sigs[i], &sa, NULL);
        sigaddset(&set, sigs[i]);
    }
    signal(SIGPIPE, SIG_IGN);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    long long nofile = raise_fd_limit();
    if (cfg.max_streams == 0)
        cfg.max_streams = default_max_streams(nofile, cfg.threads);

    /* Counters are ours; SQLite's own memory statistics take a global
     * mutex on every allocation. */
    sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
    if (sqlite3_initialize() != SQLITE_OK || FCGX_Init() != 0) {
        sse_log(SSE_LOG_ERROR, "library initialisation failed");
        return 1;
    }

    static struct worker w;
    w.cfg = &cfg;
    char err[300], desc[200];
    char *owned_path = NULL;
    int listen_fd = -1;
    if (sse_listen_open(&cfg, &listen_fd, &owned_path, desc, sizeof desc, err,
                        sizeof err)) {
        sse_log(SSE_LOG_ERROR, "%s", err);
        sse_config_cleanup(&cfg);
        return 2;
    }
    sse_metrics_init(&w.metrics, cfg.threads);
    w.metrics.max_streams = cfg.max_streams;
    w.env.cfg = &cfg;
    w.env.metrics = &w.metrics;
    sse_acceptor_init(&w.acceptor, listen_fd, &cfg, cfg.threads);
    w.guards = calloc((size_t)cfg.threads, sizeof *w.guards);
    struct serving *serving = calloc((size_t)cfg.threads, sizeof *serving);
    if (!w.guards || !serving) {
        sse_log(SSE_LOG_ERROR, "cannot start: out of memory");
        return 1;
    }
    int rc = sse_fanout_new(&cfg, &w.metrics, &w.env.fanout);
    if (!rc)
        rc = sse_logpool_new(cfg.db, cfg.busy_timeout_ms,
                             (size_t)cfg.db_connections, &w.metrics,
                             &w.env.logpool);
    if (!rc)
        rc = sse_hub_new(&cfg, &w.metrics, w.env.fanout, w.env.logpool, &w.hub);
    /* Streams that caught up are parked in the loop (loop.h). */
    if (!rc)
        rc = sse_loop_new(&cfg, &w.metrics, w.env.fanout, w.env.logpool,
                          sse_stream_ended, &w.env, &w.env.loop);
    if (!rc)
        rc = sse_loop_start(w.env.loop);
    if (!rc)
        rc = sse_hub_start(w.hub);
    if (rc) {
        sse_log(SSE_LOG_ERROR, "cannot start: %s", sse_strerror(rc));
        return 1;
    }

    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, THREAD_STACK);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    int started = 0;
    for (int i = 0; i < cfg.threads; i++) {
        pthread_t t;
        serving[i] = (struct serving){.w = &w, .guard = &w.guards[i]};
        if (sse_guard_init(&w.guards[i]) != 0 ||
            pthread_create(&t, &attr, serve_thread, &serving[i]) != 0) {
            sse_log(SSE_LOG_WARN, "started %d of %d threads: %s", started,
                    cfg.threads, strerror(errno));
            break;
        }
        started++;
    }
    pthread_attr_destroy(&attr);
    if (started == 0)
        return 1;
    sse_log(SSE_LOG_INFO,
            "started version=%s db=%s socket=\"%s\" threads=%d "
            "max-streams=%d heartbeat=%ds access=%s",
            PACKAGE_VERSION, cfg.db, desc, started, cfg.max_streams,
            cfg.heartbeat_s, sse_access_enabled(access) ? "on" : "off");

    int sig = 0;
    for (;;) {
        sig = wait_signal(&set, &w, started);
        if (sig == 0)
            continue;
        if (sig == SIGHUP) {
            sse_log(SSE_LOG_INFO,
                    "SIGHUP ignored (settings are read at start)");
            continue;
        }
        break;
    }
    sse_log(SSE_LOG_INFO, "signal %d: ending %lld streams and exiting", sig,
            (long long)atomic_load(&w.metrics.streams_active));
    sse_hub_stop(w.hub);
    for (int waited = 0; waited < SHUTDOWN_WAIT_MS; waited += 10) {
        if (atomic_load(&w.metrics.streams_active) == 0)
            break;
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    if (owned_path)
        unlink(owned_path);
    /* Threads may still sit in accept(); _exit skips teardown they would
     * race with. */
    _exit(0);
}
