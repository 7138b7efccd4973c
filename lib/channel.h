/* channel.h - channel names and event type names.
 * SPDX-License-Identifier: MIT
 *
 * The same rules as the CHECK constraints in schema/001-events.sql, so a
 * request can be refused with a clear message before any SQL runs:
 *   channel: 1 to 128 bytes of [A-Za-z0-9_.:/@-];
 *   event type: at most 128 bytes, no CR, no LF, no NUL.
 */
#ifndef SSE_CHANNEL_H
#define SSE_CHANNEL_H

#include <stddef.h>

#define SSE_CHANNEL_MAX 128
#define SSE_EVENT_TYPE_MAX 128
#define SSE_CHANNEL_DEFAULT "default"

/* Returns 1 if name[0..len) is a valid channel name, 0 otherwise. */
int sse_channel_valid(const char *name, size_t len);

/* Returns 1 if type[0..len) is a valid event type (empty is valid and means
 * "message"), 0 otherwise. */
int sse_event_type_valid(const char *type, size_t len);

#endif
