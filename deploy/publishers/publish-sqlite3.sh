#!/bin/sh
# publish-sqlite3.sh - publish events to an sselite event log from the shell
# with the sqlite3 command-line tool (Debian: sqlite3).
# SPDX-License-Identifier: MIT
#
# Usage: publish-sqlite3.sh DB CHANNEL COUNT NAME
# Publishes COUNT events of type "update" to CHANNEL; event i has the data
# and the idempotency key NAME-i. Prints each event's id on its own line; a
# retry with the same NAME prints the same ids and stores nothing new.
#
# One sqlite3 process runs every event's transaction: .timeout is the busy
# timeout, .bail stops at the first error (the open transaction is then
# rolled back as sqlite3 exits with status 1). The shell has no bound
# parameters, so every value goes through sql_quote.
set -eu
db=$1 channel=$2 count=$3 name=$4

# sql_quote S: S as an SQL string literal ('it''s').
sql_quote() {
    printf "'%s'" "$(printf '%s' "$1" | sed "s/'/''/g")"
}

ch=$(sql_quote "$channel")
{
    echo ".timeout 5000"
    echo ".bail on"
    i=1
    while [ "$i" -le "$count" ]; do
        key=$(sql_quote "$name-$i")
        echo "BEGIN IMMEDIATE;"
        echo "INSERT INTO events(channel, event, data, idem_key)" \
            "VALUES ($ch, 'update', $key, $key) ON CONFLICT DO NOTHING;"
        echo "SELECT id FROM events WHERE channel = $ch AND idem_key = $key;"
        echo "COMMIT;"
        i=$((i + 1))
    done
} | sqlite3 -batch "$db"
