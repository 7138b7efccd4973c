/* retention.c - retention rules per channel pattern, and applying them.
 * SPDX-License-Identifier: MIT
 *
 * Rules come from a small file an operator writes, so the parser is strict
 * and its messages name the file, the line and the word at fault: a typo
 * must stop the prune timer with a clear journal line rather than delete
 * with a rule nobody meant. Matching is a linear scan over the rules per
 * channel; a file has a handful of rules, and a run sees each channel once.
 */
#include "retention.h"

#include <assert.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "admin.h"
#include "channel.h"
#include "request.h"
#include "sse_error.h"

/* Invariant: rules[0..n) valid, no two with the same pattern. */
struct sse_retention {
    struct sse_retention_rule *rules;
    size_t n;
};

int sse_retention_parse_duration(const char *s, size_t len, int64_t *ms)
{
    static const struct {
        const char *unit;
        int64_t ms;
    } units[] = {{"", 1000},   {"s", 1000},    {"ms", 1},
                 {"m", 60000}, {"h", 3600000}, {"d", 86400000}};
    size_t n = 0;
    while (n < len && s[n] >= '0' && s[n] <= '9')
        n++;
    int64_t v;
    if (sse_request_parse_id(s, n, &v) != 0)
        return SSE_EINVAL;
    for (size_t k = 0; k < sizeof units / sizeof units[0]; k++) {
        if (strlen(units[k].unit) != len - n ||
            memcmp(s + n, units[k].unit, len - n) != 0)
            continue;
        if (v > INT64_MAX / units[k].ms)
            return SSE_ETOOBIG;
        *ms = v * units[k].ms;
        return 0;
    }
    return SSE_EINVAL;
}

/* Writes "name:line: message" into err. Returns code. */
static int parse_fail(char *err, size_t cap, const char *name, int line,
                      int code, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));

static int parse_fail(char *err, size_t cap, const char *name, int line,
                      int code, const char *fmt, ...)
{
    va_list ap;
    int n = snprintf(err, cap, "%s:%d: ", name, line);
    if (n >= 0 && (size_t)n < cap) {
        va_start(ap, fmt);
        vsnprintf(err + n, cap - (size_t)n, fmt, ap);
        va_end(ap);
    }
    return code;
}

struct word {
    const char *s;
    size_t len;
};

/* Splits line[0..len) at spaces and tabs into at most max words; returns
 * the count, or max + 1 when there are more. */
static size_t split_words(const char *line, size_t len, struct word *w,
                          size_t max)
{
    size_t n = 0, i = 0;
    while (i < len) {
        while (i < len && (line[i] == ' ' || line[i] == '\t'))
            i++;
        if (i == len)
            break;
        size_t start = i;
        while (i < len && line[i] != ' ' && line[i] != '\t')
            i++;
        if (n == max)
            return max + 1;
        w[n].s = line + start;
        w[n].len = i - start;
        n++;
    }
    return n;
}

static int word_is(const struct word *w, const char *s)
{
    return w->len == strlen(s) && memcmp(w->s, s, w->len) == 0;
}

/* Prints at most 40 bytes of a word, for messages (the file is the
 * operator's own, so no escaping beyond the length bound). */
#define WORD_FMT "'%.*s'"
#define WORD_ARG(w) (int)((w).len > 40 ? 40 : (w).len), (w).s

/* Parses one non-blank, comment-free line into *rule. */
static int parse_rule(const char *line, size_t len, const char *name,
                      int lineno, struct sse_retention_rule *rule, char *err,
                      size_t cap)
{
    struct word w[5];
    size_t n = split_words(line, len, w, 5);
    if (n < 3 || n > 5 || n % 2 == 0)
        return parse_fail(err, cap, name, lineno, SSE_EINVAL,
                          "expected: PATTERN keep N|all and/or older-than"
                          " DURATION");
    enum sse_pattern_kind kind;
    if (sse_pattern_parse(w[0].s, w[0].len, &kind) != 0)
        return parse_fail(err, cap, name, lineno, SSE_EINVAL,
                          "pattern " WORD_FMT
                          " is not valid: use a channel name, a prefix"
                          " ending in ':*' or '/*', or '*'",
                          WORD_ARG(w[0]));
    memcpy(rule->pattern, w[0].s, w[0].len);
    rule->pattern[w[0].len] = '\0';
    rule->pattern_len = w[0].len;
    rule->keep = -1;
    rule->older_ms = -1;
    rule->line = lineno;
    int have_keep = 0, have_age = 0;
    for (size_t i = 1; i < n; i += 2) {
        const struct word *k = &w[i], *v = &w[i + 1];
        if (word_is(k, "keep") && !have_keep) {
            have_keep = 1;
            if (word_is(v, "all"))
                continue;
            if (sse_request_parse_id(v->s, v->len, &rule->keep) != 0)
                return parse_fail(err, cap, name, lineno, SSE_EINVAL,
                                  "keep " WORD_FMT
                                  " is not valid: use a whole number or all",
                                  WORD_ARG(*v));
        } else if (word_is(k, "older-than") && !have_age) {
            have_age = 1;
            if (sse_retention_parse_duration(v->s, v->len, &rule->older_ms))
                return parse_fail(err, cap, name, lineno, SSE_EINVAL,
                                  "older-than " WORD_FMT
                                  " is not a duration: use e.g. 90s, 30m,"
                                  " 12h, 7d, 500ms or plain seconds",
                                  WORD_ARG(*v));
        } else {
            return parse_fail(err, cap, name, lineno, SSE_EINVAL,
                              "unexpected " WORD_FMT
                              ": expected keep or older-than, each once",
                              WORD_ARG(*k));
        }
    }
    return 0;
}

int sse_retention_parse(const char *text, size_t len, const char *name,
                        struct sse_retention **out, char *err, size_t cap)
{
    struct sse_retention *r = calloc(1, sizeof *r);
    int rc = 0;
    if (r == NULL)
        return SSE_ENOMEM;
    size_t cap_rules = 0;
    int lineno = 0;
    for (size_t pos = 0; pos < len;) {
        const char *nl = memchr(text + pos, '\n', len - pos);
        size_t end = nl ? (size_t)(nl - text) : len;
        const char *line = text + pos;
        size_t llen = end - pos;
        pos = nl ? end + 1 : len;
        lineno++;
        const char *hash = memchr(line, '#', llen);
        if (hash != NULL)
            llen = (size_t)(hash - line);
        if (llen > 0 && line[llen - 1] == '\r')
            llen--;
        if (memchr(line, '\0', llen) != NULL) {
            rc = parse_fail(err, cap, name, lineno, SSE_EINVAL,
                            "a NUL byte: not a text file");
            goto out;
        }
        struct word probe;
        if (split_words(line, llen, &probe, 1) == 0)
            continue;
        if (r->n == SSE_RETENTION_MAX_RULES) {
            rc = parse_fail(err, cap, name, lineno, SSE_ETOOBIG,
                            "more than %d rules", SSE_RETENTION_MAX_RULES);
            goto out;
        }
        if (r->n == cap_rules) {
            size_t ncap = cap_rules ? cap_rules * 2 : 8;
            void *p = realloc(r->rules, ncap * sizeof *r->rules);
            if (p == NULL) {
                rc = SSE_ENOMEM;
                goto out;
            }
            r->rules = p;
            cap_rules = ncap;
        }
        struct sse_retention_rule *rule = &r->rules[r->n];
        rc = parse_rule(line, llen, name, lineno, rule, err, cap);
        if (rc)
            goto out;
        for (size_t i = 0; i < r->n; i++) {
            if (strcmp(r->rules[i].pattern, rule->pattern) == 0) {
                rc = parse_fail(err, cap, name, lineno, SSE_EINVAL,
                                "pattern '%s' already has a rule on line %d",
                                rule->pattern, r->rules[i].line);
                goto out;
            }
        }
        r->n++;
    }
out:
    if (rc) {
        sse_retention_free(r);
        return rc;
    }
    *out = r;
    return 0;
}

int sse_retention_load(const char *path, struct sse_retention **out, char *err,
                       size_t cap)
{
    char *text = NULL;
    int rc = 0;
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        int e = errno;
        snprintf(err, cap, "%s: %s", path, strerror(e));
        return e == ENOENT ? SSE_ENOENT : SSE_EIO;
    }
    text = malloc(SSE_RETENTION_MAX_FILE + 1);
    if (text == NULL) {
        rc = SSE_ENOMEM;
        goto out;
    }
    size_t n = fread(text, 1, SSE_RETENTION_MAX_FILE + 1, f);
    if (ferror(f)) {
        snprintf(err, cap, "%s: %s", path, strerror(errno));
        rc = SSE_EIO;
        goto out;
    }
    if (n > SSE_RETENTION_MAX_FILE) {
        snprintf(err, cap, "%s: larger than %d bytes", path,
                 SSE_RETENTION_MAX_FILE);
        rc = SSE_ETOOBIG;
        goto out;
    }
    rc = sse_retention_parse(text, n, path, out, err, cap);
out:
    free(text);
    fclose(f);
    return rc;
}

void sse_retention_free(struct sse_retention *r)
{
    if (r == NULL)
        return;
    free(r->rules);
    free(r);
}

size_t sse_retention_count(const struct sse_retention *r)
{
    return r->n;
}

const struct sse_retention_rule *
sse_retention_rule_at(const struct sse_retention *r, size_t i)
{
    assert(i < r->n);
    return &r->rules[i];
}

const struct sse_retention_rule *
sse_retention_find(const struct sse_retention *r, const char *channel,
                   size_t len)
{
    const struct sse_retention_rule *best = NULL;
    size_t best_spec = 0;
    for (size_t i = 0; i < r->n; i++) {
        const struct sse_retention_rule *rule = &r->rules[i];
        if (!sse_pattern_match(rule->pattern, rule->pattern_len, channel, len))
            continue;
        size_t spec = sse_pattern_specificity(rule->pattern, rule->pattern_len);
        /* Distinct patterns matching one channel differ in specificity. */
        assert(best == NULL || spec != best_spec);
        if (best == NULL || spec > best_spec) {
            best = rule;
            best_spec = spec;
        }
    }
    return best;
}

static int64_t monotonic_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* Sleeps us microseconds (a signal may shorten it, which is harmless). */
static void pause_us(int64_t us)
{
    struct timespec ts = {(time_t)(us / 1000000), (long)(us % 1000000) * 1000};
    nanosleep(&ts, NULL);
}

/* Deletes channel's rows up to res->cutoff in batches. */
static int prune_channel(struct sse_admin *a, int64_t batch_rows,
                         struct sse_retention_result *res,
                         struct sse_retention_totals *tot)
{
    for (;;) {
        int64_t t0 = monotonic_us(), n = 0;
        int err = sse_admin_delete_through(a, res->channel, res->cutoff,
                                           batch_rows, &n);
        int64_t took = monotonic_us() - t0;
        if (err)
            return err;
        res->deleted += n;
        res->batches++;
        tot->deleted += n;
        tot->batches++;
        if (took > tot->longest_batch_us)
            tot->longest_batch_us = took;
        if (n < batch_rows)
            return 0;
        /* Leave the write lock free as long as we held it, so a waiting
         * publisher's busy handler finds it free at its next try. */
        pause_us(took < 1000 ? 1000 : took);
    }
}

int sse_retention_apply(const struct sse_retention *r, struct sse_admin *a,
                        int64_t batch_rows, int dry_run, sse_retention_fn fn,
                        void *ctx, struct sse_retention_totals *tot)
{
    assert(batch_rows >= 1);
    struct sse_retention_totals t;
    memset(&t, 0, sizeof t);
    char channel[SSE_CHANNEL_MAX + 1] = "", next[SSE_CHANNEL_MAX + 1];
    int err = 0;
    for (;;) {
        int found = 0;
        err = sse_admin_next_channel(a, channel, next, &found);
        if (err || !found)
            break;
        memcpy(channel, next, sizeof channel);
        t.channels++;
        const struct sse_retention_rule *rule =
            sse_retention_find(r, channel, strlen(channel));
        if (rule == NULL)
            continue;
        t.channels_ruled++;
        struct sse_retention_result res = {channel, rule, 0, 0, 0};
        if (rule->keep >= 0 || rule->older_ms >= 0)
            err = sse_admin_prune_cutoff(a, channel, rule->keep, rule->older_ms,
                                         &res.cutoff);
        if (!err && !dry_run && res.cutoff > 0)
            err = prune_channel(a, batch_rows, &res, &t);
        if (!err && fn != NULL)
            err = fn(&res, ctx);
        if (err)
            break;
    }
    if (tot != NULL)
        *tot = t;
    return err;
}
