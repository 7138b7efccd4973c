/* logging.h - one line per event on stderr, for journald or an error log.
 * SPDX-License-Identifier: MIT
 *
 * Under systemd (JOURNAL_STREAM names our stderr) lines carry the sd-daemon
 * "<N>" priority prefix and no timestamp, since journald adds both fields.
 * Elsewhere (mod_fcgid's raw error log, lighttpd's stderr, a terminal) a
 * line is "2026-11-21T12:00:00.123Z sselite-fcgi[pid]: warn: message".
 * Messages are logfmt-style key=value pairs where that helps grep.
 *
 * Thread-safety: sse_log_setup once before threads start; sse_log is
 * thread-safe (one write(2) per line, so lines never interleave).
 */
#ifndef SSE_LOGGING_H
#define SSE_LOGGING_H

enum sse_log_level {
    SSE_LOG_ERROR = 0,
    SSE_LOG_WARN = 1,
    SSE_LOG_INFO = 2,
    SSE_LOG_DEBUG = 3
};

/* Sets the program name (borrowed for the process lifetime), the most
 * verbose level written, and detects journald on fd 2. */
void sse_log_setup(const char *progname, int max_level);

/* Writes one line at level (dropped when above the configured level).
 * Line breaks in the formatted message are replaced by spaces, and the
 * password of any PostgreSQL URI in it by stars (sse_dbname_scrub). */
void sse_log(int level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Returns 1 if a line at level would be written. */
int sse_log_enabled(int level);

#endif
