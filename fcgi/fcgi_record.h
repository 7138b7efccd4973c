/* fcgi_record.h - the FastCGI records the worker writes itself.
 * SPDX-License-Identifier: MIT
 *
 * libfcgi frames the bytes a stream thread writes. Bytes written without
 * libfcgi (a direct write to a sleeping stream) must be framed the same
 * way: an 8-byte header (version 1, type, request id, content length,
 * padding length), then the content. The FastCGI constants live here and
 * nowhere in lib/.
 *
 * Thread-safety: pure functions over caller storage.
 */
#ifndef SSE_FCGI_RECORD_H
#define SSE_FCGI_RECORD_H

#include <stddef.h>
#include <sys/uio.h>

#define SSE_FCGI_HEADER_LEN 8
#define SSE_FCGI_RECORD_MAX 65535 /* content bytes of one record */
#define SSE_FCGI_IOV_MAX 64       /* iovecs try_send accepts */

/* Fills hdr with the header of an FCGI_STDOUT record of len content bytes
 * (len <= SSE_FCGI_RECORD_MAX) for request_id, without padding. */
void sse_fcgi_stdout_header(unsigned char hdr[SSE_FCGI_HEADER_LEN],
                            int request_id, size_t len);

/* Copies the bytes of iov[0..niov) after the first skip into out (room for
 * all of them); returns how many were copied. */
size_t sse_fcgi_iov_rest(const struct iovec *iov, int niov, size_t skip,
                         char *out);

#endif
