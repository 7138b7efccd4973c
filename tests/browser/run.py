#!/usr/bin/env python3
# run.py - the sselite browser suite: real EventSource clients (headless
# Chromium, the npm eventsource package, a long-poll loop over fetch) against
# sselite-fcgi behind lighttpd, with events published through real SQLite.
# SPDX-License-Identifier: MIT
#
# Usage: run.py [PATTERN...]   (run only cases whose "NN name" contains one)
# Prints "ok - NN name" or "not ok - NN name" per case, "# ..." diagnostics
# for failures, and finally exactly "N passed, N failed". Exit status 1 if
# anything failed. SSELITE_IT_KEEP=1 keeps each case's temp dir.
#
# The cases are in browser_cases.py, the client plumbing in clients.py and
# agent.mjs (started once here, driven over a pipe); processes, publishers
# and the per-case runner come from tests/integration (harness.py, run.py).
# Every process is stopped by PID when its case ends or the suite exits
# (also on SIGINT/SIGTERM/SIGHUP).

import atexit
import importlib.util
import os
import shutil
import signal
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
INTEGRATION = os.path.join(REPO, "tests", "integration")
sys.path.insert(1, INTEGRATION)

import harness  # noqa: E402
import clients  # noqa: E402
from browser_cases import CASES  # noqa: E402
import live_cases  # noqa: E402,F401  (registers its cases in CASES)


def integration_runner():
    """tests/integration/run.py as a module (its run_case prints the ok /
    not ok line with diagnostics and log tails, under a per-case alarm)."""
    spec = importlib.util.spec_from_file_location("integration_run",
                                                  os.path.join(INTEGRATION, "run.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def with_clients(fn):
    """fn(env), then closes the pages and EventSources the case opened
    (before its env stops the servers)."""
    def run(env):
        try:
            fn(env)
        finally:
            while clients.CASE_CLIENTS:
                clients.CASE_CLIENTS.pop().close()
    return run


def build_www(tmp):
    """The docroot of the test pages: pages/*, /js/sselite.js and htmx 2
    with its SSE extension from node_modules."""
    www = os.path.join(tmp, "www")
    shutil.copytree(os.path.join(HERE, "pages"), www)
    os.makedirs(os.path.join(www, "js"))
    shutil.copy(clients.SSELITE_JS, os.path.join(www, "js", "sselite.js"))
    os.makedirs(os.path.join(www, "vendor"))
    nm = os.path.join(HERE, "node_modules")
    shutil.copy(os.path.join(nm, "htmx.org", "dist", "htmx.min.js"), os.path.join(www, "vendor"))
    shutil.copy(os.path.join(nm, "htmx-ext-sse", "sse.js"), os.path.join(www, "vendor"))
    return www


def main(argv):
    harness.install_cleanup()
    runner = integration_runner()
    signal.signal(signal.SIGALRM, runner._alarm)
    missing = [p for p in (harness.FCGI, harness.CLI, harness.LIGHTTPD, clients.NODE, clients.CHROMIUM)
               if not os.access(p, os.X_OK)]
    if not os.path.isdir(os.path.join(HERE, "node_modules", "playwright-core")):
        missing.append("tests/browser/node_modules (run npm ci)")
    if missing:
        print("not ok - prerequisites: missing %s" % ", ".join(missing))
        print("0 passed, 1 failed")
        return 1
    os.makedirs(clients.OUT, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix="ssbrowser-")
    passed = failed = 0
    t = time.monotonic()
    agent = None
    try:
        clients.WWW = build_www(tmp)
        agent = clients.AGENT = clients.Agent(os.path.join(clients.OUT, "agent.log"))
        atexit.register(agent.close)  # runs before harness's kill_all
        agent.launch(tmp)
        for i, (name, fn) in enumerate(CASES, 1):
            label = "%02d %s" % (i, name)
            if argv and not any(a in label for a in argv):
                continue
            if runner.run_case(label, with_clients(fn)):
                passed += 1
            else:
                failed += 1
            left = [p for p in harness.PROCS if p.alive()]
            if left:
                print("# processes left after %s: %s"
                      % (label, ", ".join("%s %d" % (p.name, p.pid) for p in left)))
                for p in left:
                    p.stop(grace=1.0)
    except KeyboardInterrupt:
        print("not ok - interrupted")
        failed += 1
    except harness.TestFailure as e:
        print("not ok - setup: %s" % e)
        failed += 1
    finally:
        if agent is not None:
            agent.close()
        harness.kill_all()
        shutil.rmtree(tmp, ignore_errors=True)
    print("# %.1f s" % (time.monotonic() - t))
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
