/* fcgi_record.c - the FastCGI records the worker writes itself.
 * SPDX-License-Identifier: MIT
 */
#include <assert.h>
#include <string.h>

#include "fcgi_record.h"

#define FCGI_VERSION_1 1
#define FCGI_STDOUT 6

void sse_fcgi_stdout_header(unsigned char hdr[SSE_FCGI_HEADER_LEN],
                            int request_id, size_t len)
{
    assert(len <= SSE_FCGI_RECORD_MAX && request_id >= 0 &&
           request_id <= 0xffff);
    hdr[0] = FCGI_VERSION_1;
    hdr[1] = FCGI_STDOUT;
    hdr[2] = (unsigned char)((request_id >> 8) & 0xff);
    hdr[3] = (unsigned char)(request_id & 0xff);
    hdr[4] = (unsigned char)((len >> 8) & 0xff);
    hdr[5] = (unsigned char)(len & 0xff);
    hdr[6] = 0; /* no padding */
    hdr[7] = 0;
}

size_t sse_fcgi_iov_rest(const struct iovec *iov, int niov, size_t skip,
                         char *out)
{
    size_t off = 0;
    for (int i = 0; i < niov; i++) {
        size_t len = iov[i].iov_len;
        if (skip >= len) {
            skip -= len;
            continue;
        }
        memcpy(out + off, (const char *)iov[i].iov_base + skip, len - skip);
        off += len - skip;
        skip = 0;
    }
    return off;
}
