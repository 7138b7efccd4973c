# case_servers.py - REMOTE_USER from each web server, through the shipped
# configurations (issue 8, part 4): Apache mod_auth_basic under mod_fcgid
# and under mod_proxy_fcgi (deploy/apache2/sselite-auth.conf), nginx
# auth_request to an application URL (deploy/nginx/auth-site.conf) and
# lighttpd mod_auth (deploy/lighttpd/sselite-auth.conf), each started by
# the server suite's deployments (tests/servers/deployments.py) with the
# auth file added. For each: a user reads its own channels, not another
# user's (403 from the worker), and no user gets the server's 401.
# SPDX-License-Identifier: MIT

import base64
import hashlib
import http.server
import os
import sys
import threading

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "servers"))

import deployments as D  # noqa: E402
from harness import check, free_port, publish_many  # noqa: E402
from registry import case  # noqa: E402
from tokens import USERS, basic, refused, stream  # noqa: E402

USER_CHANNELS = "user/{user}/*"


def htpasswd(env):
    """An htpasswd file ({SHA} entries, which Apache and lighttpd read)
    readable by the servers' children."""
    path = env.path("htpasswd")
    with open(path, "w") as f:
        for user, pw in USERS.items():
            if "/" not in user:
                f.write("%s:{SHA}%s\n" % (user, base64.b64encode(
                    hashlib.sha1(pw.encode()).digest()).decode()))
    os.chmod(path, 0o644)
    return path


def auth_snippet(env, rel):
    """The shipped auth file rel with the user file's path replaced."""
    text = D.shipped(rel)
    text = D.substitute(text, rel, [(r"/etc/sselite/htpasswd(\"?)$", htpasswd(env) + r"\g<1>")])
    return D.write(env.path(os.path.basename(rel)), text)


class WithUsers:
    """Mixin: the worker gets user-channels."""

    def worker_settings(self):
        s = super().worker_settings()
        s["SSELITE_USER_CHANNELS"] = USER_CHANNELS
        return s


class ApacheFcgidAuth(WithUsers, D.ApacheFcgid):
    modules = D.ApacheFcgid.modules + ("auth_basic", "authn_file", "authn_core", "authz_user")

    def main_extra(self):
        return super().main_extra() + 'Include "%s"\n' % auth_snippet(
            self.env, "apache2/sselite-auth.conf")


class ApacheProxyAuth(WithUsers, D.ApacheProxy):
    modules = D.ApacheProxy.modules + ("auth_basic", "authn_file", "authn_core", "authz_user")

    def main_extra(self):
        return super().main_extra() + 'Include "%s"\n' % auth_snippet(
            self.env, "apache2/sselite-auth.conf")


class LighttpdAuth(WithUsers, D.LighttpdStandalone):
    def write_config(self, port):
        conf = super().write_config(port)
        with open(conf, "a") as f:
            f.write('include "%s"\n' % auth_snippet(self.env, "lighttpd/sselite-auth.conf"))
        return conf


class AuthApp(http.server.BaseHTTPRequestHandler):
    """The application's auth endpoint for nginx: a session cookie
    "session=<user>-session" is that user."""

    def do_GET(self):
        cookie = self.headers.get("Cookie") or ""
        user = None
        for part in cookie.split(";"):
            k, _, v = part.strip().partition("=")
            if k == "session" and v.endswith("-session") and v[:-8] in USERS:
                user = v[:-8]
        self.send_response(200 if user and self.path == "/auth/sselite" else 401)
        if user:
            self.send_header("X-Remote-User", user)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


class NginxAuth(WithUsers, D.Nginx):
    app_port = None

    def write_config(self, port):
        conf = super().write_config(port)
        nd = os.path.join(self.env.dir, "nginx")
        rel = "nginx/auth-site.conf"
        site = D.substitute(D.shipped(rel), rel, [
            (r"^(\s*)listen 80;\s*$", r"\g<1>listen 127.0.0.1:%d;" % port),
            (r"^\s*listen \[::\]:80;\s*\n", ""),
            (r"^(\s*root )/var/www/example;", r"\g<1>%s/htdocs;" % self.env.dir),
            (r"^(\s*proxy_pass )http://127\.0\.0\.1:8000/", r"\g<1>http://127.0.0.1:%d/" % self.app_port),
            (r"^(\s*include )snippets/sselite\.conf;", r"\g<1>%s/sselite.conf;" % nd)])
        D.write(os.path.join(nd, "example-site.conf"), site)
        return conf


def start_app(env):
    port = free_port()
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", port), AuthApp)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    env.__dict__.setdefault("apps", []).append(srv)
    return srv, port


def check_users(env, dep, creds):
    """alice reads user/alice/*; user/bob/* is refused by the worker; no
    credential gets the server's own 401."""
    ids = publish_many(env.db, [("user/alice/inbox", None, "for alice"),
                                ("user/bob/inbox", None, "for bob")])
    h = dict(creds("alice"), **{"Last-Event-ID": "0"})
    c = stream(dep.port, dep.url("channel=user/alice/*"), h, timeout=10)
    try:
        c.wait_events(1, 10)
        check([(int(e.id), e.data) for e in c.events] == [(ids[0], "for alice")],
              "%s: alice's stream %r" % (dep.name, c.events))
    finally:
        c.close()
    refused(dep.port, dep.url("channel=user/bob/*"), creds("alice"), words=("not granted",))
    from harness import request
    r = request(dep.port, dep.url("channel=user/alice/*"))
    check(r.status == 401, "%s without a user: status %s" % (dep.name, r.status))


def run_dep(env, cls, creds=basic):
    dep = cls(env)
    try:
        dep.start()
        check_users(env, dep, creds)
    finally:
        dep.stop()
        for srv in env.__dict__.get("apps", []):
            srv.shutdown()
            srv.server_close()


@case("s1: Apache mod_auth_basic under mod_fcgid: REMOTE_USER reads user/{user}/* only")
def apache_fcgid(env):
    run_dep(env, ApacheFcgidAuth)


@case("s2: Apache mod_auth_basic under mod_proxy_fcgi: REMOTE_USER reads user/{user}/* only")
def apache_proxy(env):
    run_dep(env, ApacheProxyAuth)


@case("s3: nginx auth_request to an application URL, the user copied into REMOTE_USER")
def nginx(env):
    _, port = start_app(env)
    cls = type("NginxAuthApp", (NginxAuth,), {"app_port": port})
    run_dep(env, cls, creds=lambda user: {"Cookie": "session=%s-session" % user})


@case("s4: lighttpd mod_auth (htpasswd): REMOTE_USER reads user/{user}/* only")
def lighttpd(env):
    run_dep(env, LighttpdAuth)
