/* fuzz_request.c - libFuzzer target: request parsing and the answers built
 * from it (CORS classification, stream headers, error bodies, preflight).
 * SPDX-License-Identifier: MIT
 *
 * The input is split at NUL bytes into the CGI variables a web server
 * passes: REQUEST_METHOD, QUERY_STRING, HTTP_LAST_EVENT_ID, HTTP_ORIGIN,
 * HTTP_HOST, HTTPS, HTTP_X_REQUESTOR, in that order; a missing field is an
 * absent variable. Besides "no crash, no UB, no leak" it checks the
 * contracts of request.h and response.h:
 *   - an accepted request has 1..32 distinct valid channels, a resume id
 *     of at most 18 digits, a replay in range, and flags that are 0 or 1;
 *   - a refused one has status 400, 405 or 414 and a one-line reason;
 *   - every header block is CRLF lines of "Name: value" ended by one blank
 *     line, so no input can inject a header or end the headers early.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "channel.h"
#include "config.h"
#include "fuzz.h"
#include "pattern.h"
#include "request.h"
#include "response.h"
#include "sse_error.h"

#define NFIELDS 7

static struct sse_config exact_cfg, star_cfg;

static void set(struct sse_config *c, const char *name, const char *value)
{
    char err[200];
    CHECK(sse_config_set(c, name, value, err, sizeof err) == 0);
}

int LLVMFuzzerInitialize(int *argc, char ***argv);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    sse_config_init(&exact_cfg);
    set(&exact_cfg, "cors-origins",
        "https://app.example,http://localhost:8080");
    set(&exact_cfg, "cors-credentials", "1");
    sse_config_init(&star_cfg);
    set(&star_cfg, "cors-origins", "*");
    return 0;
}

static void check_accepted(const struct sse_request *req)
{
    CHECK(req->method == SSE_METHOD_GET || req->method == SSE_METHOD_HEAD ||
          req->method == SSE_METHOD_OPTIONS);
    CHECK(req->nchannels >= 1 && req->nchannels <= SSE_REQUEST_MAX_CHANNELS);
    for (size_t i = 0; i < req->nchannels; i++) {
        size_t len = strnlen(req->channels[i], SSE_CHANNEL_MAX + 1);
        CHECK(len <= SSE_CHANNEL_MAX);
        /* A channel name or a pattern, of the kind recorded, and no
         * pattern of the request covers another. */
        enum sse_pattern_kind kind;
        CHECK(sse_pattern_parse(req->channels[i], len, &kind) == 0);
        CHECK(req->kinds[i] == kind);
        CHECK(kind == SSE_PATTERN_PREFIX ||
              sse_request_pattern_matches(req, i, req->channels[i]));
        CHECK(sse_request_has_channel(req, req->channels[i], len));
        for (size_t j = 0; j < req->nchannels; j++)
            CHECK(j == i || !sse_pattern_covers(req->channels[j],
                                                strlen(req->channels[j]),
                                                req->channels[i], len));
    }
    if (req->resume_source != SSE_RESUME_NONE)
        CHECK(req->resume_id >= 0 && req->resume_id <= 999999999999999999LL);
    CHECK(req->replay == SSE_REPLAY_LATEST ||
          (req->replay >= -1 && req->replay <= SSE_REQUEST_MAX_REPLAY));
    CHECK(req->longpoll == 0 || req->longpoll == 1);
    CHECK(req->padding == 0 || req->padding == 1);
}

static void check_refused(const struct sse_request_error *err)
{
    CHECK(err->status == 400 || err->status == 405 || err->status == 414);
    const char *end = memchr(err->reason, '\0', sizeof err->reason);
    CHECK(end != NULL && end > err->reason);
    for (const char *p = err->reason; p < end; p++)
        CHECK((unsigned char)*p >= 0x20 && *p != 0x7f);
}

/* Every line before the blank line is "Name: value" without CR, LF or
 * NUL inside; returns the header block's length. */
static size_t check_headers(const struct sse_buf *b)
{
    size_t i = 0;
    CHECK(b->len >= 4);
    CHECK(strncmp(b->data, "Status: ", 8) == 0);
    for (;;) {
        size_t start = i;
        while (i < b->len && b->data[i] != '\r' && b->data[i] != '\n' &&
               b->data[i] != '\0')
            i++;
        CHECK(i + 1 < b->len && b->data[i] == '\r' && b->data[i + 1] == '\n');
        if (i == start)
            return i + 2; /* the blank line */
        const char *colon = memchr(b->data + start, ':', i - start);
        CHECK(colon != NULL && colon > b->data + start && colon[1] == ' ');
        i += 2;
    }
}

static void check_answers(const struct sse_config *cfg,
                          const struct sse_request_vars *v, int accepted,
                          const struct sse_request *req,
                          const struct sse_request_error *err)
{
    int cors = sse_response_cors(cfg, v);
    CHECK(cors == SSE_CORS_NONE || cors == SSE_CORS_ALLOW ||
          cors == SSE_CORS_DENY);
    if (cors == SSE_CORS_ALLOW && v->origin && strcmp(cfg->origins[0], "*"))
        CHECK(sse_config_origin_allowed(cfg, v->origin));
    struct sse_buf b;
    sse_buf_init(&b, 0);
    if (accepted && req->method == SSE_METHOD_OPTIONS) {
        CHECK(sse_response_preflight(&b, cfg, v, cors) == 0);
        check_headers(&b);
    } else if (accepted && cors != SSE_CORS_DENY) {
        CHECK(sse_response_stream_headers(&b, cfg, v, cors, req->longpoll) ==
              0);
        CHECK(check_headers(&b) == b.len);
    } else {
        int status = accepted ? 403 : err->status;
        const char *reason = accepted ? "origin not allowed" : err->reason;
        int c = cors == SSE_CORS_DENY ? SSE_CORS_NONE : cors;
        CHECK(sse_response_error(&b, cfg, v, c, status, reason, 0) == 0);
        size_t hl = check_headers(&b);
        /* One line of body: the reason. */
        CHECK(b.len == hl + strlen(reason) + 1 && b.data[b.len - 1] == '\n');
    }
    sse_buf_cleanup(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *copy = malloc(size + 1);
    if (!copy)
        return 0;
    memcpy(copy, data, size);
    copy[size] = '\0';
    const char *field[NFIELDS] = {NULL};
    size_t nf = 0;
    for (size_t i = 0; nf < NFIELDS && i <= size;) {
        field[nf++] = copy + i;
        i += strlen(copy + i) + 1;
    }
    struct sse_request_vars v;
    memset(&v, 0, sizeof v);
    v.method = field[0];
    v.query = field[1];
    v.last_event_id = field[2];
    v.origin = field[3];
    v.host = field[4];
    v.https = field[5];
    v.requestor = field[6];
    v.uri = "/events";

    struct sse_request req;
    struct sse_request_error err;
    int rc = sse_request_parse(&v, &req, &err);
    CHECK(rc == 0 || rc == SSE_EINVAL || rc == SSE_ETOOBIG);
    if (rc == 0)
        check_accepted(&req);
    else
        check_refused(&err);
    check_answers(&exact_cfg, &v, rc == 0, &req, &err);
    check_answers(&star_cfg, &v, rc == 0, &req, &err);

    int64_t id;
    if (sse_request_parse_id(copy, size, &id) == 0)
        CHECK(size >= 1 && size <= SSE_REQUEST_MAX_ID_DIGITS && id >= 0);
    free(copy);
    return 0;
}
