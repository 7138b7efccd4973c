/* fuzz_token.c - libFuzzer target: signed access tokens (lib/token.c).
 * SPDX-License-Identifier: MIT
 *
 * The first byte picks what the rest of the input is:
 *   0: a whole token, as a client sends it;
 *   1: the payload JSON of a token whose header is {"alg":"HS256"} and
 *      whose signature is right (computed here with OpenSSL), so the claim
 *      parser sees arbitrary JSON behind a valid signature;
 *   2: the header JSON of a correctly signed token with a valid payload.
 * Properties: every verdict is a known one with a one-line phrase; an
 * accepted token has claims inside their limits (exp after now, nbf not
 * after now, each channel a valid template) and signs back (sse_token_sign)
 * into a token that verifies to the same claims; in mode 2 only a header
 * whose alg is exactly HS256 can be accepted.
 */
#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "fuzz.h"
#include "sse_error.h"
#include "token.h"

#define SECRET "fuzz-secret-fuzz-secret-fuzz-secret-0123"
#define NOW 1700000000LL

static struct sse_token_secrets *secrets;

static void load_secrets(void)
{
    char path[] = "/tmp/sselite-fuzz-secret-XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    CHECK(write(fd, SECRET "\n", sizeof SECRET) == (ssize_t)sizeof SECRET);
    close(fd);
    char err[256];
    CHECK(sse_token_secrets_load(path, &secrets, err, sizeof err) == 0);
    unlink(path);
}

static void b64url(struct sse_buf *out, const unsigned char *p, size_t n)
{
    unsigned char *tmp = malloc(4 * ((n + 2) / 3) + 1);
    CHECK(tmp);
    int len = EVP_EncodeBlock(tmp, p, (int)n);
    while (len > 0 && tmp[len - 1] == '=')
        len--;
    for (int i = 0; i < len; i++)
        tmp[i] = tmp[i] == '+' ? '-' : tmp[i] == '/' ? '_' : tmp[i];
    CHECK(sse_buf_append(out, tmp, (size_t)len) == 0);
    free(tmp);
}

/* header.payload.signature with the right HS256 signature. */
static void signed_token(struct sse_buf *out, const unsigned char *h, size_t hn,
                         const unsigned char *p, size_t pn)
{
    b64url(out, h, hn);
    CHECK(sse_buf_append(out, ".", 1) == 0);
    b64url(out, p, pn);
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    CHECK(HMAC(EVP_sha256(), SECRET, (int)strlen(SECRET),
               (const unsigned char *)out->data, out->len, md, &mdlen));
    CHECK(sse_buf_append(out, ".", 1) == 0);
    b64url(out, md, mdlen);
}

static int header_is_hs256(const unsigned char *h, size_t n)
{
    json_error_t e;
    json_t *j = json_loadb((const char *)h, n, JSON_REJECT_DUPLICATES, &e);
    const json_t *alg = json_is_object(j) ? json_object_get(j, "alg") : NULL;
    int ok = json_is_string(alg) && json_string_length(alg) == 5 &&
             memcmp(json_string_value(alg), "HS256", 5) == 0;
    json_decref(j);
    return ok;
}

static void check_claims(const struct sse_token_claims *c)
{
    CHECK(c->exp_s > NOW && c->nbf_s <= NOW);
    CHECK(c->nchannels <= SSE_TOKEN_MAX_CHANNELS);
    for (size_t i = 0; i < c->nchannels; i++)
        CHECK(
            sse_pattern_template_valid(c->channels[i], strlen(c->channels[i])));
    CHECK(!c->has_sub || strlen(c->sub) <= SSE_TOKEN_SUB_MAX);
}

/* An accepted token's claims sign into a token with the same claims. */
static void check_resign(const struct sse_token_claims *c)
{
    struct sse_buf t;
    sse_buf_init(&t, 0);
    struct sse_token_claims again;
    int rc = sse_token_sign(secrets, c, NOW, &t);
    /* Only a token grown past the size limit may fail to sign. */
    if (rc == 0) {
        CHECK(sse_token_verify(secrets, t.data, t.len, NOW, &again, NULL) ==
              SSE_TOKEN_OK);
        CHECK(again.exp_s == c->exp_s && again.nbf_s == c->nbf_s &&
              again.has_sub == c->has_sub && again.nchannels == c->nchannels);
        CHECK(!c->has_sub || strcmp(again.sub, c->sub) == 0);
        for (size_t i = 0; i < c->nchannels; i++)
            CHECK(strcmp(again.channels[i], c->channels[i]) == 0);
    } else {
        CHECK(rc == SSE_ETOOBIG);
    }
    sse_buf_cleanup(&t);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!secrets)
        load_secrets();
    if (size == 0)
        return 0;
    static const char header[] = "{\"alg\":\"HS256\"}";
    static const char payload[] =
        "{\"exp\":2000000000,\"sub\":\"u\",\"channels\":[\"a/{user}/*\"]}";
    int mode = data[0] % 3;
    struct sse_buf t;
    sse_buf_init(&t, 0);
    if (mode == 0)
        CHECK(sse_buf_append(&t, data + 1, size - 1) == 0);
    else if (mode == 1)
        signed_token(&t, (const unsigned char *)header, sizeof header - 1,
                     data + 1, size - 1);
    else
        signed_token(&t, data + 1, size - 1, (const unsigned char *)payload,
                     sizeof payload - 1);
    /* An exact-size copy, so ASan sees any read past the end. */
    char *tok = malloc(t.len ? t.len : 1);
    CHECK(tok);
    memcpy(tok, t.data ? t.data : "", t.len);
    struct sse_token_claims c;
    const char *why = NULL;
    int v = sse_token_verify(secrets, tok, t.len, NOW, &c, &why);
    CHECK(v >= SSE_TOKEN_OK && v <= SSE_TOKEN_NOT_YET_VALID);
    CHECK(why && !strchr(why, '\n') && (v == SSE_TOKEN_OK) == (why[0] == 0));
    if (mode == 2 && v == SSE_TOKEN_OK)
        CHECK(header_is_hs256(data + 1, size - 1));
    if (mode != 0 && t.len <= SSE_TOKEN_MAX)
        CHECK(v != SSE_TOKEN_BAD_SIGNATURE && v != SSE_TOKEN_TOO_LONG);
    if (v == SSE_TOKEN_OK) {
        check_claims(&c);
        check_resign(&c);
    }
    free(tok);
    sse_buf_cleanup(&t);
    return 0;
}
