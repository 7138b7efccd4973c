/* config.h - worker settings from environment variables and options.
 * SPDX-License-Identifier: MIT
 *
 * Every setting has one name used three ways: the long option "--NAME",
 * the environment variable "SSELITE_NAME" (upper case, '-' -> '_'), which
 * every web server can pass (FcgidInitialEnv, lighttpd bin-environment,
 * systemd Environment=), and the key for sse_config_set(). Options override
 * the environment. Each value is validated when it is set, and the error
 * message names the setting and repeats the bad value.
 *
 * Thread-safety: build the config once before threads start; afterwards it
 * is read-only and may be shared.
 */
#ifndef SSE_CONFIG_H
#define SSE_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

struct sse_access;

#define SSE_CONFIG_MAX_ORIGINS 32
#define SSE_CONFIG_MAX_PEERS 32
/* db-connections' upper bound (logpool.h's SSE_LOGPOOL_MAX_OPEN). */
#define SSE_CONFIG_MAX_DB_CONNECTIONS 256

struct sockaddr;

/* An IP address of a web server allowed to connect: family is AF_INET (the
 * first 4 bytes of addr are used) or AF_INET6; an IPv4-mapped IPv6 address
 * is stored as AF_INET. */
struct sse_config_addr {
    int family;
    unsigned char addr[16];
};
#define SSE_CONFIG_MAX_PATTERNS 32 /* in user-channels, public-channels */

struct sse_config {
    char *db;               /* owned; SSELITE_DB, required */
    char *listen;           /* owned or NULL: unix path or HOST:PORT; NULL =
                               inherited socket (LISTEN_FDS or fd 0) */
    int socket_mode;        /* permissions of a socket we create (0660) */
    int backlog;            /* listen backlog of a socket we create */
    int threads;            /* hand-shakes (and catch-ups) at once */
    int max_streams;        /* open streams per process; 0: from the
                               open-files limit (fcgi/main.c sets it) */
    int heartbeat_s;        /* comment every N seconds when idle */
    int64_t retry_ms;       /* "retry:" sent at stream start */
    int64_t error_retry_ms; /* "retry:" sent with a server-side fault */
    int64_t busy_retry_ms;  /* "retry:" sent when every thread is busy */
    int max_lifetime_s;     /* end a stream after N seconds; 0 = never */
    int64_t replay;         /* events replayed on a first connect, or
                               SSE_REPLAY_LATEST (request.h) */
    int poll_ms;            /* change-detection fallback poll interval */
    int resume_wait_ms;     /* on a hot standby, wait this long for a resume
                               id it has not replayed yet */
    int busy_timeout_ms;    /* SQLite busy timeout */
    int db_connections;     /* logpool's max_open */
    int batch;              /* rows per read */
    int write_timeout_s;    /* a stalled client is dropped after N seconds */
    int request_timeout_s;  /* a connection delivers its request within N s */
    int longpoll_timeout_s; /* long poll waits at most N seconds */
    int ring_events;        /* recent events kept in memory per process */
    int64_t ring_bytes;     /* and at most this many bytes of them */
    int access_log;         /* 1: one log line per ended stream */
    int log_level;          /* 0 error, 1 warn, 2 info, 3 debug */
    int cors_credentials;   /* 1: Access-Control-Allow-Credentials */
    size_t norigins;        /* 0 = no CORS headers at all */
    char *origins[SSE_CONFIG_MAX_ORIGINS]; /* owned; "*" allowed alone */
    char *status_path; /* owned or NULL: e.g. "/sselite-status" */
    char *ping_path;   /* owned or NULL: e.g. "/sselite-ping" */
    size_t npeers;     /* 0 = any peer may connect over TCP */
    struct sse_config_addr peers[SSE_CONFIG_MAX_PEERS]; /* web-server-addrs */
    /* Access control (lib/access.h); off while all three are unset. */
    char *auth_secret_file; /* owned or NULL: turns on signed tokens */
    size_t nuser_channels;  /* templates granted to a REMOTE_USER */
    char *user_channels[SSE_CONFIG_MAX_PATTERNS]; /* owned; "{user}" */
    size_t npublic_channels;                      /* patterns anyone may read */
    char *public_channels[SSE_CONFIG_MAX_PATTERNS]; /* owned */
    /* Borrowed, not a setting: the policy the worker built from the three
     * above (sse_access_new) before threads start; NULL when none was
     * built (every channel public, as with access control off). */
    const struct sse_access *access;
};

/* Fills c with the defaults; allocates nothing. */
void sse_config_init(struct sse_config *c);

/* Frees owned strings; c may be re-initialised. NULL-safe. */
void sse_config_cleanup(struct sse_config *c);

/* Sets one setting by its option name ("heartbeat", "db", ...). Returns 0,
 * or SSE_EINVAL with err (capacity errlen) naming the setting and the bad
 * value, e.g. "heartbeat: '0' is not a whole number from 1 to 3600"; an
 * unknown name is SSE_EINVAL too. c is unchanged on failure. */
int sse_config_set(struct sse_config *c, const char *name, const char *value,
                   char *err, size_t errlen);

/* Applies every SSELITE_* variable that lookup() finds (lookup returns
 * NULL for an unset variable; pass a getenv wrapper in production). Without
 * SSELITE_WEB_SERVER_ADDRS, a non-empty FCGI_WEB_SERVER_ADDRS (libfcgi's
 * own variable) sets web-server-addrs. Errors as sse_config_set, with the
 * variable name in the message; the first bad variable stops the scan. */
int sse_config_from_env(struct sse_config *c,
                        const char *(*lookup)(const char *name, void *ctx),
                        void *ctx, char *err, size_t errlen);

/* Cross-checks settings once all are set: db given, "*" not combined with
 * other origins nor with credentials. Returns 0 or SSE_EINVAL with err. */
int sse_config_validate(const struct sse_config *c, char *err, size_t errlen);

/* Returns 1 if name is a setting that takes no value on the command line
 * ("--cors-credentials" alone means "1"), 0 otherwise. */
int sse_config_is_flag(const char *name);

/* Appends a help text listing every setting, its variable and default. */
int sse_config_usage(struct sse_buf *out);

/* Returns 1 if origin (exact, case-sensitive "scheme://host[:port]") may
 * read streams cross-origin under c, 0 otherwise. */
int sse_config_origin_allowed(const struct sse_config *c, const char *origin);

/* Returns 1 if a FastCGI peer at sa may connect under c: always for a peer
 * that is not IPv4 or IPv6 (a unix socket), and for any address when
 * web-server-addrs is empty; otherwise only for a listed address (an
 * IPv4-mapped IPv6 peer matches its IPv4 entry). 0 otherwise. */
int sse_config_peer_allowed(const struct sse_config *c,
                            const struct sockaddr *sa);

#endif
