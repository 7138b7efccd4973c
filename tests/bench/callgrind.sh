#!/usr/bin/env bash
# callgrind.sh - instructions the worker spends per event delivered to one
# more subscriber (user space, counted by valgrind --tool=callgrind, so the
# figure repeats on a noisy machine). Runs the worker behind lighttpd twice,
# with N1 and N2 subscribers on one channel, E events each time, and prints
#   (instructions(N2) - instructions(N1)) / ((N2 - N1) * E)
# plus the per-event cost with N1 subscribers. Last line: "N passed, N failed".
# SPDX-License-Identifier: MIT
#
# Usage: bash tests/bench/callgrind.sh [N1 N2 E]   (default 10 60 300)
set -u
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
N1=${1:-10}; N2=${2:-60}; E=${3:-300}
FCGI=${SSELITE_FCGI:-$repo/fcgi/sselite-fcgi}
CLI=${SSELITE_CLI:-$repo/tools/sselite}
make -s -C "$here" >/dev/null || exit 1
tmp=$(mktemp -d /tmp/sselite-callgrind-XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done; rm -rf "$tmp"; }
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

wait_for() {  # wait_for SECONDS COMMAND...
    local end=$((SECONDS + $1)); shift
    until "$@" 2>/dev/null; do [ $SECONDS -ge $end ] && return 1; sleep 0.05; done
}

# run_once SUBSCRIBERS: prints the worker's total instruction count.
run_once() {
    local subs=$1 dir="$tmp/run-$1" port; port=$(free_port)
    mkdir -p "$dir"
    "$CLI" init "$dir/ev.db" >/dev/null
    cat >"$dir/l.conf" <<CONF
server.document-root = "$dir"
server.bind = "127.0.0.1"
server.port = $port
server.modules += ("mod_fastcgi")
server.stream-response-body = 2
server.max-fds = 4096
server.errorlog = "$dir/lighttpd.log"
fastcgi.server = ("/events" => (("socket" => "$dir/w.sock", "check-local" => "disable")))
CONF
    valgrind -q --tool=callgrind --callgrind-out-file="$dir/cg.out" \
        "$FCGI" --db "$dir/ev.db" --listen "$dir/w.sock" --threads $((subs + 8)) \
        --access-log 0 2>"$dir/worker.log" &
    local wpid=$!; pids+=("$wpid")
    wait_for 60 test -S "$dir/w.sock" || { echo "worker did not start" >&2; return 1; }
    lighttpd -D -f "$dir/l.conf" & local lpid=$!; pids+=("$lpid")
    wait_for 20 bash -c "exec 3<>/dev/tcp/127.0.0.1/$port" || { echo "lighttpd did not start" >&2; return 1; }
    "$here/loadclient" --port "$port" --path '/events?channel=bench' --subscribers "$subs" \
        --expect-events "$E" --duration 300 --ready-file "$dir/ready" >"$dir/client.json" &
    local cpid=$!
    wait_for 120 test -f "$dir/ready" || { echo "subscribers did not connect" >&2; return 1; }
    "$here/publisher" sqlite --db "$dir/ev.db" --channel bench --count "$E" --rate 200 \
        --synchronous normal >/dev/null
    wait "$cpid"
    python3 - "$dir/client.json" "$subs" "$E" <<'PY' || return 1
import json, sys
d = json.load(open(sys.argv[1])); subs, e = int(sys.argv[2]), int(sys.argv[3])
ok = d["complete"] == subs and d["missing"] == 0 and d["dups"] == 0
print("# %d subscribers: complete %d, missing %d, dups %d" % (subs, d["complete"], d["missing"], d["dups"]), file=sys.stderr)
sys.exit(0 if ok else 1)
PY
    kill "$lpid"; wait "$lpid" 2>/dev/null
    kill "$wpid"; wait "$wpid" 2>/dev/null
    sed -n 's/^summary: //p; s/^totals: //p' "$dir/cg.out" | head -1
}

passed=0; failed=0
i1=$(run_once "$N1") && i2=$(run_once "$N2") || { echo "0 passed, 1 failed"; exit 1; }
python3 - "$i1" "$i2" "$N1" "$N2" "$E" <<'PY'
import sys
i1, i2, n1, n2, e = map(int, sys.argv[1:])
print("instructions, %d subscribers x %d events: %d" % (n1, e, i1))
print("instructions, %d subscribers x %d events: %d" % (n2, e, i2))
print("per event delivered to one more subscriber: %.0f instructions" % ((i2 - i1) / ((n2 - n1) * e)))
print("per event with %d subscribers (whole worker): %.0f instructions" % (n1, i1 / e))
PY
echo "1 passed, 0 failed"
