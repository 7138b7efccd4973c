/* loadclient.c - single-threaded epoll SSE load client for the benchmarks.
 * SPDX-License-Identifier: MIT
 *
 * Opens thousands of HTTP/1.1 EventSource connections to one server and
 * checks, per subscriber, that every published event arrives exactly once.
 * Each event's data carries its publish time and a sequence number (JSON
 * {"seq":N,"t":<unix microseconds>}), so latency is the receive time
 * (CLOCK_REALTIME, taken right after the read that completed the event)
 * minus t, on the same host.
 *
 * The accounting key of an event is its "id:" as an integer (id mode
 * sselite: row ids grow by one per event on a single-channel log) or the
 * seq in its data (id mode nchan: Nchan ids are opaque "time:tag" strings).
 * When the expected range [first, first + expect) is known, each subscriber
 * keeps a bitmap of it, which makes duplicates and holes exact even across
 * reconnects; "missing" is what is still unset when the run ends.
 *
 * The parsers are incremental and byte-exact: an HTTP status line and
 * headers, chunked transfer coding (or a Content-Length, or a body to EOF),
 * and SSE framing per the HTML standard (CR, LF or CRLF line ends, "field:
 * value" with one optional space, dispatch on a blank line, the last event
 * ID committed at dispatch and sent back as Last-Event-ID on reconnect).
 * Chunks, lines and events may span reads.
 *
 * The client can also sample the server: CPU (utime + stime) and resident
 * memory of given PIDs and all their descendants from /proc, so "CPU per
 * delivered event" and "RSS per open stream" are measured on the server
 * processes only. The report is one JSON object on stdout.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "bench_util.h"

#define READ_BUF_SIZE (256 * 1024)
#define HEADER_MAX 16384
#define LINE_MAX_BYTES 65536 /* longer SSE lines are counted and cut */
#define DATA_MAX_BYTES 4096  /* only seq and t are read from the data */
#define ID_MAX 128
#define TYPE_MAX 128
#define MAX_EPOLL_EVENTS 1024
#define MAX_STATS_PIDS 16
#define MAX_ERR_LOGS 20

/* ------------------------------------------------------------------ */
/* Small helpers                                                       */
/* ------------------------------------------------------------------ */

static int err_logs;

static void logerr(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Prints a diagnostic to stderr, at most MAX_ERR_LOGS times per run so a
 * failure repeated by thousands of connections does not flood the log. */
static void logerr(const char *fmt, ...)
{
    va_list ap;
    if (err_logs++ >= MAX_ERR_LOGS)
        return;
    va_start(ap, fmt);
    fputs("loadclient: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

static void *xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p)
        die("out of memory");
    return p;
}

static double parse_double(const char *opt, const char *s, double lo, double hi)
{
    char *end;
    double v;
    errno = 0;
    v = strtod(s, &end);
    if (errno || end == s || *end || !(v >= lo && v <= hi))
        die("--%s: '%s' is not a number from %g to %g", opt, s, lo, hi);
    return v;
}

/* A growable byte string with a hard limit; the limit turns a runaway
 * line into a counted truncation instead of unbounded memory. */
struct bytes {
    char *p;
    size_t len;
    size_t cap;
};

/* Appends n bytes, keeping at most max; returns 1 if bytes were cut. */
static int bytes_add(struct bytes *b, const char *s, size_t n, size_t max)
{
    int cut = 0;
    if (b->len + n > max) {
        n = max > b->len ? max - b->len : 0;
        cut = 1;
    }
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 64;
        char *np;
        while (cap < b->len + n + 1)
            cap *= 2;
        np = realloc(b->p, cap);
        if (!np)
            die("out of memory");
        b->p = np;
        b->cap = cap;
    }
    if (n)
        memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
    return cut;
}

static void bytes_free(struct bytes *b)
{
    free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
}

/* ------------------------------------------------------------------ */
/* Latency histogram: exact to 1 us below 2.048 ms, then 1024 linear   */
/* steps per power of two (error < 0.1 %), up to 2^40 us.              */
/* ------------------------------------------------------------------ */

#define HIST_EXACT 2048
#define HIST_SUB 1024
#define HIST_MAXEXP 40
#define HIST_BUCKETS (HIST_EXACT + (HIST_MAXEXP - 11 + 1) * HIST_SUB)

struct hist {
    uint64_t counts[HIST_BUCKETS];
    uint64_t n;
    uint64_t max;
    uint64_t min;
    double sum;
};

static size_t hist_index(uint64_t v)
{
    int e;
    if (v < HIST_EXACT)
        return (size_t)v;
    e = 63 - __builtin_clzll(v);
    if (e > HIST_MAXEXP)
        return HIST_BUCKETS - 1;
    return HIST_EXACT + (size_t)(e - 11) * HIST_SUB +
           (size_t)((v >> (e - 10)) & (HIST_SUB - 1));
}

static uint64_t hist_value(size_t i)
{
    size_t e, m;
    if (i < HIST_EXACT)
        return i;
    e = (i - HIST_EXACT) / HIST_SUB + 11;
    m = (i - HIST_EXACT) % HIST_SUB;
    return (uint64_t)(HIST_SUB + m) << (e - 10);
}

static void hist_add(struct hist *h, uint64_t v)
{
    h->counts[hist_index(v)]++;
    if (h->n == 0 || v < h->min)
        h->min = v;
    if (v > h->max)
        h->max = v;
    h->n++;
    h->sum += (double)v;
}

/* Returns the smallest recorded value v such that at least p of the
 * samples are <= v (nearest rank), or 0 with no samples. */
static uint64_t hist_pct(const struct hist *h, double p)
{
    uint64_t rank, seen = 0;
    size_t i;
    if (h->n == 0)
        return 0;
    rank = (uint64_t)(p * (double)h->n);
    if ((double)rank < p * (double)h->n)
        rank++;
    if (rank < 1)
        rank = 1;
    for (i = 0; i < HIST_BUCKETS; i++) {
        seen += h->counts[i];
        if (seen >= rank) {
            uint64_t v = hist_value(i);
            return v > h->max ? h->max : v;
        }
    }
    return h->max;
}

/* ------------------------------------------------------------------ */
/* Options                                                             */
/* ------------------------------------------------------------------ */

enum id_mode { ID_SSELITE, ID_NCHAN };

struct opts {
    const char *host;
    int port;
    const char *path;
    int subscribers;
    double connect_rate;    /* connects per second, 0 = unlimited */
    double duration_s;      /* hard stop */
    double hold_s;          /* stop this long after all are connected */
    double ready_timeout_s; /* declare ready this long after the start
                               even if not all are connected, 0 = never */
    int64_t expect;         /* events each subscriber must get, 0 = none */
    int64_t first;          /* first expected key, -1 = learn per subscriber */
    int64_t drop_at;        /* close after the K-th event once, 0 = never */
    enum id_mode id_mode;
    int reconnect; /* reconnect on EOF/error */
    int reconnect_delay_ms;
    const char *last_event_id; /* sent on the first connect too */
    const char *ready_file;    /* written when every subscriber is set up */
    pid_t stats_pids[MAX_STATS_PIDS];
    int nstats_pids;
    int stats_interval_ms;
    const char *label;
    int json;
};

/* ------------------------------------------------------------------ */
/* Subscribers                                                         */
/* ------------------------------------------------------------------ */

enum conn_state {
    ST_IDLE,       /* no socket: waiting in the connect queue or finished */
    ST_CONNECTING, /* non-blocking connect in progress */
    ST_SENDING,    /* request partly written */
    ST_HEADERS,    /* reading the status line and headers */
    ST_BODY        /* streaming */
};

enum body_mode { BODY_EOF, BODY_LENGTH, BODY_CHUNKED };

enum chunk_state { CH_SIZE, CH_EXT, CH_DATA, CH_DATA_END, CH_TRAILER };

/* One subscriber: its current connection (if any) and the accounting that
 * survives reconnects. Invariant: fd >= 0 iff state != ST_IDLE. */
struct sub {
    int fd;
    enum conn_state state;
    int queued;
    int64_t not_before_ns; /* earliest time of the next connect */

    /* Current connection. */
    char *req; /* owned; unsent request bytes */
    size_t req_len, req_off;
    struct bytes hdr; /* header bytes until the blank line */
    enum body_mode body;
    int64_t body_left; /* BODY_LENGTH: bytes left */
    enum chunk_state ch;
    uint64_t chunk_left;
    int trailer_line_len;
    struct bytes line;   /* partial SSE line */
    int last_cr;         /* previous byte was CR: skip a following LF */
    struct bytes data;   /* data buffer of the event being parsed */
    char id_buf[ID_MAX]; /* last event ID buffer (spec) */
    char type_buf[TYPE_MAX];
    int data_cut;

    /* Survives reconnects. */
    char last_id[ID_MAX]; /* last event ID string, sent on reconnect */
    int64_t first_key;    /* -1 until known */
    uint64_t *bits;       /* owned; seen keys in [first_key, +expect) */
    uint32_t *idhash;     /* owned, id mode nchan only: hash of the id each
                             key first arrived with (never 0) */
    int64_t last_key;
    int have_last;
    int64_t id_seq_off;
    int have_off;
    uint64_t events, unique, dups, republished, out_of_order, out_of_range;
    uint64_t unparsed;
    uint64_t gap_events, events_this_conn, conns, closes_after_ready;
    int ever_connected; /* got a 200 response once */
    int dropped;        /* the --drop-at close has happened */
    int complete;       /* unique == expect */
    int failed;         /* gave up: no reconnect */
};

struct totals {
    uint64_t connect_attempts, connect_failures, http_errors, server_closes;
    uint64_t reconnects, drops, lines_cut, data_cut, comments;
    uint64_t empty_streams; /* 200 responses that ended with no event */
    uint64_t bytes;
    int open, max_open, ever_connected, failed, complete;
};

/* ------------------------------------------------------------------ */
/* Server statistics from /proc                                        */
/* ------------------------------------------------------------------ */

struct pidcpu {
    pid_t pid;
    uint64_t base; /* ticks when first seen (0 if born after the start) */
    uint64_t last; /* ticks at the last sample */
};

struct stats {
    int enabled;
    long ticks_per_s;
    long page_kb;
    struct pidcpu *tab;
    size_t ntab, captab;
    int first_done;
    uint64_t rss_start_kb, rss_peak_kb, rss_end_kb, rss_ready_kb;
    uint64_t pss_start_kb, pss_ready_kb, pss_end_kb;
    double cpu_at_ready, cpu_at_end;
    int nprocs_last, nprocs_max;
    int64_t next_ns;
};

struct procent {
    pid_t pid, ppid;
    uint64_t ticks;
    int in;
};

/* Reads pid, ppid and utime+stime from /proc/PID/stat. Returns 0 or -1
 * (the process may be gone). The comm field may hold spaces and ')', so
 * the fields are parsed after the last ')'. */
static int read_proc_stat(pid_t pid, struct procent *pe)
{
    char path[64], buf[1024];
    ssize_t n;
    int fd;
    char *p;
    unsigned long long ut, st;
    int ppid;
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return -1;
    buf[n] = '\0';
    p = strrchr(buf, ')');
    if (!p)
        return -1;
    /* After ") ": state ppid pgrp session tty tpgid flags minflt cminflt
     * majflt cmajflt utime stime */
    if (sscanf(p + 2, "%*c %d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu",
               &ppid, &ut, &st) != 3)
        return -1;
    pe->pid = pid;
    pe->ppid = ppid;
    pe->ticks = ut + st;
    pe->in = 0;
    return 0;
}

static uint64_t read_rss_kb(pid_t pid, long page_kb)
{
    char path[64], buf[256];
    ssize_t n;
    int fd;
    unsigned long long size, res;
    snprintf(path, sizeof path, "/proc/%d/statm", (int)pid);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    if (sscanf(buf, "%llu %llu", &size, &res) != 2)
        return 0;
    return res * (uint64_t)page_kb;
}

static uint64_t read_pss_kb(pid_t pid)
{
    char path[64], line[256];
    FILE *f;
    unsigned long long v = 0;
    snprintf(path, sizeof path, "/proc/%d/smaps_rollup", (int)pid);
    f = fopen(path, "re");
    if (!f)
        return 0;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "Pss: %llu kB", &v) == 1)
            break;
    fclose(f);
    return v;
}

static struct pidcpu *stats_slot(struct stats *s, pid_t pid, uint64_t ticks)
{
    size_t i;
    for (i = 0; i < s->ntab; i++)
        if (s->tab[i].pid == pid)
            return &s->tab[i];
    if (s->ntab == s->captab) {
        size_t cap = s->captab ? s->captab * 2 : 16;
        struct pidcpu *nt = realloc(s->tab, cap * sizeof *nt);
        if (!nt)
            die("out of memory");
        s->tab = nt;
        s->captab = cap;
    }
    s->tab[s->ntab].pid = pid;
    /* A process first seen at the first sample is charged from there; one
     * that appears later (a restarted worker) was born during the run. */
    s->tab[s->ntab].base = s->first_done ? 0 : ticks;
    s->tab[s->ntab].last = ticks;
    return &s->tab[s->ntab++];
}

/* Samples the given PIDs and all their descendants: CPU ticks into the
 * per-PID table (kept for processes that exit, so killed workers still
 * count) and the sum of resident memory. With pss set, also sums PSS
 * (slower: the kernel walks every mapping). Returns the RSS sum in KiB. */
static uint64_t stats_sample(struct stats *s, const struct opts *o,
                             uint64_t *pss)
{
    DIR *d;
    struct dirent *de;
    struct procent *ents = NULL;
    size_t n = 0, cap = 0, i;
    int changed, k, nin = 0;
    uint64_t rss = 0, pss_sum = 0;

    d = opendir("/proc");
    if (!d)
        return 0;
    while ((de = readdir(d))) {
        char *end;
        long v;
        if (!isdigit((unsigned char)de->d_name[0]))
            continue;
        v = strtol(de->d_name, &end, 10);
        if (*end || v <= 0)
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 512;
            ents = realloc(ents, cap * sizeof *ents);
            if (!ents)
                die("out of memory");
        }
        if (read_proc_stat((pid_t)v, &ents[n]) == 0)
            n++;
    }
    closedir(d);
    for (i = 0; i < n; i++)
        for (k = 0; k < o->nstats_pids; k++)
            if (ents[i].pid == o->stats_pids[k])
                ents[i].in = 1;
    /* Descendants: repeat until no process joins (depth is small). */
    do {
        changed = 0;
        for (i = 0; i < n; i++) {
            size_t j;
            if (ents[i].in)
                continue;
            for (j = 0; j < n; j++)
                if (ents[j].in && ents[j].pid == ents[i].ppid) {
                    ents[i].in = 1;
                    changed = 1;
                    break;
                }
        }
    } while (changed);
    for (i = 0; i < n; i++) {
        struct pidcpu *pc;
        if (!ents[i].in)
            continue;
        nin++;
        pc = stats_slot(s, ents[i].pid, ents[i].ticks);
        pc->last = ents[i].ticks;
        rss += read_rss_kb(ents[i].pid, s->page_kb);
        if (pss)
            pss_sum += read_pss_kb(ents[i].pid);
    }
    free(ents);
    s->first_done = 1;
    s->nprocs_last = nin;
    if (nin > s->nprocs_max)
        s->nprocs_max = nin;
    if (rss > s->rss_peak_kb)
        s->rss_peak_kb = rss;
    if (pss)
        *pss = pss_sum;
    return rss;
}

static double stats_cpu_s(const struct stats *s)
{
    uint64_t t = 0;
    size_t i;
    for (i = 0; i < s->ntab; i++)
        t += s->tab[i].last - s->tab[i].base;
    return (double)t / (double)s->ticks_per_s;
}

/* ------------------------------------------------------------------ */
/* The client                                                          */
/* ------------------------------------------------------------------ */

struct client {
    struct opts o;
    struct sub *subs;
    int nsubs;
    int ep;
    struct sockaddr_in addr;
    /* Connect queue: a FIFO ring of subscriber indexes; each subscriber
     * is in it at most once, so nsubs slots suffice. */
    int *queue;
    int qhead, qlen;
    double tokens;
    int64_t tokens_ns;
    struct totals t;
    struct hist *lat;
    char *rbuf;
    int64_t now_real_us; /* receive time of the bytes being parsed */
    int64_t start_ns, ready_ns, end_ns;
    int ready;
    int ready_partial; /* ready by --ready-timeout, not all connected */
    int quiet;         /* --selftest: no progress lines */
    int stopping;
    int64_t first_pub_us, last_recv_us, first_recv_us;
    struct stats st;
};

static volatile sig_atomic_t got_signal;

static void on_signal(int sig)
{
    (void)sig;
    got_signal = 1;
}

static void queue_push(struct client *c, int i, int64_t not_before)
{
    struct sub *s = &c->subs[i];
    if (s->queued)
        return;
    s->queued = 1;
    s->not_before_ns = not_before;
    c->queue[(c->qhead + c->qlen) % c->nsubs] = i;
    c->qlen++;
}

static int queue_pop(struct client *c)
{
    int i = c->queue[c->qhead];
    c->qhead = (c->qhead + 1) % c->nsubs;
    c->qlen--;
    c->subs[i].queued = 0;
    return i;
}

static void conn_reset(struct sub *s)
{
    free(s->req);
    s->req = NULL;
    s->req_len = s->req_off = 0;
    bytes_free(&s->hdr);
    s->line.len = 0;
    s->data.len = 0;
    s->last_cr = 0;
    /* A new stream starts from the event source's last event ID string,
     * so an event without an "id:" line keeps the previous id. */
    memcpy(s->id_buf, s->last_id, sizeof s->id_buf);
    s->type_buf[0] = '\0';
    s->data_cut = 0;
    s->events_this_conn = 0;
}

static void check_ready(struct client *c);

/* Closes the connection of subscriber i. why: 0 = normal end (EOF or end
 * of body), 1 = error, 2 = our own --drop-at close. Decides whether and
 * when the subscriber reconnects. */
static void conn_close(struct client *c, int i, int why)
{
    struct sub *s = &c->subs[i];
    int was_streaming = s->state == ST_BODY;
    uint64_t got = s->events_this_conn;
    if (s->fd >= 0) {
        epoll_ctl(c->ep, EPOLL_CTL_DEL, s->fd, NULL);
        close(s->fd);
        s->fd = -1;
        c->t.open--;
    }
    s->state = ST_IDLE;
    conn_reset(s);
    if (c->ready)
        s->closes_after_ready++;
    if (c->stopping)
        return;
    if (why == 2) {
        c->t.drops++;
        queue_push(c, i, mono_ns());
        return;
    }
    if (was_streaming && !s->complete)
        c->t.server_closes++;
    /* A stream that ends before any event is usually an overload answer
     * (sselite's "busy" or error responses end that way). */
    if (was_streaming && got == 0)
        c->t.empty_streams++;
    if (s->complete && c->o.expect > 0)
        return;
    if (c->o.reconnect) {
        c->t.reconnects++;
        queue_push(c, i,
                   mono_ns() + (int64_t)c->o.reconnect_delay_ms * 1000000);
        return;
    }
    if (!s->failed && !s->ever_connected) {
        s->failed = 1;
        c->t.failed++;
        check_ready(c);
    }
}

static void set_ready(struct client *c)
{
    FILE *f;
    c->ready = 1;
    c->ready_ns = mono_ns();
    if (c->st.enabled) {
        c->st.rss_ready_kb = stats_sample(&c->st, &c->o, &c->st.pss_ready_kb);
        c->st.cpu_at_ready = stats_cpu_s(&c->st);
    }
    if (!c->quiet)
        fprintf(stderr, "loadclient: ready: %d connected, %d failed, %.2f s\n",
                c->t.ever_connected, c->t.failed,
                (double)(c->ready_ns - c->start_ns) / 1e9);
    if (c->o.ready_file) {
        f = fopen(c->o.ready_file, "we");
        if (f) {
            fprintf(f, "%d %d\n", c->t.ever_connected, c->t.failed);
            fclose(f);
        } else {
            logerr("cannot write %s: %s", c->o.ready_file, strerror(errno));
        }
    }
}

static void check_ready(struct client *c)
{
    if (!c->ready && c->t.ever_connected + c->t.failed >= c->nsubs)
        set_ready(c);
}

/* Builds the request for subscriber i into s->req. */
static void build_request(struct client *c, struct sub *s)
{
    char buf[2048 + ID_MAX];
    int n;
    const char *lid = s->last_id;
    if (lid[0])
        n = snprintf(buf, sizeof buf,
                     "GET %s HTTP/1.1\r\nHost: %s:%d\r\n"
                     "Accept: text/event-stream\r\n"
                     "Cache-Control: no-cache\r\n"
                     "Last-Event-ID: %s\r\n\r\n",
                     c->o.path, c->o.host, c->o.port, lid);
    else
        n = snprintf(buf, sizeof buf,
                     "GET %s HTTP/1.1\r\nHost: %s:%d\r\n"
                     "Accept: text/event-stream\r\n"
                     "Cache-Control: no-cache\r\n\r\n",
                     c->o.path, c->o.host, c->o.port);
    if (n < 0 || (size_t)n >= sizeof buf)
        die("request too long (path over 2 KiB?)");
    s->req = malloc((size_t)n);
    if (!s->req)
        die("out of memory");
    memcpy(s->req, buf, (size_t)n);
    s->req_len = (size_t)n;
    s->req_off = 0;
}

static void start_connect(struct client *c, int i)
{
    struct sub *s = &c->subs[i];
    struct epoll_event ev;
    int fd, one = 1;

    c->t.connect_attempts++;
    s->conns++;
    fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        logerr("socket: %s", strerror(errno));
        c->t.connect_failures++;
        conn_close(c, i, 1);
        return;
    }
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    s->fd = fd;
    c->t.open++;
    if (c->t.open > c->t.max_open)
        c->t.max_open = c->t.open;
    conn_reset(s);
    build_request(c, s);
    ev.events = EPOLLOUT;
    ev.data.u32 = (uint32_t)i;
    if (epoll_ctl(c->ep, EPOLL_CTL_ADD, fd, &ev) < 0)
        die("epoll_ctl: %s", strerror(errno));
    s->state = ST_CONNECTING;
    if (connect(fd, (struct sockaddr *)&c->addr, sizeof c->addr) < 0 &&
        errno != EINPROGRESS) {
        logerr("connect: %s", strerror(errno));
        c->t.connect_failures++;
        conn_close(c, i, 1);
    }
}

/* ---- event accounting ---- */

static int json_int(const char *data, const char *key, int64_t *out)
{
    const char *p = strstr(data, key);
    char *end;
    long long v;
    if (!p)
        return -1;
    p += strlen(key);
    while (*p == ' ')
        p++;
    errno = 0;
    v = strtoll(p, &end, 10);
    if (errno || end == p)
        return -1;
    *out = v;
    return 0;
}

static int parse_id(const char *s, int64_t *out)
{
    char *end;
    long long v;
    if (!*s || !isdigit((unsigned char)*s))
        return -1;
    errno = 0;
    v = strtoll(s, &end, 10);
    if (errno || *end)
        return -1;
    *out = v;
    return 0;
}

/* FNV-1a of an event id, never 0 (0 marks "no id stored"). */
static uint32_t id_hash(const char *id)
{
    uint32_t h = 2166136261u;
    for (; *id; id++)
        h = (h ^ (unsigned char)*id) * 16777619u;
    return h ? h : 1;
}

/* Accounts one dispatched event. Returns 1 if the connection must be
 * dropped now (--drop-at), else 0. */
static int on_event(struct client *c, int i)
{
    struct sub *s = &c->subs[i];
    int64_t seq = -1, t = -1, idv = -1, key;

    if (strcmp(s->type_buf, "sselite-gap") == 0) {
        s->gap_events++;
        logerr("subscriber %d: sselite-gap event: %s", i, s->data.p);
        return 0;
    }
    s->events++;
    s->events_this_conn++;
    if (json_int(s->data.p, "\"seq\":", &seq) < 0 ||
        json_int(s->data.p, "\"t\":", &t) < 0) {
        s->unparsed++;
        return 0;
    }
    if (t > 0) {
        int64_t lat = c->now_real_us - t;
        hist_add(c->lat, lat > 0 ? (uint64_t)lat : 0);
        if (c->first_pub_us == 0 || t < c->first_pub_us)
            c->first_pub_us = t;
    }
    if (c->first_recv_us == 0)
        c->first_recv_us = c->now_real_us;
    c->last_recv_us = c->now_real_us;
    if (c->o.id_mode == ID_SSELITE) {
        if (parse_id(s->last_id, &idv) < 0) {
            s->unparsed++;
            return 0;
        }
        key = idv;
        if (!s->have_off) {
            s->id_seq_off = idv - seq;
            s->have_off = 1;
        } else if (idv - seq != s->id_seq_off) {
            s->unparsed++;
        }
    } else {
        key = seq;
    }
    if (s->have_last && key < s->last_key)
        s->out_of_order++;
    s->last_key = key;
    s->have_last = 1;
    if (c->o.expect > 0) {
        if (s->first_key < 0)
            s->first_key = key;
        if (!s->bits)
            s->bits = xcalloc((size_t)(c->o.expect + 63) / 64, 8);
        if (!s->idhash && c->o.id_mode == ID_NCHAN)
            s->idhash = xcalloc((size_t)c->o.expect, sizeof *s->idhash);
        if (key < s->first_key || key >= s->first_key + c->o.expect) {
            s->out_of_range++;
        } else {
            uint64_t off = (uint64_t)(key - s->first_key);
            uint64_t m = (uint64_t)1 << (off & 63);
            if (s->bits[off >> 6] & m) {
                /* The same seq under another id is a second message with
                 * the same data: the publisher re-sent a POST whose answer
                 * it lost. Only the same id twice is a duplicate. */
                if (s->idhash && s->idhash[off] != id_hash(s->last_id))
                    s->republished++;
                else
                    s->dups++;
            } else {
                s->bits[off >> 6] |= m;
                if (s->idhash)
                    s->idhash[off] = id_hash(s->last_id);
                s->unique++;
                if ((int64_t)s->unique == c->o.expect) {
                    s->complete = 1;
                    c->t.complete++;
                }
            }
        }
    } else {
        s->unique++;
    }
    if (c->o.drop_at > 0 && !s->dropped &&
        (int64_t)s->events_this_conn >= c->o.drop_at) {
        s->dropped = 1;
        return 1;
    }
    return 0;
}

/* Processes one complete SSE line (without its end). Returns 1 to drop
 * the connection. */
static int on_line(struct client *c, int i, const char *l, size_t n)
{
    struct sub *s = &c->subs[i];
    const char *colon, *v;
    size_t fl, vl;

    if (n == 0) {
        /* Dispatch: commit the last event ID, then fire if data is set. */
        int r = 0;
        memcpy(s->last_id, s->id_buf, sizeof s->last_id);
        if (s->data.len > 0) {
            s->data.p[--s->data.len] = '\0'; /* the last '\n' */
            r = on_event(c, i);
        }
        s->data.len = 0;
        if (s->data.p)
            s->data.p[0] = '\0';
        s->type_buf[0] = '\0';
        return r;
    }
    if (l[0] == ':') {
        c->t.comments++;
        return 0;
    }
    colon = memchr(l, ':', n);
    if (colon) {
        fl = (size_t)(colon - l);
        v = colon + 1;
        vl = n - fl - 1;
        if (vl && *v == ' ') {
            v++;
            vl--;
        }
    } else {
        fl = n;
        v = l + n;
        vl = 0;
    }
    if (fl == 4 && memcmp(l, "data", 4) == 0) {
        if (bytes_add(&s->data, v, vl, DATA_MAX_BYTES) ||
            bytes_add(&s->data, "\n", 1, DATA_MAX_BYTES + 1))
            c->t.data_cut++;
    } else if (fl == 2 && memcmp(l, "id", 2) == 0) {
        if (!memchr(v, '\0', vl)) {
            if (vl >= ID_MAX)
                vl = ID_MAX - 1;
            memcpy(s->id_buf, v, vl);
            s->id_buf[vl] = '\0';
        }
    } else if (fl == 5 && memcmp(l, "event", 5) == 0) {
        if (vl >= TYPE_MAX)
            vl = TYPE_MAX - 1;
        memcpy(s->type_buf, v, vl);
        s->type_buf[vl] = '\0';
    }
    /* "retry" and unknown fields are ignored, as a browser would. */
    return 0;
}

/* Feeds body bytes to the SSE parser. Returns 1 to drop the connection
 * (the rest of the bytes is then ignored). */
static int sse_feed(struct client *c, int i, const char *p, size_t n)
{
    struct sub *s = &c->subs[i];
    while (n > 0) {
        const char *lf, *cr, *e;
        size_t k;
        if (s->last_cr) {
            s->last_cr = 0;
            if (*p == '\n') {
                p++;
                n--;
                continue;
            }
        }
        lf = memchr(p, '\n', n);
        cr = memchr(p, '\r', lf ? (size_t)(lf - p) : n);
        e = cr ? cr : lf;
        if (!e) {
            if (bytes_add(&s->line, p, n, LINE_MAX_BYTES))
                c->t.lines_cut++;
            return 0;
        }
        k = (size_t)(e - p);
        if (e == cr)
            s->last_cr = 1;
        if (s->line.len) {
            int r;
            if (bytes_add(&s->line, p, k, LINE_MAX_BYTES))
                c->t.lines_cut++;
            r = on_line(c, i, s->line.p, s->line.len);
            s->line.len = 0;
            if (r)
                return 1;
        } else if (on_line(c, i, p, k)) {
            return 1;
        }
        p += k + 1;
        n -= k + 1;
    }
    return 0;
}

/* Decodes chunked transfer coding. Returns 1 to drop the connection, 2 at
 * the end of the body, else 0. */
static int chunk_feed(struct client *c, int i, const char *p, size_t n)
{
    struct sub *s = &c->subs[i];
    while (n > 0) {
        switch (s->ch) {
        case CH_SIZE: {
            int d = -1;
            char ch = *p;
            if (ch >= '0' && ch <= '9')
                d = ch - '0';
            else if (ch >= 'a' && ch <= 'f')
                d = ch - 'a' + 10;
            else if (ch >= 'A' && ch <= 'F')
                d = ch - 'A' + 10;
            if (d >= 0) {
                if (s->chunk_left >> 60)
                    return 1; /* absurd size */
                s->chunk_left = s->chunk_left * 16 + (uint64_t)d;
            } else if (ch == '\n') {
                if (s->chunk_left == 0) {
                    s->ch = CH_TRAILER;
                    s->trailer_line_len = 0;
                } else {
                    s->ch = CH_DATA;
                }
            } else {
                s->ch = CH_EXT; /* ';' extensions, CR */
            }
            p++;
            n--;
            break;
        }
        case CH_EXT:
            if (*p == '\n')
                s->ch = s->chunk_left == 0 ? CH_TRAILER : CH_DATA;
            s->trailer_line_len = 0;
            p++;
            n--;
            break;
        case CH_DATA: {
            size_t k = n < s->chunk_left ? n : (size_t)s->chunk_left;
            if (sse_feed(c, i, p, k))
                return 1;
            p += k;
            n -= k;
            s->chunk_left -= k;
            if (s->chunk_left == 0)
                s->ch = CH_DATA_END;
            break;
        }
        case CH_DATA_END:
            if (*p == '\n')
                s->ch = CH_SIZE;
            p++;
            n--;
            break;
        case CH_TRAILER:
            if (*p == '\n') {
                if (s->trailer_line_len == 0)
                    return 2;
                s->trailer_line_len = 0;
            } else if (*p != '\r') {
                s->trailer_line_len++;
            }
            p++;
            n--;
            break;
        }
    }
    return 0;
}

/* Returns 1 to drop, 2 at the end of the body, else 0. */
static int body_feed(struct client *c, int i, const char *p, size_t n)
{
    struct sub *s = &c->subs[i];
    switch (s->body) {
    case BODY_CHUNKED:
        return chunk_feed(c, i, p, n);
    case BODY_LENGTH:
        if ((int64_t)n > s->body_left)
            n = (size_t)s->body_left;
        s->body_left -= (int64_t)n;
        if (sse_feed(c, i, p, n))
            return 1;
        return s->body_left == 0 ? 2 : 0;
    case BODY_EOF:
        return sse_feed(c, i, p, n);
    }
    return 0;
}

/* Finds header name (case-insensitive) in the header block h; returns a
 * pointer to its value (leading blanks skipped) or NULL. */
static const char *header_find(const char *h, const char *name)
{
    size_t nl = strlen(name);
    const char *p = strstr(h, "\r\n");
    while (p && p[2] != '\r') {
        p += 2;
        if (strncasecmp(p, name, nl) == 0 && p[nl] == ':') {
            p += nl + 1;
            while (*p == ' ' || *p == '\t')
                p++;
            return p;
        }
        p = strstr(p, "\r\n");
    }
    return NULL;
}

/* Parses the response head once the blank line is in s->hdr. Returns the
 * offset of the first body byte, or -1 on a non-200 or malformed head. */
static long head_parse(struct client *c, int i)
{
    struct sub *s = &c->subs[i];
    char *end = strstr(s->hdr.p, "\r\n\r\n");
    const char *v;
    int status = 0;
    if (!end)
        return 0;
    end[2] = '\0'; /* keep the last header's CRLF for header_find */
    if (sscanf(s->hdr.p, "HTTP/1.%*d %d", &status) != 1 || status != 200) {
        char line[120];
        size_t k = strcspn(s->hdr.p, "\r\n");
        if (k >= sizeof line)
            k = sizeof line - 1;
        memcpy(line, s->hdr.p, k);
        line[k] = '\0';
        logerr("subscriber %d: response '%s'", i, line);
        c->t.http_errors++;
        return -1;
    }
    s->body = BODY_EOF;
    v = header_find(s->hdr.p, "Transfer-Encoding");
    if (v && strncasecmp(v, "chunked", 7) == 0) {
        s->body = BODY_CHUNKED;
        s->ch = CH_SIZE;
        s->chunk_left = 0;
    } else if ((v = header_find(s->hdr.p, "Content-Length"))) {
        s->body = BODY_LENGTH;
        s->body_left = strtoll(v, NULL, 10);
    }
    if (!s->ever_connected) {
        s->ever_connected = 1;
        c->t.ever_connected++;
        check_ready(c);
    }
    return (long)(end - s->hdr.p) + 4;
}

/* Runs n bytes just read from subscriber i's connection through the head,
 * transfer-coding and SSE parsers. */
static void on_bytes(struct client *c, int i, const char *buf, size_t n)
{
    struct sub *s = &c->subs[i];
    int r;

    c->t.bytes += n;
    c->now_real_us = real_us();
    if (s->state == ST_HEADERS) {
        long off;
        size_t hl = s->hdr.len;
        if (bytes_add(&s->hdr, buf, n, HEADER_MAX)) {
            logerr("subscriber %d: response head over %d bytes", i, HEADER_MAX);
            c->t.http_errors++;
            conn_close(c, i, 1);
            return;
        }
        off = head_parse(c, i);
        if (off < 0) {
            conn_close(c, i, 1);
            return;
        }
        if (off == 0)
            return;
        s->state = ST_BODY;
        /* Body bytes that came with the head are in buf after it. */
        r = body_feed(c, i, buf + (off - (long)hl),
                      n - (size_t)(off - (long)hl));
        bytes_free(&s->hdr);
    } else {
        r = body_feed(c, i, buf, n);
    }
    if (r == 1)
        conn_close(c, i, 2);
    else if (r == 2)
        conn_close(c, i, 0);
}

static void on_readable(struct client *c, int i)
{
    struct sub *s = &c->subs[i];
    ssize_t n = read(s->fd, c->rbuf, READ_BUF_SIZE);

    if (n < 0) {
        if (errno == EAGAIN || errno == EINTR)
            return;
        logerr("subscriber %d: read: %s", i, strerror(errno));
        conn_close(c, i, 1);
        return;
    }
    if (n == 0) {
        if (s->state == ST_HEADERS)
            c->t.connect_failures++;
        conn_close(c, i, 0);
        return;
    }
    on_bytes(c, i, c->rbuf, (size_t)n);
}

static void on_writable(struct client *c, int i)
{
    struct sub *s = &c->subs[i];
    struct epoll_event ev;
    ssize_t n;

    if (s->state == ST_CONNECTING) {
        int err = 0;
        socklen_t len = sizeof err;
        getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &err, &len);
        if (err) {
            logerr("subscriber %d: connect: %s", i, strerror(err));
            c->t.connect_failures++;
            conn_close(c, i, 1);
            return;
        }
        s->state = ST_SENDING;
    }
    n = write(s->fd, s->req + s->req_off, s->req_len - s->req_off);
    if (n < 0) {
        if (errno == EAGAIN || errno == EINTR)
            return;
        logerr("subscriber %d: write: %s", i, strerror(errno));
        c->t.connect_failures++;
        conn_close(c, i, 1);
        return;
    }
    s->req_off += (size_t)n;
    if (s->req_off < s->req_len)
        return;
    free(s->req);
    s->req = NULL;
    s->state = ST_HEADERS;
    ev.events = EPOLLIN;
    ev.data.u32 = (uint32_t)i;
    epoll_ctl(c->ep, EPOLL_CTL_MOD, s->fd, &ev);
}

/* Issues queued connects allowed by the rate limit; returns the number of
 * milliseconds until the next one may go (or -1 if the queue is empty). */
static int pump_connects(struct client *c, int64_t now)
{
    double burst;
    if (c->o.connect_rate > 0) {
        burst = c->o.connect_rate / 50.0;
        if (burst < 1)
            burst = 1;
        c->tokens += (double)(now - c->tokens_ns) / 1e9 * c->o.connect_rate;
        if (c->tokens > burst)
            c->tokens = burst;
        c->tokens_ns = now;
    }
    while (c->qlen > 0) {
        int i = c->queue[c->qhead];
        if (c->subs[i].not_before_ns > now) {
            int64_t ms = (c->subs[i].not_before_ns - now) / 1000000 + 1;
            return ms > 1000 ? 1000 : (int)ms;
        }
        if (c->o.connect_rate > 0) {
            if (c->tokens < 1)
                return 1;
            c->tokens -= 1;
        }
        queue_pop(c);
        start_connect(c, i);
    }
    return -1;
}

static int min_timeout(int a, int b)
{
    if (a < 0)
        return b;
    if (b < 0)
        return a;
    return a < b ? a : b;
}

static int ms_until(int64_t when, int64_t now)
{
    if (when <= now)
        return 0;
    return (int)((when - now + 999999) / 1000000);
}

static void run(struct client *c)
{
    struct epoll_event evs[MAX_EPOLL_EVENTS];
    int64_t deadline = c->start_ns + (int64_t)(c->o.duration_s * 1e9);
    int i;

    for (i = 0; i < c->nsubs; i++)
        queue_push(c, i, 0);
    c->tokens_ns = c->start_ns;
    while (!got_signal) {
        int64_t now = mono_ns();
        int timeout, n, k;

        if (now >= deadline)
            break;
        if (c->o.expect > 0 && c->t.complete >= c->nsubs)
            break;
        if (c->ready && c->o.hold_s > 0 &&
            now >= c->ready_ns + (int64_t)(c->o.hold_s * 1e9))
            break;
        if (c->o.expect > 0 && c->t.complete + c->t.failed >= c->nsubs &&
            c->ready)
            break;
        if (!c->ready && c->o.ready_timeout_s > 0 &&
            now >= c->start_ns + (int64_t)(c->o.ready_timeout_s * 1e9)) {
            c->ready_partial = 1;
            set_ready(c);
        }
        if (c->st.enabled && now >= c->st.next_ns) {
            stats_sample(&c->st, &c->o, NULL);
            c->st.next_ns = now + (int64_t)c->o.stats_interval_ms * 1000000;
        }
        timeout = pump_connects(c, now);
        timeout = min_timeout(timeout, ms_until(deadline, now));
        if (c->st.enabled)
            timeout = min_timeout(timeout, ms_until(c->st.next_ns, now));
        if (!c->ready && c->o.ready_timeout_s > 0)
            timeout = min_timeout(
                timeout,
                ms_until(c->start_ns + (int64_t)(c->o.ready_timeout_s * 1e9),
                         now));
        if (c->ready && c->o.hold_s > 0)
            timeout = min_timeout(
                timeout,
                ms_until(c->ready_ns + (int64_t)(c->o.hold_s * 1e9), now));
        timeout = min_timeout(timeout, 1000);
        n = epoll_wait(c->ep, evs, MAX_EPOLL_EVENTS, timeout);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            die("epoll_wait: %s", strerror(errno));
        }
        for (k = 0; k < n; k++) {
            int idx = (int)evs[k].data.u32;
            struct sub *s = &c->subs[idx];
            if (s->fd < 0)
                continue; /* closed earlier in this batch */
            if (s->state == ST_CONNECTING || s->state == ST_SENDING) {
                if (evs[k].events & (EPOLLOUT | EPOLLERR | EPOLLHUP))
                    on_writable(c, idx);
            } else if (evs[k].events & (EPOLLIN | EPOLLERR | EPOLLHUP)) {
                on_readable(c, idx);
            }
        }
    }
    c->stopping = 1;
    c->end_ns = mono_ns();
}

/* ------------------------------------------------------------------ */
/* Report                                                              */
/* ------------------------------------------------------------------ */

static void json_str(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\')
            fprintf(f, "\\%c", ch);
        else if (ch < 0x20)
            fprintf(f, "\\u%04x", ch);
        else
            fputc(ch, f);
    }
    fputc('"', f);
}

/* Prints, as a JSON member, the first holes (missing key ranges) of the
 * first subscriber that has any, to show where events were lost. */
static void report_holes(struct client *c, FILE *f)
{
    int i, nr = 0;
    fprintf(f, "\"first_holes\":{");
    for (i = 0; i < c->nsubs; i++) {
        struct sub *s = &c->subs[i];
        int64_t k, start = -1;
        if (c->o.expect <= 0 || (int64_t)s->unique >= c->o.expect)
            continue;
        fprintf(f, "\"subscriber\":%d,\"first_key\":%" PRId64 ",\"ranges\":[",
                i, s->first_key);
        for (k = 0; k <= c->o.expect && nr < 8; k++) {
            int seen =
                k < c->o.expect && s->bits && (s->bits[k >> 6] >> (k & 63) & 1);
            if (k == c->o.expect)
                seen = 1;
            if (!seen && start < 0)
                start = k;
            if (seen && start >= 0) {
                fprintf(f, "%s[%" PRId64 ",%" PRId64 "]", nr ? "," : "",
                        s->first_key + start, s->first_key + k - 1);
                nr++;
                start = -1;
            }
        }
        fprintf(f, "]");
        break;
    }
    fprintf(f, "},");
}

static void report(struct client *c)
{
    struct rusage ru;
    uint64_t events = 0, unique = 0, dups = 0, missing = 0, ooo = 0, repub = 0;
    uint64_t oor = 0, unparsed = 0, gapev = 0, subs_bad = 0;
    uint64_t min_unique = UINT64_MAX, max_unique = 0;
    int held = 0, open_end = 0, i;
    double window, dur, ms = 1000.0;
    FILE *f = stdout;

    for (i = 0; i < c->nsubs; i++) {
        struct sub *s = &c->subs[i];
        uint64_t miss = 0;
        events += s->events;
        unique += s->unique;
        dups += s->dups;
        repub += s->republished;
        ooo += s->out_of_order;
        oor += s->out_of_range;
        unparsed += s->unparsed;
        gapev += s->gap_events;
        if (c->o.expect > 0 && (int64_t)s->unique < c->o.expect)
            miss = (uint64_t)c->o.expect - s->unique;
        missing += miss;
        if (miss || s->dups || s->out_of_order)
            subs_bad++;
        if (s->unique < min_unique)
            min_unique = s->unique;
        if (s->unique > max_unique)
            max_unique = s->unique;
        if (s->fd >= 0 && s->state == ST_BODY) {
            open_end++;
            if (s->closes_after_ready == 0)
                held++;
        }
    }
    if (c->nsubs == 0)
        min_unique = 0;
    if (c->st.enabled) {
        c->st.rss_end_kb = stats_sample(&c->st, &c->o, &c->st.pss_end_kb);
        c->st.cpu_at_end = stats_cpu_s(&c->st);
    }
    getrusage(RUSAGE_SELF, &ru);
    dur = (double)(c->end_ns - c->start_ns) / 1e9;
    window = c->ready ? (double)(c->end_ns - c->ready_ns) / 1e9 : 0;

    fprintf(f, "{");
    if (c->o.label) {
        fprintf(f, "\"label\":");
        json_str(f, c->o.label);
        fprintf(f, ",");
    }
    fprintf(f,
            "\"subscribers\":%d,\"connected\":%d,\"failed\":%d,"
            "\"ready\":%s,\"ready_partial\":%s,\"ready_s\":%.3f,"
            "\"duration_s\":%.3f,"
            "\"window_s\":%.3f,\"timed_out\":%s,",
            c->nsubs, c->t.ever_connected, c->t.failed,
            c->ready ? "true" : "false", c->ready_partial ? "true" : "false",
            c->ready ? (double)(c->ready_ns - c->start_ns) / 1e9 : 0.0, dur,
            window,
            (c->o.expect > 0 && c->t.complete < c->nsubs) ? "true" : "false");
    fprintf(f, "\"open_at_end\":%d,\"held\":%d,\"max_open\":%d,", open_end,
            held, c->t.max_open);
    fprintf(f,
            "\"expect\":%" PRId64 ",\"complete\":%d,"
            "\"events\":%" PRIu64 ",\"unique\":%" PRIu64 ","
            "\"dups\":%" PRIu64 ",\"republished\":%" PRIu64 ","
            "\"missing\":%" PRIu64 ","
            "\"out_of_order\":%" PRIu64 ",\"out_of_range\":%" PRIu64 ","
            "\"unparsed\":%" PRIu64 ",\"gap_events\":%" PRIu64 ","
            "\"subscribers_with_errors\":%" PRIu64 ","
            "\"min_unique\":%" PRIu64 ",\"max_unique\":%" PRIu64 ",",
            c->o.expect, c->t.complete, events, unique, dups, repub, missing,
            ooo, oor, unparsed, gapev, subs_bad, min_unique, max_unique);
    fprintf(f,
            "\"connect_attempts\":%" PRIu64 ",\"connect_failures\":%" PRIu64
            ",\"http_errors\":%" PRIu64 ",\"server_closes\":%" PRIu64
            ",\"empty_streams\":%" PRIu64 ",\"reconnects\":%" PRIu64
            ",\"drops\":%" PRIu64 ",\"bytes\":%" PRIu64 ",\"comments\":%" PRIu64
            ",\"lines_cut\":%" PRIu64 ",\"data_cut\":%" PRIu64 ",",
            c->t.connect_attempts, c->t.connect_failures, c->t.http_errors,
            c->t.server_closes, c->t.empty_streams, c->t.reconnects, c->t.drops,
            c->t.bytes, c->t.comments, c->t.lines_cut, c->t.data_cut);
    report_holes(c, f);
    fprintf(f,
            "\"latency_ms\":{\"n\":%" PRIu64 ",\"min\":%.3f,\"p50\":%.3f,"
            "\"p90\":%.3f,\"p99\":%.3f,\"p999\":%.3f,\"max\":%.3f,"
            "\"mean\":%.3f},",
            c->lat->n, (double)c->lat->min / ms,
            (double)hist_pct(c->lat, 0.50) / ms,
            (double)hist_pct(c->lat, 0.90) / ms,
            (double)hist_pct(c->lat, 0.99) / ms,
            (double)hist_pct(c->lat, 0.999) / ms, (double)c->lat->max / ms,
            c->lat->n ? c->lat->sum / (double)c->lat->n / ms : 0.0);
    /* Delivery rate: every event received, from the publish time of the
     * earliest event to the receipt of the last one. */
    {
        double span = (double)(c->last_recv_us - c->first_pub_us) / 1e6;
        fprintf(f, "\"delivery_span_s\":%.3f,\"events_per_s\":%.1f,",
                c->first_pub_us ? span : 0.0,
                (c->first_pub_us && span > 0) ? (double)events / span : 0.0);
    }
    fprintf(f, "\"client_cpu_s\":%.3f,",
            (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
                (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6);
    if (c->st.enabled) {
        double wcpu = c->st.cpu_at_end - c->st.cpu_at_ready;
        fprintf(f,
                "\"server\":{\"procs\":%d,\"procs_max\":%d,"
                "\"cpu_total_s\":%.3f,\"cpu_window_s\":%.3f,"
                "\"cpu_us_per_event\":%.3f,"
                "\"rss_kb_start\":%" PRIu64 ",\"rss_kb_ready\":%" PRIu64
                ",\"rss_kb_peak\":%" PRIu64 ",\"rss_kb_end\":%" PRIu64
                ",\"pss_kb_start\":%" PRIu64 ",\"pss_kb_ready\":%" PRIu64
                ",\"pss_kb_end\":%" PRIu64 "}",
                c->st.nprocs_last, c->st.nprocs_max, c->st.cpu_at_end,
                c->ready ? wcpu : 0.0,
                (c->ready && events) ? wcpu * 1e6 / (double)events : 0.0,
                c->st.rss_start_kb, c->st.rss_ready_kb, c->st.rss_peak_kb,
                c->st.rss_end_kb, c->st.pss_start_kb, c->st.pss_ready_kb,
                c->st.pss_end_kb);
    } else {
        fprintf(f, "\"server\":null");
    }
    fprintf(f, "}\n");
    fflush(f);
    fprintf(stderr,
            "loadclient: %d/%d connected, %d complete, events %" PRIu64
            ", dups %" PRIu64 ", missing %" PRIu64 ", p50 %.2f ms, p99 "
            "%.2f ms, %.1f s\n",
            c->t.ever_connected, c->nsubs, c->t.complete, events, dups, missing,
            (double)hist_pct(c->lat, 0.50) / ms,
            (double)hist_pct(c->lat, 0.99) / ms, dur);
}

/* ------------------------------------------------------------------ */
/* Self-test of the parsers                                            */
/* ------------------------------------------------------------------ */

/* The SSE body of the canned responses: a retry field, a comment, LF,
 * CRLF and CR line ends, "data:" without its space, an event whose data
 * spans two lines (CR and CRLF), an sselite gap event (not counted as
 * data), an unknown field. */
static const char selftest_sse[] =
    "retry: 3000\n\n: sselite stream\n\n"
    "id: 5\ndata: {\"seq\":1,\"t\":1}\n\n"
    "id: 6\r\ndata:{\"seq\":2,\"t\":1}\r\n\r\n"
    "id: 7\rdata: {\"seq\":3,\rdata: \"t\":1}\r\r"
    "event: sselite-gap\nid: 7\ndata: {\"reason\":\"pruned\"}\n\n"
    "id: 8\nunknown: field\ndata: {\"seq\":4,\"t\":1}\n\n"
    "id: 9\r\ndata: {\"seq\":5,\r\ndata: \"t\":1}\r\n\r\n"
    ": heartbeat\n\n";

struct selftest_case {
    const char *name;
    char *resp; /* owned */
    size_t len;
    uint64_t events, gap_events, http_errors;
    const char *last_id;
};

/* Builds the chunked variant: odd chunk sizes, an extension, a trailer. */
static char *selftest_chunked(size_t *len)
{
    static const size_t sizes[] = {7, 1, 30, 2, 64};
    const char *body = selftest_sse;
    size_t blen = sizeof selftest_sse - 1, off = 0, k = 0, cap = blen + 512;
    char *out = xcalloc(1, cap);
    int n = snprintf(out, cap,
                     "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                     "Transfer-Encoding: chunked\r\n\r\n");
    size_t o = (size_t)n;
    while (off < blen) {
        size_t cs = k < sizeof sizes / sizeof sizes[0] ? sizes[k] : 1000;
        if (cs > blen - off)
            cs = blen - off;
        o += (size_t)snprintf(out + o, cap - o,
                              k == 2 ? "%zx;ext=1\r\n" : "%zX\r\n", cs);
        memcpy(out + o, body + off, cs);
        o += cs;
        memcpy(out + o, "\r\n", 2);
        o += 2;
        off += cs;
        k++;
    }
    o += (size_t)snprintf(out + o, cap - o, "0\r\nX-Trailer: 1\r\n\r\n");
    *len = o;
    return out;
}

static char *selftest_plain(const char *head, size_t *len)
{
    size_t hl = strlen(head), bl = sizeof selftest_sse - 1;
    char *out = xcalloc(1, hl + bl + 1);
    memcpy(out, head, hl);
    memcpy(out + hl, selftest_sse, bl);
    *len = hl + bl;
    return out;
}

/* Feeds resp to a fresh one-subscriber client in pieces: split at one
 * position (step 0) or in pieces of step bytes. Returns 0 if the counts
 * match the case. */
static int selftest_run(const struct selftest_case *tc, size_t split,
                        size_t step)
{
    struct client *c = xcalloc(1, sizeof *c);
    struct sub *s;
    size_t off = 0;
    int ok;

    c->quiet = 1;
    c->nsubs = 1;
    c->ep = -1;
    c->subs = xcalloc(1, sizeof *c->subs);
    c->queue = xcalloc(1, sizeof *c->queue);
    c->lat = xcalloc(1, sizeof *c->lat);
    c->o.expect = 5;
    c->o.first = 5;
    c->o.id_mode = ID_SSELITE;
    s = &c->subs[0];
    s->fd = -1;
    s->first_key = 5;
    s->state = ST_HEADERS;
    while (off < tc->len && s->state != ST_IDLE) {
        size_t n = step ? step : (off < split ? split - off : tc->len - off);
        if (n > tc->len - off)
            n = tc->len - off;
        on_bytes(c, 0, tc->resp + off, n);
        off += n;
    }
    ok = s->events == tc->events && s->gap_events == tc->gap_events &&
         c->t.http_errors == tc->http_errors && s->unparsed == 0 &&
         s->dups == 0 && strcmp(s->last_id, tc->last_id) == 0 &&
         (tc->events == 0 || (s->complete && c->t.comments == 2));
    if (!ok)
        fprintf(stderr,
                "selftest %s (split %zu, step %zu): events %" PRIu64
                " gap %" PRIu64 " http_errors %" PRIu64 " unparsed %" PRIu64
                " last_id '%s' comments %" PRIu64 "\n",
                tc->name, split, step, s->events, s->gap_events,
                c->t.http_errors, s->unparsed, s->last_id, c->t.comments);
    conn_reset(s);
    bytes_free(&s->line);
    bytes_free(&s->data);
    free(s->bits);
    free(c->subs);
    free(c->queue);
    free(c->lat);
    free(c);
    return ok ? 0 : -1;
}

/* Runs every case split at every byte position and byte by byte. Prints
 * one line per case and returns the number of failures. */
static int selftest(void)
{
    struct selftest_case cases[4];
    size_t k, split;
    int failures = 0;

    err_logs = MAX_ERR_LOGS; /* the gap event and the 503 would log */
    memset(cases, 0, sizeof cases);
    cases[0].name = "chunked";
    cases[0].resp = selftest_chunked(&cases[0].len);
    cases[1].name = "until-eof";
    cases[1].resp = selftest_plain("HTTP/1.1 200 OK\r\nContent-Type: "
                                   "text/event-stream\r\n\r\n",
                                   &cases[1].len);
    cases[2].name = "content-length";
    {
        char head[160];
        snprintf(head, sizeof head,
                 "HTTP/1.0 200 OK\r\ncontent-length: %zu\r\n\r\n",
                 sizeof selftest_sse - 1);
        cases[2].resp = selftest_plain(head, &cases[2].len);
    }
    cases[3].name = "http-503";
    cases[3].resp = selftest_plain("HTTP/1.1 503 Service Unavailable\r\n"
                                   "Content-Length: 0\r\n\r\n",
                                   &cases[3].len);
    for (k = 0; k < 3; k++) {
        cases[k].events = 5;
        cases[k].gap_events = 1;
        cases[k].last_id = "9";
    }
    cases[3].http_errors = 1;
    cases[3].last_id = "";
    for (k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        int f = 0;
        for (split = 0; split <= cases[k].len; split++)
            f += selftest_run(&cases[k], split, 0) ? 1 : 0;
        f += selftest_run(&cases[k], 0, 1) ? 1 : 0;
        printf("%s - loadclient parser: %s response, split at all %zu "
               "positions and byte by byte\n",
               f ? "not ok" : "ok", cases[k].name, cases[k].len + 1);
        failures += f ? 1 : 0;
        free(cases[k].resp);
    }
    return failures;
}

/* ------------------------------------------------------------------ */
/* Main                                                                */
/* ------------------------------------------------------------------ */

static void usage(FILE *f)
{
    fputs(
        "usage: loadclient --port P [options]\n"
        "  --host ADDR            IPv4 address (127.0.0.1)\n"
        "  --port P               TCP port (required)\n"
        "  --path PATH            request target (/events?channel=bench)\n"
        "  --subscribers N        connections to open (1)\n"
        "  --connect-rate R       connects per second, 0 = no limit (0)\n"
        "  --duration S           hard stop after S seconds (60)\n"
        "  --hold S               stop S seconds after all are connected\n"
        "  --ready-timeout S      count as ready after S s even if not all\n"
        "                         are connected (0 = wait for all)\n"
        "  --expect-events N      stop when every subscriber has N events\n"
        "  --first K              key of the first expected event\n"
        "                         (sselite: Last-Event-ID + 1; nchan: 1)\n"
        "  --last-event-id ID     send Last-Event-ID on the first connect\n"
        "  --drop-at K            close once after the K-th event, then\n"
        "                         reconnect with Last-Event-ID\n"
        "  --id-mode sselite|nchan  key events by integer id or by data seq\n"
        "  --reconnect            reconnect after EOF or errors\n"
        "  --reconnect-delay-ms M delay before a reconnect (100)\n"
        "  --ready-file PATH      written once every subscriber is set up\n"
        "  --stats-pids PID,...   sample CPU/RSS of these and descendants\n"
        "  --stats-interval-ms M  sampling period (250)\n"
        "  --label TEXT           copied into the report\n"
        "  --report json          output format (json, the only one)\n"
        "       loadclient --selftest  checks the parsers, prints ok/not ok\n",
        f);
}

static void parse_pids(struct opts *o, const char *arg)
{
    const char *p = arg;
    while (*p) {
        char tmp[32];
        size_t k = strcspn(p, ",");
        if (k == 0 || k >= sizeof tmp || o->nstats_pids >= MAX_STATS_PIDS)
            die("--stats-pids: bad list '%s'", arg);
        memcpy(tmp, p, k);
        tmp[k] = '\0';
        o->stats_pids[o->nstats_pids++] =
            (pid_t)parse_ll("stats-pids", tmp, 1, 4194304);
        p += k;
        if (*p == ',')
            p++;
    }
}

static void parse_opts(struct opts *o, int argc, char **argv)
{
    enum {
        OPT_HOST = 256,
        OPT_PORT,
        OPT_PATH,
        OPT_SUBS,
        OPT_RATE,
        OPT_DUR,
        OPT_HOLD,
        OPT_EXP,
        OPT_RTIMEOUT,
        OPT_FIRST,
        OPT_LEID,
        OPT_DROP,
        OPT_IDMODE,
        OPT_RECONN,
        OPT_RDELAY,
        OPT_READY,
        OPT_PIDS,
        OPT_SINT,
        OPT_LABEL,
        OPT_REPORT,
        OPT_HELP
    };
    static const struct option lo[] = {
        {"host", required_argument, NULL, OPT_HOST},
        {"port", required_argument, NULL, OPT_PORT},
        {"path", required_argument, NULL, OPT_PATH},
        {"subscribers", required_argument, NULL, OPT_SUBS},
        {"connect-rate", required_argument, NULL, OPT_RATE},
        {"duration", required_argument, NULL, OPT_DUR},
        {"hold", required_argument, NULL, OPT_HOLD},
        {"ready-timeout", required_argument, NULL, OPT_RTIMEOUT},
        {"expect-events", required_argument, NULL, OPT_EXP},
        {"first", required_argument, NULL, OPT_FIRST},
        {"last-event-id", required_argument, NULL, OPT_LEID},
        {"drop-at", required_argument, NULL, OPT_DROP},
        {"id-mode", required_argument, NULL, OPT_IDMODE},
        {"reconnect", no_argument, NULL, OPT_RECONN},
        {"reconnect-delay-ms", required_argument, NULL, OPT_RDELAY},
        {"ready-file", required_argument, NULL, OPT_READY},
        {"stats-pids", required_argument, NULL, OPT_PIDS},
        {"stats-interval-ms", required_argument, NULL, OPT_SINT},
        {"label", required_argument, NULL, OPT_LABEL},
        {"report", required_argument, NULL, OPT_REPORT},
        {"help", no_argument, NULL, OPT_HELP},
        {NULL, 0, NULL, 0}};
    int ch, have_first = 0;

    memset(o, 0, sizeof *o);
    o->host = "127.0.0.1";
    o->path = "/events?channel=bench";
    o->subscribers = 1;
    o->duration_s = 60;
    o->first = -1;
    o->reconnect_delay_ms = 100;
    o->stats_interval_ms = 250;
    o->json = 1;
    while ((ch = getopt_long(argc, argv, "", lo, NULL)) != -1) {
        switch (ch) {
        case OPT_HOST:
            o->host = optarg;
            break;
        case OPT_PORT:
            o->port = (int)parse_ll("port", optarg, 1, 65535);
            break;
        case OPT_PATH:
            o->path = optarg;
            break;
        case OPT_SUBS:
            o->subscribers = (int)parse_ll("subscribers", optarg, 1, 1000000);
            break;
        case OPT_RATE:
            o->connect_rate = parse_double("connect-rate", optarg, 0, 1e7);
            break;
        case OPT_DUR:
            o->duration_s = parse_double("duration", optarg, 0.1, 1e6);
            break;
        case OPT_HOLD:
            o->hold_s = parse_double("hold", optarg, 0, 1e6);
            break;
        case OPT_RTIMEOUT:
            o->ready_timeout_s = parse_double("ready-timeout", optarg, 0, 1e6);
            break;
        case OPT_EXP:
            o->expect = parse_ll("expect-events", optarg, 0, 1LL << 32);
            break;
        case OPT_FIRST:
            o->first = parse_ll("first", optarg, 0, INT64_MAX);
            have_first = 1;
            break;
        case OPT_LEID:
            if (strlen(optarg) >= ID_MAX)
                die("--last-event-id: longer than %d bytes", ID_MAX - 1);
            o->last_event_id = optarg;
            break;
        case OPT_DROP:
            o->drop_at = parse_ll("drop-at", optarg, 0, 1LL << 32);
            break;
        case OPT_IDMODE:
            if (strcmp(optarg, "sselite") == 0)
                o->id_mode = ID_SSELITE;
            else if (strcmp(optarg, "nchan") == 0)
                o->id_mode = ID_NCHAN;
            else
                die("--id-mode: '%s' is not sselite or nchan", optarg);
            break;
        case OPT_RECONN:
            o->reconnect = 1;
            break;
        case OPT_RDELAY:
            o->reconnect_delay_ms =
                (int)parse_ll("reconnect-delay-ms", optarg, 0, 600000);
            break;
        case OPT_READY:
            o->ready_file = optarg;
            break;
        case OPT_PIDS:
            parse_pids(o, optarg);
            break;
        case OPT_SINT:
            o->stats_interval_ms =
                (int)parse_ll("stats-interval-ms", optarg, 10, 60000);
            break;
        case OPT_LABEL:
            o->label = optarg;
            break;
        case OPT_REPORT:
            if (strcmp(optarg, "json") != 0)
                die("--report: only 'json' is supported");
            break;
        case OPT_HELP:
            usage(stdout);
            exit(0);
        default:
            usage(stderr);
            exit(2);
        }
    }
    if (optind < argc)
        die("unexpected argument '%s'", argv[optind]);
    if (!o->port)
        die("--port is required");
    if (!have_first && o->expect > 0) {
        int64_t lid;
        if (o->id_mode == ID_NCHAN)
            o->first = 1;
        else if (o->last_event_id && parse_id(o->last_event_id, &lid) == 0)
            o->first = lid + 1;
    }
}

/* Raises the open-file limit to the hard limit: one descriptor per
 * subscriber plus a few. */
static void raise_nofile(int need)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
            logerr("setrlimit(NOFILE): %s", strerror(errno));
        if (rl.rlim_cur != RLIM_INFINITY && (rlim_t)need + 16 > rl.rlim_cur)
            fprintf(stderr,
                    "loadclient: warning: %d subscribers but only %llu open "
                    "files allowed\n",
                    need, (unsigned long long)rl.rlim_cur);
    }
}

int main(int argc, char **argv)
{
    struct client *c = xcalloc(1, sizeof *c);
    struct sigaction sa;
    int i;

    if (argc == 2 && strcmp(argv[1], "--selftest") == 0) {
        free(c);
        return selftest() ? 1 : 0;
    }
    parse_opts(&c->o, argc, argv);
    raise_nofile(c->o.subscribers);
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    c->addr.sin_family = AF_INET;
    c->addr.sin_port = htons((uint16_t)c->o.port);
    if (inet_pton(AF_INET, c->o.host, &c->addr.sin_addr) != 1)
        die("--host: '%s' is not an IPv4 address", c->o.host);
    c->nsubs = c->o.subscribers;
    c->subs = xcalloc((size_t)c->nsubs, sizeof *c->subs);
    c->queue = xcalloc((size_t)c->nsubs, sizeof *c->queue);
    c->lat = xcalloc(1, sizeof *c->lat);
    c->rbuf = xcalloc(1, READ_BUF_SIZE);
    for (i = 0; i < c->nsubs; i++) {
        struct sub *s = &c->subs[i];
        s->fd = -1;
        s->first_key = c->o.first;
        if (c->o.last_event_id)
            snprintf(s->last_id, sizeof s->last_id, "%s", c->o.last_event_id);
    }
    c->ep = epoll_create1(EPOLL_CLOEXEC);
    if (c->ep < 0)
        die("epoll_create1: %s", strerror(errno));
    if (c->o.nstats_pids > 0) {
        c->st.enabled = 1;
        c->st.ticks_per_s = sysconf(_SC_CLK_TCK);
        c->st.page_kb = sysconf(_SC_PAGESIZE) / 1024;
        c->st.rss_start_kb = stats_sample(&c->st, &c->o, &c->st.pss_start_kb);
        c->st.rss_peak_kb = c->st.rss_start_kb;
    }
    c->start_ns = mono_ns();
    run(c);
    report(c);
    for (i = 0; i < c->nsubs; i++) {
        if (c->subs[i].fd >= 0)
            close(c->subs[i].fd);
        conn_reset(&c->subs[i]);
        bytes_free(&c->subs[i].line);
        bytes_free(&c->subs[i].data);
        free(c->subs[i].bits);
        free(c->subs[i].idhash);
    }
    free(c->subs);
    free(c->queue);
    free(c->lat);
    free(c->rbuf);
    close(c->ep);
    free(c);
    return 0;
}
