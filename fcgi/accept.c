/* accept.c - take the next FastCGI connection for a serving thread.
 * SPDX-License-Identifier: MIT
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "accept.h"
#include "clock.h"
#include "listen.h"
#include "logging.h"

#define BACKOFF_MIN_NS (10 * 1000 * 1000LL)
#define BACKOFF_MAX_NS (1000 * 1000 * 1000LL)
#define LOG_INTERVAL_NS (10 * 1000 * 1000 * 1000LL)

void sse_acceptor_init(struct sse_acceptor *a, int listen_fd,
                       const struct sse_config *cfg, int threads)
{
    a->listen_fd = listen_fd;
    a->cfg = cfg;
    a->threads = threads;
    atomic_init(&a->failing, 0);
    atomic_init(&a->reported, 0);
    /* So that the first line of each kind is written at once. */
    atomic_init(&a->fail_logged_ns, sse_now_ns() - LOG_INTERVAL_NS);
    atomic_init(&a->refuse_logged_ns, sse_now_ns() - LOG_INTERVAL_NS);
}

/* Returns 1 for the one caller that may write a line now, at most once per
 * LOG_INTERVAL_NS for *last: a flood of errors or refused peers must not
 * flood the log. */
static int may_log(atomic_llong *last)
{
    long long now = sse_now_ns();
    long long prev = atomic_load(last);
    return now - prev >= LOG_INTERVAL_NS &&
           atomic_compare_exchange_strong(last, &prev, now);
}

/* Errors that concern one pending connection (Linux passes a connection's
 * network error on to accept, see accept(2)), not the listening socket or
 * the process: take the next connection at once. */
static int is_connection_error(int err)
{
    switch (err) {
    case ECONNABORTED:
    case ECONNRESET:
    case EPROTO:
    case ETIMEDOUT:
    case ENETDOWN:
    case ENETUNREACH:
    case EHOSTDOWN:
    case EHOSTUNREACH:
    case ENONET:
    case ENOPROTOOPT:
    case EOPNOTSUPP:
    case EINTR:
        return 1;
    default:
        return 0;
    }
}

static void sleep_ns(long long ns)
{
    struct timespec ts = {(time_t)(ns / 1000000000LL),
                          (long)(ns % 1000000000LL)};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

/* Backs off after an error that may last (EMFILE, ENFILE, ENOBUFS, a broken
 * listening socket): the thread keeps its place and retries for ever. */
static void back_off(struct sse_acceptor *a, int err, long long *delay_ns,
                     int *failing)
{
    if (!*failing) {
        *failing = 1;
        atomic_fetch_add(&a->failing, 1);
    }
    if (may_log(&a->fail_logged_ns)) {
        atomic_store(&a->reported, 1);
        sse_log(SSE_LOG_ERROR,
                "accept failed: %s; %d of %d threads cannot take new "
                "connections and retry every %lld ms at most (capacity "
                "reduced)%s",
                strerror(err), atomic_load(&a->failing), a->threads,
                BACKOFF_MAX_NS / 1000000,
                err == EMFILE ? "; raise the descriptor limit (ulimit -n, "
                                "LimitNOFILE=) or lower threads"
                              : "");
    }
    sleep_ns(*delay_ns);
    *delay_ns = *delay_ns * 2 > BACKOFF_MAX_NS ? BACKOFF_MAX_NS : *delay_ns * 2;
}

static void recovered(struct sse_acceptor *a)
{
    if (atomic_fetch_sub(&a->failing, 1) == 1 &&
        atomic_exchange(&a->reported, 0))
        sse_log(SSE_LOG_INFO,
                "accepting connections again: every thread takes requests");
}

static void refused(struct sse_acceptor *a, const char *peer)
{
    if (may_log(&a->refuse_logged_ns))
        sse_log(SSE_LOG_WARN,
                "refused a FastCGI connection from %s: not in "
                "web-server-addrs (further refusals unlogged for %lld s)",
                peer, LOG_INTERVAL_NS / 1000000000LL);
}

int sse_acceptor_next(struct sse_acceptor *a, int (*stopping)(void *ctx),
                      void *ctx, char *peer, size_t cap)
{
    long long delay_ns = BACKOFF_MIN_NS;
    int failing = 0;
    for (;;) {
        struct sockaddr_storage ss;
        socklen_t len = sizeof ss;
        int fd =
            accept4(a->listen_fd, (struct sockaddr *)&ss, &len, SOCK_CLOEXEC);
        if (fd < 0) {
            int err = errno;
            if (stopping(ctx))
                return -1;
            if (err == EAGAIN || err == EWOULDBLOCK) {
                /* An inherited listening socket may be non-blocking. */
                struct pollfd p = {.fd = a->listen_fd, .events = POLLIN};
                poll(&p, 1, -1);
            } else if (!is_connection_error(err)) {
                back_off(a, err, &delay_ns, &failing);
            }
            continue;
        }
        if (failing) {
            failing = 0;
            delay_ns = BACKOFF_MIN_NS;
            recovered(a);
        }
        sse_listen_format_addr((struct sockaddr *)&ss, len, peer, cap);
        if (!sse_config_peer_allowed(a->cfg, (struct sockaddr *)&ss)) {
            refused(a, peer);
            close(fd);
            continue;
        }
        if (ss.ss_family == AF_INET || ss.ss_family == AF_INET6) {
            int one = 1;
            setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        }
        return fd;
    }
}
