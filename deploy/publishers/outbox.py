#!/usr/bin/env python3
# outbox.py - publish an event in the same transaction as the application's
# own change (the outbox idiom), from Python. The "orders" table stands for
# the application's data; it lives in the same SQLite file as the event log
# (sselite init leaves other tables alone). Either both rows commit, or
# neither: a rolled-back order never reaches a browser.
# SPDX-License-Identifier: MIT
#
# Usage: outbox.py DB ORDER_ID TOTAL [--fail]
# Stores the order and its "order-created" event on channel "orders" and
# prints the event's id. --fail raises an error after both INSERTs, before
# COMMIT, as a failing application would: the transaction is rolled back.

import json
import sqlite3
import sys


def create_order(con, order_id, total, fail=False):
    con.execute("BEGIN IMMEDIATE")
    try:
        con.execute("INSERT INTO orders(id, total) VALUES (?, ?)", (order_id, total))
        key = "order-%d-created" % order_id
        con.execute("INSERT INTO events(channel, event, data, idem_key) VALUES (?, ?, ?, ?)"
                    " ON CONFLICT DO NOTHING",
                    ("orders", "order-created", json.dumps({"id": order_id, "total": total}), key))
        (eid,) = con.execute("SELECT id FROM events WHERE channel = 'orders' AND idem_key = ?",
                             (key,)).fetchone()
        if fail:
            raise RuntimeError("simulated failure before COMMIT")
        con.execute("COMMIT")
        return eid
    except BaseException:
        con.execute("ROLLBACK")
        raise


def main():
    db, order_id, total = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    con = sqlite3.connect(db, timeout=5, isolation_level=None)
    try:
        con.execute("CREATE TABLE IF NOT EXISTS orders (id INTEGER PRIMARY KEY, total INTEGER NOT NULL)")
        print(create_order(con, order_id, total, fail="--fail" in sys.argv[4:]))
    finally:
        con.close()


if __name__ == "__main__":
    main()
