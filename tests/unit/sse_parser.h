/* sse_parser.h - reference event-stream parser for the tests.
 * SPDX-License-Identifier: MIT
 *
 * A line-by-line transcription of WHATWG HTML "Server-sent events",
 * sections "Parsing an event stream" and "Interpreting an event stream",
 * written independently of lib/encode.c so that encoder output can be
 * checked against what a browser's EventSource would make of it:
 *   - one leading BOM (EF BB BF) at the very start of the stream is skipped;
 *   - CRLF, lone LF and lone CR each end a line, also when a CR ends one
 *     chunk and the LF starts the next;
 *   - an empty line dispatches; a line starting with ':' is a comment;
 *     otherwise the field name is the text before the first ':' and the
 *     value the text after it minus one leading space; a line without ':'
 *     is a field with an empty value; names match case-sensitively;
 *   - "data" appends value + LF to the data buffer; "event" sets the event
 *     type buffer; "id" sets the last event ID buffer unless the value
 *     contains NUL (then the field is ignored); "retry" sets the
 *     reconnection time when the value is one or more ASCII digits;
 *     anything else is ignored;
 *   - dispatch: the last event ID string takes the buffer's value (the
 *     buffer itself is never reset); an empty data buffer fires no event;
 *     otherwise one trailing LF is removed and an event with type "message"
 *     (or the event type buffer) fires; data and type buffers are cleared;
 *   - an event not ended by a blank line when the input stops is not
 *     dispatched (see sse_parser_idle).
 * Deliberate difference from a browser: the parser works on bytes and does
 * not replace invalid UTF-8 with U+FFFD, so tests can compare payloads byte
 * for byte (the encoder copies bytes as they are). A retry value too large
 * for int64_t is ignored.
 *
 * Thread-safety: one parser per thread; no shared state.
 */
#ifndef SSE_TEST_PARSER_H
#define SSE_TEST_PARSER_H

#include <stddef.h>
#include <stdint.h>

/* One dispatched event. Every buffer is NUL-terminated (the NUL is not
 * counted in the length) and owned by the parser until sse_parser_free. */
struct sse_parsed_event {
    char *type; /* "message" when the event type buffer was empty */
    size_t type_len;
    char *data; /* one trailing LF already removed */
    size_t data_len;
    char *last_event_id; /* the last event ID string at dispatch */
    size_t last_event_id_len;
};

struct sse_parser;

/* Returns a new parser (owned by caller, free with sse_parser_free), or
 * NULL when out of memory. */
struct sse_parser *sse_parser_new(void);

/* Frees the parser and every event it returned. NULL-safe. */
void sse_parser_free(struct sse_parser *p);

/* Feeds the next n bytes of the stream (bytes may be NULL when n == 0);
 * chunk boundaries may fall anywhere, even inside CRLF or the BOM. Returns
 * 0, or -1 when out of memory (the parser is then unusable). */
int sse_parser_feed(struct sse_parser *p, const void *bytes, size_t n);

/* Number of events dispatched so far. */
size_t sse_parser_count(const struct sse_parser *p);

/* The i-th dispatched event (0-based, i < count); borrowed until
 * sse_parser_free. */
const struct sse_parsed_event *sse_parser_event(const struct sse_parser *p,
                                                size_t i);

/* The reconnection time set by the last valid "retry" field, or -1 when
 * none was seen. */
int64_t sse_parser_retry(const struct sse_parser *p);

/* Number of comment lines seen. */
size_t sse_parser_comments(const struct sse_parser *p);

/* Number of field lines seen (known and unknown fields, not comments or
 * blank lines). */
size_t sse_parser_fields(const struct sse_parser *p);

/* Number of blank lines that dispatched nothing because the data buffer
 * was empty (e.g. the blank line after a comment or a "retry" field). */
size_t sse_parser_empty_dispatches(const struct sse_parser *p);

/* The last event ID string as of the latest dispatch (empty before any);
 * *len (may be NULL) receives its length. Borrowed until the next feed. */
const char *sse_parser_last_event_id(const struct sse_parser *p, size_t *len);

/* Returns 1 when the input so far ended at an event boundary: no partial
 * line (or partial BOM) is buffered and no field line came after the last
 * blank line, so stopping here loses nothing. A CR that ended the input
 * ends a line (its LF may still follow). Returns 0 otherwise. */
int sse_parser_idle(const struct sse_parser *p);

#endif
