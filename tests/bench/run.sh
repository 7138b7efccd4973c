#!/usr/bin/env bash
# run.sh - sselite behind lighttpd against nginx+Nchan: workloads W1-W5 and
# the latency floor, side by side; sselite reads its log from SQLite and (W1,
# W4) from PostgreSQL, and on request sits behind nginx instead of lighttpd.
# Last line: "N passed, N failed".
# SPDX-License-Identifier: MIT
#
# Usage: bash tests/bench/run.sh [--smoke | --quick] [--runs N]
#          [--systems sselite,sselite-pg,sselite-nginx,nchan]
#          [--workloads W1,W2,W2x,W3,W4,W5,floor]
#          [--out DIR] [--sync full|normal] [--w4-batch N] [--keep]
#
# Each run starts every system afresh for every workload (generated configs,
# free loopback ports, a temp dir), drives it with tests/bench/loadclient and
# tests/bench/publisher, and keeps the raw JSON in tests/bench/out/<stamp>/.
# The table shows the median over runs (the worst over runs for gap and
# duplicate counts). The pass/fail checks are sselite's delivery guarantees:
# every subscriber gets every event exactly once (W1, W3, W4, W5, floor) and
# every stream is held (W2). Nchan's results are reported, never asserted.
# sselite-pg is sselite with its log in a fresh PostgreSQL 15 cluster per
# workload (tests/bench/pgserver.py); without --systems it runs W1 and W4
# only, and only when PostgreSQL is installed (PGBIN). sselite-nginx is the
# same worker behind nginx's FastCGI (the deploy/nginx snippet's settings)
# instead of lighttpd: only when --systems names it, to tell the web
# server's share of a figure from the worker's.
#
# --smoke (CI): 50 subscribers, 200 events at 100/s, plain and with one
#   drop-and-resume per subscriber, and a 10,000-event burst (publisher with
#   synchronous=normal) to 1 and 10 subscribers, on sselite and (if
#   installed) Nchan; W1 and the burst on sselite-pg (if installed);
#   asserts delivery, asserts no figures.
# --quick: every workload at small sizes, for development.
# Environment: SSELITE_FCGI, SSELITE_CLI, LIGHTTPD, NGINX, NCHAN_MODULE,
# NGINX_FASTCGI_PARAMS (default /etc/nginx/fastcgi_params), PGBIN (default
# /usr/lib/postgresql/15/bin).
set -u
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
FCGI="${SSELITE_FCGI:-$repo/fcgi/sselite-fcgi}"
CLI="${SSELITE_CLI:-$repo/tools/sselite}"
LIGHTTPD="${LIGHTTPD:-$(command -v lighttpd || echo /usr/sbin/lighttpd)}"
NGINX="${NGINX:-$(command -v nginx || echo /usr/sbin/nginx)}"
NGINX_FASTCGI_PARAMS="${NGINX_FASTCGI_PARAMS:-/etc/nginx/fastcgi_params}"
NCHAN_MODULE="${NCHAN_MODULE:-$(dpkg -L libnginx-mod-nchan 2>/dev/null | grep '/ngx_nchan_module\.so$' | head -n1)}"
NCHAN_MODULE="${NCHAN_MODULE:-/usr/lib/nginx/modules/ngx_nchan_module.so}"
PGBIN="${PGBIN:-/usr/lib/postgresql/15/bin}"
export PGBIN  # for pgserver.py (tests/postgres/pgcluster.py)
LC="$here/loadclient"
PUB="$here/publisher"

mode=full
runs=""
systems=""
workloads=""
outroot="$here/out"
sync=""
w4_batch=""
keep=0
while [ $# -gt 0 ]; do
    case "$1" in
    --smoke) mode=smoke ;;
    --quick) mode=quick ;;
    --runs) shift; runs="${1:-}" ;;
    --systems) shift; systems="${1:-}" ;;
    --workloads) shift; workloads="${1:-}" ;;
    --out) shift; outroot="${1:-}" ;;
    --sync) shift; sync="${1:-}" ;;
    --w4-batch) shift; w4_batch="${1:-}" ;;
    --keep) keep=1 ;;
    -h|--help) sed -n '2,30p' "$0"; exit 0 ;;
    *) echo "run.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
    esac
    shift
done
case "$runs" in
"") [ "$mode" = full ] && runs=3 || runs=1 ;;
*[!0-9]*|0) echo "run.sh: --runs wants a whole number >= 1" >&2; exit 2 ;;
esac

# ---- sizes ----------------------------------------------------------------
# W1 fan-out, W3 resume, W5 restart, floor: SUBS subscribers, COUNT events at
# RATE/s. W2: STREAMS idle streams held HOLD s. W4: BURST events flat out to
# 1 and to BURST_SUBS subscribers.
case "$mode" in
full)
    W1_SUBS=1000 W1_COUNT=1000 RATE=100
    W2_STREAMS=8000 W2_HOLD=10
    W2X_STREAMS=18000 W2X_WEB=3
    W3_SUBS=1000 W3_COUNT=1000 W3_DROP=500
    W4_COUNT=100000 W4_SUBS=100
    W5_SUBS=1000 W5_COUNT=1000
    FL_SUBS=100 FL_COUNT=1000
    CONNECT_RATE=2000
    default_workloads="W1 W2 W2x W3 W4 W5 floor" ;;
quick)
    W1_SUBS=200 W1_COUNT=300 RATE=100
    W2_STREAMS=1000 W2_HOLD=3
    W2X_STREAMS=3000 W2X_WEB=3
    W3_SUBS=200 W3_COUNT=300 W3_DROP=150
    W4_COUNT=10000 W4_SUBS=20
    W5_SUBS=200 W5_COUNT=300
    FL_SUBS=50 FL_COUNT=300
    CONNECT_RATE=2000
    default_workloads="W1 W2 W2x W3 W4 W5 floor" ;;
smoke)
    W1_SUBS=50 W1_COUNT=200 RATE=100
    W3_SUBS=50 W3_COUNT=200 W3_DROP=100
    # A short burst: inserts without fsync come fast enough for the worker
    # to read them in batches of hundreds (that found a real bug: events
    # skipped when one commit brought more than 64 to a stream).
    W4_COUNT=10000 W4_SUBS=10
    sync=${sync:-normal}
    CONNECT_RATE=1000
    default_workloads="W1 W3 W4" ;;
esac
workloads="${workloads:-$default_workloads}"
workloads="${workloads//,/ }"
# Without --systems, sselite-pg joins for W1 and W4 when PostgreSQL is
# installed (decided below, once the prerequisites are known).
systems_given=${systems:+1}
systems="${systems//,/ }"

log() { printf '%s\n' "$*" >&2; }

# ---- build and prerequisites ----------------------------------------------
make -s -C "$here" >/dev/null || { log "run.sh: cannot build the bench tools"; exit 1; }
if [ ! -x "$FCGI" ] || [ ! -x "$CLI" ]; then
    [ -f "$repo/Makefile" ] && make -s -C "$repo" fcgi/sselite-fcgi tools/sselite >/dev/null 2>&1
fi
have_sselite=1 have_nchan=1 have_pg=1
if [ ! -x "$FCGI" ] || [ ! -x "$CLI" ] || [ ! -x "$LIGHTTPD" ]; then
    log "run.sh: sselite not runnable (need $FCGI, $CLI, $LIGHTTPD)"
    have_sselite=0
fi
if [ ! -x "$NGINX" ] || [ ! -f "$NCHAN_MODULE" ]; then
    log "run.sh: nginx+Nchan not installed ($NGINX, $NCHAN_MODULE); skipping it"
    have_nchan=0
fi
command -v python3 >/dev/null || { log "run.sh: python3 is needed for the report"; exit 1; }
# Asked for by name but not runnable: a failed check, not a silent skip.
pg_wanted_missing=0
if [ ! -x "$PGBIN/initdb" ] || [ ! -x "$PGBIN/pg_ctl" ] || [ ! -x "$PGBIN/postgres" ]; then
    [ -n "$systems_given" ] && case " $systems " in *" sselite-pg "*)
        log "run.sh: PostgreSQL not installed ($PGBIN); cannot run sselite-pg"
        pg_wanted_missing=1 ;;
    esac
    have_pg=0
fi
# The workloads sselite-pg runs: all that were asked for when --systems
# names it, else W1 and W4 (the issue: the log's read path on another
# engine; the others are the worker's own behaviour, the same on both).
pg_workloads="$workloads"
if [ -z "$systems_given" ]; then
    systems="sselite nchan"
    if [ "$have_pg" = 1 ]; then
        systems="sselite sselite-pg nchan"
        pg_workloads=""
        for w in $workloads; do
            case "$w" in W1|W4) pg_workloads="$pg_workloads $w" ;; esac
        done
    fi
fi

hard_nofile=$(ulimit -Hn)
[ "$hard_nofile" = unlimited ] && hard_nofile=1048576

stamp=$(date +%Y%m%d-%H%M%S)
out="$outroot/$stamp${mode:+-$mode}"
mkdir -p "$out" || exit 1
tmp=$(mktemp -d "${TMPDIR:-/tmp}/sselite-bench.XXXXXX") || exit 1
chmod 755 "$tmp"
# Run a snapshot of the worker, so a rebuild in the tree during a long run
# cannot mix two versions in one table.
if [ "$have_sselite" = 1 ]; then
    cp "$FCGI" "$tmp/sselite-fcgi" && FCGI_SRC=$FCGI && FCGI="$tmp/sselite-fcgi"
fi

# ---- process bookkeeping: everything we start is killed by PID -----------
started=""
pg_started=""  # postmasters: stopped with SIGINT (fast shutdown) first
alive() {
    # A zombie still answers kill -0; look at the state in /proc.
    local st
    st=$(sed -n 's/^.*) \(.\).*/\1/p' "/proc/$1/stat" 2>/dev/null) || return 1
    [ -n "$st" ] && [ "$st" != Z ]
}
# stop PID SIGNAL SECONDS: signal, wait until gone, then SIGKILL.
stop() {
    local pid=$1 sig=$2 secs=$3 i
    alive "$pid" || { wait "$pid" 2>/dev/null; return 0; }
    kill -s "$sig" "$pid" 2>/dev/null
    for ((i = 0; i < secs * 20; i++)); do
        alive "$pid" || break
        sleep 0.05
    done
    alive "$pid" && kill -9 "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    return 0
}
cleanup() {
    local p
    for p in $pg_started; do stop "$p" INT 10; done
    for p in $started; do alive "$p" && kill -9 "$p" 2>/dev/null; done
    wait 2>/dev/null
    if [ "$keep" = 1 ]; then log "run.sh: kept $tmp"; else rm -rf "$tmp"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
# wait_for SECONDS COMMAND...: polls the condition every 50 ms.
wait_for() {
    local secs=$1 i
    shift
    for ((i = 0; i < secs * 20; i++)); do
        "$@" && return 0
        sleep 0.05
    done
    return 1
}
now_s() { date +%s.%N; }

# ---- sselite: worker on a unix socket behind lighttpd ---------------------
# Globals while running: S_DIR S_PORT S_WPID S_LPID S_THREADS S_STREAMS.
sselite_start_worker() {
    (
        ulimit -n "$hard_nofile" 2>/dev/null
        exec "$FCGI" --db "$S_DB" --listen "$S_DIR/fcgi.sock" \
            --threads "$S_THREADS" --backlog 4096 --access-log=0 \
            --log-level warn --ping-path /events/_ping --status-path /events/_status
    ) >>"$S_DIR/worker.log" 2>&1 &
    S_WPID=$!
    started="$started $S_WPID"
    wait_for 10 test -S "$S_DIR/fcgi.sock"
}
sselite_start_lighttpd() {
    (ulimit -n "$hard_nofile" 2>/dev/null; exec "$LIGHTTPD" -D -f "$S_DIR/lighttpd.conf") \
        >>"$S_DIR/lighttpd.out" 2>&1 &
    S_LPID=$!
    started="$started $S_LPID"
    wait_for 10 sselite_ping
}
sselite_ping() {
    [ "$(curl -s -m 2 "http://127.0.0.1:$S_PORT/events/_ping" 2>/dev/null)" = pong ]
}
# sselite_lighttpd_conf FILE PORT STREAMS: a lighttpd sized for STREAMS
# open streams, in front of the worker's socket.
sselite_lighttpd_conf() {
    local conf=$1 port=$2 streams=$3 fds
    # lighttpd holds two descriptors per stream (client and backend) and
    # stops accepting ("sockets disabled, out-of-fds") once 90% of max-fds
    # are in use.
    fds=$(((2 * streams * 10 + 8) / 9 + 256))
    [ "$fds" -gt "$hard_nofile" ] && fds=$hard_nofile
    cat >"$conf" <<EOF
server.document-root = "$S_DIR/www"
server.bind = "127.0.0.1"
server.port = $port
server.errorlog = "$conf.err"
server.max-fds = $fds
server.max-connections = $((streams + 128))
server.listen-backlog = 4096
server.stream-response-body = 2
server.max-write-idle = 3600
server.event-handler = "linux-sysepoll"
server.modules += ( "mod_fastcgi" )
fastcgi.server = ( "/events" => ( (
    "socket" => "$S_DIR/fcgi.sock",
    "check-local" => "disable"
) ) )
EOF
}
# sselite_up STREAMS [THREADS]: a fresh database, worker and lighttpd sized
# for STREAMS open streams. The worker keeps its default threads (32):
# streams that caught up are parked without a thread.
sselite_up() {
    S_DIR="$tmp/sselite-$RANDOM$RANDOM"
    S_LPID="" S_WPID=""
    mkdir -p "$S_DIR/www" || return 1
    S_DB="$S_DIR/events.db"
    sselite_serve "$@"
}
# sselite_serve STREAMS [THREADS]: initialise the log at S_DB, start the
# worker on it and lighttpd in front (S_DIR exists).
sselite_serve() {
    S_STREAMS=$1
    "$CLI" init "$S_DB" >/dev/null || return 1
    S_THREADS=${2:-32}
    S_PORT=$(free_port)
    sselite_lighttpd_conf "$S_DIR/lighttpd.conf" "$S_PORT" "$S_STREAMS"
    sselite_start_worker || { log "sselite worker did not create its socket"; return 1; }
    sselite_start_lighttpd || { log "lighttpd+sselite did not answer the ping"; return 1; }
    SERVER_PIDS="$S_LPID,$S_WPID"
}
# sselite_down DIR [PREFIX]: stop both; their logs to DIR/PREFIXworker.log
# and DIR/PREFIXlighttpd.err.
sselite_down() {
    # Either may be unset when bringing the system up failed half way.
    [ -n "${S_LPID:-}" ] && stop "$S_LPID" TERM 10
    [ -n "${S_WPID:-}" ] && stop "$S_WPID" TERM 10
    cp "$S_DIR/worker.log" "$1/${2:-}worker.log" 2>/dev/null
    cp "$S_DIR/lighttpd.conf.err" "$1/${2:-}lighttpd.err" 2>/dev/null
}
# ---- sselite-pg: the same, its log in a fresh PostgreSQL cluster ----------
# Globals while running: as sselite, and PG_PID (the postmaster), PG_DIR.
# The cluster (tests/bench/pgserver.py) runs with PostgreSQL's default
# durability (fsync on, synchronous_commit on) and listens on a free
# loopback port; the worker, the CLI and the publisher connect over TCP as a
# password role, the password in a PGPASSFILE (never on a command line).
sselite_pg_up() {
    local line
    S_DIR="$tmp/sselite-pg-$RANDOM$RANDOM"
    PG_DIR="$S_DIR/pg"
    PG_PID="" S_LPID="" S_WPID=""
    mkdir -p "$S_DIR/www" || return 1
    chmod 755 "$S_DIR"  # the cluster's owner (nobody when we are root) enters
    export PGPASSFILE="$S_DIR/pgpass"
    line=$(python3 "$here/pgserver.py" start "$PG_DIR" "$PGPASSFILE" 2>"$S_DIR/pgserver.err") ||
        { log "sselite-pg: PostgreSQL did not start: $(tail -n3 "$S_DIR/pgserver.err")"; return 1; }
    read -r PG_PID _ S_DB <<<"$line"
    pg_started="$pg_started $PG_PID"
    sselite_serve "$@"
}
sselite_pg_down() {
    sselite_down "$1" sselite-pg-
    if [ -n "$PG_PID" ]; then
        stop "$PG_PID" INT 30
        # Forget it, so cleanup never signals a later process with its PID.
        pg_started=$(printf '%s\n' $pg_started | grep -vx "$PG_PID" | tr '\n' ' ')
    fi
    cat "$PG_DIR/bench.log" >>"$1/sselite-pg-postgres.log" 2>/dev/null
    rm -rf "$PG_DIR"
}
sselite_pg_crash_restart() { sselite_crash_restart; }
# pg_cpu: CPU ticks of the whole cluster: the postmaster, its reaped
# children (a backend whose client left) and its living children.
pg_cpu() {
    # cat, not awk on the files: a process may exit between glob and read.
    cat /proc/[0-9]*/stat 2>/dev/null | awk -v pm="$PG_PID" '
        { pid = $1; sub(/^.*\) /, "") }
        pid == pm { t += $12 + $13 + $14 + $15; next }
        $2 == pm { t += $12 + $13 }
        END { print t + 0 }'
}

# W5: kill -9 the worker, restart lighttpd, start a new worker.
sselite_crash_restart() {
    # disown: bash would otherwise print "Killed" for the job.
    disown "$S_WPID" 2>/dev/null
    kill -9 "$S_WPID" 2>/dev/null
    stop "$S_WPID" KILL 5
    stop "$S_LPID" TERM 10
    sselite_start_worker && sselite_start_lighttpd
}

# nginx_conf DIR STREAMS PRELUDE HTTP: DIR/nginx.conf for one nginx worker
# process sized for STREAMS streams, its files in DIR: PRELUDE at the top
# (a load_module), HTTP inside http { } after the settings both nginx
# systems share.
nginx_conf() {
    local dir=$1 streams=$2 conns user=""
    # Two connections per stream when nginx proxies. Even for Nchan,
    # worker_connections = streams + 256 gave 8,000 subscribers "worker_connections
    # are not enough, reusing connections" and 139 resets (measured; the
    # cause was not traced), so leave ample room.
    conns=$((2 * streams + 256))
    [ "$conns" -gt "$((hard_nofile - 64))" ] && conns=$((hard_nofile - 64))
    [ "$(id -u)" = 0 ] && user="user root root;"
    cat >"$dir/nginx.conf" <<EOF
$3
daemon off;
master_process on;
$user
worker_processes 1;
worker_rlimit_nofile $hard_nofile;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events { worker_connections $conns; use epoll; multi_accept on; }
http {
    access_log off;
    client_body_temp_path $dir/tmp/body;
    proxy_temp_path $dir/tmp/proxy;
    fastcgi_temp_path $dir/tmp/fastcgi;
    uwsgi_temp_path $dir/tmp/uwsgi;
    scgi_temp_path $dir/tmp/scgi;
    keepalive_requests 100000000;
    keepalive_timeout 3600s;
$4
}
EOF
}

# ---- sselite-nginx: the worker behind nginx instead of lighttpd -----------
# Globals while running: as sselite, with S_LPID the nginx master and
# S_NWPID its one worker process (whose CPU is the web server's share).
sselite_nginx_up() {
    local streams=$1
    S_DIR="$tmp/sselite-nginx-$RANDOM$RANDOM"
    S_LPID="" S_WPID="" S_NWPID=""
    mkdir -p "$S_DIR/tmp" || return 1
    S_DB="$S_DIR/events.db"
    "$CLI" init "$S_DB" >/dev/null || return 1
    S_STREAMS=$streams S_THREADS=${2:-32}
    S_PORT=$(free_port)
    # The FastCGI settings are deploy/nginx/sselite.conf's.
    nginx_conf "$S_DIR" "$streams" "" "$(cat <<EOF
    server {
        listen 127.0.0.1:$S_PORT backlog=4096;
        location /events {
            include $NGINX_FASTCGI_PARAMS;
            fastcgi_pass unix:$S_DIR/fcgi.sock;
            fastcgi_buffering off;
            fastcgi_read_timeout 3600s;
            gzip off;
        }
    }
EOF
)"
    sselite_start_worker || { log "sselite worker did not create its socket"; return 1; }
    sselite_nginx_start || { log "nginx+sselite did not answer the ping"; return 1; }
    SERVER_PIDS="$S_LPID,$S_WPID"
}
sselite_nginx_start() {
    (ulimit -n "$hard_nofile" 2>/dev/null
     exec "$NGINX" -p "$S_DIR" -c "$S_DIR/nginx.conf" -e "$S_DIR/error.log") \
        >>"$S_DIR/nginx.out" 2>&1 &
    S_LPID=$!
    started="$started $S_LPID"
    wait_for 10 sselite_ping || return 1
    S_NWPID=$(ps -o pid= --ppid "$S_LPID" | head -n1 | tr -d ' ')
    [ -n "$S_NWPID" ]
}
sselite_nginx_down() {
    sselite_down "$1" sselite-nginx-
    cp "$S_DIR/error.log" "$1/sselite-nginx-error.log" 2>/dev/null
}
# W5: kill -9 the worker and start a new one; nginx stays (it answers 502
# while the socket has no listener, and the clients reconnect).
sselite_nginx_crash_restart() {
    disown "$S_WPID" 2>/dev/null
    kill -9 "$S_WPID" 2>/dev/null
    stop "$S_WPID" KILL 5
    rm -f "$S_DIR/fcgi.sock"
    sselite_start_worker
}

# ---- nginx + Nchan ----------------------------------------------------------
# Globals while running: N_DIR N_PORT N_PID.
nchan_start() {
    (ulimit -n "$hard_nofile" 2>/dev/null
     exec "$NGINX" -p "$N_DIR" -c "$N_DIR/nginx.conf" -e "$N_DIR/error.log") \
        >>"$N_DIR/nginx.out" 2>&1 &
    N_PID=$!
    started="$started $N_PID"
    wait_for 10 nchan_ping
}
nchan_ping() {
    local code
    code=$(curl -s -o /dev/null -m 2 -w '%{http_code}' "http://127.0.0.1:$N_PORT/pub?channel=probe" 2>/dev/null)
    [ -n "$code" ] && [ "$code" != 000 ]
}
nchan_up() {
    local streams=$1  # $2 (threads) does not apply
    N_DIR="$tmp/nchan-$RANDOM$RANDOM"
    mkdir -p "$N_DIR/tmp" || return 1
    N_PORT=$(free_port)
    nginx_conf "$N_DIR" "$streams" "load_module $NCHAN_MODULE;" "$(cat <<EOF
    client_body_buffer_size 64k;
    nchan_shared_memory_size 512m;
    server {
        listen 127.0.0.1:$N_PORT backlog=4096;
        # Every message kept for resume and for the bursts, for an hour.
        nchan_message_buffer_length 200000;
        nchan_message_timeout 1h;
        location = /events {
            nchan_subscriber eventsource;
            nchan_channel_id \$arg_channel;
        }
        location = /pub {
            nchan_publisher;
            nchan_channel_id \$arg_channel;
        }
    }
EOF
)"
    nchan_start || { log "nginx+Nchan did not answer"; return 1; }
    SERVER_PIDS="$N_PID"
}
nchan_down() {
    stop "$N_PID" TERM 10
    cp "$N_DIR/error.log" "$1/nginx-error.log" 2>/dev/null
}
# W5: kill -9 the nginx worker(s), then restart nginx.
nchan_crash_restart() {
    local p
    for p in $(ps -o pid= --ppid "$N_PID"); do kill -9 "$p" 2>/dev/null; done
    stop "$N_PID" TERM 10
    nchan_start
}

# ---- one workload ------------------------------------------------------------
is_sselite() { [ "${1%%-*}" = sselite ]; }
# Common per-system client and publisher arguments for channel $1.
client_args() {
    local sys=$1 ch=$2
    echo "--port $PORT --path /events?channel=$ch --connect-rate $CONNECT_RATE --report json"
    if is_sselite "$sys"; then
        echo "--id-mode sselite --last-event-id $("$PUB" head --db "$S_DB")"
    else
        echo "--id-mode nchan"
    fi
}
pub_args() {
    local sys=$1 ch=$2
    if [ "$sys" = sselite ] || [ "$sys" = sselite-nginx ]; then
        echo "sqlite --db $S_DB --channel $ch${sync:+ --synchronous $sync}"
    elif [ "$sys" = sselite-pg ]; then
        echo "pg --db $S_DB --channel $ch${sync:+ --synchronous $sync}"
    else
        echo "nchan --port $PORT --path /pub?channel=$ch"
    fi
}

# stream_workload SYS NAME SUBS COUNT RATE DIR [CLIENT ARGS...]
# Subscribers connect; once all are in, the publisher sends COUNT events
# (RATE 0 = flat out). For NAME W5 the servers crash mid-run. Subscribers
# reconnect like a browser whenever a stream ends (after 100 ms, with
# Last-Event-ID), so a stream the server ends early (an overload answer, a
# restart) costs time, and a lost or repeated event still shows.
stream_workload() {
    local sys=$1 name=$2 subs=$3 count=$4 rate=$5 dir=$6
    shift 6
    local ch="b${name}r$RANDOM" cpid ppid dur t0 t1 rc=0 stats=()
    local ready="$tmp/ready.$name.$sys" mark="$tmp/mark.$name.$sys"
    rm -f "$ready" "$mark"
    if [ "$rate" -gt 0 ]; then dur=$((count / rate + subs / CONNECT_RATE + 60))
    else dur=$((count / 500 + subs / CONNECT_RATE + 120)); fi
    # W5 replaces the server processes mid-run, so no CPU/RSS there.
    [ "$name" = W5 ] || stats=(--stats-pids "$SERVER_PIDS")
    # shellcheck disable=SC2046
    "$LC" $(client_args "$sys" "$ch") --subscribers "$subs" --expect-events "$count" \
        --reconnect --reconnect-delay-ms 100 --duration "$dur" --ready-file "$ready" --label "$sys $name" "${stats[@]}" "$@" \
        >"$dir/$sys-$name.json" 2>"$dir/$sys-$name.client.log" &
    cpid=$!
    started="$started $cpid"
    if ! wait_for $((subs / 100 + 30)) test -s "$ready"; then
        log "$sys $name: subscribers did not all connect"
        stop "$cpid" TERM 5
        return 1
    fi
    local pa=(--count "$count") cpu0=""
    [ "$rate" -gt 0 ] && pa+=(--rate "$rate")
    # sselite: the worker's and lighttpd's CPU apart, over the publishing.
    # sselite-pg: the cluster's CPU too (the worker's queries run there, and
    # so does the publisher's INSERT).
    is_sselite "$sys" && [ "$name" != W5 ] && cpu0="$(proc_cpu "$S_WPID") $(proc_cpu "$(web_pid "$sys")")"
    [ "$sys" = sselite-pg ] && [ -n "$cpu0" ] && cpu0="$cpu0 $(pg_cpu)"
    # A bulk publisher commits many rows per transaction (--w4-batch).
    if is_sselite "$sys" && [ "${name%%-*}" = W4 ] && [ -n "$w4_batch" ]; then
        pa+=(--batch "$w4_batch")
    fi
    if [ "$name" = W5 ]; then
        pa+=(--mark-at $((count * 2 / 5)) --mark-file "$mark" --retry-s 60)
    fi
    # shellcheck disable=SC2046
    "$PUB" $(pub_args "$sys" "$ch") "${pa[@]}" >"$dir/$sys-$name.pub.json" \
        2>"$dir/$sys-$name.pub.log" &
    ppid=$!
    started="$started $ppid"
    if [ "$name" = W5 ]; then
        if wait_for $((count / rate + 30)) test -s "$mark"; then
            t0=$(now_s)
            "${sys//-/_}_crash_restart" || { log "$sys W5: restart failed"; rc=1; }
            t1=$(now_s)
            awk -v a="$t0" -v b="$t1" -v m="$(cat "$mark")" \
                'BEGIN { printf "{\"crash_at_event\":%d,\"restart_s\":%.3f}\n", m, b - a }' \
                >"$dir/$sys-$name.crash.json"
        else
            log "$sys W5: publisher never reached the crash point"
            rc=1
        fi
    fi
    wait "$ppid" || { log "$sys $name: publisher failed: $(tail -n1 "$dir/$sys-$name.pub.log")"; rc=1; }
    wait "$cpid"
    if [ -n "$cpu0" ]; then
        # shellcheck disable=SC2086
        set -- $cpu0
        local w0=$1 l0=$2 p0=${3:-} pgpart=""
        [ -n "$p0" ] && pgpart=$(awk -v a="$p0" -v b="$(pg_cpu)" -v hz="$(getconf CLK_TCK)" \
            'BEGIN { printf ",\"postgres_cpu_s\":%.3f", (b - a) / hz }')
        awk -v w0="$w0" -v l0="$l0" -v w1="$(proc_cpu "$S_WPID")" -v l1="$(proc_cpu "$(web_pid "$sys")")" \
            -v hz="$(getconf CLK_TCK)" -v pg="$pgpart" \
            'BEGIN { printf "{\"worker_cpu_s\":%.3f,\"lighttpd_cpu_s\":%.3f%s}\n", (w1 - w0) / hz, (l1 - l0) / hz, pg }' \
            >"$dir/$sys-$name.cpu.json"
    fi
    # The worker's counters: how long its event loop took per fan-out.
    if is_sselite "$sys"; then
        curl -s -m 5 "http://127.0.0.1:$S_PORT/events/_status?json" \
            >"$dir/$sys-$name.status.json" 2>/dev/null
    fi
    # After W5, what the restarted Nchan holds for the channel ("queued
    # messages" tells which events reached the new instance).
    if [ "$name" = W5 ] && [ "$sys" = nchan ]; then
        curl -s -m 5 "http://127.0.0.1:$N_PORT/pub?channel=$ch" >"$dir/$sys-$name.channel.txt"
    fi
    return $rc
}

# idle_workload SYS DIR: W2, STREAMS open streams held HOLD seconds.
idle_workload() {
    local sys=$1 dir=$2 ch="bW2r$RANDOM"
    # shellcheck disable=SC2046
    "$LC" $(client_args "$sys" "$ch") --subscribers "$W2_STREAMS" --hold "$W2_HOLD" \
        --ready-timeout $((W2_STREAMS / CONNECT_RATE + 20)) \
        --duration $((W2_STREAMS / CONNECT_RATE + W2_HOLD + 60)) \
        --stats-pids "$SERVER_PIDS" --label "$sys W2" \
        >"$dir/$sys-W2.json" 2>"$dir/$sys-W2.client.log"
}

web_pid() {  # web_pid SYS: the process that does the web server's work
    if [ "$1" = sselite-nginx ]; then echo "$S_NWPID"; else echo "$S_LPID"; fi
}
proc_cpu() {  # proc_cpu PID: utime + stime in clock ticks (threads included)
    awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$1/stat" 2>/dev/null || echo 0
}
vm_kb() {  # vm_kb PID FIELD: a /proc/PID/status value in kB (or count)
    awk -v f="$2:" '$1 == f { print $2 }' "/proc/$1/status" 2>/dev/null
}

# multi_idle_workload DIR: W2x (sselite only). One worker holds W2X_STREAMS
# idle streams behind W2X_WEB lighttpd instances (lighttpd holds two
# descriptors per stream, so one instance could not get near what the
# worker itself can hold under the same open-files limit). Reports the
# worker's own resident memory per stream and its thread count.
multi_idle_workload() {
    local dir=$1 ch="bW2xr$RANDOM" per=$((W2X_STREAMS / W2X_WEB)) i port conf
    local ports=("$S_PORT") lpids=() cpids=() rss0 rss1 threads parked
    for ((i = 1; i < W2X_WEB; i++)); do
        port=$(free_port)
        conf="$S_DIR/lighttpd-$i.conf"
        sselite_lighttpd_conf "$conf" "$port" "$per"
        (ulimit -n "$hard_nofile" 2>/dev/null; exec "$LIGHTTPD" -D -f "$conf") \
            >>"$S_DIR/lighttpd.out" 2>&1 &
        lpids+=($!)
        started="$started $!"
        ports+=("$port")
        wait_for 10 curl -s -m 2 -o /dev/null "http://127.0.0.1:$port/events/_ping" ||
            { log "sselite W2x: lighttpd $i did not answer"; return 1; }
    done
    rss0=$(vm_kb "$S_WPID" VmRSS)
    for ((i = 0; i < W2X_WEB; i++)); do
        rm -f "$tmp/ready.W2x.$i"  # the previous run's
        "$LC" --port "${ports[$i]}" --path "/events?channel=$ch" --report json \
            --id-mode sselite --subscribers "$per" --hold "$W2_HOLD" \
            --connect-rate $((CONNECT_RATE / W2X_WEB)) \
            --ready-file "$tmp/ready.W2x.$i" --ready-timeout $((W2X_STREAMS / CONNECT_RATE + 30)) \
            --duration $((W2X_STREAMS / CONNECT_RATE + W2_HOLD + 90)) --label "sselite W2x $i" \
            >"$dir/sselite-W2x-$i.part.json" 2>"$dir/sselite-W2x-$i.client.log" &
        cpids+=($!)
        started="$started $!"
    done
    for ((i = 0; i < W2X_WEB; i++)); do
        wait_for $((W2X_STREAMS / CONNECT_RATE + 40)) test -s "$tmp/ready.W2x.$i" ||
            log "sselite W2x: client $i did not get all its streams"
    done
    sleep 2
    rss1=$(vm_kb "$S_WPID" VmRSS)
    threads=$(vm_kb "$S_WPID" Threads)
    parked=$(curl -s -m 5 "http://127.0.0.1:$S_PORT/events/_status?json" 2>/dev/null |
        python3 -c 'import json,sys; print(json.load(sys.stdin)["streams_parked"])' 2>/dev/null)
    for i in "${cpids[@]}"; do wait "$i"; done
    for i in "${lpids[@]}"; do stop "$i" TERM 10; done
    python3 - "$dir" "$W2X_WEB" "$W2X_STREAMS" "$rss0" "$rss1" "$threads" "${parked:-null}" <<'EOF'
import json, sys
d, web, n, rss0, rss1, threads, parked = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), \
    int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6]), sys.argv[7]
held = 0
for i in range(web):
    with open("%s/sselite-W2x-%d.part.json" % (d, i)) as f:
        held += json.load(f)["held"]
with open("%s/sselite-W2x.json" % d, "w") as f:
    json.dump({"subscribers": n, "held": held, "lighttpd_instances": web,
               "worker_rss_kb_start": rss0, "worker_rss_kb_held": rss1,
               "worker_threads": threads,
               "streams_parked": None if parked == "null" else int(parked)}, f)
EOF
}

# run_one SYS WORKLOAD DIR: bring the system up sized for the workload, run
# it, bring it down. Returns non-zero if the machinery failed.
run_one() {
    local sys=$1 w=$2 dir=$3 streams threads="" rc=0 fn=${1//-/_}
    case "$w" in
    W1) streams=$W1_SUBS ;; W2) streams=$W2_STREAMS ;;
    # Every W3 subscriber reconnects at once while lighttpd still holds its
    # old backend connection (it closes it on its next write to the dead
    # client): the worker briefly holds two streams per subscriber, parked.
    W3) streams=$W3_SUBS ;;
    W2x) [ "$sys" = sselite ] || return 0
         streams=$((W2X_STREAMS / W2X_WEB)) ;;
    W4) streams=$W4_SUBS ;; W5) streams=$W5_SUBS ;; floor) streams=$FL_SUBS ;;
    *) log "run.sh: unknown workload '$w'"; return 1 ;;
    esac
    "${fn}_up" "$streams" $threads || { "${fn}_down" "$dir"; return 1; }
    if is_sselite "$sys"; then PORT=$S_PORT; else PORT=$N_PORT; fi
    log "== $sys $w ($(date +%T))"
    case "$w" in
    W1) stream_workload "$sys" W1 "$W1_SUBS" "$W1_COUNT" "$RATE" "$dir" || rc=1 ;;
    W2) idle_workload "$sys" "$dir" || rc=1 ;;
    W2x) multi_idle_workload "$dir" || rc=1 ;;
    W3) stream_workload "$sys" W3 "$W3_SUBS" "$W3_COUNT" "$RATE" "$dir" --drop-at "$W3_DROP" || rc=1 ;;
    W4) stream_workload "$sys" W4-1 1 "$W4_COUNT" 0 "$dir" || rc=1
        stream_workload "$sys" W4-N "$W4_SUBS" "$W4_COUNT" 0 "$dir" || rc=1 ;;
    W5) stream_workload "$sys" W5 "$W5_SUBS" "$W5_COUNT" "$RATE" "$dir" || rc=1 ;;
    floor) stream_workload "$sys" floor "$FL_SUBS" "$FL_COUNT" "$RATE" "$dir" || rc=1 ;;
    esac
    "${fn}_down" "$dir"
    return $rc
}

# ---- main ---------------------------------------------------------------------
{
    echo "{\"mode\":\"$mode\",\"runs\":$runs,\"date\":\"$(date -Is)\",\"host\":\"$(uname -srm)\","
    echo "\"cpus\":$(nproc),\"lighttpd\":\"$("$LIGHTTPD" -v 2>/dev/null | head -n1 | cut -d' ' -f1)\","
    echo "\"nginx\":\"$("$NGINX" -v 2>&1 | sed 's/.*: //')\","
    echo "\"nchan\":\"$(dpkg-query -W -f '${Version}' libnginx-mod-nchan 2>/dev/null)\","
    echo "\"sqlite_synchronous\":\"${sync:-default}\","
    echo "\"postgres\":\"$("$PGBIN/postgres" --version 2>/dev/null | sed 's/^.*) /PostgreSQL /')\","
    case "$sync" in normal|off) pgsc=off ;; *) pgsc=on ;; esac
    echo "\"pg_publisher_synchronous_commit\":\"$pgsc\","
    echo "\"worker\":\"${FCGI_SRC:-none}\",\"worker_sha256\":\"$(sha256sum "$FCGI" 2>/dev/null | cut -c1-16)\","
    echo "\"git\":\"$(git -C "$repo" describe --always --dirty 2>/dev/null)\","
    echo "\"loadavg_start\":\"$(cut -d' ' -f1-3 /proc/loadavg)\"}"
} >"$out/meta.json"
# The client's parsers first: canned responses split at every byte.
"$LC" --selftest >"$out/selftest.txt" 2>&1

# Workloads that could not be run at all; only sselite's fail the checks.
machinery_failures=0
for ((r = 1; r <= runs; r++)); do
    rdir="$out/run$r"
    mkdir -p "$rdir"
    for sys in $systems; do
        case "$sys" in
        sselite) [ "$have_sselite" = 1 ] || continue ;;
        sselite-pg) [ "$have_sselite" = 1 ] && [ "$have_pg" = 1 ] || continue ;;
        sselite-nginx) [ "$have_sselite" = 1 ] && [ -x "$NGINX" ] || continue ;;
        nchan) [ "$have_nchan" = 1 ] || continue ;;
        *) log "run.sh: unknown system '$sys'"; exit 2 ;;
        esac
        sys_workloads=$workloads
        [ "$sys" = sselite-pg ] && sys_workloads=$pg_workloads
        for w in $sys_workloads; do
            if ! run_one "$sys" "$w" "$rdir"; then
                log "run.sh: $sys $w did not complete normally"
                is_sselite "$sys" && machinery_failures=$((machinery_failures + 1))
            fi
        done
    done
done

cut -d' ' -f1-3 /proc/loadavg >"$out/loadavg_end"
python3 - "$out" "$mode" "$have_sselite" "$machinery_failures" "$pg_wanted_missing" <<'PYEOF'
"""Reads the JSON of every run, prints the side-by-side table and the checks."""
import glob, json, os, statistics, sys

out, mode, have_sselite, machinery = sys.argv[1], sys.argv[2], sys.argv[3] == "1", int(sys.argv[4])
pg_wanted_missing = sys.argv[5] == "1"
runs = sorted(glob.glob(os.path.join(out, "run*")))

def load(run, name):
    try:
        with open(os.path.join(run, name)) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None

def series(sysname, wl, fn):
    vals = []
    for run in runs:
        d = load(run, f"{sysname}-{wl}.json")
        if d is None:
            continue
        p = load(run, f"{sysname}-{wl}.pub.json")
        st = load(run, f"{sysname}-{wl}.status.json")
        if st is not None:
            p = dict(p or {}, _status=st)
        cpu = load(run, f"{sysname}-{wl}.cpu.json")
        if cpu is not None:
            p = dict(p or {}, _cpu=cpu)
        try:
            v = fn(d, p)
        except (KeyError, TypeError, ZeroDivisionError):
            v = None
        if v is not None:
            vals.append(v)
    return vals

def med(vals):
    return statistics.median(vals) if vals else None

def worst(vals):
    return max(vals) if vals else None

def first(vals):
    return vals[0] if vals else None

def hole(d):
    r = d.get("first_holes", {}).get("ranges")
    return f"{r[0][0]}-{r[0][1]}" if r else "none"

def fmt(v, nd=1):
    if v is None:
        return "-"
    if isinstance(v, str):
        return v
    if isinstance(v, float) and not v.is_integer():
        return f"{v:,.{nd}f}"
    return f"{int(v):,}"

def srv(d, k):
    return d["server"][k]

# (workload, label, getter, aggregate, decimals)
rows = [
    ("W1", "delivered / expected", lambda d, p: d["unique"] / (d["subscribers"] * d["expect"]) * 100, med, 2, "%"),
    ("W1", "missing (worst run)", lambda d, p: d["missing"], worst, 0, ""),
    ("W1", "duplicates (worst run)", lambda d, p: d["dups"], worst, 0, ""),
    ("W1", "latency p50 ms", lambda d, p: d["latency_ms"]["p50"], med, 1, ""),
    ("W1", "latency p99 ms", lambda d, p: d["latency_ms"]["p99"], med, 1, ""),
    ("W1", "server CPU us / delivered event", lambda d, p: srv(d, "cpu_us_per_event"), med, 2, ""),
    ("W1", "of which the worker (rest: the web server) us / event", lambda d, p: p["_cpu"]["worker_cpu_s"] * 1e6 / max(d["unique"], 1), med, 2, ""),
    ("W1", "PostgreSQL CPU us / delivered event (not in server CPU; its publisher backend included)", lambda d, p: p["_cpu"]["postgres_cpu_s"] * 1e6 / max(d["unique"], 1), med, 2, ""),
    ("W1", "client CPU us / event (same 2 cores)", lambda d, p: d["client_cpu_s"] * 1e6 / max(d["unique"], 1), med, 2, ""),
    ("W1", "worker event loop ms per wake-up (one fan-out)", lambda d, p: p["_status"]["loop_busy_us_total"] / max(p["_status"]["loop_wakeups_total"], 1) / 1000, med, 2, ""),
    ("W1", "streams ended by the server", lambda d, p: d["server_closes"], med, 0, ""),
    ("W1", "publish rate achieved /s", lambda d, p: p["rate"], med, 1, ""),
    ("W2", "streams held", lambda d, p: d["held"], med, 0, ""),
    ("W2", "RSS KiB / stream", lambda d, p: (srv(d, "rss_kb_end") - srv(d, "rss_kb_start")) / max(d["held"], 1), med, 1, ""),
    ("W2", "PSS KiB / stream", lambda d, p: (srv(d, "pss_kb_end") - srv(d, "pss_kb_start")) / max(d["held"], 1), med, 1, ""),
    ("W2", "server RSS MiB total", lambda d, p: srv(d, "rss_kb_end") / 1024, med, 1, ""),
    ("W2", "idle CPU % of a core", lambda d, p: srv(d, "cpu_window_s") / d["window_s"] * 100, med, 2, ""),
    ("W2x", "streams held by one worker", lambda d, p: d["held"], med, 0, ""),
    ("W2x", "of which parked (no thread)", lambda d, p: d["streams_parked"], med, 0, ""),
    ("W2x", "worker RSS KiB / stream", lambda d, p: (d["worker_rss_kb_held"] - d["worker_rss_kb_start"]) / max(d["held"], 1), med, 2, ""),
    ("W2x", "worker threads", lambda d, p: d["worker_threads"], med, 0, ""),
    ("W3", "missing (worst run)", lambda d, p: d["missing"], worst, 0, ""),
    ("W3", "duplicates (worst run)", lambda d, p: d["dups"], worst, 0, ""),
    ("W3", "resumed subscribers", lambda d, p: d["drops"], med, 0, ""),
    ("W3", "streams ended before any event", lambda d, p: d["empty_streams"], med, 0, ""),
    ("W3", "latency p99 ms", lambda d, p: d["latency_ms"]["p99"], med, 1, ""),
    ("W4-1", "1 subscriber: events/s delivered", lambda d, p: d["events_per_s"], med, 0, ""),
    ("W4-1", "1 subscriber: publish rate /s", lambda d, p: p["rate"], med, 0, ""),
    ("W4-1", "1 subscriber: missing + dups (worst)", lambda d, p: d["missing"] + d["dups"], worst, 0, ""),
    ("W4-N", "N subscribers: events/s delivered", lambda d, p: d["events_per_s"], med, 0, ""),
    ("W4-N", "N subscribers: publish rate /s", lambda d, p: p["rate"], med, 0, ""),
    ("W4-N", "N subscribers: missing + dups (worst)", lambda d, p: d["missing"] + d["dups"], worst, 0, ""),
    ("W4-N", "N subscribers: server CPU us / event", lambda d, p: srv(d, "cpu_us_per_event"), med, 2, ""),
    ("W4-N", "N subscribers: PostgreSQL CPU us / event (as W1)", lambda d, p: p["_cpu"]["postgres_cpu_s"] * 1e6 / max(d["unique"], 1), med, 2, ""),
    ("W5", "subscribers complete", lambda d, p: d["complete"], med, 0, ""),
    ("W5", "missing (worst run)", lambda d, p: d["missing"], worst, 0, ""),
    ("W5", "duplicates (worst run)", lambda d, p: d["dups"], worst, 0, ""),
    ("W5", "seq re-sent under a new id (worst run)", lambda d, p: d.get("republished", 0), worst, 0, ""),
    ("W5", "reconnects", lambda d, p: d["reconnects"], med, 0, ""),
    ("W5", "HTTP errors seen", lambda d, p: d["http_errors"], med, 0, ""),
    ("W5", "publisher retries", lambda d, p: p["retries"], med, 0, ""),
    ("W5", "of which sent but unanswered", lambda d, p: p.get("ambiguous_retries", 0), med, 0, ""),
    ("W5", "first hole (first incomplete subscriber)", lambda d, p: hole(d), first, 0, ""),
    ("floor", "latency p50 ms", lambda d, p: d["latency_ms"]["p50"], med, 2, ""),
    ("floor", "latency p99 ms", lambda d, p: d["latency_ms"]["p99"], med, 2, ""),
]

# Longest name first: "sselite-pg-W1.json" is sselite-pg's, not sselite's.
SYSTEMS = ("sselite-nginx", "sselite-pg", "sselite", "nchan")
ASSERTED = ("sselite", "sselite-pg", "sselite-nginx")

def split_name(base):
    """'sselite-pg-W4-N.json' -> ('sselite-pg', 'W4-N'); None if unknown."""
    for s in SYSTEMS:
        if base.startswith(s + "-"):
            return s, base[len(s) + 1:-5]
    return None

present = {split_name(os.path.basename(f))[0] for r in runs for f in glob.glob(os.path.join(r, "*.json"))
           if split_name(os.path.basename(f))}
systems = [s for s in ("sselite", "sselite-pg", "sselite-nginx", "nchan") if s in present]
meta = load(out, "meta.json") or {}
lines = []
lines.append(f"Runs: {len(runs)} ({mode}); {meta.get('cpus', '?')} CPUs; lighttpd {meta.get('lighttpd', '?')}, "
             f"nginx {meta.get('nginx', '?')}, Nchan {meta.get('nchan', '?')}; SQLite synchronous: {meta.get('sqlite_synchronous', '?')}; "
             f"tree {meta.get('git', '?')}, worker sha256 {meta.get('worker_sha256', '?')}")
try:
    with open(os.path.join(out, "loadavg_end")) as f:
        load_end = f.read().strip()
except OSError:
    load_end = "?"
if "sselite-pg" in systems:
    lines.append(f"sselite-pg: {meta.get('postgres', '?')}, fsync on, synchronous_commit on "
                 f"(the publisher's session: {meta.get('pg_publisher_synchronous_commit', '?')}), "
                 "over TCP on loopback; a fresh cluster per workload.")
lines.append(f"Load average at start {meta.get('loadavg_start', '?')}, at end {load_end} "
             "(other work on the machine skews every figure).")
lines.append("")
lines.append("| workload | metric | " + " | ".join(systems) + " |")
lines.append("|---|---|" + "---|" * len(systems))
for wl, label, fn, agg, nd, unit in rows:
    cells = []
    for s in systems:
        v = agg(series(s, wl, fn))
        cells.append(fmt(v, nd) + (unit if v is not None else ""))
    if all(c == "-" for c in cells):
        continue
    lines.append(f"| {wl} | {label} | " + " | ".join(cells) + " |")
table = "\n".join(lines)
print(table)
with open(os.path.join(out, "summary.md"), "w") as f:
    f.write(table + "\n")

# Checks: sselite's guarantees, per run and workload.
passed = failed = 0
def check(ok, what):
    global passed, failed
    if ok:
        passed += 1
        print(f"ok - {what}")
    else:
        failed += 1
        print(f"not ok - {what}")

try:
    with open(os.path.join(out, "selftest.txt")) as f:
        st = [l.rstrip("\n") for l in f if l.startswith(("ok - ", "not ok - "))]
except OSError:
    st = []
if not st:
    check(False, "loadclient --selftest ran")
for l in st:
    check(l.startswith("ok - "), l.split(" - ", 1)[1])
if not have_sselite:
    check(False, "sselite is runnable (worker, CLI and lighttpd present)")
if pg_wanted_missing:
    check(False, "sselite-pg is runnable (PostgreSQL's initdb, pg_ctl and postgres in PGBIN)")
for run in runs:
    rn = os.path.basename(run)
    for path in sorted(glob.glob(os.path.join(run, "*.json"))):
        base = os.path.basename(path)
        if base.endswith((".pub.json", ".crash.json", ".part.json", ".status.json", ".cpu.json")):
            continue
        if split_name(base) is None:
            continue
        s, wl = split_name(base)
        d = load(run, base)
        if d is None:
            if s in ASSERTED:
                check(False, f"{rn} {s} {wl}: client report readable")
            continue
        if wl in ("W2", "W2x"):
            ok = d["held"] == d["subscribers"]
            what = f"{rn} {s} {wl}: {d['held']}/{d['subscribers']} streams held"
        else:
            bad = d["missing"] + d["dups"] + d["out_of_order"] + d["unparsed"] + d["gap_events"]
            ok = d["complete"] == d["subscribers"] and bad == 0 and not d["timed_out"]
            what = (f"{rn} {s} {wl}: {d['complete']}/{d['subscribers']} subscribers got all {d['expect']} events, "
                    f"missing {d['missing']}, dups {d['dups']}, re-sent {d.get('republished', 0)}, "
                    f"out of order {d['out_of_order']}, "
                    f"unparsed {d['unparsed']}, gap events {d['gap_events']}")
        if s in ASSERTED:
            check(ok, what)
        else:
            print(("info - " if ok else "info (Nchan, not asserted) - ") + what)
if machinery:
    check(False, f"{machinery} sselite workload(s) did not complete normally (see the log above)")
print(f"raw results: {out}")
print(f"{passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
PYEOF
