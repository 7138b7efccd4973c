# case_tokens.py - signed tokens and the access decision (issue 8, parts 3
# to 5): 401 without a credential, 403 for every bad token and for every
# channel not granted, on every path (live, backlog, replay, long poll); the
# three credential sources; CSRF; the secret file rules; the status page;
# `sselite token`. A worker behind lighttpd on a real SQLite file each.
# SPDX-License-Identifier: MIT

import hashlib
import time

from harness import CLI, check, publish_many, request, run, tail, wait_until
from registry import case
from tokens import (OTHER_SECRET, SECRET, access_worker, mint, refused, secret_file,
                    status_counters, stream, token, verify_py)


@case("a1: access on: no credential gets 401 (WWW-Authenticate), public channels stay open")
def no_credential(env):
    _, lt = access_worker(env, public_channels="news,pub:*")
    body = refused(lt.port, "/events?channel=private", status=401,
                   words=("credential required", "private"))
    r = request(lt.port, "/events?channel=private")
    check(r.header("WWW-Authenticate") == 'Bearer realm="sselite"',
          "401 without WWW-Authenticate: %r" % r.headers)
    # Mixed: one private channel among public ones is refused whole.
    refused(lt.port, "/events?channel=news&channel=private", status=401)
    refused(lt.port, "/events?channel=pub:*&channel=*", status=401)
    ids = publish_many(env.db, [("news", None, "n1"), ("pub:a", None, "p1"),
                                ("private", None, "secret")])
    c = stream(lt.port, "/events?channel=news&channel=pub:*", {"Last-Event-ID": "0"})
    try:
        c.wait_events(2)
        check([int(e.id) for e in c.events] == ids[:2], "public stream: %r" % c.events)
    finally:
        c.close()
    check("credential" in body, body)


@case("a2: a token from the cookie, the query or Authorization: Bearer reads its channels")
def token_sources(env):
    _, lt = access_worker(env)
    ids = publish_many(env.db, [("orders/1", None, "o1"), ("news", None, "n"),
                                ("orders/2", None, "o2")])
    tok = token(["orders/*"])
    for how, path, headers in (
            ("cookie", "/events?channel=orders/*", {"Cookie": "a=b; sselite_token=%s; c=d" % tok}),
            ("query", "/events?channel=orders/*&token=" + tok, None),
            ("bearer", "/events?channel=orders/*", {"Authorization": "Bearer " + tok})):
        h = dict(headers or {})
        h["Last-Event-ID"] = "0"
        c = stream(lt.port, path, h)
        try:
            c.wait_events(2)
            check([(int(e.id), e.data) for e in c.events] == [(ids[0], "o1"), (ids[2], "o2")],
                  "%s: %r" % (how, c.events))
        finally:
            c.close()
    # The cookie comes first: a bad cookie is not rescued by a good query.
    refused(lt.port, "/events?channel=orders/*&token=" + tok,
            {"Cookie": "sselite_token=" + token(["orders/*"])[:-3]}, words=("bad token",))


@case("a3: forged, foreign, expired, early, alg none/HS512/RS256, truncated, huge and "
      "ill-claimed tokens all get 403")
def bad_tokens(env):
    _, lt = access_worker(env, status_path="/events/status")
    now = int(time.time())
    good = {"exp": now + 300, "channels": ["news"]}
    cases = [
        ("another secret", mint(good, secret=OTHER_SECRET), "signature"),
        ("expired", mint({"exp": now - 1, "channels": ["news"]}), "expired"),
        ("not yet valid", mint({"exp": now + 300, "nbf": now + 200, "channels": ["news"]}), "nbf"),
        ("alg none", mint(good, secret=None, header={"alg": "none", "typ": "JWT"}), "HS256"),
        ("alg HS512", mint(good, header={"alg": "HS512", "typ": "JWT"}, digest=hashlib.sha512), "HS256"),
        ("alg RS256", mint(good, header={"alg": "RS256", "typ": "JWT"}), "HS256"),
        ("truncated", mint(good)[:-5], "bad token"),
        ("two parts", ".".join(mint(good).split(".")[:2]), "bad token"),
        ("channels not an array", mint({"exp": now + 300, "channels": "news"}), "channels"),
        ("no exp", mint({"channels": ["news"]}), "exp"),
        ("tampered", mint(good).split(".")[0] + "." +
         mint({"exp": now + 300, "channels": ["*"]}).split(".")[1] + "." +
         mint(good).split(".")[2], "signature"),
        ("garbage", "not-a-token", "bad token"),
    ]
    for what, tok, word in cases:
        refused(lt.port, "/events?channel=news&token=" + tok, words=(word,))
        refused(lt.port, "/events?channel=news", {"Authorization": "Bearer " + tok}, words=(word,))
    huge = mint({"exp": now + 300, "channels": ["news"], "pad": "x" * 9000})
    refused(lt.port, "/events?channel=news", {"Cookie": "sselite_token=" + huge},
            words=("8192",))
    refused(lt.port, "/events?channel=news", {"Authorization": "Bearer " + huge})
    counters, page = status_counters(lt.port)
    check(counters.get("access_refused_expired_total") == 2, "expired count: %r" % counters)
    check(counters.get("access_refused_bad_token_total") == 2 * (len(cases) - 1) + 2,
          "bad token count: %r" % counters)
    check(SECRET not in page, "the status page shows the secret")


@case("a4: never anonymous: a bad or expired token is refused even for a public channel")
def no_fallback(env):
    _, lt = access_worker(env, public_channels="news")
    stream(lt.port, "/events?channel=news").close()  # public without a token
    expired = mint({"exp": int(time.time()) - 5, "channels": ["news"]})
    refused(lt.port, "/events?channel=news&token=" + expired, words=("expired",))
    refused(lt.port, "/events?channel=news", {"Cookie": "sselite_token=" + expired})
    refused(lt.port, "/events?channel=news&token=" + mint(
        {"exp": int(time.time()) + 60, "channels": ["news"]}, secret=OTHER_SECRET))


PRIVATE = [("user/42/inbox", None, "mail for 42"), ("user/4/inbox", None, "mail for 4"),
           ("user/42", None, "42 itself"), ("news", None, "public")]


@case("a5: not granted is refused on every path: live, backlog, replay, long poll; "
      "user/4/* does not cover user/42/x")
def every_path(env):
    _, lt = access_worker(env, public_channels="news")
    ids = publish_many(env.db, PRIVATE)
    t4 = token(["user/4/*"])
    paths = [("live", "/events?channel=user/42/inbox&token=%s", {}),
             ("backlog", "/events?channel=user/42/inbox&token=%s", {"Last-Event-ID": "0"}),
             ("replay", "/events?channel=user/42/inbox&replay=10&token=%s", {}),
             ("long poll", "/events?channel=user/42/inbox&longpoll=1&last_event_id=0&token=%s", {}),
             ("pattern", "/events?channel=user/42/*&token=%s", {"Last-Event-ID": "0"}),
             ("wider pattern", "/events?channel=user/*&token=%s", {"Last-Event-ID": "0"}),
             ("star", "/events?channel=*&token=%s", {"Last-Event-ID": "0"}),
             ("prefix without separator", "/events?channel=user/42&token=%s", {"Last-Event-ID": "0"}),
             ("one of two", "/events?channel=user/4/inbox&channel=user/42/inbox&token=%s", {})]
    for what, path, headers in paths:
        refused(lt.port, path % t4, headers, words=("not granted",))
    # The grant itself works on each path, and delivers only its channels.
    c = stream(lt.port, "/events?channel=user/4/*&channel=news&token=" + t4, {"Last-Event-ID": "0"})
    try:
        c.wait_events(2)
        check([int(e.id) for e in c.events] == [ids[1], ids[3]], "granted stream: %r" % c.events)
        more = publish_many(env.db, PRIVATE)
        c.wait_events(4)
        check([int(e.id) for e in c.events[2:]] == [more[1], more[3]], "live: %r" % c.events)
    finally:
        c.close()
    r = request(lt.port, "/events?channel=user/4/*&longpoll=1&last_event_id=0&token=" + t4)
    check(r.status == 200 and [int(e.id) for e in r.events] == [ids[1], more[1]],
          "long poll: %s %r" % (r.status, r.events))


@case("a6: CSRF: a cookie token from a foreign Origin is refused unless cors-origins "
      "lists that Origin by name")
def csrf(env):
    tok = token(["news"])
    cookie = {"Cookie": "sselite_token=" + tok}
    evil = dict(cookie, Origin="https://evil.example")
    # Without cors-origins (no CORS at all) and with "*" (any site, never
    # with credentials), a foreign page cannot use the cookie.
    for opts in ({}, {"cors_origins": "*"}):
        _, lt = access_worker(env, longpoll_timeout=1, **opts)
        host = "127.0.0.1:%d" % lt.port
        refused(lt.port, "/events?channel=news", evil, words=("send credentials",))
        stream(lt.port, "/events?channel=news", dict(cookie, Origin="http://" + host)).close()
        stream(lt.port, "/events?channel=news", cookie).close()  # no Origin: same-origin
        # A token in the URL is not ambient: the page that wrote it chose it.
        r = request(lt.port, "/events?channel=news&longpoll=1&token=" + tok,
                    headers={"Origin": "https://evil.example"})
        check(r.status == 200, "query token from another origin: %s" % r.status)
        for p in reversed(env.procs):
            p.stop()
        env.procs.clear()
    _, lt = access_worker(env, cors_origins="https://app.example", cors_credentials=True)
    c = stream(lt.port, "/events?channel=news", dict(cookie, Origin="https://app.example"))
    check(c.header("Access-Control-Allow-Credentials") == "true", "no credentials header")
    c.close()


@case("a7: auth-secret-file missing, empty, readable by others: the worker stops at start, "
      "naming the file; the secret is never logged")
def secret_file_rules(env):
    env.init_db()
    bad = [("missing", env.path("nope")),
           ("empty", secret_file(env, "", name="empty")),
           ("world-readable", secret_file(env, mode=0o644, name="open")),
           ("too short", secret_file(env, "short\n", name="short"))]
    for what, path in bad:
        w = env.start_worker(ready=False, auth_secret_file=path)
        rc = w.wait(10)
        check(rc is not None and rc != 0, "%s: the worker did not stop (rc %r)" % (what, rc))
        log = open(w.log, encoding="utf-8", errors="replace").read()
        check(path in log and "auth-secret-file" in log, "%s: log does not name it: %r" % (what, log))
        check(SECRET not in log, "%s: the secret is in the log" % what)
    # A good file: the worker runs, logs no secret, and its status page neither.
    w = env.start_worker(auth_secret_file=secret_file(env, name="good"),
                         status_path="/events/status", log_level="debug")
    lt = env.start_lighttpd(socket_path=w.sock)
    refused(lt.port, "/events?channel=x&token=" + mint({"exp": 1, "channels": []}))
    stream(lt.port, "/events?channel=x&token=" + token(["x"])).close()
    _, page = status_counters(lt.port)
    log = open(w.log, encoding="utf-8", errors="replace").read()
    check(SECRET not in log and SECRET not in page, "the secret leaked: %s" % tail(w.log))
    check(token(["x"]).split(".")[2] not in log, "a token signature is in the log")


@case("a8: sselite token mints what the worker (and an independent HS256 check) accepts")
def cli_token(env):
    _, lt = access_worker(env)
    path = env.path("secret")
    r = run([CLI, "token", "--secret-file", path, "--sub", "alice",
             "--channel", "user/{user}/*", "--channel", "news", "--ttl", "10m"])
    check(r.returncode == 0, "sselite token: %s" % r.stderr)
    tok = r.stdout.strip()
    claims = verify_py(tok)
    now = time.time()
    check(claims["channels"] == ["user/{user}/*", "news"] and claims["sub"] == "alice"
          and 590 <= claims["exp"] - now <= 610, "claims %r" % claims)
    ids = publish_many(env.db, [("user/alice/x", None, "a"), ("user/bob/x", None, "b")])
    c = stream(lt.port, "/events?channel=user/alice/*&token=" + tok, {"Last-Event-ID": "0"})
    try:
        c.wait_events(1)
        check(int(c.events[0].id) == ids[0], "alice's stream: %r" % c.events)
    finally:
        c.close()
    refused(lt.port, "/events?channel=user/bob/*&token=" + tok, words=("not granted",))
    r = run([CLI, "token", "--secret-file", secret_file(env, mode=0o604, name="open"),
             "--channel", "x"])
    check(r.returncode == 1 and "open" in r.stderr and SECRET not in r.stderr,
          "token with a world-readable file: %d %r" % (r.returncode, r.stderr))


@case("a9: a token expiring mid-stream ends it at 80-100% of its lifetime with "
      "event sselite-auth, after whole events")
def expiry(env):
    _, lt = access_worker(env)
    exp = int(time.time()) + 4
    tok = mint({"exp": exp, "channels": ["news"]})
    t_open = time.time()
    c = stream(lt.port, "/events?channel=news&token=" + tok)
    try:
        ids = publish_many(env.db, [("news", None, "before")])
        c.wait_events(1)
        c.wait_end(exp - t_open + 2, "the stream outlived its token")
        t_end = time.time()
        earliest = t_open + 0.8 * (exp - t_open) - 0.3
        check(earliest <= t_end <= exp + 0.5,
              "ended %.2f s after opening, %.2f s before exp (earliest allowed: "
              "%.2f s after opening)" % (t_end - t_open, exp - t_end, earliest - t_open))
        last = c.events[-1]
        check(last.type == "sselite-auth" and last.data == '{"reason":"expired"}',
              "last event %r" % last)
        check(int(c.events[0].id) == ids[0] and last.id in (None, str(ids[0])),
              "the auth event changed the last event id: %r" % c.events)
        check(c.clean_end and not c.pending(), "not ended on a whole event")
    finally:
        c.close()
    wait_until(lambda: time.time() >= exp, 3, "the token to expire")
    refused(lt.port, "/events?channel=news&token=" + tok, words=("expired",))
