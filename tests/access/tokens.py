# tokens.py - what the access cases share: JWTs minted here with Python's
# standard library (independently of sselite's lib/token.c), secret files,
# and a worker behind lighttpd with access control on.
# SPDX-License-Identifier: MIT

import base64
import hashlib
import hmac
import json
import os
import time

from harness import Client, check, request

SECRET = "access-suite-secret-0123456789-abcdefghijklmnop"
OTHER_SECRET = "another-secret-that-the-worker-does-not-know-01"


def b64(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def mint(claims, secret=SECRET, header=None, digest=hashlib.sha256, raw_payload=None):
    """A JWT over header and claims, signed with HMAC(digest) under secret
    (None: no signature, as "alg": "none" tokens come)."""
    h = b64(json.dumps(header or {"alg": "HS256", "typ": "JWT"}, separators=(",", ":")).encode())
    p = b64(raw_payload.encode() if raw_payload is not None
            else json.dumps(claims, separators=(",", ":")).encode())
    signing = (h + "." + p).encode()
    sig = "" if secret is None else b64(hmac.new(secret.encode(), signing, digest).digest())
    return h + "." + p + "." + sig


def token(channels, ttl=300, sub=None, **extra):
    claims = {"exp": int(time.time()) + ttl, "channels": channels}
    if sub is not None:
        claims["sub"] = sub
    claims.update(extra)
    return mint(claims)


def verify_py(tok, secret=SECRET):
    """Checks a token's HS256 signature and returns its claims (the
    independent check of `sselite token`)."""
    h, p, s = tok.split(".")
    mac = hmac.new(secret.encode(), (h + "." + p).encode(), hashlib.sha256).digest()
    pad = lambda x: x + "=" * (-len(x) % 4)  # noqa: E731
    check(hmac.compare_digest(base64.urlsafe_b64decode(pad(s)), mac), "signature does not verify")
    check(json.loads(base64.urlsafe_b64decode(pad(h))).get("alg") == "HS256", "alg is not HS256")
    return json.loads(base64.urlsafe_b64decode(pad(p)))


def secret_file(env, text=SECRET + "\n", mode=0o600, name="secret"):
    path = env.path(name)
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, mode)
    return path


def access_worker(env, **opts):
    """Worker with a secret file (unless auth_secret_file=None is given)
    and lighttpd in front; returns (worker, lighttpd)."""
    env.init_db()
    if "auth_secret_file" not in opts:
        opts["auth_secret_file"] = secret_file(env)
    elif opts["auth_secret_file"] is None:
        del opts["auth_secret_file"]
    w = env.start_worker(**opts)
    return w, env.start_lighttpd(socket_path=w.sock)


def stream(port, path, headers=None, timeout=5.0):
    """Opens a stream that must be served (200, retry and comment)."""
    c = Client(port, path, headers)
    c.wait_headers(timeout)
    check(c.status == 200, "GET %s: status %s, body %r" % (path, c.status, bytes(c.body[:300])))
    c.wait(lambda c: c.retries and c.comments, timeout, "no retry line and opening comment")
    return c


def refused(port, path, headers=None, status=403, words=()):
    """A request that must be refused with status and a one-line body that
    carries every word; returns the body."""
    r = request(port, path, headers=headers)
    body = bytes(r.body).decode("utf-8", "replace")
    check(r.status == status, "GET %s: status %s (want %d), body %r"
          % (path, r.status, status, body[:300]))
    check(body.endswith("\n") and body.count("\n") == 1, "body is not one line: %r" % body)
    check(not r.events, "a refused request carried events: %r" % r.events)
    for w in words:
        check(w in body, "reason %r does not say %r" % (body, w))
    return body


def status_counters(port, path="/events/status"):
    r = request(port, path)
    check(r.status == 200, "status page: %s" % r.status)
    out = {}
    for line in bytes(r.body).decode().splitlines():
        k, _, v = line.partition(": ")
        if v.lstrip("-").isdigit():
            out[k] = int(v)
    return out, bytes(r.body).decode()


USERS = {"alice": "alice-pw", "bob": "bob-pw", "a/b": "slash-pw"}


def basic(user):
    return {"Authorization": "Basic " + base64.b64encode(
        ("%s:%s" % (user, USERS[user])).encode()).decode()}


def lighttpd_auth(env, sock):
    """lighttpd with mod_auth (basic, a plain user file) in front of the
    worker's socket: REMOTE_USER reaches the worker for every user of
    USERS; /events/status stays open. Returns the Proc with .port."""
    from harness import LIGHTTPD, Proc, clean_env, free_port, tcp_listening, wait_until
    users = env.path("lighttpd-users")
    with open(users, "w") as f:
        f.writelines("%s:%s\n" % kv for kv in USERS.items())
    for _ in range(5):
        port = free_port()
        conf = env.path("lighttpd-auth-%d.conf" % port)
        with open(conf, "w") as f:
            f.write("\n".join([
                'server.document-root = "%s"' % env.dir,
                'server.bind = "127.0.0.1"',
                "server.port = %d" % port,
                'server.modules += ( "mod_auth", "mod_authn_file", "mod_fastcgi" )',
                "server.stream-response-body = 2",
                'auth.backend = "plain"',
                'auth.backend.plain.userfile = "%s"' % users,
                '$HTTP["url"] =~ "^/events/private" {',
                '  auth.require = ( "" => ( "method" => "basic", "realm" => "sselite",'
                ' "require" => "valid-user" ) )',
                "}",
                'fastcgi.server = ( "/events" => ( ( "socket" => "%s", '
                '"check-local" => "disable" ) ) )' % sock,
            ]) + "\n")
        p = Proc("lighttpd", [LIGHTTPD, "-D", "-f", conf], log=env.newlog("lighttpd"),
                 env=clean_env())
        env.procs.append(p)
        wait_until(lambda: tcp_listening(port) or not p.alive(), 10, "lighttpd to listen")
        if p.alive():
            p.port = port
            return p
        p.stop()
    raise AssertionError("lighttpd with mod_auth did not start")
