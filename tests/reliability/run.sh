#!/usr/bin/env bash
# run.sh - the sselite reliability suite: regression tests for the defects an
# adversarial probe found (hostile clients, broken rows, resource limits),
# each against a real worker, lighttpd and SQLite file. Last line:
# "N passed, N failed".
# SPDX-License-Identifier: MIT
#
# Usage: tests/reliability/run.sh [PATTERN...]
# Environment: as tests/integration/run.sh (SSELITE_FCGI, SSELITE_CLI,
# LIGHTTPD, PYTHON, SSELITE_IT_KEEP=1).
set -u
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
export SSELITE_FCGI="${SSELITE_FCGI:-$repo/fcgi/sselite-fcgi}"
export SSELITE_CLI="${SSELITE_CLI:-$repo/tools/sselite}"
exec "${PYTHON:-python3}" "$here/run.py" "$@"
