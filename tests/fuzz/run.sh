#!/bin/sh
# run.sh - build the libFuzzer targets with clang straight from the lib/
# sources (not through automake) and run each for a fixed time.
# SPDX-License-Identifier: MIT
#
# Usage: tests/fuzz/run.sh [-t SECONDS] [TARGET...]
#   -t SECONDS   time per target (default: $FUZZ_SECONDS or 20); 0 only runs
#                the seed corpus once, as a quick regression check
#   TARGET       request, query, config, encode, token (default: all)
# Environment: CLANG (default clang), FUZZ_OUT (build and corpus directory;
# default a new /tmp/sselite-fuzz-XXXXXX, removed when everything passed).
# Crash inputs are kept as FUZZ_OUT/TARGET-crash-*; re-run one with
# FUZZ_OUT/fuzz_TARGET FILE. Last line: "N passed, N failed".
set -u
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
seconds=${FUZZ_SECONDS:-20}
cc=${CLANG:-clang}

while [ $# -gt 0 ]; do
    case "$1" in
    -t) seconds=${2:?-t needs a number of seconds}; shift 2 ;;
    -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
    -*) echo "run.sh: unknown option '$1'" >&2; exit 2 ;;
    *) break ;;
    esac
done
case "$seconds" in
''|*[!0-9]*) echo "run.sh: -t wants whole seconds, not '$seconds'" >&2; exit 2 ;;
esac
targets=${*:-"request query config encode token"}

# Which lib/ sources each target links (only the modules it exercises).
sources() {
    case "$1" in
    request) echo "lib/request.c lib/query.c lib/channel.c lib/pattern.c lib/response.c lib/encode.c lib/logging.c lib/dbname.c lib/config.c lib/buf.c lib/sse_error.c" ;;
    query) echo "lib/query.c lib/sse_error.c" ;;
    config) echo "lib/config.c lib/pattern.c lib/channel.c lib/buf.c lib/sse_error.c" ;;
    encode) echo "lib/encode.c lib/logging.c lib/dbname.c lib/buf.c lib/sse_error.c tests/unit/sse_parser.c" ;;
    token) echo "lib/token.c lib/pattern.c lib/channel.c lib/buf.c lib/sse_error.c" ;;
    *) return 1 ;;
    esac
}

# Which libraries each target links besides lib/ (pkg-config names).
libs() {
    case "$1" in
    token) pkg-config --cflags --libs libcrypto jansson; echo "-lm" ;;
    esac
}

if ! command -v "$cc" >/dev/null 2>&1; then
    echo "run.sh: '$cc' not found; install it: apt-get install clang" >&2
    echo "0 passed, 1 failed"
    exit 1
fi
out=${FUZZ_OUT:-}
made_out=0
if [ -z "$out" ]; then
    out=$(mktemp -d /tmp/sselite-fuzz-XXXXXX) || exit 1
    made_out=1
fi
mkdir -p "$out" || exit 1

# libFuzzer's runtime is a separate Debian package (libclang-rt-N-dev).
printf 'int LLVMFuzzerTestOneInput(const unsigned char *d, unsigned long n)\n{ (void)d; (void)n; return 0; }\n' >"$out/probe.c"
if ! "$cc" -fsanitize=fuzzer,address,undefined "$out/probe.c" -o "$out/probe" 2>"$out/probe.log"; then
    ver=$("$cc" --version | sed -n 's/.*clang version \([0-9][0-9]*\).*/\1/p' | head -n 1)
    echo "run.sh: $cc cannot link -fsanitize=fuzzer (libFuzzer runtime missing):" >&2
    sed 's/^/  /' "$out/probe.log" >&2
    echo "run.sh: install it: apt-get install libclang-rt-${ver:-N}-dev" >&2
    [ "$made_out" = 1 ] && rm -rf "$out"
    echo "0 passed, 1 failed"
    exit 1
fi

CFLAGS="-std=c11 -D_GNU_SOURCE -g -O1 -fno-omit-frame-pointer
 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all
 -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wvla -Werror
 -I$repo/lib -I$repo/tests/unit"

passed=0
failed=0
for t in $targets; do
    src=$(sources "$t") || { echo "run.sh: unknown target '$t'" >&2; failed=$((failed + 1)); continue; }
    bin="$out/fuzz_$t"
    echo "== fuzz_$t: build"
    # shellcheck disable=SC2086 # word splitting of CFLAGS and sources is wanted
    if ! (cd "$repo" && "$cc" $CFLAGS -o "$bin" "tests/fuzz/fuzz_$t.c" $src $(libs "$t")); then
        echo "== fuzz_$t: FAILED (build)"
        failed=$((failed + 1))
        continue
    fi
    # The first corpus directory is scratch (libFuzzer adds to it); the
    # checked-in seeds are only read.
    corpus="$out/corpus_$t"
    mkdir -p "$corpus"
    seeds=""
    [ -d "$here/corpus/$t" ] && seeds="$here/corpus/$t"
    dict=""
    [ -f "$here/$t.dict" ] && dict="-dict=$here/$t.dict"
    if [ "$seconds" = 0 ]; then
        run="-runs=0"
    else
        run="-max_total_time=$seconds"
    fi
    echo "== fuzz_$t: run ($run)"
    # shellcheck disable=SC2086
    if "$bin" $run $dict -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
        -artifact_prefix="$out/$t-" "$corpus" $seeds >"$out/$t.log" 2>&1; then
        echo "== fuzz_$t: ok ($(find "$corpus" -type f | wc -l) new corpus files)"
        grep -E '^stat::number_of_executed_units' "$out/$t.log" | sed 's/^/   /'
        passed=$((passed + 1))
    else
        echo "== fuzz_$t: FAILED (log: $out/$t.log)"
        grep -E 'ERROR|SUMMARY|Test unit written|abort' "$out/$t.log" | head -n 10 | sed 's/^/   /'
        failed=$((failed + 1))
    fi
done

if [ "$failed" = 0 ] && [ "$made_out" = 1 ]; then
    rm -rf "$out"
elif [ "$failed" != 0 ]; then
    echo "run.sh: builds, logs and crash inputs kept in $out"
fi
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
