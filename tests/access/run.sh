#!/usr/bin/env bash
# run.sh - the sselite access suite: pattern subscriptions, signed tokens,
# web-server users and grants (issue 8), each case against a real worker,
# lighttpd and SQLite file. Last line: "N passed, N failed".
# SPDX-License-Identifier: MIT
#
# Usage: tests/access/run.sh [PATTERN...]
# Environment: as tests/integration/run.sh (SSELITE_FCGI, SSELITE_CLI,
# LIGHTTPD, PYTHON, SSELITE_IT_KEEP=1).
set -u
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
export SSELITE_FCGI="${SSELITE_FCGI:-$repo/fcgi/sselite-fcgi}"
export SSELITE_CLI="${SSELITE_CLI:-$repo/tools/sselite}"
exec "${PYTHON:-python3}" "$here/run.py" "$@"
