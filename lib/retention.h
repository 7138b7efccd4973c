/* retention.h - retention rules per channel pattern, and applying them.
 * SPDX-License-Identifier: MIT
 *
 * The rules live in a text file (by default /etc/sselite/retention.conf),
 * one rule a line:
 *
 *     # PATTERN     RULES
 *     *             keep 100000  older-than 7d
 *     orders:*      older-than 30d
 *     audit         keep all
 *
 * PATTERN is a channel pattern (pattern.h). RULES are one or both of
 * "keep N" (a channel keeps its newest N events; "keep all": no count
 * limit) and "older-than DURATION" (events created longer ago go; 90s,
 * 30m, 12h, 7d, 500ms or plain seconds). An event goes if either rule says
 * so. Each channel follows the most specific pattern that matches it, that
 * rule alone (rules are not merged); "*" is the default rule, and a channel
 * that no pattern matches is never pruned. "keep" counts per channel, not
 * per pattern. '#' starts a comment; blank lines are ignored; a pattern may
 * appear once.
 *
 * Applying the rules walks the channels in name order and deletes each
 * channel's old rows in batches of a bounded number of rows, each batch its
 * own short write transaction, pausing between batches as long as the
 * batch took, so publishers (one writer at a time) wait for one batch at
 * most and readers never wait (WAL).
 *
 * Thread-safety: a struct sse_retention is read-only once parsed and may be
 * shared; sse_retention_apply uses its struct sse_admin exclusively.
 */
#ifndef SSE_RETENTION_H
#define SSE_RETENTION_H

#include <stddef.h>
#include <stdint.h>

#include "pattern.h"

struct sse_admin;
struct sse_retention;

/* One rule. Invariant: pattern is valid (sse_pattern_parse) and
 * NUL-terminated; keep >= -1 and older_ms >= -1 (-1: no such limit). */
struct sse_retention_rule {
    char pattern[SSE_PATTERN_MAX + 1];
    size_t pattern_len;
    int64_t keep;
    int64_t older_ms;
    int line; /* where it was written, for messages */
};

/* Parses a duration: 1 to 18 digits and an optional unit ms, s, m, h or d
 * (plain digits are seconds), s[0..len), into *ms. Returns 0, or
 * SSE_EINVAL (bad syntax) / SSE_ETOOBIG (overflow) with *ms untouched. */
int sse_retention_parse_duration(const char *s, size_t len, int64_t *ms);

/* Parses rules from text[0..len). name (e.g. the file's path) prefixes
 * messages. On success *out is owned by the caller (sse_retention_free).
 * On failure err[0..cap) gets "name:LINE: what is wrong" and the result is
 * SSE_EINVAL, SSE_ETOOBIG (more than SSE_RETENTION_MAX_RULES rules) or
 * SSE_ENOMEM. */
int sse_retention_parse(const char *text, size_t len, const char *name,
                        struct sse_retention **out, char *err, size_t cap);

#define SSE_RETENTION_MAX_RULES 4096
#define SSE_RETENTION_MAX_FILE (1024 * 1024)

/* Reads and parses the file at path (at most SSE_RETENTION_MAX_FILE bytes).
 * Errors as sse_retention_parse, plus SSE_ENOENT (no such file) and SSE_EIO
 * (cannot read it; err says why). */
int sse_retention_load(const char *path, struct sse_retention **out, char *err,
                       size_t cap);

/* Frees; NULL-safe. */
void sse_retention_free(struct sse_retention *r);

/* The number of rules, and rule i (0 <= i < count, in file order), borrowed
 * until sse_retention_free. */
size_t sse_retention_count(const struct sse_retention *r);
const struct sse_retention_rule *
sse_retention_rule_at(const struct sse_retention *r, size_t i);

/* The rule for channel[0..len): the most specific matching pattern's, or
 * NULL when none matches. Borrowed until sse_retention_free. */
const struct sse_retention_rule *
sse_retention_find(const struct sse_retention *r, const char *channel,
                   size_t len);

/* What applying the rules did to one channel (or, with dry_run, would do). */
struct sse_retention_result {
    const char *channel;                   /* borrowed for the callback */
    const struct sse_retention_rule *rule; /* never NULL */
    int64_t cutoff;  /* highest id that goes; 0: nothing goes */
    int64_t deleted; /* rows deleted (0 with dry_run) */
    int64_t batches; /* write transactions */
};

/* Totals over one run. */
struct sse_retention_totals {
    int64_t channels;         /* channels seen */
    int64_t channels_ruled;   /* of which a rule matched */
    int64_t deleted;          /* rows deleted */
    int64_t batches;          /* write transactions */
    int64_t longest_batch_us; /* the longest write transaction */
};

/* Called once per channel with a rule, after its rows went. Return 0 to go
 * on; anything else stops the run and is returned by sse_retention_apply. */
typedef int (*sse_retention_fn)(const struct sse_retention_result *res,
                                void *ctx);

/* Applies r to every channel of the log behind a, batch_rows (>= 1) rows
 * per write transaction; with dry_run, only works out the cutoffs. fn (may
 * be NULL) hears of each ruled channel. *tot (may be NULL) gets the totals,
 * also on failure (what was done until then). Does not checkpoint. Errors:
 * those of the admin calls (SSE_ESCHEMA, SSE_EBUSY, SSE_EDB), or fn's. */
int sse_retention_apply(const struct sse_retention *r, struct sse_admin *a,
                        int64_t batch_rows, int dry_run, sse_retention_fn fn,
                        void *ctx, struct sse_retention_totals *tot);

#endif
