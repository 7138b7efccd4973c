#!/usr/bin/env bash
# tests/package/run.sh - the Debian package, from a clean tree to a live
# stream and back to nothing.
# SPDX-License-Identifier: MIT
#
# Builds the package from the repository's tracked files (as a clean clone
# has them) with `dpkg-buildpackage -us -uc -b`, runs lintian (no errors),
# installs it with apt-get, checks what it put where, then follows
# debian/sselite.README.Debian: the worker started exactly as its systemd
# units say (socket owner and mode, user, group, umask, ExecStartPre; CI runs
# no systemd, so systemd-socket-activate and setpriv stand in), lighttpd
# with `lighty-enable-mod sselite`, Apache with `a2enmod proxy_fcgi
# setenvif && a2enconf sselite`, each server run from Debian's own
# configuration on a free loopback port, and an event streamed through each.
# A publisher that is only in group sselite must be able to publish. Then
# remove (the snippets get disabled), purge (the event log is kept, and the
# user that owns it), the operator's `rm -r /var/lib/sselite && userdel
# sselite`, and a second install and purge without a log (the user goes
# too); each time nothing the package made may be left.
#
# Needs root; installs and purges the package "sselite" on this machine and
# enables (then disables again) proxy_fcgi and fastcgi in the system's
# Apache and lighttpd. Run by tests/run-all.sh. Last line "N passed, N failed".
set -u

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
pass=0
fail=0
ok() { pass=$((pass + 1)); echo "ok - $1"; }
not_ok() {
    fail=$((fail + 1)); echo "not ok - $1"
    [ -n "${2:-}" ] && printf '%s\n' "$2" | sed 's/^/#   /'
    return 0
}
check() { local n=$1; shift; if "$@"; then ok "$n"; else not_ok "$n"; fi; }
finish() { echo "$pass passed, $fail failed"; [ "$fail" = 0 ]; exit $?; }

if [ "$(id -u)" != 0 ]; then
    not_ok "runs as root (it installs a package)"; finish
fi
for t in dpkg-buildpackage lintian apt-get lighttpd apache2 lighty-enable-mod a2enconf \
    systemd-socket-activate setpriv curl python3 systemd-analyze; do
    command -v "$t" >/dev/null || { not_ok "tool $t is installed"; finish; }
done

tmp=$(mktemp -d /tmp/sselite-package.XXXXXX) || exit 1
chmod 755 "$tmp"
pids=()
cleanup() {
    local p
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
    for p in "${pids[@]}"; do wait "$p" 2>/dev/null; done
    rm -f /run/sselite.sock
    rm -rf "$tmp"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# wait_for SECONDS COMMAND...: polls every 50 ms.
wait_for() {
    local n=$(($1 * 20)); shift
    while [ "$n" -gt 0 ]; do "$@" && return 0; sleep 0.05; n=$((n - 1)); done
    return 1
}

# unit_value FILE KEY: the last KEY= of a unit file.
unit_value() { sed -n "s/^$2=//p" "$1" | tail -1; }

# The places a package or its maintainer scripts write to, as a list of
# paths (contents of dpkg's database and logs change by design).
snapshot() {
    find /etc /lib/systemd /usr /var/lib /var/www -xdev \
        -path /var/lib/dpkg -prune -o -path /var/lib/apt -prune -o \
        -path /var/lib/ucf -prune -o -path /var/lib/systemd/deb-systemd-helper-masked -prune -o \
        -path /var/lib/man-db -prune -o \
        -regex '/etc/\(passwd\|group\|shadow\|gshadow\|subuid\|subgid\)-' -prune -o -print 2>/dev/null | sort
    ls /run/sselite.sock 2>/dev/null
    getent passwd sselite
    getent group sselite
}

# leftovers NAME: compares with the snapshot taken before the install.
# Apache's own empty bookkeeping directories (made by a2enconf, a2dismod
# and its maintainer-script helper the first time they are used) are not
# the package's.
leftovers() {
    snapshot >"$tmp/after"
    local d
    d=$(diff "$tmp/before" "$tmp/after" | grep -v -E '^> /var/lib/apache2/(conf|module)/(enabled|disabled)_by_(admin|maint)$' |
        grep -E '^[<>]')
    if [ -z "$d" ]; then ok "$1"; else not_ok "$1" "$(echo "$d" | head -20)"; fi
}

# A package from an earlier, interrupted run would spoil the comparison.
if dpkg-query -W -f='${Status}' sselite 2>/dev/null | grep -qv 'not-installed'; then
    echo "# purging an sselite package left from before"
    DEBIAN_FRONTEND=noninteractive apt-get purge -y -q sselite >/dev/null 2>&1
    rm -rf /var/lib/sselite; userdel sselite 2>/dev/null; groupdel sselite 2>/dev/null
fi

phase() { echo "# $1 ($SECONDS s)"; }

# --- build and lint ---

src="$tmp/src"
mkdir -p "$src"
if git -C "$repo" rev-parse --git-dir >/dev/null 2>&1; then
    # Tracked (and new, not ignored) files: what a clean clone holds.
    git -C "$repo" ls-files -co --exclude-standard -z | tar -C "$repo" --null -T - -cf - | tar -C "$src" -xf -
else
    tar -C "$repo" --exclude=./.git --exclude=./tests/out -cf - . | tar -C "$src" -xf -
fi
# The unit tests run in their own suites; here only the packaging counts.
(cd "$src" && DEB_BUILD_OPTIONS="nocheck parallel=$(nproc)" dpkg-buildpackage -us -uc -b) >"$tmp/build.log" 2>&1
rc=$?
deb=$(ls "$tmp"/sselite_*_*.deb 2>/dev/null | head -1)
if [ "$rc" = 0 ] && [ -n "$deb" ]; then ok "dpkg-buildpackage -us -uc -b builds $(basename "$deb")"
else not_ok "dpkg-buildpackage -us -uc -b" "$(tail -20 "$tmp/build.log")"; finish; fi

lintian --fail-on error "$tmp"/sselite_*.changes >"$tmp/lintian.log" 2>&1
rc=$?
sed -n 's/^\([EW]\): /# lintian \1: /p' "$tmp/lintian.log"
# The warnings kept on purpose are listed in debian/README.source.
check "lintian: no errors" test "$rc" = 0 -a -z "$(grep '^E:' "$tmp/lintian.log")"
unexpected=$(grep '^W:' "$tmp/lintian.log" | grep -v 'non-standard-apache2-configuration-name sselite-fcgid.conf')
check "lintian: no warning but those listed in debian/README.source" test -z "$unexpected"

# --- install ---
phase install

snapshot >"$tmp/before"
ln_enabled() { [ -L "$1" ]; }
lighttpd_fastcgi_was=$(ls /etc/lighttpd/conf-enabled/10-fastcgi.conf 2>/dev/null)
apache_mods_were=$(ls /etc/apache2/mods-enabled/ | tr '\n' ' ')

cp "$deb" "$tmp/pkg.deb"
chmod 644 "$tmp/pkg.deb"  # apt's sandbox user reads the file
DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$tmp/pkg.deb" >"$tmp/install.log" 2>&1
check "apt-get install ./sselite_*.deb" test "$?" = 0
for f in /usr/bin/sselite /usr/sbin/sselite-fcgi /usr/share/man/man1/sselite.1.gz \
    /usr/share/man/man8/sselite-fcgi.8.gz /usr/share/sselite/001-events.sql \
    /lib/systemd/system/sselite.socket /lib/systemd/system/sselite.service \
    /lib/systemd/system/sselite-prune.service /lib/systemd/system/sselite-prune.timer \
    /usr/lib/sysusers.d/sselite.conf /usr/lib/tmpfiles.d/sselite.conf \
    /etc/sselite/retention.conf /etc/lighttpd/conf-available/50-sselite.conf \
    /etc/lighttpd/conf-available/50-sselite-spawn.conf /etc/apache2/conf-available/sselite.conf \
    /etc/apache2/conf-available/sselite-fcgid.conf /etc/nginx/snippets/sselite.conf \
    /usr/share/doc/sselite/README.Debian.gz; do
    [ -e "$f" ] || not_ok "installed: $f"
done
ok "installed: programs, man pages, schema, units, sysusers, tmpfiles, rules, snippets, README.Debian"
check "user and group sselite exist (sysusers.d)" bash -c 'getent passwd sselite >/dev/null && getent group sselite >/dev/null'
check "/var/lib/sselite is 2770 sselite:sselite (tmpfiles.d)" test "$(stat -c '%a %U:%G' /var/lib/sselite)" = "2770 sselite:sselite"
check "no snippet is enabled" bash -c '! ls /etc/lighttpd/conf-enabled/*sselite* /etc/apache2/conf-enabled/*sselite* 2>/dev/null | grep -q .'
check "the socket is not enabled" test ! -e /etc/systemd/system/sockets.target.wants/sselite.socket
check "the retention timer is enabled" test -L /etc/systemd/system/timers.target.wants/sselite-prune.timer
systemd-analyze verify /lib/systemd/system/sselite.socket /lib/systemd/system/sselite.service \
    /lib/systemd/system/sselite-prune.service /lib/systemd/system/sselite-prune.timer >"$tmp/verify.log" 2>&1
# Without a running systemd, verify cannot look up man: pages; only those
# lines are allowed.
check "systemd-analyze verify: the installed units" test -z "$(grep -v "Command 'man " "$tmp/verify.log")"
check "the prune service runs 'sselite prune' on the unit's database" \
    test "$(unit_value /lib/systemd/system/sselite-prune.service ExecStart)" = '/usr/bin/sselite prune ${SSELITE_DB}'

# --- the worker, as the units start it ---
phase worker

svc=/lib/systemd/system/sselite.service
sock=/lib/systemd/system/sselite.socket
listen=$(unit_value $sock ListenStream)
db=$(unit_value $svc Environment | sed -n 's/^SSELITE_DB=//p')
user=$(unit_value $svc User)
group=$(unit_value $svc Group)
umask_=$(unit_value $svc UMask)
pre=$(unit_value $svc ExecStartPre)
start=$(unit_value $svc ExecStart)
check "units: socket $listen, database $db, user $user:$group, umask $umask_" \
    test -n "$listen" -a -n "$db" -a "$user" = sselite -a "$group" = sselite -a "$umask_" = 0007
# as_unit COMMAND: COMMAND (with ${SSELITE_DB}) as the service's user, group
# and umask, in its environment.
as_unit() {
    SSELITE_DB=$db setpriv --reuid="$user" --regid="$group" --init-groups -- \
        sh -c "umask $umask_ && exec $1"
}
as_unit "$pre" >"$tmp/pre.log" 2>&1
check "ExecStartPre creates the database" test -f "$db"
check "the database is 0660 in group sselite" test "$(stat -c '%a %G' "$db")" = "660 sselite"
systemd-socket-activate -l "$listen" -- setpriv --reuid="$user" --regid="$group" --init-groups -- \
    sh -c "umask $umask_ && exec env SSELITE_DB=$db $start" >"$tmp/worker.log" 2>&1 &
pids+=($!)
wait_for 5 test -S "$listen"
chown "$(unit_value $sock SocketUser):$(unit_value $sock SocketGroup)" "$listen"
chmod "$(unit_value $sock SocketMode)" "$listen"
check "socket $listen is $(unit_value $sock SocketMode) www-data" test "$(stat -c '%a %U' "$listen")" = "660 www-data"

# A publisher that is in group sselite and nothing else.
gid=$(getent group sselite | cut -d: -f3)
setpriv --reuid=65534 --regid="$gid" --clear-groups -- sh -c "umask 022 && sselite publish $db --channel pkg --data first" >"$tmp/pub.log" 2>&1
check "a publisher only in group sselite can publish" test "$(cat "$tmp/pub.log")" = 1

# stream NAME PORT: opens /events?channel=pkg through the server on PORT,
# publishes an event and checks that it arrives.
stream() {
    local out="$tmp/stream-$1" data="hello through $1"
    curl -sN --max-time 15 "http://127.0.0.1:$2/events?channel=pkg" >"$out" 2>&1 &
    local c=$!
    if ! wait_for 10 grep -q '^retry:' "$out"; then
        kill "$c" 2>/dev/null; wait "$c" 2>/dev/null
        not_ok "$1: the stream starts" "$(head -c 600 "$out")"; return
    fi
    sselite publish "$db" --channel pkg --data "$data" >/dev/null
    if wait_for 10 grep -qx "data: $data" "$out"; then ok "$1: a published event arrives on the stream"
    else not_ok "$1: a published event arrives on the stream" "$(head -c 600 "$out")"; fi
    kill "$c" 2>/dev/null; wait "$c" 2>/dev/null
}

# --- lighttpd, as README.Debian says ---

lighty-enable-mod sselite >"$tmp/lighty.log" 2>&1
check "lighty-enable-mod sselite" test -L /etc/lighttpd/conf-enabled/50-sselite.conf
lport=$(free_port)
mkdir -p "$tmp/lighttpd"
chown www-data "$tmp/lighttpd"  # lighttpd opens its log as www-data
# Debian's lighttpd.conf unchanged but for port, pid file and log.
sed -e "s|^server.port .*|server.port = $lport\nserver.bind = \"127.0.0.1\"|" \
    -e "s|^server.pid-file .*|server.pid-file = \"$tmp/lighttpd/pid\"|" \
    -e "s|^server.errorlog .*|server.errorlog = \"$tmp/lighttpd/error.log\"|" \
    -e 's|^include_shell "/usr/share/lighttpd/use-ipv6.pl.*||' \
    /etc/lighttpd/lighttpd.conf >"$tmp/lighttpd/lighttpd.conf"
lighttpd -D -f "$tmp/lighttpd/lighttpd.conf" >"$tmp/lighttpd/out.log" 2>&1 &
lpid=$!
pids+=($lpid)
if wait_for 10 curl -s -o /dev/null "http://127.0.0.1:$lport/"; then
    stream lighttpd "$lport"
else
    not_ok "lighttpd starts with the snippet enabled" "$(cat "$tmp/lighttpd/out.log" "$tmp/lighttpd/error.log" 2>/dev/null | tail -5)"
fi
kill "$lpid" 2>/dev/null; wait "$lpid" 2>/dev/null

# --- Apache with mod_proxy_fcgi, as README.Debian says ---

a2enmod -q proxy_fcgi setenvif >"$tmp/a2.log" 2>&1 && a2enconf -q sselite >>"$tmp/a2.log" 2>&1
check "a2enmod proxy_fcgi setenvif && a2enconf sselite" test -L /etc/apache2/conf-enabled/sselite.conf
aport=$(free_port)
cp -a /etc/apache2 "$tmp/apache2"
echo "Listen 127.0.0.1:$aport" >"$tmp/apache2/ports.conf"
mkdir -p "$tmp/apache-run" "$tmp/apache-log"
APACHE_RUN_USER=www-data APACHE_RUN_GROUP=www-data APACHE_PID_FILE="$tmp/apache-run/pid" \
    APACHE_RUN_DIR="$tmp/apache-run" APACHE_LOCK_DIR="$tmp/apache-run" APACHE_LOG_DIR="$tmp/apache-log" \
    apache2 -d "$tmp/apache2" -f "$tmp/apache2/apache2.conf" -D FOREGROUND >"$tmp/apache-log/out.log" 2>&1 &
apid=$!
pids+=($apid)
if wait_for 10 curl -s -o /dev/null "http://127.0.0.1:$aport/"; then
    stream apache-proxy_fcgi "$aport"
else
    not_ok "Apache starts with the snippet enabled" "$(cat "$tmp/apache-log/"*.log | tail -5)"
fi
kill -TERM "$apid" 2>/dev/null; wait "$apid" 2>/dev/null

# The retention timer's command, as its unit runs it.
as_unit "$(unit_value /lib/systemd/system/sselite-prune.service ExecStart)" >"$tmp/prune.log" 2>&1
check "sselite-prune.service's command applies /etc/sselite/retention.conf" grep -q '^deleted 0 events of 1 channels (1 with a rule)' "$tmp/prune.log"

# Stop the worker, as `apt remove` stops the units.
for p in "${pids[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
pids=()
rm -f "$listen"

# --- remove, purge ---
phase remove

DEBIAN_FRONTEND=noninteractive apt-get remove -y -q sselite >"$tmp/remove.log" 2>&1
check "apt-get remove" test "$?" = 0
check "remove disables the enabled snippets" bash -c '! ls /etc/lighttpd/conf-enabled/*sselite* /etc/apache2/conf-enabled/*sselite* 2>/dev/null | grep -q .'
check "remove keeps the conffiles and the log" test -f /etc/sselite/retention.conf -a -f "$db"
DEBIAN_FRONTEND=noninteractive apt-get purge -y -q sselite >"$tmp/purge.log" 2>&1
check "apt-get purge" test "$?" = 0
check "purge keeps the event log" test -f "$db"
check "purge keeps the user that owns it, and says so" bash -c 'getent passwd sselite >/dev/null && grep -q "kept /var/lib/sselite" "$0"' "$tmp/purge.log"
check "purge removes /etc/sselite and the snippets" bash -c '! ls -d /etc/sselite /etc/*/conf-available/*sselite* /etc/nginx/snippets/sselite.conf 2>/dev/null | grep -q .'

# What the test itself enabled, an operator would disable.
[ -n "$lighttpd_fastcgi_was" ] || lighty-disable-mod fastcgi >/dev/null 2>&1
for m in proxy_fcgi proxy setenvif; do
    case " $apache_mods_were " in *" $m.load "*) ;; *) a2dismod -q -f "$m" >/dev/null 2>&1 ;; esac
done
for d in conf module; do
    rm -f /var/lib/apache2/$d/enabled_by_admin/sselite /var/lib/apache2/$d/enabled_by_admin/proxy_fcgi \
        /var/lib/apache2/$d/enabled_by_admin/proxy /var/lib/apache2/$d/disabled_by_admin/proxy_fcgi \
        /var/lib/apache2/$d/disabled_by_admin/proxy /var/lib/apache2/$d/disabled_by_admin/setenvif
done
# README.Debian: to remove the log too.
rm -r /var/lib/sselite && userdel sselite 2>/dev/null
getent group sselite >/dev/null && groupdel sselite
leftovers "after purge and removing the log, nothing is left"

# --- install and purge without a log: the user goes too ---
phase reinstall

DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$tmp/pkg.deb" >>"$tmp/install.log" 2>&1 &&
    DEBIAN_FRONTEND=noninteractive apt-get purge -y -q sselite >>"$tmp/purge.log" 2>&1
check "install, then purge with no log" test "$?" = 0
leftovers "a purge with no log leaves nothing, user and group included"

finish
