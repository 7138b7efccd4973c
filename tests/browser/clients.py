# clients.py - what the sselite browser suite drives: the Node agent
# (headless Chromium, npm eventsource, fetch) and its pages, lighttpd serving
# the test pages, standalone workers, and comparisons of received events.
# SPDX-License-Identifier: MIT
#
# Processes, databases and publishers come from tests/integration/harness.py
# (imported, not copied). run.py sets AGENT and WWW before any case runs.

import contextlib
import json
import os
import queue
import shutil
import signal
import subprocess
import threading

import harness
from harness import (TestFailure, check, wait_until, Proc, free_port,
                     tcp_listening, unix_listening)

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
OUT = os.path.join(REPO, "tests", "out", "browser")
SSELITE_JS = os.path.join(REPO, "deploy", "js", "sselite.js")
DEMO_DIR = os.path.join(REPO, "deploy", "demo")
NODE = os.environ.get("NODE", shutil.which("node") or "/usr/bin/node")
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")

AGENT = None  # the Agent, started once by run.py
WWW = None    # docroot with the test pages, sselite.js and htmx

# ------------------------------------------------------------------ agent

class Agent:
    """agent.mjs (Node) as a child: JSON requests on its stdin, replies on
    its stdout, read by a thread. Owns headless Chromium."""

    def __init__(self, log):
        self.log = log
        logf = open(log, "wb")  # one run per log
        try:
            self.popen = subprocess.Popen(
                [NODE, os.path.join(HERE, "agent.mjs")], cwd=HERE,
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=logf,
                env=dict(harness.clean_env(), CHROMIUM=CHROMIUM))
        finally:
            logf.close()
        self.pid = self.popen.pid
        self.next = 0
        self.lock = threading.Lock()
        self.waiting = {}
        self.dead = False
        self.browser = []  # Proc of the Chromium main process, a backstop
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.popen.stdout:
            try:
                msg = json.loads(line)
            except ValueError:
                continue
            with self.lock:
                q = self.waiting.pop(msg.get("id"), None)
            if q is not None:
                q.put(msg)
        self.dead = True
        with self.lock:
            for q in self.waiting.values():
                q.put({"ok": False, "error": "the agent exited"})
            self.waiting.clear()

    def call(self, cmd, timeout=30.0, **args):
        q = queue.Queue()
        with self.lock:
            if self.dead:
                raise TestFailure("the Node agent is not running: %s" % harness.tail(self.log))
            self.next += 1
            rid = self.next
            self.waiting[rid] = q
        line = json.dumps(dict(args, id=rid, cmd=cmd)) + "\n"
        try:
            self.popen.stdin.write(line.encode())
            self.popen.stdin.flush()
        except (BrokenPipeError, OSError):
            raise TestFailure("the Node agent is gone: %s" % harness.tail(self.log))
        try:
            msg = q.get(timeout=timeout)
        except queue.Empty:
            with self.lock:
                self.waiting.pop(rid, None)
            raise TestFailure("agent: no answer to %s within %.0f s" % (cmd, timeout))
        if not msg.get("ok"):
            raise TestFailure("agent: %s failed: %s" % (cmd, msg.get("error")))
        return msg.get("result")

    def launch(self, tmp):
        """Starts Chromium; notes its main process as a backstop for
        close() (kept out of harness.PROCS, which cases clean up)."""
        r = self.call("launch", timeout=60, tmp=tmp)
        for pid in harness.children_of(self.pid):
            with contextlib.suppress(OSError):
                with open("/proc/%d/comm" % pid) as f:
                    if "chrom" in f.read():
                        p = Proc("chromium", pid=pid)
                        harness.PROCS.remove(p)
                        self.browser.append(p)
        return r

    def close(self):
        """Closes stdin (the agent closes the browser and exits), then
        SIGTERM, then SIGKILL, always by PID."""
        with contextlib.suppress(Exception):
            self.popen.stdin.close()
        for sig, grace in ((None, 10), (signal.SIGTERM, 5), (signal.SIGKILL, 5)):
            if sig is not None and self.popen.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(self.pid, sig)
            try:
                self.popen.wait(timeout=grace)
                break
            except subprocess.TimeoutExpired:
                pass
        for p in self.browser:
            p.stop(grace=2.0)


CASE_CLIENTS = []  # pages and npm EventSources of the running case


class Page:
    """A Chromium tab in the agent, loaded from web (a lighttpd) at path."""

    def __init__(self, web, path):
        self.url = web.origin + "/" + path
        self.h = AGENT.call("page_open", url=self.url)["page"]
        CASE_CLIENTS.append(self)

    def eval(self, expr, timeout=30.0):
        return AGENT.call("page_eval", timeout=timeout, page=self.h, expr=expr)

    def wait(self, expr, timeout, what=None):
        """Polls the JS expression until truthy; returns its value, or None
        on timeout (TestFailure if what is given)."""
        v = AGENT.call("page_wait", timeout=timeout + 15, page=self.h, expr=expr,
                       ms=int(timeout * 1000))
        if v is None and what:
            raise TestFailure("%s (waited %.0f s for %s)" % (what, timeout, expr))
        return v

    def net(self):
        """The page's EventSource requests: url, headers, status,
        respHeaders, failure, t (ms since the epoch)."""
        return AGENT.call("page_net", page=self.h)

    def click(self, selector):
        return AGENT.call("page_click", page=self.h, selector=selector)

    def reload(self):
        return AGENT.call("page_reload", page=self.h)

    def goto(self, path):
        return AGENT.call("page_goto", page=self.h, url=self.url.rsplit("/", 1)[0] + "/" + path)

    def back(self):
        return AGENT.call("page_back", page=self.h)

    def shot(self, path, full_page=False):
        return AGENT.call("page_shot", page=self.h, file=path, fullPage=full_page)

    def close(self):
        with contextlib.suppress(TestFailure):
            AGENT.call("page_close", page=self.h)


class NodeES:
    """An EventSource of the npm eventsource package, in the agent."""

    def __init__(self, url, types, **opts):
        self.h = AGENT.call("es_open", url=url, types=types, **opts)["es"]
        CASE_CLIENTS.append(self)

    def info(self, events=False):
        return AGENT.call("es_info", es=self.h, **({"from": 0} if events else {}))

    def events(self):
        return self.info(events=True)["events"]

    def wait(self, count=0, last=None, timeout=10.0):
        """Waits for count events and the last id >= last; returns info
        with "reached" false on timeout."""
        return AGENT.call("es_wait", timeout=timeout + 15, es=self.h, count=count, last=last,
                          ms=int(timeout * 1000))

    def close(self):
        with contextlib.suppress(TestFailure):
            AGENT.call("es_close", es=self.h)


def native(page, url, types, init=None):
    """A plain EventSource in the page; returns its index for T.*()."""
    return page.eval("T.native(%s, %s, %s)" % (json.dumps(url), json.dumps(types),
                                               json.dumps(init or {})))


def http_get(url, headers=None, **opts):
    return AGENT.call("http_get", timeout=60, url=url, headers=headers or {}, **opts)


# ------------------------------------------------------- servers, workers

MIME = """mimetype.assign = (
    ".html" => "text/html; charset=utf-8",
    ".js" => "text/javascript; charset=utf-8",
    ".css" => "text/css; charset=utf-8",
    ".png" => "image/png",
    ".py" => "text/plain; charset=utf-8",
)
index-file.names = ( "index.html" )
"""


def start_web(env, sock=None, docroot=None):
    """lighttpd serving docroot (default: the suite's pages) with proper
    MIME types, and /events through FastCGI to the worker at sock (without a
    worker, /events answers 503). harness.lighttpd_conf is reused; only the
    document root changes and MIME types are added."""
    docroot = docroot or WWW
    last = None
    for attempt in range(5):
        port = free_port()
        text = harness.lighttpd_conf(env.dir, port, sock or env.path("no-worker.sock"), None)
        text = text.replace('server.document-root = "%s"' % env.dir,
                            'server.document-root = "%s"' % docroot, 1) + MIME
        conf = env.path("web-%d.conf" % port)
        with open(conf, "w") as f:
            f.write(text)
        p = Proc("lighttpd", [harness.LIGHTTPD, "-D", "-f", conf],
                 log=env.newlog("lighttpd"), env=harness.clean_env())
        env.procs.append(p)
        wait_until(lambda: tcp_listening(port) or not p.alive(), 10,
                   "lighttpd to listen on port %d" % port)
        if p.alive():
            p.port = port
            p.origin = "http://127.0.0.1:%d" % port
            return p
        last = harness.tail(p.log)
        p.stop()
    raise TestFailure("lighttpd did not start: %s" % last)


def start_worker(env, sock=None, flags=(), **opts):
    """sselite-fcgi --listen <unix socket> with --NAME=VALUE for each
    keyword (max_lifetime=2) and --FLAG for each of flags."""
    sock = sock or env.path("w.sock")
    argv = [harness.FCGI, "--db", env.db, "--listen", sock]
    argv += ["--%s=%s" % (k.replace("_", "-"), v) for k, v in opts.items()]
    argv += ["--" + f for f in flags]
    p = Proc("sselite-fcgi", argv, log=env.newlog("worker"), env=harness.clean_env())
    p.sock = sock
    env.procs.append(p)
    wait_until(lambda: unix_listening(sock) or not p.alive(), 10, "the worker to listen on " + sock)
    check(p.alive(), "the worker exited at start (status %s): %s" % (p.returncode, harness.tail(p.log)))
    return p


def standalone(env, flags=(), **opts):
    env.init_db()
    w = start_worker(env, flags=flags, **opts)
    return w, start_web(env, w.sock)


def stop_worker(w, sig=signal.SIGTERM):
    w.signal(sig)
    check(w.wait(5.0) is not None, "the worker survived signal %d" % sig)


# ------------------------------------------------------------ comparing

def norm(data):
    """What a client must see for inserted data: CRLF and CR become LF."""
    return data.replace("\r\n", "\n").replace("\r", "\n")


def expected(ids, items):
    """[[id, type, data]] for rows ids inserted from [(event, data)]."""
    return [[str(i), ev or "message", norm(d)] for i, (ev, d) in zip(ids, items)]


def ticks(ids):
    """What harness.Publisher's rows look like to a client."""
    return [[str(i), "message", "tick %d" % n] for n, i in enumerate(ids)]


def show(v, n=80):
    r = repr(v)
    return r if len(r) <= n else r[:n] + "...(%d chars)" % len(r)


def same_events(got, want, who):
    """got: [[lastEventId, type, data, ...]] from a client; want: [[id,
    type, data]]. Raises TestFailure naming the first difference."""
    g = [list(e[:3]) for e in got]
    if g == want:
        return
    ids = [e[0] for e in g]
    dups = sorted({i for i in ids if ids.count(i) > 1}, key=lambda x: int(x) if x.isdigit() else 0)
    missing = [w[0] for w in want if w[0] not in set(ids)]
    msg = ["%s: received %d events, expected %d" % (who, len(g), len(want))]
    if dups:
        msg.append("duplicated ids: %s" % dups[:20])
    if missing:
        msg.append("missing ids (%d): %s" % (len(missing), missing[:20]))
    for k, (a, b) in enumerate(zip(g, want)):
        if a != b:
            for f, name in enumerate(("id", "type", "data")):
                if a[f] != b[f]:
                    msg.append("event #%d (row %s): %s %s, expected %s" % (k, b[0], name, show(a[f]), show(b[f])))
                    if name == "data":
                        j = next((x for x in range(min(len(a[f]), len(b[f]))) if a[f][x] != b[f][x]),
                                 min(len(a[f]), len(b[f])))
                        msg.append("  first difference at char %d: got %s, expected %s"
                                   % (j, show(a[f][max(0, j - 10):j + 20]), show(b[f][max(0, j - 10):j + 20])))
            break
    raise TestFailure("; ".join(msg))


def check_exact_ids(got_ids, want_ids, who):
    dups = sorted({i for i in got_ids if got_ids.count(i) > 1})
    check(not dups, "%s: duplicated ids %s" % (who, dups[:20]))
    missing = [i for i in want_ids if i not in set(got_ids)]
    check(not missing, "%s: lost %d ids: %s" % (who, len(missing), missing[:20]))
    check(got_ids == want_ids, "%s: ids out of order or unexpected: %s" % (who, got_ids[:40]))
