/* chanids.h - ids of the channel names streams subscribe to, interned.
 * SPDX-License-Identifier: MIT
 *
 * The fan-out tests every new event against every subscriber's channels.
 * Comparing names costs a hash compare and a strcmp per subscriber and
 * event; with each subscribed name interned to an id, and each event given
 * the id of its channel once when it is published, the test is one integer
 * compare.
 *
 * A table holds one entry per distinct name that at least one subscriber
 * holds (a reference per subscriber's channel), so it is bounded by the
 * subscriptions, not by the channels ever published. An entry's id is never
 * reused, not even after the entry is freed and the name interned again:
 * an id stamped on an event while an earlier entry lived matches no later
 * entry. Ids start at 1; 0 is "no entry".
 *
 * Thread-safety: none; the fan-out guards its table with its mutex.
 */
#ifndef SSE_CHANIDS_H
#define SSE_CHANIDS_H

#include <stddef.h>
#include <stdint.h>

struct sse_chanid; /* an entry: its id and name */

struct sse_chanids {
    struct sse_chanid **buckets; /* owned; nbuckets is a power of 2 */
    size_t nbuckets, count;
    uint64_t next_id;
};

/* Prepares an empty table. */
void sse_chanids_init(struct sse_chanids *t);

/* Frees the table; every entry must have been released. */
void sse_chanids_cleanup(struct sse_chanids *t);

/* The id of name (NUL-terminated, hash = sse_channel_hash of it), or 0
 * when no subscriber holds it. */
uint64_t sse_chanids_find(const struct sse_chanids *t, const char *name,
                          uint32_t hash);

/* Takes a reference to name's entry, making it (with a new id) when there
 * is none; *created tells which. *out is borrowed until the reference is
 * released. Returns 0 or SSE_ENOMEM (table unchanged). */
int sse_chanids_hold(struct sse_chanids *t, const char *name, uint32_t hash,
                     struct sse_chanid **out, int *created);

/* Drops a reference taken by sse_chanids_hold; the last one frees the
 * entry (its id is never given again). */
void sse_chanids_release(struct sse_chanids *t, struct sse_chanid *e);

/* An entry's id (>= 1). */
uint64_t sse_chanid_id(const struct sse_chanid *e);

#endif
