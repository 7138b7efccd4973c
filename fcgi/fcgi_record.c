/* fcgi_record.c - the FastCGI records the worker writes itself.
 * SPDX-License-Identifier: MIT
 */
#include <assert.h>
#include <string.h>

#include "fcgi_record.h"

/* From the FastCGI specification (fastcgi.h). */
#define FCGI_VERSION_1 1
#define FCGI_END_REQUEST 3
#define FCGI_STDOUT 6
#define FCGI_REQUEST_COMPLETE 0

static void header(unsigned char *h, int type, int request_id, size_t len)
{
    assert(len <= SSE_FCGI_RECORD_MAX && request_id >= 0 &&
           request_id <= 0xffff);
    h[0] = FCGI_VERSION_1;
    h[1] = (unsigned char)type;
    h[2] = (unsigned char)((request_id >> 8) & 0xff);
    h[3] = (unsigned char)(request_id & 0xff);
    h[4] = (unsigned char)((len >> 8) & 0xff);
    h[5] = (unsigned char)(len & 0xff);
    h[6] = 0; /* no padding */
    h[7] = 0;
}

void sse_fcgi_stdout_header(unsigned char hdr[SSE_FCGI_HEADER_LEN],
                            int request_id, size_t len)
{
    header(hdr, FCGI_STDOUT, request_id, len);
}

void sse_fcgi_end_records(unsigned char out[SSE_FCGI_END_LEN], int request_id)
{
    header(out, FCGI_STDOUT, request_id, 0);
    header(out + SSE_FCGI_HEADER_LEN, FCGI_END_REQUEST, request_id, 8);
    unsigned char *body = out + 2 * SSE_FCGI_HEADER_LEN;
    memset(body, 0, 8); /* appStatus 0 (4 bytes), reserved */
    body[4] = FCGI_REQUEST_COMPLETE;
}
