#!/usr/bin/env bash
# run.sh - the sselite server suite: the same cases against lighttpd (worker
# spawned, and standalone), Apache mod_fcgid, Apache mod_proxy_fcgi and
# nginx, each started by hand from the files in deploy/.
# Last line: "N passed, N failed".
# SPDX-License-Identifier: MIT
#
# Usage: tests/servers/run.sh [PATTERN...]   (e.g. nginx, "c. ", apache-fcgid:)
# Environment: SSELITE_FCGI, SSELITE_CLI (default: the built tree), LIGHTTPD,
# APACHE2, APACHE_MODULES, NGINX, PYTHON, SSELITE_IT_KEEP=1 (keep temp dirs).
# Needs root (Apache and nginx drop their children to www-data). Every
# process it starts, and every child of those, is killed by PID at the end
# of its case, on exit and on SIGINT/SIGTERM/SIGHUP.
set -u
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
export SSELITE_FCGI="${SSELITE_FCGI:-$repo/fcgi/sselite-fcgi}"
export SSELITE_CLI="${SSELITE_CLI:-$repo/tools/sselite}"
exec "${PYTHON:-python3}" "$here/run.py" "$@"
