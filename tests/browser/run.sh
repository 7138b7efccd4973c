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
node=${NODE:-node}

fail() {
    echo "not ok - prerequisites: $*"
    echo "0 passed, 1 failed"
    exit 1
}

command -v "$node" >/dev/null 2>&1 || fail "node not found (apt-get install nodejs npm)"
major=$("$node" -p 'process.versions.node.split(".")[0]' 2>/dev/null) || fail "node does not run"
[ "$major" -ge 18 ] 2>/dev/null || fail "node $major is too old (18 or later needed)"
command -v python3 >/dev/null 2>&1 || fail "python3 not found"

# Install the pinned client packages when node_modules is missing or older
# than the lock file (npm ci keeps its own copy of the lock file there).
stamp="$here/node_modules/.package-lock.json"
if [ ! -f "$stamp" ] || [ "$here/package-lock.json" -nt "$stamp" ]; then
    command -v npm >/dev/null 2>&1 || fail "npm not found (apt-get install npm)"
    echo "# npm ci in tests/browser"
    mkdir -p "$repo/tests/out/browser"
    log="$repo/tests/out/browser/npm-ci.log"
    if ! (cd "$here" && npm ci --no-audit --no-fund --loglevel=error) >"$log" 2>&1; then
        sed 's/^/#   /' "$log" | tail -20
        fail "npm ci failed"
    fi
    rm -f "$log"
fi

exec python3 "$here/run.py" "$@"
