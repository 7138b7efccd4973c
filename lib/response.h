/* response.h - CGI response headers: streams, errors, CORS.
 * SPDX-License-Identifier: MIT
 *
 * Builds the header block a FastCGI application writes before its body
 * ("Status: 200 OK\r\n...\r\n\r\n"). CORS follows the Fetch rules browsers
 * enforce: an allowed origin is echoed exactly (or "*" when configured and
 * no credentials are involved), never "*" together with credentials.
 *
 * Thread-safety: pure functions over caller buffers.
 */
#ifndef SSE_RESPONSE_H
#define SSE_RESPONSE_H

#include "buf.h"
#include "config.h"
#include "request.h"

enum sse_cors {
    SSE_CORS_NONE,  /* no Origin, same origin, or CORS not configured */
    SSE_CORS_ALLOW, /* send the Access-Control-* headers */
    SSE_CORS_DENY   /* configured, and this origin is not allowed: 403 */
};

/* Classifies the request's Origin against cfg. An Origin equal to the
 * request's own scheme://Host is same-origin (SSE_CORS_NONE). */
int sse_response_cors(const struct sse_config *cfg,
                      const struct sse_request_vars *vars);

/* Returns 1 if the request's Origin is its own scheme://Host, 0 otherwise
 * (also without an Origin or a Host). */
int sse_response_same_origin(const struct sse_request_vars *vars);

/* Appends the headers of an event stream (longpoll = 0) or of a long-poll
 * answer (text/plain, longpoll = 1), with CORS headers when cors is
 * SSE_CORS_ALLOW. Returns 0 or a buffer error. */
int sse_response_stream_headers(struct sse_buf *out,
                                const struct sse_config *cfg,
                                const struct sse_request_vars *vars, int cors,
                                int longpoll);

/* Appends a complete text/plain answer: headers and "reason\n" as body
 * (no body when head_only). Returns 0 or a buffer error. */
int sse_response_error(struct sse_buf *out, const struct sse_config *cfg,
                       const struct sse_request_vars *vars, int cors,
                       int status, const char *reason, int head_only);

/* Appends a complete CORS preflight answer (204, or 403 when denied). */
int sse_response_preflight(struct sse_buf *out, const struct sse_config *cfg,
                           const struct sse_request_vars *vars, int cors);

/* Appends a complete 200 answer with the given type and body. */
int sse_response_body(struct sse_buf *out, const char *content_type,
                      const char *body, size_t len, int head_only);

/* Appends the bytes that end an event stream for reason (enum
 * sse_close_reason): a comment that tells a reader of the raw stream why,
 * after a "retry:" of cfg->error_retry_ms for a fault, and after the
 * sselite-auth event (one event) when the access ran out. Nothing for reasons
 * where the client is gone or nothing more is sent (client gone, write
 * failed, long poll, HEAD). Returns 0 or a buffer error. */
int sse_response_stream_end(struct sse_buf *out, const struct sse_config *cfg,
                            int reason);

/* Reason phrase for an HTTP status ("Bad Request"); "Unknown" if unknown. */
const char *sse_response_reason(int status);

#endif
