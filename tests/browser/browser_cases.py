# browser_cases.py - the cases of the sselite browser suite (see run.py).
# SPDX-License-Identifier: MIT
#
# Each case gets a harness.Env (temp dir, database, processes stopped at its
# end), starts what it needs, and compares what real clients' JavaScript
# received (event.lastEventId, event.type, event.data) with the rows it
# inserted through SQLite.

import json
import os
import signal
import time

import clients
import harness
from clients import (Page, NodeES, native, http_get, start_web, start_worker, standalone,
                     stop_worker, expected, ticks, same_events, check_exact_ids, show,
                     OUT, DEMO_DIR)
from harness import (check, wait_until, Proc, publish_py, publish_cli, publish_many,
                     prune_keep, Publisher)

CASES = []


def case(name):
    def deco(fn):
        CASES.append((name, fn))
        return fn
    return deco


# ----------------------------------------------------------- payloads

EDGE = [
    (None, ""),
    (None, "trailing newline\n"),
    (None, "\n"),
    (None, "\n\n"),
    (None, "blank\n\nlines\n\n\ninside"),
    (None, "cr\rcr\r"),
    (None, "crlf\r\ncrlf\r\n"),
    (None, "mixed\r\n\r\r\nend\n\r"),
    (None, "\r"),
    (None, " leading space"),
    (None, "  two leading spaces\n\ttab\n trailing space "),
    (None, ":starts with a colon"),
    (None, ": comment-looking\n:\n::"),
    (None, "a:b:c: d"),
    (None, "data: looks like a field"),
    (None, "data:no space\ndata:\ndata"),
    (None, "event: fake\nid: 999999\nretry: 1\n\ndata: after a blank line\n:comment"),
    (None, "id"),
    (None, "\u2028line\u2029separators\u0085next-line"),
    (None, "tab\tvertical\x0bformfeed\x0cbackspace\x08escape\x1b"),
    ("", "empty type is message"),
    ("message", "explicit message type"),
    ("update", '{"json": true, "n": [1, 2, 3], "s": "a\\nb"}'),
    ("custom.type-1_x", "custom type"),
    ("a:b", "type with a colon"),
    (" spaced", "type with a leading space"),
    ("trailing ", "type with a trailing space"),
    ("\u00fcn\u00ef-\U0001f389", "non-ASCII type"),
    ("data", "type named data"),
]

UNICODE = [
    (None, "\u6f22\u5b57 \u304b\u306a \u30ab\u30ca \ud55c\uad6d\uc5b4 \u4e2d\u6587"),
    (None, "emoji \U0001f600 \U0001f469\u200d\U0001f469\u200d\U0001f467\u200d\U0001f466 "
           "\U0001f3f3\ufe0f\u200d\U0001f308 \U0001f1ef\U0001f1f5 \u2714\ufe0f"),
    (None, "combining e\u0301 a\u0308 o\u0303\u0323 Z\u0324\u0354\u0367\u0311\u0313"),
    (None, "RTL \u05e9\u05dc\u05d5\u05dd \u05e2\u05d5\u05dc\u05dd "
           "\u0645\u0631\u062d\u0628\u0627 \u0628\u0627\u0644\u0639\u0627\u0644\u0645 "
           "\u202eoverride\u202c \u200fmark"),
    (None, "\ufeffBOM at the start of the data"),
    (None, "\ufeff"),
    ("\u00fcn\u00ef", "\u00fcn\u00ef\n\u6f22\u5b57\n\U0001f600"),
    (None, "4-byte at line ends \U0001f600\n\U0001f600\r\n\U0001f600\r\U0001f600"),
    (None, "\u00a0nbsp\u00a0 zero\u200bwidth \u2060joiner"),
    (None, "edges \u0080 \u07ff \u0800 \ufffd \uffff \U00010000 \U0010fffd"),
]


def big_payloads():
    line64 = "".join(chr(0x21 + i % 94) for i in range(65536))  # printable ASCII
    lines64 = "\r\n".join(("%05d " % i) + "\u00e9\u6f22\U0001f600" * 8 for i in range(2000))
    one_mib = ("0123456789abcdef" * 65536)
    mib_lines = "\n".join(("line %06d " % i) + "\u00fcn\u00ef\u6f22\u5b57\U0001f389" * 60
                          for i in range(4000))
    return [(None, line64), ("big", lines64), (None, one_mib), ("big", mib_lines + "\n")]


def run_bytes(env, channel, items, timeout, one_by_one=True):
    """Publishes items while a Chromium EventSource and an npm EventSource
    listen (live), then reads them again with new clients resuming from
    before the first (backlog); all four must match byte for byte."""
    w, web = standalone(env)
    head = publish_py(env.db, "before", channel=channel)
    types = sorted({ev or "message" for ev, _ in items})
    path = "/events?channel=%s&last_event_id=%d" % (channel, head)
    page = Page(web, "collect.html")
    i = native(page, path, types)
    node = NodeES(web.origin + path, types)
    page.wait("T.info(%d).opens >= 1" % i, 5, "Chromium: the stream did not open")
    wait_until(lambda: node.info()["opens"] >= 1, 5, "npm eventsource: the stream to open")
    if one_by_one:
        ids = [publish_py(env.db, d, channel=channel, event=ev) for ev, d in items]
    else:
        ids = publish_many(env.db, [(channel, ev, d) for ev, d in items])
    want = expected(ids, items)
    page.wait("T.lastId(%d) >= %d" % (i, ids[-1]), timeout)
    same_events(page.eval("T.events(%d)" % i), want, "Chromium (live)")
    node.wait(last=ids[-1], timeout=timeout)
    same_events(node.events(), want, "npm eventsource (live)")
    j = native(page, path, types)
    node2 = NodeES(web.origin + path, types)
    page.wait("T.lastId(%d) >= %d" % (j, ids[-1]), timeout)
    same_events(page.eval("T.events(%d)" % j), want, "Chromium (backlog)")
    node2.wait(last=ids[-1], timeout=timeout)
    same_events(node2.events(), want, "npm eventsource (backlog)")
    return len(ids)


# ---------------------------------------------------------------- cases

@case("bytes: edge-case payloads and custom types, byte-exact in Chromium and npm eventsource")
def t_bytes_edge(env):
    run_bytes(env, "edge", EDGE, 10.0)


@case("bytes: CJK, emoji, combining marks, RTL, BOM-led data, byte-exact in both clients")
def t_bytes_unicode(env):
    run_bytes(env, "unicode", UNICODE, 10.0)


@case("bytes: NUL inside data reaches both clients")
def t_bytes_nul(env):
    run_bytes(env, "nul", [(None, "nul\u0000inside"), (None, "\u0000"), (None, "end\u0000")], 10.0)


@case("bytes: 64 KiB and 1 MiB payloads, single- and multi-line, in both clients")
def t_bytes_big(env):
    run_bytes(env, "big", big_payloads(), 30.0)


@case("bytes: a burst of 5000 events in one transaction, three types, in both clients")
def t_bytes_burst(env):
    items = []
    for n in range(5000):
        ev = (None, "burst-a", "burst-b")[n % 3]
        data = "burst %d \u00fcn\u00ef" % n if n % 7 else "burst %d\nsecond line\r\nthird" % n
        items.append((ev, data))
    run_bytes(env, "burst", items, 30.0, one_by_one=False)


def wait_opened(*streams):
    """Waits until each (page, index, who) stream has opened once."""
    for page, k, who in streams:
        page.wait("T.info(%d).opens >= 1" % k, 5, "%s: the stream did not open" % who)


def start_publisher(env, channel, seconds=30):
    """A harness.Publisher inserting "tick N" on channel every 20 ms."""
    pub = Publisher(env.db, interval=0.02, channel=channel, max_seconds=seconds)
    pub.start()
    return pub


def wait_more(page, k, more, what):
    """Waits until stream k of page has received `more` events beyond now."""
    n = page.eval("T.info(%d).n" % k)
    page.wait("T.info(%d).n >= %d" % (k, n + more), 5, what)


def check_ticks(page, k, ids, who):
    """Stream k of page received exactly the Publisher's rows ids."""
    page.wait("T.lastId(%d) >= %d" % (k, ids[-1]), 10)
    got = page.eval("T.events(%d)" % k)
    same_events(got, ticks(ids), who)
    return got


def two_clients_and_publisher(env, web, channel, page=None):
    """A Chromium EventSource (in page, or a new one) and an npm EventSource
    on channel (no resume point), both open, then a harness.Publisher
    started on it."""
    page = page or Page(web, "collect.html")
    i = native(page, "/events?channel=" + channel, ["message"])
    node = NodeES(web.origin + "/events?channel=" + channel, ["message"])
    wait_opened((page, i, "Chromium"))
    wait_until(lambda: node.info()["opens"] >= 1, 5, "npm eventsource: the stream to open")
    return page, i, node, start_publisher(env, channel)


@case("reconnect: max-lifetime 2 ends streams under load; Chromium and npm eventsource resume with Last-Event-ID, exactly")
def t_reconnect_lifetime(env):
    w, web = standalone(env, max_lifetime=2, retry_ms=300)
    # A second EventSource keeps last_event_id=<head> in its URL for good:
    # on each reconnect the browser's Last-Event-ID header must win over it.
    head = publish_py(env.db, "before", channel="rc")
    page = Page(web, "collect.html")
    j = native(page, "/events?channel=rc&last_event_id=%d" % head, ["message"])
    wait_opened((page, j, "Chromium (last_event_id in the URL)"))
    page, i, node, pub = two_clients_and_publisher(env, web, "rc", page)
    try:
        page.wait("T.info(%d).opens >= 4" % i, 15, "Chromium: fewer than 3 reconnects in 15 s")
        node.wait(timeout=0.1)
        wait_until(lambda: node.info()["opens"] >= 4, 10, "npm eventsource: 3 reconnects")
    finally:
        ids = pub.stop()
    got = check_ticks(page, i, ids, "Chromium")
    conns = sorted({e[3] for e in got})
    check(len(conns) >= 3, "Chromium: events came over connections %s only" % conns)
    node.wait(last=ids[-1], timeout=10)
    nev = node.events()
    same_events(nev, ticks(ids), "npm eventsource")
    check(len({e[3] for e in nev}) >= 3, "npm eventsource: events over too few connections")
    check_ticks(page, j, ids, "Chromium (stale last_event_id in the URL, Last-Event-ID header on reconnects)")
    # Each reconnect of the same EventSource carried the id it had last seen.
    reqs = [r for r in page.net() if "last_event_id" not in r["url"]]
    check(len(reqs) >= 4, "Chromium made %d stream requests" % len(reqs))
    check("last-event-id" not in (reqs[0]["headers"] or {}),
          "the first request carried Last-Event-ID %r" % reqs[0]["headers"])
    seen = {e[0] for e in got}
    for r in reqs[1:]:
        lid = (r["headers"] or {}).get("last-event-id")
        check(lid is not None and lid in seen, "a reconnect carried Last-Event-ID %r" % lid)
        check(r["url"] == reqs[0]["url"], "the browser changed the URL: %s" % r["url"])


@case("reconnect: kill -9 of a standalone worker mid-stream, restart; Chromium and npm eventsource lose nothing")
def t_reconnect_kill(env):
    w, web = standalone(env, retry_ms=1500)
    page, i, node, pub = two_clients_and_publisher(env, web, "k9")
    try:
        page.wait("T.info(%d).n >= 20" % i, 5, "Chromium: no events before the kill")
        stop_worker(w, signal.SIGKILL)
        # Restart at once, before the clients retry (retry: 1500 ms): a
        # request meanwhile would get lighttpd's 503 and end both for good.
        start_worker(env, retry_ms=1500)
        page.wait("T.info(%d).opens >= 2" % i, 10, "Chromium did not reconnect after the restart")
        wait_until(lambda: node.info()["opens"] >= 2, 10, "npm eventsource to reconnect")
        wait_more(page, i, 20, "Chromium: no events after the restart")
    finally:
        ids = pub.stop()
    check_ticks(page, i, ids, "Chromium")
    node.wait(last=ids[-1], timeout=10)
    same_events(node.events(), ticks(ids), "npm eventsource")


DEMO_ROWS = ("Array.from(document.querySelectorAll('#events tr'), tr => "
             "[tr.cells[2].textContent, tr.cells[1].textContent, tr.cells[3].textContent, tr.className])")


def demo_text(page, sel):
    return page.eval("document.querySelector(%s).textContent" % json.dumps(sel))


@case("demo page: live events, connection state, recovery after a worker restart, gap banner (screenshots)")
def t_demo(env):
    env.init_db()
    w = start_worker(env, retry_ms=300)
    web = start_web(env, w.sock, docroot=DEMO_DIR)
    other = publish_py(env.db, "before the page", channel="demo")
    page = Page(web, "")
    page.wait("document.getElementById('state').className === 'open'", 10,
              "the demo did not show the state 'open'")
    check(demo_text(page, "#state") == "open", "state text %r" % demo_text(page, "#state"))
    check(demo_text(page, "#url") == "events?channel=demo", "stream URL %r" % demo_text(page, "#url"))
    page.eval("window.__states = []; new MutationObserver(() => "
              "__states.push(document.getElementById('state').className))"
              ".observe(document.getElementById('state'), {attributes: true}); true")
    items = [("message", "hello from the browser suite"), ("tick", "tick 1"),
             ("multi-line", "first line\nsecond line\n  indented third"),
             ("message", "\u00fcn\u00ef\u00e7\u00f6d\u00e9 \u03b1\u03b2\u03b3 \U0001f600 \u05e9\u05dc\u05d5\u05dd")]
    ids = [publish_cli(env.db, d, channel="demo", event=ev) for ev, d in items]  # as the page's footer says
    publish_cli(env.db, "not for the demo", channel="elsewhere")
    page.wait("document.getElementById('count').textContent === '4'", 10, "the 4 events did not appear")
    rows = page.eval(DEMO_ROWS)
    want = expected(ids, items)
    check([r[:3] for r in reversed(rows)] == want,
          "rows (newest first) %s, expected %s" % (show(rows, 400), show(want, 400)))
    check(str(other) not in [r[0] for r in rows], "an event from before the page was shown")
    check(demo_text(page, "#last-id") == str(ids[-1]), "last id shown %r" % demo_text(page, "#last-id"))
    check(page.eval("getComputedStyle(document.getElementById('empty')).display") == "none",
          "the 'waiting for events' line is still shown")
    os.makedirs(OUT, exist_ok=True)
    page.shot(os.path.join(OUT, "demo.png"))

    # Worker stopped: the stream ends, the browser's retry gets lighttpd's
    # 503, the EventSource is CLOSED; the page shows it and makes a new one.
    stop_worker(w)
    page.wait("document.getElementById('state').className === 'closed'", 10,
              "the demo did not show 'closed' after the worker stopped")
    states = page.eval("__states")
    check("reconnecting" in states, "the demo never showed 'reconnecting': %s" % states)
    check(demo_text(page, "#state-detail").startswith("new connection in"),
          "detail %r" % demo_text(page, "#state-detail"))
    down = [("message", "published while the worker was down"), ("tick", "tick 2")]
    ids += [publish_py(env.db, d, channel="demo", event=ev) for ev, d in down]
    items += down
    w2 = start_worker(env, retry_ms=300)
    page.wait("document.getElementById('count').textContent === '6'", 20,
              "the demo did not resume after the worker restart")
    page.wait("document.getElementById('state').className === 'open'", 5, "state not 'open' again")
    rows = page.eval(DEMO_ROWS)
    check([r[:3] for r in reversed(rows)] == expected(ids, items),
          "rows after the restart: %s" % show(rows, 600))
    resumed = [r for r in page.net() if "last_event_id=%d" % ids[3] in r["url"]]
    check(resumed and resumed[-1]["status"] == 200,
          "no 200 request resuming with last_event_id=%d: %s" % (ids[3], [(r["url"], r["status"]) for r in page.net()]))

    # Closed by the user, events pruned meanwhile: "New connection" gets
    # sselite-gap and the page shows the banner.
    # (The worker is restarted around the prune: a running worker still
    # serves the pruned rows it holds in memory, and there is no gap.)
    page.click("#btn-close")
    page.wait("document.getElementById('state').className === 'closed'", 5, "Close did not close")
    stop_worker(w2)
    more = [publish_py(env.db, "missed %d" % n, channel="demo", event="tick") for n in range(10)]
    prune_keep(env.db, 3)
    start_worker(env, retry_ms=300)
    page.click("#btn-new")
    page.wait("document.getElementById('gap').className === 'shown'", 10, "no gap banner")
    page.wait("document.getElementById('count').textContent === '10'", 10,
              "gap row plus the 3 kept events did not appear")
    rows = page.eval(DEMO_ROWS)
    check(rows[3][1] == "sselite-gap" and rows[3][3] == "gap", "gap row: %s" % show(rows[3], 300))
    gap = json.loads(rows[3][2])
    check(gap == {"reason": "pruned", "requested": ids[-1], "resumed_after": more[6],
                  "oldest": more[7], "head": more[9]}, "gap data %s" % gap)
    check([r[0] for r in rows[:3]] == [str(x) for x in reversed(more[7:])], "rows after the gap: %s" % show(rows[:4], 300))
    text = demo_text(page, "#gap-text")
    check("pruned" in text and str(ids[-1]) in text, "gap banner text %r" % text)
    page.shot(os.path.join(OUT, "demo-gap.png"))


def cors_site(env):
    env.init_db()
    site = start_web(env)
    return site


def stream_request(page):
    reqs = page.net()
    check(reqs, "the page made no stream request")
    return reqs[-1]


@case("CORS: a page from another origin reads the stream (exact origin allowed)")
def t_cors_allowed(env):
    site = cors_site(env)
    w = start_worker(env, cors_origins=site.origin)
    api = start_web(env, w.sock)
    head = publish_py(env.db, "before", channel="cors")
    page = Page(site, "collect.html")
    url = api.origin + "/events?channel=cors&last_event_id=%d" % head
    i = native(page, url, ["message", "update"])
    page.wait("T.info(%d).opens >= 1" % i, 5, "the cross-origin stream did not open")
    items = [("update", "cross-origin \u00fcn\u00ef\nline 2"), (None, "plain")]
    ids = [publish_py(env.db, d, channel="cors", event=ev) for ev, d in items]
    page.wait("T.lastId(%d) >= %d" % (i, ids[-1]), 5)
    same_events(page.eval("T.events(%d)" % i), expected(ids, items), "cross-origin EventSource")
    r = stream_request(page)
    check(r["headers"].get("origin") == site.origin, "request Origin %r" % r["headers"].get("origin"))
    rh = r["respHeaders"] or {}
    check(rh.get("access-control-allow-origin") == site.origin, "Allow-Origin %r" % rh.get("access-control-allow-origin"))
    check("access-control-allow-credentials" not in rh, "Allow-Credentials sent without --cors-credentials")
    check("origin" in rh.get("vary", "").lower(), "Vary %r" % rh.get("vary"))


@case("CORS: withCredentials with an exact origin and --cors-credentials (cookie sent); refused without the flag")
def t_cors_credentials(env):
    site = cors_site(env)
    w = start_worker(env, flags=["cors-credentials"], cors_origins=site.origin)
    api = start_web(env, w.sock)
    w2 = start_worker(env, sock=env.path("w2.sock"), cors_origins=site.origin)
    api2 = start_web(env, w2.sock)
    head = publish_py(env.db, "before", channel="cred")
    page = Page(site, "collect.html")
    # Cookies are per host, not port: this one goes to the stream origins.
    page.eval("document.cookie = 'sselite_test=c00kie; path=/; SameSite=Lax'; true")
    q = "/events?channel=cred&last_event_id=%d" % head
    i = native(page, api.origin + q, ["message"], {"withCredentials": True})
    page.wait("T.info(%d).opens >= 1" % i, 5, "the credentialed stream did not open")
    ids = [publish_py(env.db, "with credentials %d" % n, channel="cred") for n in range(3)]
    page.wait("T.lastId(%d) >= %d" % (i, ids[-1]), 5)
    same_events(page.eval("T.events(%d)" % i), expected(ids, [(None, "with credentials %d" % n) for n in range(3)]),
                "credentialed EventSource")
    r = page.net()[0]
    check("sselite_test=c00kie" in r["headers"].get("cookie", ""), "no cookie sent: %s" % r["headers"])
    rh = r["respHeaders"] or {}
    check(rh.get("access-control-allow-origin") == site.origin, "Allow-Origin %r" % rh.get("access-control-allow-origin"))
    check(rh.get("access-control-allow-credentials") == "true",
          "Allow-Credentials %r" % rh.get("access-control-allow-credentials"))
    # The same request to a worker without --cors-credentials: the browser
    # must refuse the response (no Allow-Credentials), and the EventSource
    # gets nothing and stays CLOSED.
    j = native(page, api2.origin + q, ["message"], {"withCredentials": True})
    page.wait("T.info(%d).readyState === 2" % j, 5, "the refused credentialed EventSource is not CLOSED")
    late = publish_py(env.db, "after", channel="cred")
    page.wait("T.lastId(%d) >= %d" % (i, late), 5, "the allowed stream stopped")
    info = page.eval("T.info(%d)" % j)
    check(info["n"] == 0 and info["opens"] == 0, "credentialed stream without the flag got %s" % info)


@case("CORS: cors-origins * serves any origin without credentials; a credentialed request is refused")
def t_cors_star(env):
    site = cors_site(env)
    w = start_worker(env, cors_origins="*")
    api = start_web(env, w.sock)
    head = publish_py(env.db, "before", channel="star")
    page = Page(site, "collect.html")
    q = "/events?channel=star&last_event_id=%d" % head
    i = native(page, api.origin + q, ["message"])
    j = native(page, api.origin + q, ["message"], {"withCredentials": True})
    page.wait("T.info(%d).opens >= 1" % i, 5, "the stream did not open")
    page.wait("T.info(%d).readyState === 2" % j, 5, "the credentialed EventSource is not CLOSED")
    x = publish_py(env.db, "star", channel="star")
    page.wait("T.lastId(%d) >= %d" % (i, x), 5, "the event did not arrive")
    same_events(page.eval("T.events(%d)" % i), [[str(x), "message", "star"]], "cors-origins *")
    info = page.eval("T.info(%d)" % j)
    check(info["n"] == 0 and info["opens"] == 0, "credentialed stream with * got %s" % info)
    rh = page.net()[0]["respHeaders"] or {}
    check(rh.get("access-control-allow-origin") in ("*", site.origin), "Allow-Origin %r" % rh)
    check("access-control-allow-credentials" not in rh, "Allow-Credentials with *: %s" % rh)
    # '*' with --cors-credentials would let any site read a user's stream
    # with their cookies: the worker refuses to start with it.
    bad = Proc("sselite-fcgi", [harness.FCGI, "--db", env.db, "--listen", env.path("bad.sock"),
                                "--cors-origins=*", "--cors-credentials"],
               log=env.newlog("worker"), env=harness.clean_env())
    env.procs.append(bad)
    rc = bad.wait(5.0)
    check(rc not in (None, 0), "the worker started with cors-origins * and cors-credentials")
    check("cors" in harness.tail(bad.log), "no message naming the setting: %s" % harness.tail(bad.log))


@case("CORS: an origin not in the list is refused (403; the browser's EventSource errors, gets nothing)")
def t_cors_refused(env):
    site = cors_site(env)
    stranger = start_web(env)
    w = start_worker(env, cors_origins=site.origin)
    api = start_web(env, w.sock)
    head = publish_py(env.db, "before", channel="ref")
    q = "/events?channel=ref&last_event_id=%d" % head
    ok = Page(site, "collect.html")
    bad = Page(stranger, "collect.html")
    i = native(ok, api.origin + q, ["message"])
    j = native(bad, api.origin + q, ["message"])
    ok.wait("T.info(%d).opens >= 1" % i, 5, "the allowed origin's stream did not open")
    bad.wait("T.info(%d).readyState === 2" % j, 5, "the refused EventSource is not CLOSED")
    x = publish_py(env.db, "secret", channel="ref")
    ok.wait("T.lastId(%d) >= %d" % (i, x), 5, "the allowed page did not get the event")
    info = bad.eval("T.info(%d)" % j)
    check(info["n"] == 0 and info["opens"] == 0 and len(info["errors"]) >= 1,
          "refused page: %s" % info)
    r = stream_request(bad)
    # Chromium hides a CORS-refused answer (net::ERR_FAILED, no status); the
    # same request without a browser shows the worker's 403.
    check(r["status"] == 403 or r["failure"], "refused request: status %s failure %s" % (r["status"], r["failure"]))
    raw = harness.request(api.port, q, headers={"Origin": stranger.origin}, timeout=3.0)
    check(raw.status == 403, "GET with Origin %s: status %s" % (stranger.origin, raw.status))
    check(raw.header("access-control-allow-origin") is None, "403 carries Allow-Origin")


@case("long poll: a Node loop (longpoll=1 and X-Requestor: XHR alternately) with a publisher running gets every event once")
def t_longpoll_loop(env):
    w, web = standalone(env, longpoll_timeout=2)
    head = publish_py(env.db, "before", channel="lp")
    lp = clients.AGENT.call("lp_start", base=web.origin + "/events?channel=lp", start=head, mode="alternate")["lp"]
    pub = Publisher(env.db, interval=0.01, channel="lp", max_seconds=10)
    pub.start()
    try:
        wait_until(lambda: len(pub.ids) >= 200, 10, "the publisher to insert 200 rows")
    finally:
        ids = pub.stop()
    extra_items = EDGE[:10] + UNICODE[:3]
    extra = publish_many(env.db, [("lp", ev, d) for ev, d in extra_items])
    res = clients.AGENT.call("lp_finish", timeout=40, lp=lp, until=extra[-1], ms=20000)
    check(not res["error"], "long-poll loop: %s" % res["error"])
    same_events(res["events"], ticks(ids) + expected(extra, extra_items), "long-poll loop")
    polls = res["polls"]
    check(len(polls) >= 5, "only %d polls" % len(polls))
    for p in polls:
        ct = (p["type"] or "").replace(" ", "").lower()
        check(p["status"] == 200 and ct == "text/plain;charset=utf-8", "poll %s" % p)
    check(any(p["header"] and p["n"] for p in polls) and any(not p["header"] and p["n"] for p in polls),
          "both request styles must have delivered events: %s" % polls[:6])
    # A poll with nothing pending ends with the first event to arrive...
    last = extra[-1]
    c = harness.Client(web.port, "/events?channel=lp&longpoll=1&last_event_id=%d" % last,
                       {"Connection": "close"})
    t0 = time.monotonic()
    new = publish_py(env.db, "first to arrive", channel="lp")
    c.wait_end(3.0, "the waiting long poll did not end when an event arrived")
    dt = time.monotonic() - t0
    c.close()
    check([e.id for e in c.events] == [str(new)], "waiting poll got %s" % c.events)
    check(dt < 1.5, "the waiting poll took %.1f s (longpoll-timeout 2)" % dt)
    # ... and one where nothing arrives ends empty after longpoll-timeout.
    t0 = time.monotonic()
    r = http_get(web.origin + "/events?channel=lp&longpoll=1&last_event_id=%d" % new, parse=True, ms=8000)
    dt = time.monotonic() - t0
    check(r["status"] == 200 and r["events"] == [], "empty poll: %s %s" % (r["status"], r["events"]))
    check(1.5 <= dt <= 4.5, "empty poll ended after %.1f s (longpoll-timeout 2)" % dt)


def check_padding(body, who):
    """The body starts with comment lines totalling at least 2 KiB."""
    raw = body.encode("utf-8")
    end = raw.find(b"\n\n")
    check(raw.startswith(b":") and end >= 0, "%s: does not start with a comment: %r" % (who, raw[:80]))
    block = raw[:end + 2]
    check(all(l.startswith(b":") for l in block.split(b"\n")[:-2]),
          "%s: the first block is not all comment: %r" % (who, block[:100]))
    check(len(block) >= 2048, "%s: padding block is %d bytes" % (who, len(block)))


def padding_setup(env):
    w, web = standalone(env, longpoll_timeout=1)
    head = publish_py(env.db, "before", channel="pad")
    items = [(None, "a"), ("t", "b\nc")]
    ids = publish_many(env.db, [("pad", ev, d) for ev, d in items])
    q = "/events?channel=pad&padding=1&last_event_id=%d" % head
    return web, q, expected(ids, items)


@case("padding=1 on a stream: a >= 2 KiB comment first (Node fetch), events intact (eventsource-parser, Chromium)")
def t_padding_stream(env):
    web, q, want = padding_setup(env)
    # The stream does not end: read what comes within 1.5 s.
    s = http_get(web.origin + q, ms=1500, parse=True)
    check(s["status"] == 200 and s["partial"], "stream status %s" % s["status"])
    check_padding(s["body"], "stream")
    same_events(s["events"], want, "stream with padding=1 (eventsource-parser)")
    page = Page(web, "collect.html")
    k = native(page, q, ["message", "t"])
    page.wait("T.lastId(%d) >= %s" % (k, want[-1][0]), 5)
    same_events(page.eval("T.events(%d)" % k), want, "Chromium with padding=1")


@case("padding=1 on a long poll: a >= 2 KiB comment first (Node fetch), events intact")
def t_padding_longpoll(env):
    web, q, want = padding_setup(env)
    for style, url, hdrs in (("longpoll=1", q + "&longpoll=1", {}),
                             ("X-Requestor: XHR", q, {"X-Requestor": "XHR"})):
        r = http_get(web.origin + url, headers=hdrs, parse=True, ms=5000)
        check(r["status"] == 200 and not r["partial"], "%s: status %s" % (style, r["status"]))
        same_events(r["events"], want, "long poll (%s) with padding=1" % style)
        check_padding(r["body"], "long poll (%s) with padding=1" % style)


# ------------------------------------------------------------ sselite.js

def lib_page(web, path="lib.html"):
    page = Page(web, path)
    page.wait("window.sseliteReady === true", 5, "sselite.js did not load")
    return page


@case("sselite.js: after a 503 (worker down) it recreates the EventSource and resumes exactly; a plain EventSource stays CLOSED")
def t_lib_outage(env):
    w, web = standalone(env, retry_ms=300)
    lib = lib_page(web)
    plain = Page(web, "collect.html")
    a = lib.eval('T.lib("events?channel=out", ["message"], {minDelay: 200, maxDelay: 1000})')
    b = native(plain, "events?channel=out", ["message"])
    wait_opened((lib, a, "sselite.js"), (plain, b, "plain EventSource"))
    pub = start_publisher(env, "out")
    try:
        lib.wait("T.info(%d).n >= 10" % a, 5, "sselite.js: no events")
        stop_worker(w)
        plain.wait("T.info(%d).readyState === 2" % b, 10,
                   "the plain EventSource did not end CLOSED after lighttpd's 503")
        lib.wait("T.info(%d).states.some(s => s.startsWith('waiting'))" % a, 10,
                 "sselite.js never went 'waiting'")
        stopped_at = plain.eval("T.info(%d).n" % b)
        start_worker(env, retry_ms=300)
        lib.wait("T.info(%d).opens >= 2" % a, 15, "sselite.js did not reconnect after the restart")
        wait_more(lib, a, 10, "sselite.js: no events after the restart")
    finally:
        ids = pub.stop()
    check_ticks(lib, a, ids, "sselite.js")
    check(lib.eval("T.info(%d).lastEventId" % a) == str(ids[-1]), "lastEventId not the last id")
    reqs = lib.net()
    check(any(r["status"] == 503 for r in reqs), "sselite.js never saw a 503: %s" % [r["status"] for r in reqs])
    resumed = [r for r in reqs if "last_event_id=" in r["url"] and r["status"] == 200]
    check(resumed, "no recreated request with last_event_id: %s" % [(r["url"], r["status"]) for r in reqs])
    info = plain.eval("T.info(%d)" % b)
    check(info["readyState"] == 2 and info["n"] == stopped_at and info["n"] < len(ids),
          "plain EventSource after the restart: %s (of %d)" % (show(info, 200), len(ids)))


@case("sselite.js: a reload resumes from sessionStorage with last_event_id, no gap, no duplicate")
def t_lib_reload(env):
    w, web = standalone(env)
    lib = lib_page(web)
    expr = 'T.lib("events?channel=rl", ["message"], {minDelay: 200, maxDelay: 1000})'
    a = lib.eval(expr)
    wait_opened((lib, a, "sselite.js"))
    pub = start_publisher(env, "rl")
    try:
        lib.wait("T.info(%d).n >= 10" % a, 5, "no events before the reload")
        lib.eval("T.close(%d)" % a)
        before = lib.eval("T.events(%d)" % a)
        key = "sselite:%s/events?channel=rl" % web.origin
        stored = lib.eval("sessionStorage.getItem(%s)" % json.dumps(key))
        check(stored == before[-1][0], "stored id %r, last received %r" % (stored, before[-1][0]))
        lib.reload()
        lib.wait("window.sseliteReady === true", 5, "sselite.js did not load after the reload")
        a = lib.eval(expr)
        lib.wait("T.info(%d).n >= 10" % a, 5, "no events after the reload")
    finally:
        ids = pub.stop()
    lib.wait("T.lastId(%d) >= %d" % (a, ids[-1]), 10)
    after = lib.eval("T.events(%d)" % a)
    same_events(before + after, ticks(ids), "sselite.js across a reload")
    first = [r for r in lib.net() if r["status"] == 200][-1]
    check(first["url"].endswith("/events?channel=rl&last_event_id=%s" % stored),
          "request after the reload: %s" % first["url"])


@case("sselite.js: sselite-gap (pruned, future) calls onGap with the parsed info; the stream goes on")
def t_lib_gap(env):
    env.init_db()
    ids = publish_many(env.db, [("gp", None, "e%d" % n) for n in range(10)])
    prune_keep(env.db, 3)
    # Started after the prune: a running worker would still serve the
    # pruned rows from memory (no gap to report).
    w = start_worker(env)
    web = start_web(env, w.sock)
    lib = lib_page(web)
    a = lib.eval('T.lib("events?channel=gp", ["message"], {startAt: %d, storage: null})' % ids[0])
    lib.wait("T.info(%d).n >= 3 && T.info(%d).gaps.length >= 1" % (a, a), 5, "no gap or events")
    info = lib.eval("T.info(%d)" % a)
    check(info["gaps"] == [{"reason": "pruned", "requested": ids[0], "resumed_after": ids[6],
                            "oldest": ids[7], "head": ids[9]}], "onGap got %s" % info["gaps"])
    same_events(lib.eval("T.events(%d)" % a), expected(ids[7:], [(None, "e%d" % n) for n in range(7, 10)]),
                "after a pruned gap")
    b = lib.eval('T.lib("events?channel=gp", ["message"], {startAt: %d, key: "other"})' % (ids[9] + 1000))
    lib.wait("T.info(%d).gaps.length >= 1 && T.info(%d).opens >= 1" % (b, b), 5, "no future gap")
    g = lib.eval("T.info(%d).gaps" % b)
    check(g == [{"reason": "future", "requested": ids[9] + 1000, "resumed_after": ids[9],
                 "oldest": ids[7], "head": ids[9]}], "future gap %s" % g)
    x = publish_py(env.db, "after the future gap", channel="gp")
    lib.wait("T.lastId(%d) >= %d" % (b, x), 5, "no event after the future gap")
    same_events(lib.eval("T.events(%d)" % b), [[str(x), "message", "after the future gap"]], "after a future gap")
    check(lib.eval("sessionStorage.getItem('other')") == str(x), "custom key not used")


@case("sselite.js: withLastEventId sets only its parameter, keeping the others byte for byte")
def t_lib_url(env):
    env.init_db()
    web = start_web(env)
    lib = lib_page(web)
    cases = [
        (["events?channel=a:b&x=%2F", "42"], "events?channel=a:b&x=%2F&last_event_id=42"),
        (["events?last_event_id=1&channel=a", "42"], "events?channel=a&last_event_id=42"),
        (["events?channel=a#frag", "7"], "events?channel=a&last_event_id=7#frag"),
        (["events?channel=a&last_event_id=5", ""], "events?channel=a"),
        (["events?last_event_id=5", ""], "events"),
        (["/events", "9", "lastEventId"], "/events?lastEventId=9"),
        (["/events?channel=a&channel=b&", "3"], "/events?channel=a&channel=b&last_event_id=3"),
    ]
    for args, want in cases:
        got = lib.eval("SSELITE.withLastEventId(...%s)" % json.dumps(args))
        check(got == want, "withLastEventId%s = %r, expected %r" % (tuple(args), got, want))


@case("sselite.js htmxSource: htmx's sse extension resumes exactly after a 503; without it htmx loses events")
def t_htmx(env):
    w, web = standalone(env, retry_ms=300)
    page = lib_page(web, "htmx.html?resume=1")
    ctl = lib_page(web, "htmx.html")
    # Each "tick N" is swapped in with hx-swap="beforeend"; T.events reads
    # the N back from the text, so a replay or a loss shows.
    a = page.eval('T.htmx("events?channel=hx", ["message"])')
    b = ctl.eval('T.htmx("events?channel=hx", ["message"])')
    wait_opened((page, a, "htmx with htmxSource"), (ctl, b, "htmx (default)"))
    pub = start_publisher(env, "hx")
    try:
        page.wait("T.info(%d).n >= 10" % a, 5, "htmx: no items")
        stop_worker(w)
        for p in (page, ctl):
            wait_until(lambda: any(r["status"] == 503 for r in p.net()), 10, "htmx to get lighttpd's 503")
        start_worker(env, retry_ms=300)
        for p, k in ((page, a), (ctl, b)):
            p.wait("T.info(%d).opens >= 2" % k, 15, "htmx did not reconnect")
        wait_more(page, a, 10, "htmx: no items after the restart")
    finally:
        ids = pub.stop()
    want = [str(n) for n in range(len(ids))]
    page.wait("T.lastId(%d) >= %d" % (a, len(ids) - 1), 10)
    check_exact_ids([e[0] for e in page.eval("T.events(%d)" % a)], want, "htmx with htmxSource")
    resumed = [r for r in page.net() if "last_event_id=" in r["url"] and r["status"] == 200]
    check(resumed, "htmxSource never resumed with last_event_id")
    ctl.wait("T.lastId(%d) >= %d" % (b, len(ids) - 1), 10)
    got = [e[0] for e in ctl.eval("T.events(%d)" % b)]
    check(len(set(got)) == len(got), "htmx default: duplicates %s" % got)
    check(len(got) < len(ids), "htmx without htmxSource lost nothing: the 503 premise did not hold")


# ------------------------------------------------- sselite.js: private channels

def mint_token(channels, ttl):
    """An HS256 JWT for the worker's secret (Python's standard library, not
    sselite's own signer)."""
    import base64
    import hashlib
    import hmac
    b64 = lambda b: base64.urlsafe_b64encode(b).rstrip(b"=").decode()  # noqa: E731
    h = b64(b'{"alg":"HS256","typ":"JWT"}')
    p = b64(json.dumps({"exp": int(time.time()) + ttl, "channels": channels}).encode())
    sig = b64(hmac.new(TOKEN_SECRET.encode(), (h + "." + p).encode(), hashlib.sha256).digest())
    return h + "." + p + "." + sig


TOKEN_SECRET = "browser-suite-secret-0123456789-abcdefghijkl"
# The page's token function: the next token the test queued (it waits for
# one), counting the calls.
TOKEN_FN = ("() => new Promise(res => { window.tokenCalls = (window.tokenCalls || 0) + 1;"
            " const t = setInterval(() => { if ((window.TOKENS || []).length) {"
            " clearInterval(t); res(window.TOKENS.shift()); } }, 20); })")


def token_worker(env, **opts):
    env.init_db()
    path = env.path("secret")
    with open(path, "w") as f:
        f.write(TOKEN_SECRET + "\n")
    os.chmod(path, 0o600)
    w = start_worker(env, auth_secret_file=path, **opts)
    return w, start_web(env, w.sock)


@case("sselite.js token: a token expiring mid-stream is renewed (sselite-auth), nothing lost or repeated")
def t_lib_token_renewal(env):
    w, web = token_worker(env)
    lib = lib_page(web)
    first, second = mint_token(["tk"], 3), mint_token(["tk"], 120)
    lib.eval("window.TOKENS = %s" % json.dumps([first, second]))
    a = lib.eval('T.lib("events?channel=tk", ["message", "sselite-auth"], '
                 '{minDelay: 200, maxDelay: 2000, storage: null, token: %s})' % TOKEN_FN)
    wait_opened((lib, a, "sselite.js with a token"))
    pub = start_publisher(env, "tk", seconds=8)
    try:
        lib.wait("T.info(%d).opens >= 2" % a, 8, "the helper did not reopen after the token expired")
        wait_more(lib, a, 10, "no events after the renewal")
    finally:
        ids = pub.stop()
    lib.wait("T.lastId(%d) >= %d" % (a, ids[-1]), 10)
    events = lib.eval("T.events(%d)" % a)
    auth = [e for e in events if e[1] == "sselite-auth"]
    check(len(auth) == 1 and auth[0][2] == '{"reason":"expired"}', "sselite-auth events: %s" % auth)
    same_events([e for e in events if e[1] == "message"], ticks(ids), "across the renewal")
    check(lib.eval("window.tokenCalls") == 2, "token() called %s times" % lib.eval("window.tokenCalls"))
    reqs = [r for r in lib.net() if "/events" in r["url"]]
    check(len(reqs) == 2 and "token=" + first in reqs[0]["url"] and "token=" + second in reqs[1]["url"]
          and "last_event_id=" in reqs[1]["url"] and all(r["status"] == 200 for r in reqs),
          "requests: %s" % [(r["url"][-60:], r["status"]) for r in reqs])


@case("sselite.js token: a refused token (403) is retried with backoff, not in a loop")
def t_lib_token_refused(env):
    w, web = token_worker(env)
    lib = lib_page(web)
    bad = mint_token(["other"], 120)  # valid, but not for this channel
    lib.eval("window.TOKENS = Array(50).fill(%s)" % json.dumps(bad))
    t0 = time.monotonic()
    a = lib.eval('T.lib("events?channel=tk", ["message"], '
                 '{minDelay: 200, maxDelay: 1600, storage: null, token: %s})' % TOKEN_FN)
    lib.wait("T.info(%d).states.filter(s => s.startsWith('waiting')).length >= 3" % a, 10,
             "the helper did not back off")
    time.sleep(3.0)  # the observation window itself: how often it asks
    reqs = [r for r in lib.net() if "/events" in r["url"]]
    elapsed = time.monotonic() - t0
    check(reqs and all(r["status"] == 403 for r in reqs), "statuses %s" % [r["status"] for r in reqs])
    # 200, 400, 800, 1600, 1600 ms (halved at worst): at most about 10 in 4 s.
    check(len(reqs) <= 12, "%d requests in %.1f s: the helper hammers the server" % (len(reqs), elapsed))
    delays = [int(s.split()[1]) for s in lib.eval("T.info(%d).states" % a) if s.startswith("waiting ")]
    check(len(delays) >= 3 and max(delays[2:]) >= 400, "backoff delays %s" % delays)
    calls = lib.eval("window.tokenCalls")
    check(calls == len(reqs) or calls == len(reqs) + 1, "token() %s times for %d requests" % (calls, len(reqs)))
