/* metrics.h - process-wide counters and the status page.
 * SPDX-License-Identifier: MIT
 *
 * Counters are C11 atomics updated with relaxed ordering: they are
 * statistics, never used to synchronise. Under mod_fcgid every process
 * holds one stream, so its counters describe that process only (the status
 * page says so with "processes: this one").
 *
 * Thread-safety: all functions are thread-safe.
 */
#ifndef SSE_METRICS_H
#define SSE_METRICS_H

#include <stdatomic.h>
#include <stdint.h>

#include "buf.h"

enum sse_close_reason {
    SSE_CLOSE_CLIENT_GONE,
    SSE_CLOSE_WRITE_FAILED,
    SSE_CLOSE_LIFETIME,
    SSE_CLOSE_SHUTDOWN,
    SSE_CLOSE_FAULT,
    SSE_CLOSE_RESET,
    SSE_CLOSE_LONGPOLL,
    SSE_CLOSE_HEAD,
    SSE_CLOSE_EXPIRED, /* the access granted at the handshake ran out */
    SSE_CLOSE_REASONS
};

/* Why the access decision (lib/access.h) refused a request. */
enum sse_access_refusal {
    SSE_REFUSED_NO_CREDENTIAL, /* 401: a private channel, no credential */
    SSE_REFUSED_BAD_TOKEN,     /* 403: forged, malformed, wrong alg, ... */
    SSE_REFUSED_EXPIRED,       /* 403: the token expired */
    SSE_REFUSED_NOT_GRANTED,   /* 403: a channel no credential covers */
    SSE_REFUSED_ORIGIN,        /* 403: credentials from a foreign Origin */
    SSE_REFUSED_REASONS
};

struct sse_metrics {
    int64_t start_time_s;
    int threads;
    long long max_streams;       /* the max-streams bound, 0: none */
    atomic_llong streams_active; /* open (held by a thread or parked) */
    atomic_llong streams_parked; /* of which held by the event loop */
    atomic_llong streams_opened;
    atomic_llong streams_closed[SSE_CLOSE_REASONS];
    atomic_llong resumes_header;
    atomic_llong resumes_query;
    atomic_llong gaps;
    atomic_llong events_delivered;
    atomic_llong events_replayed;
    atomic_llong bytes_written;
    atomic_llong heartbeats;
    atomic_llong requests_refused;    /* 4xx answers */
    atomic_llong busy_rejects;        /* every thread already streaming */
    atomic_llong db_reads;            /* range reads by the hub and streams */
    atomic_llong db_faults;           /* reads that failed */
    atomic_llong db_connections;      /* logpool's open connections now */
    atomic_llong db_connection_waits; /* borrows that waited for one */
    atomic_llong rows_skipped;        /* unreadable rows skipped by reads */
    atomic_llong head_id;             /* newest id seen by the hub */
    atomic_llong oldest_id;    /* lowest stored id at the hub's last look */
    atomic_llong ring_events;  /* events in the hub's memory now */
    atomic_llong ring_bytes;   /* and their size (ring-bytes bounds it) */
    atomic_llong loop_wakeups; /* times the event loop woke with work */
    atomic_llong loop_busy_us; /* time it spent working, in µs */
    atomic_llong access_refused[SSE_REFUSED_REASONS]; /* 401/403 by reason */
};

/* Zeroes m and records the start time and thread count. */
void sse_metrics_init(struct sse_metrics *m, int threads);

/* Adds delta to a counter (relaxed). */
void sse_metrics_add(atomic_llong *counter, long long delta);

/* Short name of a close reason ("client_gone", ...). */
const char *sse_metrics_reason_name(int reason);

enum sse_metrics_format {
    SSE_METRICS_TEXT,
    SSE_METRICS_JSON,
    SSE_METRICS_PROMETHEUS
};

/* Appends the status page in the format to out. Returns 0 or a buffer
 * error. */
int sse_metrics_render(const struct sse_metrics *m, int format,
                       const char *version, struct sse_buf *out);

#endif
