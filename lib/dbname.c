/* dbname.c - SQLite path or PostgreSQL URI, and URIs without passwords.
 * SPDX-License-Identifier: MIT
 *
 * The URI grammar is libpq's: postgresql://[user[:password]@][hosts][/db]
 * [?key=value&...]. libpq ends the user part at the first '@' before any
 * '/' (a '@' or '/' in a password must be percent-encoded), and so do we.
 */
#include "dbname.h"

#include <string.h>

static const char *const PREFIXES[] = {"postgresql://", "postgres://"};

/* Length of the URI prefix at s, 0 if there is none. */
static size_t prefix_len(const char *s)
{
    for (size_t i = 0; i < sizeof PREFIXES / sizeof PREFIXES[0]; i++) {
        size_t n = strlen(PREFIXES[i]);
        if (strncmp(s, PREFIXES[i], n) == 0)
            return n;
    }
    return 0;
}

int sse_dbname_is_uri(const char *db)
{
    return db != NULL && prefix_len(db) > 0;
}

static int uri_end(char c)
{
    return c == '\0' || c == ' ' || c == '\t' || c == '\n' || c == '\r' ||
           c == '\'' || c == '"';
}

/* Replaces [from, to) by up to three stars, moving the rest of the
 * NUL-terminated s left; returns the new end of the hidden part. */
static char *hide(char *from, char *to)
{
    size_t len = (size_t)(to - from);
    size_t stars = len < 3 ? len : 3;
    memset(from, '*', stars);
    memmove(from + stars, to, strlen(to) + 1);
    return from + stars;
}

/* Scrubs the one URI starting at uri (just after its prefix is p); returns
 * the number of passwords hidden and sets *end past the URI. */
static int scrub_uri(char *p, char **end)
{
    int hidden = 0;
    /* user[:password]@ */
    char *q = p;
    while (!uri_end(*q) && *q != '@' && *q != '/' && *q != '?')
        q++;
    if (*q == '@') {
        char *colon = memchr(p, ':', (size_t)(q - p));
        if (colon && colon + 1 < q) {
            q = hide(colon + 1, q);
            hidden++;
        }
    }
    /* ?key=value&key=value */
    while (!uri_end(*q) && *q != '?')
        q++;
    while (*q == '?' || *q == '&') {
        char *key = q + 1;
        char *v = key;
        while (!uri_end(*v) && *v != '=' && *v != '&')
            v++;
        char *vend = v;
        if (*v == '=') {
            vend = v + 1;
            while (!uri_end(*vend) && *vend != '&')
                vend++;
            if (v - key == 8 && strncmp(key, "password", 8) == 0 &&
                vend > v + 1) {
                vend = hide(v + 1, vend);
                hidden++;
            }
        }
        q = vend;
    }
    while (!uri_end(*q))
        q++;
    *end = q;
    return hidden;
}

int sse_dbname_scrub(char *s)
{
    int hidden = 0;
    char *p = s;
    while (*p) {
        size_t n = prefix_len(p);
        if (n == 0) {
            p++;
            continue;
        }
        char *end;
        hidden += scrub_uri(p + n, &end);
        p = end;
    }
    return hidden;
}

int sse_dbname_hide_passwords(const char *uri, char *text)
{
    /* The scrubbed copy differs from uri exactly where passwords were: walk
     * both and take each differing stretch of uri as one password. */
    char copy[4096];
    size_t n = strlen(uri);
    if (n >= sizeof copy || !sse_dbname_is_uri(uri))
        return 0;
    memcpy(copy, uri, n + 1);
    if (sse_dbname_scrub(copy) == 0)
        return 0;
    int hidden = 0;
    const char *u = uri, *c = copy;
    while (*u) {
        if (*u == *c) {
            u++;
            c++;
            continue;
        }
        /* A password starts here in uri; in copy, 1 to 3 stars. */
        size_t stars = strspn(c, "*");
        const char *end = u;
        while (*end && *end != '@' && *end != '&' && !uri_end(*end))
            end++;
        size_t len = (size_t)(end - u);
        char pw[4096];
        memcpy(pw, u, len);
        pw[len] = '\0';
        for (char *at = len ? strstr(text, pw) : NULL; at;
             at = strstr(at, pw)) {
            at = hide(at, at + len);
            hidden++;
        }
        u = end;
        c += stars;
    }
    return hidden;
}

const char *sse_dbname_display(const char *db, char *out, size_t cap)
{
    /* Scrub before truncating: a URI cut inside its user part would no
     * longer show where its password ends. */
    char full[4096];
    size_t n = strlen(db);
    if (n >= sizeof full)
        n = sizeof full - 1;
    memcpy(full, db, n);
    full[n] = '\0';
    sse_dbname_scrub(full);
    n = strlen(full);
    if (n >= cap) {
        n = cap - 1;
        if (n >= 3)
            memcpy(full + n - 3, "...", 3);
    }
    memcpy(out, full, n);
    out[n] = '\0';
    return out;
}
