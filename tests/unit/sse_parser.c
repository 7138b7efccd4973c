/* sse_parser.c - reference event-stream parser for the tests.
 * SPDX-License-Identifier: MIT
 *
 * Follows the WHATWG algorithm step by step rather than cleverly: bytes go
 * through a BOM check at the start, then a line splitter (which remembers a
 * trailing CR so that a CRLF split across two feeds is one line break), then
 * the line interpreter. Speed does not matter here; being obviously the
 * spec does. See sse_parser.h for the rules and the one deliberate
 * difference from a browser (no U+FFFD substitution).
 */
#include "sse_parser.h"

#include <stdlib.h>
#include <string.h>

/* A growable byte string, always NUL-terminated once anything was added. */
struct bytes {
    char *p;
    size_t len;
    size_t cap;
};

static const unsigned char bom[3] = {0xEF, 0xBB, 0xBF};

struct sse_parser {
    int failed;          /* an allocation failed; further feeds refuse */
    int at_start;        /* still checking for the BOM */
    size_t bom_seen;     /* BOM bytes matched so far while at_start */
    int skip_lf;         /* the previous byte was a CR */
    int pending;         /* a field line came after the last blank line */
    struct bytes line;   /* the current, unfinished line */
    struct bytes data;   /* the data buffer */
    struct bytes type;   /* the event type buffer */
    struct bytes id;     /* the last event ID buffer */
    struct bytes id_str; /* the last event ID string (set at dispatch) */
    int64_t retry;
    size_t comments;
    size_t fields;
    size_t empty_dispatches;
    struct sse_parsed_event *events;
    size_t nevents;
    size_t cap_events;
};

static int bytes_append(struct bytes *b, const void *src, size_t n)
{
    if (n > SIZE_MAX - b->len - 1)
        return -1;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 64;
        while (cap < b->len + n + 1)
            cap = cap > SIZE_MAX / 2 ? b->len + n + 1 : cap * 2;
        char *p = realloc(b->p, cap);
        if (p == NULL)
            return -1;
        b->p = p;
        b->cap = cap;
    }
    if (n > 0)
        memcpy(b->p + b->len, src, n);
    b->len += n;
    b->p[b->len] = '\0';
    return 0;
}

static int bytes_set(struct bytes *b, const void *src, size_t n)
{
    b->len = 0;
    return bytes_append(b, src, n);
}

static char *dup_bytes(const char *src, size_t n)
{
    char *p = malloc(n + 1);
    if (p == NULL)
        return NULL;
    if (n > 0)
        memcpy(p, src, n);
    p[n] = '\0';
    return p;
}

struct sse_parser *sse_parser_new(void)
{
    struct sse_parser *p = calloc(1, sizeof(*p));
    if (p == NULL)
        return NULL;
    p->at_start = 1;
    p->retry = -1;
    /* The ID string is "" (not NULL) before the first dispatch. */
    if (bytes_set(&p->id_str, "", 0) < 0) {
        free(p);
        return NULL;
    }
    return p;
}

void sse_parser_free(struct sse_parser *p)
{
    if (p == NULL)
        return;
    for (size_t i = 0; i < p->nevents; i++) {
        free(p->events[i].type);
        free(p->events[i].data);
        free(p->events[i].last_event_id);
    }
    free(p->events);
    free(p->line.p);
    free(p->data.p);
    free(p->type.p);
    free(p->id.p);
    free(p->id_str.p);
    free(p);
}

static int push_event(struct sse_parser *p, const char *type, size_t type_len,
                      const char *data, size_t data_len)
{
    if (p->nevents == p->cap_events) {
        size_t cap = p->cap_events ? p->cap_events * 2 : 16;
        struct sse_parsed_event *ev = realloc(p->events, cap * sizeof(*ev));
        if (ev == NULL)
            return -1;
        p->events = ev;
        p->cap_events = cap;
    }
    struct sse_parsed_event *e = &p->events[p->nevents];
    e->type = dup_bytes(type, type_len);
    e->data = dup_bytes(data, data_len);
    e->last_event_id = dup_bytes(p->id_str.p, p->id_str.len);
    if (e->type == NULL || e->data == NULL || e->last_event_id == NULL) {
        free(e->type);
        free(e->data);
        free(e->last_event_id);
        return -1;
    }
    e->type_len = type_len;
    e->data_len = data_len;
    e->last_event_id_len = p->id_str.len;
    p->nevents++;
    return 0;
}

/* "Dispatch the event", steps 1 to 6. */
static int dispatch(struct sse_parser *p)
{
    int rc = 0;
    p->pending = 0;
    if (bytes_set(&p->id_str, p->id.p, p->id.len) < 0)
        return -1;
    if (p->data.len == 0) {
        p->type.len = 0;
        p->empty_dispatches++;
        return 0;
    }
    if (p->data.p[p->data.len - 1] == '\n')
        p->data.len--;
    if (p->type.len == 0)
        rc = push_event(p, "message", 7, p->data.p, p->data.len);
    else
        rc = push_event(p, p->type.p, p->type.len, p->data.p, p->data.len);
    p->data.len = 0;
    p->type.len = 0;
    return rc;
}

static int name_is(const char *name, size_t len, const char *want)
{
    return len == strlen(want) && memcmp(name, want, len) == 0;
}

/* A retry value: one or more ASCII digits, fitting int64_t. */
static void set_retry(struct sse_parser *p, const char *v, size_t len)
{
    int64_t ms = 0;
    if (len == 0)
        return;
    for (size_t i = 0; i < len; i++) {
        if (v[i] < '0' || v[i] > '9')
            return;
        if (ms > (INT64_MAX - (v[i] - '0')) / 10)
            return;
        ms = ms * 10 + (v[i] - '0');
    }
    p->retry = ms;
}

/* "Process the field" with the given name and value. */
static int process_field(struct sse_parser *p, const char *name,
                         size_t name_len, const char *value, size_t value_len)
{
    p->fields++;
    p->pending = 1;
    if (name_is(name, name_len, "event"))
        return bytes_set(&p->type, value, value_len);
    if (name_is(name, name_len, "data")) {
        if (bytes_append(&p->data, value, value_len) < 0)
            return -1;
        return bytes_append(&p->data, "\n", 1);
    }
    if (name_is(name, name_len, "id")) {
        if (memchr(value, '\0', value_len) != NULL)
            return 0;
        return bytes_set(&p->id, value, value_len);
    }
    if (name_is(name, name_len, "retry"))
        set_retry(p, value, value_len);
    return 0;
}

/* Interprets one complete line (without its line break). */
static int process_line(struct sse_parser *p, const char *s, size_t len)
{
    if (len == 0)
        return dispatch(p);
    if (s[0] == ':') {
        p->comments++;
        return 0;
    }
    const char *colon = memchr(s, ':', len);
    if (colon == NULL)
        return process_field(p, s, len, "", 0);
    size_t name_len = (size_t)(colon - s);
    const char *value = colon + 1;
    size_t value_len = len - name_len - 1;
    if (value_len > 0 && value[0] == ' ') {
        value++;
        value_len--;
    }
    return process_field(p, s, name_len, value, value_len);
}

static int end_line(struct sse_parser *p)
{
    /* The line buffer is reused; process_line never appends to it. */
    int rc = process_line(p, p->line.p ? p->line.p : "", p->line.len);
    p->line.len = 0;
    return rc;
}

/* The line splitter: CRLF, CR and LF each end a line. */
static int split_byte(struct sse_parser *p, unsigned char c)
{
    if (p->skip_lf) {
        p->skip_lf = 0;
        if (c == '\n')
            return 0;
    }
    if (c == '\r') {
        p->skip_lf = 1;
        return end_line(p);
    }
    if (c == '\n')
        return end_line(p);
    return bytes_append(&p->line, &c, 1);
}

int sse_parser_feed(struct sse_parser *p, const void *bytes, size_t n)
{
    const unsigned char *s = bytes;
    if (p->failed)
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (p->at_start) {
            if (s[i] == bom[p->bom_seen]) {
                if (++p->bom_seen == sizeof(bom))
                    p->at_start = 0;
                continue;
            }
            /* Not a BOM after all: the held bytes are stream content. */
            p->at_start = 0;
            for (size_t k = 0; k < p->bom_seen; k++) {
                if (split_byte(p, bom[k]) < 0)
                    goto fail;
            }
        }
        if (split_byte(p, s[i]) < 0)
            goto fail;
    }
    return 0;
fail:
    p->failed = 1;
    return -1;
}

size_t sse_parser_count(const struct sse_parser *p)
{
    return p->nevents;
}

const struct sse_parsed_event *sse_parser_event(const struct sse_parser *p,
                                                size_t i)
{
    return i < p->nevents ? &p->events[i] : NULL;
}

int64_t sse_parser_retry(const struct sse_parser *p)
{
    return p->retry;
}

size_t sse_parser_comments(const struct sse_parser *p)
{
    return p->comments;
}

size_t sse_parser_fields(const struct sse_parser *p)
{
    return p->fields;
}

size_t sse_parser_empty_dispatches(const struct sse_parser *p)
{
    return p->empty_dispatches;
}

const char *sse_parser_last_event_id(const struct sse_parser *p, size_t *len)
{
    if (len != NULL)
        *len = p->id_str.len;
    return p->id_str.p;
}

int sse_parser_idle(const struct sse_parser *p)
{
    if (p->at_start && p->bom_seen > 0)
        return 0;
    return p->line.len == 0 && !p->pending;
}
