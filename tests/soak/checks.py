# checks.py - the soak's judgements: the exact-sequence rule for every
# subscriber and the "stayed flat" rules for worker resources, plus a
# self-test that feeds both rules injected faults.
# SPDX-License-Identifier: MIT
#
# The subscriber process writes what each logical subscriber saw as a flat
# int64 array of records of REC values (op, a, b, c, t_ms); t_ms is
# CLOCK_MONOTONIC in milliseconds, which every process on the host shares.
#
#   OP_SESSION  a = resume point (-1: none)     a new session (a browser page)
#   OP_EVENT    a = id (-1: no/invalid id), b = crc32 of "type\0data"
#   OP_GAP      a = requested, b = resumed_after, c = oldest   (reason pruned,
#                                                            id = resumed_after)
#   OP_BADGAP   a = the event id                an sselite-gap of another
#                                               reason, or with bad data
#
# The sequence rule. A session resumed after p must receive, in order, every
# id of its channels above p, each once, across all its reconnections (each
# of which resumes from the last id received, as a browser does). Two things
# may legitimately shorten that sequence, and both need a prune that had
# started before the event that reveals them arrived:
#   - an sselite-gap event (requested = p, resumed_after = a = oldest - 1,
#     oldest <= the oldest id some such prune left): the session continues
#     after a;
#   - a silent skip of ids that such a prune had deleted while the stream was
#     reading its backlog (README "Limits": no second gap event then).
# A session without a resume point starts at the head of the log, which no
# client can know; its sequence is checked from its first event on.

import bisect
import zlib

REC = 5
OP_SESSION, OP_EVENT, OP_GAP, OP_BADGAP = 1, 2, 3, 4


def event_crc(event_type, data):
    """What a subscriber records for an event, from what the publisher
    inserted: type NULL/'' is 'message', data arrives as inserted (the soak
    publishes no CR)."""
    return zlib.crc32(((event_type or "message") + "\0" + data).encode("utf-8"))


class Reference:
    """What was published: channel -> sorted ids, id -> (channel, crc), and
    the prunes as (t_start_ms, oldest id left)."""

    def __init__(self, rows, prunes):
        self.info = {}
        by_channel = {}
        for id, channel, crc in rows:
            self.info[id] = (channel, crc)
            by_channel.setdefault(channel, []).append(id)
        self.by_channel = {ch: sorted(ids) for ch, ids in by_channel.items()}
        self._merged = {}
        self.prune_t = [t for t, _ in sorted(prunes)]
        self.prune_floor = []
        best = 0
        for _, oldest in sorted(prunes):
            best = max(best, oldest)
            self.prune_floor.append(best)

    def merged(self, channels):
        key = tuple(sorted(channels))
        if key not in self._merged:
            ids = []
            for ch in key:
                ids += self.by_channel.get(ch, [])
            self._merged[key] = sorted(ids)
        return self._merged[key]

    def last_id(self, channels):
        ids = self.merged(channels)
        return ids[-1] if ids else 0

    def pruned_below(self, t_ms):
        """Every id below this had been deleted by a prune started at or
        before t_ms (0 if none had started)."""
        i = bisect.bisect_right(self.prune_t, t_ms)
        return self.prune_floor[i - 1] if i else 0


class Verdict:
    def __init__(self):
        self.events = self.gaps = self.skips = self.skipped_ids = 0
        self.sessions = 0
        self.last = None  # the position reached by the last session
        self.errors = []

    def fail(self, msg):
        if len(self.errors) < 5:
            self.errors.append(msg)
        elif len(self.errors) == 5:
            self.errors.append("...")


def verify(ref, channels, log):
    """Checks one logical subscriber's log (a flat sequence of records)
    against the reference; returns a Verdict."""
    v = Verdict()
    chans = set(channels)
    ids = ref.merged(channels)
    p = None
    for i in range(0, len(log), REC):
        op, a, b, c, t = log[i:i + REC]
        if op == OP_SESSION:
            v.sessions += 1
            p = None if a < 0 else a
        elif op == OP_EVENT:
            v.events += 1
            info = ref.info.get(a)
            if info is None:
                v.fail("id %d was never published (after %s)" % (a, p))
                continue
            if info[0] not in chans:
                v.fail("id %d belongs to channel %s, not to %s" % (a, info[0], sorted(chans)))
                continue
            if info[1] != b:
                v.fail("id %d arrived with other type or data than published" % a)
            if p is None:
                p = a
                continue
            if a <= p:
                v.fail("id %d arrived after %d (duplicate or out of order)" % (a, p))
                continue
            k = bisect.bisect_right(ids, p)
            want = ids[k] if k < len(ids) else None
            if a != want:
                missing = ids[k:bisect.bisect_left(ids, a)]
                if missing and missing[-1] < ref.pruned_below(t):
                    v.skips += 1
                    v.skipped_ids += len(missing)
                else:
                    v.fail("after %d: got %d, missed %d ids of the channels (%s%s), not pruned"
                           % (p, a, len(missing), missing[:5], "..." if len(missing) > 5 else ""))
            p = a
        elif op == OP_GAP:
            v.gaps += 1
            if p is None or a != p:
                v.fail("gap for requested %d while the session stood at %s" % (a, p))
            elif not (a < b and c == b + 1 and c <= ref.pruned_below(t)):
                v.fail("unjustified gap: requested %d, resumed_after %d, oldest %d, "
                       "pruned below %d at the time" % (a, b, c, ref.pruned_below(t)))
            p = b
        elif op == OP_BADGAP:
            v.fail("sselite-gap event id %d with another reason than pruned, or bad data" % a)
        else:
            v.fail("unknown record op %d" % op)
    v.last = p
    return v


# ------------------------------------------------------------ flatness

def after_warmup(samples, t0, t1, warmup=0.2):
    """The samples taken after the first `warmup` fraction of [t0, t1]."""
    cut = t0 + warmup * (t1 - t0)
    return [s for s in samples if s["t"] >= cut]


def halves(samples):
    n = len(samples) // 2
    return samples[:n], samples[n:]


def grew(samples, key, factor, slack):
    """None if the later half of samples[key] stays within factor x the
    earlier half's maximum + slack, else a sentence saying how it grew."""
    h1, h2 = halves(samples)
    if not h1 or not h2:
        return None
    m1 = max(s[key] for s in h1)
    m2 = max(s[key] for s in h2)
    if m2 <= factor * m1 + slack:
        return None
    return "%s grew from max %s (first half) to max %s (second half); allowed %.2f x + %s" \
        % (key, m1, m2, factor, slack)


def not_constant(samples, key):
    vals = sorted({s[key] for s in samples})
    return None if len(vals) <= 1 else "%s took the values %s" % (key, vals)


# ------------------------------------------------------------ self-test

def self_test():
    """Feeds the rules correct logs and logs with injected faults; returns
    a list of rules that did not judge as expected (empty: all fine)."""
    rows = [(i, "a" if i % 2 else "b", event_crc(None, "d%d" % i)) for i in range(1, 41)]
    ref = Reference(rows, [(5000, 21)])  # ids 1..20 pruned at t=5 s
    a_ids = [i for i in range(1, 41) if i % 2]

    def log(*recs):
        out = []
        for r in recs:
            out += list(r) + [0] * (REC - len(r))
        return out

    def ev(i, t=0, crc=None):
        return (OP_EVENT, i, event_crc(None, "d%d" % i) if crc is None else crc, 0, t)

    good = log((OP_SESSION, 0), *[ev(i) for i in a_ids])
    cases = [
        ("exact sequence", good, True),
        ("fresh session from its first event", log((OP_SESSION, -1), *[ev(i) for i in a_ids[3:]]), True),
        ("one id missing", log((OP_SESSION, 0), *[ev(i) for i in a_ids if i != 17]), False),
        ("one id twice", log((OP_SESSION, 0), *[ev(i) for i in a_ids[:5] + a_ids[4:]]), False),
        ("out of order", log((OP_SESSION, 0), ev(1), ev(5), ev(3)), False),
        ("foreign channel", log((OP_SESSION, 0), ev(1), ev(2)), False),
        ("unknown id", log((OP_SESSION, 0), ev(1), ev(99)), False),
        ("corrupted data", log((OP_SESSION, 0), ev(1), ev(3, crc=1)), False),
        ("justified gap", log((OP_SESSION, 3), (OP_GAP, 3, 20, 21, 6000), ev(21, 6000), ev(23, 6000)), True),
        ("gap before the prune", log((OP_SESSION, 3), (OP_GAP, 3, 20, 21, 4000), ev(21, 4000)), False),
        ("gap for another resume point", log((OP_SESSION, 3), (OP_GAP, 5, 20, 21, 6000)), False),
        ("gap then a missing id", log((OP_SESSION, 3), (OP_GAP, 3, 20, 21, 6000), ev(23, 6000)), False),
        ("gap of another reason", log((OP_SESSION, 3), (OP_BADGAP, 40)), False),
        ("skip of pruned ids", log((OP_SESSION, 0), ev(1, 1000), ev(21, 6000), ev(23, 6000)), True),
        ("skip before the prune", log((OP_SESSION, 0), ev(1, 1000), ev(21, 4000)), False),
    ]
    bad = []
    for name, lg, ok in cases:
        v = verify(ref, ["a"], lg)
        if (not v.errors) != ok:
            bad.append("sequence rule, %s: judged %s" % (name, v.errors or "fine"))
    flat = [{"t": i, "rss": 10000 + (i % 3) * 100, "thr": 30} for i in range(20)]
    leak = [{"t": i, "rss": 10000 + i * 2000, "thr": 30 - (i > 15)} for i in range(20)]
    if grew(flat, "rss", 1.25, 4096) or not grew(leak, "rss", 1.25, 4096):
        bad.append("growth rule")
    if not_constant(flat, "thr") or not not_constant(leak, "thr"):
        bad.append("constancy rule")
    return bad
