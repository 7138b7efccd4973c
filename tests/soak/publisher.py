#!/usr/bin/env python3
# publisher.py - one of the soak's publisher processes: plain INSERTs into
# the events table, as README "Publishing from any language" shows, paced at
# --rate rows a second, until SIGTERM or --seconds.
# SPDX-License-Identifier: MIT
#
# Most rows are one autocommit INSERT; some transactions (BEGIN IMMEDIATE)
# insert 2-4 rows on mixed channels. Each committed row is recorded as
# "id channel crc" (crc: what a subscriber must see, checks.event_crc) in
# OUT.ids; rows of a failed transaction are not recorded (they were not
# committed). OUT.json gets the totals at exit.
#
# Usage: publisher.py DB OUT --index N --seed S --rate R --seconds T --channels a,b,...

import argparse
import json
import os
import random
import signal
import sqlite3
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from checks import event_crc  # noqa: E402

ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789 {}:,\"-_é漢😀"
stop = False


def on_term(signum, frame):
    global stop
    stop = True


def payload(rng, index, seq):
    """A payload of varied size and shape: mostly small JSON-like text, some
    multi-line (with empty lines and leading spaces, which the encoding must
    keep), a few of several KiB, and now and then an empty one."""
    head = "p%d s%d " % (index, seq)
    r = rng.random()
    if r < 0.01:
        return ""
    if r < 0.80:
        n = rng.randint(20, 200)
    elif r < 0.95:
        lines = [" " * rng.randint(0, 2) + "".join(rng.choices(ALPHABET, k=rng.randint(0, 80)))
                 for _ in range(rng.randint(2, 12))]
        return head + "\n".join(lines)
    else:
        n = rng.randint(2048, 16384)
    return head + "".join(rng.choices(ALPHABET, k=n))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("db")
    ap.add_argument("out")
    ap.add_argument("--index", type=int, required=True)
    ap.add_argument("--seed", type=int, required=True)
    ap.add_argument("--rate", type=float, required=True)
    ap.add_argument("--seconds", type=float, required=True)
    ap.add_argument("--channels", required=True)
    a = ap.parse_args()
    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    rng = random.Random(a.seed)
    channels = a.channels.split(",")
    types = [None, "", "tick", "update", "price.change"]
    rows = txs = errors = seq = 0
    last_error = None
    end = time.monotonic() + a.seconds
    next_t = time.monotonic()
    last_flush = 0.0
    con = sqlite3.connect(a.db, timeout=10, isolation_level=None)
    with open(a.out + ".ids", "w") as out:
        while not stop and time.monotonic() < end:
            n = 1 if rng.random() < 0.7 else rng.randint(2, 4)
            batch = []
            for _ in range(n):
                seq += 1
                batch.append((rng.choice(channels), rng.choice(types), payload(rng, a.index, seq)))
            ids = []
            try:
                if n > 1:
                    con.execute("BEGIN IMMEDIATE")
                for ch, ty, data in batch:
                    ids.append(con.execute("INSERT INTO events(channel, event, data) VALUES (?, ?, ?)",
                                           (ch, ty, data)).lastrowid)
                if n > 1:
                    con.execute("COMMIT")
            except sqlite3.Error as e:
                errors += 1
                last_error = str(e)
                if con.in_transaction:
                    con.execute("ROLLBACK")
                ids = []
            if ids:
                txs += 1
                rows += len(ids)
                for eid, (ch, ty, data) in zip(ids, batch):
                    out.write("%d %s %d\n" % (eid, ch, event_crc(ty, data)))
            now = time.monotonic()
            if now - last_flush >= 1.0:
                out.flush()
                last_flush = now
            # Pacing to the target rate, not synchronisation.
            next_t += n / a.rate * rng.uniform(0.5, 1.5)
            if next_t > now:
                time.sleep(min(next_t - now, 1.0))
            else:
                next_t = now
    con.close()
    with open(a.out + ".json", "w") as f:
        json.dump({"rows": rows, "transactions": txs, "errors": errors, "last_error": last_error}, f)
    return 0


if __name__ == "__main__":
    sys.exit(main())
