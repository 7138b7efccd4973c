/* access.c - who may read what: the access decision at the handshake.
 * SPDX-License-Identifier: MIT
 *
 * The decision keeps, per requested pattern, the latest time until which
 * some grant covers it, and folds every grant into that table as it is
 * read (token claims, user-channels, grants-table rows, public-channels):
 * nothing is collected, so a principal with many grants costs time, not
 * stack. A pattern no grant covered stays at NOT_COVERED.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "access.h"
#include "pattern.h"
#include "query.h"
#include "response.h"
#include "sse_error.h"
#include "token.h"

#define NOT_COVERED INT64_MIN

struct sse_access {
    const struct sse_config *cfg;
    struct sse_token_secrets *secrets; /* NULL without auth-secret-file */
    int enabled;
};

int sse_access_new(const struct sse_config *cfg, struct sse_access **out,
                   char *err, size_t errlen)
{
    struct sse_access *a = calloc(1, sizeof *a);
    if (!a)
        return SSE_ENOMEM;
    a->cfg = cfg;
    a->enabled = cfg->auth_secret_file != NULL || cfg->nuser_channels > 0 ||
                 cfg->npublic_channels > 0;
    if (cfg->auth_secret_file) {
        int rc = sse_token_secrets_load(cfg->auth_secret_file, &a->secrets, err,
                                        errlen);
        if (rc) {
            free(a);
            return rc;
        }
    }
    *out = a;
    return 0;
}

void sse_access_free(struct sse_access *a)
{
    if (!a)
        return;
    sse_token_secrets_free(a->secrets);
    free(a);
}

int sse_access_enabled(const struct sse_access *a)
{
    return a->enabled;
}

/* --- finding the token --- */

/* Copies v[0..n) to out; 1, or -1 when it does not fit. Empty: 0. */
static int take(const char *v, size_t n, char *out, size_t cap, size_t *len)
{
    if (n == 0)
        return 0;
    if (n >= cap || n > SSE_TOKEN_MAX)
        return -1;
    memcpy(out, v, n);
    out[n] = '\0';
    *len = n;
    return 1;
}

/* The first cookie named sselite_token (RFC 6265 5.4: the browser sends
 * the one with the longest path first). */
static int from_cookie(const char *c, char *out, size_t cap, size_t *len)
{
    static const size_t nl = sizeof SSE_ACCESS_COOKIE - 1;
    while (c && *c) {
        c += strspn(c, " \t;");
        size_t n = strcspn(c, ";");
        const char *eq = memchr(c, '=', n);
        if (eq && (size_t)(eq - c) == nl &&
            memcmp(c, SSE_ACCESS_COOKIE, nl) == 0) {
            const char *v = eq + 1;
            size_t vn = n - nl - 1;
            while (vn > 0 && (v[vn - 1] == ' ' || v[vn - 1] == '\t'))
                vn--;
            /* A cookie value may be quoted (RFC 6265 4.1.1). */
            if (vn >= 2 && v[0] == '"' && v[vn - 1] == '"') {
                v++;
                vn -= 2;
            }
            return take(v, vn, out, cap, len);
        }
        c += n;
    }
    return 0;
}

static int from_query(const char *qs, char *out, size_t cap, size_t *len)
{
    struct sse_query_iter it;
    const char *k, *v;
    size_t kn, vn;
    sse_query_iter_init(&it, qs, qs ? strlen(qs) : 0);
    while (sse_query_next(&it, &k, &kn, &v, &vn)) {
        if (!sse_query_key_is(k, kn, SSE_ACCESS_QUERY))
            continue;
        if (vn == 0)
            return 0;
        size_t cap2 = cap < SSE_TOKEN_MAX + 1 ? cap : SSE_TOKEN_MAX + 1;
        return sse_query_decode(v, vn, out, cap2, len) ? -1 : 1;
    }
    return 0;
}

static int from_header(const char *h, char *out, size_t cap, size_t *len)
{
    if (!h || strncasecmp(h, "Bearer", 6) != 0 || (h[6] != ' ' && h[6] != '\t'))
        return 0; /* another scheme (Basic, for the web server) */
    h += 6;
    h += strspn(h, " \t");
    size_t n = strlen(h);
    while (n > 0 && (h[n - 1] == ' ' || h[n - 1] == '\t'))
        n--;
    return take(h, n, out, cap, len);
}

int sse_access_find_token(const struct sse_request_vars *vars, char *out,
                          size_t cap, size_t *len, const char **from)
{
    int r = from_cookie(vars->cookie, out, cap, len);
    const char *src = "cookie";
    if (r == 0) {
        r = from_query(vars->query, out, cap, len);
        src = "query";
    }
    if (r == 0) {
        r = from_header(vars->authorization, out, cap, len);
        src = "header";
    }
    if (from)
        *from = r ? src : NULL;
    return r;
}

/* --- the decision --- */

struct coverage {
    const struct sse_request *req;
    int64_t until[SSE_REQUEST_MAX_CHANNELS]; /* NOT_COVERED or a time */
    const char *user; /* for {user}; NULL: templates with it grant nothing */
    size_t ulen;
};

/* Folds one grant (a template, valid or not: grants-table rows are
 * checked here) into the table. */
static void cover(struct coverage *cv, const char *t, size_t tlen,
                  int64_t until_ms)
{
    char p[SSE_PATTERN_MAX + 1];
    size_t plen;
    if (!sse_pattern_template_valid(t, tlen) ||
        sse_pattern_expand(t, tlen, cv->user, cv->ulen, p, sizeof p, &plen))
        return;
    const struct sse_request *req = cv->req;
    for (size_t i = 0; i < req->nchannels; i++)
        if (until_ms > cv->until[i] &&
            sse_pattern_covers(p, plen, req->channels[i],
                               strlen(req->channels[i])))
            cv->until[i] = until_ms;
}

static int grant_row(void *ctx, const char *pattern, size_t len,
                     int64_t expires_ms)
{
    cover(ctx, pattern, len, expires_ms);
    return 0;
}

static int refuse(struct sse_access_decision *d, int status, int refusal,
                  const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static int refuse(struct sse_access_decision *d, int status, int refusal,
                  const char *fmt, ...)
{
    d->status = status;
    d->refusal = refusal;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(d->reason, sizeof d->reason, fmt, ap);
    va_end(ap);
    return 0;
}

/* 1 if origin is listed in cors-origins by name ("*" does not count: it
 * admits any site, and never with credentials). */
static int origin_listed(const struct sse_config *cfg, const char *origin)
{
    for (size_t i = 0; i < cfg->norigins; i++)
        if (strcmp(cfg->origins[i], origin) == 0 &&
            strcmp(cfg->origins[i], "*") != 0)
            return 1;
    return 0;
}

/* Verifies the token and folds its channels in. Returns 0 (d->status set
 * when refused). */
static int use_token(const struct sse_access *a, const char *tok, size_t n,
                     int64_t now_ms, struct coverage *cv,
                     struct sse_access_decision *d, int64_t *token_until)
{
    if (!a->secrets)
        return refuse(d, 403, SSE_REFUSED_BAD_TOKEN,
                      "bad token: this server accepts no tokens (no "
                      "auth-secret-file)");
    /* 8.5 KiB of claims: static per thread would do, but a heap-free
     * decision on the caller's stack is simpler to reason about. */
    struct sse_token_claims c;
    const char *why = "";
    int v = sse_token_verify(a->secrets, tok, n, now_ms / 1000, &c, &why);
    if (v != SSE_TOKEN_OK)
        return refuse(d, 403,
                      v == SSE_TOKEN_EXPIRED ? SSE_REFUSED_EXPIRED
                                             : SSE_REFUSED_BAD_TOKEN,
                      "%s", why);
    *token_until = c.exp_s * 1000;
    /* {user} in a token's channels is its own sub. */
    const char *user = cv->user;
    size_t ulen = cv->ulen;
    cv->user = c.has_sub ? c.sub : NULL;
    cv->ulen = c.has_sub ? strlen(c.sub) : 0;
    for (size_t i = 0; i < c.nchannels; i++)
        cover(cv, c.channels[i], strlen(c.channels[i]), *token_until);
    cv->user = user;
    cv->ulen = ulen;
    d->token_used = 1;
    return 0;
}

int sse_access_decide(const struct sse_access *a, const struct sse_request *req,
                      const struct sse_request_vars *vars, int64_t now_ms,
                      sse_access_grants_fn grants, void *grants_src,
                      struct sse_access_decision *d)
{
    const struct sse_config *cfg = a->cfg;
    d->status = 0;
    d->refusal = 0;
    d->reason[0] = '\0';
    d->until_ms = INT64_MAX;
    d->token_used = 0;
    if (!a->enabled)
        return 0;

    char tok[SSE_TOKEN_MAX + 1];
    size_t tlen = 0;
    const char *from = NULL;
    int found = sse_access_find_token(vars, tok, sizeof tok, &tlen, &from);
    if (found < 0)
        return refuse(d, 403, SSE_REFUSED_BAD_TOKEN,
                      "bad token: longer than %d bytes or badly escaped",
                      SSE_TOKEN_MAX);
    const char *user = vars->remote_user;
    if (user && user[0] == '\0')
        user = NULL;
    /* Credentials a browser adds by itself must not work for a page of
     * another site that asks for the stream. */
    int ambient = (found && strcmp(from, "cookie") == 0) || user;
    if (ambient && vars->origin && !sse_response_same_origin(vars) &&
        !origin_listed(cfg, vars->origin))
        return refuse(d, 403, SSE_REFUSED_ORIGIN,
                      "origin not allowed to send credentials: add it to "
                      "cors-origins");

    struct coverage cv = {
        .req = req, .user = user, .ulen = user ? strlen(user) : 0};
    for (size_t i = 0; i < req->nchannels; i++)
        cv.until[i] = NOT_COVERED;
    int64_t token_until = INT64_MAX;
    if (found) {
        use_token(a, tok, tlen, now_ms, &cv, d, &token_until);
        if (d->status)
            return 0;
    }
    if (user) {
        for (size_t i = 0; i < cfg->nuser_channels; i++)
            cover(&cv, cfg->user_channels[i], strlen(cfg->user_channels[i]),
                  INT64_MAX);
        if (grants) {
            int rc = grants(grants_src, user, now_ms, grant_row, &cv);
            if (rc)
                return rc;
        }
    }
    for (size_t i = 0; i < cfg->npublic_channels; i++)
        cover(&cv, cfg->public_channels[i], strlen(cfg->public_channels[i]),
              INT64_MAX);

    int64_t until = token_until;
    for (size_t i = 0; i < req->nchannels; i++) {
        if (cv.until[i] == NOT_COVERED) {
            if (!found && !user)
                return refuse(d, 401, SSE_REFUSED_NO_CREDENTIAL,
                              "credential required: channel %s is not public",
                              req->channels[i]);
            return refuse(d, 403, SSE_REFUSED_NOT_GRANTED,
                          "channel %s not granted", req->channels[i]);
        }
        if (cv.until[i] < until)
            until = cv.until[i];
    }
    d->until_ms = until;
    return 0;
}
