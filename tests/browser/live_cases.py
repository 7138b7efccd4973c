# live_cases.py - browser cases for pages that stay live (issue 11): what
# sselite.js does when a page comes back (shown again, restored from the
# back/forward cache, back online), and one stream shared by the tabs of an
# origin (shared: true). Registered into browser_cases.CASES; see run.py.
# SPDX-License-Identifier: MIT
#
# A suspended phone leaves a dead connection behind without any error. That
# is reproduced with FreezeProxy: a TCP relay in front of lighttpd that stops
# relaying the connections open at a given moment, without closing them.
# Headless Chromium cannot hide a tab, so hidden/shown is emulated in the
# page: document.visibilityState is overridden and visibilitychange fired.

import json
import select
import socket
import threading

import clients
from browser_cases import case, check_ticks, lib_page, start_publisher, wait_opened
from clients import expected, native, same_events, standalone
from harness import check, publish_many

EMULATE_VISIBILITY = """window.setVisibility = state => {
    Object.defineProperty(document, 'visibilityState', {configurable: true, get: () => state});
    Object.defineProperty(document, 'hidden', {configurable: true, get: () => state === 'hidden'});
    document.dispatchEvent(new Event('visibilitychange'));
}; true"""


class FreezeProxy:
    """Relays 127.0.0.1:port to 127.0.0.1:target. freeze() stops relaying,
    both ways, on every connection open at that moment; they stay open.
    Later connections are relayed. stop() closes everything."""

    def __init__(self, target):
        self.target = target
        self.lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(64)
        self.port = self.lsock.getsockname()[1]
        self.origin = "http://127.0.0.1:%d" % self.port
        self.lock = threading.Lock()
        self.conns = []          # [client, upstream, frozen]
        self.stopped = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self.stopped.is_set():
            try:
                c, _ = self.lsock.accept()
                u = socket.create_connection(("127.0.0.1", self.target), timeout=5)
            except OSError:
                return
            rec = [c, u, False]
            with self.lock:
                self.conns.append(rec)
            for src, dst in ((c, u), (u, c)):
                threading.Thread(target=self._pump, args=(rec, src, dst), daemon=True).start()

    def _pump(self, rec, src, dst):
        # Ends when either side closes or the proxy stops; a frozen relay
        # just stops reading (the bytes wait in the kernel, unseen).
        while not self.stopped.is_set():
            if rec[2]:
                self.stopped.wait(0.1)
                continue
            try:
                ready, _, _ = select.select([src], [], [], 0.1)
                if not ready:
                    continue
                data = src.recv(65536)
                if not data or rec[2]:
                    if not data:
                        break
                    continue
                dst.sendall(data)
            except OSError:
                break
        if not rec[2]:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def freeze(self):
        with self.lock:
            for rec in self.conns:
                rec[2] = True
            return len(self.conns)

    def stop(self):
        self.stopped.set()
        self.lsock.close()
        with self.lock:
            for c, u, _ in self.conns:
                c.close()
                u.close()


def items(n, tag):
    return [(None, "%s %d" % (tag, k)) for k in range(n)]


@case("sselite.js: a tab shown again after its stream went silent (dead connection, no error) reconnects at once and resumes exactly; a plain EventSource stays stuck")
def t_lib_wake_visible(env):
    w, web = standalone(env, retry_ms=20000)
    proxy = FreezeProxy(web.port)
    try:
        lib = lib_page(proxy)
        lib.eval(EMULATE_VISIBILITY)
        url = "events?channel=vis"
        a = lib.eval('T.lib(%s, ["message"], {heartbeat: 500, storage: null})' % json.dumps(url))
        c = lib.eval('T.lib(%s, ["message"], {heartbeat: 60000, storage: null})' % json.dumps(url))
        b = native(lib, url, ["message"])
        wait_opened((lib, a, "sselite.js"), (lib, c, "sselite.js, long heartbeat"), (lib, b, "plain"))
        first = publish_many(env.db, [("vis", e, d) for e, d in items(3, "before")])
        for k in (a, b, c):
            lib.wait("T.lastId(%d) >= %d" % (k, first[-1]), 5, "stream %d: no events" % k)
        lib.eval("window.lastSeen = Date.now()")
        check(proxy.freeze() >= 1, "no connection to freeze")
        missed = publish_many(env.db, [("vis", e, d) for e, d in items(3, "while frozen")])
        lib.eval("setVisibility('hidden')")
        # Silent for more than two of a's heartbeats (2 x 500 ms).
        lib.wait("Date.now() - window.lastSeen > 1300", 5)
        check(lib.eval("T.lastId(%d)" % a) == first[-1], "events passed the frozen relay")
        lib.eval("setVisibility('visible')")
        lib.wait("T.lastId(%d) >= %d" % (a, missed[-1]), 5,
                 "sselite.js did not reconnect when shown after a silence")
        same_events(lib.eval("T.events(%d)" % a),
                     expected(first + missed, items(3, "before") + items(3, "while frozen")),
                     "sselite.js across the dead connection")
        check(lib.eval("T.info(%d).opens" % a) == 2, "opens: %s" % lib.eval("T.info(%d)" % a))
        resumed = [r["url"] for r in lib.net() if "last_event_id=%d" % first[-1] in r["url"]]
        check(len(resumed) == 1, "resume requests: %s" % [r["url"] for r in lib.net()])
        # Not silent for two of its heartbeats: c keeps its connection.
        info = lib.eval("T.info(%d)" % c)
        check(info["opens"] == 1 and info["last"] == str(first[-1]),
              "the long-heartbeat stream reconnected or moved: %s" % info)
        check(lib.eval("T.lastId(%d)" % b) == first[-1], "the plain EventSource got past the freeze")
    finally:
        proxy.stop()


@case("sselite.js: back online (the browser's offline/online, and an online event over a dead connection) it reconnects at once, not after retry:, and resumes exactly")
def t_lib_wake_online(env):
    w, web = standalone(env, retry_ms=20000)
    proxy = FreezeProxy(web.port)
    try:
        lib = lib_page(proxy)
        a = lib.eval('T.lib("events?channel=onl", ["message"], {heartbeat: 500, storage: null})')
        wait_opened((lib, a, "sselite.js"))
        want, sent = [], []

        def publish(tag):
            got = publish_many(env.db, [("onl", e, d) for e, d in items(2, tag)])
            want.extend(items(2, tag))
            sent.extend(got)
            return got

        lib.wait("T.lastId(%d) >= %d" % (a, publish("online")[-1]), 5, "no events")
        # The browser's own offline/online (Chromium drops the connection).
        lib.eval("window.lastSeen = Date.now()")
        clients.AGENT.call("set_offline", offline=True)
        try:
            publish("offline")
            lib.wait("Date.now() - window.lastSeen > 1300", 5)
        finally:
            clients.AGENT.call("set_offline", offline=False)
        lib.wait("T.lastId(%d) >= %d" % (a, sent[-1]), 5,
                 "sselite.js did not reconnect when back online (the browser's own retry is 20 s)")
        # A network change that leaves the connection dead without an error
        # (the old route is gone), then "online".
        lib.eval("window.lastSeen = Date.now()")
        check(proxy.freeze() >= 1, "no connection to freeze")
        publish("dead route")
        lib.wait("Date.now() - window.lastSeen > 1300", 5)
        lib.eval("dispatchEvent(new Event('online')); true")
        lib.wait("T.lastId(%d) >= %d" % (a, sent[-1]), 5,
                 "sselite.js did not replace a silent stream on 'online'")
        same_events(lib.eval("T.events(%d)" % a), expected(sent, want), "sselite.js across offline/online")
    finally:
        proxy.stop()


@case("sselite.js: a page restored from the back/forward cache resumes exactly after the last id it had")
def t_lib_bfcache(env):
    w, web = standalone(env, retry_ms=20000)
    lib = lib_page(web)
    a = lib.eval('T.lib("events?channel=bf", ["message"], {storage: null})')
    wait_opened((lib, a, "sselite.js"))
    first = publish_many(env.db, [("bf", e, d) for e, d in items(2, "before")])
    lib.wait("T.lastId(%d) >= %d" % (a, first[-1]), 5, "no events")
    lib.eval("window.restored = null; addEventListener('pageshow', e => { window.restored = e.persisted; }); true")
    lib.goto("collect.html")
    away = publish_many(env.db, [("bf", e, d) for e, d in items(2, "away")])
    lib.back()
    check(lib.wait("window.restored === true", 5) is not None,
          "the page was not restored from the back/forward cache")
    lib.wait("T.lastId(%d) >= %d" % (a, away[-1]), 5, "sselite.js did not resume after the restore")
    same_events(lib.eval("T.events(%d)" % a),
                expected(first + away, items(2, "before") + items(2, "away")),
                "sselite.js across the back/forward cache")
    check(lib.eval("T.info(%d).opens" % a) == 2, "opens: %s" % lib.eval("T.info(%d)" % a))


def leaders(pages, k):
    return [p for p in pages if p.eval("T.info(%d).leader" % k)]


@case("sselite.js shared: ten tabs hold one connection; every tab gets every event once, in order, across two leaders' tabs closing")
def t_lib_shared(env):
    w, web = standalone(env)
    expr = 'T.lib("events?channel=sh", ["message"], {shared: true})'
    pages = []
    for _ in range(10):
        p = lib_page(web)
        check(p.eval(expr) == 0, "T.lib index")
        pages.append(p)
    pages[0].wait("T.info(0).opens >= 1", 5, "no tab's stream opened")
    for p in pages:
        p.wait("T.info(0).readyState === 1", 5, "a tab does not see the shared stream open")
    check(len(leaders(pages, 0)) == 1, "leaders: %d" % len(leaders(pages, 0)))
    requests = sum(len(p.net()) for p in pages)
    check(requests == 1, "ten tabs made %d stream requests" % requests)

    pub = start_publisher(env, "sh")
    closed = 0
    try:
        for p in pages:
            p.wait("T.info(0).n >= 5", 5, "a follower got no events")
        for _ in range(2):
            (lead,) = leaders(pages, 0)
            n = lead.eval("T.info(0).n")
            pages.remove(lead)
            lead.close()
            closed += 1
            for p in pages:
                p.wait("T.info(0).n >= %d" % (n + 10), 10, "no events after the leader's tab closed")
            check(len(leaders(pages, 0)) == 1, "leaders after a close: %d" % len(leaders(pages, 0)))
    finally:
        ids = pub.stop()
    for p in pages:
        check_ticks(p, 0, ids, "a tab after %d takeovers" % closed)
    # One connection at a time: only the current leader's tab ever opened
    # one, once, resuming after the last id it had.
    (lead,) = leaders(pages, 0)
    made = [len(p.net()) for p in pages if p is not lead]
    check(made == [0] * len(made), "followers made stream requests: %s" % made)
    reqs = lead.net()
    check(len(reqs) == 1 and "last_event_id=" in reqs[0]["url"],
          "the last leader's stream requests: %s" % [r["url"] for r in reqs])
