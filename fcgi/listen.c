/* listen.c - find or create the socket the worker accepts FastCGI on.
 * SPDX-License-Identifier: MIT
 */
#include <errno.h>
#include <fcgiapp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "listen.h"
#include "sse_error.h"

static int is_listening_socket(int fd)
{
    int val = 0;
    socklen_t len = sizeof val;
    return getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &val, &len) == 0 && val;
}

static int systemd_fd(void)
{
    const char *pid = getenv("LISTEN_PID");
    const char *fds = getenv("LISTEN_FDS");
    if (!pid || !fds)
        return -1;
    char *end;
    long p = strtol(pid, &end, 10);
    if (*end || p != (long)getpid())
        return -1;
    long n = strtol(fds, &end, 10);
    if (*end || n < 1)
        return -1;
    /* Not for children: a worker never execs, but be a good citizen. */
    unsetenv("LISTEN_PID");
    unsetenv("LISTEN_FDS");
    unsetenv("LISTEN_FDNAMES");
    return 3;
}

/* Refuses to take over a unix socket another process still accepts on
 * (FCGX_OpenSocket would unlink it silently). */
static int unix_path_in_use(const char *path)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof sa.sun_path)
        return 0;
    memcpy(sa.sun_path, path, strlen(path) + 1);
    int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (s < 0)
        return 0;
    int used = connect(s, (struct sockaddr *)&sa, sizeof sa) == 0;
    close(s);
    return used;
}

int sse_listen_open(const struct sse_config *cfg, int *fd, char **owned_path,
                    char *desc, size_t desclen, char *err, size_t errlen)
{
    *owned_path = NULL;
    if (cfg->listen) {
        const char *l = cfg->listen;
        int is_unix = strchr(l, '/') || !strchr(l, ':');
        if (is_unix && unix_path_in_use(l)) {
            snprintf(err, errlen, "listen: '%s' is in use by another process",
                     l);
            return SSE_EINVAL;
        }
        if (!is_unix && l[0] == ':') {
            snprintf(err, errlen,
                     "listen: '%s' would accept on every interface; give an "
                     "address, "
                     "e.g. 127.0.0.1%s",
                     l, l);
            return SSE_EINVAL;
        }
        int s = FCGX_OpenSocket(l, cfg->backlog);
        if (s < 0) {
            snprintf(err, errlen, "listen: cannot listen on '%s': %s", l,
                     strerror(errno));
            return SSE_EIO;
        }
        if (is_unix) {
            if (chmod(l, (mode_t)cfg->socket_mode) != 0) {
                snprintf(err, errlen, "listen: chmod %o '%s': %s",
                         cfg->socket_mode, l, strerror(errno));
                close(s);
                return SSE_EIO;
            }
            *owned_path = strdup(l);
        }
        *fd = s;
        snprintf(desc, desclen, "%s (created)", l);
        return 0;
    }
    int s = systemd_fd();
    if (s >= 0 && is_listening_socket(s)) {
        *fd = s;
        snprintf(desc, desclen, "fd 3 (systemd socket activation)");
        return 0;
    }
    if (is_listening_socket(0)) {
        *fd = 0;
        snprintf(desc, desclen, "fd 0 (passed by the web server)");
        return 0;
    }
    snprintf(
        err, errlen,
        "no socket to accept on: start me from a web server (lighttpd "
        "bin-path, "
        "mod_fcgid, spawn-fcgi), systemd socket activation, or give --listen "
        "PATH|HOST:PORT");
    return SSE_EINVAL;
}
