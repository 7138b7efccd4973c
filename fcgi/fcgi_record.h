/* fcgi_record.h - the FastCGI records the worker writes itself.
 * SPDX-License-Identifier: MIT
 *
 * libfcgi frames what a stream's thread writes. Once a stream is parked,
 * its connection belongs to the event loop, and the records (stdout, the
 * end of stdout, END_REQUEST) are framed here, the same way: an 8-byte
 * header (version 1, type, request id, content length, padding length),
 * then the content. The FastCGI constants live here and nowhere in lib/.
 *
 * Thread-safety: pure functions over caller storage.
 */
#ifndef SSE_FCGI_RECORD_H
#define SSE_FCGI_RECORD_H

#include <stddef.h>

#define SSE_FCGI_HEADER_LEN 8
#define SSE_FCGI_RECORD_MAX 65535 /* content bytes of one record */
/* An empty stdout record (end of the stream) and END_REQUEST. */
#define SSE_FCGI_END_LEN (SSE_FCGI_HEADER_LEN + SSE_FCGI_HEADER_LEN + 8)

/* Fills hdr with the header of an FCGI_STDOUT record of len content bytes
 * (len <= SSE_FCGI_RECORD_MAX) for request_id, without padding. */
void sse_fcgi_stdout_header(unsigned char hdr[SSE_FCGI_HEADER_LEN],
                            int request_id, size_t len);

/* Fills out with what ends a response: an empty FCGI_STDOUT record and an
 * FCGI_END_REQUEST record (application status 0, request complete), as
 * libfcgi's FCGX_Finish_r writes them. */
void sse_fcgi_end_records(unsigned char out[SSE_FCGI_END_LEN], int request_id);

#endif
