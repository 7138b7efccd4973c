# pgcluster.py - throw-away PostgreSQL 15 clusters for the sselite tests.
# SPDX-License-Identifier: MIT
#
# A Cluster is initdb + pg_ctl in a temporary directory, owned by an
# unprivileged user (the current one, or "nobody" when the tests run as
# root, which PostgreSQL refuses to run as), listening on a free loopback
# port and on a unix socket in its own directory; nothing outside that
# directory is touched. Host connections need a password (scram-sha-256),
# so the tests can check that the password never leaks; the unix socket
# trusts the cluster's superuser. standby() makes a streaming hot standby
# of a running primary with pg_basebackup -R.

import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time

PGBIN = os.environ.get("PGBIN", "/usr/lib/postgresql/15/bin")
SUPERUSER = "postgres"
USER, PASSWORD = "sse", "s3cret-Pa55"  # the role the worker and CLI use
DBNAME = "app"


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _owner():
    """(uid, gid, name) the servers run as."""
    if os.getuid() != 0:
        pw = pwd.getpwuid(os.getuid())
    else:
        pw = pwd.getpwnam("nobody")
    return pw.pw_uid, pw.pw_gid, pw.pw_name


def _as_owner():
    uid, gid, _ = _owner()
    if os.getuid() != 0:
        return None

    def demote():
        os.setgroups([])
        os.setgid(gid)
        os.setuid(uid)
    return demote


def run_pg(argv, timeout=60, check=True, env=None):
    """Runs a PostgreSQL program as the cluster owner."""
    e = dict(os.environ, LC_ALL="C", **(env or {}))
    r = subprocess.run(argv, capture_output=True, text=True, timeout=timeout,
                       preexec_fn=_as_owner(), env=e, stdin=subprocess.DEVNULL)
    if check and r.returncode != 0:
        raise RuntimeError("%s failed (%d): %s %s" % (argv[0], r.returncode,
                                                      r.stdout[-800:], r.stderr[-800:]))
    return r


class Cluster:
    def __init__(self, base=None, name="primary"):
        self.owned_base = base is None
        self.base = base or tempfile.mkdtemp(prefix="sspg-")
        os.chmod(self.base, 0o755)
        uid, gid, _ = _owner()
        os.chown(self.base, uid, gid)
        self.name = name
        self.data = os.path.join(self.base, name)
        self.sockdir = os.path.join(self.base, name + "-sock")
        self.log = os.path.join(self.base, name + ".log")
        self.port = None
        os.makedirs(self.sockdir, exist_ok=True)
        os.chown(self.sockdir, uid, gid)

    # -- set-up

    def init(self):
        uid, gid, _ = _owner()
        pwfile = os.path.join(self.base, "pw-" + self.name)
        with open(pwfile, "w") as f:
            f.write("unused-superuser-password\n")
        os.chown(pwfile, uid, gid)
        run_pg([PGBIN + "/initdb", "-D", self.data, "-U", SUPERUSER, "-E", "UTF8",
                "--locale=C", "--auth-local=trust", "--auth-host=scram-sha-256",
                "--pwfile=" + pwfile, "-N"])
        with open(os.path.join(self.data, "pg_hba.conf"), "a") as f:
            f.write("host replication all 127.0.0.1/32 scram-sha-256\n")
        self.port = free_port()
        self._conf({
            "listen_addresses": "'127.0.0.1'",
            "port": str(self.port),
            "unix_socket_directories": "'%s'" % self.sockdir,
            "wal_level": "replica", "max_wal_senders": "5", "hot_standby": "on",
            "fsync": "off", "synchronous_commit": "on", "full_page_writes": "off",
            "max_connections": "200", "shared_buffers": "32MB",
            "logging_collector": "off", "log_min_messages": "warning",
        })
        return self

    def _conf(self, kv):
        with open(os.path.join(self.data, "postgresql.conf"), "a") as f:
            for k, v in kv.items():
                f.write("%s = %s\n" % (k, v))

    def start(self):
        uid, gid, _ = _owner()
        if not os.path.exists(self.log):
            open(self.log, "a").close()
            os.chown(self.log, uid, gid)
        run_pg([PGBIN + "/pg_ctl", "-D", self.data, "-l", self.log, "-w", "-t", "60",
                "-o", "-p %d" % self.port, "start"])
        return self

    def stop(self, mode="fast"):
        run_pg([PGBIN + "/pg_ctl", "-D", self.data, "-m", mode, "-w", "-t", "60", "stop"],
               check=False)

    def restart(self, mode="fast"):
        # -l: the new postmaster must not inherit our capture pipe.
        run_pg([PGBIN + "/pg_ctl", "-D", self.data, "-l", self.log, "-m", mode, "-w",
                "-t", "60", "-o", "-p %d" % self.port, "restart"])

    def kill9(self):
        """SIGKILL to the postmaster (a crash; its children die with it)."""
        with open(os.path.join(self.data, "postmaster.pid")) as f:
            pid = int(f.readline())
        os.kill(pid, signal.SIGKILL)

    def setup_app(self):
        """The application's database and the sselite role (a password,
        CREATE on the database; replication for base backups)."""
        self.psql("CREATE ROLE %s LOGIN REPLICATION PASSWORD '%s'" % (USER, PASSWORD))
        self.psql("CREATE DATABASE %s OWNER %s" % (DBNAME, USER))
        return self

    def standby(self, name="standby"):
        """A hot standby of this (running) primary, started."""
        sb = Cluster(self.base, name)
        env = {"PGPASSWORD": PASSWORD}
        run_pg([PGBIN + "/pg_basebackup", "-D", sb.data, "-R", "-X", "stream",
                "-c", "fast", "-h", "127.0.0.1", "-p", str(self.port), "-U", USER],
               env=env, timeout=120)
        sb.port = free_port()
        sb._conf({"port": str(sb.port), "unix_socket_directories": "'%s'" % sb.sockdir,
                  "hot_standby_feedback": "on"})
        # pg_basebackup -R wrote primary_conninfo with the password given
        # through PGPASSWORD into postgresql.auto.conf: fine for a test.
        return sb.start()

    def destroy(self):
        if self.port is not None:
            self.stop("immediate")
        if self.owned_base and not os.environ.get("SSELITE_IT_KEEP"):
            shutil.rmtree(self.base, ignore_errors=True)

    # -- use

    def uri(self, password=True, db=DBNAME, user=USER, extra=""):
        auth = "%s:%s" % (user, PASSWORD) if password else user
        return "postgresql://%s@127.0.0.1:%d/%s%s" % (auth, self.port, db, extra)

    def psql(self, sql, db="postgres", user=SUPERUSER):
        r = run_pg([PGBIN + "/psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1",
                    "-h", self.sockdir, "-p", str(self.port), "-U", user, "-d", db,
                    "-c", sql])
        return r.stdout.strip()

    def connect(self, db=DBNAME, autocommit=True):
        import psycopg2  # Debian: python3-psycopg2
        con = psycopg2.connect(host="127.0.0.1", port=self.port, dbname=db, user=USER,
                               password=PASSWORD, connect_timeout=10)
        con.autocommit = autocommit
        return con

    def wait_replayed(self, standby, timeout=30):
        """Waits until standby has replayed everything this primary wrote."""
        lsn = self.psql("SELECT pg_current_wal_lsn()")
        deadline = time.monotonic() + timeout
        while True:
            done = standby.psql("SELECT pg_last_wal_replay_lsn() >= '%s'::pg_lsn" % lsn)
            if done == "t":
                return
            if time.monotonic() > deadline:
                raise RuntimeError("standby did not catch up to %s" % lsn)
            time.sleep(0.05)
