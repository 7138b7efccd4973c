#!/usr/bin/env bash
# test_retention.sh - `sselite prune` with retention rules, end to end.
# SPDX-License-Identifier: MIT
#
# Runs the built tool on real SQLite files: rules per channel pattern (the
# most specific wins, "keep" per channel, the default rule, channels no
# rule matches), --dry-run, errors in the rules file, the per-channel resume
# horizon in `sselite stats`, the WAL checkpoint and --vacuum, and a
# measurement: while 200,000 rows are pruned, a publisher inserting every
# 2 ms and a reader must never wait long (bounded write transactions),
# compared with the one-transaction `--keep` path.
#
#   SSELITE=path/to/sselite   the binary (default: tools/sselite)
#
# Last line: "N passed, N failed"; exit status 1 if any check failed.
set -u

top=$(cd "$(dirname "$0")/../.." && pwd)
SSELITE=${SSELITE:-$top/tools/sselite}
pass=0
fail=0
tmp=$(mktemp -d "${TMPDIR:-/tmp}/sselite-retention.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT

ok() { pass=$((pass + 1)); echo "ok - $1"; }
not_ok() {
    fail=$((fail + 1)); echo "not ok - $1"
    [ -n "${2:-}" ] && printf '%s\n' "$2" | sed 's/^/#   /'
    return 0
}
check() { local n=$1; shift; if "$@"; then ok "$n"; else not_ok "$n"; fi; }
q() { sqlite3 -bail -cmd '.timeout 5000' "$@"; }
sl() { "$SSELITE" "$@" >"$tmp/out" 2>"$tmp/err"; rc=$?; out=$(cat "$tmp/out"); err=$(cat "$tmp/err"); }
count() { q "$1" "SELECT count(*) FROM events WHERE channel = '$2'"; }
file_size() { if [ -f "$1" ]; then stat -c %s "$1"; else echo 0; fi; }

# rows DB CHANNEL N [AGE_MS]: N rows on CHANNEL, created AGE_MS ago.
rows() {
    q "$1" "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $3)
        INSERT INTO events(channel, data, created_at)
        SELECT '$2', 'row ' || i,
               CAST((julianday('now') - 2440587.5) * 86400000.0 AS INTEGER) - ${4:-0} FROM n"
}

# --- rules per pattern ---

db="$tmp/events.db"
"$SSELITE" init "$db" >/dev/null || exit 1
day=86400000
rows "$db" news 20
rows "$db" audit 20 $((40 * day))
rows "$db" orders:1 10 $((2 * day))
rows "$db" orders:1 10
rows "$db" orders:2 5
rows "$db" user/42/inbox 30
rows "$db" user/7/inbox 30
cat >"$tmp/rules.conf" <<'RULES'
# the default: the newest 10 of each channel, none older than a week
*            keep 10  older-than 7d
orders:*     older-than 1d     # money: by age only
user/42/*    keep 3
audit        keep all
RULES

sl prune "$db" --rules "$tmp/rules.conf" --dry-run
check "dry run exits 0" test "$rc" = 0
check "dry run names the rule per channel" grep -qx "orders:1: would delete through id 50 (rule 'orders:\*', line 3)" "$tmp/out"
check "dry run deletes nothing" test "$(q "$db" 'SELECT count(*) FROM events')" = 125

sl prune "$db" --rules "$tmp/rules.conf"
check "prune with rules exits 0, nothing on stderr" test "$rc" = 0 -a -z "$err"
check "keep all: audit untouched, though older than the default's age" test "$(count "$db" audit)" = 20
check "default rule: news keeps its newest 10" test "$(count "$db" news)" = 10
check "older-than alone: orders:1 keeps its young 10" test "$(count "$db" orders:1)" = 10
check "rules are per channel: orders:2 keeps all 5" test "$(count "$db" orders:2)" = 5
check "most specific: user/42/inbox keeps 3" test "$(count "$db" user/42/inbox)" = 3
check "default for the rest: user/7/inbox keeps 10" test "$(count "$db" user/7/inbox)" = 10
check "the newest rows are the ones kept" test "$(q "$db" "SELECT min(data) FROM events WHERE channel = 'user/42/inbox'")" = "row 28"
check "per-channel report line" grep -qx "user/42/inbox: deleted 27 through id 92 (rule 'user/42/\*', line 4)" "$tmp/out"
check "summary line" grep -qE "^deleted 67 events of 6 channels \(6 with a rule\) in [0-9]+ transactions, the longest [0-9]+\.[0-9]{3} ms$" "$tmp/out"
sl prune "$db" --rules "$tmp/rules.conf"
check "a second run deletes nothing" grep -qE "^deleted 0 events of 6 channels" "$tmp/out"

# Per channel, how far back a client can still resume without a gap.
sl stats "$db" --json
printf '%s' "$out" >"$tmp/stats.json"
check "stats: resume horizon per channel" python3 - "$tmp/stats.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
ch = {c["name"]: c for c in d["channels"]}
# The worker also reports a gap below the log's lowest id (11): a
# deletion made before schema 3 recorded nothing per channel.
assert ch["audit"]["resume_after"] == 10, ch["audit"]
assert ch["news"]["resume_after"] == 10, ch["news"]           # ids 1..10 went
assert ch["orders:1"]["resume_after"] == 50, ch["orders:1"]
assert ch["orders:2"]["resume_after"] == 10, ch["orders:2"]
assert ch["user/42/inbox"]["resume_after"] == 92, ch["user/42/inbox"]
assert ch["user/42/inbox"]["oldest_id"] == 93, ch["user/42/inbox"]
PY
sl stats "$db"
check "stats text: resumes after" grep -qE "^  user/42/inbox +rows 3, last id 95, resumes after id 92, oldest event [0-9T:.-]+Z$" "$tmp/out"

# --- errors ---

printf '*  keep 10\norders:* older-than 1week\n' >"$tmp/bad.conf"
sl prune "$db" --rules "$tmp/bad.conf"
check "a bad rule exits 2 and names file and line" test "$rc" = 2 -a "$err" = "sselite prune: $tmp/bad.conf:2: older-than '1week' is not a duration: use e.g. 90s, 30m, 12h, 7d, 500ms or plain seconds"
printf 'user/4* keep 1\n' >"$tmp/bad.conf"
sl prune "$db" --rules "$tmp/bad.conf"
check "a bad pattern exits 2" bash -c '[ "$0" = 2 ] && grep -q "bad.conf:1: pattern '"'"'user/4\*'"'"' is not valid" "$1"' "$rc" "$tmp/err"
sl prune "$db" --rules "$tmp/rules.conf" --keep 1
check "--rules with --keep exits 2" test "$rc" = 2
sl prune "$db" --rules "$tmp/rules.conf" --batch 0
check "--batch 0 exits 2" test "$rc" = 2

# --- WAL and file size ---

vdb="$tmp/vacuum.db"
"$SSELITE" init "$vdb" >/dev/null
q "$vdb" "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 5000)
    INSERT INTO events(channel, data) SELECT 'c' || (i % 5), printf('%0400d', i) FROM n"
printf '* keep 10\n' >"$tmp/keep10.conf"
size0=$(file_size "$vdb")
sl prune "$vdb" --rules "$tmp/keep10.conf"
check "prune truncates the WAL" test "$rc" = 0 -a "$(file_size "$vdb-wal")" = 0
size1=$(file_size "$vdb")
check "without --vacuum the file keeps its size (free pages are reused)" test "$size1" -ge "$size0"
q "$vdb" "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 4000)
    INSERT INTO events(channel, data) SELECT 'c' || (i % 5), printf('%0400d', i) FROM n"
check "new rows reuse the freed pages: the file does not grow" test "$(file_size "$vdb")" -le "$size1"
sl prune "$vdb" --rules "$tmp/keep10.conf" --vacuum
check "--vacuum gives the space back" test "$rc" = 0 -a "$(file_size "$vdb")" -lt $((size1 / 4))

# --- measured: bounded transactions do not hold up publishers ---

# measure DB PRUNE_ARGS...: fills DB with 200,000 rows, then prunes while
# a publisher inserts every 2 ms and a reader polls; prints
# "publish_max_ms read_max_ms inserts prune_seconds".
measure() {
    local mdb=$1
    shift
    rm -f "$mdb" "$mdb-wal" "$mdb-shm"
    "$SSELITE" init "$mdb" >/dev/null
    q "$mdb" "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 200000)
        INSERT INTO events(channel, data) SELECT 'bulk' || (i % 4), printf('%0100d', i) FROM n"
    python3 - "$mdb" "$tmp/measure.prune" "$SSELITE" prune "$mdb" "$@" <<'PY'
import sqlite3, subprocess, sys, threading, time
db, log, cmd = sys.argv[1], sys.argv[2], sys.argv[3:]
stop = threading.Event()
res = {"pub": 0.0, "read": 0.0, "n": 0}
def publisher():
    con = sqlite3.connect(db, timeout=10, isolation_level=None)
    while not stop.is_set():
        t = time.monotonic()
        con.execute("INSERT INTO events(channel, data) VALUES ('live', 'x')")
        res["pub"] = max(res["pub"], time.monotonic() - t)
        res["n"] += 1
        time.sleep(0.002)
def reader():
    con = sqlite3.connect(db, timeout=10, isolation_level=None)
    while not stop.is_set():
        t = time.monotonic()
        con.execute("SELECT id, data FROM events WHERE channel = 'live'"
                    " ORDER BY id DESC LIMIT 5").fetchall()
        res["read"] = max(res["read"], time.monotonic() - t)
        time.sleep(0.005)
ts = [threading.Thread(target=f) for f in (publisher, reader)]
for t in ts:
    t.start()
time.sleep(0.2)
t0 = time.monotonic()
with open(log, "w") as out:
    subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT, timeout=120)
secs = time.monotonic() - t0
time.sleep(0.1)
stop.set()
for t in ts:
    t.join(30)
print("%.1f %.1f %d %.2f" % (res["pub"] * 1000, res["read"] * 1000, res["n"], secs))
PY
}

printf '* keep 100\n' >"$tmp/keep100.conf"
read -r pub_b read_b n_b secs_b < <(measure "$tmp/m1.db" --rules "$tmp/keep100.conf")
pub_b=${pub_b:-999}; read_b=${read_b:-999}; n_b=${n_b:-0}
echo "# rules (1000 rows per transaction): 199,600 rows in ${secs_b}s; publisher waited at most ${pub_b} ms, reader ${read_b} ms; $(grep -o 'the longest.*' "$tmp/measure.prune")"
read -r pub_o read_o n_o secs_o < <(measure "$tmp/m2.db" --keep 400)
echo "# --keep (one transaction): ${secs_o}s; publisher waited at most ${pub_o} ms, reader ${read_o} ms"
check "rules: every row beyond keep went" test "$(q "$tmp/m1.db" "SELECT count(*) FROM events WHERE channel LIKE 'bulk%'")" = 400
# One transaction held publishers for 700 ms here; batches of 1000 rows
# (about 15 ms each) for 20-100 ms, the rest being SQLite's busy-handler
# back-off steps and WAL checkpoints. The bound leaves room for a loaded CI.
check "rules: a publisher never waited 400 ms or more (measured ${pub_b} ms)" python3 -c "import sys; sys.exit(not float('$pub_b') < 400)"
check "rules: the publisher kept publishing during the prune ($n_b inserts)" test "$n_b" -gt 20
check "readers never wait (WAL; measured ${read_b} ms)" python3 -c "import sys; sys.exit(not float('$read_b') < 400)"

echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
