/* encode.h - Server-Sent Events encoder (WHATWG HTML, "Server-sent events").
 * SPDX-License-Identifier: MIT
 *
 * Turns one event log row into the exact bytes a browser's EventSource parses
 * back into the same type, id and data:
 *   - "id: <id>" on every event (decimal, never empty);
 *   - "event: <type>" only when the type is set and non-empty;
 *   - one "data: " line per line of the payload, splitting on CRLF, CR and LF
 *     alike; empty lines are kept, so an empty payload is one "data: " line
 *     and a payload ending in a line break ends in an empty "data: " line;
 *     always "data: " with one space, so a payload's own leading space
 *     survives (the parser strips exactly one);
 *   - a blank line ending the event; framing uses LF only.
 * The browser joins data lines with LF, so a payload round-trips byte for
 * byte when its line breaks are LF, and with CR and CRLF turned into LF
 * otherwise. Bytes are copied as they are; the encoder never emits a BOM.
 *
 * Thread-safety: pure functions over caller-owned buffers.
 */
#ifndef SSE_ENCODE_H
#define SSE_ENCODE_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

/* Appends one whole event to out. type may be NULL or "" for the default
 * "message" type; type_len is its length in bytes. data is borrowed for the
 * call and may contain any bytes (NUL included). Returns 0, SSE_EINVAL when
 * id < 0 or the type contains CR or LF, or a buffer error; on failure out is
 * unchanged. */
int sse_encode_event(struct sse_buf *out, int64_t id, const char *type,
                     size_t type_len, const char *data, size_t data_len);

/* Appends one stored row as an event: sse_encode_event, except that a type
 * the schema would refuse (CR or LF, from an older or hand-edited table) is
 * dropped with a warning, so the event still arrives, as "message". The one
 * encoder of stored rows: the worker's hub, its catch-up reads and
 * `sselite tail` all print a row the same way. Returns 0, SSE_EINVAL for
 * id < 0, or a buffer error; out unchanged on failure. */
int sse_encode_row(struct sse_buf *out, int64_t id, const char *type,
                   size_t type_len, const char *data, size_t data_len);

/* Appends "retry: <ms>\n\n". Returns 0, SSE_EINVAL for ms < 0, or a buffer
 * error; out unchanged on failure. */
int sse_encode_retry(struct sse_buf *out, int64_t ms);

/* Appends a comment line ": <text>\n" (or ":\n" for empty text) followed by
 * a blank line. Line breaks in text are replaced by spaces so that a comment
 * can never turn into a field. Returns 0 or a buffer error; out unchanged on
 * failure. */
int sse_encode_comment(struct sse_buf *out, const char *text);

/* Appends a comment of exactly n bytes (":" then spaces, then "\n\n"),
 * n >= 3; for polyfills of old browsers that need 2 KiB before they parse.
 * Returns 0, SSE_EINVAL for n < 3, or a buffer error. */
int sse_encode_padding(struct sse_buf *out, size_t n);

/* Upper bound of the bytes sse_encode_event appends for these lengths, or
 * SIZE_MAX on overflow; lets callers reserve once. */
size_t sse_encode_event_size(size_t type_len, size_t data_len);

#endif
