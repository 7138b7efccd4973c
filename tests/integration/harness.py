# harness.py - process, web server, database and SSE-client helpers for the
# sselite integration suite.
# SPDX-License-Identifier: MIT
#
# Everything here drives real programs: lighttpd in the foreground, the
# sselite-fcgi worker (spawned by lighttpd through bin-path, or started here
# with --listen on a unix socket), real SQLite files, and a raw-socket HTTP/1.1
# client that parses text/event-stream by the WHATWG rules while recording
# when each event arrived. Python 3 standard library only.
#
# Every process started here is registered in PROCS and killed by PID when
# its case ends, when the suite exits, or on SIGINT/SIGTERM/SIGHUP. Workers
# that lighttpd spawns are found through /proc (parent PID) and tracked too.
# Waits poll a condition with a deadline; nothing sleeps to synchronise.

import atexit
import contextlib
import os
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
FCGI = os.environ.get("SSELITE_FCGI", os.path.join(REPO, "fcgi", "sselite-fcgi"))
CLI = os.environ.get("SSELITE_CLI", os.path.join(REPO, "tools", "sselite"))
LIGHTTPD = os.environ.get("LIGHTTPD", shutil.which("lighttpd") or "/usr/sbin/lighttpd")
SQLITE3 = shutil.which("sqlite3") or "/usr/bin/sqlite3"

POLL = 0.02  # seconds between two looks at a polled condition

# With SSELITE_IT_PG set to a postgresql:// URI (tests/postgres/run.py does),
# every Env's database is a schema of its own in that PostgreSQL database
# instead of a SQLite file, and the publishing helpers below write there,
# with psycopg2, as an application would: the same cases, the other engine.
PG_BASE = os.environ.get("SSELITE_IT_PG")
_pg_schemas = [0]


def is_pg(db):
    return db.startswith(("postgresql://", "postgres://"))


def pg_schema(db):
    m = re.search(r"[?&]sselite_schema=([a-z0-9_]+)", db)
    return m.group(1) if m else "sselite"


def pg_connect(db, autocommit=False):
    """A psycopg2 connection to the database of the URI db (without our own
    sselite_schema parameter, which libpq does not know)."""
    import psycopg2  # Debian: python3-psycopg2; only the PostgreSQL runs need it
    con = psycopg2.connect(re.sub(r"[?&]sselite_schema=[a-z0-9_]+", "", db))
    con.autocommit = autocommit
    return con


def pg_insert(cur, db, channel, event, data):
    cur.execute("INSERT INTO %s.events (channel, event, data) VALUES (%%s, %%s, %%s)"
                " RETURNING id" % pg_schema(db), (channel, event, data))
    return cur.fetchone()[0]


class TestFailure(Exception):
    """An assertion of the suite did not hold."""


def check(cond, msg):
    if not cond:
        raise TestFailure(msg)


def wait_until(pred, timeout, what, interval=POLL):
    """Polls pred() until it is true; raises TestFailure after timeout s."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() >= deadline:
            raise TestFailure("timed out after %.1f s waiting for %s" % (timeout, what))
        time.sleep(interval)


# ---------------------------------------------------------------- processes

PROCS = []  # every Proc still to be reaped


class Proc:
    """A child process we own: Popen for those we start, or a bare PID (with
    its start time, against PID reuse) for the workers lighttpd spawns."""

    def __init__(self, name, argv=None, log=None, env=None, pid=None):
        self.name = name
        self.log = log
        self.popen = None
        self.returncode = None
        if argv is not None:
            logf = open(log, "ab") if log else subprocess.DEVNULL
            try:
                self.popen = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                                              stdout=logf, stderr=logf, env=env)
            finally:
                if log:
                    logf.close()
            self.pid = self.popen.pid
        else:
            self.pid = pid
        self.start = proc_start_time(self.pid)
        PROCS.append(self)

    def alive(self):
        if self.popen is not None:
            if self.popen.poll() is None:
                return True
            self.returncode = self.popen.returncode
            return False
        st = proc_start_time(self.pid)
        return st is not None and st == self.start and not proc_is_zombie(self.pid)

    def signal(self, sig):
        if self.alive():
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, sig)

    def wait(self, timeout):
        """Waits for exit; returns the exit status (Popen) or True, or None
        if still alive after timeout."""
        deadline = time.monotonic() + timeout
        while self.alive():
            if time.monotonic() >= deadline:
                return None
            time.sleep(POLL)
        return self.returncode if self.popen is not None else True

    def stop(self, grace=3.0):
        """SIGTERM, then SIGKILL after grace seconds; unregisters."""
        if self.alive():
            self.signal(signal.SIGTERM)
            if self.wait(grace) is None:
                self.signal(signal.SIGKILL)
                self.wait(5.0)
        if self.popen is not None:
            with contextlib.suppress(Exception):
                self.popen.wait(timeout=1)
        if self in PROCS:
            PROCS.remove(self)


def proc_stat(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            s = f.read()
    except OSError:
        return None
    # The command name is in parentheses and may hold spaces.
    return s[s.rindex(")") + 2:].split()


def proc_start_time(pid):
    st = proc_stat(pid)
    return None if st is None else st[19]


def proc_is_zombie(pid):
    st = proc_stat(pid)
    return st is None or st[0] == "Z"


def children_of(pid):
    out = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            st = proc_stat(int(d))
            if st is not None and st[1] == str(pid):
                out.append(int(d))
    return out


def kill_all():
    for p in list(reversed(PROCS)):
        with contextlib.suppress(Exception):
            p.signal(signal.SIGKILL)
    for p in list(reversed(PROCS)):
        with contextlib.suppress(Exception):
            p.stop(grace=1.0)


def _on_signal(signum, frame):
    raise KeyboardInterrupt("signal %d" % signum)


def install_cleanup():
    atexit.register(kill_all)
    for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(s, _on_signal)


# ----------------------------------------------------------------- sockets

def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def tcp_listening(port):
    """True if 127.0.0.1:port (or 0.0.0.0:port) is in LISTEN state."""
    want = {"0100007F:%04X" % port, "00000000:%04X" % port}
    with open("/proc/net/tcp") as f:
        next(f)
        for line in f:
            parts = line.split()
            if parts[1] in want and parts[3] == "0A":
                return True
    return False


def unix_listening(path):
    """True if a listening unix socket is bound to path (read from
    /proc/net/unix, so the check costs the worker no connection)."""
    with open("/proc/net/unix") as f:
        next(f)
        for line in f:
            parts = line.split()
            if len(parts) >= 8 and parts[7] == path and int(parts[3], 16) & 0x10000:
                return True
    return False


# ---------------------------------------------------------------- fixtures

class Env:
    """One case's sandbox: a temp dir, its database, and the processes it
    starts. Use as a context manager; exit stops everything it started."""

    def __init__(self, name):
        self.name = name
        self.dir = tempfile.mkdtemp(prefix="ssit-")
        self.db = os.path.join(self.dir, "events.db")
        if PG_BASE:
            _pg_schemas[0] += 1
            self.db = "%s%ssselite_schema=it%d_%d" % (
                PG_BASE, "&" if "?" in PG_BASE else "?", os.getpid(), _pg_schemas[0])
        self.procs = []
        self.logs = []
        self.n = 0

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        for p in reversed(self.procs):
            p.stop()
        return False

    def path(self, name):
        return os.path.join(self.dir, name)

    def newlog(self, what):
        self.n += 1
        log = self.path("%s-%d.log" % (what, self.n))
        self.logs.append(log)
        return log

    def cleanup(self):
        if os.environ.get("SSELITE_IT_KEEP"):
            return
        shutil.rmtree(self.dir, ignore_errors=True)

    # -- database

    def init_db(self, path=None):
        path = path or self.db
        r = run([CLI, "init", path])
        check(r.returncode == 0, "sselite init %s failed: %s" % (path, r.stderr.strip()))
        return path

    # -- worker started by us

    def start_worker(self, db=None, sock=None, ready=True, **opts):
        """Starts sselite-fcgi --listen <unix socket>; options as keyword
        arguments (max_lifetime=2 -> --max-lifetime 2)."""
        sock = sock or self.path("w.sock")
        argv = [FCGI, "--db", db or self.db, "--listen", sock]
        for k, v in opts.items():
            # True stands for a flag option given alone (--cors-credentials).
            argv += ["--" + k.replace("_", "-")] + ([] if v is True else [str(v)])
        p = Proc("sselite-fcgi", argv, log=self.newlog("worker"), env=clean_env())
        p.sock = sock
        self.procs.append(p)
        if ready:
            # Polled every millisecond: cases that restart a worker under
            # a running lighttpd send it requests as soon as it listens.
            wait_until(lambda: unix_listening(sock) or not p.alive(), 10,
                       "the worker to listen on " + sock, interval=0.001)
            check(p.alive(), "the worker exited at start (status %s): %s"
                  % (p.returncode, tail(p.log)))
        return p

    # -- lighttpd

    def start_lighttpd(self, socket_path=None, spawn_env=None, port=None):
        """Starts lighttpd in the foreground. With spawn_env (a dict of
        SSELITE_* variables) lighttpd spawns the worker itself (bin-path,
        max-procs 1); otherwise it connects to socket_path."""
        for attempt in range(5):
            lp = port or free_port()
            conf = self.path("lighttpd-%d.conf" % lp)
            spawn_sock = self.path("spawn-%d.sock" % lp)
            with open(conf, "w") as f:
                f.write(lighttpd_conf(self.dir, lp, socket_path or spawn_sock, spawn_env))
            p = Proc("lighttpd", [LIGHTTPD, "-D", "-f", conf],
                     log=self.newlog("lighttpd"), env=clean_env())
            self.procs.append(p)
            wait_until(lambda: tcp_listening(lp) or not p.alive(), 10,
                       "lighttpd to listen on port %d" % lp)
            if p.alive():
                p.port = lp
                p.workers = []
                if spawn_env is not None:
                    self._adopt_spawned(p, spawn_sock)
                return p
            p.stop()
            check(port is None, "lighttpd did not start on port %d: %s" % (lp, tail(p.log)))
        raise TestFailure("lighttpd did not start: %s" % tail(p.log))

    def _adopt_spawned(self, lt, spawn_sock):
        sock = spawn_sock + "-0"  # lighttpd numbers the sockets of max-procs
        wait_until(lambda: unix_listening(sock), 10, "lighttpd's worker socket")
        kids = wait_until(lambda: children_of(lt.pid), 10, "lighttpd to spawn the worker")
        for pid in kids:
            w = Proc("sselite-fcgi (spawned)", pid=pid)
            self.procs.insert(0, w)  # stopped after lighttpd
            lt.workers.append(w)
        check(all(w.alive() for w in lt.workers),
              "the spawned worker died at start: %s" % tail(lt.log))


def clean_env():
    """The environment for children: ours minus SSELITE_* settings, so only
    what a case passes reaches the worker."""
    return {k: v for k, v in os.environ.items() if not k.startswith("SSELITE_")}


def lighttpd_conf(docroot, port, socket_path, spawn_env):
    lines = [
        'server.document-root = "%s"' % docroot,
        'server.bind = "127.0.0.1"',
        "server.port = %d" % port,
        'server.modules += ( "mod_fastcgi" )',
        "server.stream-response-body = 2",
        # Let oversized headers and queries reach the worker, whose answers
        # (400, 414) are what the suite checks.
        "server.max-request-field-size = 65536",
        'server.upload-dirs = ( "%s" )' % docroot,
    ]
    backend = ['"check-local" => "disable"', '"disable-time" => 1',
               '"socket" => "%s"' % socket_path]
    if spawn_env is not None:
        backend += ['"bin-path" => "%s"' % FCGI, '"max-procs" => 1']
        envs = ", ".join('"%s" => "%s"' % (k, v) for k, v in spawn_env.items())
        backend.append('"bin-environment" => ( %s )' % envs)
    lines.append('fastcgi.server = ( "/events" => ( ( %s ) ) )' % ", ".join(backend))
    return "\n".join(lines) + "\n"


def tail(path, n=15):
    if not path or not os.path.exists(path):
        return "(no log)"
    with open(path, "rb") as f:
        lines = f.read().decode("utf-8", "replace").splitlines()
    return " | ".join(lines[-n:]) or "(empty log)"


def run(argv, input=None, timeout=20):
    return subprocess.run(argv, input=input, capture_output=True, text=True,
                          timeout=timeout, env=clean_env())


# -------------------------------------------------------------- publishing

def publish_cli(db, data, channel=None, event=None):
    argv = [CLI, "publish", db]
    if channel is not None:
        argv += ["--channel", channel]
    if event is not None:
        argv += ["--event", event]
    argv += ["--data", data]
    r = run(argv)
    check(r.returncode == 0, "sselite publish failed (%d): %s" % (r.returncode, r.stderr.strip()))
    m = re.fullmatch(r"\s*(\d+)\s*", r.stdout)
    check(m, "sselite publish printed %r, not an id" % r.stdout)
    return int(m.group(1))


def sql_str(s):
    return "NULL" if s is None else "'" + s.replace("'", "''") + "'"


def publish_sqlite3(db, data, channel="default", event=None):
    """Publishes through the sqlite3 command-line shell, as the README shows
    (on PostgreSQL: as publish_py)."""
    if is_pg(db):
        return publish_py(db, data, channel, event)
    script = (".timeout 5000\nINSERT INTO events(channel, event, data) VALUES (%s, %s, %s);\n"
              "SELECT last_insert_rowid();\n" % (sql_str(channel), sql_str(event), sql_str(data)))
    r = subprocess.run([SQLITE3, db], input=script, capture_output=True, text=True, timeout=20)
    check(r.returncode == 0 and not r.stderr, "sqlite3 failed: %s" % r.stderr.strip())
    return int(r.stdout.strip())


def publish_py(db, data, channel="default", event=None):
    """Publishes through Python's sqlite3 module, as the README shows (on
    PostgreSQL: psycopg2, one transaction)."""
    if is_pg(db):
        return publish_many(db, [(channel, event, data)])[0]
    with contextlib.closing(sqlite3.connect(db, timeout=5)) as con:
        with con:
            cur = con.execute("INSERT INTO events(channel, event, data) VALUES (?, ?, ?)",
                              (channel, event, data))
        return cur.lastrowid


def publish_many(db, items):
    """Inserts [(channel, event, data), ...] in one transaction; returns ids."""
    if is_pg(db):
        con = pg_connect(db)
        try:
            cur = con.cursor()
            ids = [pg_insert(cur, db, ch, ev, data) for ch, ev, data in items]
            con.commit()
            return ids
        finally:
            con.close()
    ids = []
    with contextlib.closing(sqlite3.connect(db, timeout=5)) as con:
        with con:
            for ch, ev, data in items:
                ids.append(con.execute("INSERT INTO events(channel, event, data) VALUES (?, ?, ?)",
                                       (ch, ev, data)).lastrowid)
    return ids


def delete_ids(db, ids):
    """Deletes the events with these ids in one transaction, as a hand-run
    DELETE would (the schema records the pruning either way)."""
    ids = list(ids)
    if is_pg(db):
        con = pg_connect(db, autocommit=True)
        con.cursor().execute("DELETE FROM %s.events WHERE id = ANY (%%s)" % pg_schema(db),
                             (ids,))
        con.close()
        return
    with contextlib.closing(sqlite3.connect(db, timeout=5)) as con:
        with con:
            con.executemany("DELETE FROM events WHERE id = ?", [(i,) for i in ids])


def prune_keep(db, keep):
    if is_pg(db):
        con = pg_connect(db, autocommit=True)
        con.cursor().execute("DELETE FROM %s.events WHERE id NOT IN (SELECT id FROM"
                             " %s.events ORDER BY id DESC LIMIT %%s)"
                             % (pg_schema(db), pg_schema(db)), (keep,))
        con.close()
        return
    with contextlib.closing(sqlite3.connect(db, timeout=5)) as con:
        with con:
            con.execute("DELETE FROM events WHERE id NOT IN "
                        "(SELECT id FROM events ORDER BY id DESC LIMIT ?)", (keep,))


class Publisher(threading.Thread):
    """Inserts one event every interval seconds (Python sqlite3, autocommit)
    until stop(), at most limit events and max_seconds; ids in self.ids."""

    def __init__(self, db, interval=0.02, channel="default", limit=2000, max_seconds=30.0):
        super().__init__(daemon=True)
        self.db, self.interval, self.channel = db, interval, channel
        self.limit, self.max_seconds = limit, max_seconds
        self.ids, self.error = [], None
        self._halt = threading.Event()

    def run(self):
        end = time.monotonic() + self.max_seconds
        try:
            if is_pg(self.db):
                con = pg_connect(self.db, autocommit=True)
                cur = con.cursor()
                insert = lambda n: pg_insert(cur, self.db, self.channel, None,
                                             "tick %d" % n)  # noqa: E731
            else:
                con = sqlite3.connect(self.db, timeout=5, isolation_level=None)
                insert = lambda n: con.execute(  # noqa: E731
                    "INSERT INTO events(channel, data) VALUES (?, ?)",
                    (self.channel, "tick %d" % n)).lastrowid
            with contextlib.closing(con):
                while not self._halt.is_set() and len(self.ids) < self.limit \
                        and time.monotonic() < end:
                    self.ids.append(insert(len(self.ids)))
                    self._halt.wait(self.interval)  # pacing, not synchronisation
        except Exception as e:  # reported by stop()
            self.error = e

    def stop(self):
        self._halt.set()
        self.join(10)
        check(self.error is None, "publisher failed: %s" % self.error)
        check(self.ids, "publisher inserted nothing")
        return self.ids


# -------------------------------------------------------------- SSE client

class Event:
    __slots__ = ("id", "last_id", "type", "data", "t", "conn")

    def __init__(self, id, last_id, type, data, t):
        self.id, self.last_id, self.type, self.data, self.t = id, last_id, type, data, t
        self.conn = None

    def __repr__(self):
        return "Event(id=%r, type=%r, data=%r)" % (self.id, self.type, self.data)


class Client:
    """One HTTP/1.1 request over a raw socket, with the response read
    incrementally: status and headers, chunked or close-delimited body, and
    the body parsed as text/event-stream by the WHATWG rules (lines end in
    CRLF, LF or CR; "field: value" with one leading space dropped; comments;
    an event is dispatched at a blank line when its data buffer is non-empty).

    Attributes: status, headers (lower-case name -> list of values),
    t_headers, t_first_body (seconds since the request was sent), body
    (de-chunked bytes), events, comments [(text, t)], retries, items (all
    of them in order as ("event"|"comment"|"retry", value, t)), done (the
    response ended), clean_end (it ended by its own framing, not by a bare
    close), eof (the connection closed)."""

    def __init__(self, port, path="/events", headers=None, method="GET",
                 read_timeout=5.0, body=b"", rcvbuf=None):
        self.t0 = time.monotonic()
        self.read_timeout = read_timeout
        self.method = method
        self.status = None
        self.reason = ""
        self.headers = {}
        self.t_headers = None
        self.t_first_body = None
        self.body = bytearray()
        self.events, self.comments, self.retries, self.items = [], [], [], []
        self.done = self.clean_end = self.eof = False
        self._wire = bytearray()
        self._state = "head"
        self._left = None
        self._line = bytearray()
        self._cr = False
        self._data, self._type, self._id = [], "", None
        self._fields = False
        self.last_id = ""
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf:  # a small receive window makes a stalled client stall soon
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(5)
        self.sock.connect(("127.0.0.1", port))
        hdrs = [("Host", "127.0.0.1:%d" % port), ("Accept", "text/event-stream")]
        hdrs += list((headers or {}).items()) if isinstance(headers, dict) else list(headers or [])
        if body:
            hdrs.append(("Content-Length", str(len(body))))
        req = "%s %s HTTP/1.1\r\n" % (method, path)
        req += "".join("%s: %s\r\n" % kv for kv in hdrs) + "\r\n"
        self.sock.sendall(req.encode("latin-1") + body)
        self.t0 = time.monotonic()

    # -- reading

    def now(self):
        return time.monotonic() - self.t0

    def pump(self, deadline):
        """Reads once (waiting at most until deadline and read_timeout).
        Returns False when nothing more can come (EOF) or time ran out."""
        if self.eof:
            return False
        wait = min(deadline - time.monotonic(), self.read_timeout)
        if wait <= 0:
            return False
        self.sock.settimeout(wait)
        try:
            chunk = self.sock.recv(65536)
        except socket.timeout:
            return False
        except (ConnectionResetError, BrokenPipeError):
            chunk = b""
        t = self.now()
        if not chunk:
            self.eof = True
            self.done = True
            self._feed_body(b"", t, final=True)
            return False
        self._wire += chunk
        self._parse_wire(t)
        return True

    def wait(self, pred, timeout, what=None):
        """Reads until pred(self) holds; returns it, or raises TestFailure
        (when what is given) / returns False on timeout or end of stream."""
        deadline = time.monotonic() + timeout
        while True:
            v = pred(self)
            if v:
                return v
            if self.done or time.monotonic() >= deadline:
                if what:
                    raise TestFailure("%s (status %s, %d events, %s after %.2f s; body so far %r)"
                                      % (what, self.status, len(self.events),
                                         "ended" if self.done else "timed out",
                                         self.now(), bytes(self.body[-300:])))
                return False
            self.pump(deadline)

    def wait_headers(self, timeout=5.0):
        return self.wait(lambda c: c.status is not None, timeout, "no response headers")

    def wait_events(self, n, timeout=5.0):
        return self.wait(lambda c: len(c.events) >= n, timeout, "expected %d events" % n)

    def wait_id(self, id, timeout=5.0):
        return self.wait(lambda c: any(e.id == str(id) for e in c.events), timeout,
                         "event id %s did not arrive" % id)

    def wait_end(self, timeout=5.0, what="the response did not end"):
        return self.wait(lambda c: c.done, timeout, what)

    def header(self, name):
        v = self.headers.get(name.lower())
        return None if v is None else v[-1]

    def ids(self):
        return [int(e.id) if e.id is not None and e.id.isdigit() else e.id for e in self.events]

    def pending(self):
        """True if the stream stopped in the middle of an event or line."""
        return bool(self._line or self._data or self._fields or self._cr)

    def close(self):
        with contextlib.suppress(OSError):
            self.sock.close()

    def abort(self):
        """Closes with a TCP reset, like a killed browser tab."""
        with contextlib.suppress(OSError):
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        self.close()

    # -- HTTP framing

    def _parse_wire(self, t):
        while True:
            if self._state == "head":
                i = self._wire.find(b"\r\n\r\n")
                if i < 0:
                    return
                head = bytes(self._wire[:i]).decode("latin-1").split("\r\n")
                del self._wire[:i + 4]
                parts = head[0].split(" ", 2)
                self.status = int(parts[1])
                self.reason = parts[2] if len(parts) > 2 else ""
                for h in head[1:]:
                    k, _, v = h.partition(":")
                    self.headers.setdefault(k.strip().lower(), []).append(v.strip())
                self.t_headers = t
                te = (self.header("transfer-encoding") or "").lower()
                cl = self.header("content-length")
                if self.method == "HEAD" or self.status in (204, 304):
                    self._state = "end"
                elif "chunked" in te:
                    self._state = "size"
                elif cl is not None:
                    self._state, self._left = "length", int(cl)
                else:
                    self._state = "close"
                if self._state == "end" or (self._state == "length" and self._left == 0):
                    self._finish(t)
                    return
            elif self._state == "size":
                i = self._wire.find(b"\r\n")
                if i < 0:
                    return
                n = int(bytes(self._wire[:i]).split(b";")[0], 16)
                del self._wire[:i + 2]
                self._state, self._left = ("data", n) if n else ("trailer", None)
            elif self._state in ("data", "length", "close"):
                if not self._wire:
                    return
                take = len(self._wire) if self._state == "close" else min(self._left, len(self._wire))
                self._feed_body(bytes(self._wire[:take]), t)
                del self._wire[:take]
                if self._state == "close":
                    return
                self._left -= take
                if self._left:
                    return
                if self._state == "length":
                    self._finish(t)
                    return
                self._state = "crlf"
            elif self._state == "crlf":
                if len(self._wire) < 2:
                    return
                del self._wire[:2]
                self._state = "size"
            elif self._state == "trailer":
                i = self._wire.find(b"\r\n")
                if i < 0:
                    return
                line = self._wire[:i]
                del self._wire[:i + 2]
                if not line:
                    self._finish(t)
                    return
            else:
                return

    def _finish(self, t):
        self._state = "end"
        self.done = self.clean_end = True
        self._feed_body(b"", t, final=True)

    # -- text/event-stream

    def _feed_body(self, data, t, final=False):
        if data and self.t_first_body is None:
            self.t_first_body = t
        self.body += data
        for b in data:
            if self._cr:
                self._cr = False
                if b == 0x0A:
                    continue
            if b in (0x0A, 0x0D):
                self._cr = b == 0x0D
                self._line_done(t)
            else:
                self._line.append(b)
        if final and self._cr:
            self._cr = False

    def _line_done(self, t):
        line = bytes(self._line).decode("utf-8", "replace")
        self._line.clear()
        if line == "":
            if self._data:
                ev = Event(self._id, self.last_id, self._type or "message",
                           "\n".join(self._data), t)
                self.events.append(ev)
                self.items.append(("event", ev, t))
            self._data, self._type, self._id, self._fields = [], "", None, False
            return
        if line.startswith(":"):
            self.comments.append((line[1:], t))
            self.items.append(("comment", line[1:], t))
            return
        name, colon, value = line.partition(":")
        if colon and value.startswith(" "):
            value = value[1:]
        self._fields = True
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._type = value
        elif name == "id":
            if "\0" not in value:
                self._id = value
                self.last_id = value
        elif name == "retry":
            if value.isdigit():
                self.retries.append(int(value))
                self.items.append(("retry", int(value), t))


def request(port, path="/events", method="GET", headers=None, body=b"", timeout=5.0):
    """A one-shot request; returns the finished Client (status, headers, body)."""
    hdrs = list((headers or {}).items()) if isinstance(headers, dict) else list(headers or [])
    c = Client(port, path, hdrs + [("Connection", "close")], method=method, body=body)
    try:
        c.wait_end(timeout)
    finally:
        c.close()
    return c


def connect_until_ok(port, path="/events", headers=None, timeout=10.0):
    """Opens a stream, retrying, as a browser would, while the answer is
    not a stream: a refused connection, a status other than 200 (lighttpd's
    503 while a restarted worker comes up) or a 200 that ends at once with an
    ': error:' comment (a server-side fault). Returns the Client once its
    retry line and opening comment have arrived."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        c = None
        try:
            c = Client(port, path, headers)
            c.wait_headers(max(0.1, deadline - time.monotonic()))
            if c.status == 200:
                c.wait(lambda c: c.retries and c.comments, 3.0, "no retry line and comment")
                errors = [t for t, _ in c.comments if t.startswith(" error:")]
                if not errors and not c.done:
                    return c
                last = "fault answer %r" % (errors or bytes(c.body[-200:]))
            else:
                last = "status %s" % c.status
        except (OSError, TestFailure) as e:
            last = str(e)
        if c is not None:
            c.close()
        if time.monotonic() >= deadline:
            raise TestFailure("no 200 stream within %.0f s (last: %s)" % (timeout, last))
        time.sleep(0.1)
