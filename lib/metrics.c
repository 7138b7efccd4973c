/* metrics.c - process-wide counters and the status page.
 * SPDX-License-Identifier: MIT
 */
#include <stdio.h>
#include <string.h>
#include <sqlite3.h>
#include <time.h>

#include "metrics.h"

static const char *const REASONS[SSE_CLOSE_REASONS] = {
    "client_gone", "write_failed", "lifetime", "shutdown",    "fault",
    "reset",       "longpoll",     "head",     "auth_expired"};

const char *sse_metrics_reason_name(int reason)
{
    return reason >= 0 && reason < SSE_CLOSE_REASONS ? REASONS[reason]
                                                     : "unknown";
}

void sse_metrics_init(struct sse_metrics *m, int threads)
{
    memset(m, 0, sizeof *m);
    m->start_time_s = (int64_t)time(NULL);
    m->threads = threads;
}

void sse_metrics_add(atomic_llong *counter, long long delta)
{
    atomic_fetch_add_explicit(counter, delta, memory_order_relaxed);
}

static long long get(const atomic_llong *c)
{
    return atomic_load_explicit(c, memory_order_relaxed);
}

struct row {
    const char *name;
    const char *type;
    const char *help;
    long long value;
};

int sse_metrics_render(const struct sse_metrics *m, int format,
                       const char *version, struct sse_buf *out)
{
    long long closed = 0;
    for (int i = 0; i < SSE_CLOSE_REASONS; i++)
        closed += get(&m->streams_closed[i]);
    const struct row rows[] = {
        {"start_time_seconds", "gauge", "Unix time the worker started",
         m->start_time_s},
        {"threads", "gauge",
         "Threads for hand-shakes (and streams that keep theirs)", m->threads},
        {"max_streams", "gauge", "Streams this process may hold (0: no bound)",
         m->max_streams},
        {"streams_active", "gauge", "Streams open now",
         get(&m->streams_active)},
        {"streams_parked", "gauge",
         "Streams open now that hold no thread (the event loop's)",
         get(&m->streams_parked)},
        {"streams_opened_total", "counter", "Streams started",
         get(&m->streams_opened)},
        {"streams_closed_total", "counter", "Streams ended", closed},
        {"resumes_header_total", "counter",
         "Streams resumed from Last-Event-ID", get(&m->resumes_header)},
        {"resumes_query_total", "counter",
         "Streams resumed from last_event_id/lastEventId",
         get(&m->resumes_query)},
        {"resume_gaps_total", "counter", "sselite-gap events sent",
         get(&m->gaps)},
        {"events_delivered_total", "counter", "Events written to clients",
         get(&m->events_delivered)},
        {"events_replayed_total", "counter", "Of which read as backlog",
         get(&m->events_replayed)},
        {"heartbeats_total", "counter", "Heartbeat comments sent",
         get(&m->heartbeats)},
        {"requests_refused_total", "counter", "Requests answered 4xx",
         get(&m->requests_refused)},
        {"busy_rejects_total", "counter",
         "Requests turned away: max-streams open, or every thread busy",
         get(&m->busy_rejects)},
        {"db_reads_total", "counter", "Range reads of the event log",
         get(&m->db_reads)},
        {"db_faults_total", "counter", "Failed reads of the event log",
         get(&m->db_faults)},
        {"db_connections", "gauge",
         "Connections to the log open for hand-shakes and catch-ups "
         "(db-connections bounds it)",
         get(&m->db_connections)},
        {"db_connection_waits_total", "counter",
         "Reads that waited for a free connection (all db-connections lent)",
         get(&m->db_connection_waits)},
        {"rows_skipped_total", "counter",
         "Rows that cannot be sent as stored, skipped (once per read)",
         get(&m->rows_skipped)},
        {"db_head_id", "gauge", "Newest event id seen", get(&m->head_id)},
        {"db_oldest_id", "gauge",
         "Lowest stored event id when the worker last looked (pruning "
         "moves it; a resume point below it gets the pruned gap)",
         get(&m->oldest_id)},
        {"ring_events", "gauge", "Recent events held in memory",
         get(&m->ring_events)},
        {"ring_bytes", "gauge", "Bytes of the recent events held in memory",
         get(&m->ring_bytes)},
        {"loop_wakeups_total", "counter",
         "Times the event loop of parked streams woke with work",
         get(&m->loop_wakeups)},
        {"loop_busy_us_total", "counter",
         "Microseconds the event loop spent working (writes, timers)",
         get(&m->loop_busy_us)},
        {"access_refused_no_credential_total", "counter",
         "401: a private channel asked for without a credential",
         get(&m->access_refused[SSE_REFUSED_NO_CREDENTIAL])},
        {"access_refused_bad_token_total", "counter",
         "403: a token that is forged, malformed or not yet valid",
         get(&m->access_refused[SSE_REFUSED_BAD_TOKEN])},
        {"access_refused_expired_total", "counter", "403: an expired token",
         get(&m->access_refused[SSE_REFUSED_EXPIRED])},
        {"access_refused_not_granted_total", "counter",
         "403: a channel no credential of the request grants",
         get(&m->access_refused[SSE_REFUSED_NOT_GRANTED])},
        {"access_refused_origin_total", "counter",
         "403: credentials sent from an Origin not in cors-origins",
         get(&m->access_refused[SSE_REFUSED_ORIGIN])},
    };
    size_t n = sizeof rows / sizeof rows[0];
    int rc = 0;
    if (format == SSE_METRICS_PROMETHEUS) {
        rc = sse_buf_appendf(
            out,
            "# HELP sselite_build_info Version information\n"
            "# TYPE sselite_build_info gauge\n"
            "sselite_build_info{version=\"%s\",sqlite=\"%s\"} 1\n",
            version, sqlite3_libversion());
        for (size_t i = 0; i < n && !rc; i++)
            rc = sse_buf_appendf(
                out,
                "# HELP sselite_%s %s\n# TYPE sselite_%s %s\nsselite_%s %lld\n",
                rows[i].name, rows[i].help, rows[i].name, rows[i].type,
                rows[i].name, rows[i].value);
        for (int r = 0; r < SSE_CLOSE_REASONS && !rc; r++)
            rc = sse_buf_appendf(
                out,
                "sselite_streams_closed_by_reason_total{reason=\"%s\"} %lld\n",
                REASONS[r], get(&m->streams_closed[r]));
    } else if (format == SSE_METRICS_JSON) {
        rc = sse_buf_appendf(out, "{\"version\":\"%s\",\"sqlite\":\"%s\"",
                             version, sqlite3_libversion());
        for (size_t i = 0; i < n && !rc; i++)
            rc = sse_buf_appendf(out, ",\"%s\":%lld", rows[i].name,
                                 rows[i].value);
        for (int r = 0; r < SSE_CLOSE_REASONS && !rc; r++)
            rc = sse_buf_appendf(out, ",\"streams_closed_%s\":%lld", REASONS[r],
                                 get(&m->streams_closed[r]));
        if (!rc)
            rc = sse_buf_append_str(out, "}\n");
    } else {
        rc = sse_buf_appendf(
            out, "version: %s\nsqlite: %s\nprocess: this one only\n", version,
            sqlite3_libversion());
        for (size_t i = 0; i < n && !rc; i++)
            rc =
                sse_buf_appendf(out, "%s: %lld\n", rows[i].name, rows[i].value);
        for (int r = 0; r < SSE_CLOSE_REASONS && !rc; r++)
            rc = sse_buf_appendf(out, "streams_closed_%s: %lld\n", REASONS[r],
                                 get(&m->streams_closed[r]));
    }
    return rc;
}
