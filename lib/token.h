/* token.h - signed access tokens: JSON Web Tokens (RFC 7519), HS256 only.
 * SPDX-License-Identifier: MIT
 *
 * A token is what a browser's EventSource can carry (a cookie or a query
 * parameter) to prove that the application let its bearer read some
 * channels until some time. Claims read:
 *   exp       required, seconds since the epoch: refused from then on;
 *   nbf       optional: refused before it;
 *   sub       optional: the user, for "{user}" in the channels (pattern.h);
 *   channels  required: an array of patterns the bearer may read.
 * Other claims (iat, jti, aud, ...) are ignored. The header must name
 * "alg": "HS256"; "none", every other algorithm, a "crit" header, a header
 * or payload that is not a JSON object (duplicate keys included), and a
 * token over SSE_TOKEN_MAX bytes are refused before any claim is read.
 * No leeway: exp and nbf are exact (publisher and worker share a host or
 * a synchronised clock).
 *
 * Why OpenSSL's HMAC() and jansson rather than libjwt. Debian 12 has both
 * (libssl3 is on every host; jansson is what libjwt itself parses JSON
 * with). libjwt 1.10.2, Debian 12's, decodes with the algorithm named by
 * the token's own header and has no claim validation (no jwt_valid), so
 * pinning HS256, checking exp and nbf and reading the channels array would
 * be ours anyway; it verifies against one key per decode (key rotation
 * needs a decode per secret), needed a security update for a non
 * constant-time signature compare (CVE-2024-25189), and would add libjwt
 * and libb64 to every install. What remains here is not cryptography:
 * base64url around OpenSSL's EVP_EncodeBlock/EVP_DecodeBlock, the one-shot
 * HMAC() (not deprecated in OpenSSL 3) and CRYPTO_memcmp for the
 * constant-time compare, and JSON through jansson with duplicate keys
 * refused. The signature is checked before the payload is parsed.
 *
 * Secrets: a file of one secret per line (the line's bytes without its
 * line ending are the HMAC key). A token signed with any of them is
 * accepted, so a new secret can be added before the old one is removed;
 * tokens are signed with the first. The file must be a regular file that
 * others (besides owner and group) cannot read, write or execute, with at
 * least one secret, each at least SSE_TOKEN_SECRET_MIN bytes (RFC 7518
 * 3.2: an HS256 key as long as the hash). Secrets never leave this module:
 * no error message quotes one, and they are wiped when freed.
 *
 * Thread-safety: a loaded struct sse_token_secrets is read-only and may be
 * shared by every thread; sse_token_verify is reentrant.
 */
#ifndef SSE_TOKEN_H
#define SSE_TOKEN_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "pattern.h"

#define SSE_TOKEN_MAX 8192        /* bytes of a token */
#define SSE_TOKEN_MAX_SECRETS 16  /* lines of a secret file */
#define SSE_TOKEN_SECRET_MIN 32   /* bytes of one secret */
#define SSE_TOKEN_SECRET_MAX 1024 /* bytes of one secret */
#define SSE_TOKEN_MAX_CHANNELS 64 /* patterns in the channels claim */
#define SSE_TOKEN_SUB_MAX 255     /* bytes of the sub claim */
#define SSE_TOKEN_ALG "HS256"

struct sse_token_secrets;

/* Loads the secrets of path. Returns 0 with *out owned by the caller (free
 * with sse_token_secrets_free), or SSE_EINVAL/SSE_ENOENT/SSE_EIO/SSE_ENOMEM
 * with err (capacity errlen) naming the file and what is wrong with it
 * (missing, not a regular file, mode, empty, a line too short or too
 * long), never its contents. */
int sse_token_secrets_load(const char *path, struct sse_token_secrets **out,
                           char *err, size_t errlen);

/* Wipes and frees. NULL-safe. */
void sse_token_secrets_free(struct sse_token_secrets *s);

/* How many secrets were loaded (at least 1). */
size_t sse_token_secrets_count(const struct sse_token_secrets *s);

/* The verified claims of a token. Owns no heap memory. */
struct sse_token_claims {
    int64_t exp_s; /* seconds since the epoch */
    int64_t nbf_s; /* 0 when absent */
    int has_sub;
    char sub[SSE_TOKEN_SUB_MAX + 1]; /* NUL-terminated when has_sub */
    size_t nchannels;                /* 0..SSE_TOKEN_MAX_CHANNELS */
    /* Each a valid template (sse_pattern_template_valid), as written. */
    char channels[SSE_TOKEN_MAX_CHANNELS][SSE_PATTERN_MAX + 1];
};

/* Why a token was refused (0 = accepted). */
enum sse_token_verdict {
    SSE_TOKEN_OK = 0,
    SSE_TOKEN_MALFORMED,     /* not three base64url parts of JSON objects */
    SSE_TOKEN_TOO_LONG,      /* over SSE_TOKEN_MAX bytes */
    SSE_TOKEN_BAD_ALG,       /* alg is not HS256, or a crit header */
    SSE_TOKEN_BAD_SIGNATURE, /* signed with none of the secrets */
    SSE_TOKEN_BAD_CLAIMS,    /* exp missing, channels not an array, ... */
    SSE_TOKEN_EXPIRED,       /* now >= exp */
    SSE_TOKEN_NOT_YET_VALID  /* now < nbf */
};

/* Verifies token[0..len) against the secrets at now_s (seconds since the
 * epoch). Returns an enum sse_token_verdict; on SSE_TOKEN_OK *claims is
 * filled, otherwise it is unspecified. *why (may be NULL) is set to a
 * static one-line phrase for the refusal ("token expired"), "" when
 * accepted; it never quotes the token. */
int sse_token_verify(const struct sse_token_secrets *s, const char *token,
                     size_t len, int64_t now_s, struct sse_token_claims *claims,
                     const char **why);

/* Appends to out a token signed with the first secret, with exp, iat =
 * now_s, sub when has_sub, and channels from claims (nbf when nbf_s > 0).
 * Returns 0, SSE_EINVAL for a claim this module would refuse (a channel
 * that is not a valid template, exp <= now_s, a sub too long) or a buffer
 * error; out unchanged on failure. */
int sse_token_sign(const struct sse_token_secrets *s,
                   const struct sse_token_claims *claims, int64_t now_s,
                   struct sse_buf *out);

#endif
