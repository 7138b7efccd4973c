/* check_fcgi_conn.c - unit tests for fcgi/fcgi_conn.c (a FastCGI connection
 * written without libfcgi) and fcgi/fcgi_record.c.
 * SPDX-License-Identifier: MIT
 *
 * The connection is one end of a socketpair with a small send buffer, so
 * sends stop part way through records and headers; the test offers bytes
 * as the event loop does (from where the last send stopped) and reads the
 * other end with a record parser written from the FastCGI specification,
 * checking every header, the request id and that the content is the bytes
 * offered, exactly once and in order.
 */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fcgi_conn.h"
#include "fcgi_record.h"
#include "sse_error.h"
#include "testutil.h"

/* Reads every byte the peer can get now (non-blocking) into buf. */
static void drain(int fd, struct sse_buf *buf)
{
    char tmp[65536];
    for (;;) {
        ssize_t r = recv(fd, tmp, sizeof tmp, MSG_DONTWAIT);
        if (r <= 0)
            return;
        ck_assert_int_eq(sse_buf_append(buf, tmp, (size_t)r), 0);
    }
}

/* Parses records from raw[0..len): appends stdout content to out, and
 * counts empty stdout records and END_REQUEST records. Fails on anything
 * malformed. */
static void parse_records(const unsigned char *raw, size_t len, int request_id,
                          struct sse_buf *out, int *stdout_ends, int *ends)
{
    size_t at = 0;
    *stdout_ends = *ends = 0;
    while (at < len) {
        ck_assert_uint_ge(len - at, 8);
        const unsigned char *h = raw + at;
        ck_assert_int_eq(h[0], 1);
        ck_assert_int_eq((h[2] << 8) | h[3], request_id);
        size_t clen = ((size_t)h[4] << 8) | h[5];
        ck_assert_uint_ge(len - at - 8, clen + h[6]);
        if (h[1] == 6) {
            ck_assert_int_eq(*ends, 0);
            ck_assert_int_eq(*stdout_ends, 0);
            if (clen == 0)
                (*stdout_ends)++;
            else
                sse_buf_append(out, h + 8, clen);
        } else {
            ck_assert_int_eq(h[1], 3); /* FCGI_END_REQUEST */
            ck_assert_uint_eq(clen, 8);
            ck_assert_int_eq(h[8 + 4], 0); /* request complete */
            (*ends)++;
        }
        at += 8 + clen + h[6];
    }
}

START_TEST(test_fcgi_end_records_layout)
{
    unsigned char end[SSE_FCGI_END_LEN];
    sse_fcgi_end_records(end, 0x1234);
    static const unsigned char want[] = {1, 6, 0x12, 0x34, 0, 0, 0, 0,
                                         1, 3, 0x12, 0x34, 0, 8, 0, 0,
                                         0, 0, 0,    0,    0, 0, 0, 0};
    ck_assert_uint_eq(sizeof end, sizeof want);
    ck_assert(memcmp(end, want, sizeof want) == 0);
}
END_TEST

START_TEST(test_fcgi_conn_partial_sends_frame_exactly)
{
    struct tu_rng g;
    tu_rng_init(&g, "test_fcgi_conn_partial_sends_frame_exactly");
    int sv[2];
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    int small = 4096;
    setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
    struct sse_conn c;
    ck_assert_int_eq(sse_fcgi_conn_new(sv[0], 77, &c), 0);
    /* 300 kB in pieces of random size: records of 64 KiB and less. */
    size_t total = 300000;
    char *data = malloc(total);
    for (size_t i = 0; i < total; i++)
        data[i] = (char)tu_rng_below(&g, 256);
    /* Cut once, like a queue's chunks: each send offers the (rest of the)
     * piece where the last one stopped and up to 3 more, so it offers at
     * least the rest of what the last one offered, as sink.h requires of
     * a caller after a partial send. */
    size_t cuts[400], ncuts = 0;
    for (size_t at = 0; at < total; ncuts++) {
        size_t len = 1 + (size_t)tu_rng_below(&g, 90000);
        at = len > total - at ? total : at + len;
        ck_assert_uint_lt(ncuts, 400);
        cuts[ncuts] = at; /* piece ncuts ends here */
    }
    struct sse_buf raw, content;
    sse_buf_init(&raw, 0);
    sse_buf_init(&content, 0);
    size_t off = 0, piece = 0;
    int stalls = 0;
    for (int round = 0; off < total && round < 100000; round++) {
        /* Offer up to 4 iovecs from where the last send stopped, after
         * the transport's spare iov[0]. */
        struct iovec iov[5];
        int n = 0;
        size_t at = off;
        while (cuts[piece] <= off)
            piece++;
        for (size_t k = piece; n < 4 && k < ncuts; k++) {
            iov[n + 1].iov_base = data + at;
            iov[n + 1].iov_len = cuts[k] - at;
            at = cuts[k];
            n++;
        }
        struct iovec offered[5];
        memcpy(offered, iov, sizeof iov);
        size_t taken = 0;
        ck_assert_int_eq(c.ops->send(c.ctx, iov, n, at - off, &taken), 0);
        /* The caller's iovecs are left as they were. */
        ck_assert(memcmp(offered + 1, iov + 1, (size_t)n * sizeof *iov) == 0);
        if (taken < at - off)
            stalls++;
        off += taken;
        drain(sv[1], &raw);
    }
    ck_assert_uint_eq(off, total);
    ck_assert_int_gt(stalls, 0); /* the small buffer did stop sends */
    int rc;
    for (int i = 0; i < 1000 && (rc = c.ops->finish(c.ctx)) == SSE_EAGAIN; i++)
        drain(sv[1], &raw);
    ck_assert_int_eq(rc, 0);
    drain(sv[1], &raw);
    int stdout_ends, ends;
    parse_records((const unsigned char *)raw.data, raw.len, 77, &content,
                  &stdout_ends, &ends);
    ck_assert_uint_eq(content.len, total);
    ck_assert(memcmp(content.data, data, total) == 0);
    ck_assert_int_eq(stdout_ends, 1);
    ck_assert_int_eq(ends, 1);
    c.ops->close(c.ctx);
    close(sv[1]);
    sse_buf_cleanup(&raw);
    sse_buf_cleanup(&content);
    free(data);
}
END_TEST

START_TEST(test_fcgi_conn_full_socket_takes_nothing)
{
    int sv[2];
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    char junk[4096];
    memset(junk, 'x', sizeof junk);
    while (send(sv[0], junk, sizeof junk, MSG_DONTWAIT) > 0)
        ;
    struct sse_conn c;
    ck_assert_int_eq(sse_fcgi_conn_new(sv[0], 1, &c), 0);
    struct iovec iov[2] = {{0}, {.iov_base = junk, .iov_len = 100}};
    size_t taken = 99;
    ck_assert_int_eq(c.ops->send(c.ctx, iov, 1, 100, &taken), 0);
    ck_assert_uint_eq(taken, 0);
    ck_assert_int_eq(c.ops->finish(c.ctx), SSE_EAGAIN);
    c.ops->close(c.ctx);
    close(sv[1]);
}
END_TEST

START_TEST(test_fcgi_conn_peer_gone_is_eio)
{
    int sv[2];
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    close(sv[1]);
    struct sse_conn c;
    ck_assert_int_eq(sse_fcgi_conn_new(sv[0], 1, &c), 0);
    struct iovec iov[2] = {{0}, {.iov_base = "data", .iov_len = 4}};
    size_t taken = 0;
    ck_assert_int_eq(c.ops->send(c.ctx, iov, 1, 4, &taken), SSE_EIO);
    ck_assert_int_eq(c.ops->finish(c.ctx), SSE_EIO);
    c.ops->close(c.ctx);
}
END_TEST

static Suite *fcgi_conn_suite(void)
{
    Suite *s = suite_create("fcgi_conn");
    TCase *tc = tcase_create("fcgi_conn");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_fcgi_end_records_layout);
    tcase_add_test(tc, test_fcgi_conn_partial_sends_frame_exactly);
    tcase_add_test(tc, test_fcgi_conn_full_socket_takes_nothing);
    tcase_add_test(tc, test_fcgi_conn_peer_gone_is_eio);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run_suite(fcgi_conn_suite());
}
