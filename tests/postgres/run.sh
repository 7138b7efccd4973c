#!/usr/bin/env bash
# run.sh - the sselite PostgreSQL suite: the event log in a real PostgreSQL 15
# (a primary, and a streaming hot standby), started by the suite as an
# unprivileged user in a temporary directory, behind real workers and
# lighttpd. Last line: "N passed, N failed".
# SPDX-License-Identifier: MIT
#
# Usage: tests/postgres/run.sh [PATTERN...]
# Needs (Debian 12): postgresql (15), libpq-dev, python3-psycopg2, lighttpd.
# Environment: as tests/integration/run.sh (SSELITE_FCGI, SSELITE_CLI,
# LIGHTTPD, SSELITE_IT_KEEP=1), PGBIN (default /usr/lib/postgresql/15/bin),
# PYTHON (default: Debian's /usr/bin/python3, which has psycopg2).
set -u
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
export SSELITE_FCGI="${SSELITE_FCGI:-$repo/fcgi/sselite-fcgi}"
export SSELITE_CLI="${SSELITE_CLI:-$repo/tools/sselite}"
py="${PYTHON:-/usr/bin/python3}"
[ -x "$py" ] || py=python3
exec "$py" "$here/run.py" "$@"
