# deployments.py - the five ways of serving sselite that the server suite
# tests, each started for real from the files shipped in deploy/.
# SPDX-License-Identifier: MIT
#
# Every deployment writes its configuration into the case's temp dir from a
# shipped file: the file is copied, and only paths, ports, the worker's
# SSELITE_* settings and (when a case asks) the timeout values are changed,
# each by a substitution that must match exactly once, so a changed file in
# deploy/ fails loudly instead of being tested half-substituted. The
# streaming directives themselves (stream-response-body, FcgidOutputBufferSize,
# flushpackets, fastcgi_buffering) stay as shipped, except in the negative
# controls, which remove exactly one of them.
#
# Servers run in the foreground with their own ServerRoot/prefix, pid file,
# logs and lock dir under the temp dir, never as system services. Apache and
# nginx drop their children to www-data (they run as root here), so the temp
# dir, the database and the worker's socket are made accessible to www-data.
# Every process is tracked by PID: those we start through harness.Proc, and
# the web servers' children (Apache children, mod_fcgid's process manager and
# workers, nginx workers, lighttpd's spawned worker) through /proc parent
# links, adopted into harness.PROCS whenever we look.

import os
import pwd
import re
import shutil
import signal
import sys
import time

import harness
from harness import (FCGI, LIGHTTPD, Proc, TestFailure, check, clean_env,
                     free_port, proc_start_time, proc_stat, tail, tcp_listening, wait_until)

# SSELITE_DEPLOY=DIR tests another copy of deploy/ (e.g. an older one).
DEPLOY = os.environ.get("SSELITE_DEPLOY") or os.path.join(harness.REPO, "deploy")
APACHE = os.environ.get("APACHE2", shutil.which("apache2") or "/usr/sbin/apache2")
APACHE_MODULES = os.environ.get("APACHE_MODULES", "/usr/lib/apache2/modules")
NGINX = os.environ.get("NGINX", shutil.which("nginx") or "/usr/sbin/nginx")
NGINX_FASTCGI_PARAMS = "/etc/nginx/fastcgi_params"
MIME_TYPES = "/etc/mime.types"
RUN_USER = "www-data"  # what Apache's and nginx's children run as

SOCKET_UNIT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "socket_unit.py")
RESTART_MS = 100  # systemd's default RestartSec=

# Short values for the timeout case (d): every idle/busy limit of the server
# is set to this many seconds, the heartbeat well below it.
SHORT = 3


def shipped(rel):
    with open(os.path.join(DEPLOY, rel)) as f:
        return f.read()


def substitute(text, rel, subs):
    """Applies [(regex, replacement), ...] to text (a copy of deploy/rel);
    each regex must match exactly once (re.M)."""
    for pat, rep in subs:
        text, n = re.subn(pat, lambda m, rep=rep: m.expand(rep), text, flags=re.M)
        check(n == 1, "deploy/%s: %r matched %d times, expected once (was the file changed?)"
              % (rel, pat, n))
    return text


def write(path, text):
    with open(path, "w") as f:
        f.write(text)
    return path


# ------------------------------------------------------------- process trees

def proc_comm(pid):
    try:
        with open("/proc/%d/comm" % pid) as f:
            return f.read().strip()
    except OSError:
        return None


def descendants(pid):
    """PIDs below pid (children, grandchildren, ...), read from /proc."""
    kids = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            st = proc_stat(int(d))
            if st is not None:
                kids.setdefault(int(st[1]), []).append(int(d))
    out, todo = [], [pid]
    while todo:
        for k in kids.get(todo.pop(), []):
            out.append(k)
            todo.append(k)
    return out


def all_threads_gone(proc):
    """True once every thread of proc (a harness.Proc) has ended, and so
    every file it held (its listening socket too) is closed. The main
    thread turns zombie while the others are still exiting; /proc's
    Threads: counts them until they are released."""
    try:
        with open("/proc/%d/status" % proc.pid) as f:
            status = dict(line.split(":", 1) for line in f if ":" in line)
        if proc_start_time(proc.pid) != proc.start:
            return True  # reaped, and the PID reused
    except OSError:
        return True  # reaped
    return status["State"].split()[0] in ("Z", "X") and int(status["Threads"]) <= 1


def environ_has(pid, text):
    try:
        with open("/proc/%d/environ" % pid, "rb") as f:
            return text.encode() in f.read()
    except OSError:
        return False


def strays(tag):
    """PIDs of live sselite-fcgi processes whose environment or command line
    names tag (a temp dir of ours): workers that lost their parent."""
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit() or int(d) == os.getpid():
            continue
        pid = int(d)
        if proc_comm(pid) != "sselite-fcgi":
            continue
        try:
            with open("/proc/%d/cmdline" % pid, "rb") as f:
                cmd = f.read()
        except OSError:
            continue
        if tag.encode() in cmd or environ_has(pid, tag):
            st = proc_stat(pid)
            if st is not None and st[0] != "Z":
                out.append(pid)
    return out


ORPHANS = []  # notes on workers a stopped server left behind (killed)


# ---------------------------------------------------------------- the base

class Deployment:
    """One web server (and worker) setup under test. Subclasses set name,
    server (binary), standalone (we run the worker; else the server spawns
    it), per_process (one stream per worker process) and the config writers.

    Settings (keyword arguments of start()):
      heartbeat, threads, max_streams, busy_retry_ms, max_lifetime, retry_ms:
          worker settings
      short_timeouts: every server timeout set to SHORT seconds
      unbuffered=False: the negative control, the shipped streaming
          directive removed (the server's buffering default); nginx also
          takes "header": buffering on, the worker's X-Accel-Buffering
          header honoured
      compress: compression enabled server-wide for text/ types
      graceful_timeout=False: lighttpd without Debian's graceful-shutdown-timeout
      gzip_guard=False: the shipped line that keeps /events uncompressed
          removed
      max_procs: mod_fcgid's FcgidMaxProcessesPerClass (sizing)
    """

    name = "?"
    server = None
    standalone = True
    per_process = False
    # Case g: None, no request may be refused after a worker is killed;
    # else (answers allowed, s until every client streams again), a known
    # limit that deploy/README.md documents.
    restart_refusals = None
    # Case g: s from a kill until every client streams again.
    restart_recovery = 3.0
    # Case h: how long after a worker run with --listen listens again a
    # request may still be refused (s).
    listen_refusals = 0.05
    graceful_name = "?"

    def __init__(self, env):
        self.env = env
        self.proc = None      # the web server's main process
        self.worker = None    # the standalone worker (ours)
        self.port = None
        self.kids = {}        # pid -> Proc adopted from the server's tree
        self.settings = {}
        self.sock = env.path("w.sock")
        self.worker_log_files = []
        self.stopped = False
        # The runner stops every deployment of a case, also those a case
        # replaced by another configuration.
        env.__dict__.setdefault("deps", []).append(self)

    # -- what subclasses provide

    def write_config(self, port):
        raise NotImplementedError

    def server_argv(self, conf):
        raise NotImplementedError

    # The signal an admin's graceful restart sends the server's main process.
    graceful_signal = None

    def graceful(self):
        """Graceful restart of the web server, as an admin would do it."""
        self.adopt()
        self.proc.signal(self.graceful_signal)

    def buffering_directive(self):
        """The shipped directive the negative control removes."""
        raise NotImplementedError

    # (log file, line) that the server logs each time it (re)starts serving
    generation_marker = None

    def log_count(self, path, text):
        """Lines of the log file path (in the temp dir) holding text."""
        try:
            with open(os.path.join(self.env.dir, path), errors="replace") as f:
                return sum(text in line for line in f)
        except OSError:
            return 0

    def generation(self):
        """How many times the server has started serving (1 after start,
        +1 per completed graceful restart), read from its log."""
        return self.log_count(*self.generation_marker)

    def gzip_guard(self):
        """The shipped line that keeps streams uncompressed, or None."""
        return None

    def graceful_guard(self):
        """The main-config setting that bounds a graceful restart while
        streams are open (settings graceful_timeout=False drops it), or
        None when the server needs none."""
        return None

    def worker_logs(self):
        """Files holding the worker's stderr (its log)."""
        return list(self.worker_log_files)

    def worker_lines(self, pid, n=3):
        """The last n lines the worker with this PID logged."""
        tag = "sselite-fcgi[%d]" % pid
        lines = []
        for path in self.worker_logs():
            try:
                with open(path, errors="replace") as f:
                    lines += [ln.strip() for ln in f if tag in ln]
            except OSError:
                pass
        return " | ".join(lines[-n:]) or "(none)"

    # -- common

    package = None  # the Debian package that provides the server

    def missing(self):
        """Why this deployment cannot run here, or None."""
        if not self.server or not os.access(self.server, os.X_OK):
            return "%s: server binary %s not found (Debian package %s not installed?)" % (
                self.name, self.server, self.package)
        return None

    def worker_settings(self):
        """SSELITE_* settings for the worker, from self.settings."""
        s = self.settings
        out = {"SSELITE_HEARTBEAT": s.get("heartbeat", 2)}
        for k in ("threads", "max_streams", "busy_retry_ms", "max_lifetime", "retry_ms"):
            if s.get(k) is not None:
                out["SSELITE_" + k.upper()] = s[k]
        return {k: str(v) for k, v in out.items()}

    def start(self, **settings):
        self.settings = settings
        why = self.missing()
        if why:
            raise TestFailure(why)
        self.prepare_dir()
        if self.standalone:
            self.start_worker()
        for attempt in range(5):
            port = free_port()
            conf = self.write_config(port)
            self.proc = Proc(self.name, self.server_argv(conf), log=self.env.newlog(self.name),
                             env=clean_env())
            self.env.procs.append(self.proc)
            p = self.proc
            wait_until(lambda: tcp_listening(port) or not p.alive(), 15,
                       "%s to listen on port %d" % (self.name, port))
            if p.alive():
                self.port = port
                self.adopt()
                self.after_start()
                return self
            why = tail(p.log)
            p.stop()
            if "in use" not in why and "Address already" not in why:
                break
        raise TestFailure("%s did not start: %s | %s" % (self.name, why, self.error_log()))

    def after_start(self):
        pass

    def error_log(self):
        return ""

    def prepare_dir(self):
        """The temp dir and database readable and writable by RUN_USER
        (Apache's and nginx's children; mod_fcgid runs the worker as it).
        SQLite, run as root, gives the -wal and -shm files it creates the
        database's owner."""
        env = self.env
        env.init_db()
        pw = pwd.getpwnam(RUN_USER)
        os.chmod(env.dir, 0o755)
        for p in [env.dir] + [os.path.join(env.dir, f) for f in os.listdir(env.dir)]:
            os.chown(p, pw.pw_uid, pw.pw_gid)

    def start_worker(self):
        """Starts the standalone worker. By default as deploy/systemd runs
        it (socket_unit.py stands in for sselite.socket and sselite.service:
        the socket stays open across worker restarts); with the setting
        socket_unit=False as `sselite-fcgi --listen SOCKET`, which binds the
        socket itself and takes it along when it dies."""
        s = self.worker_settings()
        if not self.settings.get("socket_unit", True):
            opts = {k[len("SSELITE_"):].lower(): v for k, v in s.items()}
            # Apache's and nginx's children (www-data) connect to it.
            opts["socket_mode"] = "0666"
            self.worker = self.env.start_worker(sock=self.sock, **opts)
            self.worker_log_files.append(self.worker.log)
            return self.worker
        env = clean_env()
        env.update(s, SSELITE_DB=self.env.db)  # the unit's Environment= lines
        log = self.env.newlog("worker")
        # Mode 0666: Apache's and nginx's children (www-data) connect to it.
        self.worker = Proc("socket unit", [sys.executable, SOCKET_UNIT, self.sock, "0666",
                                           str(RESTART_MS), "--", FCGI], log=log, env=env)
        self.env.procs.append(self.worker)
        self.worker_log_files.append(log)
        w = self.worker
        wait_until(lambda: self.log_count(log, ": info: started ") or not w.alive(), 10,
                   "the worker to start under the socket unit")
        check(w.alive() and harness.unix_listening(self.sock),
              "the socket unit exited at start: %s" % tail(log))
        return self.worker

    def adopt(self):
        """Registers every process now below the server (or the socket unit)
        as ours (for the cleanup, and so that a killed parent's orphans are
        still known)."""
        roots = [p.pid for p in (self.proc, self.worker) if p is not None and p.alive()]
        for pid in [k for r in roots for k in descendants(r)]:
            old = self.kids.get(pid)
            if old is not None and old.alive():
                continue
            st = proc_stat(pid)
            if st is None or st[0] == "Z":
                continue
            p = Proc("%s child %s" % (self.name, proc_comm(pid)), pid=pid)
            self.kids[pid] = p
            self.env.procs.insert(0, p)  # stopped after the server

    def worker_pids(self):
        """Live sselite-fcgi processes serving this deployment."""
        if self.listen_worker():
            return [self.worker.pid] if self.worker.alive() else []
        self.adopt()
        return sorted(pid for pid, p in self.kids.items()
                      if p.alive() and proc_comm(pid) == "sselite-fcgi")

    def listen_worker(self):
        """True if the standalone worker was run with --listen (the setting
        socket_unit=False): self.worker is then the worker itself."""
        return self.worker is not None and self.worker.name == "sselite-fcgi"

    def kill_workers(self, restart=True):
        """kill -9 of every worker process. The server (spawned workers) or
        the socket unit starts new ones; a worker run with --listen is
        started again here on the same path (unless restart is False), as a
        supervisor without socket activation would. Returns the killed
        PIDs, once every thread of theirs has ended."""
        pids = self.worker_pids()
        check(pids, "%s: no worker process to kill" % self.name)
        procs = [self.worker] if self.listen_worker() else [self.kids[p] for p in pids]
        for pid in pids:
            os.kill(pid, signal.SIGKILL)
        wait_until(lambda: all(all_threads_gone(p) for p in procs), 5,
                   "the killed workers to go", interval=0.001)
        if self.listen_worker() and restart:
            self.start_worker()
        return pids

    # Stop the workers before the server: their streams then end cleanly
    # and Apache exits at once instead of waiting for its busy threads.
    workers_first = True

    def stop(self):
        """Stops the workers and the server, then anything left of the
        server's tree, by PID. Once only: later calls do nothing."""
        if self.stopped:
            return
        self.stopped = True
        self.adopt()
        if self.workers_first:
            if self.worker is not None:
                self.worker.stop()
            for pid in self.worker_pids():
                self.kids[pid].signal(signal.SIGTERM)
        if self.proc is not None:
            self.proc.stop(grace=5.0)
        for p in list(self.kids.values()):
            p.stop(grace=2.0)
        if self.worker is not None:
            self.worker.stop()
        if not self.standalone:
            # Workers the server signalled as it stopped are exiting on
            # their own; a server stopped while it restarts can also leave a
            # worker it had just spawned behind. Either names our temp dir.
            deadline = time.monotonic() + 3.0
            while strays(self.env.dir) and time.monotonic() < deadline:
                time.sleep(harness.POLL)
            for pid in strays(self.env.dir):
                ORPHANS.append("%s (%s) left worker %d running 3 s after it stopped; its "
                               "last log lines: %s" % (self.name, self.env.name, pid,
                                                       self.worker_lines(pid)))
                Proc("orphaned sselite-fcgi", pid=pid).stop(grace=2.0)

    def url(self, query=""):
        return "/events" + ("?" + query if query else "")

    def describe(self):
        return self.name


# ---------------------------------------------------------------- lighttpd

LIGHTTPD_BASE = """\
# Generated by tests/servers for one case; the sselite part is included.
server.document-root = "{dir}/htdocs"
server.bind = "127.0.0.1"
server.port = {port}
server.upload-dirs = ( "{dir}" )
server.errorlog = "{dir}/lighttpd-error.log"
mimetype.assign = ( ".html" => "text/html" )
{extra}
include "{snippet}"
"""

# As in Debian's /etc/lighttpd/lighttpd.conf: without it a graceful restart
# (SIGUSR1, Debian's `systemctl reload lighttpd`) waits for every open
# stream to end, serving nothing new meanwhile (case b shows it).
LIGHTTPD_GRACEFUL = """\
server.feature-flags += ( "server.graceful-shutdown-timeout" => 5 )
"""

LIGHTTPD_DEFLATE = """\
server.modules += ( "mod_deflate" )
deflate.mimetypes = ( "text/" )
deflate.allowed-encodings = ( "gzip", "deflate" )
"""


class Lighttpd(Deployment):
    server = LIGHTTPD
    package = "lighttpd"
    graceful_name = "SIGUSR1 (graceful restart)"
    graceful_signal = signal.SIGUSR1
    generation_marker = ("lighttpd-error.log", ") server started (")
    shipped_file = None

    def snippet_subs(self):
        s = self.settings
        subs = []
        if s.get("short_timeouts"):
            subs.append((r"^(\s*server\.max-write-idle\s*=\s*)3600\s*$", r"\g<1>%d" % SHORT))
        if s.get("unbuffered") is False:
            subs.append((r"^(\s*server\.stream-response-body\s*=\s*)2\s*$", r"\g<1>0"))
        return subs

    def write_config(self, port):
        d = self.env.dir
        os.makedirs(os.path.join(d, "htdocs"), exist_ok=True)
        text = substitute(shipped(self.shipped_file), self.shipped_file, self.snippet_subs())
        snippet = write(os.path.join(d, os.path.basename(self.shipped_file)), text)
        extra = LIGHTTPD_GRACEFUL if self.settings.get("graceful_timeout", True) else ""
        if self.settings.get("compress"):
            extra += LIGHTTPD_DEFLATE
        return write(os.path.join(d, "lighttpd-%d.conf" % port),
                     LIGHTTPD_BASE.format(dir=d, port=port, extra=extra, snippet=snippet))

    def server_argv(self, conf):
        return [self.server, "-D", "-f", conf]

    def error_log(self):
        return tail(self.env.path("lighttpd-error.log"))

    def buffering_directive(self):
        return "server.stream-response-body = 2 (default 0)"

    def graceful_guard(self):
        return 'server.feature-flags "server.graceful-shutdown-timeout" => 5'

    def graceful_begun(self):
        """How many graceful restarts lighttpd has begun (it acts on
        SIGUSR1 up to about 2 s late)."""
        return self.log_count("lighttpd-error.log", "graceful shutdown started")


class LighttpdSpawn(Lighttpd):
    name = "lighttpd-spawn"
    standalone = False
    # lighttpd closes its copy of the socket it gives the worker: see
    # "Worker restarts" in deploy/lighttpd/sselite-spawn.conf.
    restart_refusals = (("status 503", "status 500"), 3.5)
    workers_first = False  # lighttpd would start them again
    shipped_file = "lighttpd/sselite-spawn.conf"

    def snippet_subs(self):
        subs = [(r'^var\.sselite_bin\s*=.*$', 'var.sselite_bin    = "%s"' % FCGI),
                (r'^var\.sselite_db\s*=.*$', 'var.sselite_db     = "%s"' % self.env.db),
                (r'^var\.sselite_socket\s*=.*$',
                 'var.sselite_socket = "%s"' % self.env.path("spawn.sock"))]
        # Worker settings: the shipped values replaced, others added.
        env = self.worker_settings()
        for k in ("SSELITE_THREADS", "SSELITE_HEARTBEAT"):
            if k in env:
                subs.append((r'^(\s*"%s"\s*=>\s*)"[^"]*"' % k, r'\g<1>"%s"' % env.pop(k)))
        added = "".join('\n        "%s" => "%s",' % kv for kv in sorted(env.items()))
        subs.append((r'^(\s*"bin-environment"\s*=>\s*\()', r"\g<1>" + added))
        return subs + super().snippet_subs()

    def worker_logs(self):
        # The spawned worker's stderr is lighttpd's own stderr, not
        # server.errorlog.
        return [self.proc.log]

    def after_start(self):
        wait_until(lambda: harness.unix_listening(self.env.path("spawn.sock") + "-0"), 10,
                   "lighttpd's worker socket")
        wait_until(lambda: self.worker_pids(), 10, "lighttpd to spawn the worker")


class LighttpdStandalone(Lighttpd):
    name = "lighttpd-standalone"
    shipped_file = "lighttpd/50-sselite.conf"
    # After a refused connection lighttpd does not try the worker again
    # for disable-time, checked once a second (deploy/lighttpd/50-sselite.conf).
    listen_refusals = 2.25

    def snippet_subs(self):
        subs = [(r'^(\s*"socket"\s*=>\s*)"/run/sselite\.sock"', r'\g<1>"%s"' % self.sock)]
        return subs + super().snippet_subs()


# ------------------------------------------------------------------ Apache

APACHE_BASE = """\
# Generated by tests/servers for one case; the sselite part is included.
ServerRoot "{root}"
DefaultRuntimeDir "{root}/run"
PidFile "{root}/httpd.pid"
Mutex file:{root}/lock default
ErrorLog "{root}/error.log"
LogLevel {loglevel}
Listen 127.0.0.1:{port}
ServerName 127.0.0.1
User {user}
Group {user}
{modules}
TypesConfig {mime}
DocumentRoot "{dir}/htdocs"
LogFormat "%h \\"%r\\" %>s %B %D" timed
CustomLog "{root}/access.log" timed
# Sized for the cases: 20 streams and a few probes, with room for a second
# generation of children during a graceful restart.
StartServers 1
ServerLimit 4
ThreadsPerChild 32
MaxRequestWorkers 64
MinSpareThreads 8
MaxSpareThreads 64
{extra}
Include "{snippet}"
"""

APACHE_DEFLATE = """\
AddOutputFilterByType DEFLATE text/event-stream text/plain text/html
"""


class Apache(Deployment):
    server = APACHE
    package = "apache2"
    graceful_name = "SIGUSR1 (apachectl -k graceful)"
    graceful_signal = signal.SIGUSR1
    generation_marker = ("apache/error.log", "resuming normal operations")
    shipped_file = None
    # mod_log_config is compiled into Debian's apache2.
    modules = ("mpm_event", "authz_core", "mime", "alias", "dir",
               "setenvif", "env", "headers", "filter", "deflate")

    def root(self):
        return self.env.path("apache")

    def missing(self):
        why = super().missing()
        if why:
            return why
        for m in self.modules:
            so = os.path.join(APACHE_MODULES, "mod_%s.so" % m)
            if not os.path.exists(so):
                return "%s: Apache module %s not found (Debian package %s)" % (
                    self.name, so, self.package)
        return None

    def main_extra(self):
        return ""

    def snippet_subs(self):
        return []

    def write_config(self, port):
        d, root = self.env.dir, self.root()
        for sub in ("run", "lock", "fcgid"):
            os.makedirs(os.path.join(root, sub), exist_ok=True)
        os.makedirs(os.path.join(d, "htdocs"), exist_ok=True)
        pw = pwd.getpwnam(RUN_USER)
        os.chown(os.path.join(root, "fcgid"), pw.pw_uid, pw.pw_gid)
        text = substitute(shipped(self.shipped_file), self.shipped_file, self.snippet_subs())
        snippet = write(os.path.join(d, os.path.basename(self.shipped_file)), text)
        mods = "\n".join("LoadModule %s_module %s/mod_%s.so" % (m, APACHE_MODULES, m)
                         for m in self.modules)
        extra = self.main_extra() + (APACHE_DEFLATE if self.settings.get("compress") else "")
        return write(os.path.join(root, "httpd-%d.conf" % port),
                     APACHE_BASE.format(root=root, dir=d, port=port, user=RUN_USER,
                                        modules=mods, mime=MIME_TYPES, extra=extra,
                                        snippet=snippet, loglevel="info"))

    def server_argv(self, conf):
        return [self.server, "-d", self.root(), "-f", conf, "-DFOREGROUND"]

    def error_log(self):
        return tail(os.path.join(self.root(), "error.log"))

    def gzip_guard(self):
        return "SetEnvIfNoCase ... no-gzip"

    def guard_subs(self):
        if self.settings.get("gzip_guard", True):
            return []
        return [(r'^(\s*)(SetEnvIfNoCase Request_URI "\^/events\(/\|\$\)" no-gzip dont-vary)\s*$',
                 r"\g<1># (removed by the test) \g<2>")]


class ApacheFcgid(Apache):
    name = "apache-fcgid"
    standalone = False
    per_process = True
    # A request waits for a new process, looking for one once a second.
    restart_recovery = 5.0
    shipped_file = "apache2/sselite-fcgid.conf"
    modules = Apache.modules + ("fcgid",)
    package = "apache2 and libapache2-mod-fcgid"

    def main_extra(self):
        root = self.root()
        lines = ['FcgidIPCDir "%s/fcgid"' % root,
                 'FcgidProcessTableFile "%s/fcgid/shm"' % root]
        if self.settings.get("short_timeouts"):
            # Scan for busy processes every second, not every 120 s, so
            # that FcgidBusyTimeout acts within the case.
            lines.append("FcgidBusyScanInterval 1")
        return "\n".join(lines) + "\n"

    def worker_copy(self):
        """mod_fcgid execs the worker as www-data, which may not be able to
        reach the source tree (a clone under /root is mode 0700): run a copy
        from the case's directory, which is made accessible to www-data."""
        bindir = os.path.join(self.env.dir, "bin")
        os.makedirs(bindir, exist_ok=True)
        os.chmod(bindir, 0o755)
        dst = os.path.join(bindir, "sselite-fcgi")
        if not os.path.exists(dst):
            shutil.copy2(FCGI, dst)
            os.chmod(dst, 0o755)
        return dst

    def snippet_subs(self):
        s = self.settings
        fcgi = self.worker_copy()
        bindir = os.path.dirname(fcgi)
        subs = [(r"^(\s*Alias /events )/usr/sbin/sselite-fcgi\s*$", r"\g<1>" + fcgi),
                (r"^(\s*<Directory )/usr/sbin>", r"\g<1>%s>" % bindir),
                (r"^(\s*FcgidInitialEnv SSELITE_DB ).*$", r"\g<1>" + self.env.db)]
        env = self.worker_settings()
        env.setdefault("SSELITE_THREADS", "1")
        for k in ("SSELITE_THREADS", "SSELITE_HEARTBEAT", "SSELITE_MAX_LIFETIME"):
            if k in env:
                subs.append((r"^(\s*FcgidInitialEnv %s ).*$" % k, r"\g<1>" + env.pop(k)))
        added = "".join("\n    FcgidInitialEnv %s %s" % kv for kv in sorted(env.items()))
        subs.append((r"^(\s*FcgidInitialEnv SSELITE_DB .*)$", r"\g<1>" + added))
        if s.get("max_procs"):
            subs.append((r"^(\s*FcgidMaxProcessesPerClass )500\s*$", r"\g<1>%d" % s["max_procs"]))
        if s.get("short_timeouts"):
            subs.append((r"^(\s*FcgidIOTimeout )120\s*$", r"\g<1>%d" % SHORT))
            subs.append((r"^(\s*FcgidBusyTimeout )86400\s*$", r"\g<1>%d" % (2 * SHORT)))
        if s.get("unbuffered") is False:
            subs.append((r"^(\s*)(FcgidOutputBufferSize 0)\s*$",
                         r"\g<1># (negative control) \g<2>"))
        return subs + self.guard_subs()

    def buffering_directive(self):
        return "FcgidOutputBufferSize 0 (default 65536)"

    def worker_logs(self):
        return [os.path.join(self.root(), "error.log")]


class ApacheProxy(Apache):
    name = "apache-proxy_fcgi"
    shipped_file = "apache2/sselite.conf"
    modules = Apache.modules + ("proxy", "proxy_fcgi")

    def snippet_subs(self):
        s = self.settings
        flush = " flushpackets=on" if s.get("unbuffered", True) else ""
        timeout = SHORT if s.get("short_timeouts") else 120
        line = 'ProxyPass "/events" "unix:%s|fcgi://localhost/events"%s timeout=%d' % (
            self.sock, flush, timeout)
        return [(r'^(\s*)ProxyPass "/events" "unix:/run/sselite\.sock\|fcgi://localhost/events"'
                 r' flushpackets=on timeout=120\s*$', r"\g<1>" + line)] + self.guard_subs()

    def buffering_directive(self):
        return "flushpackets=on (default off)"


# ------------------------------------------------------------------- nginx

NGINX_BASE = """\
# Generated by tests/servers for one case; the server block is a copy of
# deploy/nginx/example-site.conf, which includes deploy/nginx/sselite.conf.
user {user};
worker_processes 1;
pid {dir}/nginx/nginx.pid;
error_log {dir}/nginx/error.log info;
events {{ worker_connections 1024; }}
http {{
    access_log {dir}/nginx/access.log;
    client_body_temp_path {dir}/nginx/body;
    fastcgi_temp_path {dir}/nginx/fastcgi;
    proxy_temp_path {dir}/nginx/proxy;
    scgi_temp_path {dir}/nginx/scgi;
    uwsgi_temp_path {dir}/nginx/uwsgi;
    default_type application/octet-stream;
{extra}
    include {site};
}}
"""

NGINX_GZIP = """\
    gzip on;
    gzip_types text/event-stream text/plain;
"""


class Nginx(Deployment):
    name = "nginx"
    server = NGINX
    package = "nginx-light"
    graceful_name = "SIGHUP (nginx -s reload)"
    graceful_signal = signal.SIGHUP
    generation_marker = ("nginx/error.log", ": start worker processes")

    def write_config(self, port):
        d = self.env.dir
        nd = os.path.join(d, "nginx")
        os.makedirs(nd, exist_ok=True)
        os.makedirs(os.path.join(d, "htdocs"), exist_ok=True)
        # "include fastcgi_params" is relative to the configuration's
        # directory, as in /etc/nginx.
        shutil.copy(NGINX_FASTCGI_PARAMS, os.path.join(nd, "fastcgi_params"))
        s = self.settings
        subs = [(r"^fastcgi_pass unix:/run/sselite\.sock;", "fastcgi_pass unix:%s;" % self.sock)]
        if s.get("short_timeouts"):
            subs.append((r"^fastcgi_read_timeout 120s;", "fastcgi_read_timeout %ds;" % SHORT))
        if s.get("unbuffered") is False:
            # The server's default, and the worker's X-Accel-Buffering: no
            # ignored, so that nothing else turns buffering off.
            subs.append((r"^fastcgi_buffering off;",
                         "fastcgi_buffering on; fastcgi_ignore_headers X-Accel-Buffering;"))
        elif s.get("unbuffered") == "header":
            subs.append((r"^fastcgi_buffering off;", "fastcgi_buffering on;"))
        if not s.get("gzip_guard", True):
            subs.append((r"^gzip off;", "# gzip off; (removed by the test)"))
        rel = "nginx/sselite.conf"
        snippet = write(os.path.join(nd, "sselite.conf"), substitute(shipped(rel), rel, subs))
        rel = "nginx/example-site.conf"
        site = substitute(shipped(rel), rel, [
            (r"^(\s*)listen 80;\s*$", r"\g<1>listen 127.0.0.1:%d;" % port),
            (r"^\s*listen \[::\]:80;\s*\n", ""),
            (r"^(\s*root )/var/www/example;", r"\g<1>%s/htdocs;" % d),
            (r"^(\s*include )snippets/sselite\.conf;", r"\g<1>%s;" % snippet)])
        site = write(os.path.join(nd, "example-site.conf"), site)
        extra = NGINX_GZIP if s.get("compress") else ""
        return write(os.path.join(nd, "nginx-%d.conf" % port),
                     NGINX_BASE.format(user=RUN_USER, dir=d, extra=extra, site=site))

    def server_argv(self, conf):
        nd = os.path.join(self.env.dir, "nginx")
        return [self.server, "-p", nd + "/", "-e", os.path.join(nd, "error.log"),
                "-c", conf, "-g", "daemon off;"]

    def error_log(self):
        return tail(os.path.join(self.env.dir, "nginx", "error.log"))

    def buffering_directive(self):
        return "fastcgi_buffering off (default on; X-Accel-Buffering ignored)"

    def gzip_guard(self):
        return "gzip off"


DEPLOYMENTS = [LighttpdSpawn, LighttpdStandalone, ApacheFcgid, ApacheProxy, Nginx]
