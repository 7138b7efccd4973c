#!/usr/bin/env bash
# test_cli.sh - end-to-end tests of the sselite command-line tool.
# SPDX-License-Identifier: MIT
#
# Runs the built tool against real SQLite files in a fresh temporary
# directory and checks what it wrote with other clients (the sqlite3 CLI and
# python3's sqlite3 module), as a publisher or operator would.
#
#   SSELITE=path/to/sselite   the binary (default: tools/sselite under the
#                             repository root)
#   SSELITE_WRAPPER="valgrind -q --error-exitcode=99 --leak-check=full"
#                             runs every sselite command through a wrapper
#
# Each check prints "ok - NAME" or "not ok - NAME"; the last line is
# "N passed, N failed" and the exit status is 1 if any check failed.
set -u

top=$(cd "$(dirname "$0")/../.." && pwd)
SSELITE=${SSELITE:-$top/tools/sselite}
read -r -a WRAP <<<"${SSELITE_WRAPPER:-}"

pass=0
fail=0
tmp=$(mktemp -d "${TMPDIR:-/tmp}/sselite-cli.XXXXXX") || exit 1
holder_pid=
cleanup() {
    if [ -n "$holder_pid" ]; then
        kill "$holder_pid" 2>/dev/null
        wait "$holder_pid" 2>/dev/null
    fi
    rm -rf "$tmp"
}
trap cleanup EXIT

ok() {
    pass=$((pass + 1))
    echo "ok - $1"
}

# not_ok NAME [DETAIL]
not_ok() {
    fail=$((fail + 1))
    echo "not ok - $1"
    if [ -n "${2:-}" ]; then
        printf '%s\n' "$2" | sed 's/^/#   /'
    fi
}

# check NAME COMMAND...: ok when COMMAND succeeds.
check() {
    local name=$1
    shift
    if "$@"; then ok "$name"; else not_ok "$name"; fi
}

# sl ARGS...: runs sselite; stdout, stderr and status land in $out, $err,
# $rc (stdout kept byte for byte in $tmp/out).
sl() {
    "${WRAP[@]}" "$SSELITE" "$@" >"$tmp/out" 2>"$tmp/err"
    rc=$?
    out=$(cat "$tmp/out")
    err=$(cat "$tmp/err")
}

# sl_in FILE ARGS...: as sl, with FILE on standard input.
sl_in() {
    local file=$1
    shift
    "${WRAP[@]}" "$SSELITE" "$@" <"$file" >"$tmp/out" 2>"$tmp/err"
    rc=$?
    out=$(cat "$tmp/out")
    err=$(cat "$tmp/err")
}

# expect NAME WANT_RC WANT_STDOUT: checks the last sl run; stderr must be
# empty on success.
expect() {
    if [ "$rc" = "$2" ] && [ "$out" = "$3" ] && { [ "$2" != 0 ] || [ -z "$err" ]; }; then
        ok "$1"
    else
        not_ok "$1" "status $rc (want $2), stdout '$out' (want '$3'), stderr '$err'"
    fi
}

# expect_error NAME WANT_RC STDERR_PATTERN: a failure with exactly one line
# on stderr that starts with "sselite" and matches the (grep -E) pattern,
# and nothing on stdout.
expect_error() {
    local lines
    lines=$(wc -l <"$tmp/err")
    if [ "$rc" = "$2" ] && [ -z "$out" ] && [ "$lines" = 1 ] &&
        grep -qE "^sselite.*$3" "$tmp/err"; then
        ok "$1"
    else
        not_ok "$1" "status $rc (want $2), stdout '$out', stderr ($lines lines): $err"
    fi
}

q() { sqlite3 -bail -cmd '.timeout 5000' "$@"; }

# hex FILE: the file's bytes as upper-case hex, as SQLite's hex() gives.
hex() { od -An -v -tx1 "$1" | tr -d ' \n' | tr 'a-f' 'A-F'; }

# wait_for COMMAND...: polls COMMAND every 20 ms for up to 10 s.
wait_for() {
    local i
    for ((i = 0; i < 500; i++)); do
        "$@" && return 0
        sleep 0.02
    done
    return 1
}

# hold MODE DB: a python3 connection to DB that, with MODE "write", sits
# inside BEGIN IMMEDIATE, and with "read" is open and idle after one read
# (so the WAL stays after other connections close). Held until release
# (at most 20 s). Returns once the hold is in place.
hold() {
    rm -f "$tmp/held" "$tmp/release"
    python3 - "$1" "$2" "$tmp/held" "$tmp/release" <<'PY' &
import os, sqlite3, sys, time
mode, db, held, release = sys.argv[1:5]
con = sqlite3.connect(db, timeout=5, isolation_level=None)
if mode == "write":
    con.execute("BEGIN IMMEDIATE")
else:
    con.execute("SELECT count(*) FROM events").fetchall()
open(held, "w").close()
deadline = time.monotonic() + 20
while not os.path.exists(release) and time.monotonic() < deadline:
    time.sleep(0.01)
con.close()
PY
    holder_pid=$!
    wait_for test -e "$tmp/held"
}

release() {
    touch "$tmp/release"
    wait "$holder_pid"
    holder_pid=
}

file_size() { stat -c %s "$1"; }

# new_db NAME: an initialised log at $tmp/NAME; prints the path.
new_db() {
    "$SSELITE" init "$tmp/$1" >/dev/null && printf '%s' "$tmp/$1"
}

if [ ! -x "$SSELITE" ]; then
    echo "not ok - sselite binary at $SSELITE (build it first, or set SSELITE)"
    echo "0 passed, 1 failed"
    exit 1
fi

# --- help, version, usage errors ---

sl --version
check "--version prints the version" test "$rc" = 0 -a -n "$(grep -E '^sselite [0-9]' "$tmp/out")"
sl --help
check "--help lists every command" \
    bash -c '[ "$0" = 0 ] && for c in init publish prune tail stats; do grep -q "^  $c " "$1" || exit 1; done' "$rc" "$tmp/out"
sl
check "no arguments is a usage error" test "$rc" = 2 -a -s "$tmp/err"
sl frobnicate x.db
expect_error "unknown command exits 2" 2 "unknown command 'frobnicate'"
for c in init publish prune tail stats; do
    sl "$c" --help
    check "$c --help" test "$rc" = 0 -a "$(head -n 1 "$tmp/out" | cut -d ' ' -f 1-3)" = "Usage: sselite $c"
    sl help "$c"
    check "help $c" test "$rc" = 0 -a "$(head -n 1 "$tmp/out" | cut -d ' ' -f 1-3)" = "Usage: sselite $c"
done
sl publish
expect_error "publish without DB exits 2" 2 "missing DB"
sl publish a.db b.db
expect_error "publish with two DBs exits 2" 2 "unexpected argument 'b.db'"
sl publish "$tmp/x.db" --bogus
expect_error "unknown option exits 2" 2 "unknown option '--bogus'"
sl publish "$tmp/x.db" --channel
expect_error "option without value exits 2" 2 "'--channel' needs a value"
sl stats "$tmp/x.db" --json=1
expect_error "flag with a value exits 2" 2 "takes no value"

# --- init ---

# The schema version this build writes (lib/admin.h).
sv=$(sed -n 's/^#define SSE_SCHEMA_VERSION \([0-9]*\)$/\1/p' "$top/lib/admin.h")

db="$tmp/events.db"
sl init "$db"
expect "init creates a new log" 0 "created $db (schema version $sv)"
check "init sets schema version $sv" test "$(q "$db" 'PRAGMA user_version')" = "$sv"
check "init sets WAL mode" test "$(q "$db" 'PRAGMA journal_mode')" = wal
# The mode of a new log follows the umask (SQLite alone makes 0644 files,
# and gives -wal and -shm the same mode): under the unit's UMask=0007 the
# group of publishers must be able to write all three.
gdb="$tmp/group.db"
(umask 0007 && "$SSELITE" init "$gdb" >/dev/null && "$SSELITE" publish "$gdb" --data x >/dev/null &&
    python3 - "$gdb" >"$tmp/modes" <<'PY') || true
import os, sqlite3, sys
db = sys.argv[1]
con = sqlite3.connect(db)  # open, so -wal and -shm exist while we look
con.execute("SELECT count(*) FROM events").fetchall()
print(" ".join(oct(os.stat(db + s).st_mode & 0o777)[2:] for s in ("", "-wal", "-shm")))
PY
check "under umask 0007 init makes the log 0660 (and -wal, -shm follow)" test "$(cat "$tmp/modes" 2>/dev/null)" = "660 660 660"
(umask 0022 && "$SSELITE" init "$tmp/u22.db" >/dev/null)
check "under umask 0022 init makes the log 0644" test "$(stat -c '%a' "$tmp/u22.db")" = 644
sl init "$db"
expect "init again is a no-op" 0 "$db is up to date (schema version $sv)"

v1="$tmp/v1.db"
q "$v1" <"$top/schema/001-events.sql" && q "$v1" "PRAGMA user_version = 1;
    INSERT INTO events(channel, data) VALUES ('old', 'kept');"
sl init "$v1"
expect "init upgrades a v1 log" 0 "upgraded $v1 from schema version 1 to $sv"
check "upgrade adds the id guard and keeps rows" test \
    "$(q "$v1" "SELECT (SELECT count(*) FROM sqlite_master WHERE name = 'events_id_guard') || '/' || (SELECT data FROM events)")" = "1/kept"
check "upgrade switches to WAL" test "$(q "$v1" 'PRAGMA journal_mode')" = wal

# A version 2 log (as sselite with the id guard left it) with a pruned head:
# sqlite_sequence (4) above max(id) (3).
v2="$tmp/v2.db"
cat "$top/schema/001-events.sql" "$top/schema/002-id-guard.sql" | q "$v2" && q "$v2" "PRAGMA user_version = 2;
    INSERT INTO events(channel, event, data) VALUES ('old', 'e', 'one'), ('old', NULL, 'two'), ('x', NULL, 'three'), ('x', NULL, 'four');
    DELETE FROM events WHERE id = 4"
sl init "$v2"
expect "init upgrades a v2 log" 0 "upgraded $v2 from schema version 2 to $sv"
check "v2 upgrade keeps rows and sequence" test \
    "$(q "$v2" "SELECT group_concat(id || data, ',') || '/' || (SELECT seq FROM sqlite_sequence WHERE name = 'events') FROM events")" = "1one,2two,3three/4"
check "upgraded v2 log refuses an id past 18 digits" bash -c \
    'case "$(sqlite3 -bail "$0" "INSERT INTO events(id, data) VALUES (1000000000000000000, '\''big'\'')" 2>&1)" in
    *"sselite: events.id must be at most 999999999999999999"*) exit 0;; esac; exit 1' "$v2"
check "upgraded v2 log refuses NUL in a channel" \
    bash -c '! sqlite3 -bail "$0" "INSERT INTO events(channel, data) VALUES ('\''a'\'' || char(0) || '\''b'\'', '\''x'\'')" 2>/dev/null' "$v2"
check "upgraded v2 log goes on from the sequence" test \
    "$(q "$v2" "INSERT INTO events(data) VALUES ('five') RETURNING id")" = 5

# Version 2 let an explicit id of 10^18 in; init says how to repair that.
v2big="$tmp/v2big.db"
cat "$top/schema/001-events.sql" "$top/schema/002-id-guard.sql" | q "$v2big" && q "$v2big" "PRAGMA user_version = 2;
    INSERT INTO events(data) VALUES ('ok');
    INSERT INTO events(id, data) VALUES (1000000000000000000, 'unresumable')"
sl init "$v2big"
expect_error "init refuses a log with ids past 18 digits" 1 "ids above 999999999999999999, which no client can resume from"
check "refused log stays at version 2" test "$(q "$v2big" 'PRAGMA user_version')" = 2
q "$v2big" "DELETE FROM events WHERE id > 999999999999999999;
    UPDATE sqlite_sequence SET seq = (SELECT coalesce(max(id), 0) FROM events) WHERE name = 'events'"
sl init "$v2big"
expect "init after the README's repair" 0 "upgraded $v2big from schema version 2 to $sv"

newer="$tmp/newer.db"
q "$newer" <"$top/schema/001-events.sql" && q "$newer" "PRAGMA user_version = 99"
sl init "$newer"
expect_error "init refuses a newer schema" 1 "99"
check "refused log keeps its version" test "$(q "$newer" 'PRAGMA user_version')" = 99

app="$tmp/app.db"
q "$app" "CREATE TABLE orders (id INTEGER PRIMARY KEY); INSERT INTO orders DEFAULT VALUES"
sl init "$app"
expect "init adds the log to an existing database" 0 "initialised $app (schema version $sv)"
check "existing tables are kept" test "$(q "$app" 'SELECT count(*) FROM orders')" = 1

printf 'plain text, not a database, long enough for a header ..................................................' >"$tmp/text.db"
sl init "$tmp/text.db"
expect_error "init on a non-database exits 1" 1 "not a database"
sl init "$tmp/no/such/dir/x.db"
expect_error "init in a missing directory exits 1" 1 "database error"

# --- publish ---

sl publish "$db" --data hello
expect "publish --data prints id 1" 0 "1"
sl publish "$db" --channel news --event update --data '{"n":1}'
expect "publish to a channel prints id 2" 0 "2"
check "publish stores channel, type, data" test \
    "$(q "$db" "SELECT channel || '|' || event || '|' || data FROM events WHERE id = 2")" = 'news|update|{"n":1}'
sl publish "$db" --channel=news --event= --data=x=y
expect "--name=value forms" 0 "3"
check "empty --event stores no type" test "$(q "$db" "SELECT event IS NULL FROM events WHERE id = 3")" = 1

# CR, CRLF, LF, blank lines, leading spaces, a 4-byte emoji, a final LF.
printf 'first\r\nsecond\rthird\n\n  indented\n\n\n\xf0\x9f\x98\x80 end\n' >"$tmp/payload"
sl_in "$tmp/payload" publish "$db" --channel bytes
expect "publish from stdin prints id 4" 0 "4"
check "stdin data is stored byte for byte" test \
    "$(q "$db" 'SELECT hex(data) FROM events WHERE id = 4')" = "$(hex "$tmp/payload")"
check "stdin data is stored as text" test "$(q "$db" 'SELECT typeof(data) FROM events WHERE id = 4')" = text
sl publish "$db" --data "$(printf 'a\r\nb\n c')"
check "--data with line breaks is stored exactly" test \
    "$(q "$db" "SELECT hex(data) FROM events WHERE id = $out")" = "$(printf 'a\r\nb\n c' >"$tmp/p2"; hex "$tmp/p2")"
: >"$tmp/empty"
sl_in "$tmp/empty" publish "$db"
expect "publish empty stdin" 0 "6"
check "empty data is stored as ''" test "$(q "$db" "SELECT quote(data) FROM events WHERE id = 6")" = "''"

sl publish "$db" --channel 'a b' --data x
expect_error "bad channel exits 2" 2 "channel 'a b' is not valid: use 1-128 of A-Z a-z 0-9 _ \. : / @ -$"
check "bad channel message is exact" test \
    "$err" = "sselite publish: channel 'a b' is not valid: use 1-128 of A-Z a-z 0-9 _ . : / @ -"
sl publish "$db" --channel "$(printf 'x%.0s' $(seq 129))" --data x
expect_error "129-byte channel exits 2" 2 "is not valid"
sl publish "$db" --event "$(printf 'a\nb')" --data x
expect_error "event type with a line break exits 2" 2 "event type 'a\\\\x0Ab' is not valid"
# Event types are counted in bytes: 64 x "é" is 128 bytes, 65 are 130.
e64=$(printf '\xc3\xa9%.0s' $(seq 64))
sl publish "$db" --event "$(printf '\xc3\xa9%.0s' $(seq 65))" --data x
expect_error "a 130-byte event type exits 2" 2 "event type '.*' is not valid: use at most 128 bytes"
head -c $((4 * 1024 * 1024 + 1)) /dev/zero | tr '\0' d >"$tmp/big"
sl_in "$tmp/big" publish "$db"
expect_error "4 MiB + 1 of data exits 2" 2 "larger than 4194304 bytes"
check "refused publishes wrote nothing" test "$(q "$db" 'SELECT count(*) FROM events')" = 6
sl publish "$db" --event "$e64" --data x
expect "a 128-byte event type is accepted" 0 7
head -c $((4 * 1024 * 1024)) "$tmp/big" >"$tmp/max"
sl_in "$tmp/max" publish "$db"
expect "4 MiB of data is accepted" 0 8
check "the 4 MiB are stored" test "$(q "$db" 'SELECT length(data) FROM events WHERE id = 8')" = 4194304

sl publish "$tmp/missing.db" --data x
expect_error "publish to a missing DB exits 1" 1 "no such file"
check "publish does not create a missing DB" test ! -e "$tmp/missing.db"
q "$tmp/uninit.db" "CREATE TABLE other (x)"
sl publish "$tmp/uninit.db" --data x
expect_error "publish to an uninitialised DB exits 1" 1 "not initialised"
sl publish "$tmp/text.db" --data x
expect_error "publish to a non-database exits 1" 1 "not a database"

hold write "$db"
SSELITE_BUSY_TIMEOUT_MS=200 sl publish "$db" --data locked
release
expect_error "publish to a locked DB exits 1 after the busy timeout" 1 "locked"
SSELITE_BUSY_TIMEOUT_MS=soon sl publish "$db" --data x
expect_error "bad SSELITE_BUSY_TIMEOUT_MS exits 2" 2 "SSELITE_BUSY_TIMEOUT_MS 'soon'"

# --- publish --idem-key (schema version 5) ---

idb="$tmp/idem.db"
sl init "$idb"
sl publish "$idb" --channel orders --data first --idem-key order-7
expect "publish --idem-key prints the new id" 0 1
sl publish "$idb" --channel orders --data other
sl publish "$idb" --channel orders --data retry --idem-key order-7
expect "a retry with the same key prints the first id, exit 0" 0 1
check "the retried event is stored once, with its first data" test \
    "$(q "$idb" "SELECT count(*) || data FROM events WHERE idem_key = 'order-7'")" = 1first
sl publish "$idb" --channel audit --data x --idem-key=order-7
check "the same key in another channel is a new event" test "$out" -gt 2
sl publish "$idb" --data x --idem-key ''
expect_error "an empty key exits 2" 2 "idempotency key '' is not valid"
sl publish "$idb" --data x --idem-key "$(printf 'k%.0s' $(seq 129))"
expect_error "a 129-byte key exits 2" 2 "use 1 to 128 bytes"
next=$(($(q "$idb" "SELECT seq FROM sqlite_sequence WHERE name = 'events'") + 1))
sl publish "$idb" --data x --idem-key "$(printf 'k%.0s' $(seq 128))"
expect "a 128-byte key is accepted" 0 "$next"
check "raw INSERT ... ON CONFLICT DO NOTHING with a known key stores nothing" test \
    "$(q "$idb" "INSERT INTO events(channel, data, idem_key) VALUES ('orders', 'raw', 'order-7') ON CONFLICT DO NOTHING;
        SELECT count(*) FROM events WHERE idem_key = 'order-7' AND channel = 'orders'")" = 1
# Logs of the two versions before idempotency keys: init adds them, and
# keeps what each version refuses (NUL in a channel: version 3).
for v in 3 4; do
    old="$tmp/v$v.db"
    for f in "$top"/schema/00[1-$v]-*.sql; do cat "$f"; done | q "$old" &&
        q "$old" "PRAGMA user_version = $v; INSERT INTO events(data) VALUES ('old')"
    sl publish "$old" --data x --idem-key k
    expect_error "publish --idem-key to a v$v log says to run init" 1 "upgrade it with sselite init"
    sl init "$old"
    expect "init upgrades a v$v log" 0 "upgraded $old from schema version $v to $sv"
    sl publish "$old" --data x --idem-key k
    expect "the upgraded v$v log takes keys" 0 2
    check "the upgraded v$v log keeps its limits" \
        bash -c '! sqlite3 -bail "$0" "INSERT INTO events(channel, data) VALUES ('\''a'\'' || char(0) || '\''b'\'', '\''x'\'')" 2>/dev/null' "$old"
done

# --- publishers in other languages (as the README shows them) ---

head=$(q "$db" "SELECT seq FROM sqlite_sequence WHERE name = 'events'")
py_id=$(python3 - "$db" <<'PY'
import sqlite3, sys
con = sqlite3.connect(sys.argv[1], timeout=5)
with con:
    eid = con.execute(
        "INSERT INTO events(channel, event, data) VALUES (?, ?, ?) RETURNING id",
        ("news", "update", '{"from":"python"}')).fetchone()[0]
con.close()
print(eid)
PY
)
check "python3 sqlite3 publishes the next id" test "$py_id" = $((head + 1))
sh_id=$(sqlite3 -bail -cmd '.timeout 5000' "$db" \
    "INSERT INTO events(channel, event, data) VALUES ('news', 'update', '{\"from\":\"sqlite3\"}') RETURNING id;")
check "sqlite3 CLI publishes the next id" test "$sh_id" = $((head + 2))
sl publish "$db" --channel news --data after
expect "sselite publish continues the sequence" 0 "$((head + 3))"
guard=$(python3 - "$db" <<'PY' 2>&1
import sqlite3, sys
con = sqlite3.connect(sys.argv[1], timeout=5)
try:
    with con:
        con.execute("INSERT INTO events(id, data) VALUES (1, 'late')")
    print("inserted")
except sqlite3.IntegrityError as e:
    print(e)
PY
)
check "an explicit id at or below the head is refused" \
    bash -c 'case "$0" in *"events.id must be left to SQLite"*) exit 0;; esac; exit 1' "$guard"

# --- tail: exact bytes ---

tdb=$(new_db tail.db)
q "$tdb" "INSERT INTO events(channel, event, data) VALUES
    ('a', NULL, 'hello'),
    ('b', 'up', 'x' || char(13, 10) || 'y' || char(13) || 'z' || char(10) || char(10) || ' lead'),
    ('a', '', ''),
    ('a', NULL, 'end' || char(10)),
    ('c', 'note', char(13, 10))"
printf 'id: 1\ndata: hello\n\n' >"$tmp/e1"
printf 'id: 2\nevent: up\ndata: x\ndata: y\ndata: z\ndata: \ndata:  lead\n\n' >"$tmp/e2"
printf 'id: 3\ndata: \n\n' >"$tmp/e3"
printf 'id: 4\ndata: end\ndata: \n\n' >"$tmp/e4"
printf 'id: 5\nevent: note\ndata: \ndata: \n\n' >"$tmp/e5"
cat "$tmp"/e[12345] >"$tmp/want"
sl tail "$tdb"
check "tail prints every event byte for byte" cmp -s "$tmp/out" "$tmp/want"
cat "$tmp"/e[134] >"$tmp/want"
sl tail "$tdb" --channel a
check "tail --channel a" cmp -s "$tmp/out" "$tmp/want"
sl tail "$tdb" --channel a --channel c --after 2
cat "$tmp"/e[345] >"$tmp/want"
check "tail with several channels and --after" cmp -s "$tmp/out" "$tmp/want"
sl tail "$tdb" --limit 2
cat "$tmp"/e[12] >"$tmp/want"
check "tail --limit" cmp -s "$tmp/out" "$tmp/want"
sl tail "$tdb" --after 5
check "tail after the head prints nothing" test "$rc" = 0 -a ! -s "$tmp/out"
sl tail "$tdb" --channel 'no good'
expect_error "tail with a bad channel exits 2" 2 "channel 'no good' is not valid"
sl tail "$tdb" --after -1
expect_error "tail --after -1 exits 2" 2 "--after '-1' is not valid"
sl tail "$tdb" --limit 0
expect_error "tail --limit 0 exits 2" 2 "--limit '0' is not valid"
sl tail "$tdb" --timeout 1
expect_error "tail --timeout without --follow exits 2" 2 "only applies with --follow"
sl tail "$tmp/missing.db"
expect_error "tail of a missing DB exits 1" 1 "no such file"

# A type the schema refuses (CR), from a hand-edited table: the worker sends
# the event as "message", and tail prints it the same way (one encoder).
bdb=$(new_db badtype.db)
q "$bdb" "PRAGMA ignore_check_constraints = 1; DROP TRIGGER events_limits_insert;
    INSERT INTO events(channel, event, data) VALUES ('a', 'bad' || char(13) || 'type', 'kept'),
    ('a', 'fine', 'next')"
printf 'id: 1\ndata: kept\n\nid: 2\nevent: fine\ndata: next\n\n' >"$tmp/want"
sl tail "$bdb"
check "tail prints a row with a CR in its type as a message event" \
    bash -c '[ "$0" = 0 ] && cmp -s "$1" "$2"' "$rc" "$tmp/out" "$tmp/want"
check "tail warns about the dropped type" \
    bash -c 'grep -q "invalid type" "$0"' "$tmp/err"

# --- tail --follow ---

# A marker row proves the follower is in its poll loop before the insert.
follow_pickup() { # NAME INSERT-COMMAND...
    local name=$1 head pid
    shift
    head=$(q "$tdb" "SELECT seq FROM sqlite_sequence WHERE name = 'events'")
    rm -f "$tmp/follow"
    "${WRAP[@]}" "$SSELITE" tail "$tdb" --after "$head" --follow --limit 2 --timeout 20 \
        >"$tmp/follow" 2>"$tmp/follow.err" &
    pid=$!
    "$SSELITE" publish "$tdb" --data marker >/dev/null
    if ! wait_for grep -q marker "$tmp/follow"; then
        kill "$pid"
        wait "$pid"
        not_ok "$name" "the follower never printed the marker"
        return
    fi
    "$@"
    wait "$pid"
    local frc=$?
    printf 'id: %d\ndata: marker\n\nid: %d\nevent: live\ndata: one\ndata: two\n\n' \
        $((head + 1)) $((head + 2)) >"$tmp/want"
    if [ "$frc" = 0 ] && cmp -s "$tmp/follow" "$tmp/want"; then
        ok "$name"
    else
        not_ok "$name" "status $frc; got: $(cat -A "$tmp/follow"); stderr: $(cat "$tmp/follow.err")"
    fi
}
py_insert() {
    python3 - "$tdb" <<'PY'
import sqlite3, sys
con = sqlite3.connect(sys.argv[1], timeout=5)
with con:
    con.execute("INSERT INTO events(channel, event, data) VALUES (?, ?, ?)",
                ("a", "live", "one\ntwo"))
con.close()
PY
}
cli_insert() {
    sqlite3 -bail -cmd '.timeout 5000' "$tdb" \
        "INSERT INTO events(channel, event, data) VALUES ('b', 'live', 'one' || char(13, 10) || 'two');"
}
follow_pickup "tail --follow picks up a python3 insert" py_insert
follow_pickup "tail --follow picks up a sqlite3 CLI insert" cli_insert

start=$(date +%s%N)
sl tail "$tdb" --after 999 --follow --timeout 300ms
elapsed_ms=$(( ($(date +%s%N) - start) / 1000000 ))
check "tail --follow --timeout ends on time with status 0" \
    test "$rc" = 0 -a ! -s "$tmp/out" -a "$elapsed_ms" -ge 300 -a "$elapsed_ms" -lt 5000

# A non-interactive shell starts background jobs with SIGINT ignored, and
# an ignored SIGINT stays ignored; env restores the default first.
for sig in TERM INT; do
    rm -f "$tmp/sig"
    env --default-signal=INT "${WRAP[@]}" "$SSELITE" tail "$tdb" --follow --timeout 20 >"$tmp/sig" 2>&1 &
    pid=$!
    # Rows on stdout mean the initial read is done and signals are blocked
    # (the file is removed first: the child's redirection recreates it).
    wait_for test -s "$tmp/sig"
    start=$(date +%s%N)
    kill -s "$sig" "$pid"
    wait "$pid"
    src=$?
    elapsed_ms=$(( ($(date +%s%N) - start) / 1000000 ))
    check "tail --follow ends cleanly on SIG$sig" test "$src" = 0 -a "$elapsed_ms" -lt 5000
done

rdb=$(new_db replaced.db)
"$SSELITE" publish "$rdb" --data x >/dev/null
rm -f "$tmp/rep"
"${WRAP[@]}" "$SSELITE" tail "$rdb" --follow --timeout 20 >"$tmp/rep" 2>"$tmp/rep.err" &
pid=$!
wait_for test -s "$tmp/rep"
rm -f "$rdb" "$rdb-wal" "$rdb-shm"
wait "$pid"
check "tail --follow stops with status 1 when the DB is removed" \
    test "$?" = 1 -a "$(cat "$tmp/rep.err")" = "sselite tail: $rdb: the file was replaced or removed; stopping"
sl tail "$tmp/uninit.db"
expect_error "tail of an uninitialised DB exits 1" 1 "not initialised"

# --- prune ---

pdb=$(new_db prune.db)
q "$pdb" "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 10)
    INSERT INTO events(channel, data) SELECT CASE WHEN i % 2 THEN 'odd' ELSE 'even' END, 'row ' || i FROM n"
sl prune "$pdb" --keep 8
expect "prune --keep prints the number deleted" 0 "2"
check "prune --keep left the newest rows" test "$(q "$pdb" "SELECT min(id) || '-' || count(*) FROM events")" = "3-8"
sl prune "$pdb" --keep 2 --channel odd
expect "prune --keep --channel" 0 "2"
check "prune --channel left other channels" test "$(q "$pdb" "SELECT count(*) FROM events WHERE channel = 'even'")" = 4
q "$pdb" "UPDATE events SET created_at = created_at - 2 * 3600 * 1000 WHERE id <= 6"
sl prune "$pdb" --older-than 3h
expect "prune --older-than 3h deletes nothing younger" 0 "0"
sl prune "$pdb" --older-than 90m
expect "prune --older-than 90m" 0 "2"
for d in 90s 30m 12h 7d 500ms 3600; do
    sl prune "$pdb" --older-than "$d"
    check "duration '$d' is accepted" test "$rc" = 0
done
sl prune "$pdb" --older-than 5x
expect_error "bad duration exits 2" 2 "--older-than '5x' is not a duration"
sl prune "$pdb" --rules "$tmp/no-such-rules.conf"
expect_error "prune with a missing rules file exits 1" 1 "no-such-rules.conf: No such file or directory"
sl prune "$pdb" --channel odd
expect_error "prune --channel without a rule exits 2" 2 "--channel needs --keep"
sl prune "$pdb" --keep many
expect_error "prune --keep many exits 2" 2 "--keep 'many' is not valid"
sl prune "$tmp/missing.db" --keep 1
expect_error "prune of a missing DB exits 1" 1 "no such file"
sl prune "$pdb" --keep 0
sl publish "$pdb" --data next
expect "ids are not reused after pruning the newest rows" 0 "11"

# With a reader keeping the WAL alive, prune must truncate it.
hold read "$pdb"
q "$pdb" "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 200)
    INSERT INTO events(data) SELECT printf('%0500d', i) FROM n"
wal_before=$(file_size "$pdb-wal")
sl prune "$pdb" --keep 10
wal_after=$(file_size "$pdb-wal")
release
check "prune checkpoints the WAL (TRUNCATE)" \
    test "$rc" = 0 -a "$out" = 191 -a "$wal_before" -gt 0 -a "$wal_after" = 0

# --- stats ---

sdb=$(new_db stats.db)
q "$sdb" "INSERT INTO events(channel, data) VALUES ('b', '1'), ('a', '2'), ('a', '3'), ('b', '4');
    DELETE FROM events WHERE id = 1;
    UPDATE events SET created_at = 1700000000000 WHERE id = 2;
    UPDATE events SET created_at = 1700000001234 WHERE id = 4"
sl stats "$sdb" --json
printf '%s' "$out" >"$tmp/stats.json"
check "stats --json parses and has the numbers" python3 - "$tmp/stats.json" "$sv" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
assert d["schema_version"] == int(sys.argv[2]), d
assert d["journal_mode"] == "wal", d
assert (d["rows"], d["head_id"], d["oldest_id"]) == (3, 4, 2), d
assert (d["oldest_ms"], d["newest_ms"]) == (1700000000000, 1700000001234), d
assert d["oldest_time"] == "2023-11-14T22:13:20.000Z", d
assert d["newest_time"] == "2023-11-14T22:13:21.234Z", d
assert d["db_bytes"] > 0 and d["wal_bytes"] >= 0, d
# b lost id 1, so a client of b resumes without a gap only after 1.
assert d["channels"] == [
    {"name": "a", "rows": 2, "last_id": 3, "oldest_id": 2,
     "oldest_ms": 1700000000000, "resume_after": 1},
    {"name": "b", "rows": 1, "last_id": 4, "oldest_id": 4,
     "oldest_ms": 1700000001234, "resume_after": 1}], d
PY
sl stats "$sdb"
check "stats text" bash -c 'grep -qx "schema version  $1" "$0" && grep -qx "head id         4" "$0" &&
    grep -qx "oldest event    2023-11-14T22:13:20.000Z" "$0" &&
    grep -qE "^  a +rows 2, last id 3, resumes after id 1, oldest event 2023-11-14T22:13:20.000Z$" "$0"' "$tmp/out" "$sv"
edb=$(new_db empty.db)
sl stats "$edb" --json
printf '%s' "$out" >"$tmp/empty.json"
check "stats --json of an empty log" python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
assert (d["rows"], d["head_id"], d["oldest_id"], d["oldest_time"], d["channels"]) == (0, 0, 1, None, []), d
' "$tmp/empty.json"
sl stats "$v1"
check "stats of an upgraded log" test "$rc" = 0
sl stats "$tmp/missing.db"
expect_error "stats of a missing DB exits 1" 1 "no such file"
sl stats "$tmp/uninit.db"
expect_error "stats of an uninitialised DB exits 1" 1 "not initialised"

echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
