#!/usr/bin/env bash
# run.sh - the HTTP/2 suite: each server's HTTP/2-with-TLS recipe
# (deploy/http2/) in headless Chromium, ten streams on one origin, against
# the HTTP/1.1 limit. Last line "N passed, N failed".
# SPDX-License-Identifier: MIT
#
# Usage: tests/http2/run.sh [PATTERN...]
# Needs: a built tree, root, lighttpd (+ lighttpd-mod-openssl,
# lighttpd-mod-deflate), apache2, libapache2-mod-fcgid, nginx, openssl,
# node >= 18 and Debian's chromium; playwright-core from tests/browser
# (installed there with npm ci when missing).
set -u
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
export SSELITE_FCGI="${SSELITE_FCGI:-$repo/fcgi/sselite-fcgi}"
export SSELITE_CLI="${SSELITE_CLI:-$repo/tools/sselite}"
bash "$repo/tests/browser/npm-ci.sh" || { echo "0 passed, 1 failed"; exit 1; }
exec python3 "$here/run.py" "$@"
