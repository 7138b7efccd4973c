#!/usr/bin/env bash
# run.sh - the sselite browser suite: headless Chromium's EventSource, the npm
# eventsource package and a Node long-poll loop against sselite-fcgi behind
# lighttpd, with events published through real SQLite. Last line of output:
# "N passed, N failed"; exit status 1 if anything failed.
# SPDX-License-Identifier: MIT
#
# Usage: tests/browser/run.sh [PATTERN...]   (run only the matching cases)
# Needs: a built tree (fcgi/sselite-fcgi, tools/sselite), lighttpd, python3,
# node >= 18 with npm, and Debian's chromium (apt-get install chromium); the
# npm packages pinned in package-lock.json are installed into
# tests/browser/node_modules with `npm ci` when missing or stale. No browser
# is downloaded: playwright-core drives /usr/bin/chromium (CHROMIUM=...).
# Environment: SSELITE_FCGI, SSELITE_CLI, LIGHTTPD, NODE, CHROMIUM,
# SSELITE_IT_KEEP=1 (keep temp dirs). Screenshots and the agent's log go to
# tests/out/browser/. run.py stops every process it started, by PID, also on
# SIGINT/SIGTERM/SIGHUP.
set -u
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
export SSELITE_FCGI="${SSELITE_FCGI:-$repo/fcgi/sselite-fcgi}"
export SSELITE_CLI="${SSELITE_CLI:-$repo/tools/sselite}"
# Node, python3 and the pinned npm packages (npm ci when missing).
bash "$here/npm-ci.sh" || { echo "0 passed, 1 failed"; exit 1; }

exec python3 "$here/run.py" "$@"
