#!/usr/bin/env bash
# run.sh - the sselite integration suite: sselite-fcgi behind a real lighttpd,
# real SQLite files, real clients. Last line: "N passed, N failed".
# SPDX-License-Identifier: MIT
#
# Usage: tests/integration/run.sh [PATTERN...]
# Environment: SSELITE_FCGI (default <repo>/fcgi/sselite-fcgi), SSELITE_CLI
# (default <repo>/tools/sselite), LIGHTTPD, PYTHON, SSELITE_IT_KEEP=1 (keep temp dirs).
# The Python runner tracks and kills, by PID, every process it starts (also
# on SIGINT/SIGTERM/SIGHUP), so nothing is left listening.
set -u
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
export SSELITE_FCGI="${SSELITE_FCGI:-$repo/fcgi/sselite-fcgi}"
export SSELITE_CLI="${SSELITE_CLI:-$repo/tools/sselite}"
exec "${PYTHON:-python3}" "$here/run.py" "$@"
