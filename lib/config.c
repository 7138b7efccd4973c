/* config.c - worker settings from environment variables and options.
 * SPDX-License-Identifier: MIT
 *
 * One table describes every setting: its name, type, bounds, default and
 * help text. Options, environment variables and --help are all driven by
 * it, so a new setting cannot be half-added.
 */
#include <assert.h>
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "pattern.h"
#include "request.h"
#include "sse_error.h"

enum kind {
    K_STR,
    K_INT,
    K_I64,
    K_BOOL,
    K_MODE,
    K_LEVEL,
    K_ORIGINS,
    K_ADDRS,
    K_TEMPLATES, /* patterns that may hold {user} */
    K_PATTERNS
};

struct setting {
    const char *name;
    enum kind kind;
    size_t offset;
    int64_t min, max;
    const char *def; /* default as shown in --help */
    const char *help;
};

#define OFF(f) offsetof(struct sse_config, f)

static const struct setting SETTINGS[] = {
    {"db", K_STR, OFF(db), 0, 0, "(required)",
     "path of the SQLite event log, or a postgresql:// URI (README, "
     "\"PostgreSQL\"; keep passwords in ~/.pgpass, not here)"},
    {"listen", K_STR, OFF(listen), 0, 0, "(inherited)",
     "unix socket path or HOST:PORT to listen on; default: the socket passed "
     "by systemd (LISTEN_FDS) or the web server (fd 0)"},
    {"socket-mode", K_MODE, OFF(socket_mode), 0, 0777, "0660",
     "permissions of a unix socket created by --listen"},
    {"backlog", K_INT, OFF(backlog), 1, 65535, "1024",
     "listen backlog of a socket created by --listen"},
    {"threads", K_INT, OFF(threads), 1, 65536, "32",
     "threads that accept requests and run hand-shakes (headers, backlog); "
     "a stream that has caught up is parked without a thread; with 2 or "
     "more, one is kept free to answer 'busy' quickly"},
    {"max-streams", K_INT, OFF(max_streams), 0, 16777216, "0",
     "streams one process holds at once, parked or not; past it the 'busy' "
     "answer; 0: the open-files limit less 64 and 2 per thread (at most half "
     "of it)"},
    {"heartbeat", K_INT, OFF(heartbeat_s), 1, 3600, "15",
     "seconds between heartbeat comments on an idle stream"},
    {"retry-ms", K_I64, OFF(retry_ms), 0, 86400000, "3000",
     "reconnection delay sent to browsers as 'retry:'"},
    {"error-retry-ms", K_I64, OFF(error_retry_ms), 0, 86400000, "15000",
     "'retry:' sent with a server-side fault (database missing, locked, ...)"},
    {"busy-retry-ms", K_I64, OFF(busy_retry_ms), 0, 86400000, "5000",
     "'retry:' sent when every thread already holds a stream"},
    {"max-lifetime", K_INT, OFF(max_lifetime_s), 0, 604800, "0",
     "end a stream after this many seconds (0: never); clients resume exactly"},
    {"replay", K_I64, OFF(replay), 0, 100000, "0",
     "events replayed to a client that connects without a resume point, or "
     "'latest': the newest event of each of its channels"},
    {"poll-ms", K_INT, OFF(poll_ms), 1, 60000, "100",
     "fallback interval for noticing new rows when inotify cannot"},
    {"resume-wait-ms", K_INT, OFF(resume_wait_ms), 0, 600000, "5000",
     "when the worker reads a PostgreSQL hot standby (which lags behind its "
     "primary), how long a stream resumed after an id the standby has not "
     "replayed yet waits for it before it answers with a 'future' gap "
     "event"},
    {"busy-timeout-ms", K_INT, OFF(busy_timeout_ms), 0, 600000, "5000",
     "how long a read waits for a locked database, or for a free connection"},
    {"db-connections", K_INT, OFF(db_connections), 1,
     SSE_CONFIG_MAX_DB_CONNECTIONS, "8",
     "connections to the log one process opens for hand-shakes and catch-up "
     "reads, whatever the number of streams (the change detector has one "
     "more)"},
    {"batch", K_INT, OFF(batch), 1, 100000, "256", "rows per database read"},
    {"write-timeout", K_INT, OFF(write_timeout_s), 1, 3600, "30",
     "drop a client that accepts no data for this many seconds"},
    {"request-timeout", K_INT, OFF(request_timeout_s), 1, 3600, "5",
     "close a FastCGI connection that has not sent a whole request (begin "
     "record and every param) this many seconds after it was accepted; a "
     "kept-alive one may idle as long, then has as long again"},
    {"web-server-addrs", K_ADDRS, 0, 0, 0, "(FCGI_WEB_SERVER_ADDRS, or any)",
     "comma-separated IP addresses of the web servers allowed to connect to a "
     "TCP socket; others are closed at once"},
    {"longpoll-timeout", K_INT, OFF(longpoll_timeout_s), 1, 3600, "25",
     "how long a long-poll request waits for an event"},
    {"ring-events", K_INT, OFF(ring_events), 16, 1048576, "4096",
     "recent events kept encoded in memory, shared by all streams"},
    {"ring-bytes", K_I64, OFF(ring_bytes), 1048576, 4294967296LL, "33554432",
     "bytes of encoded events kept in memory (32 MiB); an event over 1/8 of "
     "this is read from the database by the streams that want it"},
    {"access-log", K_BOOL, OFF(access_log), 0, 1, "1",
     "log one line per ended stream"},
    {"log-level", K_LEVEL, OFF(log_level), 0, 3, "info",
     "error, warn, info or debug"},
    {"cors-origins", K_ORIGINS, 0, 0, 0, "(none)",
     "comma-separated origins allowed to read streams cross-origin, or *"},
    {"cors-credentials", K_BOOL, OFF(cors_credentials), 0, 1, "0",
     "allow cookies cross-origin (Access-Control-Allow-Credentials)"},
    {"status-path", K_STR, OFF(status_path), 0, 0, "(off)",
     "URL path answered with counters (text, ?json, ?prometheus)"},
    {"ping-path", K_STR, OFF(ping_path), 0, 0, "(off)",
     "URL path answered with 'pong' when the database can be read"},
    {"auth-secret-file", K_STR, OFF(auth_secret_file), 0, 0, "(off)",
     "file of HMAC secrets, one a line, for signed tokens (JWT, HS256); "
     "turns access control on"},
    {"user-channels", K_TEMPLATES, OFF(nuser_channels), 0, 0, "(none)",
     "comma-separated patterns a user the web server authenticated "
     "(REMOTE_USER) may read, {user} standing for the name; turns access "
     "control on"},
    {"public-channels", K_PATTERNS, OFF(npublic_channels), 0, 0, "(none)",
     "comma-separated patterns anyone may read once access control is on; "
     "alone, turns it on"},
};

#define NSETTINGS (sizeof SETTINGS / sizeof SETTINGS[0])

static const char *LEVELS[] = {"error", "warn", "info", "debug"};

/* The table's default strings are the only place a default is written:
 * the scalar settings start from them, parsed by sse_config_set, so --help
 * and the values in force cannot drift apart. The list settings and the
 * strings start empty ("(none)", "(off)" and the like). */
void sse_config_init(struct sse_config *c)
{
    memset(c, 0, sizeof *c);
    for (size_t i = 0; i < sizeof SETTINGS / sizeof SETTINGS[0]; i++) {
        const struct setting *s = &SETTINGS[i];
        if (s->kind != K_INT && s->kind != K_I64 && s->kind != K_BOOL &&
            s->kind != K_MODE && s->kind != K_LEVEL)
            continue;
        char err[160];
        int rc = sse_config_set(c, s->name, s->def, err, sizeof err);
        assert(rc == 0 && "a setting's default is a valid value");
        (void)rc;
    }
}

static void clear_origins(struct sse_config *c)
{
    for (size_t i = 0; i < c->norigins; i++)
        free(c->origins[i]);
    c->norigins = 0;
}

/* The count and array of a K_TEMPLATES/K_PATTERNS setting, whose offset
 * is that of its count (the array follows it). */
static size_t *list_count(struct sse_config *c, size_t offset)
{
    return (size_t *)(void *)((char *)c + offset);
}

static char **list_items(struct sse_config *c, size_t offset)
{
    return offset == OFF(nuser_channels) ? c->user_channels
                                         : c->public_channels;
}

static void clear_list(struct sse_config *c, size_t offset)
{
    size_t *n = list_count(c, offset);
    char **items = list_items(c, offset);
    for (size_t i = 0; i < *n; i++)
        free(items[i]);
    *n = 0;
}

void sse_config_cleanup(struct sse_config *c)
{
    if (!c)
        return;
    free(c->auth_secret_file);
    clear_list(c, OFF(nuser_channels));
    clear_list(c, OFF(npublic_channels));
    free(c->db);
    free(c->listen);
    free(c->status_path);
    free(c->ping_path);
    clear_origins(c);
    sse_config_init(c);
}

static const struct setting *find_setting(const char *name)
{
    for (size_t i = 0; i < NSETTINGS; i++)
        if (strcmp(SETTINGS[i].name, name) == 0)
            return &SETTINGS[i];
    return NULL;
}

int sse_config_is_flag(const char *name)
{
    /* Only settings that are off by default are flags; one that is on
     * (access-log) takes a value, so "--access-log 0" can turn it off. */
    const struct setting *s = find_setting(name);
    return s && s->kind == K_BOOL && strcmp(s->def, "0") == 0;
}

static int parse_i64(const char *v, int base, int64_t *out)
{
    char *end;
    errno = 0;
    long long n = strtoll(v, &end, base);
    /* strtoll skips leading white space and takes a '+'; a setting does
     * not, so " 12" is refused like "12 ". */
    if (errno || end == v || *end != '\0' || isspace((unsigned char)v[0]) ||
        v[0] == '+')
        return -1;
    *out = n;
    return 0;
}

static int bad(char *err, size_t errlen, const struct setting *s,
               const char *value, const char *why)
{
    snprintf(err, errlen, "%s: '%s' %s", s->name, value, why);
    return SSE_EINVAL;
}

static int origin_host_valid(const char *p, size_t len)
{
    size_t skip = strncmp(p, "https://", 8) == 0 ? 8 : 7;
    if (len <= skip)
        return 0;
    for (size_t i = skip; i < len; i++) {
        unsigned char c = (unsigned char)p[i];
        if (!isalnum(c) && c != '.' && c != '-' && c != ':' && c != '[' &&
            c != ']')
            return 0;
    }
    return 1;
}

static int set_origins(struct sse_config *c, const struct setting *s,
                       const char *value, char *err, size_t errlen)
{
    char *tmp[SSE_CONFIG_MAX_ORIGINS];
    size_t n = 0;
    const char *p = value;
    int rc = 0;
    while (*p && !rc) {
        size_t skip = strspn(p, ", \t");
        p += skip;
        size_t len = strcspn(p, ", \t");
        if (len == 0)
            break;
        if (n == SSE_CONFIG_MAX_ORIGINS) {
            rc = bad(err, errlen, s, value,
                     "lists too many origins (at most 32)");
            break;
        }
        int star = len == 1 && p[0] == '*';
        if (!star && !(strncmp(p, "http://", 7) == 0 ||
                       strncmp(p, "https://", 8) == 0)) {
            rc = bad(err, errlen, s, value,
                     "is not a list of origins like https://app.example.com");
            break;
        }
        /* An origin is scheme://host[:port], nothing more: anything else
         * (a path, a trailing slash, odd bytes) could never match. */
        if (!star && !origin_host_valid(p, len)) {
            rc = bad(err, errlen, s, value,
                     "has an origin that is not scheme://host[:port]");
            break;
        }
        tmp[n] = strndup(p, len);
        if (!tmp[n]) {
            rc = SSE_ENOMEM;
            break;
        }
        n++;
        p += len;
    }
    if (rc) {
        for (size_t i = 0; i < n; i++)
            free(tmp[i]);
        return rc;
    }
    clear_origins(c);
    memcpy(c->origins, tmp, n * sizeof tmp[0]);
    c->norigins = n;
    return 0;
}

/* One address of a list: IPv4, IPv6, or [IPv6]; an IPv4-mapped IPv6
 * address is kept as IPv4 so that it matches either form of a peer. */
static int parse_addr(const char *p, size_t len, struct sse_config_addr *a)
{
    char tmp[INET6_ADDRSTRLEN + 2];
    if (len >= 2 && p[0] == '[' && p[len - 1] == ']') {
        p++;
        len -= 2;
    }
    if (len == 0 || len >= sizeof tmp)
        return -1;
    memcpy(tmp, p, len);
    tmp[len] = '\0';
    memset(a, 0, sizeof *a);
    if (inet_pton(AF_INET, tmp, a->addr) == 1) {
        a->family = AF_INET;
        return 0;
    }
    struct in6_addr v6;
    if (inet_pton(AF_INET6, tmp, &v6) != 1)
        return -1;
    if (IN6_IS_ADDR_V4MAPPED(&v6)) {
        a->family = AF_INET;
        memcpy(a->addr, v6.s6_addr + 12, 4);
    } else {
        a->family = AF_INET6;
        memcpy(a->addr, v6.s6_addr, 16);
    }
    return 0;
}

static int set_addrs(struct sse_config *c, const struct setting *s,
                     const char *value, char *err, size_t errlen)
{
    struct sse_config_addr tmp[SSE_CONFIG_MAX_PEERS];
    size_t n = 0;
    for (const char *p = value; *p;) {
        p += strspn(p, ", \t");
        size_t len = strcspn(p, ", \t");
        if (len == 0)
            break;
        if (n == SSE_CONFIG_MAX_PEERS)
            return bad(err, errlen, s, value,
                       "lists too many addresses (at most 32)");
        if (parse_addr(p, len, &tmp[n]))
            return bad(err, errlen, s, value,
                       "is not a list of IP addresses like 127.0.0.1,::1");
        n++;
        p += len;
    }
    if (n == 0)
        return bad(err, errlen, s, value, "lists no address");
    memcpy(c->peers, tmp, n * sizeof tmp[0]);
    c->npeers = n;
    return 0;
}

/* Sets a comma-separated list of patterns (templates with {user} for
 * K_TEMPLATES). An empty value clears the list. */
static int set_patterns(struct sse_config *c, const struct setting *s,
                        const char *value, char *err, size_t errlen)
{
    char *tmp[SSE_CONFIG_MAX_PATTERNS];
    size_t n = 0;
    int rc = 0;
    for (const char *p = value; *p && !rc;) {
        p += strspn(p, ", \t");
        size_t len = strcspn(p, ", \t");
        if (len == 0)
            break;
        enum sse_pattern_kind kind;
        int ok = s->kind == K_TEMPLATES ? sse_pattern_template_valid(p, len)
                                        : sse_pattern_parse(p, len, &kind) == 0;
        if (n == SSE_CONFIG_MAX_PATTERNS)
            rc = bad(err, errlen, s, value,
                     "lists too many patterns (at most 32)");
        else if (!ok)
            rc = bad(err, errlen, s, value,
                     s->kind == K_TEMPLATES
                         ? "has an entry that is not a pattern: use names, "
                           "prefixes ending in /* or :*, or *, with {user} "
                           "for the user's name"
                         : "has an entry that is not a pattern: use names, "
                           "prefixes ending in /* or :*, or *");
        else if (!(tmp[n] = strndup(p, len)))
            rc = SSE_ENOMEM;
        else
            n++;
        p += len;
    }
    if (rc) {
        for (size_t i = 0; i < n; i++)
            free(tmp[i]);
        return rc;
    }
    clear_list(c, s->offset);
    memcpy(list_items(c, s->offset), tmp, n * sizeof tmp[0]);
    *list_count(c, s->offset) = n;
    return 0;
}

int sse_config_set(struct sse_config *c, const char *name, const char *value,
                   char *err, size_t errlen)
{
    const struct setting *s = find_setting(name);
    if (!s) {
        snprintf(err, errlen, "unknown setting '%s'", name);
        return SSE_EINVAL;
    }
    char *field = (char *)c + s->offset;
    int64_t n;
    switch (s->kind) {
    case K_STR: {
        if (value[0] == '\0')
            return bad(err, errlen, s, value, "must not be empty");
        if (strcmp(name, "status-path") == 0 ||
            strcmp(name, "ping-path") == 0) {
            if (value[0] != '/')
                return bad(err, errlen, s, value, "must start with '/'");
        }
        char *dup = strdup(value);
        if (!dup)
            return SSE_ENOMEM;
        char **slot = (char **)(void *)field;
        free(*slot);
        *slot = dup;
        return 0;
    }
    case K_INT:
    case K_I64:
    case K_MODE:
    case K_BOOL:
        if (s->offset == OFF(replay) && strcmp(value, "latest") == 0) {
            c->replay = SSE_REPLAY_LATEST;
            return 0;
        }
        if (s->kind == K_BOOL &&
            (strcmp(value, "yes") == 0 || strcmp(value, "true") == 0 ||
             strcmp(value, "on") == 0))
            n = 1;
        else if (s->kind == K_BOOL &&
                 (strcmp(value, "no") == 0 || strcmp(value, "false") == 0 ||
                  strcmp(value, "off") == 0))
            n = 0;
        else if (parse_i64(value, s->kind == K_MODE ? 8 : 10, &n) ||
                 n < s->min || n > s->max) {
            char why[96];
            if (s->kind == K_BOOL)
                snprintf(why, sizeof why,
                         "is not 0/1, yes/no, true/false or on/off");
            else if (s->kind == K_MODE)
                snprintf(why, sizeof why,
                         "is not an octal mode from 0 to 0777");
            else
                snprintf(why, sizeof why,
                         "is not a whole number from %lld to %lld",
                         (long long)s->min, (long long)s->max);
            return bad(err, errlen, s, value, why);
        }
        if (s->kind == K_I64)
            *(int64_t *)(void *)field = n;
        else
            *(int *)(void *)field = (int)n;
        return 0;
    case K_LEVEL:
        for (int i = 0; i < 4; i++)
            if (strcmp(value, LEVELS[i]) == 0) {
                *(int *)(void *)field = i;
                return 0;
            }
        return bad(err, errlen, s, value,
                   "is not one of error, warn, info, debug");
    case K_ORIGINS:
        return set_origins(c, s, value, err, errlen);
    case K_ADDRS:
        return set_addrs(c, s, value, err, errlen);
    case K_TEMPLATES:
    case K_PATTERNS:
        return set_patterns(c, s, value, err, errlen);
    }
    return SSE_EINVAL;
}

/* "cors-origins" -> "SSELITE_CORS_ORIGINS" */
static void env_name(const char *name, char *out, size_t cap)
{
    size_t o = (size_t)snprintf(out, cap, "SSELITE_");
    for (const char *p = name; *p && o + 1 < cap; p++)
        out[o++] =
            *p == '-' ? '_' : (char)(*p >= 'a' && *p <= 'z' ? *p - 32 : *p);
    out[o] = '\0';
}

int sse_config_from_env(struct sse_config *c,
                        const char *(*lookup)(const char *name, void *ctx),
                        void *ctx, char *err, size_t errlen)
{
    for (size_t i = 0; i < NSETTINGS; i++) {
        char var[64];
        env_name(SETTINGS[i].name, var, sizeof var);
        const char *v = lookup(var, ctx);
        if (!v)
            continue;
        char inner[200];
        int rc = sse_config_set(c, SETTINGS[i].name, v, inner, sizeof inner);
        if (rc) {
            snprintf(err, errlen, "%s (from %s)", inner, var);
            return rc;
        }
    }
    /* libfcgi's own variable, which FCGX_Accept_r would have honoured had
     * the worker let libfcgi accept (it does not: see fcgi/accept.c). */
    const char *fcgi = lookup("FCGI_WEB_SERVER_ADDRS", ctx);
    if (c->npeers == 0 && fcgi && fcgi[0]) {
        char inner[200];
        int rc =
            sse_config_set(c, "web-server-addrs", fcgi, inner, sizeof inner);
        if (rc) {
            snprintf(err, errlen, "%s (from FCGI_WEB_SERVER_ADDRS)", inner);
            return rc;
        }
    }
    return 0;
}

int sse_config_validate(const struct sse_config *c, char *err, size_t errlen)
{
    if (!c->db) {
        snprintf(err, errlen, "db: not set (use --db PATH or SSELITE_DB)");
        return SSE_EINVAL;
    }
    for (size_t i = 0; i < c->norigins; i++) {
        if (strcmp(c->origins[i], "*") != 0)
            continue;
        if (c->norigins > 1) {
            snprintf(err, errlen,
                     "cors-origins: '*' cannot be combined with other origins");
            return SSE_EINVAL;
        }
        if (c->cors_credentials) {
            snprintf(err, errlen,
                     "cors-origins: '*' cannot be used with cors-credentials "
                     "(browsers refuse it); list the exact origins");
            return SSE_EINVAL;
        }
    }
    return 0;
}

int sse_config_usage(struct sse_buf *out)
{
    int rc = 0;
    for (size_t i = 0; i < NSETTINGS && !rc; i++) {
        const struct setting *s = &SETTINGS[i];
        char var[64];
        env_name(s->name, var, sizeof var);
        rc = sse_buf_appendf(
            out, "  --%s%s\n      %s (env %s, default %s)\n", s->name,
            sse_config_is_flag(s->name) ? "" : " VALUE", s->help, var, s->def);
    }
    return rc;
}

int sse_config_origin_allowed(const struct sse_config *c, const char *origin)
{
    if (!origin)
        return 0;
    for (size_t i = 0; i < c->norigins; i++)
        if (strcmp(c->origins[i], "*") == 0 ||
            strcmp(c->origins[i], origin) == 0)
            return 1;
    return 0;
}

int sse_config_peer_allowed(const struct sse_config *c,
                            const struct sockaddr *sa)
{
    struct sse_config_addr peer = {0};
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        peer.family = AF_INET;
        memcpy(peer.addr, &in->sin_addr, 4);
    } else if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
        const unsigned char *b = in6->sin6_addr.s6_addr;
        int mapped = IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr);
        peer.family = mapped ? AF_INET : AF_INET6;
        memcpy(peer.addr, mapped ? b + 12 : b, mapped ? 4 : 16);
    } else {
        return 1; /* a unix socket: its file mode decides who connects */
    }
    if (c->npeers == 0)
        return 1;
    size_t len = peer.family == AF_INET ? 4 : 16;
    for (size_t i = 0; i < c->npeers; i++)
        if (c->peers[i].family == peer.family &&
            memcmp(c->peers[i].addr, peer.addr, len) == 0)
            return 1;
    return 0;
}
