/* ring.h - the bounded ring of recent events, encoded once, shared.
 * SPDX-License-Identifier: MIT
 *
 * Every new row is encoded into SSE bytes once per process and kept in a
 * struct sse_event that streams share by reference. The ring keeps the
 * newest of them, bounded by a count (ring-events) and by the bytes their
 * allocations take (ring-bytes), and knows the window it covers: every
 * committed row with covered_after < id <= head is in it, in id order. A
 * stream whose cursor is at least covered_after takes its events from the
 * ring; one further behind reads the log.
 *
 * An event whose encoding is too large to keep is stored as a stub without
 * bytes: the ring then restarts after it (covered_after = its id), so the
 * streams that want it read it from the log, byte for byte the same.
 *
 * Invariant (sse_ring_check): count <= cap; ids strictly increase from
 * covered_after (exclusive); the newest entry's id <= head (rows the log
 * skipped as unreadable move head without an entry); every entry has its
 * bytes; bytes is the sum of the entries' sse_event_cost and <= bytes_max.
 *
 * Thread-safety: no locks. An event is immutable once made but for
 * chan_id, which only the fan-out reads and writes, under its mutex; its
 * reference count is atomic, so references may be taken, used and released
 * by any thread; the ring itself must be guarded by its owner (fanout.c
 * holds its mutex around every ring call).
 */
#ifndef SSE_RING_H
#define SSE_RING_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

/* One encoded event, freed by the last sse_event_release. */
struct sse_event {
    atomic_int refs;
    int64_t id;
    uint32_t channel_hash; /* sse_channel_hash(channel) */
    uint64_t chan_id; /* the fan-out's id of channel (chanids.h), 0: none */
    size_t len;       /* bytes of the encoded event; 0 for a stub */
    char *bytes;      /* into this allocation; NULL for an oversize stub */
    char channel[];   /* NUL-terminated */
};

/* Makes an event with one reference (the caller's) for row id on channel
 * (channel_len bytes, copied), holding a copy of bytes[0..len); bytes NULL
 * makes the stub of an event too large to keep. Returns 0 or SSE_ENOMEM. */
int sse_event_new(int64_t id, const char *channel, size_t channel_len,
                  const char *bytes, size_t len, struct sse_event **out);

/* Takes one more reference to ev. */
void sse_event_ref(struct sse_event *ev);

/* Drops a reference; the last one frees the event. NULL-safe. */
void sse_event_release(struct sse_event *ev);

/* Bytes an event costs in the ring: its whole allocation. */
size_t sse_event_cost(const struct sse_event *ev);

/* Fields are read-only outside ring.c. */
struct sse_ring {
    struct sse_event **slots; /* owned; circular, cap entries */
    size_t cap, start, count;
    size_t bytes, bytes_max;
    int64_t covered_after;
    int64_t head; /* -1: the log is not open */
};

/* Prepares an empty ring of cap entries and bytes_max bytes, covering
 * nothing (head -1). Returns 0 or SSE_ENOMEM (ring then untouched). */
int sse_ring_init(struct sse_ring *r, size_t cap, size_t bytes_max);

/* Releases every entry and frees the slots. NULL-safe. */
void sse_ring_cleanup(struct sse_ring *r);

/* Empties the ring; afterwards it covers only ids above head:
 * covered_after = head = head (-1: the log is closed). */
void sse_ring_restart(struct sse_ring *r, int64_t head);

/* Makes ev (ev->id > head) the newest row: an event with bytes is kept with
 * a reference of the ring's own, after the oldest entries are evicted
 * while either bound would be passed (covered_after moves up to each); a
 * stub empties the ring and restarts it after ev. Requires head >= 0 and
 * sse_event_cost(ev) <= bytes_max for an event with bytes. */
void sse_ring_store(struct sse_ring *r, struct sse_event *ev);

/* Moves head to id (id >= head) without an entry: rows the log skipped. */
void sse_ring_pass(struct sse_ring *r, int64_t id);

/* Index of the first entry with id > cursor (count when none). */
size_t sse_ring_find(const struct sse_ring *r, int64_t cursor);

/* Entry i, 0 the oldest; i < count. */
struct sse_event *sse_ring_at(const struct sse_ring *r, size_t i);

/* Checks the invariant above with assert() by walking the whole ring (a
 * no-op under NDEBUG). */
void sse_ring_check(const struct sse_ring *r);

#endif
