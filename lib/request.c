/* request.c - parse and validate what a client asked for.
 * SPDX-License-Identifier: MIT
 */
#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "query.h"
#include "request.h"
#include "sse_error.h"

static int fail(struct sse_request_error *err, int status, int code,
                const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static int fail(struct sse_request_error *err, int status, int code,
                const char *fmt, ...)
{
    va_list ap;
    err->status = status;
    va_start(ap, fmt);
    vsnprintf(err->reason, sizeof err->reason, fmt, ap);
    va_end(ap);
    return code;
}

int sse_request_parse_id(const char *s, size_t len, int64_t *id)
{
    if (len == 0 || len > SSE_REQUEST_MAX_ID_DIGITS)
        return SSE_EINVAL;
    int64_t v = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return SSE_EINVAL;
        v = v * 10 + (s[i] - '0');
    }
    *id = v;
    return 0;
}

int sse_request_has_channel(const struct sse_request *req, const char *name,
                            size_t len)
{
    for (size_t i = 0; i < req->nchannels; i++)
        if (strncmp(req->channels[i], name, len) == 0 &&
            req->channels[i][len] == '\0')
            return 1;
    return 0;
}

static int flag_value(const char *v, size_t n)
{
    return !(n == 1 && (v[0] == '0')) &&
           !(n == 5 && strncasecmp(v, "false", 5) == 0) &&
           !(n == 2 && strncasecmp(v, "no", 2) == 0);
}

int sse_request_pattern_matches(const struct sse_request *req, size_t i,
                                const char *channel)
{
    assert(i < req->nchannels);
    const char *p = req->channels[i];
    switch (req->kinds[i]) {
    case SSE_PATTERN_ALL:
        return 1;
    case SSE_PATTERN_PREFIX: {
        size_t n = strlen(p) - 1;
        return strncmp(channel, p, n) == 0;
    }
    default:
        return strcmp(channel, p) == 0;
    }
}

static int add_channel(struct sse_request *req, const char *v, size_t n,
                       struct sse_request_error *err)
{
    char name[SSE_CHANNEL_MAX + 1];
    size_t len;
    enum sse_pattern_kind kind;
    int rc = sse_query_decode(v, n, name, sizeof name, &len);
    if (rc == SSE_EINVAL)
        return fail(err, 400, SSE_EINVAL, "bad channel: malformed %%-escape");
    if (rc || sse_pattern_parse(name, len, &kind))
        return fail(err, 400, SSE_EINVAL,
                    "bad channel: use 1-%d characters of A-Z a-z 0-9 _ . : / "
                    "@ -, or a prefix ending in /* or :*",
                    SSE_CHANNEL_MAX);
    if (sse_request_has_channel(req, name, len))
        return 0;
    if (req->nchannels == SSE_REQUEST_MAX_CHANNELS)
        return fail(err, 400, SSE_ETOOBIG, "too many channels: at most %d",
                    SSE_REQUEST_MAX_CHANNELS);
    req->kinds[req->nchannels] = (unsigned char)kind;
    memcpy(req->channels[req->nchannels++], name, len + 1);
    return 0;
}

/* Drops every pattern that another one of the request covers, keeping the
 * order of the rest: the event log's reads then see disjoint ranges, and
 * the access check each pattern once. */
static void drop_covered(struct sse_request *req)
{
    unsigned char drop[SSE_REQUEST_MAX_CHANNELS] = {0};
    for (size_t i = 0; i < req->nchannels; i++) {
        const char *p = req->channels[i];
        /* Patterns are distinct, so two never cover each other. */
        for (size_t j = 0; j < req->nchannels && !drop[i]; j++)
            drop[i] = j != i && sse_pattern_covers(req->channels[j],
                                                   strlen(req->channels[j]), p,
                                                   strlen(p));
    }
    size_t kept = 0;
    for (size_t i = 0; i < req->nchannels; i++) {
        if (drop[i])
            continue;
        if (kept != i) {
            memcpy(req->channels[kept], req->channels[i],
                   strlen(req->channels[i]) + 1);
            req->kinds[kept] = req->kinds[i];
        }
        kept++;
    }
    req->nchannels = kept;
}

static int parse_method(const char *m, struct sse_request *req,
                        struct sse_request_error *err)
{
    if (!m || strcmp(m, "GET") == 0)
        req->method = SSE_METHOD_GET;
    else if (strcmp(m, "HEAD") == 0)
        req->method = SSE_METHOD_HEAD;
    else if (strcmp(m, "OPTIONS") == 0)
        req->method = SSE_METHOD_OPTIONS;
    else
        return fail(err, 405, SSE_EINVAL,
                    "method not allowed: event streams are read with GET");
    return 0;
}

static int parse_query(const char *qs, struct sse_request *req,
                       int64_t *query_id, struct sse_request_error *err)
{
    size_t qlen = qs ? strlen(qs) : 0;
    if (qlen > SSE_REQUEST_MAX_QUERY)
        return fail(err, 414, SSE_ETOOBIG,
                    "query string too long: at most %d bytes",
                    SSE_REQUEST_MAX_QUERY);
    struct sse_query_iter it;
    const char *k, *v;
    size_t kn, vn;
    sse_query_iter_init(&it, qs, qlen);
    while (sse_query_next(&it, &k, &kn, &v, &vn)) {
        int rc = 0;
        char tmp[32];
        size_t tn;
        if (sse_query_key_is(k, kn, "channel")) {
            rc = add_channel(req, v, vn, err);
        } else if (sse_query_key_is(k, kn, "last_event_id") ||
                   sse_query_key_is(k, kn, "lastEventId")) {
            /* An empty value is what a polyfill sends before it has seen
             * an event: no resume point, like an absent header. */
            if (vn == 0)
                continue;
            if (sse_query_decode(v, vn, tmp, sizeof tmp, &tn) ||
                sse_request_parse_id(tmp, tn, query_id))
                rc = fail(err, 400, SSE_EINVAL,
                          "bad last_event_id: expected 1-%d decimal digits",
                          SSE_REQUEST_MAX_ID_DIGITS);
        } else if (sse_query_key_is(k, kn, "replay")) {
            int64_t n;
            int undecodable = sse_query_decode(v, vn, tmp, sizeof tmp, &tn);
            if (!undecodable && tn == 6 && memcmp(tmp, "latest", 6) == 0)
                req->replay = SSE_REPLAY_LATEST;
            else if (undecodable || sse_request_parse_id(tmp, tn, &n) ||
                     n > SSE_REQUEST_MAX_REPLAY)
                rc = fail(err, 400, SSE_EINVAL,
                          "bad replay: expected a count from 0 to %d or"
                          " 'latest'",
                          SSE_REQUEST_MAX_REPLAY);
            else
                req->replay = n;
        } else if (sse_query_key_is(k, kn, "longpoll")) {
            req->longpoll = flag_value(v, vn);
        } else if (sse_query_key_is(k, kn, "padding")) {
            req->padding = flag_value(v, vn);
        }
        if (rc)
            return rc;
    }
    return 0;
}

int sse_request_parse(const struct sse_request_vars *vars,
                      struct sse_request *req, struct sse_request_error *err)
{
    /* Field by field: clearing the 4 KiB of channel names would touch
     * stack pages every streaming thread then keeps resident. */
    req->method = SSE_METHOD_GET;
    req->nchannels = 0;
    req->resume_source = SSE_RESUME_NONE;
    req->resume_id = 0;
    req->replay = -1;
    req->longpoll = 0;
    req->padding = 0;
    req->access_until_ms = 0;
    err->status = 0;
    err->reason[0] = '\0';

    int rc = parse_method(vars->method, req, err);
    if (rc)
        return rc;
    int64_t query_id = -1;
    rc = parse_query(vars->query, req, &query_id, err);
    if (rc)
        return rc;
    if (req->nchannels == 0) {
        req->kinds[0] = SSE_PATTERN_EXACT;
        memcpy(req->channels[req->nchannels++], SSE_CHANNEL_DEFAULT,
               sizeof SSE_CHANNEL_DEFAULT);
    }
    drop_covered(req);

    const char *h = vars->last_event_id;
    if (h && h[0] != '\0') {
        if (sse_request_parse_id(h, strlen(h), &req->resume_id))
            return fail(err, 400, SSE_EINVAL,
                        "bad Last-Event-ID: expected 1-%d decimal digits",
                        SSE_REQUEST_MAX_ID_DIGITS);
        req->resume_source = SSE_RESUME_HEADER;
    } else if (query_id >= 0) {
        req->resume_id = query_id;
        req->resume_source = SSE_RESUME_QUERY;
    }
    if (vars->requestor && strcasecmp(vars->requestor, "XHR") == 0)
        req->longpoll = 1;
    return 0;
}
