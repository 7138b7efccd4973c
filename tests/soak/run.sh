#!/usr/bin/env bash
# run.sh - the sselite soak: lighttpd in front of two sselite-fcgi workers,
# 8 publishers and browser-like subscribers on a real SQLite file for a
# bounded time, with connects, disconnects, slow readers, resumes from old
# ids, kill -9 of a worker, lighttpd restarts and pruning; then exact
# sequences and flat worker resources are checked. Last line:
# "N passed, N failed". Not part of CI at its default length (10 minutes);
# CI runs --duration 60 (tests/run-all.sh). See RELIABILITY.md, "Soak".
# SPDX-License-Identifier: MIT
#
# Usage: tests/soak/run.sh [--duration SECONDS] [--out DIR] [--seed N] [--rate ROWS/S]
# Environment: SSELITE_FCGI, SSELITE_CLI, LIGHTTPD, PYTHON (as the
# integration suite). Output (samples.csv, summary.md, logs, the database)
# goes to DIR, by default tests/out/soak-DATE.
set -u
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
export SSELITE_FCGI="${SSELITE_FCGI:-$repo/fcgi/sselite-fcgi}"
export SSELITE_CLI="${SSELITE_CLI:-$repo/tools/sselite}"
exec "${PYTHON:-python3}" "$here/soak.py" "$@"
