#!/usr/bin/env bash
# run-all.sh - the one command that runs every sselite test on a fresh
# Debian 12 machine: installs what is missing, builds with -Werror, runs the
# unit tests (and again under valgrind, in an ASan+UBSan build and, for the
# threaded modules, in a ThreadSanitizer build), the CLI
# tests, the integration suites behind real web servers, and the benchmark
# smoke test. Last line: "N passed, N failed" (suites).
# SPDX-License-Identifier: MIT
#
# Usage: bash tests/run-all.sh [--no-install] [--skip SUITE]...
set -u
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
cd "$repo"

install=1
skip=" "
while [ $# -gt 0 ]; do
    case "$1" in
    --no-install) install=0 ;;
    --skip) shift; skip="$skip$1 " ;;
    -h|--help) sed -n '2,11p' "$0"; exit 0 ;;
    *) echo "run-all.sh: unknown argument '$1'" >&2; exit 2 ;;
    esac
    shift
done

PACKAGES="autoconf automake make gcc pkg-config libfcgi-dev libfcgi-bin libsqlite3-dev
libssl-dev libjansson-dev
check sqlite3 python3 curl valgrind lighttpd apache2 libapache2-mod-fcgid
nginx-light libnginx-mod-nchan nodejs npm chromium procps iproute2 ca-certificates
clang libclang-rt-14-dev clang-format build-essential debhelper dpkg-dev lintian lighttpd-mod-openssl lighttpd-mod-deflate openssl
php-cli php-sqlite3 libdbd-sqlite3-perl ruby ruby-sqlite3 tcl libsqlite3-tcl
golang-go golang-github-mattn-go-sqlite3-dev
postgresql libpq-dev python3-psycopg2"

as_root() {
    if [ "$(id -u)" = 0 ]; then "$@"
    elif command -v sudo >/dev/null; then sudo "$@"
    else echo "run-all.sh: need root (or sudo) to run: $*" >&2; return 1
    fi
}

if [ "$install" = 1 ]; then
    missing=""
    for p in $PACKAGES; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
    done
    # The machine may already have a newer Node.js from elsewhere; keep it.
    if command -v node >/dev/null && command -v npm >/dev/null; then
        missing=$(echo "$missing" | tr ' ' '\n' | grep -vx -e nodejs -e npm | tr '\n' ' ')
    fi
    if [ -n "$(echo "$missing" | tr -d ' ')" ]; then
        echo "== installing:$missing"
        as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q || exit 1
        as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $missing || exit 1
    fi
fi

# Node.js trusts only its own CA list; behind a TLS-inspecting proxy whose
# CA is in the system store, npm would fail. Point it at the system store.
if [ -z "${NODE_EXTRA_CA_CERTS:-}" ] && [ -f /etc/ssl/certs/ca-certificates.crt ]; then
    export NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt
fi

passed=0
failed=0
failures=""
out="$repo/tests/out"
mkdir -p "$out"

suite() {  # suite NAME COMMAND...
    local name=$1; shift
    case "$skip" in *" $name "*) echo "== $name: skipped"; return 0 ;; esac
    echo "== $name: $*"
    local t0=$SECONDS
    if "$@"; then
        passed=$((passed + 1)); echo "== $name: ok ($((SECONDS - t0)) s)"
    else
        failed=$((failed + 1)); failures="$failures $name"; echo "== $name: FAILED ($((SECONDS - t0)) s)"
    fi
}

build() {
    autoreconf -fi >/dev/null 2>&1 || autoreconf -fi || return 1
    ./configure --enable-werror -q || return 1
    make -j"$(nproc)" >/dev/null || make || return 1
}

unit() {
    make -j"$(nproc)" check || { cat tests/unit/*.log 2>/dev/null | tail -50; return 1; }
}

valgrind_unit() {
    local rc=0 t n=0
    for t in tests/unit/check_*; do
        case "$t" in *.c|*.o|*.log|*.trs) continue ;; esac
        [ -x "$t" ] || continue
        n=$((n + 1))
        if CK_FORK=no valgrind -q --leak-check=full --show-leak-kinds=definite,indirect \
            --errors-for-leak-kinds=definite,indirect --error-exitcode=99 "$t" >"$out/valgrind-$(basename "$t").log" 2>&1; then
            echo "valgrind $(basename "$t"): clean"
        else
            echo "valgrind $(basename "$t"): FAILED"; tail -30 "$out/valgrind-$(basename "$t").log"; rc=1
        fi
    done
    [ "$n" -gt 0 ] || { echo "valgrind: no unit test binaries were built"; return 1; }
    return $rc
}

asan_unit() {
    # A copy of the source tree, so the sanitizer build does not disturb the
    # release build the other suites use.
    local dir="$repo/build-asan"
    rm -rf "$dir" && mkdir -p "$dir" || return 1
    tar -C "$repo" --exclude=./build-asan --exclude=./build-tsan --exclude=./.git --exclude=./node_modules \
        --exclude=./tests/out -cf - . | tar -C "$dir" -xf - || return 1
    (cd "$dir" && make distclean >/dev/null 2>&1; autoreconf -fi >/dev/null 2>&1 &&
        ./configure --enable-werror --enable-sanitizers -q &&
        make -j"$(nproc)" >/dev/null &&
        ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
            make -j"$(nproc)" check) || { tail -50 "$dir"/tests/unit/*.log 2>/dev/null; return 1; }
}

tsan_unit() {
    # The suites whose code shares state between threads (the ring, the
    # fan-out, the detector, streams), built with ThreadSanitizer in a copy
    # of the tree like asan_unit. Check's fork mode is off so TSan sees the
    # threads of one test in one process.
    local dir="$repo/build-tsan" t rc=0
    rm -rf "$dir" && mkdir -p "$dir" || return 1
    tar -C "$repo" --exclude=./build-asan --exclude=./build-tsan --exclude=./.git \
        --exclude=./node_modules --exclude=./tests/out -cf - . | tar -C "$dir" -xf - || return 1
    (cd "$dir" && make distclean >/dev/null 2>&1; autoreconf -fi >/dev/null 2>&1 &&
        ./configure --enable-werror --enable-tsan -q &&
        make -j"$(nproc)" >/dev/null &&
        make -j"$(nproc)" $TSAN_SUITES >/dev/null) || return 1
    for t in $TSAN_SUITES; do
        if (cd "$dir" && CK_FORK=no TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1" \
            "$t" >"$out/tsan-$(basename "$t").log" 2>&1); then
            echo "tsan $(basename "$t"): clean"
        else
            echo "tsan $(basename "$t"): FAILED"; tail -40 "$out/tsan-$(basename "$t").log"; rc=1
        fi
    done
    return $rc
}
TSAN_SUITES="tests/unit/check_ring tests/unit/check_logpool tests/unit/check_fanout tests/unit/check_loop tests/unit/check_hub tests/unit/check_stream"

distcheck() {
    # Builds the tarball, then builds and tests it in a read-only source
    # tree with a separate build directory, and installs into a scratch
    # prefix (systemd units included, see AM_DISTCHECK_CONFIGURE_FLAGS).
    make -j"$(nproc)" distcheck >"$out/distcheck.log" 2>&1 || { tail -40 "$out/distcheck.log"; return 1; }
    tail -4 "$out/distcheck.log"
}

format() {
    # The house style (.clang-format) on every C file we wrote.
    local bad=0 f
    for f in lib/*.[ch] fcgi/*.[ch] tools/*.c tests/unit/*.[ch] tests/fuzz/*.c tests/bench/*.[ch]; do
        case "$f" in lib/schema_sql.h) continue ;; esac
        clang-format --dry-run -Werror "$f" >/dev/null 2>&1 || { echo "not formatted: $f"; bad=1; }
    done
    return $bad
}

suite build build
if [ "$failed" = 0 ]; then
    suite unit unit
    suite format format
    suite unit-valgrind valgrind_unit
    suite unit-asan asan_unit
    suite unit-tsan tsan_unit
    [ -f tests/cli/test_cli.sh ] && suite cli bash tests/cli/test_cli.sh
    [ -f tests/cli/test_retention.sh ] && suite cli-retention bash tests/cli/test_retention.sh
    [ -f tests/integration/run.sh ] && suite integration-lighttpd bash tests/integration/run.sh
    [ -f tests/reliability/run.sh ] && suite reliability bash tests/reliability/run.sh
    [ -f tests/postgres/run.sh ] && suite postgres bash tests/postgres/run.sh
    [ -f tests/soak/run.sh ] && suite soak bash tests/soak/run.sh --duration 60
    [ -f tests/access/run.sh ] && suite access bash tests/access/run.sh
    [ -f tests/servers/run.sh ] && suite integration-servers bash tests/servers/run.sh
    [ -f tests/browser/run.sh ] && suite browser bash tests/browser/run.sh
    [ -f tests/http2/run.sh ] && suite http2 bash tests/http2/run.sh
    [ -f tests/publishers/run.sh ] && suite publishers bash tests/publishers/run.sh
    [ -f tests/bench/run.sh ] && suite bench-smoke bash tests/bench/run.sh --smoke
    [ -f tests/fuzz/run.sh ] && suite fuzz bash tests/fuzz/run.sh
    [ -f tests/package/run.sh ] && suite package bash tests/package/run.sh
    suite distcheck distcheck
fi

echo
[ -n "$failures" ] && echo "failed suites:$failures"
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
