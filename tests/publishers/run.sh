#!/usr/bin/env bash
# run.sh - the publisher suite: every example in deploy/publishers/ (shell
# with sselite publish and with the sqlite3 tool, Python, PHP with SQLite3 and
# PDO, Perl, Ruby, Node.js, Go, Tcl) publishes, retries idempotently, and
# runs as 8 processes at once against a real event log, with a worker behind
# lighttpd streaming what they publish; the outbox examples (Python, PHP)
# roll back. Last line: "N passed, N failed".
# SPDX-License-Identifier: MIT
#
# Usage: tests/publishers/run.sh [PATTERN...]   (run only matching cases)
# Needs the Debian packages listed in tests/run-all.sh (php-cli php-sqlite3
# libdbd-sqlite3-perl ruby ruby-sqlite3 golang-go
# golang-github-mattn-go-sqlite3-dev tcl libsqlite3-tcl) and Node.js with
# the sqlite3 module, found in this order:
#   1. already loadable (Debian's node-sqlite3 with Debian's nodejs);
#   2. Debian's nodejs without it: apt-get install node-sqlite3 (as root);
#   3. any other Node.js: npm's sqlite3 (tests/publishers/node, pinned in
#      package-lock.json) built from source against the system libsqlite3
#      and the installed Node.js headers; no prebuilt binary, no headers
#      are downloaded.
# The Go example is built offline against Debian's packaged driver
# (GOPATH=/usr/share/gocode, GO111MODULE=off). Build output and logs go to
# tests/out/publishers/. Environment: SSELITE_FCGI, SSELITE_CLI, LIGHTTPD,
# NODE, SSELITE_IT_KEEP=1 as in tests/integration/run.sh.
set -u
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
export SSELITE_FCGI="${SSELITE_FCGI:-$repo/fcgi/sselite-fcgi}"
export SSELITE_CLI="${SSELITE_CLI:-$repo/tools/sselite}"
out="$repo/tests/out/publishers"
mkdir -p "$out"
node=${NODE:-node}

# Node.js: make require('sqlite3') work; PUBLISHERS_NODE_ERROR says why not.
node_sqlite3() {
    command -v "$node" >/dev/null 2>&1 || { echo "node not found (apt-get install nodejs)"; return 1; }
    "$node" -e "require('sqlite3')" >/dev/null 2>&1 && return 0
    local mods="$here/node/node_modules"
    NODE_PATH="$mods" "$node" -e "require('sqlite3')" >/dev/null 2>&1 &&
        [ "$here/node/package-lock.json" -ot "$mods/.package-lock.json" ] && return 0
    if dpkg-query -W -f='${Version}' nodejs 2>/dev/null | grep -q dfsg &&
        [ "$(id -u)" = 0 ]; then
        echo "# apt-get install node-sqlite3 (Debian's nodejs)" >&2
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
            node-sqlite3 >"$out/apt-node-sqlite3.log" 2>&1 &&
            "$node" -e "require('sqlite3')" >/dev/null 2>&1 && return 0
    fi
    command -v npm >/dev/null 2>&1 || { echo "npm not found (apt-get install npm)"; return 1; }
    # The headers of the running Node.js: <prefix>/include/node.
    local prefix
    prefix=$(dirname "$(dirname "$(readlink -f "$(command -v "$node")")")")
    [ -f "$prefix/include/node/node_api.h" ] || {
        echo "no Node.js headers under $prefix/include/node (Debian: apt-get install libnode-dev)"; return 1; }
    echo "# npm ci in tests/publishers/node: sqlite3 from source, system SQLite" >&2
    if ! (cd "$here/node" && npm_config_nodedir="$prefix" npm_config_sqlite=/usr \
        npm_config_build_from_source=true npm ci --omit=optional --no-audit --no-fund \
        --foreground-scripts) >"$out/npm-ci.log" 2>&1; then
        tail -5 "$out/npm-ci.log" | tr '\n' ' '
        return 1
    fi
    NODE_PATH="$mods" "$node" -e "require('sqlite3')" >/dev/null 2>&1 || {
        echo "the built sqlite3 module does not load"; return 1; }
}

if msg=$(node_sqlite3); then
    export NODE_PATH="$here/node/node_modules${NODE_PATH:+:$NODE_PATH}"
else
    export PUBLISHERS_NODE_ERROR="$msg"
fi

# Go: build the example against Debian's packaged driver, offline.
if ! command -v go >/dev/null 2>&1; then
    export PUBLISHERS_GO_ERROR="go not found (apt-get install golang-go golang-github-mattn-go-sqlite3-dev)"
elif (cd "$repo/deploy/publishers" && GOPATH=/usr/share/gocode GO111MODULE=off GOFLAGS= \
    GOPROXY=off go build -o "$out/publish-go" publish.go) >"$out/go-build.log" 2>&1; then
    export PUBLISHERS_GO="$out/publish-go"
else
    export PUBLISHERS_GO_ERROR="go build failed: $(tail -3 "$out/go-build.log" | tr '\n' ' ')"
fi

exec "${PYTHON:-python3}" "$here/run.py" "$@"
