# case_schema.py - reliability cases for the event log's limits (schema
# version 3): ids a browser can resume from (probe D5), NUL and byte counts
# in the CHECKs (D9), and the upgrade of a version 2 log by sselite init.
# SPDX-License-Identifier: MIT
#
# Rows are written as a publisher in another language writes them: Python's
# sqlite3 module, values bound with their lengths (so a NUL reaches SQLite).

import contextlib
import os
import sqlite3

from cases import open_stream, spawned
from harness import CLI, REPO, check, run
from registry import case

# lib/sse_limits.h
ID_MAX = 999999999999999999
CHANNEL_MAX = 128
TYPE_MAX = 128
DATA_MAX = 4 * 1024 * 1024

E_ACUTE = "\u00e9"  # two bytes in UTF-8


def schema_version():
    """The schema version this build writes (SSE_SCHEMA_VERSION)."""
    with open(os.path.join(REPO, "lib", "admin.h")) as f:
        for line in f:
            if line.startswith("#define SSE_SCHEMA_VERSION "):
                return int(line.split()[2])
    raise AssertionError("SSE_SCHEMA_VERSION not found in lib/admin.h")


def insert(db, channel="c", event=None, data="x", id=None):
    """One INSERT in its own transaction; returns the new id, or SQLite's
    message (a str) when the row is refused."""
    cols, vals = ["channel", "event", "data"], [channel, event, data]
    if id is not None:
        cols.insert(0, "id")
        vals.insert(0, id)
    sql = "INSERT INTO events(%s) VALUES (%s)" % (", ".join(cols), ", ".join("?" * len(vals)))
    with contextlib.closing(sqlite3.connect(db, timeout=5)) as con:
        try:
            with con:
                return con.execute(sql, vals).lastrowid
        except sqlite3.Error as e:
            return str(e)


def refused(db, what, **row):
    r = insert(db, **row)
    check(isinstance(r, str) and r.startswith("sselite: "),
          "%s was not refused by the schema's limits (got %r)" % (what, r))
    return r


def accepted(db, what, **row):
    r = insert(db, **row)
    check(isinstance(r, int), "%s was refused: %s" % (what, r))
    return r


def query(db, sql):
    with contextlib.closing(sqlite3.connect(db, timeout=5)) as con:
        return con.execute(sql).fetchall()


def check_limits(db):
    """Every row the protocol cannot carry is refused; the largest allowed
    ones are not. Leaves the accepted rows in db."""
    refused(db, "channel with NUL (GLOB stops there)", channel="ok\0 not a channel")
    refused(db, "channel with NUL", channel="blobch\0zz")
    refused(db, "event type with NUL", event="ok\0x")
    refused(db, "event type with LF after a NUL", event="\0\n")
    refused(db, "%d-byte channel" % (CHANNEL_MAX + 1), channel="x" * (CHANNEL_MAX + 1))
    refused(db, "event type of %d two-byte characters (130 bytes)" % (TYPE_MAX // 2 + 1),
            event=E_ACUTE * (TYPE_MAX // 2 + 1))
    refused(db, "data of 4 MiB + 1 byte", data="d" * (DATA_MAX + 1))
    refused(db, "data of 4 MiB + 1 byte in two-byte characters",
            data=E_ACUTE * (DATA_MAX // 2) + "x")
    accepted(db, "%d-byte channel" % CHANNEL_MAX, channel="x" * CHANNEL_MAX)
    accepted(db, "event type of 128 bytes in two-byte characters", event=E_ACUTE * (TYPE_MAX // 2))
    accepted(db, "data of exactly 4 MiB", data="d" * DATA_MAX)
    accepted(db, "data with NUL (delivered byte for byte)", data="a\0b")
    for bad in (10**18, 2**63 - 1):
        msg = refused(db, "explicit id %d" % bad, id=bad)
        check("at most 999999999999999999" in msg, "id %d refused with %r" % (bad, msg))


@case("d5: explicit ids past 18 digits are refused, and the log goes on")
def t_id_past_18_digits(env):
    env.init_db()
    for bad in (10**18, 2**63 - 1):
        msg = refused(env.db, "explicit id %d" % bad, id=bad)
        check("999999999999999999" in msg, "id %d refused with %r" % (bad, msg))
    # 2^63-1 used to leave SQLite no id to assign ("database or disk is full").
    check(accepted(env.db, "an INSERT after the refused ids") == 1, "ids did not start at 1")
    check(accepted(env.db, "an explicit id of %d" % ID_MAX, id=ID_MAX) == ID_MAX,
          "id %d not stored as given" % ID_MAX)


@case("d5: streams resume from the highest possible id (no 400); no id past it")
def t_resume_from_highest_id(env):
    lt = spawned(env)
    ch = "default"
    accepted(env.db, "an explicit id of %d" % (ID_MAX - 2), id=ID_MAX - 2, channel=ch, data="start")
    ids = [accepted(env.db, "the next id", channel=ch, data="next"),
           accepted(env.db, "the last id", channel=ch, data="last")]
    check(ids == [ID_MAX - 1, ID_MAX], "SQLite assigned %s" % ids)
    # The schema must refuse the id after ID_MAX; version 2 handed out 10^18.
    over = insert(env.db, channel=ch, data="past the last id")
    last = over if isinstance(over, int) else ID_MAX

    c = open_stream(lt.port, headers={"Last-Event-ID": str(ID_MAX - 2)})
    c.wait_id(last)
    c.close()
    check(c.ids()[:2] == ids, "the stream sent ids %s" % c.ids())
    # A browser resumes from the last id it saw, by header; a page by query.
    r = open_stream(lt.port, headers={"Last-Event-ID": c.last_id})
    r.close()
    r = open_stream(lt.port, query="last_event_id=" + c.last_id)
    r.close()
    check(isinstance(over, str) and "last id" in over,
          "an INSERT after id %d was not refused (got %r)" % (ID_MAX, over))
    check(query(env.db, "SELECT max(id), count(*) FROM events") == [(ID_MAX, 3)],
          "the log holds %s" % query(env.db, "SELECT max(id), count(*) FROM events"))


@case("d9: NUL in channel or type is refused; limits are counted in bytes")
def t_nul_and_bytes(env):
    env.init_db()
    check_limits(env.db)
    rows = query(env.db, "SELECT length(CAST(channel AS BLOB)), length(CAST(event AS BLOB)),"
                         " length(CAST(data AS BLOB)) FROM events ORDER BY id")
    check(rows == [(CHANNEL_MAX, None, 1), (1, TYPE_MAX, 1), (1, None, DATA_MAX), (1, None, 3)],
          "stored rows (bytes of channel, type, data): %s" % rows)


@case("d5/d9: sselite init upgrades a version 2 log: same rules, rows and sequence kept")
def t_upgrade_v2(env):
    with contextlib.closing(sqlite3.connect(env.db)) as con:
        for step in ("001-events.sql", "002-id-guard.sql"):
            with open(os.path.join(REPO, "schema", step)) as f:
                con.executescript(f.read())
        con.executescript("PRAGMA user_version = 2;"
                          "INSERT INTO events(channel, event, data) VALUES"
                          " ('a', 'up', 'one'), ('b', NULL, 'two'), ('a', NULL, 'three');"
                          "DELETE FROM events WHERE id = 3;")
    r = run([CLI, "init", env.db])
    check(r.returncode == 0 and r.stdout.strip() == "upgraded %s from schema version 2 to %d" % (env.db, schema_version()),
          "sselite init: status %d, %r %r" % (r.returncode, r.stdout, r.stderr))
    check(query(env.db, "SELECT id, channel, event, data FROM events ORDER BY id")
          == [(1, "a", "up", "one"), (2, "b", None, "two")], "rows changed by the upgrade")
    check(query(env.db, "SELECT seq FROM sqlite_sequence WHERE name = 'events'") == [(3,)],
          "sqlite_sequence changed by the upgrade")
    check(accepted(env.db, "the first INSERT after the upgrade") == 4, "the sequence did not go on")
    refused(env.db, "an explicit id at or below the head", id=2)
    check_limits(env.db)

    # A new log has exactly the same schema objects.
    fresh = env.init_db(env.path("fresh.db"))
    schema = "SELECT type, name, sql FROM sqlite_master WHERE name LIKE 'events%' ORDER BY name"
    check(query(env.db, schema) == query(fresh, schema),
          "an upgraded log's schema differs from a new one's")
