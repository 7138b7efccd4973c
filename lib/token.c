/* token.c - signed access tokens: JSON Web Tokens (RFC 7519), HS256 only.
 * SPDX-License-Identifier: MIT
 *
 * The order of the checks is the point: size, shape (three base64url
 * parts in canonical form), header (a JSON object naming HS256, no crit),
 * signature (HMAC-SHA256 under each secret, compared in constant time),
 * and only then the payload's JSON and claims. Nothing an attacker wrote
 * in the payload is parsed before the signature holds. See token.h for
 * why this is built on OpenSSL and jansson rather than libjwt.
 */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <math.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sse_error.h"
#include "token.h"

#define MAC_LEN 32           /* SHA-256 */
#define FILE_MAX (64 * 1024) /* bytes of a secret file */
/* NumericDate bounds: beyond year 292277 in ms would overflow int64. */
#define TIME_MAX ((int64_t)1 << 52)

struct secret {
    unsigned char *key;
    size_t len;
};

struct sse_token_secrets {
    size_t n;
    struct secret s[SSE_TOKEN_MAX_SECRETS];
};

void sse_token_secrets_free(struct sse_token_secrets *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->n; i++) {
        OPENSSL_cleanse(s->s[i].key, s->s[i].len);
        free(s->s[i].key);
    }
    OPENSSL_cleanse(s, sizeof *s);
    free(s);
}

size_t sse_token_secrets_count(const struct sse_token_secrets *s)
{
    return s->n;
}

/* Reads the whole of the open file fd (at most FILE_MAX bytes) into a new
 * buffer *out of *len bytes. */
static int read_all(int fd, unsigned char **out, size_t *len)
{
    unsigned char *buf = malloc(FILE_MAX + 1);
    if (!buf)
        return SSE_ENOMEM;
    size_t n = 0;
    for (;;) {
        ssize_t r = read(fd, buf + n, FILE_MAX + 1 - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            OPENSSL_cleanse(buf, n);
            free(buf);
            return SSE_EIO;
        }
        if (r == 0)
            break;
        n += (size_t)r;
        if (n > FILE_MAX) {
            OPENSSL_cleanse(buf, n);
            free(buf);
            return SSE_ETOOBIG;
        }
    }
    *out = buf;
    *len = n;
    return 0;
}

/* Splits the file's bytes into secrets (empty lines skipped). */
static int parse_lines(const char *path, const unsigned char *b, size_t n,
                       struct sse_token_secrets *s, char *err, size_t errlen)
{
    size_t line = 0;
    for (size_t i = 0; i < n;) {
        const unsigned char *nl = memchr(b + i, '\n', n - i);
        size_t end = nl ? (size_t)(nl - b) : n;
        size_t len = end - i;
        line++;
        if (len > 0 && b[i + len - 1] == '\r')
            len--;
        if (len > 0) {
            if (len < SSE_TOKEN_SECRET_MIN || len > SSE_TOKEN_SECRET_MAX) {
                snprintf(err, errlen,
                         "auth-secret-file '%s': line %zu: a secret must be "
                         "%d to %d bytes (it is %zu)",
                         path, line, SSE_TOKEN_SECRET_MIN, SSE_TOKEN_SECRET_MAX,
                         len);
                return SSE_EINVAL;
            }
            if (s->n == SSE_TOKEN_MAX_SECRETS) {
                snprintf(err, errlen,
                         "auth-secret-file '%s': more than %d secrets", path,
                         SSE_TOKEN_MAX_SECRETS);
                return SSE_EINVAL;
            }
            struct secret *k = &s->s[s->n];
            k->key = malloc(len);
            if (!k->key)
                return SSE_ENOMEM;
            memcpy(k->key, b + i, len);
            k->len = len;
            s->n++;
        }
        i = end + 1;
    }
    if (s->n == 0) {
        snprintf(err, errlen, "auth-secret-file '%s': holds no secret", path);
        return SSE_EINVAL;
    }
    return 0;
}

int sse_token_secrets_load(const char *path, struct sse_token_secrets **out,
                           char *err, size_t errlen)
{
    struct sse_token_secrets *s = NULL;
    unsigned char *bytes = NULL;
    size_t n = 0;
    int rc = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        snprintf(err, errlen, "auth-secret-file '%s': cannot open: %s", path,
                 strerror(e));
        return e == ENOENT ? SSE_ENOENT : SSE_EIO;
    }
    struct stat sb;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        snprintf(err, errlen, "auth-secret-file '%s': not a regular file",
                 path);
        rc = SSE_EINVAL;
        goto out;
    }
    /* Whoever can read it can mint tokens for every channel. */
    if (sb.st_mode & S_IRWXO) {
        snprintf(err, errlen,
                 "auth-secret-file '%s': mode %04o lets others than its "
                 "owner and group use it; chmod o-rwx '%s'",
                 path, (unsigned)(sb.st_mode & 07777), path);
        rc = SSE_EINVAL;
        goto out;
    }
    rc = read_all(fd, &bytes, &n);
    if (rc) {
        snprintf(err, errlen, "auth-secret-file '%s': %s", path,
                 rc == SSE_ETOOBIG ? "larger than 64 KiB" : "cannot be read");
        goto out;
    }
    s = calloc(1, sizeof *s);
    if (!s) {
        rc = SSE_ENOMEM;
        goto out;
    }
    rc = parse_lines(path, bytes, n, s, err, errlen);
out:
    close(fd);
    if (bytes) {
        OPENSSL_cleanse(bytes, n);
        free(bytes);
    }
    if (rc) {
        sse_token_secrets_free(s);
        return rc;
    }
    *out = s;
    return 0;
}

/* --- base64url (RFC 4648 section 5, no padding) --- */

static int b64url_char(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
           (c >= '0' && c <= '9') || c == '-' || c == '_';
}

/* Appends the unpadded base64url form of p[0..n) to out. */
static int b64url_encode(struct sse_buf *out, const unsigned char *p, size_t n)
{
    if (n > SSE_TOKEN_MAX)
        return SSE_ETOOBIG;
    unsigned char tmp[4 * ((SSE_TOKEN_MAX + 2) / 3) + 1];
    int len = EVP_EncodeBlock(tmp, p, (int)n);
    while (len > 0 && tmp[len - 1] == '=')
        len--;
    for (int i = 0; i < len; i++)
        tmp[i] = tmp[i] == '+' ? '-' : tmp[i] == '/' ? '_' : tmp[i];
    return sse_buf_append(out, tmp, (size_t)len);
}

/* The 6-bit value of a base64url character (checked by b64url_char). */
static unsigned b64url_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    return c == '-' ? 62 : 63;
}

/* Decodes the unpadded base64url text s[0..n) into out (capacity cap) and
 * sets *outlen. Refuses other characters, padding, impossible lengths and
 * non-canonical forms (bits set past the last byte), so every value has
 * one encoding. Returns 0 or SSE_EINVAL. */
static int b64url_decode(const char *s, size_t n, unsigned char *out,
                         size_t cap, size_t *outlen)
{
    if (n % 4 == 1 || n > SSE_TOKEN_MAX)
        return SSE_EINVAL;
    unsigned char in[SSE_TOKEN_MAX + 4];
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!b64url_char(c))
            return SSE_EINVAL;
        in[i] = c == '-' ? '+' : c == '_' ? '/' : c;
    }
    /* 2 characters carry 1 byte (4 bits to spare), 3 carry 2 (2 bits). */
    unsigned spare = n % 4 == 2 ? 0x0F : n % 4 == 3 ? 0x03 : 0;
    if (n && (b64url_value((unsigned char)s[n - 1]) & spare))
        return SSE_EINVAL;
    size_t pad = (4 - n % 4) % 4, padded = n + pad;
    memset(in + n, '=', pad);
    size_t len = padded / 4 * 3 - pad;
    if (len > cap)
        return SSE_EINVAL;
    /* EVP_DecodeBlock writes whole groups (a padded one as 3 bytes), so
     * it writes to a buffer of its own; the real length is len. */
    unsigned char tmp[SSE_TOKEN_MAX];
    if (padded && EVP_DecodeBlock(tmp, in, (int)padded) < 0)
        return SSE_EINVAL;
    memcpy(out, tmp, len);
    *outlen = len;
    return 0;
}

/* --- JSON --- */

/* Parses b[0..n) as one JSON object (no duplicate keys, nothing after it).
 * Returns a new reference or NULL. */
static json_t *parse_object(const unsigned char *b, size_t n)
{
    json_error_t e;
    json_t *j = json_loadb((const char *)b, n, JSON_REJECT_DUPLICATES, &e);
    if (j && !json_is_object(j)) {
        json_decref(j);
        j = NULL;
    }
    return j;
}

/* Reads a NumericDate (an integer or a real number of seconds). Returns 0
 * with *out, or -1 for another type or a value out of range. */
static int numeric_date(const json_t *v, int64_t *out)
{
    if (json_is_integer(v)) {
        json_int_t i = json_integer_value(v);
        if (i < 0 || i > TIME_MAX)
            return -1;
        *out = (int64_t)i;
        return 0;
    }
    if (json_is_real(v)) {
        double d = json_real_value(v);
        if (!(d >= 0 && d <= (double)TIME_MAX))
            return -1;
        *out = (int64_t)floor(d);
        return 0;
    }
    return -1;
}

static int verdict(int v, const char **why)
{
    static const char *const phrases[] = {
        [SSE_TOKEN_OK] = "",
        [SSE_TOKEN_MALFORMED] = "bad token: not a well-formed JWT",
        [SSE_TOKEN_TOO_LONG] = "bad token: longer than 8192 bytes",
        [SSE_TOKEN_BAD_ALG] = "bad token: the algorithm must be HS256",
        [SSE_TOKEN_BAD_SIGNATURE] = "bad token: signature does not verify",
        [SSE_TOKEN_BAD_CLAIMS] =
            "bad token: claims need exp and a channels array of patterns",
        [SSE_TOKEN_EXPIRED] = "token expired",
        [SSE_TOKEN_NOT_YET_VALID] = "token not yet valid (nbf)",
    };
    if (why)
        *why = phrases[v];
    return v;
}

/* The header: a JSON object with "alg": "HS256" and no "crit". */
static int check_header(const unsigned char *h, size_t n)
{
    json_t *j = parse_object(h, n);
    if (!j)
        return SSE_TOKEN_MALFORMED;
    const json_t *alg = json_object_get(j, "alg");
    int ok = json_is_string(alg) &&
             json_string_length(alg) == sizeof SSE_TOKEN_ALG - 1 &&
             memcmp(json_string_value(alg), SSE_TOKEN_ALG,
                    sizeof SSE_TOKEN_ALG - 1) == 0 &&
             json_object_get(j, "crit") == NULL;
    json_decref(j);
    return ok ? SSE_TOKEN_OK : SSE_TOKEN_BAD_ALG;
}

/* 1 if mac is the HMAC-SHA256 of msg[0..n) under any secret. Every secret
 * is tried, so the time taken does not tell which one matched. */
static int signature_matches(const struct sse_token_secrets *s,
                             const unsigned char *msg, size_t n,
                             const unsigned char mac[MAC_LEN])
{
    int ok = 0;
    for (size_t i = 0; i < s->n; i++) {
        unsigned char md[EVP_MAX_MD_SIZE];
        unsigned int mdlen = 0;
        if (!HMAC(EVP_sha256(), s->s[i].key, (int)s->s[i].len, msg, n, md,
                  &mdlen) ||
            mdlen != MAC_LEN)
            continue;
        ok |= CRYPTO_memcmp(md, mac, MAC_LEN) == 0;
        OPENSSL_cleanse(md, sizeof md);
    }
    return ok;
}

/* Copies the claims of the payload object into c. */
static int read_claims(const json_t *p, struct sse_token_claims *c)
{
    if (numeric_date(json_object_get(p, "exp"), &c->exp_s))
        return SSE_TOKEN_BAD_CLAIMS;
    c->nbf_s = 0;
    const json_t *nbf = json_object_get(p, "nbf");
    if (nbf && numeric_date(nbf, &c->nbf_s))
        return SSE_TOKEN_BAD_CLAIMS;
    c->has_sub = 0;
    const json_t *sub = json_object_get(p, "sub");
    if (sub) {
        size_t n = json_is_string(sub) ? json_string_length(sub) : 0;
        if (!json_is_string(sub) || n > SSE_TOKEN_SUB_MAX)
            return SSE_TOKEN_BAD_CLAIMS;
        memcpy(c->sub, json_string_value(sub), n + 1);
        c->has_sub = 1;
    }
    const json_t *chans = json_object_get(p, "channels");
    if (!json_is_array(chans) ||
        json_array_size(chans) > SSE_TOKEN_MAX_CHANNELS)
        return SSE_TOKEN_BAD_CLAIMS;
    c->nchannels = 0;
    size_t i;
    const json_t *v;
    json_array_foreach(chans, i, v)
    {
        size_t n = json_is_string(v) ? json_string_length(v) : 0;
        if (!json_is_string(v) || n > SSE_PATTERN_MAX ||
            !sse_pattern_template_valid(json_string_value(v), n))
            return SSE_TOKEN_BAD_CLAIMS;
        memcpy(c->channels[c->nchannels++], json_string_value(v), n + 1);
    }
    return SSE_TOKEN_OK;
}

int sse_token_verify(const struct sse_token_secrets *s, const char *token,
                     size_t len, int64_t now_s, struct sse_token_claims *claims,
                     const char **why)
{
    if (len > SSE_TOKEN_MAX)
        return verdict(SSE_TOKEN_TOO_LONG, why);
    const char *dot1 = token ? memchr(token, '.', len) : NULL;
    const char *dot2 =
        dot1 ? memchr(dot1 + 1, '.', len - (size_t)(dot1 + 1 - token)) : NULL;
    if (!dot2 || memchr(dot2 + 1, '.', len - (size_t)(dot2 + 1 - token)))
        return verdict(SSE_TOKEN_MALFORMED, why);
    size_t hlen = (size_t)(dot1 - token);
    size_t plen = (size_t)(dot2 - dot1 - 1);
    size_t slen = len - (size_t)(dot2 + 1 - token);

    unsigned char part[SSE_TOKEN_MAX];
    size_t n;
    if (b64url_decode(token, hlen, part, sizeof part, &n))
        return verdict(SSE_TOKEN_MALFORMED, why);
    int v = check_header(part, n);
    if (v)
        return verdict(v, why);

    unsigned char mac[MAC_LEN];
    if (b64url_decode(dot2 + 1, slen, part, sizeof part, &n))
        return verdict(SSE_TOKEN_MALFORMED, why);
    if (n != MAC_LEN)
        return verdict(SSE_TOKEN_BAD_SIGNATURE, why);
    memcpy(mac, part, MAC_LEN);
    if (!signature_matches(s, (const unsigned char *)token,
                           (size_t)(dot2 - token), mac))
        return verdict(SSE_TOKEN_BAD_SIGNATURE, why);

    if (b64url_decode(dot1 + 1, plen, part, sizeof part, &n))
        return verdict(SSE_TOKEN_MALFORMED, why);
    json_t *payload = parse_object(part, n);
    if (!payload)
        return verdict(SSE_TOKEN_MALFORMED, why);
    v = read_claims(payload, claims);
    json_decref(payload);
    if (v)
        return verdict(v, why);
    if (now_s >= claims->exp_s)
        return verdict(SSE_TOKEN_EXPIRED, why);
    if (now_s < claims->nbf_s)
        return verdict(SSE_TOKEN_NOT_YET_VALID, why);
    return verdict(SSE_TOKEN_OK, why);
}

/* Appends the base64url of j's compact serialisation to out. */
static int append_json(struct sse_buf *out, const json_t *j)
{
    char *text = json_dumps(j, JSON_COMPACT);
    if (!text)
        return SSE_ENOMEM;
    int rc = b64url_encode(out, (const unsigned char *)text, strlen(text));
    free(text);
    return rc;
}

/* Builds the payload object of claims; NULL for a claim verify would
 * refuse or no memory. */
static json_t *payload_of(const struct sse_token_claims *c, int64_t now_s)
{
    if (c->exp_s <= now_s || c->exp_s > TIME_MAX || c->nbf_s < 0 ||
        c->nbf_s > TIME_MAX || c->nchannels > SSE_TOKEN_MAX_CHANNELS ||
        (c->has_sub && strlen(c->sub) > SSE_TOKEN_SUB_MAX))
        return NULL;
    json_t *chans = json_array();
    for (size_t i = 0; chans && i < c->nchannels; i++) {
        size_t n = strnlen(c->channels[i], SSE_PATTERN_MAX + 1);
        if (!sse_pattern_template_valid(c->channels[i], n) ||
            json_array_append_new(chans, json_string(c->channels[i]))) {
            json_decref(chans);
            chans = NULL;
        }
    }
    json_t *p = chans ? json_object() : NULL;
    int bad =
        !p || json_object_set_new(p, "exp", json_integer(c->exp_s)) ||
        json_object_set_new(p, "iat", json_integer(now_s)) ||
        (c->nbf_s > 0 &&
         json_object_set_new(p, "nbf", json_integer(c->nbf_s))) ||
        (c->has_sub && json_object_set_new(p, "sub", json_string(c->sub))) ||
        json_object_set(p, "channels", chans);
    json_decref(chans);
    if (bad) {
        json_decref(p);
        return NULL;
    }
    return p;
}

int sse_token_sign(const struct sse_token_secrets *s,
                   const struct sse_token_claims *claims, int64_t now_s,
                   struct sse_buf *out)
{
    json_t *payload = payload_of(claims, now_s);
    if (!payload)
        return SSE_EINVAL;
    json_t *header =
        json_pack("{s:s, s:s}", "alg", SSE_TOKEN_ALG, "typ", "JWT");
    struct sse_buf t;
    sse_buf_init(&t, SSE_TOKEN_MAX);
    int rc = header ? append_json(&t, header) : SSE_ENOMEM;
    if (!rc)
        rc = sse_buf_append(&t, ".", 1);
    if (!rc)
        rc = append_json(&t, payload);
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    if (!rc && !HMAC(EVP_sha256(), s->s[0].key, (int)s->s[0].len,
                     (const unsigned char *)t.data, t.len, md, &mdlen))
        rc = SSE_ENOMEM;
    if (!rc)
        rc = sse_buf_append(&t, ".", 1);
    if (!rc)
        rc = b64url_encode(&t, md, mdlen);
    if (!rc && t.len > SSE_TOKEN_MAX)
        rc = SSE_ETOOBIG;
    if (!rc)
        rc = sse_buf_append(out, t.data, t.len);
    OPENSSL_cleanse(md, sizeof md);
    sse_buf_cleanup(&t);
    json_decref(header);
    json_decref(payload);
    return rc;
}
