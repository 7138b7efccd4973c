# case_users.py - users the web server authenticated (issue 8, part 4):
# REMOTE_USER from lighttpd's mod_auth, user-channels with {user}, the
# grants table managed with `sselite grant/revoke/grants`, grants that
# expire (and end the stream they granted). A worker behind lighttpd.
# SPDX-License-Identifier: MIT

import time

from harness import CLI, check, publish_many, run, wait_until
from registry import case
from tokens import basic, lighttpd_auth, refused, stream, token


def user_worker(env, **opts):
    env.init_db()
    opts.setdefault("user_channels", "user/{user}/*")
    w = env.start_worker(**opts)
    return w, lighttpd_auth(env, w.sock)


def grant(env, *args):
    r = run([CLI, "grant", env.db] + list(args))
    check(r.returncode == 0, "sselite grant %r: %s" % (args, r.stderr))
    return r.stdout


@case("u1: lighttpd mod_auth: REMOTE_USER reads user/{user}/*, not another user's; "
      "no user gets 401")
def remote_user_channels(env):
    _, lt = user_worker(env)
    ids = publish_many(env.db, [("user/alice/inbox", None, "for alice"),
                                ("user/bob/inbox", None, "for bob"),
                                ("user/a/b/inbox", None, "for a/b?")])
    c = stream(lt.port, "/events/private?channel=user/alice/*", dict(basic("alice"), **{"Last-Event-ID": "0"}))
    try:
        c.wait_events(1)
        check([(int(e.id), e.data) for e in c.events] == [(ids[0], "for alice")],
              "alice: %r" % c.events)
    finally:
        c.close()
    refused(lt.port, "/events/private?channel=user/bob/*", basic("alice"), words=("not granted",))
    refused(lt.port, "/events/private?channel=user/alice/inbox&channel=user/bob/inbox",
            basic("alice"), words=("user/bob/inbox",))
    # A name with a separator gets nothing from {user}: "a/b" would
    # otherwise reach into user/a/'s prefix.
    refused(lt.port, "/events/private?channel=user/a/b/*", basic("a/b"), words=("not granted",))
    # No authentication where the server does not ask for it: 401.
    refused(lt.port, "/events/open?channel=user/alice/*", status=401)


@case("u2: sselite grant/revoke/grants: a grant takes effect at the next connect, "
      "a revoke too; token and user grants add up")
def grants_table(env):
    w, lt = user_worker(env, public_channels="news")
    ids = publish_many(env.db, [("team:red:1", None, "r1"), ("team:blue:1", None, "b1")])
    path = "/events/private?channel=team:red:*"
    refused(lt.port, path, basic("bob"), words=("not granted",))
    out = grant(env, "bob", "team:red:*")
    check("granted team:red:* to bob" in out, out)
    c = stream(lt.port, path, dict(basic("bob"), **{"Last-Event-ID": "0"}))
    try:
        c.wait_events(1)
        check(int(c.events[0].id) == ids[0], "granted stream: %r" % c.events)
    finally:
        c.close()
    r = run([CLI, "grants", env.db, "bob"])
    check(r.returncode == 0 and r.stdout == "bob\tteam:red:*\tnever\n", "grants: %r" % r.stdout)
    r = run([CLI, "revoke", env.db, "bob", "team:red:*"])
    check(r.returncode == 0 and "revoked" in r.stdout, "revoke: %r %r" % (r.stdout, r.stderr))
    refused(lt.port, path, basic("bob"), words=("not granted",))
    # {user} in a grant row is the principal; an invalid row grants nothing.
    grant(env, "alice", "shared:{user}")
    stream(lt.port, "/events/private?channel=shared:alice", basic("alice")).close()
    refused(lt.port, "/events/private?channel=shared:bob", basic("alice"))
    r = run([CLI, "grant", env.db, "alice", "team:*x"])
    check(r.returncode == 2, "an invalid pattern was granted: %r" % r.stderr)


@case("u3: an expiring grant: refused once expired, and a stream it granted ends by then "
      "with sselite-auth")
def expiring_grant(env):
    _, lt = user_worker(env)
    grant(env, "bob", "tick", "--ttl", "3s")
    t0 = time.time()
    c = stream(lt.port, "/events/private?channel=tick", basic("bob"))
    try:
        ids = publish_many(env.db, [("tick", None, "t")])
        c.wait_events(1)
        c.wait_end(5.0, "the stream outlived its grant")
        dt = time.time() - t0
        check(0.8 * 3 - 0.5 <= dt <= 3.5, "ended after %.2f s of a 3 s grant" % dt)
        check(c.events[-1].type == "sselite-auth" and int(c.events[0].id) == ids[0],
              "events %r" % c.events)
    finally:
        c.close()
    wait_until(lambda: time.time() > t0 + 3.1, 2, "the grant to expire")
    refused(lt.port, "/events/private?channel=tick", basic("bob"), words=("not granted",))
    r = run([CLI, "grants", env.db])
    check("(expired)" in r.stdout, "grants does not mark the expired grant: %r" % r.stdout)


@case("u4: CSRF: REMOTE_USER from a foreign Origin is refused; a token and the user "
      "add up")
def user_csrf_and_union(env):
    secret_opts = {}
    from tokens import secret_file
    env.init_db()
    secret_opts["auth_secret_file"] = secret_file(env)
    _, lt = user_worker(env, **secret_opts)
    refused(lt.port, "/events/private?channel=user/alice/*",
            dict(basic("alice"), Origin="https://evil.example"), words=("send credentials",))
    tok = token(["orders:*"])
    stream(lt.port, "/events/private?channel=user/alice/x&channel=orders:1&token=" + tok,
           basic("alice")).close()
    refused(lt.port, "/events/private?channel=user/bob/x&channel=orders:1&token=" + tok,
            basic("alice"), words=("user/bob/x",))
