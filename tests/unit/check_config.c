/* check_config.c - unit tests for lib/config.c (worker settings).
 * SPDX-License-Identifier: MIT
 */
#include <arpa/inet.h>
#include <check.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "config.h"
#include "request.h"
#include "sse_error.h"
#include "testutil.h"

/* Every numeric setting with its documented range and where it is stored;
 * is64 tells an int64_t field from an int one. */
struct numeric {
    const char *name;
    size_t offset;
    int is64;
    long long min, max, def;
};

#define INT_FIELD(f) offsetof(struct sse_config, f), 0
#define I64_FIELD(f) offsetof(struct sse_config, f), 1

static const struct numeric numerics[] = {
    {"backlog", INT_FIELD(backlog), 1, 65535, 1024},
    {"threads", INT_FIELD(threads), 1, 65536, 32},
    {"heartbeat", INT_FIELD(heartbeat_s), 1, 3600, 15},
    {"retry-ms", I64_FIELD(retry_ms), 0, 86400000, 3000},
    {"error-retry-ms", I64_FIELD(error_retry_ms), 0, 86400000, 15000},
    {"busy-retry-ms", I64_FIELD(busy_retry_ms), 0, 86400000, 5000},
    {"max-lifetime", INT_FIELD(max_lifetime_s), 0, 604800, 0},
    {"replay", I64_FIELD(replay), 0, 100000, 0},
    {"poll-ms", INT_FIELD(poll_ms), 1, 60000, 100},
    {"busy-timeout-ms", INT_FIELD(busy_timeout_ms), 0, 600000, 5000},
    {"batch", INT_FIELD(batch), 1, 100000, 256},
    {"write-timeout", INT_FIELD(write_timeout_s), 1, 3600, 30},
    {"request-timeout", INT_FIELD(request_timeout_s), 1, 3600, 5},
    {"longpoll-timeout", INT_FIELD(longpoll_timeout_s), 1, 3600, 25},
    {"ring-events", INT_FIELD(ring_events), 16, 1048576, 4096},
    {"ring-bytes", I64_FIELD(ring_bytes), 1048576, 4294967296LL, 33554432},
};
#define NNUMERIC (sizeof(numerics) / sizeof(numerics[0]))

/* Every setting, as named in the worker's documentation. */
/* clang-format off */
static const char *const all_names[] = {
    "db",           "listen",          "socket-mode",     "backlog",
    "threads",      "heartbeat",       "retry-ms",        "error-retry-ms",
    "busy-retry-ms", "max-lifetime",   "replay",          "poll-ms",
    "busy-timeout-ms", "batch",        "write-timeout",   "longpoll-timeout",
    "ring-events",  "ring-bytes",      "access-log",      "log-level",       "cors-origins",
    "cors-credentials", "status-path", "ping-path",
    "request-timeout", "web-server-addrs",
    "cors-credentials", "status-path", "ping-path", "auth-secret-file",
    "user-channels", "public-channels",
};
/* clang-format on */
#define NNAMES (sizeof(all_names) / sizeof(all_names[0]))

static long long field(const struct sse_config *c, const struct numeric *n)
{
    const char *p = (const char *)c + n->offset;
    if (n->is64)
        return (long long)*(const int64_t *)(const void *)p;
    return *(const int *)(const void *)p;
}

/* "retry-ms" -> "SSELITE_RETRY_MS" */
static void env_name(const char *name, char *out, size_t cap)
{
    int w = snprintf(out, cap, "SSELITE_%s", name);
    ck_assert(w > 0 && (size_t)w < cap);
    for (char *p = out; *p; p++) {
        if (*p == '-')
            *p = '_';
        else if (*p >= 'a' && *p <= 'z')
            *p = (char)(*p - 'a' + 'A');
    }
}

static void set_ok(struct sse_config *c, const char *name, const char *value)
{
    char err[256] = "";
    int rc = sse_config_set(c, name, value, err, sizeof(err));
    ck_assert_msg(rc == 0, "%s=%s refused: %s", name, value, err);
}

/* A refused set leaves c as it was and names the setting and the value. */
static void set_refused(struct sse_config *c, const char *name,
                        const char *value)
{
    struct sse_config before;
    char err[256] = "";
    memcpy(&before, c, sizeof(before));
    int rc = sse_config_set(c, name, value, err, sizeof(err));
    ck_assert_msg(rc == SSE_EINVAL, "%s=%s: rc %d", name, value, rc);
    ck_assert_msg(memcmp(&before, c, sizeof(before)) == 0,
                  "%s=%s changed the config", name, value);
    ck_assert_msg(strstr(err, name) != NULL, "message '%s' does not name '%s'",
                  err, name);
    char quoted[128];
    snprintf(quoted, sizeof(quoted), "'%s'", value);
    ck_assert_msg(strstr(err, quoted) != NULL,
                  "message '%s' does not repeat %s", err, quoted);
    ck_assert_ptr_null(strchr(err, '\n'));
}

/* --- defaults and numeric bounds ----------------------------------------- */

START_TEST(test_config_set_access_patterns)
{
    struct sse_config c;
    char err[256];
    sse_config_init(&c);
    ck_assert_int_eq(sse_config_set(&c, "user-channels",
                                    "user/{user}/*, chat:{user}", err,
                                    sizeof err),
                     0);
    ck_assert_uint_eq(c.nuser_channels, 2);
    ck_assert_str_eq(c.user_channels[1], "chat:{user}");
    ck_assert_int_eq(
        sse_config_set(&c, "public-channels", "news,pub:*", err, sizeof err),
        0);
    ck_assert_uint_eq(c.npublic_channels, 2);
    /* {user} has no meaning for everyone; a bad pattern keeps the old list. */
    ck_assert_int_eq(
        sse_config_set(&c, "public-channels", "user/{user}/*", err, sizeof err),
        SSE_EINVAL);
    ck_assert_ptr_nonnull(strstr(err, "public-channels"));
    ck_assert_int_eq(
        sse_config_set(&c, "user-channels", "user/{user}*", err, sizeof err),
        SSE_EINVAL);
    ck_assert_uint_eq(c.nuser_channels, 2);
    ck_assert_uint_eq(c.npublic_channels, 2);
    ck_assert_int_eq(
        sse_config_set(&c, "auth-secret-file", "/etc/s", err, sizeof err), 0);
    ck_assert_str_eq(c.auth_secret_file, "/etc/s");
    sse_config_cleanup(&c);
    ck_assert_uint_eq(c.nuser_channels, 0);
}
END_TEST

START_TEST(test_config_init_defaults)
{
    struct sse_config c;
    memset(&c, 0x5A, sizeof(c));
    sse_config_init(&c);
    ck_assert_ptr_null(c.db);
    ck_assert_ptr_null(c.listen);
    ck_assert_int_eq(c.socket_mode, 0660);
    for (size_t i = 0; i < NNUMERIC; i++)
        ck_assert_msg(field(&c, &numerics[i]) == numerics[i].def,
                      "%s default %lld", numerics[i].name,
                      field(&c, &numerics[i]));
    ck_assert_int_eq(c.access_log, 1);
    ck_assert_int_ge(c.log_level, 0);
    ck_assert_int_le(c.log_level, 3);
    ck_assert_int_eq(c.cors_credentials, 0);
    ck_assert_uint_eq(c.norigins, 0);
    ck_assert_ptr_null(c.status_path);
    ck_assert_ptr_null(c.ping_path);
    sse_config_cleanup(&c);
}
END_TEST

START_TEST(test_config_cleanup_null_safe)
{
    sse_config_cleanup(NULL);
}
END_TEST

START_TEST(test_config_set_numeric_min_accepted)
{
    for (size_t i = 0; i < NNUMERIC; i++) {
        struct sse_config c;
        char v[32];
        sse_config_init(&c);
        snprintf(v, sizeof(v), "%lld", numerics[i].min);
        set_ok(&c, numerics[i].name, v);
        ck_assert_msg(field(&c, &numerics[i]) == numerics[i].min, "%s",
                      numerics[i].name);
        sse_config_cleanup(&c);
    }
}
END_TEST

START_TEST(test_config_set_numeric_max_accepted)
{
    for (size_t i = 0; i < NNUMERIC; i++) {
        struct sse_config c;
        char v[32];
        sse_config_init(&c);
        snprintf(v, sizeof(v), "%lld", numerics[i].max);
        set_ok(&c, numerics[i].name, v);
        ck_assert_msg(field(&c, &numerics[i]) == numerics[i].max, "%s",
                      numerics[i].name);
        sse_config_cleanup(&c);
    }
}
END_TEST

START_TEST(test_config_set_numeric_below_min_refused)
{
    for (size_t i = 0; i < NNUMERIC; i++) {
        struct sse_config c;
        char v[32];
        sse_config_init(&c);
        snprintf(v, sizeof(v), "%lld", numerics[i].min - 1);
        set_refused(&c, numerics[i].name, v);
        sse_config_cleanup(&c);
    }
}
END_TEST

START_TEST(test_config_set_numeric_above_max_refused)
{
    for (size_t i = 0; i < NNUMERIC; i++) {
        struct sse_config c;
        char v[32];
        sse_config_init(&c);
        snprintf(v, sizeof(v), "%lld", numerics[i].max + 1);
        set_refused(&c, numerics[i].name, v);
        sse_config_cleanup(&c);
    }
}
END_TEST

START_TEST(test_config_set_numeric_garbage_refused)
{
    static const char *const bad[] = {
        "", "abc", "12x", "1.5", "0x10", "-", "99999999999999999999", "1e3",
    };
    for (size_t i = 0; i < NNUMERIC; i++) {
        for (size_t k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
            struct sse_config c;
            sse_config_init(&c);
            set_refused(&c, numerics[i].name, bad[k]);
            sse_config_cleanup(&c);
        }
    }
}
END_TEST

START_TEST(test_config_set_numeric_whitespace_refused)
{
    static const char *const bad[] = {" 12", "12 ", "\t12", "\n12", "12\n"};
    for (size_t i = 0; i < NNUMERIC; i++) {
        for (size_t k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
            struct sse_config c;
            char err[256] = "";
            sse_config_init(&c);
            ck_assert_msg(sse_config_set(&c, numerics[i].name, bad[k], err,
                                         sizeof(err)) == SSE_EINVAL,
                          "%s accepted '%s'", numerics[i].name, bad[k]);
            sse_config_cleanup(&c);
        }
    }
}
END_TEST

START_TEST(test_config_set_heartbeat_message)
{
    struct sse_config c;
    char err[256] = "";
    sse_config_init(&c);
    ck_assert_int_eq(sse_config_set(&c, "heartbeat", "0", err, sizeof(err)),
                     SSE_EINVAL);
    ck_assert_str_eq(err,
                     "heartbeat: '0' is not a whole number from 1 to 3600");
    sse_config_cleanup(&c);
}
END_TEST

START_TEST(test_config_set_err_truncated_safely)
{
    struct sse_config c;
    char err[16];
    memset(err, '#', sizeof(err));
    sse_config_init(&c);
    ck_assert_int_eq(sse_config_set(&c, "heartbeat", "0", err, 8), SSE_EINVAL);
    ck_assert_ptr_nonnull(memchr(err, '\0', 8));
    for (size_t i = 8; i < sizeof(err); i++)
        ck_assert_int_eq(err[i], '#');
    sse_config_cleanup(&c);
}
END_TEST

START_TEST(test_config_set_unknown_refused)
{
    struct sse_config c;
    char err[256] = "";
    sse_config_init(&c);
    ck_assert_int_eq(sse_config_set(&c, "no-such-thing", "1", err, sizeof(err)),
                     SSE_EINVAL);
    ck_assert_ptr_nonnull(strstr(err, "no-such-thing"));
    sse_config_cleanup(&c);
}
END_TEST

START_TEST(test_config_set_env_spelling_refused)
{
    /* sse_config_set takes option names, not variable names. */
    struct sse_config c;
    char err[256] = "";
    sse_config_init(&c);
    ck_assert_int_eq(
        sse_config_set(&c, "SSELITE_HEARTBEAT", "5", err, sizeof(err)),
        SSE_EINVAL);
    ck_assert_int_eq(sse_config_set(&c, "retry_ms", "5", err, sizeof(err)),
                     SSE_EINVAL);
    sse_config_cleanup(&c);
}
END_TEST

/* --- other kinds --------------------------------------------------------- */

START_TEST(test_config_set_socket_mode_octal)
{
    struct sse_config c;
    sse_config_init(&c);
    set_ok(&c, "socket-mode", "0600");
    ck_assert_int_eq(c.socket_mode, 0600);
    set_ok(&c, "socket-mode", "0777");
    ck_assert_int_eq(c.socket_mode, 0777);
    set_ok(&c, "socket-mode", "0");
    ck_assert_int_eq(c.socket_mode, 0);
    sse_config_cleanup(&c);
}
END_TEST

START_TEST(test_config_set_socket_mode_bad_refused)
{
    struct sse_config c;
    sse_config_init(&c);
    set_refused(&c, "socket-mode", "01000");
    set_refused(&c, "socket-mode", "0888");
    set_refused(&c, "socket-mode", "rw-rw----");
    set_refused(&c, "socket-mode", "");
    set_refused(&c, "socket-mode", "-1");
    sse_config_cleanup(&c);
}
END_TEST

START_TEST(test_config_set_replay_latest)
{
    struct sse_config c;
    sse_config_init(&c);
    set_ok(&c, "replay", "latest");
    ck_assert_int_eq(c.replay, SSE_REPLAY_LATEST);
    set_ok(&c, "replay", "7");
    ck_assert_int_eq(c.replay, 7);
    set_refused(&c, "replay", "Latest");
    set_refused(&c, "replay", "latest ");
    set_refused(&c, "replay", "-2");
    sse_config_cleanup(&c);
}
END_TEST

START_TEST(test_config_set_log_level_names)
{
    static const char *const levels[] = {"error", "warn", "info", "debug"};
    struct sse_config c;
    sse_config_init(&c);
    for (int i = 0; i < 4; i++) {
        set_ok(&c, "log-level", levels[i]);
        ck_assert_int_eq(c.log_level, i);
    }
    sse_config_cleanup(&c);
}
END_TEST

START_TEST(test_config_set_log_level_bad_refused)
{
    struct sse_config c;
    sse_config_init(&c);
    set_refused(&c, "log-level", "verbose");
    set_refused(&c, "log-level", "");
    set_refused(&c, "log-level", "infox");
    sse_config_cleanup(&c);
}
END_TEST

START_TEST(test_config_set_bool_values)
{
    struct sse_config c;
    sse_config_init(&c);
    set_ok(&c, "access-log", "0");
    ck_assert_int_eq(c.access_log, 0);
    set_ok(&c, "access-log", "1");
    ck_assert_int_eq(c.access_log, 1);
    set_ok(&c, "cors-credentials", "1");
    ck_assert_int_eq(c.cors_credentials, 1);
    set_ok(&c, "cors-credentials", "0");
    ck_assert_int_eq(c.cors_credentials, 0);
    sse_config_cleanup(&c);
}
END_TEST

START_TEST(test_config_set_bool_bad_refused)
{
    struct sse_config c;
    sse_config_init(&c);
    set_refused(&c, "access-log", "2");
    set_refused(&c, "access-log", "");
    set_refused(&c, "cors-credentials", "-1");
    set_refused(&c, "cors-credentials", "maybe");
    sse_config_cleanup(&c);
}
END_TEST

START_TEST(test_config_set_strings_owned)
{
    struct sse_config c;
    char v[32];
    sse_config_init(&c);
    snprintf(v, sizeof(v), "/tmp/a.db");
    set_ok(&c, "db", v);
    v[0] = 'X'; /* the config holds its own copy */
    ck_assert_str_eq(c.db, "/tmp/a.db");
    set_ok(&c, "db", "/tmp/b.db"); /* replacing frees the old one */
    ck_assert_str_eq(c.db, "/tmp/b.db");
    set_ok(&c, "listen", "127.0.0.1:9000");
    ck_assert_str_eq(c.listen, "127.0.0.1:9000");
    set_ok(&c, "status-path", "/sselite-status");
    ck_assert_str_eq(c.status_path, "/sselite-status");
    set_ok(&c, "ping-path", "/sselite-ping");
    ck_assert_str_eq(c.ping_path, "/sselite-ping");
    sse_config_cleanup(&c);
}
END_TEST

START_TEST(test_config_set_origins_list)
{
    struct sse_config c;
    sse_config_init(&c);
    set_ok(&c, "cors-origins", "https://a.example,http://b.example:8080");
    ck_assert_uint_eq(c.norigins, 2);
    ck_assert_str_eq(c.origins[0], "https://a.example");
    ck_assert_str_eq(c.origins[1], "http://b.example:8080");
    sse_config_cleanup(&c);
}
END_TEST

START_TEST(test_config_set_origins_replaced)
{
    struct sse_config c;
    sse_config_init(&c);
    set_ok(&c, "cors-origins", "https://a.example,https://b.example");
    set_ok(&c, "cors-origins", "https://c.example");
    ck_assert_uint_eq(c.norigins, 1);
    ck_assert_str_eq(c.origins[0], "https://c.example");
    sse_config_cleanup(&c);
}
END_TEST

static char *origin_list(int n)
{
    struct sse_buf b;
    sse_buf_init(&b, 0);
    for (int i = 0; i < n; i++)
        ck_assert_int_eq(
            sse_buf_appendf(&b, "%shttps://o%d.example", i ? "," : "", i), 0);
    size_t len;
    return sse_buf_take(&b, &len);
}

START_TEST(test_config_set_origins_max_accepted)
{
    struct sse_config c;
    char *list = origin_list(SSE_CONFIG_MAX_ORIGINS);
    sse_config_init(&c);
    set_ok(&c, "cors-origins", list);
    ck_assert_uint_eq(c.norigins, SSE_CONFIG_MAX_ORIGINS);
    free(list);
    sse_config_cleanup(&c);
}
END_TEST

START_TEST(test_config_set_origins_too_many_refused)
{
    struct sse_config c;
    char *list = origin_list(SSE_CONFIG_MAX_ORIGINS + 1);
    char err[256] = "";
    sse_config_init(&c);
    ck_assert_int_eq(sse_config_set(&c, "cors-origins", list, err, sizeof(err)),
                     SSE_EINVAL);
    ck_assert_uint_eq(c.norigins, 0);
    ck_assert_ptr_nonnull(strstr(err, "cors-origins"));
    free(list);
    sse_config_cleanup(&c);
}
END_TEST

START_TEST(test_config_set_origins_star)
{
    struct sse_config c;
    sse_config_init(&c);
    set_ok(&c, "cors-origins", "*");
    ck_assert_uint_eq(c.norigins, 1);
    ck_assert_str_eq(c.origins[0], "*");
    sse_config_cleanup(&c);
}
END_TEST

START_TEST(test_config_set_origins_star_with_others_refused)
{
    struct sse_config c;
    char err[256] = "";
    sse_config_init(&c);
    set_ok(&c, "db", "x.db");
    /* Refused when set or, at the latest, by validate. */
    int rc = sse_config_set(&c, "cors-origins", "*,https://a.example", err,
                            sizeof(err));
    if (rc == 0)
        rc = sse_config_validate(&c, err, sizeof(err));
    ck_assert_int_eq(rc, SSE_EINVAL);
    sse_config_cleanup(&c);
}
END_TEST

START_TEST(test_config_set_db_empty_refused)
{
    struct sse_config c;
    char err[256] = "";
    sse_config_init(&c);
    int rc = sse_config_set(&c, "db", "", err, sizeof(err));
    if (rc == 0)
        rc = sse_config_validate(&c, err, sizeof(err));
    ck_assert_int_eq(rc, SSE_EINVAL);
    sse_config_cleanup(&c);
}
END_TEST

/* --- flags -----------------------------------------------------------------
 */

START_TEST(test_config_is_flag_credentials)
{
    ck_assert_int_eq(sse_config_is_flag("cors-credentials"), 1);
}
END_TEST

START_TEST(test_config_is_flag_valued_settings_false)
{
    for (size_t i = 0; i < NNAMES; i++) {
        if (strcmp(all_names[i], "cors-credentials") == 0)
            continue;
        ck_assert_msg(sse_config_is_flag(all_names[i]) == 0,
                      "--%s is documented as taking a value", all_names[i]);
    }
}
END_TEST

START_TEST(test_config_is_flag_unknown_false)
{
    ck_assert_int_eq(sse_config_is_flag("no-such-thing"), 0);
    ck_assert_int_eq(sse_config_is_flag(""), 0);
}
END_TEST

/* --- environment --------------------------------------------------------- */

struct fake_env {
    const char *const *vars; /* name, value, name, value, ..., NULL */
    char asked[64][40];
    size_t nasked;
};

static const char *fake_lookup(const char *name, void *ctx)
{
    struct fake_env *env = ctx;
    if (env->nasked < 64)
        snprintf(env->asked[env->nasked++], sizeof(env->asked[0]), "%s", name);
    for (size_t i = 0; env->vars && env->vars[i]; i += 2)
        if (strcmp(env->vars[i], name) == 0)
            return env->vars[i + 1];
    return NULL;
}

static int was_asked(const struct fake_env *env, const char *name)
{
    for (size_t i = 0; i < env->nasked; i++)
        if (strcmp(env->asked[i], name) == 0)
            return 1;
    return 0;
}

START_TEST(test_config_from_env_sets_values)
{
    static const char *const vars[] = {
        "SSELITE_DB",
        "/var/lib/sselite/events.db",
        "SSELITE_HEARTBEAT",
        "20",
        "SSELITE_RETRY_MS",
        "1000",
        "SSELITE_BUSY_TIMEOUT_MS",
        "250",
        "SSELITE_LOG_LEVEL",
        "debug",
        "SSELITE_CORS_ORIGINS",
        "https://a.example",
        "SSELITE_CORS_CREDENTIALS",
        "1",
        "SSELITE_SOCKET_MODE",
        "0600",
        NULL,
    };
    struct fake_env env = {.vars = vars};
    struct sse_config c;
    char err[256] = "";
    sse_config_init(&c);
    ck_assert_int_eq(
        sse_config_from_env(&c, fake_lookup, &env, err, sizeof(err)), 0);
    ck_assert_str_eq(c.db, "/var/lib/sselite/events.db");
    ck_assert_int_eq(c.heartbeat_s, 20);
    ck_assert_int_eq(c.retry_ms, 1000);
    ck_assert_int_eq(c.busy_timeout_ms, 250);
    ck_assert_int_eq(c.log_level, 3);
    ck_assert_uint_eq(c.norigins, 1);
    ck_assert_int_eq(c.cors_credentials, 1);
    ck_assert_int_eq(c.socket_mode, 0600);
    ck_assert_int_eq(c.threads, 32); /* untouched */
    sse_config_cleanup(&c);
}
END_TEST

START_TEST(test_config_from_env_empty_keeps_defaults)
{
    struct fake_env env = {.vars = NULL};
    struct sse_config c, def;
    char err[256] = "";
    memset(&c, 0, sizeof(c));
    memset(&def, 0, sizeof(def));
    sse_config_init(&c);
    sse_config_init(&def);
    ck_assert_int_eq(
        sse_config_from_env(&c, fake_lookup, &env, err, sizeof(err)), 0);
    ck_assert_mem_eq(&c, &def, sizeof(c));
    sse_config_cleanup(&c);
}
END_TEST

START_TEST(test_config_from_env_asks_every_variable)
{
    struct fake_env env = {.vars = NULL};
    struct sse_config c;
    char err[256] = "";
    sse_config_init(&c);
    ck_assert_int_eq(
        sse_config_from_env(&c, fake_lookup, &env, err, sizeof(err)), 0);
    for (size_t i = 0; i < NNAMES; i++) {
        char var[64];
        env_name(all_names[i], var, sizeof(var));
        ck_assert_msg(was_asked(&env, var), "%s never looked up", var);
    }
    /* The one exception is libfcgi's own variable for web-server-addrs. */
    for (size_t i = 0; i < env.nasked; i++)
        ck_assert_msg(strncmp(env.asked[i], "SSELITE_", 8) == 0 ||
                          strcmp(env.asked[i], "FCGI_WEB_SERVER_ADDRS") == 0,
                      "looked up %s", env.asked[i]);
    sse_config_cleanup(&c);
}
END_TEST

START_TEST(test_config_from_env_bad_value_names_variable)
{
    static const char *const vars[] = {"SSELITE_HEARTBEAT", "0", NULL};
    struct fake_env env = {.vars = vars};
    struct sse_config c;
    char err[256] = "";
    sse_config_init(&c);
    ck_assert_int_eq(
        sse_config_from_env(&c, fake_lookup, &env, err, sizeof(err)),
        SSE_EINVAL);
    ck_assert_msg(strstr(err, "SSELITE_HEARTBEAT") != NULL, "message '%s'",
                  err);
    ck_assert_msg(strstr(err, "'0'") != NULL, "message '%s'", err);
    ck_assert_int_eq(c.heartbeat_s, 15);
    sse_config_cleanup(&c);
}
END_TEST

START_TEST(test_config_from_env_options_override)
{
    static const char *const vars[] = {"SSELITE_HEARTBEAT", "20", NULL};
    struct fake_env env = {.vars = vars};
    struct sse_config c;
    char err[256] = "";
    sse_config_init(&c);
    ck_assert_int_eq(
        sse_config_from_env(&c, fake_lookup, &env, err, sizeof(err)), 0);
    set_ok(&c, "heartbeat", "7");
    ck_assert_int_eq(c.heartbeat_s, 7);
    sse_config_cleanup(&c);
}
END_TEST

/* --- validate ------------------------------------------------------------ */

START_TEST(test_config_validate_db_required)
{
    struct sse_config c;
    char err[256] = "";
    sse_config_init(&c);
    ck_assert_int_eq(sse_config_validate(&c, err, sizeof(err)), SSE_EINVAL);
    ck_assert_msg(strstr(err, "db") != NULL, "message '%s'", err);
    sse_config_cleanup(&c);
}
END_TEST

START_TEST(test_config_validate_minimal_ok)
{
    struct sse_config c;
    char err[256] = "";
    sse_config_init(&c);
    set_ok(&c, "db", "events.db");
    ck_assert_int_eq(sse_config_validate(&c, err, sizeof(err)), 0);
    sse_config_cleanup(&c);
}
END_TEST

START_TEST(test_config_validate_star_with_credentials_refused)
{
    struct sse_config c;
    char err[256] = "";
    sse_config_init(&c);
    set_ok(&c, "db", "events.db");
    set_ok(&c, "cors-origins", "*");
    set_ok(&c, "cors-credentials", "1");
    ck_assert_int_eq(sse_config_validate(&c, err, sizeof(err)), SSE_EINVAL);
    ck_assert_msg(strstr(err, "cors") != NULL, "message '%s'", err);
    sse_config_cleanup(&c);
}
END_TEST

START_TEST(test_config_validate_origins_with_credentials_ok)
{
    struct sse_config c;
    char err[256] = "";
    sse_config_init(&c);
    set_ok(&c, "db", "events.db");
    set_ok(&c, "cors-origins", "https://a.example");
    set_ok(&c, "cors-credentials", "1");
    ck_assert_int_eq(sse_config_validate(&c, err, sizeof(err)), 0);
    sse_config_cleanup(&c);
}
END_TEST

START_TEST(test_config_validate_star_without_credentials_ok)
{
    struct sse_config c;
    char err[256] = "";
    sse_config_init(&c);
    set_ok(&c, "db", "events.db");
    set_ok(&c, "cors-origins", "*");
    ck_assert_int_eq(sse_config_validate(&c, err, sizeof(err)), 0);
    sse_config_cleanup(&c);
}
END_TEST

/* --- origins ------------------------------------------------------------- */

START_TEST(test_config_origin_allowed_none_configured)
{
    struct sse_config c;
    sse_config_init(&c);
    ck_assert_int_eq(sse_config_origin_allowed(&c, "https://a.example"), 0);
    sse_config_cleanup(&c);
}
END_TEST

START_TEST(test_config_origin_allowed_star_any)
{
    struct sse_config c;
    sse_config_init(&c);
    set_ok(&c, "cors-origins", "*");
    ck_assert_int_eq(sse_config_origin_allowed(&c, "https://a.example"), 1);
    ck_assert_int_eq(sse_config_origin_allowed(&c, "http://x:1"), 1);
    sse_config_cleanup(&c);
}
END_TEST

START_TEST(test_config_origin_allowed_exact)
{
    struct sse_config c;
    sse_config_init(&c);
    set_ok(&c, "cors-origins", "https://a.example,http://b.example:8080");
    ck_assert_int_eq(sse_config_origin_allowed(&c, "https://a.example"), 1);
    ck_assert_int_eq(sse_config_origin_allowed(&c, "http://b.example:8080"), 1);
    sse_config_cleanup(&c);
}
END_TEST

START_TEST(test_config_origin_allowed_near_misses_refused)
{
    static const char *const bad[] = {
        "https://a.example/",
        "http://a.example",
        "HTTPS://A.EXAMPLE",
        "https://a.example:443",
        "https://a.example.evil",
        "https://a.exampl",
        "https://xa.example",
        "",
        "http://b.example",
        "http://b.example:808",
        "null",
    };
    struct sse_config c;
    sse_config_init(&c);
    set_ok(&c, "cors-origins", "https://a.example,http://b.example:8080");
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        ck_assert_msg(sse_config_origin_allowed(&c, bad[i]) == 0, "'%s'",
                      bad[i]);
    sse_config_cleanup(&c);
}
END_TEST

/* --- usage --------------------------------------------------------------- */

START_TEST(test_config_usage_lists_every_setting)
{
    struct sse_buf b;
    sse_buf_init(&b, 0);
    ck_assert_int_eq(sse_config_usage(&b), 0);
    ck_assert_ptr_nonnull(b.data);
    for (size_t i = 0; i < NNAMES; i++) {
        char var[64], opt[64];
        env_name(all_names[i], var, sizeof(var));
        snprintf(opt, sizeof(opt), "--%s", all_names[i]);
        ck_assert_msg(strstr(b.data, var) != NULL, "usage lacks %s", var);
        ck_assert_msg(strstr(b.data, opt) != NULL, "usage lacks %s", opt);
    }
    sse_buf_cleanup(&b);
}
END_TEST

START_TEST(test_config_usage_matches_env_lookups)
{
    /* Whatever from_env reads, --help documents. */
    struct fake_env env = {.vars = NULL};
    struct sse_config c;
    struct sse_buf b;
    char err[256] = "";
    sse_config_init(&c);
    sse_buf_init(&b, 0);
    ck_assert_int_eq(sse_config_usage(&b), 0);
    ck_assert_int_eq(
        sse_config_from_env(&c, fake_lookup, &env, err, sizeof(err)), 0);
    for (size_t i = 0; i < env.nasked; i++)
        ck_assert_msg(strstr(b.data, env.asked[i]) != NULL, "usage lacks %s",
                      env.asked[i]);
    sse_buf_cleanup(&b);
    sse_config_cleanup(&c);
}
END_TEST

START_TEST(test_config_usage_no_room_fails)
{
    struct sse_buf b;
    sse_buf_init(&b, 16);
    ck_assert_int_eq(sse_config_usage(&b), SSE_ETOOBIG);
    sse_buf_cleanup(&b);
}
END_TEST

/* --- web-server-addrs ------------------------------------------------------
 */

static struct sockaddr_in peer4(const char *a)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(4000)};
    ck_assert_int_eq(inet_pton(AF_INET, a, &sa.sin_addr), 1);
    return sa;
}

static struct sockaddr_in6 peer6(const char *a)
{
    struct sockaddr_in6 sa = {.sin6_family = AF_INET6,
                              .sin6_port = htons(4000)};
    ck_assert_int_eq(inet_pton(AF_INET6, a, &sa.sin6_addr), 1);
    return sa;
}

static int allowed4(const struct sse_config *c, const char *a)
{
    struct sockaddr_in sa = peer4(a);
    return sse_config_peer_allowed(c, (struct sockaddr *)&sa);
}

static int allowed6(const struct sse_config *c, const char *a)
{
    struct sockaddr_in6 sa = peer6(a);
    return sse_config_peer_allowed(c, (struct sockaddr *)&sa);
}

START_TEST(test_config_set_web_server_addrs_list)
{
    struct sse_config c;
    sse_config_init(&c);
    set_ok(&c, "web-server-addrs",
           " 127.0.0.1, ::1,[fe80::2]\t::ffff:10.0.0.7,");
    ck_assert_uint_eq(c.npeers, 4);
    ck_assert_int_eq(c.peers[0].family, AF_INET);
    ck_assert_int_eq(c.peers[1].family, AF_INET6);
    ck_assert_int_eq(c.peers[2].family, AF_INET6);
    /* An IPv4-mapped address is kept as IPv4. */
    ck_assert_int_eq(c.peers[3].family, AF_INET);
    ck_assert_mem_eq(c.peers[3].addr, "\x0a\x00\x00\x07", 4);
    set_ok(&c, "web-server-addrs", "10.0.0.1");
    ck_assert_uint_eq(c.npeers, 1); /* replaced, not appended */
    sse_config_cleanup(&c);
}
END_TEST

START_TEST(test_config_set_web_server_addrs_bad_refused)
{
    static const char *const bad[] = {
        "",           " , ",         "localhost",    "127.0.0.1:80",
        "127.0.0",    "256.1.1.1",   "::1%lo",       "[::1",
        "10.0.0.0/8", "127.0.0.1;x", "1.2.3.4,nope",
    };
    struct sse_config c;
    sse_config_init(&c);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        set_refused(&c, "web-server-addrs", bad[i]);
    ck_assert_uint_eq(c.npeers, 0);
    sse_config_cleanup(&c);
}
END_TEST

START_TEST(test_config_set_web_server_addrs_max)
{
    char list[32 * 16 + 16];
    size_t len = 0;
    struct sse_config c;
    sse_config_init(&c);
    for (int i = 1; i <= 32; i++)
        len +=
            (size_t)snprintf(list + len, sizeof(list) - len, "10.0.0.%d,", i);
    set_ok(&c, "web-server-addrs", list);
    ck_assert_uint_eq(c.npeers, 32);
    snprintf(list + len, sizeof(list) - len, "10.0.0.33");
    set_refused(&c, "web-server-addrs", list);
    ck_assert_uint_eq(c.npeers, 32);
    sse_config_cleanup(&c);
}
END_TEST

START_TEST(test_config_peer_allowed_empty_list_any)
{
    struct sse_config c;
    sse_config_init(&c);
    ck_assert_int_eq(allowed4(&c, "203.0.113.9"), 1);
    ck_assert_int_eq(allowed6(&c, "2001:db8::1"), 1);
    sse_config_cleanup(&c);
}
END_TEST

START_TEST(test_config_peer_allowed_listed_only)
{
    struct sse_config c;
    sse_config_init(&c);
    set_ok(&c, "web-server-addrs", "127.0.0.1,2001:db8::5");
    ck_assert_int_eq(allowed4(&c, "127.0.0.1"), 1);
    ck_assert_int_eq(allowed4(&c, "127.0.0.2"), 0);
    ck_assert_int_eq(allowed4(&c, "0.0.0.0"), 0);
    ck_assert_int_eq(allowed6(&c, "2001:db8::5"), 1);
    ck_assert_int_eq(allowed6(&c, "2001:db8::6"), 0);
    ck_assert_int_eq(allowed6(&c, "::1"), 0);
    /* A dual-stack socket sees an IPv4 web server as ::ffff:a.b.c.d. */
    ck_assert_int_eq(allowed6(&c, "::ffff:127.0.0.1"), 1);
    ck_assert_int_eq(allowed6(&c, "::ffff:127.0.0.2"), 0);
    /* Unix sockets are guarded by their file mode, not by this list. */
    struct sockaddr un = {.sa_family = AF_UNIX};
    ck_assert_int_eq(sse_config_peer_allowed(&c, &un), 1);
    sse_config_cleanup(&c);
}
END_TEST

START_TEST(test_config_from_env_fcgi_web_server_addrs)
{
    static const char *const fcgi_only[] = {"FCGI_WEB_SERVER_ADDRS",
                                            "10.1.1.1,10.1.1.2", NULL};
    static const char *const both[] = {"FCGI_WEB_SERVER_ADDRS", "10.1.1.1",
                                       "SSELITE_WEB_SERVER_ADDRS", "::1", NULL};
    static const char *const empty[] = {"FCGI_WEB_SERVER_ADDRS", "", NULL};
    static const char *const bad[] = {"FCGI_WEB_SERVER_ADDRS", "web1", NULL};
    struct fake_env env = {.vars = fcgi_only};
    struct sse_config c;
    char err[256] = "";
    sse_config_init(&c);
    ck_assert_int_eq(
        sse_config_from_env(&c, fake_lookup, &env, err, sizeof(err)), 0);
    ck_assert_uint_eq(c.npeers, 2);
    sse_config_cleanup(&c);

    struct fake_env env2 = {.vars = both};
    ck_assert_int_eq(
        sse_config_from_env(&c, fake_lookup, &env2, err, sizeof(err)), 0);
    ck_assert_uint_eq(c.npeers, 1);
    ck_assert_int_eq(c.peers[0].family, AF_INET6); /* SSELITE_ wins */
    sse_config_cleanup(&c);

    struct fake_env env3 = {.vars = empty}; /* libfcgi: empty = any */
    ck_assert_int_eq(
        sse_config_from_env(&c, fake_lookup, &env3, err, sizeof(err)), 0);
    ck_assert_uint_eq(c.npeers, 0);

    struct fake_env env4 = {.vars = bad};
    ck_assert_int_eq(
        sse_config_from_env(&c, fake_lookup, &env4, err, sizeof(err)),
        SSE_EINVAL);
    ck_assert_msg(strstr(err, "FCGI_WEB_SERVER_ADDRS") && strstr(err, "'web1'"),
                  "message '%s'", err);
    ck_assert_uint_eq(c.npeers, 0);
    sse_config_cleanup(&c);
}
END_TEST

static Suite *config_suite(void)
{
    Suite *s = suite_create("config");
    TCase *tc = tcase_create("set");
    tcase_add_test(tc, test_config_init_defaults);
    tcase_add_test(tc, test_config_set_access_patterns);
    tcase_add_test(tc, test_config_cleanup_null_safe);
    tcase_add_test(tc, test_config_set_numeric_min_accepted);
    tcase_add_test(tc, test_config_set_numeric_max_accepted);
    tcase_add_test(tc, test_config_set_numeric_below_min_refused);
    tcase_add_test(tc, test_config_set_numeric_above_max_refused);
    tcase_add_test(tc, test_config_set_numeric_garbage_refused);
    tcase_add_test(tc, test_config_set_numeric_whitespace_refused);
    tcase_add_test(tc, test_config_set_heartbeat_message);
    tcase_add_test(tc, test_config_set_err_truncated_safely);
    tcase_add_test(tc, test_config_set_unknown_refused);
    tcase_add_test(tc, test_config_set_env_spelling_refused);
    tcase_add_test(tc, test_config_set_socket_mode_octal);
    tcase_add_test(tc, test_config_set_socket_mode_bad_refused);
    tcase_add_test(tc, test_config_set_replay_latest);
    tcase_add_test(tc, test_config_set_log_level_names);
    tcase_add_test(tc, test_config_set_log_level_bad_refused);
    tcase_add_test(tc, test_config_set_bool_values);
    tcase_add_test(tc, test_config_set_bool_bad_refused);
    tcase_add_test(tc, test_config_set_strings_owned);
    tcase_add_test(tc, test_config_set_origins_list);
    tcase_add_test(tc, test_config_set_origins_replaced);
    tcase_add_test(tc, test_config_set_origins_max_accepted);
    tcase_add_test(tc, test_config_set_origins_too_many_refused);
    tcase_add_test(tc, test_config_set_origins_star);
    tcase_add_test(tc, test_config_set_origins_star_with_others_refused);
    tcase_add_test(tc, test_config_set_db_empty_refused);
    suite_add_tcase(s, tc);

    tc = tcase_create("flags_env");
    tcase_add_test(tc, test_config_is_flag_credentials);
    tcase_add_test(tc, test_config_is_flag_valued_settings_false);
    tcase_add_test(tc, test_config_is_flag_unknown_false);
    tcase_add_test(tc, test_config_from_env_sets_values);
    tcase_add_test(tc, test_config_from_env_empty_keeps_defaults);
    tcase_add_test(tc, test_config_from_env_asks_every_variable);
    tcase_add_test(tc, test_config_from_env_bad_value_names_variable);
    tcase_add_test(tc, test_config_from_env_options_override);
    suite_add_tcase(s, tc);

    tc = tcase_create("validate_origins_usage");
    tcase_add_test(tc, test_config_validate_db_required);
    tcase_add_test(tc, test_config_validate_minimal_ok);
    tcase_add_test(tc, test_config_validate_star_with_credentials_refused);
    tcase_add_test(tc, test_config_validate_origins_with_credentials_ok);
    tcase_add_test(tc, test_config_validate_star_without_credentials_ok);
    tcase_add_test(tc, test_config_origin_allowed_none_configured);
    tcase_add_test(tc, test_config_origin_allowed_star_any);
    tcase_add_test(tc, test_config_origin_allowed_exact);
    tcase_add_test(tc, test_config_origin_allowed_near_misses_refused);
    tcase_add_test(tc, test_config_usage_lists_every_setting);
    tcase_add_test(tc, test_config_usage_matches_env_lookups);
    tcase_add_test(tc, test_config_usage_no_room_fails);
    suite_add_tcase(s, tc);

    tc = tcase_create("web_server_addrs");
    tcase_add_test(tc, test_config_set_web_server_addrs_list);
    tcase_add_test(tc, test_config_set_web_server_addrs_bad_refused);
    tcase_add_test(tc, test_config_set_web_server_addrs_max);
    tcase_add_test(tc, test_config_peer_allowed_empty_list_any);
    tcase_add_test(tc, test_config_peer_allowed_listed_only);
    tcase_add_test(tc, test_config_from_env_fcgi_web_server_addrs);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run_suite(config_suite());
}
