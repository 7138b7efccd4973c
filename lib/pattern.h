/* pattern.h - channel patterns: an exact name, a prefix, or every channel.
 * SPDX-License-Identifier: MIT
 *
 * A pattern is one of
 *   - an exact channel name ("news", "user/42/inbox"): that channel only;
 *   - a prefix ending in '*' right after '/' or ':' ("orders:*", or
 *     "user/42/" followed by '*'): every channel whose name starts with the
 *     part before the '*' (the latter matches "user/42/inbox", not
 *     "user/42");
 *   - "*" alone: every channel.
 * The part before a prefix's '*' obeys the channel rules (channel.h), so a
 * pattern never needs escaping, and '*' appears nowhere else: no globs, no
 * regular expressions. Retention rules use patterns; access grants and
 * pattern subscriptions are meant to use the same syntax and this module.
 *
 * When several patterns match one channel, the most specific wins: the
 * exact name, else the longest prefix, else "*". Two different patterns
 * that match the same channel never have the same specificity.
 *
 * Thread-safety: pure functions, safe from any thread.
 */
#ifndef SSE_PATTERN_H
#define SSE_PATTERN_H

#include <stddef.h>

enum sse_pattern_kind {
    SSE_PATTERN_EXACT,  /* the whole pattern is a channel name */
    SSE_PATTERN_PREFIX, /* pattern[0..len-1) is the prefix, '*' follows */
    SSE_PATTERN_ALL     /* "*" */
};

/* The longest pattern: a prefix of a full-length channel name plus '*'. */
#define SSE_PATTERN_MAX 128

/* Classifies p[0..len) into *kind. Returns 0, or SSE_EINVAL (with *kind
 * untouched) when p is not a pattern: empty, too long, a byte a channel
 * may not hold, a '*' anywhere but at the end, or a '*' that does not
 * follow '/' or ':' (or stand alone). */
int sse_pattern_parse(const char *p, size_t len, enum sse_pattern_kind *kind);

/* Returns 1 if the valid pattern p[0..plen) matches channel[0..clen), else
 * 0. The caller checked p with sse_pattern_parse (asserted). */
int sse_pattern_match(const char *p, size_t plen, const char *channel,
                      size_t clen);

/* How specific the valid pattern p[0..plen) is: 0 for "*", the prefix's
 * length (1 to SSE_PATTERN_MAX - 1) for a prefix, SSE_PATTERN_MAX + 1 for
 * an exact name. Among patterns matching one channel, the highest wins. */
size_t sse_pattern_specificity(const char *p, size_t plen);

/* Returns 1 if every channel the valid pattern b[0..blen) matches is also
 * matched by the valid pattern a[0..alen), else 0: "*" covers everything,
 * a prefix covers the names and the longer prefixes that start with it
 * ("user:*" covers "user:42" and "user:42:*", not "users" nor "*"), an
 * exact name covers only itself. Access grants use it: a subscription is
 * allowed when one grant covers it whole. Both checked by the caller
 * (asserted). */
int sse_pattern_covers(const char *a, size_t alen, const char *b, size_t blen);

/* Templates. In a grant (a token's channels, user-channels, the grants
 * table) the text "{user}" stands for the authenticated user's name. A
 * user name fits when it is 1 to SSE_CHANNEL_MAX bytes of A-Z a-z 0-9
 * _ . @ - : the channel characters without the separators '/' and ':', so
 * that a name can never reach into another user's prefix (a user "42/x"
 * would otherwise be granted user/42/x/... beside user 42's own). */
#define SSE_PATTERN_USER "{user}"

/* Returns 1 if u[0..len) is a user name that can stand for "{user}". */
int sse_pattern_user_valid(const char *u, size_t len);

/* Returns 1 if t[0..len) is a pattern once every "{user}" in it is
 * replaced by a valid user name ("user/{user}/" + '*', "chat:{user}"), or a
 * pattern without "{user}"; 0 otherwise. */
int sse_pattern_template_valid(const char *t, size_t len);

/* Writes t[0..len) with every "{user}" replaced by user[0..ulen) (NULL:
 * no user) to out (capacity cap, NUL-terminated) and its length to
 * *outlen. Returns 0 when the result is a valid pattern; SSE_EINVAL when
 * t holds "{user}" and the user is absent or not a valid user name, or
 * the result is not a pattern (too long): the template then grants
 * nothing. t must be valid (sse_pattern_template_valid). */
int sse_pattern_expand(const char *t, size_t len, const char *user, size_t ulen,
                       char *out, size_t cap, size_t *outlen);

#endif
