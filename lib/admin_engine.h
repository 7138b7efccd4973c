/* admin_engine.h - what an event-log engine provides to lib/admin.c.
 * SPDX-License-Identifier: MIT
 *
 * Private to the write side: lib/admin.c is the one interface (admin.h)
 * and picks an engine by the db name (dbname.h); each engine
 * (admin_sqlite.c, admin_pg.c) is a table of these functions over its own
 * connection object. Each means what the admin.h function of the same name
 * means; open writes why it failed into err (may be NULL) when it knows.
 */
#ifndef SSE_ADMIN_ENGINE_H
#define SSE_ADMIN_ENGINE_H

#include <stddef.h>
#include <stdint.h>

#include "admin.h"

struct sse_admin_engine {
    const char *name;
    int (*open)(const char *db, int create, int busy_timeout_ms, void **impl,
                char *err, size_t errlen);
    void (*close)(void *impl);
    const char *(*errmsg)(const void *impl);
    int (*init)(void *impl, int *from, int *to);
    int (*publish_idem)(void *impl, const char *channel, const char *type,
                        const char *data, size_t len, const char *key,
                        int64_t *id, int *duplicate);
    int (*prune)(void *impl, int64_t keep, int64_t older_than_ms,
                 const char *channel, int64_t *deleted);
    int (*stats)(void *impl, struct sse_admin_stats *st,
                 sse_admin_channel_fn fn, void *ctx);
    int (*checkpoint)(void *impl, int *busy);
    int (*next_channel)(void *impl, const char *after, char *out, int *found);
    int (*prune_cutoff)(void *impl, const char *channel, int64_t keep,
                        int64_t older_than_ms, int64_t *cutoff);
    int (*delete_through)(void *impl, const char *channel, int64_t cutoff,
                          int64_t limit, int64_t *deleted);
    int (*vacuum)(void *impl);
    int (*grant)(void *impl, const char *principal, const char *pattern,
                 int64_t expires_ms);
    int (*revoke)(void *impl, const char *principal, const char *pattern,
                  int64_t *removed);
    int (*grants)(void *impl, const char *principal, sse_admin_grant_fn fn,
                  void *ctx);
};

extern const struct sse_admin_engine sse_admin_sqlite_engine;
extern const struct sse_admin_engine sse_admin_pg_engine;

#endif
