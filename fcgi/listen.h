/* listen.h - find or create the socket the worker accepts FastCGI on.
 * SPDX-License-Identifier: MIT
 *
 * Order: --listen (a socket we create), then a socket passed by systemd
 * (LISTEN_PID/LISTEN_FDS, fd 3), then a listening socket on fd 0 (lighttpd
 * bin-path, spawn-fcgi, mod_fcgid). FCGX_IsCGI() is not used: under socket
 * activation it reports CGI mode.
 *
 * A created TCP socket that every host can reach (0.0.0.0, [::], "*") is
 * refused unless web-server-addrs lists the web servers; any other TCP
 * socket reachable from other hosts without that list gets a warning.
 *
 * Thread-safety: call sse_listen_open once from the main thread before
 * threads start.
 */
#ifndef SSE_LISTEN_H
#define SSE_LISTEN_H

#include <sys/socket.h>

#include "config.h"

/* Stores the listening fd in *fd and describes it in desc (capacity
 * desclen). *owned_path receives a copy of a unix path we created (to unlink
 * at exit; owned by caller) or NULL. Returns 0, or SSE_EINVAL/SSE_EIO with
 * a message in err. */
int sse_listen_open(const struct sse_config *cfg, int *fd, char **owned_path,
                    char *desc, size_t desclen, char *err, size_t errlen);

/* Writes a socket address as "127.0.0.1:9000", "[::1]:9000", "unix", or
 * "?" into out (capacity cap). Thread-safe. */
void sse_listen_format_addr(const struct sockaddr *sa, socklen_t len, char *out,
                            size_t cap);

#endif
