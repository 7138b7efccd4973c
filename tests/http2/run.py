#!/usr/bin/env python3
# run.py - HTTP/2 with TLS under each server, in headless Chromium: one page
# on one origin opens ten EventSources (ten channels); over HTTP/2 every one
# opens and receives its event at once, while the same page with HTTP/1.1
# (Chromium's --disable-http2, same server, same TLS) opens six and the
# seventh waits: the browser's per-origin connection limit, which the recipe
# is there to lift. Compression is switched on server-wide in every server
# (and checked to compress the page) and must leave the streams alone.
# SPDX-License-Identifier: MIT
#
# The servers are the shipped configurations (tests/servers/deployments.py,
# deploy/) plus the recipes in deploy/http2/, each copied with only paths,
# ports and the certificate (made by openssl at run time) substituted.
# Usage: run.py [PATTERN...]. Last line "N passed, N failed".

import gzip
import importlib.util
import json
import os
import shutil
import signal
import ssl
import subprocess
import sys
import time
import urllib.request

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
TESTS = os.path.dirname(HERE)
sys.path.insert(1, os.path.join(TESTS, "integration"))
sys.path.insert(1, os.path.join(TESTS, "servers"))

import harness  # noqa: E402
import deployments as d  # noqa: E402
from harness import TestFailure, check, wait_until  # noqa: E402

N = 10            # streams the page opens
# Streams one fresh HTTP/2 connection carries at once, as measured:
# "cold", a page that opens its streams first; "warm", after the page made
# four ordinary requests 150 ms apart. nginx: up to http2_max_concurrent_streams
# (128). Apache mod_http2: 6 (the h1 limit) until requests on the connection
# complete, doubling at most every 100 ms (h2_mplx processing_limit); event
# streams never complete. lighttpd 1.4.69: 8, fixed (h2.c).
EXPECT = {
    "nginx": {"cold": N},
    # Warm: how far the limit has doubled depends on when the page's earlier
    # requests completed (at most every 100 ms): all 10 on a quiet machine,
    # fewer on a loaded one, but always beyond HTTP/1.1's six.
    # Cold: 6, unless one of the page's requests completed early (under
    # mod_fcgid a stream that met a process still starting and was retried
    # by EventSource), which lets the limit double: seen on a fresh machine.
    "apache-proxy_fcgi": {"cold": (6, N), "warm": (7, N)},
    "apache-fcgid": {"cold": (6, N), "warm": (7, N)},
    "lighttpd": {"cold": 8},
}
H1_LIMIT = 6      # Chromium's HTTP/1.1 connections per origin
AT_ONCE_MS = 1000  # an event later than this after its INSERT is late


def recipe(rel, subs):
    """deploy/http2/<rel> with each (regex, replacement) applied once."""
    return d.substitute(d.shipped("http2/" + rel), "http2/" + rel, subs)


def make_cert(dirname):
    """A self-signed certificate for 127.0.0.1, made now."""
    cert, key = os.path.join(dirname, "cert.pem"), os.path.join(dirname, "key.pem")
    r = subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                        "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2",
                        "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                        "-keyout", key, "-out", cert], capture_output=True, text=True)
    check(r.returncode == 0, "openssl req failed: %s" % r.stderr.strip())
    os.chmod(key, 0o644)  # read by the servers' children too
    return cert, key


class H2:
    """Mixed into a deployment: TLS with HTTP/2 from deploy/http2/, the
    test page in the document root, and compression on server-wide."""

    def htdocs(self):
        h = os.path.join(self.env.dir, "htdocs")
        os.makedirs(h, exist_ok=True)
        shutil.copy(os.path.join(HERE, "pages", "h2.html"), h)
        return h

    def cert(self):
        if not hasattr(self, "_cert"):
            self._cert = make_cert(self.env.dir)
        return self._cert


class NginxH2(H2, d.Nginx):
    name = "nginx"

    def write_config(self, port):
        conf = super().write_config(port)
        nd = os.path.join(self.env.dir, "nginx")
        cert, key = self.cert()
        site = recipe("nginx-site.conf", [
            (r"^(\s*)listen 443 ssl http2;", r"\g<1>listen 127.0.0.1:%d ssl http2;" % port),
            (r"^\s*listen \[::\]:443 ssl http2;\s*\n", ""),
            (r"^(\s*ssl_certificate\s+)\S+;", r"\g<1>%s;" % cert),
            (r"^(\s*ssl_certificate_key\s+)\S+;", r"\g<1>%s;" % key),
            (r"^(\s*root )/var/www/example;", r"\g<1>%s;" % self.htdocs()),
            (r"^(\s*include )snippets/sselite\.conf;", r"\g<1>%s/sselite.conf;" % nd)])
        # The copy of example-site.conf the base wrote is replaced.
        d.write(os.path.join(nd, "example-site.conf"), site)
        return conf


class ApacheH2Mixin(H2):
    modules_h2 = ("ssl", "http2", "socache_shmcb")

    def main_extra(self):
        cert, key = self.cert()
        vhost = recipe("apache-h2.conf", [
            (r"^<VirtualHost \*:443>", "<VirtualHost 127.0.0.1:%d>" % self.port_for_config),
            (r"^(\s*DocumentRoot )/var/www/html", r"\g<1>%s" % self.htdocs()),
            (r"^(\s*SSLCertificateFile\s+)\S+", r"\g<1>%s" % cert),
            (r"^(\s*SSLCertificateKeyFile\s+)\S+", r"\g<1>%s" % key)])
        return super().main_extra() + vhost

    def write_config(self, port):
        self.port_for_config = port
        return super().write_config(port)


class ApacheProxyH2(ApacheH2Mixin, d.ApacheProxy):
    name = "apache-proxy_fcgi"
    modules = d.ApacheProxy.modules + ApacheH2Mixin.modules_h2


class ApacheFcgidH2(ApacheH2Mixin, d.ApacheFcgid):
    name = "apache-fcgid"
    modules = d.ApacheFcgid.modules + ApacheH2Mixin.modules_h2


class LighttpdH2(H2, d.LighttpdStandalone):
    name = "lighttpd"

    def write_config(self, port):
        conf = super().write_config(port)
        self.htdocs()
        cert, key = self.cert()
        tls = recipe("lighttpd-tls.conf", [
            (r'^\$SERVER\["socket"\] == ":443" \{', '$SERVER["socket"] == "127.0.0.1:%d" {' % port),
            (r'^(\s*ssl\.pemfile\s*=\s*)"[^"]*"', r'\g<1>"%s"' % cert),
            (r'^(\s*ssl\.privkey\s*=\s*)"[^"]*"', r'\g<1>"%s"' % key)])
        with open(conf, "a") as f:
            f.write(tls)
        return conf


DEPLOYMENTS = [NginxH2, ApacheProxyH2, ApacheFcgidH2, LighttpdH2]


class Agent:
    """tests/http2/h2.mjs, one command at a time over its stdin/stdout."""

    def __init__(self, env):
        node = os.environ.get("NODE", "node")
        self.log = env.newlog("agent")
        with open(self.log, "w") as errf:
            self.popen = subprocess.Popen([node, os.path.join(HERE, "h2.mjs")],
                                          stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                          stderr=errf)
        # Tracked by PID, so the case's cleanup stops it.
        env.procs.append(harness.Proc("h2.mjs", pid=self.popen.pid))

    def __call__(self, cmd, **kw):
        kw["cmd"] = cmd
        self.popen.stdin.write((json.dumps(kw) + "\n").encode())
        self.popen.stdin.flush()
        line = self.popen.stdout.readline()
        check(line, "the browser agent ended: %s" % harness.tail(self.log))
        reply = json.loads(line)
        check(reply["ok"], "agent %s: %s" % (cmd, reply.get("error")))
        return reply["result"]


def compressed(port):
    """The server's Content-Encoding for the page itself, asked for gzip:
    proof that compression is on."""
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    req = urllib.request.Request("https://127.0.0.1:%d/h2.html" % port,
                                 headers={"Accept-Encoding": "gzip"})
    with urllib.request.urlopen(req, context=ctx, timeout=10) as r:
        body = r.read()
        enc = r.headers.get("Content-Encoding")
    if enc == "gzip":
        body = gzip.decompress(body)
    check(b"EventSource" in body, "the page did not come back intact")
    return enc


def opened(st):
    return [s for s in st["sources"] if s["opened"] is not None]


def publish_all(env, agent, expect_open):
    """Publishes one event per channel; waits until every open source has
    its event. Returns {channel: delay_ms} and the last state."""
    sent = {}
    for i in range(N):
        ch = "h2-%d" % i
        t = time.time() * 1000
        harness.publish_py(env.db, "event for %s" % ch, channel=ch)
        sent[ch] = t
    box = {}

    def arrived():
        box["st"] = agent("state")
        got = [s for s in opened(box["st"]) if s["events"]]
        return len(got) >= expect_open
    wait_until(arrived, 10, "every open stream to receive its event")
    st = box["st"]
    delays = {}
    for s in opened(st):
        check(len(s["events"]) == 1 and s["events"][0]["data"] == "event for " + s["channel"],
              "%s received %r" % (s["channel"], s["events"]))
        delays[s["channel"]] = s["events"][0]["t"] - sent[s["channel"]]
    return delays, st


def headers_ok(st, n):
    check(len(st["responses"]) >= n, "%d event-stream responses seen, want %d"
          % (len(st["responses"]), n))
    for r in st["responses"]:
        h = r["headers"]
        check(r["status"] == 200 and h.get("content-type", "").startswith("text/event-stream"),
              "%s: status %s, content-type %r" % (r["url"], r["status"], h.get("content-type")))
        check("content-encoding" not in h,
              "%s came with Content-Encoding %r" % (r["url"], h.get("content-encoding")))


def case(env, dep):
    cls = type(dep)
    dep.start(compress=True, threads=32, heartbeat=15)
    url = "https://127.0.0.1:%d/h2.html?n=%d" % (dep.port, N)
    enc = compressed(dep.port)
    check(enc == "gzip", "server-wide compression is not on (page came with %r)" % enc)
    agent = Agent(env)

    # HTTP/2: the streams open (as many as the server lets one connection
    # carry), each event at once, none compressed.
    notes = []
    for mode, want in sorted(EXPECT[cls.name].items()):
        least, most = want if isinstance(want, tuple) else (want, want)
        box = {}

        def enough():
            box["st"] = agent("state")
            return len(opened(box["st"])) >= least
        # mod_http2 raises a connection's limit only as its earlier requests
        # complete, at most once per 100 ms: on a loaded machine a warm page
        # once kept 6 for 25 s (1 run in about 20). A fresh page, on a new
        # connection, is one more chance; a server that never lets more than
        # six through still fails.
        attempts = 2 if mode == "warm" else 1
        for attempt in range(1, attempts + 1):
            agent("open", url=url + ("&warm=4" if mode == "warm" else ""), http1=False)
            try:
                wait_until(enough, 10 if attempt < attempts else 25,
                           "%d EventSources to open over HTTP/2 (%s page)" % (least, mode))
                break
            except TestFailure:
                if attempt == attempts:
                    raise
                notes.append("%s page: %d/%d open on the first connection, reopened"
                             % (mode, len(opened(box["st"])), N))
                agent("close")
        time.sleep(2.0)  # long enough for one more to open, if it could
        st = agent("state")
        check(st["protocol"] == "h2", "page came over %r, not h2" % st["protocol"])
        n2 = len(opened(st))
        check(least <= n2 <= most, "over HTTP/2 (%s page) %d of %d opened, want %s"
              % (mode, n2, N, want))
        delays, st = publish_all(env, agent, n2)
        check(max(delays.values()) < AT_ONCE_MS, "late events (ms): %r" % delays)
        headers_ok(st, n2)
        agent("close")
        notes.append("HTTP/2 %s page: %d/%d open, events %.0f-%.0f ms after INSERT"
                     % (mode, n2, N, min(delays.values()), max(delays.values())))

    # The control: HTTP/1.1 to the same server, same TLS.
    agent("open", url=url, http1=True)
    wait_until(lambda: len(opened(agent("state"))) >= H1_LIMIT, 25,
               "%d EventSources to open over HTTP/1.1" % H1_LIMIT)
    time.sleep(2.0)  # long enough for a seventh to open, if it could
    st = agent("state")
    check(st["protocol"] == "http/1.1", "control page came over %r" % st["protocol"])
    n1 = len(opened(st))
    check(n1 == H1_LIMIT, "over HTTP/1.1 %d of %d opened (want %d: the seventh waits)"
          % (n1, N, H1_LIMIT))
    delays1, st = publish_all(env, agent, H1_LIMIT)
    waiting = [s["channel"] for s in st["sources"] if s["opened"] is None]
    check(all(not s["events"] for s in st["sources"] if s["opened"] is None),
          "a waiting stream received events")
    agent("close")
    return ("; ".join(notes) + "; no Content-Encoding on streams (page: gzip); "
            "HTTP/1.1: %d/%d open, %s waiting" % (n1, N, ", ".join(waiting)))


def main(argv):
    # The server suite's runner: temp dir, alarm, cleanup and diagnostics.
    spec = importlib.util.spec_from_file_location(
        "servers_run", os.path.join(TESTS, "servers", "run.py"))
    servers_run = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(servers_run)
    harness.install_cleanup()
    signal.signal(signal.SIGALRM, servers_run._alarm)
    if os.geteuid() != 0:
        print("not ok - prerequisites: must run as root (the servers switch to www-data)")
        print("0 passed, 1 failed")
        return 1
    passed = failed = 0
    for cls in DEPLOYMENTS:
        label = "%s: streams on one origin over HTTP/2 with TLS beyond HTTP/1.1's six" % cls.name
        if argv and not any(a in label for a in argv):
            continue
        if servers_run.run_case(label, cls, case):
            passed += 1
        else:
            failed += 1
    left = servers_run.leftovers()
    harness.kill_all()
    if left:
        print("not ok - processes left running: %s" % ", ".join(left))
        failed += 1
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
