/* check_token.c - unit tests for lib/token.c (signed access tokens).
 * SPDX-License-Identifier: MIT
 *
 * The tokens below were made outside sselite (Python's hmac, hashlib and
 * base64 modules: HMAC-SHA256 over "header.payload", base64url without
 * padding), so verification is checked against an independent signer, and
 * against the HS256 example of RFC 7515 appendix A.1.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "sse_error.h"
#include "testutil.h"
#include "token.h"

#define SECRET1 "0123456789abcdef0123456789abcdef"
#define SECRET2 "ANOTHER-secret-ANOTHER-secret-ANOTHER"
#define NOW 1700000000LL /* before every exp below */
#define EXP 2000000000LL

#define TOK_GOOD                                                               \
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9."                                    \
    "eyJleHAiOjIwMDAwMDAwMDAsInN1YiI6ImFsaWNlIiwiY2hhbm5lbHMiOlsidXNlci97dXNl" \
    "cn0vKiIsIm5ld3MiXX0.DhPhtBrWYsH9NV2Xa4N5hTvA9IjmoeHuY7TXeJDcjtw"
#define TOK_OTHER_SECRET                                                       \
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9."                                    \
    "eyJleHAiOjIwMDAwMDAwMDAsInN1YiI6ImFsaWNlIiwiY2hhbm5lbHMiOlsidXNlci97dXNl" \
    "cn0vKiIsIm5ld3MiXX0.STOy5G9WnXd7-ynswPX81FkK7s5jOWvprG-a6Aa1xgg"
#define TOK_NBF                                                                \
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9."                                    \
    "eyJleHAiOjIwMDAwMDAwMDAsIm5iZiI6MTgwMDAwMDAwMCwiY2hhbm5lbHMiOltdfQ."      \
    "02w3qV4hcwuQU6u65F-Z764EsgTMkzoPMiNcn5kN2qw"
#define TOK_ALG_NONE                                                           \
    "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0."                                     \
    "eyJleHAiOjIwMDAwMDAwMDAsInN1YiI6ImFsaWNlIiwiY2hhbm5lbHMiOlsidXNlci97dXNl" \
    "cn0vKiIsIm5ld3MiXX0."
#define TOK_ALG_HS512                                                          \
    "eyJhbGciOiJIUzUxMiIsInR5cCI6IkpXVCJ9."                                    \
    "eyJleHAiOjIwMDAwMDAwMDAsInN1YiI6ImFsaWNlIiwiY2hhbm5lbHMiOlsidXNlci97dXNl" \
    "cn0vKiIsIm5ld3MiXX0.ujJaAGncuWi0PUA7hWo0Cwt-"                             \
    "GdZobM9br3cyhbQPvbCou1w1wVNYnB6rq3vRPnEB3cin_X63cYAiU8R7BBKhaw"
#define TOK_ALG_RS256                                                          \
    "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9."                                    \
    "eyJleHAiOjIwMDAwMDAwMDAsInN1YiI6ImFsaWNlIiwiY2hhbm5lbHMiOlsidXNlci97dXNl" \
    "cn0vKiIsIm5ld3MiXX0.eJLWixwfm80Dz_Odk5aTDyd821DLE3ADVkYmADOKJec"
#define TOK_ALG_LOWER                                                          \
    "eyJhbGciOiJoczI1NiJ9."                                                    \
    "eyJleHAiOjIwMDAwMDAwMDAsInN1YiI6ImFsaWNlIiwiY2hhbm5lbHMiOlsidXNlci97dXNl" \
    "cn0vKiIsIm5ld3MiXX0.Yp5azEkUfTBHKaMbLn4xoYtxOsLNLJOAbjV59mk9Jlk"
#define TOK_CRIT                                                               \
    "eyJhbGciOiJIUzI1NiIsImNyaXQiOlsiYjY0Il0sImI2NCI6ZmFsc2V9."                \
    "eyJleHAiOjIwMDAwMDAwMDAsInN1YiI6ImFsaWNlIiwiY2hhbm5lbHMiOlsidXNlci97dXNl" \
    "cn0vKiIsIm5ld3MiXX0.dnCkSQ1yD3VSv_Dq_0_-FQbYnHBJdgdsDHkjeXZ_qTQ"
#define TOK_CHANNELS_STRING                                                    \
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9."                                    \
    "eyJleHAiOjIwMDAwMDAwMDAsImNoYW5uZWxzIjoibmV3cyJ9.4-Mpb9cl49MDupPupG-"     \
    "YFQO6W9oup5rtzQT_WGlE4Ko"
#define TOK_NO_CHANNELS                                                        \
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJleHAiOjIwMDAwMDAwMDB9.8xyYwb_"    \
    "6CVamGVu7853gWDSacxElN6qYFFUkhwu6VVQ"
#define TOK_NO_EXP                                                             \
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJjaGFubmVscyI6WyJuZXdzIl19."       \
    "Ssp39ozu39c6pq0knLWiJiOLta0G3x7npsbCC1yt28o"
#define TOK_EXP_STRING                                                         \
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9."                                    \
    "eyJleHAiOiIyMDAwMDAwMDAwIiwiY2hhbm5lbHMiOlsibmV3cyJdfQ."                  \
    "p3hLiR0FMHYGcWSFuRXVY7-u2PiE8OvHNOeL0FYtKH0"
#define TOK_EXP_REAL                                                           \
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9."                                    \
    "eyJleHAiOjIwMDAwMDAwMDAuNzUsImNoYW5uZWxzIjpbIm5ld3MiXX0."                 \
    "vgeR6sfsEYyanHpI0i0FqdmiO4GI47psCXoykeazqVE"
#define TOK_BAD_PATTERN                                                        \
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9."                                    \
    "eyJleHAiOjIwMDAwMDAwMDAsImNoYW5uZWxzIjpbIm5ld3MqIl19.Pv4E_"               \
    "Poim8XoSPVMYZaX-NXTaClBFVTys6s5fkOGFYY"
#define TOK_DUP_KEYS                                                           \
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9."                                    \
    "eyJleHAiOjIwMDAwMDAwMDAsImNoYW5uZWxzIjpbImEiXSwiY2hhbm5lbHMiOlsiKiJdfQ.-" \
    "wu95SpE4f7Nw5ZNtkC_LH9WpfwOUXdTidKT0MHND7I"
#define TOK_HEADER_NOT_JSON                                                    \
    "YWxnPUhTMjU2."                                                            \
    "eyJleHAiOjIwMDAwMDAwMDAsInN1YiI6ImFsaWNlIiwiY2hhbm5lbHMiOlsidXNlci97dXNl" \
    "cn0vKiIsIm5ld3MiXX0.VRKmID1lTnrngXvn3XKadS7UntwldESLVGCulvYb61Q"
#define TOK_HEADER_ARRAY                                                       \
    "WyJIUzI1NiJd."                                                            \
    "eyJleHAiOjIwMDAwMDAwMDAsInN1YiI6ImFsaWNlIiwiY2hhbm5lbHMiOlsidXNlci97dXNl" \
    "cn0vKiIsIm5ld3MiXX0.X-iKo4f5bET7TSYE1DopyNyvC5GkmryEAylA0EFRQBI"
#define TOK_SUB_NUMBER                                                         \
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9."                                    \
    "eyJleHAiOjIwMDAwMDAwMDAsInN1YiI6NDIsImNoYW5uZWxzIjpbXX0."                 \
    "Blk8Dg6HeG7dcu8o5Z-aIzYLboGJtzA86Mj0ocKC4tg"
#define TOK_PAYLOAD_TRAILING                                                   \
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9."                                    \
    "eyJleHAiOjIwMDAwMDAwMDAsImNoYW5uZWxzIjpbXX0geA."                          \
    "8t0Y2aIf7LpgGcMUPilzz0q0cBpycuIQxBdlXCW2_Gg"
#define TOK_TAMPERED                                                           \
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9."                                    \
    "eyJleHAiOjIwMDAwMDAwMDAsInN1YiI6ImFsaWNlIiwiY2hhbm5lbHMiOlsiKiJdfQ."      \
    "DhPhtBrWYsH9NV2Xa4N5hTvA9IjmoeHuY7TXeJDcjtw"

/* RFC 7515 appendix A.1: its key (64 bytes), token and exp (1300819380). */
static const unsigned char RFC_KEY[64] = {
    0x03, 0x23, 0x35, 0x4b, 0x2b, 0x0f, 0xa5, 0xbc, 0x83, 0x7e, 0x06,
    0x65, 0x77, 0x7b, 0xa6, 0x8f, 0x5a, 0xb3, 0x28, 0xe6, 0xf0, 0x54,
    0xc9, 0x28, 0xa9, 0x0f, 0x84, 0xb2, 0xd2, 0x50, 0x2e, 0xbf, 0xd3,
    0xfb, 0x5a, 0x92, 0xd2, 0x06, 0x47, 0xef, 0x96, 0x8a, 0xb4, 0xc3,
    0x77, 0x62, 0x3d, 0x22, 0x3d, 0x2e, 0x21, 0x72, 0x05, 0x2e, 0x4f,
    0x08, 0xc0, 0xcd, 0x9a, 0xf5, 0x67, 0xd0, 0x80, 0xa3};
#define RFC_TOKEN                                                              \
    "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9.eyJpc3MiOiJqb2UiLA0KICJleHAiOjE" \
    "zMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ.dBjftJeZ" \
    "4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"

static char *dir;

static void setup(void)
{
    dir = tu_tmpdir_new();
}

static void teardown(void)
{
    tu_tmpdir_remove(dir);
    dir = NULL;
}

/* Writes bytes to dir/name with mode; returns the path (owned). */
static char *secret_file(const char *name, const void *bytes, size_t n,
                         mode_t mode)
{
    char *p = tu_path(dir, name);
    tu_write_file(p, bytes, n);
    ck_assert_int_eq(chmod(p, mode), 0);
    return p;
}

static struct sse_token_secrets *load_ok(const char *contents)
{
    char *p = secret_file("secrets", contents, strlen(contents), 0640);
    struct sse_token_secrets *s = NULL;
    char err[256] = "";
    int rc = sse_token_secrets_load(p, &s, err, sizeof err);
    ck_assert_msg(rc == 0, "load: %s", err);
    free(p);
    return s;
}

static int verify_at(const struct sse_token_secrets *s, const char *tok,
                     long long now, struct sse_token_claims *c)
{
    const char *why = NULL;
    int v = sse_token_verify(s, tok, strlen(tok), now, c, &why);
    ck_assert_ptr_nonnull(why);
    ck_assert_ptr_null(strchr(why, '\n'));
    ck_assert_int_eq(v == SSE_TOKEN_OK, why[0] == '\0');
    return v;
}

static int verify(const struct sse_token_secrets *s, const char *tok)
{
    struct sse_token_claims c;
    return verify_at(s, tok, NOW, &c);
}

/* --- verification ------------------------------------------------------- */

START_TEST(test_token_verify_good_claims)
{
    struct sse_token_secrets *s = load_ok(SECRET1 "\n");
    struct sse_token_claims c;
    ck_assert_int_eq(verify_at(s, TOK_GOOD, NOW, &c), SSE_TOKEN_OK);
    ck_assert_int_eq(c.exp_s, EXP);
    ck_assert_int_eq(c.nbf_s, 0);
    ck_assert_int_eq(c.has_sub, 1);
    ck_assert_str_eq(c.sub, "alice");
    ck_assert_uint_eq(c.nchannels, 2);
    ck_assert_str_eq(c.channels[0], "user/{user}/*");
    ck_assert_str_eq(c.channels[1], "news");
    sse_token_secrets_free(s);
}
END_TEST

START_TEST(test_token_verify_rfc7515_vector)
{
    /* The signature verifies (so the verdict is about the claims: this
     * token has no channels), and a wrong key is told apart. */
    char *p = secret_file("rfc", RFC_KEY, sizeof RFC_KEY, 0600);
    struct sse_token_secrets *s = NULL;
    char err[256];
    ck_assert_int_eq(sse_token_secrets_load(p, &s, err, sizeof err), 0);
    struct sse_token_claims c;
    ck_assert_int_eq(verify_at(s, RFC_TOKEN, 1300819379, &c),
                     SSE_TOKEN_BAD_CLAIMS);
    sse_token_secrets_free(s);
    s = load_ok(SECRET1);
    ck_assert_int_eq(verify_at(s, RFC_TOKEN, 1300819379, &c),
                     SSE_TOKEN_BAD_SIGNATURE);
    sse_token_secrets_free(s);
    free(p);
}
END_TEST

START_TEST(test_token_verify_other_secret_refused)
{
    struct sse_token_secrets *s = load_ok(SECRET1 "\n");
    ck_assert_int_eq(verify(s, TOK_OTHER_SECRET), SSE_TOKEN_BAD_SIGNATURE);
    sse_token_secrets_free(s);
}
END_TEST

START_TEST(test_token_verify_any_secret_of_the_file)
{
    /* Rotation: the new secret first (it signs), the old one still
     * accepted; CRLF line endings and blank lines are not key bytes. */
    struct sse_token_secrets *s = load_ok(SECRET2 "\r\n\r\n" SECRET1 "\r\n");
    ck_assert_uint_eq(sse_token_secrets_count(s), 2);
    ck_assert_int_eq(verify(s, TOK_GOOD), SSE_TOKEN_OK);
    ck_assert_int_eq(verify(s, TOK_OTHER_SECRET), SSE_TOKEN_OK);
    sse_token_secrets_free(s);
}
END_TEST

START_TEST(test_token_verify_expired_at_exp)
{
    struct sse_token_secrets *s = load_ok(SECRET1);
    struct sse_token_claims c;
    ck_assert_int_eq(verify_at(s, TOK_GOOD, EXP - 1, &c), SSE_TOKEN_OK);
    ck_assert_int_eq(verify_at(s, TOK_GOOD, EXP, &c), SSE_TOKEN_EXPIRED);
    ck_assert_int_eq(verify_at(s, TOK_GOOD, EXP + 100000, &c),
                     SSE_TOKEN_EXPIRED);
    sse_token_secrets_free(s);
}
END_TEST

START_TEST(test_token_verify_not_yet_valid)
{
    struct sse_token_secrets *s = load_ok(SECRET1);
    struct sse_token_claims c;
    ck_assert_int_eq(verify_at(s, TOK_NBF, NOW, &c), SSE_TOKEN_NOT_YET_VALID);
    ck_assert_int_eq(verify_at(s, TOK_NBF, 1800000000, &c), SSE_TOKEN_OK);
    ck_assert_int_eq(c.nbf_s, 1800000000);
    ck_assert_uint_eq(c.nchannels, 0);
    sse_token_secrets_free(s);
}
END_TEST

START_TEST(test_token_verify_algorithm_pinned)
{
    struct sse_token_secrets *s = load_ok(SECRET1);
    ck_assert_int_eq(verify(s, TOK_ALG_NONE), SSE_TOKEN_BAD_ALG);
    ck_assert_int_eq(verify(s, TOK_ALG_HS512), SSE_TOKEN_BAD_ALG);
    ck_assert_int_eq(verify(s, TOK_ALG_RS256), SSE_TOKEN_BAD_ALG);
    ck_assert_int_eq(verify(s, TOK_ALG_LOWER), SSE_TOKEN_BAD_ALG);
    ck_assert_int_eq(verify(s, TOK_CRIT), SSE_TOKEN_BAD_ALG);
    sse_token_secrets_free(s);
}
END_TEST

START_TEST(test_token_verify_tampered_payload)
{
    struct sse_token_secrets *s = load_ok(SECRET1);
    ck_assert_int_eq(verify(s, TOK_TAMPERED), SSE_TOKEN_BAD_SIGNATURE);
    sse_token_secrets_free(s);
}
END_TEST

START_TEST(test_token_verify_bad_claims)
{
    struct sse_token_secrets *s = load_ok(SECRET1);
    ck_assert_int_eq(verify(s, TOK_CHANNELS_STRING), SSE_TOKEN_BAD_CLAIMS);
    ck_assert_int_eq(verify(s, TOK_NO_CHANNELS), SSE_TOKEN_BAD_CLAIMS);
    ck_assert_int_eq(verify(s, TOK_NO_EXP), SSE_TOKEN_BAD_CLAIMS);
    ck_assert_int_eq(verify(s, TOK_EXP_STRING), SSE_TOKEN_BAD_CLAIMS);
    ck_assert_int_eq(verify(s, TOK_BAD_PATTERN), SSE_TOKEN_BAD_CLAIMS);
    ck_assert_int_eq(verify(s, TOK_SUB_NUMBER), SSE_TOKEN_BAD_CLAIMS);
    sse_token_secrets_free(s);
}
END_TEST

START_TEST(test_token_verify_real_exp_floored)
{
    struct sse_token_secrets *s = load_ok(SECRET1);
    struct sse_token_claims c;
    ck_assert_int_eq(verify_at(s, TOK_EXP_REAL, NOW, &c), SSE_TOKEN_OK);
    ck_assert_int_eq(c.exp_s, EXP);
    sse_token_secrets_free(s);
}
END_TEST

START_TEST(test_token_verify_malformed_json)
{
    struct sse_token_secrets *s = load_ok(SECRET1);
    ck_assert_int_eq(verify(s, TOK_DUP_KEYS), SSE_TOKEN_MALFORMED);
    ck_assert_int_eq(verify(s, TOK_HEADER_NOT_JSON), SSE_TOKEN_MALFORMED);
    ck_assert_int_eq(verify(s, TOK_HEADER_ARRAY), SSE_TOKEN_MALFORMED);
    ck_assert_int_eq(verify(s, TOK_PAYLOAD_TRAILING), SSE_TOKEN_MALFORMED);
    sse_token_secrets_free(s);
}
END_TEST

START_TEST(test_token_verify_malformed_shape)
{
    struct sse_token_secrets *s = load_ok(SECRET1);
    static const char good[] = TOK_GOOD;
    char t[sizeof good + 8];
    /* Every truncation is refused. */
    for (size_t n = 0; n < sizeof good - 1; n++) {
        memcpy(t, good, n);
        t[n] = '\0';
        ck_assert_msg(verify(s, t) != SSE_TOKEN_OK, "truncated to %zu", n);
    }
    ck_assert_int_eq(verify(s, ""), SSE_TOKEN_MALFORMED);
    ck_assert_int_eq(verify(s, "a.b"), SSE_TOKEN_MALFORMED);
    snprintf(t, sizeof t, "%s.", good);
    ck_assert_int_eq(verify(s, t), SSE_TOKEN_MALFORMED);
    snprintf(t, sizeof t, "%s=", good); /* padding is not base64url */
    ck_assert_int_eq(verify(s, t), SSE_TOKEN_MALFORMED);
    /* The signature's last character with spare bits set ('w' is 48,
     * 'x' 49): the same bytes, not the canonical text. */
    snprintf(t, sizeof t, "%s", good);
    ck_assert_int_eq(t[strlen(t) - 1], 'w');
    t[strlen(t) - 1] = 'x';
    ck_assert_int_eq(verify(s, t), SSE_TOKEN_MALFORMED);
    /* A NUL inside: the length, not the C string, is the token. */
    snprintf(t, sizeof t, "%s", good);
    struct sse_token_claims c;
    ck_assert_int_eq(sse_token_verify(s, t, strlen(t) + 1, NOW, &c, NULL),
                     SSE_TOKEN_MALFORMED);
    sse_token_secrets_free(s);
}
END_TEST

START_TEST(test_token_verify_too_long)
{
    struct sse_token_secrets *s = load_ok(SECRET1);
    size_t n = SSE_TOKEN_MAX + 1;
    char *t = malloc(n + 1);
    ck_assert_ptr_nonnull(t);
    memset(t, 'a', n);
    t[n] = '\0';
    t[10] = t[20] = '.';
    ck_assert_int_eq(verify(s, t), SSE_TOKEN_TOO_LONG);
    free(t);
    sse_token_secrets_free(s);
}
END_TEST

/* --- signing ------------------------------------------------------------ */

START_TEST(test_token_sign_round_trip)
{
    struct sse_token_secrets *s = load_ok(SECRET1 "\n" SECRET2 "\n");
    struct sse_token_claims in = {.exp_s = NOW + 900, .has_sub = 1};
    snprintf(in.sub, sizeof in.sub, "bob");
    in.nchannels = 2;
    snprintf(in.channels[0], sizeof in.channels[0], "user/{user}/*");
    snprintf(in.channels[1], sizeof in.channels[1], "orders:*");
    struct sse_buf b;
    sse_buf_init(&b, 0);
    ck_assert_int_eq(sse_token_sign(s, &in, NOW, &b), 0);
    struct sse_token_claims out;
    ck_assert_int_eq(verify_at(s, b.data, NOW, &out), SSE_TOKEN_OK);
    ck_assert_int_eq(out.exp_s, NOW + 900);
    ck_assert_str_eq(out.sub, "bob");
    ck_assert_uint_eq(out.nchannels, 2);
    ck_assert_str_eq(out.channels[1], "orders:*");
    ck_assert_int_eq(verify_at(s, b.data, NOW + 900, &out), SSE_TOKEN_EXPIRED);
    /* Signed with the first secret: a file with only the second refuses. */
    struct sse_token_secrets *only2 = load_ok(SECRET2);
    ck_assert_int_eq(verify_at(only2, b.data, NOW, &out),
                     SSE_TOKEN_BAD_SIGNATURE);
    sse_token_secrets_free(only2);
    sse_buf_cleanup(&b);
    sse_token_secrets_free(s);
}
END_TEST

START_TEST(test_token_sign_refuses_what_verify_refuses)
{
    struct sse_token_secrets *s = load_ok(SECRET1);
    struct sse_buf b;
    sse_buf_init(&b, 0);
    struct sse_token_claims in = {.exp_s = NOW, .nchannels = 1};
    snprintf(in.channels[0], sizeof in.channels[0], "news");
    ck_assert_int_eq(sse_token_sign(s, &in, NOW, &b), SSE_EINVAL); /* exp */
    in.exp_s = NOW + 1;
    snprintf(in.channels[0], sizeof in.channels[0], "news*");
    ck_assert_int_eq(sse_token_sign(s, &in, NOW, &b), SSE_EINVAL);
    ck_assert_uint_eq(b.len, 0);
    sse_buf_cleanup(&b);
    sse_token_secrets_free(s);
}
END_TEST

/* --- the secret file ---------------------------------------------------- */

static int load_fails(const char *path, char *err, size_t errlen)
{
    struct sse_token_secrets *s = (struct sse_token_secrets *)1;
    int rc = sse_token_secrets_load(path, &s, err, errlen);
    ck_assert_int_ne(rc, 0);
    ck_assert_ptr_eq(s, (struct sse_token_secrets *)1); /* untouched */
    ck_assert_ptr_nonnull(strstr(err, path));           /* names the file */
    ck_assert_ptr_null(strstr(err, SECRET1));           /* never the key */
    ck_assert_ptr_null(strchr(err, '\n'));
    return rc;
}

START_TEST(test_token_secrets_missing_file)
{
    char err[512];
    char *p = tu_path(dir, "absent");
    ck_assert_int_eq(load_fails(p, err, sizeof err), SSE_ENOENT);
    free(p);
}
END_TEST

START_TEST(test_token_secrets_readable_by_others_refused)
{
    char err[512];
    char *p = secret_file("open", SECRET1, 32, 0644);
    ck_assert_int_eq(load_fails(p, err, sizeof err), SSE_EINVAL);
    ck_assert_ptr_nonnull(strstr(err, "0644"));
    ck_assert_int_eq(chmod(p, 0602), 0); /* writable by others */
    load_fails(p, err, sizeof err);
    ck_assert_int_eq(chmod(p, 0640), 0); /* the group may read */
    struct sse_token_secrets *s = NULL;
    ck_assert_int_eq(sse_token_secrets_load(p, &s, err, sizeof err), 0);
    sse_token_secrets_free(s);
    free(p);
}
END_TEST

START_TEST(test_token_secrets_empty_refused)
{
    char err[512];
    char *p = secret_file("empty", "", 0, 0600);
    load_fails(p, err, sizeof err);
    ck_assert_ptr_nonnull(strstr(err, "no secret"));
    free(p);
    p = secret_file("blank", "\n\r\n\n", 4, 0600);
    load_fails(p, err, sizeof err);
    free(p);
}
END_TEST

START_TEST(test_token_secrets_short_line_refused)
{
    char err[512];
    static const char text[] = SECRET1 "\nshort-secret\n";
    char *p = secret_file("short", text, sizeof text - 1, 0600);
    load_fails(p, err, sizeof err);
    ck_assert_ptr_nonnull(strstr(err, "line 2"));
    ck_assert_ptr_null(strstr(err, "short-secret"));
    free(p);
}
END_TEST

START_TEST(test_token_secrets_directory_refused)
{
    char err[512];
    ck_assert_int_eq(chmod(dir, 0700), 0);
    load_fails(dir, err, sizeof err);
}
END_TEST

static Suite *token_suite(void)
{
    Suite *s = suite_create("token");
    TCase *tc = tcase_create("verify");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_token_verify_good_claims);
    tcase_add_test(tc, test_token_verify_rfc7515_vector);
    tcase_add_test(tc, test_token_verify_other_secret_refused);
    tcase_add_test(tc, test_token_verify_any_secret_of_the_file);
    tcase_add_test(tc, test_token_verify_expired_at_exp);
    tcase_add_test(tc, test_token_verify_not_yet_valid);
    tcase_add_test(tc, test_token_verify_algorithm_pinned);
    tcase_add_test(tc, test_token_verify_tampered_payload);
    tcase_add_test(tc, test_token_verify_bad_claims);
    tcase_add_test(tc, test_token_verify_real_exp_floored);
    tcase_add_test(tc, test_token_verify_malformed_json);
    tcase_add_test(tc, test_token_verify_malformed_shape);
    tcase_add_test(tc, test_token_verify_too_long);
    suite_add_tcase(s, tc);
    tc = tcase_create("sign");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_token_sign_round_trip);
    tcase_add_test(tc, test_token_sign_refuses_what_verify_refuses);
    suite_add_tcase(s, tc);
    tc = tcase_create("secrets");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_token_secrets_missing_file);
    tcase_add_test(tc, test_token_secrets_readable_by_others_refused);
    tcase_add_test(tc, test_token_secrets_empty_refused);
    tcase_add_test(tc, test_token_secrets_short_line_refused);
    tcase_add_test(tc, test_token_secrets_directory_refused);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run_suite(token_suite());
}
