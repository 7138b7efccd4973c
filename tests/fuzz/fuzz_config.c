/* fuzz_config.c - libFuzzer target: setting values from options and the
 * environment.
 * SPDX-License-Identifier: MIT
 *
 * The first input byte picks a setting (or an unknown name), the rest, up
 * to the first NUL, is its value. Checks the contract of config.h:
 *   - on failure the config is byte for byte unchanged and the message
 *     names the setting;
 *   - on success a number lies within the setting's documented range, an
 *     origin list holds only "*" or http(s) origins without a trailing
 *     '/' or a separator inside, and every listed web server address is
 *     IPv4 or IPv6 and admitted as a peer;
 *   - the same value through the environment gives the same outcome, with
 *     the variable named in the message;
 *   - setting a value twice leaks nothing (LeakSanitizer).
 */
#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "fuzz.h"
#include "sse_error.h"

/* Every setting, with the range and field of numeric ones (min > max:
 * not numeric). */
#define INT(f) offsetof(struct sse_config, f), 0
#define I64(f) offsetof(struct sse_config, f), 1
#define NONE 0, 0
static const struct {
    const char *name;
    const char *env;
    int64_t min, max;
    size_t offset;
    int is64;
} SETTINGS[] = {
    {"db", "SSELITE_DB", 1, 0, NONE},
    {"listen", "SSELITE_LISTEN", 1, 0, NONE},
    {"socket-mode", "SSELITE_SOCKET_MODE", 0, 0777, INT(socket_mode)},
    {"backlog", "SSELITE_BACKLOG", 1, 65535, INT(backlog)},
    {"threads", "SSELITE_THREADS", 1, 65536, INT(threads)},
    {"heartbeat", "SSELITE_HEARTBEAT", 1, 3600, INT(heartbeat_s)},
    {"retry-ms", "SSELITE_RETRY_MS", 0, 86400000, I64(retry_ms)},
    {"error-retry-ms", "SSELITE_ERROR_RETRY_MS", 0, 86400000,
     I64(error_retry_ms)},
    {"busy-retry-ms", "SSELITE_BUSY_RETRY_MS", 0, 86400000, I64(busy_retry_ms)},
    {"max-lifetime", "SSELITE_MAX_LIFETIME", 0, 604800, INT(max_lifetime_s)},
    {"replay", "SSELITE_REPLAY", 0, 100000, I64(replay)},
    {"poll-ms", "SSELITE_POLL_MS", 1, 60000, INT(poll_ms)},
    {"busy-timeout-ms", "SSELITE_BUSY_TIMEOUT_MS", 0, 600000,
     INT(busy_timeout_ms)},
    {"batch", "SSELITE_BATCH", 1, 100000, INT(batch)},
    {"write-timeout", "SSELITE_WRITE_TIMEOUT", 1, 3600, INT(write_timeout_s)},
    {"request-timeout", "SSELITE_REQUEST_TIMEOUT", 1, 3600,
     INT(request_timeout_s)},
    {"web-server-addrs", "SSELITE_WEB_SERVER_ADDRS", 1, 0, NONE},
    {"longpoll-timeout", "SSELITE_LONGPOLL_TIMEOUT", 1, 3600,
     INT(longpoll_timeout_s)},
    {"ring-events", "SSELITE_RING_EVENTS", 16, 1048576, INT(ring_events)},
    {"ring-bytes", "SSELITE_RING_BYTES", 1048576, 4294967296LL,
     I64(ring_bytes)},
    {"access-log", "SSELITE_ACCESS_LOG", 0, 1, INT(access_log)},
    {"log-level", "SSELITE_LOG_LEVEL", 0, 3, INT(log_level)},
    {"cors-origins", "SSELITE_CORS_ORIGINS", 1, 0, NONE},
    {"cors-credentials", "SSELITE_CORS_CREDENTIALS", 0, 1,
     INT(cors_credentials)},
    {"status-path", "SSELITE_STATUS_PATH", 1, 0, NONE},
    {"ping-path", "SSELITE_PING_PATH", 1, 0, NONE},
    {"no-such-setting", "SSELITE_NO_SUCH_SETTING", 1, 0, NONE},
};
#define NSETTINGS (sizeof SETTINGS / sizeof SETTINGS[0])

/* The numeric value of setting i in c. */
static int64_t number(const struct sse_config *c, size_t i)
{
    const char *field = (const char *)c + SETTINGS[i].offset;
    if (SETTINGS[i].is64)
        return *(const int64_t *)(const void *)field;
    return *(const int *)(const void *)field;
}

static void check_origins(const struct sse_config *c)
{
    CHECK(c->norigins <= SSE_CONFIG_MAX_ORIGINS);
    for (size_t i = 0; i < c->norigins; i++) {
        const char *o = c->origins[i];
        size_t n = strlen(o);
        CHECK(n > 0);
        CHECK(!strpbrk(o, ", \t"));
        if (strcmp(o, "*") == 0)
            continue;
        CHECK(!strncmp(o, "http://", 7) || !strncmp(o, "https://", 8));
        CHECK(o[n - 1] != '/');
        CHECK(sse_config_origin_allowed(c, o));
    }
}

static void check_peers(const struct sse_config *c)
{
    CHECK(c->npeers <= SSE_CONFIG_MAX_PEERS);
    for (size_t i = 0; i < c->npeers; i++) {
        const struct sse_config_addr *a = &c->peers[i];
        if (a->family == AF_INET) {
            struct sockaddr_in in = {.sin_family = AF_INET};
            memcpy(&in.sin_addr, a->addr, 4);
            CHECK(sse_config_peer_allowed(c, (struct sockaddr *)&in));
        } else {
            CHECK(a->family == AF_INET6);
            struct sockaddr_in6 in6 = {.sin6_family = AF_INET6};
            memcpy(&in6.sin6_addr, a->addr, 16);
            CHECK(!IN6_IS_ADDR_V4MAPPED(&in6.sin6_addr));
            CHECK(sse_config_peer_allowed(c, (struct sockaddr *)&in6));
        }
    }
}

struct env {
    const char *var;
    const char *value;
};

static const char *lookup(const char *name, void *ctx)
{
    const struct env *e = ctx;
    return strcmp(name, e->var) == 0 ? e->value : NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    size_t si = data[0] % NSETTINGS;
    const char *name = SETTINGS[si].name;
    char *value = malloc(size);
    if (!value)
        return 0;
    memcpy(value, data + 1, size - 1);
    value[size - 1] = '\0';

    struct sse_config c, before;
    sse_config_init(&c);
    /* Start from a non-default state so "unchanged" means something. */
    char err[256];
    CHECK(sse_config_set(&c, "db", "/tmp/x.db", err, sizeof err) == 0);
    CHECK(sse_config_set(&c, "cors-origins", "https://a.example", err,
                         sizeof err) == 0);
    memcpy(&before, &c, sizeof c);
    err[0] = '\0';
    int rc = sse_config_set(&c, name, value, err, sizeof err);
    if (rc) {
        CHECK(rc == SSE_EINVAL || rc == SSE_ENOMEM);
        CHECK(memcmp(&before, &c, sizeof c) == 0);
        CHECK(err[0] != '\0' && memchr(err, '\0', sizeof err));
        if (rc == SSE_EINVAL && strcmp(name, "no-such-setting") != 0)
            CHECK(strncmp(err, name, strlen(name)) == 0);
    } else {
        CHECK(strcmp(name, "no-such-setting") != 0);
        if (SETTINGS[si].min <= SETTINGS[si].max) {
            int64_t v = number(&c, si);
            CHECK(v >= SETTINGS[si].min && v <= SETTINGS[si].max);
        }
        /* Setting it again replaces (and frees) the first value. */
        CHECK(sse_config_set(&c, name, value, err, sizeof err) == 0);
    }
    check_origins(&c);
    check_peers(&c);
    (void)sse_config_validate(&c, err, sizeof err);
    (void)sse_config_origin_allowed(&c, value);
    sse_config_cleanup(&c);

    /* The same value through the environment. */
    struct env e = {SETTINGS[si].env, value};
    sse_config_init(&c);
    int rc_env = sse_config_from_env(&c, lookup, &e, err, sizeof err);
    CHECK((rc_env == 0) == (rc == 0) || strcmp(name, "no-such-setting") == 0);
    if (rc_env)
        CHECK(strstr(err, e.var) != NULL || strlen(err) == sizeof err - 1);
    check_origins(&c);
    check_peers(&c);
    sse_config_cleanup(&c);
    free(value);
    return 0;
}
