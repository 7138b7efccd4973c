#!/usr/bin/env python3
# run.py - runs the sselite integration cases and reports them one per line.
# SPDX-License-Identifier: MIT
#
# Usage: run.py [PATTERN...]   (run only cases whose "NN name" contains one)
# Prints "ok - NN name" or "not ok - NN name" per case, "# ..." diagnostics
# for failures, and finally exactly "N passed, N failed". Exit status 1 if
# anything failed. SSELITE_IT_KEEP=1 keeps each case's temp dir.

import os
import signal
import sys
import time
import traceback

sys.dont_write_bytecode = True  # leave no __pycache__ in the source tree

import cases  # noqa: E402
import harness  # noqa: E402

CASE_LIMIT = 60  # seconds; every wait is bounded, this is a backstop


def _alarm(signum, frame):
    raise harness.TestFailure("case exceeded %d s" % CASE_LIMIT)


def diag(text):
    for line in str(text).rstrip().splitlines():
        print("#   " + line)


def run_case(label, fn):
    env = harness.Env(label)
    t = time.monotonic()
    err = None
    signal.alarm(CASE_LIMIT)
    try:
        with env:
            fn(env)
    except harness.TestFailure as e:
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
        print("ok - %s (%.1f s)" % (label, dt), flush=True)
    else:
        print("not ok - %s (%.1f s)" % (label, dt))
        diag(err)
        for log in env.logs:
            diag("%s: %s" % (os.path.basename(log), harness.tail(log, 8)))
        sys.stdout.flush()
    env.cleanup()
    return err is None


def leftovers():
    """Processes of ours still alive after their case (there should be none)."""
    return ["%s %d" % (p.name, p.pid) for p in harness.PROCS if p.alive()]


def main(argv):
    harness.install_cleanup()
    signal.signal(signal.SIGALRM, _alarm)
    for prog in (harness.FCGI, harness.CLI, harness.LIGHTTPD, harness.SQLITE3):
        if not os.access(prog, os.X_OK):
            print("not ok - prerequisites: %s is not an executable" % prog)
            print("0 passed, 1 failed")
            return 1
    passed = failed = 0
    t = time.monotonic()
    try:
        for i, (name, fn) in enumerate(cases.CASES, 1):
            label = "%02d %s" % (i, name)
            if argv and not any(a in label for a in argv):
                continue
            if run_case(label, fn):
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
    print("# suite took %.1f s" % (time.monotonic() - t))
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
