/* main.c - sselite-fcgi: the FastCGI worker process.
 * SPDX-License-Identifier: MIT
 *
 * Options and environment become a struct sse_config; the listening socket
 * is found (listen.c); one hub per process watches the event log; a pool of
 * threads loops on FCGX_Accept_r, each holding one request (one stream) at
 * a time. The main thread only waits for signals: SIGTERM, SIGINT and
 * SIGUSR1 (multiwatch and libfcgi's own convention) end every stream
 * cleanly and exit. Our handlers are installed before FCGX_Init because
 * libfcgi installs a flag-only SIGTERM/SIGUSR1 handler when it finds the
 * default one, and a worker blocked in accept() would then never exit.
 */
#include <errno.h>
#include <fcgiapp.h>
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

#include "buf.h"
#include "config.h"
#include "fanout.h"
#include "fcgi_sink.h"
#include "handler.h"
#include "hub.h"
#include "listen.h"
#include "logging.h"
#include "logpool.h"
#include "loop.h"
#include "metrics.h"
#include "sse_error.h"

#ifndef PACKAGE_VERSION
#define PACKAGE_VERSION "dev"
#endif

#define THREAD_STACK (256 * 1024)
#define SHUTDOWN_WAIT_MS 5000

struct worker {
    const struct sse_config *cfg;
    struct sse_hub *hub;
    struct sse_stream_env env; /* what every stream shares */
    struct sse_metrics metrics;
    int listen_fd;
    atomic_int in_request; /* threads between accept and finish */
};

static void usage(FILE *f)
{
    struct sse_buf b;
    sse_buf_init(&b, 0);
    sse_config_usage(&b);
    fprintf(f,
            "Usage: sselite-fcgi [--db PATH] [OPTION...]\n"
            "Serves Server-Sent Events from an sselite SQLite event log over "
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

static void copy_vars(FCGX_Request *req, struct sse_request_vars *v)
{
    FCGX_ParamArray env = req->envp;
    v->method = FCGX_GetParam("REQUEST_METHOD", env);
    v->query = FCGX_GetParam("QUERY_STRING", env);
    v->last_event_id = FCGX_GetParam("HTTP_LAST_EVENT_ID", env);
    v->origin = FCGX_GetParam("HTTP_ORIGIN", env);
    v->host = FCGX_GetParam("HTTP_HOST", env);
    v->https = FCGX_GetParam("HTTPS", env);
    v->requestor = FCGX_GetParam("HTTP_X_REQUESTOR", env);
    v->acrh = FCGX_GetParam("HTTP_ACCESS_CONTROL_REQUEST_HEADERS", env);
    v->uri = FCGX_GetParam("REQUEST_URI", env);
    v->remote_addr = FCGX_GetParam("REMOTE_ADDR", env);
}

static void *serve_thread(void *arg)
{
    struct worker *w = arg;
    FCGX_Request req;
    if (FCGX_InitRequest(&req, w->listen_fd, 0) != 0) {
        sse_log(SSE_LOG_ERROR, "FCGX_InitRequest failed");
        return NULL;
    }
    struct timeval tv = {.tv_sec = w->cfg->write_timeout_s};
    for (int failures = 0; failures < 100;) {
        if (FCGX_Accept_r(&req) < 0) {
            if (sse_hub_stopping(w->hub))
                break;
            /* A broken connection between accept and params is the web
             * server's problem, not ours: log it and keep accepting. */
            sse_log(SSE_LOG_WARN, "accept failed: %s", strerror(errno));
            failures++;
            struct timespec pause = {0, 10 * 1000 * 1000};
            nanosleep(&pause, NULL);
            continue;
        }
        failures = 0;
        int busy_threads = atomic_fetch_add(&w->in_request, 1) + 1;
        /* A blocked write to a client that stopped reading gives up after
         * write-timeout instead of holding this thread forever. */
        setsockopt(req.ipcFd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
        struct sse_request_vars vars;
        memset(&vars, 0, sizeof vars);
        copy_vars(&req, &vars);
        struct sse_fcgi_sink sink;
        sse_fcgi_sink_init(&sink, &req);
        int busy = w->cfg->threads >= 2 && busy_threads >= w->cfg->threads;
        sse_handler_serve(&w->env, &vars, &sink.sink, busy);
        /* FCGX_Finish_r, or, for a parked stream, only libfcgi's buffers. */
        sse_fcgi_sink_finish(&sink);
        atomic_fetch_sub(&w->in_request, 1);
    }
    FCGX_Free(&req, 1);
    return NULL;
}

static void on_signal(int sig)
{
    (void)sig;
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
 * read pool's), epoll, inotify and eventfds, and the hand-shakes. */
static int default_max_streams(long long nofile, int threads)
{
    long long n = nofile - 64 - 2LL * threads;
    return n < 1 ? 1 : n > 16777216 ? 16777216 : (int)n;
}

int main(int argc, char **argv)
{
    struct sse_config cfg;
    sse_config_init(&cfg);
    int pr = parse_args(&cfg, argc, argv);
    if (pr) {
        sse_config_cleanup(&cfg);
        return pr > 0 ? 0 : 2;
    }
    sse_log_setup("sselite-fcgi", cfg.log_level);

    /* Handlers before FCGX_Init (see the file comment); then block them in
     * every thread so only sigwait() in main sees them. */
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
    if (sse_listen_open(&cfg, &w.listen_fd, &owned_path, desc, sizeof desc, err,
                        sizeof err)) {
        sse_log(SSE_LOG_ERROR, "%s", err);
        sse_config_cleanup(&cfg);
        return 2;
    }
    sse_metrics_init(&w.metrics, cfg.threads);
    w.metrics.max_streams = cfg.max_streams;
    w.env.cfg = &cfg;
    w.env.metrics = &w.metrics;
    int rc = sse_fanout_new(&cfg, &w.metrics, &w.env.fanout);
    if (!rc)
        rc = sse_logpool_new(cfg.db, cfg.busy_timeout_ms, &w.env.logpool);
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
        if (pthread_create(&t, &attr, serve_thread, &w) != 0) {
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
            "max-streams=%d heartbeat=%ds",
            PACKAGE_VERSION, cfg.db, desc, started, cfg.max_streams,
            cfg.heartbeat_s);

    int sig = 0;
    for (;;) {
        if (sigwait(&set, &sig) != 0)
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
