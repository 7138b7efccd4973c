/* fcgi_conn.c - a FastCGI connection written without libfcgi.
 * SPDX-License-Identifier: MIT
 */
#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "fcgi_conn.h"
#include "fcgi_record.h"
#include "sse_error.h"

/* Records framed per send call, and iovecs for their content. */
#define RECORDS_PER_SEND 4
#define IOV_PER_SEND 128
/* Bytes read and dropped from the web server before closing. */
#define DRAIN_MAX 65536

struct fcgi_conn {
    int fd;
    int request_id;
    /* The header of an empty stdout record for request_id: a new record's
     * header is this with its length set. */
    unsigned char stdout_hdr[SSE_FCGI_HEADER_LEN];
    struct msghdr msg; /* for the common case; zeroed but for the iovecs */
    /* The record in progress: its header, how much of that was sent, and
     * the content bytes it still needs (hdr_sent == 0: none started). */
    unsigned char hdr[SSE_FCGI_HEADER_LEN];
    size_t hdr_sent;
    size_t owed;
    unsigned char end[SSE_FCGI_END_LEN];
    size_t end_sent;
};

/* One piece of what a sendmsg carries: a record header or content. */
struct piece {
    int record; /* index into the call's records */
    int is_header;
    size_t len;
};

struct plan {
    struct iovec iov[IOV_PER_SEND];
    struct piece piece[IOV_PER_SEND];
    int n;
    unsigned char hdrs[RECORDS_PER_SEND][SSE_FCGI_HEADER_LEN];
    size_t reclen[RECORDS_PER_SEND];
    int nrec;
};

static int add(struct plan *p, int record, int is_header, const void *base,
               size_t len)
{
    if (p->n == IOV_PER_SEND)
        return 0;
    p->iov[p->n].iov_base = (void *)base;
    p->iov[p->n].iov_len = len;
    p->piece[p->n] = (struct piece){record, is_header, len};
    p->n++;
    return 1;
}

/* Adds the content of one record: up to want bytes of iov from (*i, *off)
 * on. Returns 0 when the plan ran out of iovecs. */
static int add_content(struct plan *p, int record, const struct iovec *iov,
                       int niov, int *i, size_t *off, size_t want)
{
    while (want > 0 && *i < niov) {
        size_t len = iov[*i].iov_len - *off;
        if (len > want)
            len = want;
        if (len &&
            !add(p, record, 0, (const char *)iov[*i].iov_base + *off, len))
            return 0;
        want -= len;
        *off += len;
        if (*off == iov[*i].iov_len) {
            (*i)++;
            *off = 0;
        }
    }
    return 1;
}

/* Makes hdr the header of a stdout record of len bytes (the length is
 * the only field that varies on a connection). */
static void record_header(const struct fcgi_conn *c, unsigned char *hdr,
                          size_t len)
{
    assert(len <= SSE_FCGI_RECORD_MAX);
    memcpy(hdr, c->stdout_hdr, SSE_FCGI_HEADER_LEN);
    hdr[4] = (unsigned char)((len >> 8) & 0xff);
    hdr[5] = (unsigned char)(len & 0xff);
}

/* Lays out the record in progress (record 0, if any) and new records for
 * the bytes offered. */
static void plan_send(const struct fcgi_conn *c, const struct iovec *iov,
                      int niov, size_t total, struct plan *p)
{
    int i = 0;
    size_t off = 0, left = total;
    p->n = 0;
    p->nrec = 0;
    if (c->hdr_sent) {
        /* The bytes the started record needs come first; the caller offers
         * them again (see sink.h). */
        assert(total >= c->owed);
        memcpy(p->hdrs[0], c->hdr, sizeof c->hdr);
        p->reclen[0] = c->owed;
        p->nrec = 1;
        if (c->hdr_sent < SSE_FCGI_HEADER_LEN)
            add(p, 0, 1, c->hdr + c->hdr_sent,
                SSE_FCGI_HEADER_LEN - c->hdr_sent);
        if (!add_content(p, 0, iov, niov, &i, &off, c->owed))
            return;
        left -= c->owed;
    }
    while (left > 0 && p->nrec < RECORDS_PER_SEND) {
        int r = p->nrec++;
        size_t len = left < SSE_FCGI_RECORD_MAX ? left : SSE_FCGI_RECORD_MAX;
        record_header(c, p->hdrs[r], len);
        p->reclen[r] = len;
        if (!add(p, r, 1, p->hdrs[r], SSE_FCGI_HEADER_LEN) ||
            !add_content(p, r, iov, niov, &i, &off, len))
            return;
        left -= len;
    }
}

/* Updates the record state for sent bytes of plan p; returns the content
 * bytes taken. */
static size_t account(struct fcgi_conn *c, const struct plan *p, size_t sent)
{
    size_t taken = 0;
    int cur = -1; /* the record whose pieces are being counted */
    for (int k = 0; k < p->n && sent > 0; k++) {
        const struct piece *pc = &p->piece[k];
        size_t got = sent < pc->len ? sent : pc->len;
        sent -= got;
        if (pc->record != cur) {
            cur = pc->record;
            if (!(cur == 0 && c->hdr_sent)) {
                /* A new record starts with its header. */
                assert(pc->is_header);
                memcpy(c->hdr, p->hdrs[cur], sizeof c->hdr);
                c->hdr_sent = 0;
                c->owed = p->reclen[cur];
            }
        }
        if (pc->is_header) {
            c->hdr_sent += got;
        } else {
            taken += got;
            c->owed -= got;
        }
        if (c->hdr_sent == SSE_FCGI_HEADER_LEN && c->owed == 0)
            c->hdr_sent = 0; /* the record is complete */
    }
    return taken;
}

/* sendmsg(2) without libc's wrapper. sendmsg is a thread-cancellation
 * point, so glibc brackets the system call with enabling and disabling
 * asynchronous cancellation: more user-space work than the rest of a
 * record's framing, once per record per stream. No thread of the worker
 * is ever cancelled, so the bare system call does the same. */
static ssize_t send_msg(int fd, const struct msghdr *msg)
{
    return (ssize_t)syscall(SYS_sendmsg, fd, msg, MSG_DONTWAIT | MSG_NOSIGNAL);
}

/* What a failed sendmsg means: 0 (the socket is full: nothing taken) or
 * SSE_EIO. */
static int send_error(void)
{
    return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? 0
                                                                     : SSE_EIO;
}

/* conn_send's general case: a record in progress, or more than one. */
static int send_planned(struct fcgi_conn *c, const struct iovec *iov, int niov,
                        size_t total, size_t *taken)
{
    struct plan p;
    plan_send(c, iov, niov, total, &p);
    struct msghdr msg = {.msg_iov = p.iov, .msg_iovlen = (size_t)p.n};
    ssize_t sent = send_msg(c->fd, &msg);
    if (sent < 0)
        return send_error();
    *taken = account(c, &p, (size_t)sent);
    return 0;
}

static int conn_send(void *ctx, struct iovec *iov, int niov, size_t total,
                     size_t *taken)
{
    struct fcgi_conn *c = ctx;
    unsigned char hdr[SSE_FCGI_HEADER_LEN];
    *taken = 0;
    if (total == 0)
        return 0;
    if (c->hdr_sent == 0 && total <= SSE_FCGI_RECORD_MAX) {
        /* The common case, one whole record from nothing in progress:
         * its header goes in the caller's spare iov[0]. */
        record_header(c, hdr, total);
        iov[0].iov_base = hdr;
        iov[0].iov_len = sizeof hdr;
        c->msg.msg_iov = iov;
        c->msg.msg_iovlen = (size_t)niov + 1;
        ssize_t sent = send_msg(c->fd, &c->msg);
        if (sent < 0)
            return send_error();
        if ((size_t)sent == total + sizeof hdr) {
            *taken = total;
            return 0;
        }
        /* Part of it: the record is started; remember it as the general
         * path would have. */
        memcpy(c->hdr, hdr, sizeof hdr);
        size_t h = (size_t)sent < sizeof hdr ? (size_t)sent : sizeof hdr;
        c->hdr_sent = h;
        c->owed = total - ((size_t)sent - h);
        *taken = (size_t)sent - h;
        if (c->hdr_sent == 0) /* nothing at all was sent */
            c->owed = 0;
        return 0;
    }
    return send_planned(c, iov + 1, niov, total, taken);
}

static int conn_finish(void *ctx)
{
    struct fcgi_conn *c = ctx;
    assert(c->hdr_sent == 0); /* no record left half sent */
    if (c->end_sent == 0)
        sse_fcgi_end_records(c->end, c->request_id);
    while (c->end_sent < sizeof c->end) {
        ssize_t w =
            send(c->fd, c->end + c->end_sent, sizeof c->end - c->end_sent,
                 MSG_DONTWAIT | MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return errno == EAGAIN || errno == EWOULDBLOCK ? SSE_EAGAIN
                                                           : SSE_EIO;
        c->end_sent += (size_t)w;
    }
    return 0;
}

static void conn_close(void *ctx)
{
    struct fcgi_conn *c = ctx;
    /* What the web server sent and nobody read would make the kernel reset
     * the connection (TCP), which can cost the web server the end of the
     * response; libfcgi drains too (OS_Close), but waits, which we must
     * not. */
    char buf[4096];
    for (size_t n = 0; n < DRAIN_MAX;) {
        ssize_t r = recv(c->fd, buf, sizeof buf, MSG_DONTWAIT);
        if (r <= 0)
            break;
        n += (size_t)r;
    }
    shutdown(c->fd, SHUT_WR);
    close(c->fd);
    free(c);
}

static const struct sse_conn_ops FCGI_CONN_OPS = {
    .send = conn_send, .finish = conn_finish, .close = conn_close};

int sse_fcgi_conn_new(int fd, int request_id, struct sse_conn *out)
{
    struct fcgi_conn *c = calloc(1, sizeof *c);
    if (!c)
        return SSE_ENOMEM;
    c->fd = fd;
    c->request_id = request_id;
    sse_fcgi_stdout_header(c->stdout_hdr, request_id, 0);
    out->ops = &FCGI_CONN_OPS;
    out->ctx = c;
    out->fd = fd;
    return 0;
}
