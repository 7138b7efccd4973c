#!/usr/bin/env python3
# socket_unit.py - stands in for deploy/systemd's sselite.socket and
# sselite.service (Restart=on-failure) where there is no systemd, as in CI.
# SPDX-License-Identifier: MIT
#
# Usage: socket_unit.py SOCKET MODE RESTART_MS -- WORKER ARGV...
#
# Binds and listens on the unix socket SOCKET (mode MODE, octal) and keeps
# it open for its whole life, as systemd does for a socket unit. It runs the
# worker with the socket as fd 3, LISTEN_FDS=1 and LISTEN_PID set, as
# systemd's socket activation does. When the worker dies of a signal or
# exits non-zero, it starts a new one RESTART_MS later (systemd's RestartSec,
# 100 ms by default); connections made meanwhile wait in the socket's
# backlog instead of being refused. A worker that exits 0 is not restarted.
# SIGTERM/SIGINT are passed on to the worker; once it has exited, the socket
# is closed and unlinked and this process exits. Standard library only.

import os
import signal
import socket
import sys
import time

BACKLOG = 4096  # systemd's default Backlog= (net.core.somaxconn)
LISTEN_FD = 3   # SD_LISTEN_FDS_START

stopping = False
child = 0


def on_stop(signum, frame):
    global stopping
    stopping = True
    if child:
        try:
            os.kill(child, signum)
        except ProcessLookupError:
            pass


def spawn(sock, argv):
    pid = os.fork()
    if pid == 0:
        try:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            if sock.fileno() != LISTEN_FD:
                os.dup2(sock.fileno(), LISTEN_FD)
            os.set_inheritable(LISTEN_FD, True)
            env = dict(os.environ, LISTEN_FDS="1", LISTEN_PID=str(os.getpid()))
            os.execve(argv[0], argv, env)
        finally:
            os._exit(127)
    return pid


def main(args):
    global child
    if len(args) < 5 or args[3] != "--":
        sys.stderr.write("usage: socket_unit.py SOCKET MODE RESTART_MS -- WORKER ARGV...\n")
        return 2
    path, mode, restart = args[0], int(args[1], 8), int(args[2]) / 1000.0
    argv = args[4:]
    signal.signal(signal.SIGTERM, on_stop)
    signal.signal(signal.SIGINT, on_stop)
    if os.path.exists(path):
        os.unlink(path)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(path)
    os.chmod(path, mode)
    sock.listen(BACKLOG)
    sys.stderr.write("socket_unit: listening on %s\n" % path)
    sys.stderr.flush()
    while not stopping:
        child = spawn(sock, argv)
        if stopping:  # the signal came before child was set
            os.kill(child, signal.SIGTERM)
        _, status = os.waitpid(child, 0)
        child = 0
        clean = os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
        sys.stderr.write("socket_unit: worker %s\n" % (
            "exited 0" if clean else
            "exited %d" % os.WEXITSTATUS(status) if os.WIFEXITED(status) else
            "killed by signal %d" % os.WTERMSIG(status)))
        sys.stderr.flush()
        if clean:
            break
        if not stopping:
            time.sleep(restart)  # RestartSec: pacing, as systemd does
    sock.close()
    os.unlink(path)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
