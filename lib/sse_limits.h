/* sse_limits.h - the limits of the event log's public interface, in one
 * place, so the schema, the worker, the CLI and the documentation agree.
 * SPDX-License-Identifier: MIT
 *
 * Each limit exists for a reason stated beside it (and in README.md,
 * "Limits"). schema/003-limits.sql enforces the same numbers at INSERT and
 * UPDATE time; SQL cannot include this file, so tests/unit/check_admin.c
 * tries both sides of every limit against the schema.
 */
#ifndef SSE_LIMITS_H
#define SSE_LIMITS_H

/* The highest event id: a resume id travels back as Last-Event-ID, which the
 * worker reads as at most 18 decimal digits (no int64 overflow possible). */
#define SSE_ID_MAX 999999999999999999LL

/* The largest events.data, in bytes. Encoding can make an event up to seven
 * times larger ("data: " per line break), and a worker holds at most one
 * such event per catch-up read, so this bounds a worker's memory. */
#define SSE_EVENT_DATA_MAX (4 * 1024 * 1024)

/* The longest channel name, in bytes (names are ASCII: bytes = characters).
 * A name is a key: it is stored in the (channel, id) index entry of every
 * row, copied into every stream's request, and sent in URLs, up to
 * SSE_REQUEST_MAX_CHANNELS of them in one query string of at most 8 KiB
 * (32 names of 128 bytes with "channel=" take 4.3 KiB). */
#define SSE_CHANNEL_MAX 128

/* The longest event type, in bytes. The protocol sets no limit, but a type
 * is a name for addEventListener, not payload, and it is sent again with
 * every event; schema version 1 already refused types over 128 characters,
 * a CHECK that cannot be relaxed without rebuilding the table, so the limit
 * stays 128, now counted in bytes everywhere. */
#define SSE_EVENT_TYPE_MAX 128

/* The longest idempotency key (events.idem_key, schema version 5), in bytes.
 * It is a name the publisher picks ("order-7-paid", a UUID, a hash), stored
 * in an index entry of its row, so it stays short; empty keys are refused. */
#define SSE_IDEM_KEY_MAX 128

#endif
