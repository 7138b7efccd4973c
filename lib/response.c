/* response.c - CGI response headers: streams, errors, CORS.
 * SPDX-License-Identifier: MIT
 */
#include <string.h>
#include <strings.h>

#include "encode.h"
#include "metrics.h"
#include "response.h"
#include "sse_error.h"

const char *sse_response_reason(int status)
{
    switch (status) {
    case 200:
        return "OK";
    case 204:
        return "No Content";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 414:
        return "URI Too Long";
    case 500:
        return "Internal Server Error";
    case 503:
        return "Service Unavailable";
    default:
        return "Unknown";
    }
}

int sse_response_same_origin(const struct sse_request_vars *vars)
{
    if (!vars->host || !vars->origin)
        return 0;
    const char *o = vars->origin;
    int https = vars->https && strcasecmp(vars->https, "on") == 0;
    const char *scheme = https ? "https://" : "http://";
    size_t sl = strlen(scheme);
    return strncmp(o, scheme, sl) == 0 && strcasecmp(o + sl, vars->host) == 0;
}

int sse_response_cors(const struct sse_config *cfg,
                      const struct sse_request_vars *vars)
{
    if (!vars->origin || cfg->norigins == 0)
        return SSE_CORS_NONE;
    if (sse_config_origin_allowed(cfg, vars->origin))
        return SSE_CORS_ALLOW;
    return sse_response_same_origin(vars) ? SSE_CORS_NONE : SSE_CORS_DENY;
}

static int status_line(struct sse_buf *out, int status)
{
    /* Appended piece by piece: sse_buf_appendf's two vsnprintf passes were
     * most of a stream's set-up in the worker. */
    int rc = sse_buf_append_str(out, "Status: ");
    if (!rc)
        rc = sse_buf_append_i64(out, status);
    if (!rc)
        rc = sse_buf_append(out, " ", 1);
    if (!rc)
        rc = sse_buf_append_str(out, sse_response_reason(status));
    if (!rc)
        rc = sse_buf_append(out, "\r\n", 2);
    return rc;
}

static int cors_headers(struct sse_buf *out, const struct sse_config *cfg,
                        const struct sse_request_vars *vars, int cors)
{
    if (cors != SSE_CORS_ALLOW)
        return 0;
    int star = cfg->norigins == 1 && strcmp(cfg->origins[0], "*") == 0;
    int rc;
    if (star) {
        rc = sse_buf_append_str(out, "Access-Control-Allow-Origin: *\r\n");
    } else {
        rc = sse_buf_appendf(
            out, "Access-Control-Allow-Origin: %s\r\nVary: Origin\r\n",
            vars->origin);
        if (!rc && cfg->cors_credentials)
            rc = sse_buf_append_str(
                out, "Access-Control-Allow-Credentials: true\r\n");
    }
    return rc;
}

int sse_response_stream_headers(struct sse_buf *out,
                                const struct sse_config *cfg,
                                const struct sse_request_vars *vars, int cors,
                                int longpoll)
{
    int rc = status_line(out, 200);
    if (!rc)
        rc = sse_buf_append_str(
            out, longpoll
                     ? "Content-Type: text/plain; charset=utf-8\r\n"
                     : "Content-Type: text/event-stream; charset=utf-8\r\n");
    /* no-cache so no proxy or browser cache answers a reconnect with old
     * bytes; X-Accel-Buffering for nginx, which otherwise buffers. */
    if (!rc)
        rc = sse_buf_append_str(
            out, "Cache-Control: no-cache\r\nX-Accel-Buffering: no\r\n");
    if (!rc)
        rc = cors_headers(out, cfg, vars, cors);
    if (!rc)
        rc = sse_buf_append(out, "\r\n", 2);
    return rc;
}

int sse_response_error(struct sse_buf *out, const struct sse_config *cfg,
                       const struct sse_request_vars *vars, int cors,
                       int status, const char *reason, int head_only)
{
    int rc = status_line(out, status);
    if (!rc)
        rc = sse_buf_append_str(out,
                                "Content-Type: text/plain; charset=utf-8\r\n"
                                "Cache-Control: no-store\r\n");
    if (!rc && status == 405)
        rc = sse_buf_append_str(out, "Allow: GET, HEAD, OPTIONS\r\n");
    /* RFC 9110 asks a 401 to name a scheme; Bearer, not Basic, so that no
     * browser opens a password dialog. */
    if (!rc && status == 401)
        rc = sse_buf_append_str(
            out, "WWW-Authenticate: Bearer realm=\"sselite\"\r\n");
    if (!rc)
        rc = cors_headers(out, cfg, vars, cors);
    if (!rc)
        rc = sse_buf_append(out, "\r\n", 2);
    if (!rc && !head_only)
        rc = sse_buf_appendf(out, "%s\n", reason);
    return rc;
}

int sse_response_preflight(struct sse_buf *out, const struct sse_config *cfg,
                           const struct sse_request_vars *vars, int cors)
{
    if (cors == SSE_CORS_DENY)
        return sse_response_error(out, cfg, vars, cors, 403,
                                  "origin not allowed: add it to cors-origins",
                                  0);
    int rc = status_line(out, 204);
    if (!rc)
        rc = cors_headers(out, cfg, vars, cors);
    if (!rc && cors == SSE_CORS_ALLOW)
        rc = sse_buf_append_str(
            out, "Access-Control-Allow-Methods: GET, HEAD, OPTIONS\r\n"
                 "Access-Control-Allow-Headers: Last-Event-ID, "
                 "Cache-Control, X-Requestor, Authorization\r\n"
                 "Access-Control-Max-Age: 86400\r\n");
    if (!rc)
        rc = sse_buf_append(out, "\r\n", 2);
    return rc;
}

int sse_response_body(struct sse_buf *out, const char *content_type,
                      const char *body, size_t len, int head_only)
{
    int rc = status_line(out, 200);
    if (!rc)
        rc = sse_buf_appendf(
            out, "Content-Type: %s\r\nCache-Control: no-store\r\n\r\n",
            content_type);
    if (!rc && !head_only)
        rc = sse_buf_append(out, body, len);
    return rc;
}

int sse_response_stream_end(struct sse_buf *out, const struct sse_config *cfg,
                            int reason)
{
    switch (reason) {
    case SSE_CLOSE_LIFETIME:
        return sse_encode_comment(out, "stream lifetime reached, reconnect");
    case SSE_CLOSE_SHUTDOWN:
        return sse_encode_comment(out, "server shutting down, reconnect");
    case SSE_CLOSE_RESET:
        return sse_encode_comment(out, "database replaced, reconnect");
    case SSE_CLOSE_EXPIRED: {
        /* The last event of a stream whose access ran out: the browser
         * helper (deploy/js/sselite.js) fetches a new token and resumes.
         * No id line, so the client's last event id stays that of the
         * last real event. */
        static const char AUTH_EXPIRED_EVENT[] =
            "event: sselite-auth\ndata: {\"reason\":\"expired\"}\n\n";
        size_t start = out->len;
        int rc = sse_buf_append(out, AUTH_EXPIRED_EVENT,
                                sizeof AUTH_EXPIRED_EVENT - 1);
        if (!rc)
            rc = sse_encode_comment(out, "access expired, renew it");
        if (rc && out->data) {
            out->len = start;
            out->data[start] = '\0';
        }
        return rc;
    }
    case SSE_CLOSE_FAULT: {
        size_t start = out->len;
        int rc = sse_encode_retry(out, cfg->error_retry_ms);
        if (!rc)
            rc = sse_encode_comment(
                out, "error: database cannot be read, retry later");
        if (rc && out->data) {
            out->len = start;
            out->data[start] = '\0';
        }
        return rc;
    }
    default:
        return 0;
    }
}
