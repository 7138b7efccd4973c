#!/usr/bin/env python3
# publisher.py - publishes one demo event per second into an sselite database.
# SPDX-License-Identifier: MIT
#
# Usage: publisher.py DB [--channel demo] [--interval 1.0] [--count N]
#
# Shows what any publisher does: a plain INSERT into events(channel, event,
# data), one short transaction per event, with a busy timeout so that a
# moment of contention waits instead of failing. Event types rotate through
# "tick", "message" and "multi-line"; "multi-line" events, and every 10th
# event, carry a payload of several lines (one with nothing on it), which
# reaches the browser as one "data:" line per line. Runs until killed
# (SIGTERM or SIGINT end it cleanly) or until --count events are published.
"""Publish demo events into an sselite database."""

import argparse
import json
import pathlib
import signal
import sqlite3
import sys
import time

TYPES = ("tick", "message", "multi-line")


def payload(n, kind, now):
    """Returns the data of event number n of type kind, published at now."""
    stamp = time.strftime("%H:%M:%S", time.localtime(now))
    if kind == "multi-line" or n % 10 == 0:
        return "\n".join([
            f"event #{n}, published at {stamp}",
            "a payload of several lines:",
            "",
            "the line above is empty, and still arrives",
        ])
    return json.dumps({"n": n, "time": stamp, "type": kind})


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("db", help="database created with `sselite init`")
    ap.add_argument("--channel", default="demo")
    ap.add_argument("--interval", type=float, default=1.0,
                    help="seconds between events (default 1)")
    ap.add_argument("--count", type=int, default=0,
                    help="stop after this many events (default 0: never)")
    args = ap.parse_args()

    stop = False

    def on_signal(_signo, _frame):
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    try:
        # Opening read-write without create: a missing or uninitialised
        # database is an error here, not a new empty file.
        uri = pathlib.Path(args.db).absolute().as_uri() + "?mode=rw"
        db = sqlite3.connect(uri, uri=True,
                             timeout=5.0, isolation_level=None)
        db.execute("SELECT 1 FROM events LIMIT 1")
    except sqlite3.Error as e:
        print(f"publisher: {args.db}: {e} (run `sselite init {args.db}`)",
              file=sys.stderr)
        return 1

    n = 0
    next_at = time.monotonic()
    while not stop and (args.count == 0 or n < args.count):
        n += 1
        kind = TYPES[(n - 1) % len(TYPES)]
        try:
            db.execute("INSERT INTO events(channel, event, data) "
                       "VALUES (?, ?, ?)",
                       (args.channel, kind, payload(n, kind, time.time())))
        except sqlite3.Error as e:
            # A locked or briefly missing database is worth a line, not an
            # exit: the demo goes on with the next event.
            print(f"publisher: event #{n} not published: {e}",
                  file=sys.stderr)
        next_at += args.interval
        delay = next_at - time.monotonic()
        if delay > 0 and not stop:
            time.sleep(delay)
        elif delay < -args.interval:
            next_at = time.monotonic()  # fell behind: do not burst
    db.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
