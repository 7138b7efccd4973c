/* request.h - what a client asked for, parsed from CGI/FastCGI variables.
 * SPDX-License-Identifier: MIT
 *
 * The FastCGI layer copies the few variables sselite reads into a
 * struct sse_request_vars; this module validates them and produces a
 * struct sse_request, or an HTTP status and a one-line reason. It never sees
 * libfcgi, so every rule is unit-tested without a web server.
 *
 * Query parameters:
 *   channel=PATTERN  repeatable; none means "default". A channel name, or
 *                    a pattern (pattern.h): "orders:*" subscribes to
 *                    every channel under the prefix, "*" to all of them.
 *                    Duplicates, and patterns another one of the request
 *                    covers ("a:b" beside "a:*"), are merged away, so the
 *                    patterns kept match disjoint sets of channels.
 *   last_event_id=N  resume point (also accepted as lastEventId); the
 *                    Last-Event-ID header wins over both
 *   replay=N         on a first connect (no resume point), start N events
 *                    back instead of at the end of the log
 *   replay=latest    on a first connect, start with the newest event of
 *                    each channel (one per channel, in id order)
 *   longpoll=1       answer as a long poll (also: X-Requestor: XHR header)
 *   padding=1        start with a 2 KiB comment (old polyfills)
 * Unknown parameters are ignored (cache-busters such as "_=123" are common).
 *
 * A resume id is decimal digits only, at most 18 of them (so it fits int64
 * with room); an empty Last-Event-ID header means "no resume point", exactly
 * as a browser whose last event id is empty would send none.
 *
 * Thread-safety: pure functions over caller storage.
 */
#ifndef SSE_REQUEST_H
#define SSE_REQUEST_H

#include <stddef.h>
#include <stdint.h>

#include "channel.h"
#include "pattern.h"

#define SSE_REQUEST_MAX_CHANNELS 32

/* A pattern fits where a channel name does (the event log's reads take
 * both in the same arrays). */
_Static_assert(SSE_PATTERN_MAX == SSE_CHANNEL_MAX,
               "patterns and channel names share their buffers");
#define SSE_REQUEST_MAX_QUERY 8192
#define SSE_REQUEST_MAX_ID_DIGITS 18

/* Borrowed pointers to the request's CGI variables (any may be NULL when
 * the variable is absent); valid for the duration of sse_request_parse. */
struct sse_request_vars {
    const char *method;        /* REQUEST_METHOD */
    const char *query;         /* QUERY_STRING, raw */
    const char *last_event_id; /* HTTP_LAST_EVENT_ID */
    const char *origin;        /* HTTP_ORIGIN */
    const char *host;          /* HTTP_HOST */
    const char *https;         /* HTTPS ("on" behind TLS) */
    const char *requestor;     /* HTTP_X_REQUESTOR */
    const char *acrh;          /* HTTP_ACCESS_CONTROL_REQUEST_HEADERS */
    const char *uri;           /* REQUEST_URI (path and query), for routing */
    const char *remote_addr;   /* REMOTE_ADDR, for the access log */
    const char *cookie;        /* HTTP_COOKIE (the sselite_token cookie) */
    const char *authorization; /* HTTP_AUTHORIZATION (Bearer token) */
    const char *remote_user;   /* REMOTE_USER, set by the web server */
};

enum sse_method { SSE_METHOD_GET, SSE_METHOD_HEAD, SSE_METHOD_OPTIONS };

enum sse_resume_source {
    SSE_RESUME_NONE,   /* first connect */
    SSE_RESUME_HEADER, /* Last-Event-ID header */
    SSE_RESUME_QUERY   /* last_event_id / lastEventId parameter */
};

/* A parsed request. Owns no heap memory: channel names are stored inline,
 * so the struct can live on a thread's stack or inside a session. */
struct sse_request {
    enum sse_method method;
    size_t nchannels; /* 1..SSE_REQUEST_MAX_CHANNELS, distinct */
    /* Patterns (channel names, or prefixes ending in '*'); none of them
     * covers another (sse_pattern_covers), and kinds[i] is the kind of
     * channels[i]. */
    char channels[SSE_REQUEST_MAX_CHANNELS][SSE_CHANNEL_MAX + 1];
    unsigned char kinds[SSE_REQUEST_MAX_CHANNELS]; /* sse_pattern_kind */
    enum sse_resume_source resume_source;
    int64_t resume_id; /* valid when resume_source != SSE_RESUME_NONE */
    int64_t replay;    /* -1 = not given, SSE_REPLAY_LATEST, or
                          0..SSE_REQUEST_MAX_REPLAY */
    int longpoll;      /* 1 for the long-poll fallback */
    int padding;       /* 1 for the 2 KiB padding comment */
    /* Set by the access decision (lib/access.h): the stream ends by this
     * time (ms since the epoch), when what granted its channels runs out;
     * 0 (as parsed, or in a zeroed struct) for never. */
    int64_t access_until_ms;
};

#define SSE_REQUEST_MAX_REPLAY 100000
/* replay=latest, as a value of sse_request.replay and sse_config.replay. */
#define SSE_REPLAY_LATEST (-2)

/* The outcome of a refused request: an HTTP status (400, 405, 414) and a
 * reason without line breaks, suitable as a text/plain body. */
struct sse_request_error {
    int status;
    char reason[160];
};

/* Parses vars into req. Returns 0, or SSE_EINVAL/SSE_ETOOBIG with err
 * filled in (req is then unspecified). Rules:
 *   method must be GET, HEAD or OPTIONS (else 405);
 *   query at most SSE_REQUEST_MAX_QUERY bytes (else 414);
 *   every channel valid (channel.h), at most SSE_REQUEST_MAX_CHANNELS
 *   distinct ones, bad escapes refused (else 400);
 *   resume ids as described above (else 400). */
int sse_request_parse(const struct sse_request_vars *vars,
                      struct sse_request *req, struct sse_request_error *err);

/* Returns 1 if the request lists the pattern name[0..len) itself (not: a
 * pattern that matches it), else 0. */
int sse_request_has_channel(const struct sse_request *req, const char *name,
                            size_t len);

/* Returns 1 if the request's i-th pattern, a prefix or "*", matches the
 * channel name (NUL-terminated); for an exact name, whether it equals it.
 * For the hub's per-event test, which compares exact names by hash. */
int sse_request_pattern_matches(const struct sse_request *req, size_t i,
                                const char *channel);

/* Parses a resume id: 1..SSE_REQUEST_MAX_ID_DIGITS ASCII digits, nothing
 * else (no sign, no spaces). Returns 0 with *id set, or SSE_EINVAL. */
int sse_request_parse_id(const char *s, size_t len, int64_t *id);

#endif
