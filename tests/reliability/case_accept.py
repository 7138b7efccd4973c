# case_accept.py - reliability cases for how the worker takes connections:
# peers that never finish a request (D2), accept errors such as EMFILE
# (D4), and who may connect to a TCP socket (D10).
# SPDX-License-Identifier: MIT
#
# The worker is reached through a raw FastCGI client (fcgi_raw.py) that
# sends what no web server sends. Settings that older builds do not know
# (request-timeout, web-server-addrs) go through the environment, which a
# build without them ignores, so every case runs against it and fails for
# the defect, not for an unknown option.

import os
import re
import subprocess
import time

import fcgi_raw as F
from harness import (CLI, FCGI, Proc, check, clean_env, free_port, run, tail,
                     tcp_listening, unix_listening, wait_until)
from registry import case

ANSWER = re.compile(rb"retry: (\d+)\n\n:[^\n]*\n\n")


def init_db(env):
    r = run([CLI, "init", env.db])
    check(r.returncode == 0, "sselite init failed: %s" % r.stderr.strip())


def start(env, listen="tcp", settings=None, args=(), prefix=()):
    """Starts the worker on a TCP port of 127.0.0.1 (listen="tcp"), a unix
    socket (listen="unix") or the given --listen value, with SSELITE_* (or
    other) variables from settings. Returns the Proc with .addr set."""
    if listen == "tcp":
        port = free_port()
        value, addr = "127.0.0.1:%d" % port, ("127.0.0.1", port)
        ready = lambda: tcp_listening(port)  # noqa: E731
    elif listen == "unix":
        value = addr = env.path("w.sock")
        ready = lambda: unix_listening(value)  # noqa: E731
    else:
        port = int(listen.rsplit(":", 1)[1])
        value, addr = listen, ("127.0.0.1", port)
        ready = lambda: tcp_listening(port)  # noqa: E731
    e = clean_env()
    e.update(settings or {})
    argv = list(prefix) + [FCGI, "--db", env.db, "--listen", value] + list(args)
    p = Proc("sselite-fcgi", argv, log=env.newlog("worker"), env=e)
    env.procs.append(p)
    wait_until(lambda: ready() or not p.alive(), 10, "the worker to listen on %s" % value)
    check(p.alive(), "the worker exited at start (status %s): %s" % (p.returncode, tail(p.log)))
    # It listens before its threads start; "started" comes after them.
    wait_until(lambda: "info: started" in log_text(p), 10, "the worker's 'started' line")
    p.addr = addr
    return p


def tasks(p):
    return len(os.listdir("/proc/%d/task" % p.pid))


def fds(p):
    return len(os.listdir("/proc/%d/fd" % p.pid))


def fd_targets(p):
    """What each descriptor of p points at, for diagnostics."""
    out = []
    for fd in sorted(os.listdir("/proc/%d/fd" % p.pid), key=int):
        try:
            out.append("%s:%s" % (fd, os.readlink("/proc/%d/fd/%s" % (p.pid, fd))))
        except OSError:
            pass
    return " ".join(out)


def log_text(p):
    with open(p.log, "rb") as f:
        return f.read().decode("utf-8", "replace")


def answered(r):
    """True once a 200 response has its retry line and first comment: the
    opening of a stream or the whole 'busy' answer."""
    return r.status() == 200 and ANSWER.match(r.body()) is not None


def send_stream_request(p, channel="x"):
    c = F.Conn(p.addr)
    c.send(F.request_bytes(query="channel=" + channel))
    return c


def send_longpoll(p, channel="x"):
    """A long poll: it keeps its thread until an event or its timeout,
    unlike a stream, which is parked once it has caught up."""
    c = F.Conn(p.addr)
    c.send(F.request_bytes(query="channel=%s&longpoll=1" % channel))
    return c


def longpoll_answer(c, what):
    """'held' for a long poll that got a thread and waits (headers, no body
    yet), or the retry of the busy answer."""
    r = c.read_until(lambda r: r.status() is not None and r.body(), 1.0)
    check(r.status() == 200, "%s: status %s (got %r)" % (what, r.status(), r.stdout[:200]))
    if not r.body():
        return "held"
    m = ANSWER.match(r.body())
    check(m is not None, "%s: unexpected body %r" % (what, r.body()[:200]))
    return int(m.group(1))


def await_answer(c, timeout, what):
    r = c.read_until(answered, timeout)
    check(answered(r), "%s: no answer within %.1f s (got %r%s)"
          % (what, timeout, r.stdout[:200], ", connection closed" if r.closed else ""))
    return int(ANSWER.match(r.body()).group(1))


def half_request():
    """BEGIN_REQUEST and one PARAMS record, never the empty one that ends
    the params."""
    return F.begin() + F.record(F.PARAMS, 1, F.encode_params(F.cgi_params(query="channel=x")))


@case("d2: silent and half-sent FastCGI connections are dropped after request-timeout; a valid request is answered")
def t_silent_and_half_sent(env):
    init_db(env)
    n, timeout = 3, 1
    w = start(env, settings={"SSELITE_REQUEST_TIMEOUT": str(timeout)},
              args=["--threads", str(n)])
    tasks0, fds0, fd_list0 = tasks(w), fds(w), fd_targets(w)
    bad = [F.Conn(w.addr) for _ in range(n)]  # connect, send nothing
    for _ in range(n):
        c = F.Conn(w.addr)
        c.send(half_request())
        bad.append(c)
    t0 = time.monotonic()
    good = send_stream_request(w)
    # n threads take the first n bad connections, drop them after the
    # timeout, take the next n and drop those: then the valid request.
    bound = 2 * timeout + 3
    await_answer(good, bound, "a valid request behind %d silent and %d half-sent connections"
                 % (n, n))
    took = time.monotonic() - t0
    for i, c in enumerate(bad):
        check(c.wait_closed(2.0), "bad connection %d was not closed" % i)
        c.close()
    check(took >= timeout * 0.9, "answered after %.2f s, before any connection could time out" % took)
    wait_until(lambda: log_text(w).count("no complete request within %d s" % timeout) >= 2 * n, 3,
               "%d log lines saying why the connections were dropped" % (2 * n))
    good.close()
    # The worker notices the stream's client left at once (hang-up, then
    # two probes), and a dropped connection's descriptor is closed after at
    # most 2 s of lingering.
    t1 = time.monotonic()
    wait_until(lambda: tasks(w) == tasks0 and fds(w) == fds0, 5,
               "threads and descriptors back to %d and %d (now %d, %d: %s; before: %s)"
               % (tasks0, fds0, tasks(w), fds(w), fd_targets(w), fd_list0))
    print("#   descriptors back to the baseline %.2f s after the last close" % (time.monotonic() - t1))


@case("d2: a connection that has not sent its request counts as busy: the spare thread answers busy")
def t_busy_from_accept(env):
    init_db(env)
    w = start(env, listen="unix", settings={"SSELITE_REQUEST_TIMEOUT": "20"},
              args=["--threads", "2", "--busy-retry-ms", "4321"])
    fds0 = fds(w)
    half = F.Conn(w.addr)
    half.send(half_request())
    wait_until(lambda: fds(w) > fds0, 3, "a thread to accept the half-sent connection")
    # A request that would keep its thread (a long poll) gets the busy
    # answer from the spare thread.
    poll = send_longpoll(w)
    retry = longpoll_answer(poll, "the long poll")
    check(retry == 4321, "the long poll got %s, not the busy answer (retry 4321): the thread "
          "waiting for the half-sent request was not counted" % retry)
    poll.close()
    # A stream holds the spare thread only for its hand-shake, then is
    # parked without one (lib/loop.c): it is served.
    good = send_stream_request(w)
    retry = await_answer(good, 3.0, "the stream request")
    check(retry == 3000, "the stream got retry %d, not a stream (3000)" % retry)
    good.close()
    half.close()


@case("d2: a kept-alive connection serves requests in turn and is closed after request-timeout idle")
def t_keep_alive_idle(env):
    init_db(env)
    w = start(env, settings={"SSELITE_REQUEST_TIMEOUT": "1"}, args=["--threads", "1"])
    kept = F.Conn(w.addr)
    for rid, method in ((1, "POST"), (2, "PUT")):
        kept.send(F.request_bytes(rid=rid, keep=True, method=method, query="channel=x"))
        r = kept.response(3.0)
        check(r.ended and r.status() == 405,
              "kept-alive request %d: status %s, ended %s, closed %s"
              % (rid, r.status(), r.ended, r.closed))
    # The only thread holds the idle kept-alive connection: the next
    # request is answered once the worker closes it.
    t0 = time.monotonic()
    good = send_stream_request(w)
    await_answer(good, 4.0, "a request behind an idle kept-alive connection (threads 1)")
    check(kept.wait_closed(1.0), "the idle kept-alive connection was not closed")
    check(time.monotonic() - t0 >= 0.9, "answered before the kept-alive connection was idle 1 s")
    good.close()
    kept.close()


def set_soft_nofile(pid, soft, hard):
    r = subprocess.run(["prlimit", "--pid", str(pid), "--nofile=%d:%d" % (soft, hard)],
                       capture_output=True, text=True, timeout=10)
    check(r.returncode == 0, "prlimit --pid failed: %s" % r.stderr.strip())


@case("d4: accept errors (EMFILE) are retried with backoff; every thread serves again afterwards")
def t_emfile(env):
    init_db(env)
    n, hard = 4, 64
    w = start(env, listen="unix", args=["--threads", str(n)],
              prefix=["prlimit", "--nofile=%d:%d" % (hard, hard)])
    tasks0 = tasks(w)
    # No descriptor can be opened any more. Threads already blocked in
    # accept hold a reserved one (Linux reserves it before waiting), so
    # each answers one request and then fails to accept again.
    set_soft_nofile(w.pid, 3, hard)
    for i in range(n):
        c = F.Conn(w.addr)
        c.send(F.request_bytes(method="POST"))
        r = c.response(3.0)
        c.close()
        if not r.ended:
            break
    wait_until(lambda: "accept failed: Too many open files" in log_text(w), 5,
               "accept to fail with EMFILE")
    # Hold the shortage past the ~1 s after which a thread used to give up.
    time.sleep(2.5)
    pending = send_stream_request(w)
    set_soft_nofile(w.pid, hard, hard)
    await_answer(pending, 3.0, "the request that waited for the shortage to end")
    gone = log_text(w).count("reason=client_gone")
    pending.close()
    # Its thread is free once the worker has seen the client leave; until
    # then it still counts as busy, and a stream opened now could be the one
    # that gets the spare thread's busy answer.
    wait_until(lambda: log_text(w).count("reason=client_gone") > gone, 5,
               "the worker to end the stream whose client left")
    # Long polls keep their threads (streams would be parked and free
    # theirs): n - 1 of them take every thread but the spare one.
    streams = []
    for i in range(n - 1):
        c = send_longpoll(w)
        answer = longpoll_answer(c, "long poll %d of %d after the shortage" % (i + 1, n - 1))
        check(answer == "held", "long poll %d got the busy answer: threads were lost" % (i + 1))
        streams.append(c)
    spare = send_longpoll(w)
    check(longpoll_answer(spare, "the spare thread's busy answer") == 5000,
          "the long poll beyond %d threads did not get the busy answer" % (n - 1))
    check(tasks(w) == tasks0, "%d tasks after the shortage, %d before" % (tasks(w), tasks0))
    text = log_text(w)
    check("capacity reduced" in text and "accepting connections again" in text,
          "the log does not say that capacity was reduced and restored: %s" % tail(w.log, 6))
    for c in streams + [spare]:
        c.close()


def start_fails(env, listen, settings=None):
    """Runs the worker on listen; returns (exit status, stderr) if it exits
    within 5 s, or None (after stopping it) if it keeps running."""
    e = clean_env()
    e.update(settings or {})
    log = env.newlog("worker")
    with open(log, "wb") as f:
        p = subprocess.Popen([FCGI, "--db", env.db, "--listen", listen], stdin=subprocess.DEVNULL,
                             stdout=f, stderr=f, env=e, cwd=env.dir)
    try:
        status = p.wait(timeout=5)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()
        return None
    with open(log) as f:
        return status, f.read()


@case("d10: --listen on every interface without web-server-addrs is refused at start")
def t_wildcard_refused(env):
    init_db(env)
    for host in ("0.0.0.0", "[::]", "*", ""):
        listen = "%s:%d" % (host, free_port())
        res = start_fails(env, listen)
        check(res is not None, "--listen %s: the worker started" % listen)
        status, err = res
        check(status != 0 and "every host" in err and "web-server-addrs" in err,
              "--listen %s: status %s, message %r" % (listen, status, err.strip()))


@case("d10: web-server-addrs: an unlisted peer is closed unanswered; FCGI_WEB_SERVER_ADDRS admits a listed one")
def t_web_server_addrs(env):
    init_db(env)
    w = start(env, settings={"SSELITE_WEB_SERVER_ADDRS": "192.0.2.1, ::1"})
    c = send_stream_request(w)
    r = c.read_until(lambda r: False, 3.0)
    check(r.closed and not r.stdout, "a peer not in web-server-addrs got %r%s"
          % (r.stdout[:120], "" if r.closed else " and the connection stayed open"))
    c.close()
    wait_until(lambda: "refused a FastCGI connection from 127.0.0.1" in log_text(w), 3,
               "a log line about the refused peer")
    w.stop()

    port = free_port()
    w2 = start(env, listen="0.0.0.0:%d" % port,
               settings={"FCGI_WEB_SERVER_ADDRS": "192.0.2.1,127.0.0.1"})
    c = send_stream_request(w2)
    await_answer(c, 3.0, "a listed peer (FCGI_WEB_SERVER_ADDRS)")
    c.close()
