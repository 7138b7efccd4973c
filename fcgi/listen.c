/* listen.c - find or create the socket the worker accepts FastCGI on.
 * SPDX-License-Identifier: MIT
 *
 * A TCP socket is created here rather than by FCGX_OpenSocket, which knows
 * only IPv4 (it turns "[::1]:9000" into a unix socket of that name), binds
 * every interface for "*:PORT" and exits the process when a name does not
 * resolve. Whoever can reach a TCP port can talk FastCGI to the worker, so
 * an address that accepts from the network needs the list of web servers
 * allowed to connect (web-server-addrs / FCGI_WEB_SERVER_ADDRS).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcgiapp.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "listen.h"
#include "logging.h"
#include "sse_error.h"

/* Who can reach a socket bound to an address. */
enum reach {
    REACH_LOCAL, /* a unix socket or a loopback address */
    REACH_HOST,  /* one address of a network interface */
    REACH_EVERY  /* the unspecified address: every interface */
};

static enum reach reach_of(const struct sockaddr *sa)
{
    if (sa->sa_family == AF_INET) {
        uint32_t a = ntohl(((const struct sockaddr_in *)sa)->sin_addr.s_addr);
        if (a == INADDR_ANY)
            return REACH_EVERY;
        return (a >> 24) == 127 ? REACH_LOCAL : REACH_HOST;
    }
    if (sa->sa_family == AF_INET6) {
        const struct in6_addr *a =
            &((const struct sockaddr_in6 *)sa)->sin6_addr;
        if (IN6_IS_ADDR_UNSPECIFIED(a))
            return REACH_EVERY;
        if (IN6_IS_ADDR_LOOPBACK(a) ||
            (IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127))
            return REACH_LOCAL;
        return REACH_HOST;
    }
    return REACH_LOCAL;
}

void sse_listen_format_addr(const struct sockaddr *sa, socklen_t len, char *out,
                            size_t cap)
{
    if (sa->sa_family == AF_UNIX) {
        snprintf(out, cap, "unix");
        return;
    }
    char host[NI_MAXHOST], port[NI_MAXSERV];
    if (getnameinfo(sa, len, host, sizeof host, port, sizeof port,
                    NI_NUMERICHOST | NI_NUMERICSERV) != 0) {
        snprintf(out, cap, "?");
        return;
    }
    snprintf(out, cap, sa->sa_family == AF_INET6 ? "[%s]:%s" : "%s:%s", host,
             port);
}

/* Warns when a TCP socket that accepts from other hosts has no list of
 * allowed web servers. */
static void warn_if_exposed(const struct sse_config *cfg, int fd,
                            const char *what)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    if (cfg->npeers || getsockname(fd, (struct sockaddr *)&ss, &len) != 0 ||
        reach_of((struct sockaddr *)&ss) == REACH_LOCAL)
        return;
    char addr[INET6_ADDRSTRLEN + 10];
    sse_listen_format_addr((struct sockaddr *)&ss, len, addr, sizeof addr);
    sse_log(SSE_LOG_WARN,
            "%s: TCP %s is reachable from other hosts and web-server-addrs "
            "is not set: anyone who reaches it can send FastCGI requests",
            what, addr);
}

/* Splits "HOST:PORT" ("[V6]:PORT" too) and resolves it to one address,
 * preferring IPv4 for a name (libfcgi resolved names to IPv4 only). An
 * empty host or "*" is the unspecified IPv4 address. */
static int resolve(const char *l, struct sockaddr_storage *ss, socklen_t *len,
                   char *err, size_t errlen)
{
    const char *colon = strrchr(l, ':');
    char host[256];
    size_t hlen = (size_t)(colon - l);
    const char *h = l;
    if (hlen >= 2 && l[0] == '[' && l[hlen - 1] == ']') {
        h++;
        hlen -= 2;
    }
    char *end;
    errno = 0;
    long port = strtol(colon + 1, &end, 10);
    if (hlen >= sizeof host || colon[1] < '0' || colon[1] > '9' || *end ||
        errno || port < 1 || port > 65535) {
        snprintf(err, errlen,
                 "listen: '%s' is neither a unix socket path nor HOST:PORT", l);
        return SSE_EINVAL;
    }
    memcpy(host, h, hlen);
    host[hlen] = '\0';
    int any = hlen == 0 || strcmp(host, "*") == 0;
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM,
                             .ai_flags =
                                 AI_NUMERICSERV | (any ? AI_PASSIVE : 0),
                             .ai_family = any ? AF_INET : AF_UNSPEC};
    struct addrinfo *res = NULL;
    int rc = getaddrinfo(any ? NULL : host, colon + 1, &hints, &res);
    if (rc != 0) {
        snprintf(err, errlen, "listen: cannot resolve '%s': %s", host,
                 gai_strerror(rc));
        return SSE_EINVAL;
    }
    const struct addrinfo *pick = res;
    for (const struct addrinfo *a = res; a; a = a->ai_next)
        if (a->ai_family == AF_INET) {
            pick = a;
            break;
        }
    memcpy(ss, pick->ai_addr, pick->ai_addrlen);
    *len = pick->ai_addrlen;
    freeaddrinfo(res);
    return 0;
}

static int open_tcp(const struct sse_config *cfg, const char *l, int *fd,
                    char *desc, size_t desclen, char *err, size_t errlen)
{
    struct sockaddr_storage ss;
    socklen_t len;
    int rc = resolve(l, &ss, &len, err, errlen);
    if (rc)
        return rc;
    const struct sockaddr *sa = (const struct sockaddr *)&ss;
    char addr[INET6_ADDRSTRLEN + 10];
    sse_listen_format_addr(sa, len, addr, sizeof addr);
    if (reach_of(sa) == REACH_EVERY && cfg->npeers == 0) {
        snprintf(err, errlen,
                 "listen: '%s' (%s) accepts FastCGI from every host; give the "
                 "address the web server connects to (e.g. 127.0.0.1:%s), or "
                 "list the web servers allowed to connect in web-server-addrs "
                 "or FCGI_WEB_SERVER_ADDRS",
                 l, addr, strrchr(l, ':') + 1);
        return SSE_EINVAL;
    }
    int s = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    if (s < 0 || setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) ||
        bind(s, sa, len) != 0 || listen(s, cfg->backlog) != 0) {
        snprintf(err, errlen, "listen: cannot listen on '%s': %s", l,
                 strerror(errno));
        if (s >= 0)
            close(s);
        return SSE_EIO;
    }
    warn_if_exposed(cfg, s, "listen");
    *fd = s;
    snprintf(desc, desclen, "%s (created)", addr);
    return 0;
}

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
        if (!is_unix)
            return open_tcp(cfg, l, fd, desc, desclen, err, errlen);
        int s = FCGX_OpenSocket(l, cfg->backlog);
        if (s < 0) {
            snprintf(err, errlen, "listen: cannot listen on '%s': %s", l,
                     strerror(errno));
            return SSE_EIO;
        }
        if (chmod(l, (mode_t)cfg->socket_mode) != 0) {
            snprintf(err, errlen, "listen: chmod %o '%s': %s", cfg->socket_mode,
                     l, strerror(errno));
            close(s);
            return SSE_EIO;
        }
        *owned_path = strdup(l);
        *fd = s;
        snprintf(desc, desclen, "%s (created)", l);
        return 0;
    }
    int s = systemd_fd();
    if (s >= 0 && is_listening_socket(s)) {
        *fd = s;
        warn_if_exposed(cfg, s, "fd 3 (systemd)");
        snprintf(desc, desclen, "fd 3 (systemd socket activation)");
        return 0;
    }
    if (is_listening_socket(0)) {
        *fd = 0;
        warn_if_exposed(cfg, 0, "fd 0");
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
