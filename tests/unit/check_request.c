/* check_request.c - unit tests for lib/request.c (request parsing).
 * SPDX-License-Identifier: MIT
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "request.h"
#include "sse_error.h"
#include "sse_limits.h"
#include "testutil.h"

static struct sse_request_vars get_vars(const char *query)
{
    struct sse_request_vars v;
    memset(&v, 0, sizeof(v));
    v.method = "GET";
    v.query = query;
    return v;
}

static void parse_ok(const struct sse_request_vars *v, struct sse_request *req)
{
    struct sse_request_error err;
    memset(&err, 0, sizeof(err));
    int rc = sse_request_parse(v, req, &err);
    ck_assert_msg(rc == 0, "refused (rc %d): %d %s", rc, err.status,
                  err.reason);
}

static void parse_query_ok(const char *query, struct sse_request *req)
{
    struct sse_request_vars v = get_vars(query);
    parse_ok(&v, req);
}

/* The reason must be one non-empty line of printable text. */
static void assert_reason_one_line(const struct sse_request_error *err)
{
    const char *end = memchr(err->reason, '\0', sizeof(err->reason));
    ck_assert_ptr_nonnull(end);
    ck_assert_ptr_ne(end, err->reason);
    for (const char *p = err->reason; p < end; p++)
        ck_assert_msg((unsigned char)*p >= 0x20 && *p != 0x7F,
                      "control byte 0x%02x in reason '%s'", (unsigned char)*p,
                      err->reason);
}

/* Parses v expecting a refusal with status; returns the error. */
static struct sse_request_error parse_fails(const struct sse_request_vars *v,
                                            int status)
{
    struct sse_request req;
    struct sse_request_error err;
    memset(&err, 0, sizeof(err));
    int rc = sse_request_parse(v, &req, &err);
    ck_assert_msg(rc == SSE_EINVAL || rc == SSE_ETOOBIG,
                  "accepted or odd rc %d", rc);
    ck_assert_int_eq(err.status, status);
    assert_reason_one_line(&err);
    return err;
}

static struct sse_request_error parse_query_fails(const char *query)
{
    struct sse_request_vars v = get_vars(query);
    return parse_fails(&v, 400);
}

static void assert_reason_mentions(const struct sse_request_error *err,
                                   const char *word)
{
    ck_assert_msg(strcasestr(err->reason, word) != NULL,
                  "reason '%s' does not mention '%s'", err->reason, word);
}

static int has(const struct sse_request *req, const char *name)
{
    return sse_request_has_channel(req, name, strlen(name));
}

/* --- channels ------------------------------------------------------------ */

START_TEST(test_request_parse_channel_patterns_accepted)
{
    struct sse_request req;
    parse_query_ok("channel=orders%3A*&channel=user/42/*&channel=news", &req);
    ck_assert_uint_eq(req.nchannels, 3);
    ck_assert_str_eq(req.channels[0], "orders:*");
    ck_assert_int_eq(req.kinds[0], SSE_PATTERN_PREFIX);
    ck_assert_str_eq(req.channels[1], "user/42/*");
    ck_assert_int_eq(req.kinds[1], SSE_PATTERN_PREFIX);
    ck_assert_int_eq(req.kinds[2], SSE_PATTERN_EXACT);
}
END_TEST

START_TEST(test_request_parse_channel_bad_patterns_refused)
{
    static const char *const bad[] = {"channel=user/4*", "channel=a/*/b",
                                      "channel=**", "channel=user*",
                                      "channel=a/%5Bx%5D/*"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct sse_request_error err = parse_query_fails(bad[i]);
        assert_reason_mentions(&err, "prefix");
    }
}
END_TEST

START_TEST(test_request_parse_channel_covered_patterns_merged)
{
    struct sse_request req;
    parse_query_ok("channel=user/42/x&channel=user/4/*&channel=user/42/*"
                   "&channel=user/42/a/*&channel=user/4",
                   &req);
    /* The name user/42/x and the prefix user/42/a/ lie inside the prefix
     * user/42/; the name user/4 and the prefix user/4/ do not (no
     * separator after the "4" of user/42). */
    ck_assert_uint_eq(req.nchannels, 3);
    ck_assert_str_eq(req.channels[0], "user/4/*");
    ck_assert_str_eq(req.channels[1], "user/42/*");
    ck_assert_str_eq(req.channels[2], "user/4");
    ck_assert_int_eq(req.kinds[2], SSE_PATTERN_EXACT);
}
END_TEST

START_TEST(test_request_parse_channel_star_alone)
{
    struct sse_request req;
    parse_query_ok("channel=news&channel=*&channel=a:*", &req);
    ck_assert_uint_eq(req.nchannels, 1);
    ck_assert_str_eq(req.channels[0], "*");
    ck_assert_int_eq(req.kinds[0], SSE_PATTERN_ALL);
}
END_TEST

START_TEST(test_request_pattern_matches)
{
    struct sse_request req;
    parse_query_ok("channel=user/42/*&channel=news&channel=o:*", &req);
    ck_assert_int_eq(sse_request_pattern_matches(&req, 0, "user/42/x"), 1);
    ck_assert_int_eq(sse_request_pattern_matches(&req, 0, "user/42"), 0);
    ck_assert_int_eq(sse_request_pattern_matches(&req, 0, "user/420/x"), 0);
    ck_assert_int_eq(sse_request_pattern_matches(&req, 1, "news"), 1);
    ck_assert_int_eq(sse_request_pattern_matches(&req, 1, "news2"), 0);
    ck_assert_int_eq(sse_request_pattern_matches(&req, 2, "o:"), 1);
    ck_assert_int_eq(sse_request_pattern_matches(&req, 2, "o"), 0);
    parse_query_ok("channel=*", &req);
    ck_assert_int_eq(sse_request_pattern_matches(&req, 0, "anything"), 1);
}
END_TEST

START_TEST(test_request_parse_defaults)
{
    struct sse_request req;
    parse_query_ok("", &req);
    ck_assert_int_eq(req.method, SSE_METHOD_GET);
    ck_assert_uint_eq(req.nchannels, 1);
    ck_assert_str_eq(req.channels[0], SSE_CHANNEL_DEFAULT);
    ck_assert_int_eq(req.resume_source, SSE_RESUME_NONE);
    ck_assert_int_eq(req.replay, -1);
    ck_assert_int_eq(req.longpoll, 0);
    ck_assert_int_eq(req.padding, 0);
}
END_TEST

START_TEST(test_request_parse_null_query_defaults)
{
    struct sse_request req;
    parse_query_ok(NULL, &req);
    ck_assert_uint_eq(req.nchannels, 1);
    ck_assert_str_eq(req.channels[0], SSE_CHANNEL_DEFAULT);
    ck_assert_int_eq(req.resume_source, SSE_RESUME_NONE);
}
END_TEST

START_TEST(test_request_parse_channel_single)
{
    struct sse_request req;
    parse_query_ok("channel=news", &req);
    ck_assert_uint_eq(req.nchannels, 1);
    ck_assert_str_eq(req.channels[0], "news");
    ck_assert_int_eq(has(&req, SSE_CHANNEL_DEFAULT), 0);
}
END_TEST

START_TEST(test_request_parse_channel_repeat)
{
    struct sse_request req;
    parse_query_ok("channel=a&channel=b&channel=c", &req);
    ck_assert_uint_eq(req.nchannels, 3);
    ck_assert_int_eq(has(&req, "a"), 1);
    ck_assert_int_eq(has(&req, "b"), 1);
    ck_assert_int_eq(has(&req, "c"), 1);
}
END_TEST

START_TEST(test_request_parse_channel_dedupe)
{
    struct sse_request req;
    parse_query_ok("channel=a&channel=b&channel=a&channel=a", &req);
    ck_assert_uint_eq(req.nchannels, 2);
    ck_assert_str_ne(req.channels[0], req.channels[1]);
}
END_TEST

START_TEST(test_request_parse_channel_case_distinct)
{
    struct sse_request req;
    parse_query_ok("channel=a&channel=A", &req);
    ck_assert_uint_eq(req.nchannels, 2);
}
END_TEST

/* Builds "channel=c0&channel=c1&..." for n channels, each repeated reps
 * times. */
static char *many_channels(int n, int reps)
{
    size_t cap = (size_t)(n * reps) * 16 + 1;
    char *q = malloc(cap);
    ck_assert_ptr_nonnull(q);
    size_t len = 0;
    q[0] = '\0';
    for (int r = 0; r < reps; r++)
        for (int i = 0; i < n; i++)
            len += (size_t)snprintf(q + len, cap - len, "%schannel=c%d",
                                    len ? "&" : "", i);
    return q;
}

START_TEST(test_request_parse_channel_limit_accepted)
{
    struct sse_request req;
    char *q = many_channels(SSE_REQUEST_MAX_CHANNELS, 1);
    parse_query_ok(q, &req);
    ck_assert_uint_eq(req.nchannels, SSE_REQUEST_MAX_CHANNELS);
    ck_assert_int_eq(has(&req, "c0"), 1);
    ck_assert_int_eq(has(&req, "c31"), 1);
    free(q);
}
END_TEST

START_TEST(test_request_parse_channel_over_limit_refused)
{
    char *q = many_channels(SSE_REQUEST_MAX_CHANNELS + 1, 1);
    struct sse_request_error err = parse_query_fails(q);
    assert_reason_mentions(&err, "channel");
    free(q);
}
END_TEST

START_TEST(test_request_parse_channel_limit_counts_distinct)
{
    struct sse_request req;
    char *q = many_channels(SSE_REQUEST_MAX_CHANNELS, 3);
    parse_query_ok(q, &req);
    ck_assert_uint_eq(req.nchannels, SSE_REQUEST_MAX_CHANNELS);
    free(q);
}
END_TEST

START_TEST(test_request_parse_channel_space_refused)
{
    struct sse_request_error err = parse_query_fails("channel=a+b");
    assert_reason_mentions(&err, "channel");
}
END_TEST

START_TEST(test_request_parse_channel_encoded_space_refused)
{
    parse_query_fails("channel=a%20b");
}
END_TEST

START_TEST(test_request_parse_channel_empty_refused)
{
    parse_query_fails("channel=");
}
END_TEST

START_TEST(test_request_parse_channel_bare_key_refused)
{
    parse_query_fails("channel");
}
END_TEST

START_TEST(test_request_parse_channel_bad_escape_refused)
{
    parse_query_fails("channel=%zz");
}
END_TEST

START_TEST(test_request_parse_channel_nul_refused)
{
    parse_query_fails("channel=a%00b");
}
END_TEST

START_TEST(test_request_parse_channel_line_break_reason_one_line)
{
    /* Whatever the reason quotes, it stays one line. */
    parse_query_fails("channel=a%0D%0AX-Evil:%201");
}
END_TEST

START_TEST(test_request_parse_channel_percent_encoded)
{
    struct sse_request req;
    parse_query_ok("channel=news%2Fsport&channel=%40me%3Ax", &req);
    ck_assert_int_eq(has(&req, "news/sport"), 1);
    ck_assert_int_eq(has(&req, "@me:x"), 1);
}
END_TEST

START_TEST(test_request_parse_channel_encoded_key)
{
    struct sse_request req;
    parse_query_ok("chan%6Eel=x", &req);
    ck_assert_uint_eq(req.nchannels, 1);
    ck_assert_str_eq(req.channels[0], "x");
}
END_TEST

START_TEST(test_request_parse_channel_max_length)
{
    char q[8 + SSE_CHANNEL_MAX + 1];
    memcpy(q, "channel=", 8);
    memset(q + 8, 'n', SSE_CHANNEL_MAX);
    q[8 + SSE_CHANNEL_MAX] = '\0';
    struct sse_request req;
    parse_query_ok(q, &req);
    ck_assert_uint_eq(strlen(req.channels[0]), SSE_CHANNEL_MAX);
}
END_TEST

START_TEST(test_request_parse_channel_too_long_refused)
{
    char q[8 + SSE_CHANNEL_MAX + 2];
    memcpy(q, "channel=", 8);
    memset(q + 8, 'n', SSE_CHANNEL_MAX + 1);
    q[8 + SSE_CHANNEL_MAX + 1] = '\0';
    parse_query_fails(q);
}
END_TEST

START_TEST(test_request_parse_channel_too_long_encoded_refused)
{
    /* 129 decoded bytes written as 387 raw ones. */
    char q[8 + 3 * (SSE_CHANNEL_MAX + 1) + 1];
    memcpy(q, "channel=", 8);
    for (int i = 0; i <= SSE_CHANNEL_MAX; i++)
        memcpy(q + 8 + 3 * i, "%41", 3);
    q[sizeof(q) - 1] = '\0';
    parse_query_fails(q);
}
END_TEST

START_TEST(test_request_has_channel_absent)
{
    struct sse_request req;
    parse_query_ok("channel=abc", &req);
    ck_assert_int_eq(has(&req, "ab"), 0);
    ck_assert_int_eq(has(&req, "abcd"), 0);
    ck_assert_int_eq(has(&req, ""), 0);
}
END_TEST

START_TEST(test_request_has_channel_len_honoured)
{
    struct sse_request req;
    parse_query_ok("channel=abc", &req);
    ck_assert_int_eq(sse_request_has_channel(&req, "abcdef", 3), 1);
}
END_TEST

/* --- resume point -------------------------------------------------------- */

START_TEST(test_request_parse_last_event_id_header)
{
    struct sse_request_vars v = get_vars("");
    struct sse_request req;
    v.last_event_id = "42";
    parse_ok(&v, &req);
    ck_assert_int_eq(req.resume_source, SSE_RESUME_HEADER);
    ck_assert_int_eq(req.resume_id, 42);
}
END_TEST

START_TEST(test_request_parse_last_event_id_query)
{
    struct sse_request req;
    parse_query_ok("last_event_id=7", &req);
    ck_assert_int_eq(req.resume_source, SSE_RESUME_QUERY);
    ck_assert_int_eq(req.resume_id, 7);
}
END_TEST

START_TEST(test_request_parse_last_event_id_camel_query)
{
    struct sse_request req;
    parse_query_ok("lastEventId=8", &req);
    ck_assert_int_eq(req.resume_source, SSE_RESUME_QUERY);
    ck_assert_int_eq(req.resume_id, 8);
}
END_TEST

START_TEST(test_request_parse_last_event_id_header_wins)
{
    struct sse_request_vars v = get_vars("last_event_id=7&lastEventId=8");
    struct sse_request req;
    v.last_event_id = "42";
    parse_ok(&v, &req);
    ck_assert_int_eq(req.resume_source, SSE_RESUME_HEADER);
    ck_assert_int_eq(req.resume_id, 42);
}
END_TEST

START_TEST(test_request_parse_last_event_id_empty_header_none)
{
    struct sse_request_vars v = get_vars("");
    struct sse_request req;
    v.last_event_id = "";
    parse_ok(&v, &req);
    ck_assert_int_eq(req.resume_source, SSE_RESUME_NONE);
}
END_TEST

START_TEST(test_request_parse_last_event_id_empty_header_query_used)
{
    struct sse_request_vars v = get_vars("lastEventId=9");
    struct sse_request req;
    v.last_event_id = "";
    parse_ok(&v, &req);
    ck_assert_int_eq(req.resume_source, SSE_RESUME_QUERY);
    ck_assert_int_eq(req.resume_id, 9);
}
END_TEST

START_TEST(test_request_parse_last_event_id_zero)
{
    struct sse_request req;
    parse_query_ok("last_event_id=0", &req);
    ck_assert_int_eq(req.resume_source, SSE_RESUME_QUERY);
    ck_assert_int_eq(req.resume_id, 0);
}
END_TEST

START_TEST(test_request_parse_last_event_id_percent_encoded)
{
    struct sse_request req;
    parse_query_ok("last_event_id=%31%32", &req);
    ck_assert_int_eq(req.resume_id, 12);
}
END_TEST

START_TEST(test_request_parse_last_event_id_bad_header_refused)
{
    struct sse_request_vars v = get_vars("");
    v.last_event_id = "abc";
    struct sse_request_error err = parse_fails(&v, 400);
    assert_reason_mentions(&err, "id");
}
END_TEST

START_TEST(test_request_parse_last_event_id_bad_header_beats_good_query)
{
    /* The header wins, also when it is malformed: no silent fallback. */
    struct sse_request_vars v = get_vars("last_event_id=5");
    v.last_event_id = "x5";
    parse_fails(&v, 400);
}
END_TEST

START_TEST(test_request_parse_last_event_id_header_19_digits_refused)
{
    struct sse_request_vars v = get_vars("");
    v.last_event_id = "1000000000000000000";
    parse_fails(&v, 400);
}
END_TEST

START_TEST(test_request_parse_last_event_id_query_sign_refused)
{
    parse_query_fails("last_event_id=%2B5");
    parse_query_fails("last_event_id=-5");
}
END_TEST

START_TEST(test_request_parse_last_event_id_query_space_refused)
{
    parse_query_fails("last_event_id=+5");
    parse_query_fails("lastEventId=5%20");
}
END_TEST

START_TEST(test_request_parse_last_event_id_query_19_digits_refused)
{
    parse_query_fails("lastEventId=9223372036854775807");
}
END_TEST

START_TEST(test_request_parse_last_event_id_query_bad_escape_refused)
{
    parse_query_fails("last_event_id=%3");
}
END_TEST

static int64_t id_ok(const char *s)
{
    int64_t id = -99;
    ck_assert_int_eq(sse_request_parse_id(s, strlen(s), &id), 0);
    return id;
}

static void id_refused(const char *s, size_t len)
{
    int64_t id = -99;
    ck_assert_int_eq(sse_request_parse_id(s, len, &id), SSE_EINVAL);
    ck_assert_int_eq(id, -99);
}

START_TEST(test_request_parse_id_digits)
{
    ck_assert_int_eq(id_ok("12345"), 12345);
}
END_TEST

START_TEST(test_request_parse_id_zero)
{
    ck_assert_int_eq(id_ok("0"), 0);
}
END_TEST

START_TEST(test_request_parse_id_leading_zeros)
{
    ck_assert_int_eq(id_ok("007"), 7);
    ck_assert_int_eq(id_ok("000000000000000000"), 0);
}
END_TEST

START_TEST(test_request_parse_id_18_digits)
{
    ck_assert_int_eq(id_ok("999999999999999999"), 999999999999999999LL);
}
END_TEST

START_TEST(test_request_parse_id_schema_max_round_trips)
{
    /* Every id the schema lets in comes back as a Last-Event-ID. */
    char s[32];
    int n = snprintf(s, sizeof s, "%lld", (long long)SSE_ID_MAX);
    ck_assert(n > 0 && (size_t)n < sizeof s);
    ck_assert_int_eq(id_ok(s), SSE_ID_MAX);
    n = snprintf(s, sizeof s, "%lld", (long long)SSE_ID_MAX + 1);
    ck_assert(n > 0 && (size_t)n < sizeof s);
    id_refused(s, (size_t)n);
}
END_TEST

START_TEST(test_request_parse_id_19_digits_refused)
{
    id_refused("1000000000000000000", 19);
    id_refused("0000000000000000001", 19);
    id_refused("9223372036854775807", 19);
}
END_TEST

START_TEST(test_request_parse_id_many_digits_refused)
{
    id_refused("99999999999999999999999999999999", 32);
}
END_TEST

START_TEST(test_request_parse_id_empty_refused)
{
    id_refused("", 0);
}
END_TEST

START_TEST(test_request_parse_id_sign_refused)
{
    id_refused("+5", 2);
    id_refused("-5", 2);
}
END_TEST

START_TEST(test_request_parse_id_space_refused)
{
    id_refused(" 5", 2);
    id_refused("5 ", 2);
    id_refused("\t5", 2);
}
END_TEST

START_TEST(test_request_parse_id_non_digits_refused)
{
    id_refused("0x10", 4);
    id_refused("1e3", 3);
    id_refused("12a", 3);
    id_refused("\xD9\xA1", 2); /* ARABIC-INDIC DIGIT ONE */
}
END_TEST

START_TEST(test_request_parse_id_nul_refused)
{
    id_refused("1\0002", 3); /* '1', NUL, '2' */
}
END_TEST

START_TEST(test_request_parse_id_len_honoured)
{
    int64_t id = -1;
    ck_assert_int_eq(sse_request_parse_id("12x", 2, &id), 0);
    ck_assert_int_eq(id, 12);
}
END_TEST

/* --- replay, long poll, padding ------------------------------------------ */

START_TEST(test_request_parse_replay_value)
{
    struct sse_request req;
    parse_query_ok("replay=5", &req);
    ck_assert_int_eq(req.replay, 5);
}
END_TEST

START_TEST(test_request_parse_replay_zero)
{
    struct sse_request req;
    parse_query_ok("replay=0", &req);
    ck_assert_int_eq(req.replay, 0);
}
END_TEST

START_TEST(test_request_parse_replay_max)
{
    struct sse_request req;
    parse_query_ok("replay=100000", &req);
    ck_assert_int_eq(req.replay, SSE_REQUEST_MAX_REPLAY);
}
END_TEST

START_TEST(test_request_parse_replay_over_max_refused)
{
    struct sse_request_error err = parse_query_fails("replay=100001");
    assert_reason_mentions(&err, "replay");
}
END_TEST

START_TEST(test_request_parse_replay_malformed_refused)
{
    parse_query_fails("replay=abc");
    parse_query_fails("replay=-1");
    parse_query_fails("replay=99999999999999999999999");
}
END_TEST

START_TEST(test_request_parse_replay_latest)
{
    struct sse_request req;
    parse_query_ok("replay=latest", &req);
    ck_assert_int_eq(req.replay, SSE_REPLAY_LATEST);
    parse_query_ok("replay=%6Catest", &req);
    ck_assert_int_eq(req.replay, SSE_REPLAY_LATEST);
    struct sse_request_error err = parse_query_fails("replay=latest2");
    assert_reason_mentions(&err, "latest");
    parse_query_fails("replay=LATEST");
    parse_query_fails("replay=lates");
}
END_TEST

START_TEST(test_request_parse_longpoll_param)
{
    struct sse_request req;
    parse_query_ok("longpoll=1", &req);
    ck_assert_int_eq(req.longpoll, 1);
}
END_TEST

START_TEST(test_request_parse_longpoll_zero)
{
    struct sse_request req;
    parse_query_ok("longpoll=0", &req);
    ck_assert_int_eq(req.longpoll, 0);
}
END_TEST

/* The long-poll flag the request gets with this X-Requestor header. */
static int longpoll_for(const char *requestor)
{
    struct sse_request_vars v = get_vars("");
    struct sse_request req;
    v.requestor = requestor;
    parse_ok(&v, &req);
    return req.longpoll;
}

START_TEST(test_request_parse_longpoll_requestor_header)
{
    ck_assert_int_eq(longpoll_for("XHR"), 1);
}
END_TEST

START_TEST(test_request_parse_longpoll_requestor_case_insensitive)
{
    ck_assert_int_eq(longpoll_for("xhr"), 1);
    ck_assert_int_eq(longpoll_for("xHr"), 1);
}
END_TEST

START_TEST(test_request_parse_longpoll_other_requestor_stream)
{
    ck_assert_int_eq(longpoll_for("fetch"), 0);
}
END_TEST

START_TEST(test_request_parse_padding_param)
{
    struct sse_request req;
    parse_query_ok("padding=1", &req);
    ck_assert_int_eq(req.padding, 1);
    ck_assert_int_eq(req.longpoll, 0);
}
END_TEST

START_TEST(test_request_parse_all_params_together)
{
    struct sse_request req;
    parse_query_ok("channel=a&lastEventId=3&replay=9&longpoll=1&padding=1",
                   &req);
    ck_assert_int_eq(has(&req, "a"), 1);
    ck_assert_int_eq(req.resume_id, 3);
    ck_assert_int_eq(req.replay, 9);
    ck_assert_int_eq(req.longpoll, 1);
    ck_assert_int_eq(req.padding, 1);
}
END_TEST

START_TEST(test_request_parse_unknown_params_ignored)
{
    struct sse_request req;
    parse_query_ok("_=1700000000000&foo=bar&channel=x&flag&utm_source=a+b",
                   &req);
    ck_assert_uint_eq(req.nchannels, 1);
    ck_assert_str_eq(req.channels[0], "x");
    ck_assert_int_eq(req.resume_source, SSE_RESUME_NONE);
}
END_TEST

START_TEST(test_request_parse_empty_pieces_ignored)
{
    struct sse_request req;
    parse_query_ok("&&channel=x&&", &req);
    ck_assert_str_eq(req.channels[0], "x");
}
END_TEST

/* --- methods and sizes --------------------------------------------------- */

START_TEST(test_request_parse_method_head)
{
    struct sse_request_vars v = get_vars("");
    struct sse_request req;
    v.method = "HEAD";
    parse_ok(&v, &req);
    ck_assert_int_eq(req.method, SSE_METHOD_HEAD);
}
END_TEST

START_TEST(test_request_parse_method_options)
{
    struct sse_request_vars v = get_vars("");
    struct sse_request req;
    v.method = "OPTIONS";
    parse_ok(&v, &req);
    ck_assert_int_eq(req.method, SSE_METHOD_OPTIONS);
}
END_TEST

START_TEST(test_request_parse_method_post_refused)
{
    struct sse_request_vars v = get_vars("");
    v.method = "POST";
    parse_fails(&v, 405);
}
END_TEST

START_TEST(test_request_parse_method_others_refused)
{
    static const char *const bad[] = {"PUT",     "DELETE", "PATCH", "TRACE",
                                      "CONNECT", "GETX",   ""};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct sse_request_vars v = get_vars("");
        v.method = bad[i];
        parse_fails(&v, 405);
    }
}
END_TEST

START_TEST(test_request_parse_method_checked_before_query)
{
    struct sse_request_vars v = get_vars("channel=%zz");
    v.method = "POST";
    parse_fails(&v, 405);
}
END_TEST

static char *query_of_size(size_t n)
{
    char *q = malloc(n + 1);
    ck_assert_ptr_nonnull(q);
    memcpy(q, "channel=x&pad=", 14);
    memset(q + 14, 'p', n - 14);
    q[n] = '\0';
    return q;
}

START_TEST(test_request_parse_query_max_accepted)
{
    struct sse_request req;
    char *q = query_of_size(SSE_REQUEST_MAX_QUERY);
    parse_query_ok(q, &req);
    ck_assert_str_eq(req.channels[0], "x");
    free(q);
}
END_TEST

START_TEST(test_request_parse_query_too_long_414)
{
    char *q = query_of_size(SSE_REQUEST_MAX_QUERY + 1);
    struct sse_request_vars v = get_vars(q);
    parse_fails(&v, 414);
    free(q);
}
END_TEST

START_TEST(test_request_parse_query_huge_414)
{
    char *q = query_of_size(1 << 20);
    struct sse_request_vars v = get_vars(q);
    parse_fails(&v, 414);
    free(q);
}
END_TEST

static Suite *request_suite(void)
{
    Suite *s = suite_create("request");
    TCase *tc = tcase_create("channels");
    tcase_add_test(tc, test_request_parse_defaults);
    tcase_add_test(tc, test_request_parse_null_query_defaults);
    tcase_add_test(tc, test_request_parse_channel_single);
    tcase_add_test(tc, test_request_parse_channel_patterns_accepted);
    tcase_add_test(tc, test_request_parse_channel_bad_patterns_refused);
    tcase_add_test(tc, test_request_parse_channel_covered_patterns_merged);
    tcase_add_test(tc, test_request_parse_channel_star_alone);
    tcase_add_test(tc, test_request_pattern_matches);
    tcase_add_test(tc, test_request_parse_channel_repeat);
    tcase_add_test(tc, test_request_parse_channel_dedupe);
    tcase_add_test(tc, test_request_parse_channel_case_distinct);
    tcase_add_test(tc, test_request_parse_channel_limit_accepted);
    tcase_add_test(tc, test_request_parse_channel_over_limit_refused);
    tcase_add_test(tc, test_request_parse_channel_limit_counts_distinct);
    tcase_add_test(tc, test_request_parse_channel_space_refused);
    tcase_add_test(tc, test_request_parse_channel_encoded_space_refused);
    tcase_add_test(tc, test_request_parse_channel_empty_refused);
    tcase_add_test(tc, test_request_parse_channel_bare_key_refused);
    tcase_add_test(tc, test_request_parse_channel_bad_escape_refused);
    tcase_add_test(tc, test_request_parse_channel_nul_refused);
    tcase_add_test(tc, test_request_parse_channel_line_break_reason_one_line);
    tcase_add_test(tc, test_request_parse_channel_percent_encoded);
    tcase_add_test(tc, test_request_parse_channel_encoded_key);
    tcase_add_test(tc, test_request_parse_channel_max_length);
    tcase_add_test(tc, test_request_parse_channel_too_long_refused);
    tcase_add_test(tc, test_request_parse_channel_too_long_encoded_refused);
    tcase_add_test(tc, test_request_has_channel_absent);
    tcase_add_test(tc, test_request_has_channel_len_honoured);
    suite_add_tcase(s, tc);

    tc = tcase_create("resume");
    tcase_add_test(tc, test_request_parse_last_event_id_header);
    tcase_add_test(tc, test_request_parse_last_event_id_query);
    tcase_add_test(tc, test_request_parse_last_event_id_camel_query);
    tcase_add_test(tc, test_request_parse_last_event_id_header_wins);
    tcase_add_test(tc, test_request_parse_last_event_id_empty_header_none);
    tcase_add_test(tc,
                   test_request_parse_last_event_id_empty_header_query_used);
    tcase_add_test(tc, test_request_parse_last_event_id_zero);
    tcase_add_test(tc, test_request_parse_last_event_id_percent_encoded);
    tcase_add_test(tc, test_request_parse_last_event_id_bad_header_refused);
    tcase_add_test(
        tc, test_request_parse_last_event_id_bad_header_beats_good_query);
    tcase_add_test(tc,
                   test_request_parse_last_event_id_header_19_digits_refused);
    tcase_add_test(tc, test_request_parse_last_event_id_query_sign_refused);
    tcase_add_test(tc, test_request_parse_last_event_id_query_space_refused);
    tcase_add_test(tc,
                   test_request_parse_last_event_id_query_19_digits_refused);
    tcase_add_test(tc,
                   test_request_parse_last_event_id_query_bad_escape_refused);
    tcase_add_test(tc, test_request_parse_id_digits);
    tcase_add_test(tc, test_request_parse_id_zero);
    tcase_add_test(tc, test_request_parse_id_leading_zeros);
    tcase_add_test(tc, test_request_parse_id_18_digits);
    tcase_add_test(tc, test_request_parse_id_schema_max_round_trips);
    tcase_add_test(tc, test_request_parse_id_19_digits_refused);
    tcase_add_test(tc, test_request_parse_id_many_digits_refused);
    tcase_add_test(tc, test_request_parse_id_empty_refused);
    tcase_add_test(tc, test_request_parse_id_sign_refused);
    tcase_add_test(tc, test_request_parse_id_space_refused);
    tcase_add_test(tc, test_request_parse_id_non_digits_refused);
    tcase_add_test(tc, test_request_parse_id_nul_refused);
    tcase_add_test(tc, test_request_parse_id_len_honoured);
    suite_add_tcase(s, tc);

    tc = tcase_create("options");
    tcase_add_test(tc, test_request_parse_replay_value);
    tcase_add_test(tc, test_request_parse_replay_zero);
    tcase_add_test(tc, test_request_parse_replay_max);
    tcase_add_test(tc, test_request_parse_replay_over_max_refused);
    tcase_add_test(tc, test_request_parse_replay_malformed_refused);
    tcase_add_test(tc, test_request_parse_replay_latest);
    tcase_add_test(tc, test_request_parse_longpoll_param);
    tcase_add_test(tc, test_request_parse_longpoll_zero);
    tcase_add_test(tc, test_request_parse_longpoll_requestor_header);
    tcase_add_test(tc, test_request_parse_longpoll_requestor_case_insensitive);
    tcase_add_test(tc, test_request_parse_longpoll_other_requestor_stream);
    tcase_add_test(tc, test_request_parse_padding_param);
    tcase_add_test(tc, test_request_parse_all_params_together);
    tcase_add_test(tc, test_request_parse_unknown_params_ignored);
    tcase_add_test(tc, test_request_parse_empty_pieces_ignored);
    suite_add_tcase(s, tc);

    tc = tcase_create("method_size");
    tcase_add_test(tc, test_request_parse_method_head);
    tcase_add_test(tc, test_request_parse_method_options);
    tcase_add_test(tc, test_request_parse_method_post_refused);
    tcase_add_test(tc, test_request_parse_method_others_refused);
    tcase_add_test(tc, test_request_parse_method_checked_before_query);
    tcase_add_test(tc, test_request_parse_query_max_accepted);
    tcase_add_test(tc, test_request_parse_query_too_long_414);
    tcase_add_test(tc, test_request_parse_query_huge_414);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run_suite(request_suite());
}
