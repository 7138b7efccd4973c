/* admin.c - write side of the event log: one interface over two engines.
 * SPDX-License-Identifier: MIT
 *
 * A postgresql:// or postgres:// URI is written through admin_pg.c,
 * anything else is a SQLite file (admin_sqlite.c). Every call goes to the
 * engine the log was opened with; nothing here knows either database.
 */
#include "admin.h"

#include <stdlib.h>

#include "admin_engine.h"
#include "dbname.h"
#include "sse_error.h"

/* Invariant: engine and impl are set. */
struct sse_admin {
    const struct sse_admin_engine *engine;
    void *impl;
};

int sse_admin_open_msg(const char *path, int create, int busy_timeout_ms,
                       struct sse_admin **out, char *err, size_t errlen)
{
    if (err && errlen)
        err[0] = '\0';
    struct sse_admin *a = calloc(1, sizeof *a);
    if (!a)
        return SSE_ENOMEM;
    a->engine = sse_dbname_is_uri(path) ? &sse_admin_pg_engine
                                        : &sse_admin_sqlite_engine;
    int rc =
        a->engine->open(path, create, busy_timeout_ms, &a->impl, err, errlen);
    if (rc) {
        free(a);
        return rc;
    }
    *out = a;
    return 0;
}

int sse_admin_open(const char *path, int create, int busy_timeout_ms,
                   struct sse_admin **out)
{
    return sse_admin_open_msg(path, create, busy_timeout_ms, out, NULL, 0);
}

void sse_admin_close(struct sse_admin *a)
{
    if (!a)
        return;
    a->engine->close(a->impl);
    free(a);
}

const char *sse_admin_errmsg(const struct sse_admin *a)
{
    return a->engine->errmsg(a->impl);
}

int sse_admin_init(struct sse_admin *a, int *from, int *to)
{
    return a->engine->init(a->impl, from, to);
}

int sse_admin_publish_idem(struct sse_admin *a, const char *channel,
                           const char *type, const char *data, size_t len,
                           const char *key, int64_t *id, int *duplicate)
{
    return a->engine->publish_idem(a->impl, channel, type, data, len, key, id,
                                   duplicate);
}

int sse_admin_publish(struct sse_admin *a, const char *channel,
                      const char *type, const char *data, size_t len,
                      int64_t *id)
{
    return sse_admin_publish_idem(a, channel, type, data, len, NULL, id, NULL);
}

int sse_admin_prune(struct sse_admin *a, int64_t keep, int64_t older_than_ms,
                    const char *channel, int64_t *deleted)
{
    return a->engine->prune(a->impl, keep, older_than_ms, channel, deleted);
}

int sse_admin_stats(struct sse_admin *a, struct sse_admin_stats *st,
                    sse_admin_channel_fn fn, void *ctx)
{
    return a->engine->stats(a->impl, st, fn, ctx);
}

int sse_admin_checkpoint(struct sse_admin *a, int *busy)
{
    return a->engine->checkpoint(a->impl, busy);
}

int sse_admin_next_channel(struct sse_admin *a, const char *after, char *out,
                           int *found)
{
    return a->engine->next_channel(a->impl, after, out, found);
}

int sse_admin_prune_cutoff(struct sse_admin *a, const char *channel,
                           int64_t keep, int64_t older_than_ms, int64_t *cutoff)
{
    return a->engine->prune_cutoff(a->impl, channel, keep, older_than_ms,
                                   cutoff);
}

int sse_admin_delete_through(struct sse_admin *a, const char *channel,
                             int64_t cutoff, int64_t limit, int64_t *deleted)
{
    return a->engine->delete_through(a->impl, channel, cutoff, limit, deleted);
}

int sse_admin_vacuum(struct sse_admin *a)
{
    return a->engine->vacuum(a->impl);
}

int sse_admin_grant(struct sse_admin *a, const char *principal,
                    const char *pattern, int64_t expires_ms)
{
    return a->engine->grant(a->impl, principal, pattern, expires_ms);
}

int sse_admin_revoke(struct sse_admin *a, const char *principal,
                     const char *pattern, int64_t *removed)
{
    return a->engine->revoke(a->impl, principal, pattern, removed);
}

int sse_admin_grants(struct sse_admin *a, const char *principal,
                     sse_admin_grant_fn fn, void *ctx)
{
    return a->engine->grants(a->impl, principal, fn, ctx);
}
