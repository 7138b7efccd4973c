#!/usr/bin/env python3
# publish.py - publish events to an sselite event log from Python (standard
# library sqlite3 module; Debian: python3).
# SPDX-License-Identifier: MIT
#
# Usage: publish.py DB CHANNEL COUNT NAME
# Publishes COUNT events of type "update" to CHANNEL; event i has the data
# and the idempotency key NAME-i. Prints each event's id on its own line.
# Run it again with the same NAME (a retry) and it prints the same ids and
# stores nothing new.

import sqlite3
import sys


def publish(con, channel, event, data, key):
    """Publishes one event in one short write transaction; returns its id,
    or the id of the event already stored under key in channel."""
    con.execute("BEGIN IMMEDIATE")  # take the write lock now (waits up to the busy timeout)
    try:
        con.execute("INSERT INTO events(channel, event, data, idem_key) VALUES (?, ?, ?, ?)"
                    " ON CONFLICT DO NOTHING", (channel, event, data, key))
        (eid,) = con.execute("SELECT id FROM events WHERE channel = ? AND idem_key = ?",
                             (channel, key)).fetchone()
        con.execute("COMMIT")
        return eid
    except BaseException:
        con.execute("ROLLBACK")
        raise


def main():
    db, channel, count, name = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    # timeout: the busy timeout in seconds; isolation_level=None: no implicit
    # transactions, so BEGIN IMMEDIATE ... COMMIT above is the whole story.
    con = sqlite3.connect(db, timeout=5, isolation_level=None)
    try:
        for i in range(1, count + 1):
            key = "%s-%d" % (name, i)
            print(publish(con, channel, "update", key, key), flush=True)
    finally:
        con.close()


if __name__ == "__main__":
    main()
