#!/usr/bin/env bash
# demo.sh - build sselite and run a live demo: lighttpd + spawned worker +
# a publisher, on http://127.0.0.1:PORT/.
# SPDX-License-Identifier: MIT
#
# Usage: bash deploy/demo.sh [--port 8080] [--db PATH] [--check]
#
#   --port N   port on 127.0.0.1 (default 8080)
#   --db PATH  demo database (default .demo/demo.db in the source tree)
#   --check    start everything, wait (at most 20 s) for the first live
#              event through lighttpd, print OK or FAIL, stop everything;
#              exit 0 or 1. Used by the tests.
#
# Steps: installs missing Debian packages (apt-get, as root or through
# sudo), builds the tree if needed (autoreconf, configure, make), creates the
# database with `tools/sselite init`, writes a lighttpd config into
# .demo/run-PORT/ from deploy/lighttpd/sselite-spawn.conf (only its three
# paths changed), then runs deploy/demo/publisher.py in the background and
# lighttpd in the foreground. Ctrl-C or SIGTERM stops lighttpd, its workers
# and the publisher. Demos on different ports (and databases) run side by
# side.

set -euo pipefail

PORT=8080
DB=""
CHECK=0
CHECK_SECONDS=20

die() { echo "demo: $*" >&2; exit 1; }

usage() {
    sed -n 's/^# \{0,1\}//; 6,12p' "$0"
}

while [ $# -gt 0 ]; do
    case "$1" in
        --port) [ $# -ge 2 ] || die "--port needs a value"; PORT=$2; shift 2 ;;
        --port=*) PORT=${1#--port=}; shift ;;
        --db) [ $# -ge 2 ] || die "--db needs a value"; DB=$2; shift 2 ;;
        --db=*) DB=${1#--db=}; shift ;;
        --check) CHECK=1; shift ;;
        -h|--help) usage; exit 0 ;;
        *) usage >&2; die "unknown argument '$1'" ;;
    esac
done

case "$PORT" in
    ''|*[!0-9]*) die "--port: '$PORT' is not a port number" ;;
esac
[ "$PORT" -ge 1 ] && [ "$PORT" -le 65535 ] || die "--port: '$PORT' is not from 1 to 65535"

SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
STATE="$SRC/.demo"
RUN="$STATE/run-$PORT"
[ -n "$DB" ] || DB="$STATE/demo.db"
mkdir -p "$(dirname "$DB")" || die "cannot create the directory of $DB"
DB="$(cd "$(dirname "$DB")" && pwd)/$(basename "$DB")"

# lighttpd's config language has no escapes we could rely on for these.
for p in "$SRC" "$DB"; do
    case "$p" in *'"'*|*'\'*) die "paths with '\"' or '\\' are not supported: $p" ;; esac
done

# --- (a) packages ------------------------------------------------------------

PACKAGES="autoconf automake pkg-config gcc make libfcgi-dev libsqlite3-dev libpq-dev libssl-dev libjansson-dev check lighttpd python3 sqlite3"
[ "$CHECK" = 1 ] && PACKAGES="$PACKAGES curl"

missing_packages() {
    local pkg missing=""
    for pkg in $PACKAGES; do
        # pkgconf provides pkg-config on Debian 12 without the old package.
        if [ "$pkg" = pkg-config ] && command -v pkg-config >/dev/null; then
            continue
        fi
        if command -v dpkg-query >/dev/null; then
            case "$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)" in
                *" installed") continue ;;
            esac
        elif command -v "$pkg" >/dev/null; then
            continue
        fi
        missing="$missing $pkg"
    done
    echo "${missing# }"
}

install_packages() {
    local missing
    missing=$(missing_packages)
    [ -n "$missing" ] || return 0
    local sudo=""
    if [ "$(id -u)" != 0 ]; then
        if command -v sudo >/dev/null; then
            sudo="sudo"
        else
            echo "demo: these packages are missing: $missing" >&2
            echo "demo: install them as root: apt-get install $missing" >&2
            exit 1
        fi
    fi
    command -v apt-get >/dev/null ||
        die "these packages are missing and there is no apt-get: $missing"
    echo "demo: installing $missing"
    $sudo apt-get update
    # shellcheck disable=SC2086 # one word per package
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $missing
}

# A python3 whose sqlite3 module works: Debian's first, then the one on PATH.
find_python() {
    local py
    for py in /usr/bin/python3 python3; do
        if command -v "$py" >/dev/null && "$py" -c 'import sqlite3' 2>/dev/null; then
            command -v "$py"
            return 0
        fi
    done
    return 1
}

# --- (b) build ---------------------------------------------------------------

build() {
    local worker="$SRC/fcgi/sselite-fcgi" cli="$SRC/tools/sselite"
    cd "$SRC"
    if [ -x "$worker" ] && [ -x "$cli" ] && [ -f Makefile ] &&
       make -q fcgi/sselite-fcgi tools/sselite >/dev/null 2>&1; then
        return 0
    fi
    echo "demo: building sselite"
    if [ ! -x configure ]; then
        autoreconf -fi
    fi
    if [ ! -f Makefile ]; then
        ./configure
    fi
    # Only what the demo runs: a missing man page or a test that does not
    # compile yet must not keep the demo from starting. The generated
    # header first, as `make all` would (BUILT_SOURCES).
    make lib/schema_sql.h && make fcgi/sselite-fcgi tools/sselite ||
        die "the build failed (see above)"
    [ -x "$worker" ] && [ -x "$cli" ] || die "make did not produce $worker and $cli"
}

# --- (d) lighttpd config -----------------------------------------------------

# Copies deploy/lighttpd/sselite-spawn.conf with its three var.sselite_*
# lines pointing at this tree, so the demo runs the shipped settings.
write_spawn_conf() {
    local in="$SRC/deploy/lighttpd/sselite-spawn.conf" out="$1" sock="$2"
    local line seen=0
    : >"$out"
    while IFS= read -r line || [ -n "$line" ]; do
        case "$line" in
            "var.sselite_bin "*|"var.sselite_bin="*)
                line="var.sselite_bin    = \"$SRC/fcgi/sselite-fcgi\""; seen=$((seen + 1)) ;;
            "var.sselite_db "*|"var.sselite_db="*)
                line="var.sselite_db     = \"$DB\""; seen=$((seen + 1)) ;;
            "var.sselite_socket "*|"var.sselite_socket="*)
                line="var.sselite_socket = \"$sock\""; seen=$((seen + 1)) ;;
        esac
        printf '%s\n' "$line" >>"$out"
    done <"$in"
    [ "$seen" = 3 ] || die "$in no longer sets var.sselite_bin, var.sselite_db and var.sselite_socket"
}

write_lighttpd_conf() {
    local conf="$RUN/lighttpd.conf" sockdir="$RUN"
    # A unix socket path must fit in 108 bytes ("-N" is appended).
    if [ ${#RUN} -gt 90 ]; then
        sockdir=$(mktemp -d /tmp/sselite-demo.XXXXXX)
        TMPDIRS="$sockdir"
    fi
    write_spawn_conf "$RUN/sselite-spawn.conf" "$sockdir/sselite.sock"
    cat >"$conf" <<EOF
# Generated by deploy/demo.sh; rewritten on every run.
server.modules         = ( "mod_indexfile", "mod_access", "mod_staticfile" )
server.document-root   = "$SRC/deploy/demo"
server.bind            = "127.0.0.1"
server.port            = $PORT
server.upload-dirs     = ( "$RUN" )
index-file.names       = ( "index.html" )
url.access-deny        = ( "~", ".py", ".sh" )
mimetype.assign        = (
    ".html" => "text/html; charset=utf-8",
    ".js"   => "text/javascript; charset=utf-8",
    ".css"  => "text/css; charset=utf-8",
)
include "$RUN/sselite-spawn.conf"
EOF
    lighttpd -tt -f "$conf" >/dev/null || die "lighttpd refused $conf"
    CONF=$conf
}

# --- processes ---------------------------------------------------------------

PUB_PID=""
LIGHTTPD_PID=""
WORKER_PIDS=""
TMPDIRS=""
CONF=""

alive() { [ -n "$1" ] && kill -0 "$1" 2>/dev/null; }

# Waits up to $2 tenths of a second for every PID in $1 to exit.
wait_gone() {
    local pids=$1 tenths=$2 pid any
    while [ "$tenths" -gt 0 ]; do
        any=0
        for pid in $pids; do alive "$pid" && any=1; done
        [ "$any" = 0 ] && return 0
        sleep 0.1
        tenths=$((tenths - 1))
    done
    return 1
}

stop_pids() {
    local pids=$1 pid
    for pid in $pids; do alive "$pid" && kill -TERM "$pid" 2>/dev/null; done
    wait_gone "$pids" 50 && return 0
    for pid in $pids; do alive "$pid" && kill -KILL "$pid" 2>/dev/null; done
    wait_gone "$pids" 20
}

worker_pids() {
    [ -n "$LIGHTTPD_PID" ] || return 0
    ps -o pid= --ppid "$LIGHTTPD_PID" 2>/dev/null | tr -s ' \n' ' ' || true
}

cleanup() {
    trap - INT TERM EXIT
    # The workers are lighttpd's children: note them before lighttpd goes,
    # which sends them SIGTERM; whatever is left gets its own signal.
    WORKER_PIDS="$WORKER_PIDS $(worker_pids)"
    stop_pids "$LIGHTTPD_PID"
    stop_pids "$PUB_PID $WORKER_PIDS"
    wait 2>/dev/null || true
    [ -z "$TMPDIRS" ] || rm -rf "$TMPDIRS"
}

on_signal() {
    echo
    echo "demo: stopping"
    cleanup
    exit 0
}

# Starts the publisher and lighttpd in the background; their output goes to
# the file $1, or to this script's stdout and stderr when $1 is empty.
start_all() {
    local log=$1
    mkdir -p "$RUN"
    if command -v curl >/dev/null &&
       curl -s -o /dev/null --max-time 2 "http://127.0.0.1:$PORT/"; then
        die "something already answers on 127.0.0.1:$PORT; choose another --port"
    fi
    write_lighttpd_conf
    if [ -n "$log" ]; then
        "$PYTHON" "$SRC/deploy/demo/publisher.py" "$DB" >>"$log" 2>&1 &
        PUB_PID=$!
        lighttpd -D -f "$CONF" >>"$log" 2>&1 &
        LIGHTTPD_PID=$!
    else
        "$PYTHON" "$SRC/deploy/demo/publisher.py" "$DB" &
        PUB_PID=$!
        lighttpd -D -f "$CONF" &
        LIGHTTPD_PID=$!
    fi
}

# Polls (bounded by DEADLINE, in seconds since the epoch) until the page is
# served; fails early if lighttpd died.
wait_for_page() {
    while [ "$(date +%s)" -lt "$DEADLINE" ]; do
        alive "$LIGHTTPD_PID" || return 1
        if curl -s -o /dev/null --max-time 2 "http://127.0.0.1:$PORT/"; then
            return 0
        fi
        sleep 0.1
    done
    return 1
}

# Streams /events?channel=demo until the first event (an "id:" line) comes.
wait_for_event() {
    local out="$RUN/check.stream" hdr="$RUN/check.headers" curl_pid left ok=1
    left=$((DEADLINE - $(date +%s)))
    [ "$left" -gt 0 ] || return 1
    : >"$out"
    curl -sN --max-time "$left" -D "$hdr" -o "$out" \
        "http://127.0.0.1:$PORT/events?channel=demo" &
    curl_pid=$!
    while [ "$(date +%s)" -lt "$DEADLINE" ] && alive "$curl_pid"; do
        if grep -q '^id: ' "$out"; then ok=0; break; fi
        sleep 0.1
    done
    grep -q '^id: ' "$out" && ok=0
    stop_pids "$curl_pid"
    wait "$curl_pid" 2>/dev/null || true
    [ "$ok" = 0 ] || return 1
    # Our lighttpd must still be the one answering (not another server that
    # holds the port).
    alive "$LIGHTTPD_PID" || return 1
    grep -qi '^content-type: text/event-stream' "$hdr" ||
        { echo "demo: the stream's Content-Type is not text/event-stream" >&2; return 1; }
    FIRST_ID=$(grep -m1 '^id: ' "$out" | tr -d '\r')
}

run_check() {
    local log="$RUN/check.log" started ok=0 leftover="" pid
    mkdir -p "$RUN"
    : >"$log"
    started=$(date +%s)
    DEADLINE=$((started + CHECK_SECONDS))
    trap on_signal INT TERM
    trap cleanup EXIT
    start_all "$log"
    if wait_for_page && wait_for_event; then ok=1; fi
    WORKER_PIDS=$(worker_pids)
    cleanup
    for pid in $WORKER_PIDS $PUB_PID $LIGHTTPD_PID; do
        alive "$pid" && leftover="$leftover $pid"
    done
    if [ "$ok" = 1 ] && [ -z "$leftover" ]; then
        echo "OK: first live event ($FIRST_ID) after $(( $(date +%s) - started )) s at http://127.0.0.1:$PORT/events?channel=demo"
        exit 0
    fi
    [ -z "$leftover" ] || echo "demo: processes still running after stop:$leftover" >&2
    echo "FAIL: no live event from http://127.0.0.1:$PORT/events?channel=demo within ${CHECK_SECONDS} s; log $log:" >&2
    tail -n 30 "$log" >&2
    exit 1
}

run_foreground() {
    local status=0
    trap on_signal INT TERM
    trap cleanup EXIT
    start_all ""
    echo "Demo: open http://127.0.0.1:$PORT/   (Ctrl-C stops it)"
    echo "      database $DB; publish your own with"
    echo "      tools/sselite publish $DB --channel demo --data 'hello'"
    wait "$LIGHTTPD_PID" || status=$?
    echo "demo: lighttpd exited (status $status)" >&2
    cleanup
    exit "$status"
}

install_packages
PYTHON=$(find_python) || die "no python3 with the sqlite3 module"
build
"$SRC/tools/sselite" init "$DB" >/dev/null || die "tools/sselite init $DB failed"

if [ "$CHECK" = 1 ]; then
    run_check
else
    run_foreground
fi
