#!/usr/bin/env python3
# run.py - runs every server case against every deployment and reports one
# line each: "ok - <deployment>: <case>" or "not ok - ...".
# SPDX-License-Identifier: MIT
#
# Usage: run.py [PATTERN...]   (only "<deployment>: <case>" labels holding one)
# Prints "# ..." diagnostics for failures, a per-event delay summary, and
# finally exactly "N passed, N failed". Exit status 1 if anything failed.
# SSELITE_IT_KEEP=1 keeps each case's temp dir.

import os
import signal
import statistics
import sys
import time
import traceback

sys.dont_write_bytecode = True  # leave no __pycache__ in the source tree
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(1, os.path.join(os.path.dirname(HERE), "integration"))

import harness  # noqa: E402
import deployments  # noqa: E402
import server_cases  # noqa: E402

CASE_LIMIT = 120  # seconds; every wait is bounded, this is a backstop
TAGS = []         # temp dirs of our cases, to find stray workers by


class CaseTimeout(Exception):
    pass


def _alarm(signum, frame):
    raise CaseTimeout("case exceeded %d s" % CASE_LIMIT)


def diag(text):
    for line in str(text).rstrip().splitlines():
        print("#   " + line)


def run_case(label, cls, fn):
    env = harness.Env(label)
    env.deps = []  # every Deployment made in this case; stopped below
    TAGS.append(env.dir)
    t = time.monotonic()
    err = detail = None
    signal.alarm(CASE_LIMIT)
    try:
        with env:
            try:
                dep = cls(env)
                why = dep.missing()
                if why:
                    err = why
                else:
                    detail = fn(env, dep)
            finally:
                signal.alarm(0)
                for d in reversed(env.deps):
                    d.stop()
    except harness.TestFailure as e:
        err = str(e)
    except CaseTimeout as e:
        err = str(e)
    except KeyboardInterrupt:
        env.cleanup()
        raise
    except Exception:
        err = traceback.format_exc()
    finally:
        signal.alarm(0)
    dt = time.monotonic() - t
    if err is None:
        print("ok - %s (%.1f s)" % (label, dt))
        if detail:
            diag(detail)
    else:
        print("not ok - %s (%.1f s)" % (label, dt))
        diag(err)
        for log in env.logs:
            diag("%s: %s" % (os.path.basename(log), harness.tail(log, 6)))
        for d in env.deps:
            el = d.error_log()
            if el and el != "(no log)":
                diag("%s error log: %s" % (d.name, el))
    sys.stdout.flush()
    env.cleanup()
    return err is None


def leftovers():
    """Processes of ours still alive after their case (there should be
    none): tracked ones, and sselite-fcgi processes naming a temp dir of
    ours (workers whose parent is gone). Killed here, by PID."""
    left = ["%s %d" % (p.name, p.pid) for p in harness.PROCS if p.alive()]
    for tag in TAGS:
        for pid in deployments.strays(tag):
            left.append("stray sselite-fcgi %d" % pid)
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    return left


def delay_summary():
    print("# per-event delay, case a (INSERT -> event received, 10 events each):")
    for name, d in server_cases.DELAYS.items():
        print("#   %-20s median %6.1f ms   max %6.1f ms"
              % (name, 1000 * statistics.median(d), 1000 * max(d)))


def main(argv):
    harness.install_cleanup()
    signal.signal(signal.SIGALRM, _alarm)
    problem = None
    for prog in (harness.FCGI, harness.CLI):
        if not os.access(prog, os.X_OK):
            problem = "%s is not an executable (run make)" % prog
    if os.geteuid() != 0:
        problem = "must run as root (Apache and nginx switch their children to %s)" \
            % deployments.RUN_USER
    if problem:
        print("not ok - prerequisites: %s" % problem)
        print("0 passed, 1 failed")
        return 1
    passed = failed = 0
    t = time.monotonic()
    try:
        for cls in deployments.DEPLOYMENTS:
            for name, fn in server_cases.CASES:
                label = "%s: %s" % (cls.name, name)
                if argv and not any(a in label for a in argv):
                    continue
                if run_case(label, cls, fn):
                    passed += 1
                else:
                    failed += 1
    except KeyboardInterrupt:
        print("not ok - interrupted")
        failed += 1
    left = leftovers()
    harness.kill_all()
    if left:
        print("not ok - processes left running after their case: %s" % ", ".join(left))
        failed += 1
    for note in deployments.ORPHANS:
        print("# note: %s (killed by PID)" % note)
    if server_cases.DELAYS:
        delay_summary()
    print("# suite took %.1f s" % (time.monotonic() - t))
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
