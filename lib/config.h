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

#define SSE_CONFIG_MAX_ORIGINS 32

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
    int64_t replay;         /* events replayed on a first connect */
    int poll_ms;            /* change-detection fallback poll interval */
    int busy_timeout_ms;    /* SQLite busy timeout */
    int batch;              /* rows per read */
    int write_timeout_s;    /* a stalled client is dropped after N seconds */
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
 * NULL for an unset variable; pass a getenv wrapper in production).
 * Errors as sse_config_set, with the variable name in the message; the
 * first bad variable stops the scan. */
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

#endif
