/* access.h - who may read what: the access decision at the handshake.
 * SPDX-License-Identifier: MIT
 *
 * Off unless one of auth-secret-file, user-channels or public-channels is
 * set; then a channel no rule grants is private. What a request may read
 * is the union of what three sources grant:
 *   - a signed token (token.h) from the cookie "sselite_token", else the
 *     query parameter "token", else "Authorization: Bearer": the
 *     patterns of its channels claim ("{user}" = its sub), until its exp;
 *   - the web server's user (REMOTE_USER): the user-channels templates and
 *     the grants table's rows for that principal, each until its
 *     expires_at ("{user}" = the name);
 *   - public-channels.
 * Every requested pattern must be covered whole by one grant (pattern.h,
 * sse_pattern_covers): otherwise 401 when the request carries no
 * credential at all, 403 when it does. A token that is present but bad,
 * expired or not yet valid is refused (403) whatever the channels: never
 * a fall-back to anonymous. A request whose credentials are ambient (the
 * cookie, or REMOTE_USER, which a browser's stored password or session
 * also sends cross-site) and whose Origin is another site's is served
 * only to an Origin listed exactly in cors-origins (CSRF).
 *
 * The decision also says until when the answer holds: the earliest time
 * one of the requested patterns stops being covered (the latest expiry
 * among the grants covering it), and the token's exp when a token was
 * used (a reconnect with it would be refused from then on). The stream
 * ends by then (stream.c). Since every requested pattern is covered and
 * every path of a stream (backlog, replay, long poll, ring, the hub's
 * direct writes, sselite tail's reads) delivers only rows of the
 * requested patterns, no path delivers a row the request was not granted.
 *
 * Thread-safety: a struct sse_access is read-only after sse_access_new and
 * shared by every thread; sse_access_decide is reentrant.
 */
#ifndef SSE_ACCESS_H
#define SSE_ACCESS_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "metrics.h"
#include "request.h"

#define SSE_ACCESS_COOKIE "sselite_token"
#define SSE_ACCESS_QUERY "token"

struct sse_access;

/* Builds the policy of cfg (borrowed for the policy's lifetime), loading
 * the auth-secret-file when set. Returns 0 with *out owned by the caller
 * (sse_access_free), or an error with err naming the setting or file and
 * what is wrong (sse_token_secrets_load); the secret never appears. */
int sse_access_new(const struct sse_config *cfg, struct sse_access **out,
                   char *err, size_t errlen);

/* NULL-safe. Wipes the secrets. */
void sse_access_free(struct sse_access *a);

/* 1 when access control is on, 0 when every channel is public. */
int sse_access_enabled(const struct sse_access *a);

/* Called by sse_access_decide for each grants-table row of principal
 * that has not expired at now_ms (expires_ms INT64_MAX for none); the
 * pattern is borrowed for the call. Return 0 to go on. */
typedef int (*sse_access_grant_fn)(void *ctx, const char *pattern, size_t len,
                                   int64_t expires_ms);

/* Lists the grants of principal through fn; returns 0 or a negative
 * SSE_E* code (the database cannot be read). */
typedef int (*sse_access_grants_fn)(void *src, const char *principal,
                                    int64_t now_ms, sse_access_grant_fn fn,
                                    void *ctx);

struct sse_access_decision {
    int status;       /* 0: allowed; else 401 or 403 */
    int refusal;      /* enum sse_access_refusal when status != 0 */
    char reason[200]; /* one line, never the token: the answer's body */
    int64_t until_ms; /* allowed: ends by then; INT64_MAX for never */
    int token_used;   /* a valid token was part of the decision */
};

/* Decides whether req (parsed from vars) may be served at now_ms, and
 * until when. grants (may be NULL: no grants table) is asked for the rows
 * of REMOTE_USER. Returns 0 with *d filled, or the grants source's error
 * (then nothing may be served: answer as a fault). */
int sse_access_decide(const struct sse_access *a, const struct sse_request *req,
                      const struct sse_request_vars *vars, int64_t now_ms,
                      sse_access_grants_fn grants, void *grants_src,
                      struct sse_access_decision *d);

/* Finds the request's token: the first sselite_token cookie, else the
 * first token query parameter (percent-decoded), else an Authorization
 * Bearer header. Writes it to out (capacity cap) with its length in
 * *len and returns 1; returns 0 when the request carries none; -1 when
 * it carries one that does not fit (over SSE_TOKEN_MAX) or does not
 * decode. *from (may be NULL) is set to "cookie", "query" or "header". */
int sse_access_find_token(const struct sse_request_vars *vars, char *out,
                          size_t cap, size_t *len, const char **from);

#endif
