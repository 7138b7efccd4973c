#!/bin/sh
# publish.sh - publish events to an sselite event log from the shell with
# `sselite publish` (installed with sselite; SSELITE=path overrides).
# SPDX-License-Identifier: MIT
#
# Usage: publish.sh DB CHANNEL COUNT NAME
# Publishes COUNT events of type "update" to CHANNEL; event i has the data
# and the idempotency key NAME-i. Prints each event's id on its own line; a
# retry with the same NAME prints the same ids and stores nothing new.
#
# sselite publish waits up to 5 s for a locked database
# (SSELITE_BUSY_TIMEOUT_MS), publishes in one short transaction, prints the
# id, and exits 1 (with a message on stderr) if the event was not stored.
set -eu
db=$1 channel=$2 count=$3 name=$4
i=1
while [ "$i" -le "$count" ]; do
    "${SSELITE:-sselite}" publish "$db" --channel "$channel" --event update \
        --data "$name-$i" --idem-key "$name-$i"
    i=$((i + 1))
done
