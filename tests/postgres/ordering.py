# ordering.py - the ordering property of the PostgreSQL event log: ids
# become visible in increasing order, so "id > cursor" never misses a row.
# SPDX-License-Identifier: MIT
#
# Writers run many concurrent transactions that insert events, some slowly
# (sleeping between the INSERT and COMMIT), some rolled back, some in
# several statements; a reader polls "id > cursor ORDER BY id" exactly as
# the worker does. At the end every committed id must have been read, none
# twice, and the reader must never have seen an id appear below one it had
# already passed. The same run against a plain bigserial must fail, or the
# test would prove nothing.

import random
import threading
import time

import psycopg2


def run(cluster, schema, seconds=3.0, writers=8, seed=1):
    """Runs the writers and the reader on schema.events; returns a dict:
    committed (ids), seen (ids in the order read), late (ids that appeared
    below the cursor), lost (committed, never read by cursor)."""
    rnd = random.Random(seed)
    stop = threading.Event()
    writers_done = threading.Event()  # the reader's last look comes after
    committed, lock = [], threading.Lock()
    errors = []

    def writer(k):
        r = random.Random(seed * 100 + k)
        try:
            con = cluster.connect(autocommit=False)
            cur = con.cursor()
            while not stop.is_set():
                n = r.choice([1, 1, 1, 2, 3])
                ids = []
                for i in range(n):
                    cur.execute("INSERT INTO %s.events (channel, data) VALUES"
                                " ('order', %%s) RETURNING id" % schema,
                                ("w%d" % k,))
                    ids.append(cur.fetchone()[0])
                    if r.random() < 0.3:
                        time.sleep(r.uniform(0.001, 0.03))  # a slow transaction
                if r.random() < 0.2:
                    con.rollback()
                else:
                    con.commit()
                    with lock:
                        committed.extend(ids)
            con.close()
        except Exception as e:  # reported by the caller
            errors.append(e)

    seen, late = [], []
    def reader():
        try:
            con = cluster.connect()
            cur = con.cursor()
            cursor = 0
            known = set()
            while True:
                final = writers_done.is_set()
                cur.execute("SELECT id FROM %s.events WHERE id > %%s ORDER BY id" % schema,
                            (cursor,))
                for (i,) in cur.fetchall():
                    seen.append(i)
                    known.add(i)
                    cursor = i
                # Any id at or below the cursor that was not read by the
                # cursor appeared late: a resuming client would miss it.
                cur.execute("SELECT id FROM %s.events WHERE id <= %%s" % schema, (cursor,))
                for (i,) in cur.fetchall():
                    if i not in known:
                        late.append(i)
                        known.add(i)
                if final:
                    break
                time.sleep(rnd.uniform(0, 0.002))
            con.close()
        except Exception as e:
            errors.append(e)

    threads = [threading.Thread(target=writer, args=(k,)) for k in range(writers)]
    rt = threading.Thread(target=reader)
    rt.start()
    for t in threads:
        t.start()
    time.sleep(seconds)
    stop.set()
    for t in threads:
        t.join(30)
    writers_done.set()
    rt.join(30)
    if errors:
        raise errors[0]
    lost = sorted(set(committed) - set(seen))
    return {"committed": committed, "seen": seen, "late": late, "lost": lost}


def make_bigserial(cluster, schema):
    """A copy of the log's table with a plain bigserial id: the control."""
    cluster.psql("DROP SCHEMA IF EXISTS %s CASCADE; CREATE SCHEMA %s AUTHORIZATION sse;"
                 "CREATE TABLE %s.events (id bigserial PRIMARY KEY, channel text NOT NULL,"
                 " data text NOT NULL); ALTER TABLE %s.events OWNER TO sse;"
                 "ALTER SEQUENCE %s.events_id_seq OWNER TO sse"
                 % ((schema,) * 5), db="app")
