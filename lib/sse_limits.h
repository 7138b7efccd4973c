/* sse_limits.h - the limits of the event log's public interface, in one
 * place, so the schema, the worker, the CLI and the documentation agree.
 * SPDX-License-Identifier: MIT
 *
 * Each limit exists for a reason stated beside it (and in README.md,
 * "Limits"); schema/ enforces the same numbers at INSERT time.
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

#endif
