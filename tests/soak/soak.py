#!/usr/bin/env python3
# soak.py - the sselite soak: real lighttpd, real workers, a real SQLite
# file, 8 publisher processes and a process of browser-like subscribers, with
# churn and faults for a bounded time; then it checks that every subscriber
# got exactly its channels' sequence and that the workers' memory,
# descriptors, threads and the WAL stayed flat.
# SPDX-License-Identifier: MIT
#
# Layout: lighttpd balances /events over two workers started with --listen:
# worker A is never killed, so its figures over the whole run show whether
# anything accumulates; worker B is killed with SIGKILL every ~15 s and
# restarted on its socket (its samples start again with each new PID).
# lighttpd itself is stopped (SIGTERM or SIGKILL, alternately) and started
# again on its port every ~25 s; `sselite prune --keep N` runs every ~10 s.
# Subscribers: see subscribers.py. Publishers: see publisher.py. The rules:
# see checks.py and RELIABILITY.md ("Soak").
#
# Every process is started here, registered with the integration harness and
# killed by PID at the end, on error and on Ctrl-C. Every phase has a
# deadline; an alarm ends the run if the whole exceeds duration + 300 s.
#
# Usage: soak.py [--duration SECONDS] [--out DIR] [--seed N] [--rate ROWS/S]
# Prints one "ok"/"not ok" line per check group, a table of the samples, a
# markdown block for RELIABILITY.md, and last "N passed, N failed".

import argparse
import csv
import datetime
import json
import os
import platform
import random
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from array import array

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(REPO, "tests", "integration"))

import checks  # noqa: E402
from subscribers import CHURN_MAX  # noqa: E402
import harness  # noqa: E402
from harness import Proc, TestFailure, clean_env, free_port, tcp_listening, unix_listening, wait_until  # noqa: E402

PYTHON = sys.executable
PUBLISHERS = 8
CHANNELS = ["soak.a", "soak.b", "news:eu", "room/42", "user@host", "t-1_z"]
SUBSCRIBERS = {"steady": 12, "slow": 4, "rewind": 6}  # plus up to CHURN_MAX churn connections
THREADS = 24
WORKER_OPTS = ["--threads", str(THREADS), "--heartbeat", "2", "--retry-ms", "1000",
               "--error-retry-ms", "2000", "--busy-retry-ms", "1000", "--write-timeout", "8"]
WRITE_TIMEOUT = 8
STALL_S = 12  # a stalled slow reader stops reading this long (> write-timeout)
KILL_EVERY, RESTART_EVERY, PRUNE_EVERY = 15.0, 25.0, 10.0  # seconds, +-30 %
PRUNE_KEEP = 2000
SAMPLE_EVERY = 5.0
DRAIN_S = 40.0
QUIET_S = 15.0
FAULT_GRACE_MS = 3000  # lighttpd's disable-time (1 s) plus slack
EXPECTED_STATUS = {500, 502, 503, 504}
# Flatness, after a warm-up of the first 20 % of the run (checks.py):
RSS_FACTOR, RSS_SLACK_KB = 1.25, 8 * 1024
# A worker's database descriptors: the hub's connection and a pool of at
# most 16 read-only ones (POOL_MAX, lib/hub.c), each the db and -wal files,
# plus one -shm shared by all.
DB_FDS_MAX = 2 * (16 + 1) + 1
WAL_MAX = 64 * 1024 * 1024


def mono_ms():
    return int(time.monotonic() * 1000)


def proc_figures(pid, db):
    """VmRSS, VmHWM (kB), threads and descriptors of a live process (all;
    sockets; the database's files db, -wal, -shm; the rest), or None if it
    is gone."""
    try:
        with open("/proc/%d/status" % pid) as f:
            st = dict(line.split(":", 1) for line in f if ":" in line)
        fds = os.listdir("/proc/%d/fd" % pid)
    except OSError:
        return None
    if "VmRSS" not in st:
        return None  # a zombie: killed, not yet reaped
    socks = dbfds = 0
    for fd in fds:
        try:
            target = os.readlink("/proc/%d/fd/%s" % (pid, fd))
        except OSError:
            continue  # closed meanwhile
        socks += target.startswith("socket:")
        dbfds += target.startswith(db)
    return {"rss": int(st["VmRSS"].split()[0]), "hwm": int(st["VmHWM"].split()[0]),
            "thr": int(st["Threads"]), "fds": len(fds), "socks": socks, "dbfds": dbfds,
            "other": len(fds) - socks - dbfds}


class Soak:
    def __init__(self, a):
        self.a = a
        self.duration = a.duration
        self.out = a.out
        self.db = os.path.join(self.out, "events.db")
        self.rng = random.Random(a.seed)
        self.t0 = time.monotonic()
        self.logf = open(os.path.join(self.out, "soak.log"), "a")
        self.workers = {}  # "a"/"b" -> Proc (with .label)
        self.incarnations = {"a": 0, "b": 0}
        self.lighttpd = None
        self.port = None
        self.samples = []
        self.windows = []  # (from_ms, to_ms, what): 5xx answers expected
        self.prunes = []  # (t_start_ms, oldest id left)
        self.actions = {"worker kills": 0, "lighttpd restarts": 0, "prunes": 0}
        self.action_failures = []
        self.baseline = {}
        self.publishers = []
        self.subscribers = None
        self._stop_sampling = threading.Event()
        self.sampler_errors = []
        self.results = []

    # -- output

    def t(self):
        return time.monotonic() - self.t0

    def say(self, msg):
        line = "[%6.1f s] %s" % (self.t(), msg)
        print(line, flush=True)
        self.logf.write(line + "\n")
        self.logf.flush()

    def path(self, name):
        return os.path.join(self.out, name)

    # -- processes

    def start_worker(self, name):
        self.incarnations[name] += 1
        label = name if name == "a" else "b%d" % self.incarnations[name]
        sock = self.path("%s.sock" % name)
        argv = [harness.FCGI, "--db", self.db, "--listen", sock] + WORKER_OPTS
        p = Proc("sselite-fcgi " + label, argv, log=self.path("worker-%s.log" % label), env=clean_env())
        p.label = label
        wait_until(lambda: unix_listening(sock) or not p.alive(), 10,
                   "worker %s to listen on %s" % (label, sock), interval=0.005)
        if not p.alive():
            raise TestFailure("worker %s exited at start: %s" % (label, harness.tail(p.log)))
        self.workers[name] = p
        return p

    def lighttpd_conf(self, port):
        backends = ", ".join(
            '"%s" => ( "socket" => "%s", "check-local" => "disable", "disable-time" => 1 )'
            % (n, self.path("%s.sock" % n)) for n in ("a", "b"))
        return "\n".join([
            'server.document-root = "%s"' % self.out,
            'server.bind = "127.0.0.1"',
            "server.port = %d" % port,
            'server.modules += ( "mod_fastcgi" )',
            "server.stream-response-body = 2",
            "server.max-write-idle = 3600",
            'server.upload-dirs = ( "%s" )' % self.out,
            'fastcgi.server = ( "/events" => ( %s ) )' % backends,
        ]) + "\n"

    def start_lighttpd(self):
        """Starts lighttpd on self.port (a free port the first time)."""
        deadline = time.monotonic() + 15
        while True:
            port = self.port or free_port()
            conf = self.path("lighttpd.conf")
            with open(conf, "w") as f:
                f.write(self.lighttpd_conf(port))
            p = Proc("lighttpd", [harness.LIGHTTPD, "-D", "-f", conf],
                     log=self.path("lighttpd.log"), env=clean_env())
            wait_until(lambda: tcp_listening(port) or not p.alive(), 10,
                       "lighttpd to listen on port %d" % port)
            if p.alive():
                self.port, self.lighttpd = port, p
                return p
            p.stop()
            if time.monotonic() >= deadline:
                raise TestFailure("lighttpd did not start on port %d: %s" % (port, harness.tail(p.log)))
            time.sleep(0.2)  # the old lighttpd's socket may linger a moment

    # -- sampling

    def sample(self, phase):
        row = {"t": round(self.t(), 1), "phase": phase}
        try:
            wal = os.path.getsize(self.db + "-wal")
        except OSError:
            wal = 0
        row["wal"] = wal
        try:
            con = sqlite3.connect("file:%s?mode=ro" % self.db, uri=True, timeout=5)
            try:
                r = con.execute("SELECT seq FROM sqlite_sequence WHERE name = 'events'").fetchone()
            finally:
                con.close()
            row["rows"] = r[0] if r else 0
        except sqlite3.Error:
            row["rows"] = -1
        try:
            with open(self.path("subscribers.progress")) as f:
                row["delivered"] = int(f.read().strip() or 0)
        except (OSError, ValueError):
            row["delivered"] = 0
        out = []
        for name in ("a", "b"):
            p = self.workers.get(name)
            fig = proc_figures(p.pid, self.db) if p is not None and p.alive() else None
            if fig is not None:
                r = dict(row, w=p.label, pid=p.pid, **fig)
                out.append(r)
        self.samples += out
        return out

    def sampler(self):
        while not self._stop_sampling.wait(SAMPLE_EVERY):
            try:
                self.sample("run")
            except Exception as e:  # counted by the RSS check; sampling goes on
                self.sampler_errors.append("at %.0f s: %r" % (self.t(), e))

    # -- faults

    def kill_worker_b(self):
        p = self.workers["b"]
        t_kill = mono_ms()
        p.signal(signal.SIGKILL)
        if p.wait(5) is None:
            self.action_failures.append("worker %s survived SIGKILL" % p.label)
            return
        p.stop()
        time.sleep(self.rng.uniform(0.2, 1.5))  # down time, so lighttpd meets a dead socket
        try:
            n = self.start_worker("b")
        except TestFailure as e:
            self.action_failures.append("restart of worker b: %s" % e)
            return
        self.windows.append((t_kill, mono_ms() + FAULT_GRACE_MS, "worker b killed"))
        self.actions["worker kills"] += 1
        self.say("killed worker %s (pid %d), started %s (pid %d)" % (p.label, p.pid, n.label, n.pid))

    def restart_lighttpd(self):
        sig = signal.SIGKILL if self.actions["lighttpd restarts"] % 2 else signal.SIGTERM
        p = self.lighttpd
        t_down = mono_ms()
        p.signal(sig)
        if p.wait(5) is None:
            p.signal(signal.SIGKILL)
            if p.wait(5) is None:
                self.action_failures.append("lighttpd survived SIGKILL")
                return
        p.stop()
        time.sleep(self.rng.uniform(0.2, 1.0))
        try:
            n = self.start_lighttpd()
        except TestFailure as e:
            self.action_failures.append("restart of lighttpd: %s" % e)
            return
        self.windows.append((t_down, mono_ms() + FAULT_GRACE_MS, "lighttpd restarted"))
        self.actions["lighttpd restarts"] += 1
        self.say("lighttpd stopped with %s, started again (pid %d)" % (signal.Signals(sig).name, n.pid))

    def prune(self):
        t_start = mono_ms()
        try:
            r = subprocess.run([harness.CLI, "prune", self.db, "--keep", str(PRUNE_KEEP)],
                               capture_output=True, text=True, timeout=60, env=clean_env())
        except subprocess.TimeoutExpired:
            self.action_failures.append("sselite prune took more than 60 s")
            return
        if r.returncode != 0:
            self.action_failures.append("sselite prune: exit %d: %s" % (r.returncode, r.stderr.strip()))
            return
        con = sqlite3.connect("file:%s?mode=ro" % self.db, uri=True, timeout=10)
        try:
            oldest = con.execute("SELECT min(id) FROM events").fetchone()[0] or 0
        finally:
            con.close()
        self.prunes.append((t_start, oldest))
        self.actions["prunes"] += 1
        self.say("pruned %s rows in %.2f s; oldest id now %d"
                 % (r.stdout.strip(), (mono_ms() - t_start) / 1000.0, oldest))

    def chaos(self, until):
        jitter = lambda s: s * self.rng.uniform(0.7, 1.3)  # noqa: E731
        nxt = {"kill": self.t() + jitter(KILL_EVERY) * 0.7, "restart": self.t() + jitter(RESTART_EVERY) * 0.8,
               "prune": self.t() + jitter(PRUNE_EVERY) * 0.7}
        every = {"kill": KILL_EVERY, "restart": RESTART_EVERY, "prune": PRUNE_EVERY}
        act = {"kill": self.kill_worker_b, "restart": self.restart_lighttpd, "prune": self.prune}
        while True:
            kind = min(nxt, key=nxt.get)
            if nxt[kind] >= until - 3:
                break
            while self.t() < nxt[kind]:
                time.sleep(min(0.5, nxt[kind] - self.t()))  # the schedule's pacing
                self.check_alive()
            act[kind]()
            nxt[kind] = self.t() + jitter(every[kind])
        while self.t() < until:
            time.sleep(min(0.5, until - self.t()))
            self.check_alive()

    def check_alive(self):
        if not self.workers["a"].alive():
            raise TestFailure("worker a died: %s" % harness.tail(self.workers["a"].log))
        if self.subscribers is not None and not self.subscribers.alive():
            raise TestFailure("the subscriber process died: %s" % harness.tail(self.subscribers.log))

    # -- the run

    def run(self):
        r = harness.run([harness.CLI, "init", self.db])
        if r.returncode != 0:
            raise TestFailure("sselite init: %s" % r.stderr.strip())
        self.start_worker("a")
        self.start_worker("b")
        self.start_lighttpd()
        for name in ("a", "b"):
            self.baseline[name] = proc_figures(self.workers[name].pid, self.db)
        self.say("lighttpd on 127.0.0.1:%d, workers a (pid %d) and b (pid %d); out %s"
                 % (self.port, self.workers["a"].pid, self.workers["b"].pid, self.out))
        self.sample("start")
        seconds = self.duration + 30  # the publishers' own backstop
        for i in range(PUBLISHERS):
            self.publishers.append(Proc("publisher %d" % i, [
                PYTHON, os.path.join(HERE, "publisher.py"), self.db, self.path("pub-%d" % i),
                "--index", str(i), "--seed", str(self.a.seed * 100 + i), "--rate", str(self.a.rate),
                "--seconds", str(seconds), "--channels", ",".join(CHANNELS)],
                log=self.path("pub-%d.log" % i)))
        cfg = {"port": self.port, "seed": self.a.seed, "channels": CHANNELS, "stall_s": STALL_S,
               "out": self.path("subscribers"), "targets": self.path("targets.json"),
               "drain_s": DRAIN_S, "max_seconds": self.duration + DRAIN_S + 60}
        cfg.update(SUBSCRIBERS)
        with open(self.path("subscribers-config.json"), "w") as f:
            json.dump(cfg, f)
        self.subscribers = Proc("subscribers", [PYTHON, os.path.join(HERE, "subscribers.py"),
                                                self.path("subscribers-config.json")],
                                log=self.path("subscribers.log"))
        sampler = threading.Thread(target=self.sampler, daemon=True)
        sampler.start()
        self.say("%d publishers at %.0f rows/s each, %d subscribers + churn; churn phase of %d s"
                 % (PUBLISHERS, self.a.rate, sum(SUBSCRIBERS.values()), self.duration))
        self.chaos(self.duration)
        self.say("stopping the publishers")
        for p in self.publishers:
            p.signal(signal.SIGTERM)
        for p in self.publishers:
            p.exit = p.wait(15)
        targets = self.reference_targets()
        with open(self.path("targets.json"), "w") as f:
            json.dump(targets, f)
        self.say("draining: every subscriber until the last id of its channels (at most %d s)" % DRAIN_S)
        self.subscribers.signal(signal.SIGUSR1)
        self.subscribers.exit = self.subscribers.wait(DRAIN_S + 20)
        if self.subscribers.exit is None:
            self.subscribers.stop()
        self._stop_sampling.set()
        sampler.join(10)
        self.sample("drained")
        self.quiet = self.wait_quiet()
        self.sample("quiet")
        self.say("judging")

    def reference_targets(self):
        last = {}
        for i in range(PUBLISHERS):
            try:
                with open(self.path("pub-%d.ids" % i)) as f:
                    for line in f:
                        id, ch, _ = line.split()
                        last[ch] = max(last.get(ch, 0), int(id))
            except OSError:
                pass
        return last

    def wait_quiet(self):
        """With every client gone, waits for each worker's sockets to fall
        back to its count before any client came; returns its figures."""
        deadline = time.monotonic() + QUIET_S
        got = {}
        while True:
            for name in ("a", "b"):
                p = self.workers[name]
                got[name] = proc_figures(p.pid, self.db) if p.alive() else None
            base = {n: self.baseline[n]["socks"] for n in ("a", "b")}
            if all(got[n] and got[n]["socks"] <= base[n] for n in ("a", "b")) \
                    or time.monotonic() >= deadline:
                return got
            time.sleep(0.2)

    # -- judging

    def check(self, name, ok, detail):
        self.results.append((name, ok, detail))
        print("%s - %s" % ("ok" if ok else "not ok", name), flush=True)
        for line in detail:
            print("#   " + line)

    def judge(self):
        bad = checks.self_test()
        self.check("the sequence and flatness rules catch injected faults (self-test)", not bad, bad)

        # Processes and faults.
        detail = ["%s: %d" % kv for kv in self.actions.items()] + self.action_failures
        pub_exit = [p.exit for p in self.publishers]
        ok = not self.action_failures and self.workers["a"].alive() and self.lighttpd.alive() \
            and all(e == 0 for e in pub_exit) and self.subscribers.exit == 0 \
            and self.actions["worker kills"] >= 1 and self.actions["prunes"] >= 1
        if not self.workers["a"].alive():
            detail.append("worker a died")
        if any(e != 0 for e in pub_exit):
            detail.append("publisher exit statuses %s" % pub_exit)
        if self.subscribers.exit != 0:
            detail.append("subscriber process exit status %s: %s"
                          % (self.subscribers.exit, harness.tail(self.subscribers.log, 5)))
        self.check("every fault was injected and every process restarted", ok, detail)

        # Publishers and the reference.
        rows, totals = [], {"rows": 0, "transactions": 0, "errors": 0}
        errs = []
        for i in range(PUBLISHERS):
            try:
                with open(self.path("pub-%d.json" % i)) as f:
                    s = json.load(f)
            except (OSError, ValueError):
                s = {"rows": 0, "transactions": 0, "errors": 1, "last_error": "no summary"}
            for k in totals:
                totals[k] += s[k]
            if s["errors"]:
                errs.append("publisher %d: %d failed, last: %s" % (i, s["errors"], s["last_error"]))
            with open(self.path("pub-%d.ids" % i)) as f:
                for line in f:
                    id, ch, crc = line.split()
                    rows.append((int(id), ch, int(crc)))
        ids = [r[0] for r in rows]
        con = sqlite3.connect("file:%s?mode=ro" % self.db, uri=True, timeout=10)
        try:
            stored = {r[0] for r in con.execute("SELECT id FROM events")}
        finally:
            con.close()
        oldest = min(stored) if stored else 0
        unknown = stored - set(ids)
        lost = {i for i in ids if i >= oldest} - stored
        self.totals = totals
        ok = totals["rows"] > 0 and not errs and len(set(ids)) == len(ids) == totals["rows"] \
            and not unknown and not lost
        detail = ["%d rows in %d transactions by %d publishers" % (totals["rows"], totals["transactions"],
                                                                     PUBLISHERS)] + errs
        if len(set(ids)) != len(ids):
            detail.append("an id was returned twice")
        if unknown or lost:
            detail.append("database and records differ: %d stored ids unrecorded, %d recorded ids missing"
                          % (len(unknown), len(lost)))
        self.check("publishers: no failed insert, the database holds exactly the recorded rows", ok, detail)

        # Sequences.
        ref = checks.Reference(rows, self.prunes)
        self.ref = ref
        with open(self.path("subscribers.json")) as f:
            sub = json.load(f)
        self.sub = sub
        logs = array("q")
        with open(self.path("subscribers.bin"), "rb") as f:
            logs.frombytes(f.read())
        agg = {"subscribers": 0, "sessions": 0, "events": 0, "gaps": 0, "skips": 0, "skipped_ids": 0}
        errors, behind = [], []
        for s in sub["subscribers"]:
            v = checks.verify(ref, s["channels"], logs[s["off"]:s["off"] + s["n"]])
            agg["subscribers"] += 1
            for k in ("sessions", "events", "gaps", "skips", "skipped_ids"):
                agg[k] += getattr(v, k)
            errors += ["%s %s: %s" % (s["name"], s["channels"], e) for e in v.errors]
            if s["kind"] != "churn" and v.last != ref.last_id(s["channels"]):
                behind.append("%s %s: at %s, last id of its channels %d (%d connects)"
                              % (s["name"], s["channels"], v.last, ref.last_id(s["channels"]), s["connects"]))
        self.agg = agg
        self.check("exact sequences: every session of every subscriber got its channels' ids in order, "
                   "once, with the published type and data",
                   not errors and agg["events"] > 0,
                   ["%d persistent subscribers and %d churn connections, %d sessions, %d events, %d gap events, "
                    "%d silent skips of %d pruned ids"
                    % (sum(SUBSCRIBERS.values()), agg["subscribers"] - sum(SUBSCRIBERS.values()), agg["sessions"],
                       agg["events"], agg["gaps"], agg["skips"], agg["skipped_ids"])] + errors[:20])
        self.check("caught up: every persistent subscriber ended at the last id of its channels",
                   not behind and sub["drained"], behind[:20])

        # Answers.
        unexpected, expected = [], 0
        for t, status in sub["non200"]:
            if status in EXPECTED_STATUS and any(a <= t <= b for a, b, _ in self.windows):
                expected += 1
            else:
                unexpected.append("status %s at %.1f s" % (status, t / 1000.0 - self.t0))
        c = sub["counts"]
        self.check("no unexpected answer: only 5xx while a worker or lighttpd was down",
                   not unexpected,
                   ["%d connects, %d refused, %d expected 5xx, %d busy, %d error answers %s"
                    % (c.get("connects", 0), c.get("connect failures", 0), expected,
                       c.get("busy answers", 0), c.get("error answers", 0), sub["error_texts"] or "")]
                   + unexpected[:20])
        self.expected5xx = expected

        # Resources.
        self.judge_resources()

    def judge_resources(self):
        t_end = max(s["t"] for s in self.samples)
        by_label = {}
        for s in self.samples:
            if s["phase"] == "run":
                by_label.setdefault(s["w"], []).append(s)
        a_all = by_label.get("a", [])
        a_run = checks.after_warmup(a_all, 0, t_end)
        # Worker A lives through the run: it must have been sampled (almost)
        # every SAMPLE_EVERY seconds, or the figures below say little.
        expected = int(self.duration / SAMPLE_EVERY)
        sampling = [] if len(a_all) >= 0.8 * expected and not self.sampler_errors else \
            ["worker a sampled %d times of %d; sampler errors: %s"
             % (len(a_all), expected, self.sampler_errors[:3] or "none")]
        # RSS of the worker that lived through the whole run.
        g = checks.grew(a_run, "rss", RSS_FACTOR, RSS_SLACK_KB)
        detail = ["worker a: VmRSS %d -> %d kB (max %d), VmHWM %d kB, over %d samples after warm-up (%d of %d in all)"
                  % (a_run[0]["rss"], a_run[-1]["rss"], max(s["rss"] for s in a_run), a_run[-1]["hwm"],
                     len(a_run), len(a_all), expected)] if a_run else ["no samples of worker a"]
        self.check("worker RSS flat (max of the later half <= %.2f x max of the earlier half + %d MB)"
                   % (RSS_FACTOR, RSS_SLACK_KB // 1024),
                   bool(a_run) and len(a_run) >= 4 and not g and not sampling,
                   detail + ([g] if g else []) + sampling)

        # Descriptors: every one is a socket (one per stream, the listener),
        # a database file (bounded by the pool) or one of a fixed set, whose
        # number must not change. With every client gone, the sockets are
        # back at their count before the first client.
        problems = []
        for label, ss in sorted(by_label.items()):
            g = checks.not_constant(ss, "other")
            if g:
                problems.append("worker %s, descriptors neither socket nor database: %s" % (label, g))
        # Sockets: parked streams hold none of the threads, so the bound is
        # the clients (persistent + churn): one socket each, two for a moment
        # while a client's new connection arrives before the worker has seen
        # its old one go (a hang-up is noticed within a probe), plus the
        # listener. (threads + 2 was the bound when every stream held a
        # thread; a sample of 27 against it was seen once.)
        socket_bound = 2 * (sum(SUBSCRIBERS.values()) + CHURN_MAX) + 1
        for what, key, limit in (("sockets", "socks", socket_bound), ("database files", "dbfds", DB_FDS_MAX)):
            over = [s for s in self.samples if s[key] > limit]
            if over:
                problems.append("%d samples with more than %d %s, e.g. worker %s: %d"
                                % (len(over), limit, what, over[0]["w"], over[0][key]))
        q = self.quiet
        for n in ("a", "b"):
            base = self.baseline[n]
            if q[n] is None:
                problems.append("worker %s gone at the end" % n)
            elif q[n]["socks"] > base["socks"]:
                problems.append("worker %s: %d sockets %d s after the last client left, %d before the first"
                                % (n, q[n]["socks"], QUIET_S, base["socks"]))
        detail = ["worker %s: fds %d (sockets %d) before any client, %s at the end"
                  % (n, self.baseline[n]["fds"], self.baseline[n]["socks"],
                     "%d (sockets %d)" % (q[n]["fds"], q[n]["socks"]) if q[n] else "gone") for n in ("a", "b")]
        detail.append("most database descriptors in a worker: %d (bound %d)"
                      % (max(s["dbfds"] for s in self.samples), DB_FDS_MAX))
        self.check("worker fds flat (sockets <= 2 per client + 1 and back to their baseline when clients leave; "
                   "database files within the pool's bound; the rest constant)", not problems, detail + problems)

        problems = []
        threads = set()
        for label, ss in sorted(by_label.items()):
            g = checks.not_constant(ss, "thr")
            if g:
                problems.append("worker %s: %s" % (label, g))
            threads |= {s["thr"] for s in ss}
        self.check("worker threads flat (constant in every worker's life, the same in each)",
                   not problems and len(threads) == 1, ["thread counts seen: %s" % sorted(threads)] + problems)

        wal = max(s["wal"] for s in self.samples)
        self.check("WAL bounded (-wal at most %d MB)" % (WAL_MAX >> 20), wal <= WAL_MAX,
                   ["largest -wal seen: %.1f MB" % (wal / 1048576.0)])

    # -- report

    def table_rows(self, limit):
        """One row per sample time: worker a, worker b, WAL, rows, events."""
        times = []
        by_t = {}
        for s in self.samples:
            if s["t"] not in by_t:
                times.append(s["t"])
                by_t[s["t"]] = {"t": s["t"], "phase": s["phase"], "wal": s["wal"], "rows": s["rows"],
                                "delivered": s["delivered"]}
            by_t[s["t"]][s["w"][0]] = s
        if len(times) > limit:
            step = len(times) / float(limit - 1)
            keep = sorted({times[int(i * step)] for i in range(limit - 1)} | {times[-1]})
            times = keep
        out = []
        for t in times:
            r = by_t[t]

            def w(k):
                s = r.get(k)
                return ["-"] * 5 if s is None else [
                    "%s/%d" % (s["w"], s["pid"]), "%.1f" % (s["rss"] / 1024.0), "%.1f" % (s["hwm"] / 1024.0),
                    "%d/%d" % (s["fds"], s["socks"]), str(s["thr"])]
            out.append(["%.0f" % t, r["phase"]] + w("a") + w("b") +
                       ["%.2f" % (r["wal"] / 1048576.0), str(r["rows"]), str(r["delivered"])])
        return out

    HEAD = ["t s", "phase", "A pid", "A RSS MB", "A HWM MB", "A fds/socks", "A thr",
            "B pid", "B RSS MB", "B HWM MB", "B fds/socks", "B thr", "WAL MB", "rows", "events"]

    def report(self, passed, failed, started):
        with open(self.path("samples.csv"), "w", newline="") as f:
            keys = ["t", "phase", "w", "pid", "rss", "hwm", "fds", "socks", "dbfds", "other", "thr", "wal",
                    "rows", "delivered"]
            wr = csv.DictWriter(f, keys, extrasaction="ignore")
            wr.writeheader()
            wr.writerows(self.samples)
        rows = self.table_rows(40)
        widths = [max(len(self.HEAD[i]), *(len(r[i]) for r in rows)) for i in range(len(self.HEAD))]
        print()
        print("  ".join(h.rjust(w) for h, w in zip(self.HEAD, widths)))
        for r in rows:
            print("  ".join(c.rjust(w) for c, w in zip(r, widths)))
        print("(every sample: %s)" % self.path("samples.csv"))

        c = self.sub["counts"] if hasattr(self, "sub") else {}
        md = []
        md.append("Run of %s on tree %s: **%d passed, %d failed**." % (started, tree_version(), passed, failed))
        md.append("")
        md.append("Command: `bash tests/soak/run.sh --duration %d --seed %d --rate %g`; churn phase %d s, "
                  "whole run %.0f s; host: %d CPUs (`nproc`), %s, lighttpd %s, SQLite %s, Python %s."
                  % (self.duration, self.a.seed, self.a.rate, self.duration, self.t(), os.cpu_count(),
                     platform.release(), lighttpd_version(), sqlite3.sqlite_version,
                     platform.python_version()))
        md.append("")
        if hasattr(self, "agg"):
            md.append("| what | count |")
            md.append("|---|---|")
            figures = [
                ("rows published (8 publishers, %d transactions)" % self.totals["transactions"],
                 self.totals["rows"]),
                ("events received and checked", self.agg["events"]),
                ("subscribers: persistent (steady, slow, rewinding) + churn connections",
                 "%d + %d" % (sum(SUBSCRIBERS.values()), self.agg["subscribers"] - sum(SUBSCRIBERS.values()))),
                ("sessions (first connects, rewinds to old ids)", self.agg["sessions"]),
                ("connects", c.get("connects", 0)),
                ("connects refused (lighttpd down)", c.get("connect failures", 0)),
                ("churn connections (closed within 1 s, half with a reset)", c.get("churn connections", 0)),
                ("offline pauses then resume", c.get("offline pauses", 0)),
                ("rewinds to an old id (header or query)", c.get("rewinds", 0)),
                ("slow-reader stalls > write-timeout", c.get("stalls", 0)),
                ("worker kills (SIGKILL)", self.actions["worker kills"]),
                ("lighttpd restarts (SIGTERM/SIGKILL)", self.actions["lighttpd restarts"]),
                ("prunes (--keep %d)" % PRUNE_KEEP, self.actions["prunes"]),
                ("sselite-gap events (all justified)", self.agg["gaps"]),
                ("silent skips of pruned rows during catch-up (ids)",
                 "%d (%d)" % (self.agg["skips"], self.agg["skipped_ids"])),
                ("5xx while a worker or lighttpd was down", self.expected5xx),
                ("busy / error answers", "%d / %d" % (c.get("busy answers", 0), c.get("error answers", 0))),
                ("stream ends seen by clients: eof / clean end",
                 "%d / %d" % (c.get("ends: eof", 0), c.get("ends: end", 0))),
                ("worker stream ends by reason (worker logs)", worker_log_tally(self.out)),
            ]
            for k, v in figures:
                md.append("| %s | %s |" % (k, v))
            md.append("")
        md.append("| " + " | ".join(self.HEAD) + " |")
        md.append("|" + "---|" * len(self.HEAD))
        for r in self.table_rows(20):
            md.append("| " + " | ".join(r) + " |")
        md.append("")
        for name, ok, detail in self.results:
            md.append("- %s %s%s" % ("ok" if ok else "**not ok**", name,
                                     (": " + "; ".join(detail[:3])) if detail else ""))
        text = "\n".join(md) + "\n"
        with open(self.path("summary.md"), "w") as f:
            f.write(text)
        print()
        print("----- markdown for RELIABILITY.md (also in %s) -----" % self.path("summary.md"))
        print(text, end="")
        print("----- end -----")


def worker_log_tally(out):
    """Stream ends by reason, and warn/error lines, over every worker log."""
    tally = {}
    for name in sorted(os.listdir(out)):
        if name.startswith("worker-") and name.endswith(".log"):
            with open(os.path.join(out, name), errors="replace") as f:
                for line in f:
                    for word in line.split():
                        if word.startswith("reason="):
                            tally[word[7:]] = tally.get(word[7:], 0) + 1
                    for level in (" warn: ", " error: "):
                        if level in line:
                            tally[level.strip(" :")] = tally.get(level.strip(" :"), 0) + 1
    return ", ".join("%s %d" % kv for kv in sorted(tally.items())) or "none"


def tree_version():
    """The commit of the tree the soak ran from, "+" if it had changes."""
    try:
        rev = subprocess.run(["git", "-C", REPO, "rev-parse", "--short", "HEAD"],
                             capture_output=True, text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "-C", REPO, "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10).stdout.strip()
        return (rev + ("+" if dirty else "")) or "?"
    except (OSError, subprocess.SubprocessError):
        return "?"


def lighttpd_version():
    try:
        r = subprocess.run([harness.LIGHTTPD, "-v"], capture_output=True, text=True, timeout=10)
        return r.stdout.split()[0].split("/")[1]
    except (OSError, IndexError, subprocess.SubprocessError):
        return "?"


def _alarm(signum, frame):
    raise TestFailure("the soak exceeded its time bound")


def main():
    ap = argparse.ArgumentParser(description="sselite soak test")
    ap.add_argument("--duration", type=float, default=600, help="churn phase in seconds (default 600)")
    ap.add_argument("--out", help="output directory (default tests/out/soak-DATE)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--rate", type=float, default=20, help="rows a second per publisher (default 20)")
    a = ap.parse_args()
    if a.duration < 20:
        ap.error("--duration must be at least 20 s")
    started = datetime.datetime.now().strftime("%Y-%m-%d %H:%M")
    a.out = os.path.abspath(a.out or os.path.join(REPO, "tests", "out",
                                                    "soak-" + datetime.datetime.now().strftime("%Y%m%d-%H%M%S")))
    os.makedirs(a.out, exist_ok=True)
    if os.listdir(a.out):
        print("not ok - the output directory %s is not empty" % a.out)
        print("0 passed, 1 failed")
        return 1
    for prog in (harness.FCGI, harness.CLI, harness.LIGHTTPD):
        if not os.access(prog, os.X_OK):
            print("not ok - prerequisites: %s is not an executable" % prog)
            print("0 passed, 1 failed")
            return 1
    harness.install_cleanup()
    signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(int(a.duration + 300))
    soak = Soak(a)
    aborted = None
    try:
        soak.run()
        soak.judge()
    except TestFailure as e:
        aborted = str(e)
    except KeyboardInterrupt:
        aborted = "interrupted"
    finally:
        signal.alarm(0)
        soak._stop_sampling.set()
        harness.kill_all()
    if aborted:
        soak.check("the soak ran to its end", False, [aborted])
    passed = sum(1 for _, ok, _ in soak.results if ok)
    failed = len(soak.results) - passed
    if soak.samples:
        try:
            soak.report(passed, failed, started)
        except Exception as e:  # the verdict below matters more than the table
            print("# report failed: %r" % e)
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
