/* guard.c - cut FastCGI connections that are too slow to deliver a request.
 * SPDX-License-Identifier: MIT
 */
#include <assert.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "guard.h"
#include "sse_error.h"

int sse_guard_init(struct sse_guard *g)
{
    g->fd = -1;
    g->deadline_ns = 0;
    g->fired = 0;
    return pthread_mutex_init(&g->mu, NULL) == 0 ? 0 : SSE_ENOMEM;
}

void sse_guard_cleanup(struct sse_guard *g)
{
    if (!g)
        return;
    sse_guard_disarm(g);
    pthread_mutex_destroy(&g->mu);
}

int sse_guard_arm(struct sse_guard *g, int fd, int64_t deadline_ns)
{
    int copy = fcntl(fd, F_DUPFD_CLOEXEC, 0);
    if (copy < 0)
        return SSE_EIO;
    pthread_mutex_lock(&g->mu);
    assert(g->fd < 0 && !g->fired);
    g->fd = copy;
    g->deadline_ns = deadline_ns;
    pthread_mutex_unlock(&g->mu);
    return 0;
}

int sse_guard_disarm(struct sse_guard *g)
{
    pthread_mutex_lock(&g->mu);
    int fd = g->fd, fired = g->fired;
    g->fd = -1;
    g->fired = 0;
    pthread_mutex_unlock(&g->mu);
    if (fd >= 0)
        close(fd);
    return fired;
}

int64_t sse_guards_check(struct sse_guard *guards, size_t n, int64_t now_ns)
{
    int64_t next = INT64_MAX;
    for (size_t i = 0; i < n; i++) {
        struct sse_guard *g = &guards[i];
        pthread_mutex_lock(&g->mu);
        if (g->fd >= 0 && !g->fired) {
            if (g->deadline_ns <= now_ns) {
                /* Both directions: a read blocked in libfcgi returns end of
                 * file, and nothing is written to a peer we dropped. */
                shutdown(g->fd, SHUT_RDWR);
                g->fired = 1;
            } else if (g->deadline_ns < next) {
                next = g->deadline_ns;
            }
        }
        pthread_mutex_unlock(&g->mu);
    }
    return next;
}
