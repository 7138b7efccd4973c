#!/usr/bin/env bash
# npm-ci.sh - installs the browser suites' pinned npm packages
# (package-lock.json) into tests/browser/node_modules with `npm ci` when
# they are missing or older than the lock file. Used by tests/browser/run.sh
# and tests/http2/run.sh. On failure prints "not ok - ..." and exits 1.
# SPDX-License-Identifier: MIT
set -u
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
node=${NODE:-node}

fail() {
    echo "not ok - prerequisites: $*"
    exit 1
}

command -v "$node" >/dev/null 2>&1 || fail "node not found (apt-get install nodejs npm)"
major=$("$node" -p 'process.versions.node.split(".")[0]' 2>/dev/null) || fail "node does not run"
[ "$major" -ge 18 ] 2>/dev/null || fail "node $major is too old (18 or later needed)"
command -v python3 >/dev/null 2>&1 || fail "python3 not found"

# npm ci keeps its own copy of the lock file in node_modules.
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
