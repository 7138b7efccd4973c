/* channel.h - channel names and event type names.
 * SPDX-License-Identifier: MIT
 *
 * The same rules as the schema (schema/001-events.sql and 003-limits.sql),
 * with the numbers of sse_limits.h, so a request or a publish can be
 * refused with a clear message before any SQL runs:
 *   channel: 1 to SSE_CHANNEL_MAX bytes of [A-Za-z0-9_.:/@-];
 *   event type: at most SSE_EVENT_TYPE_MAX bytes, no CR, no LF, no NUL.
 */
#ifndef SSE_CHANNEL_H
#define SSE_CHANNEL_H

#include <stddef.h>
#include <stdint.h>

#include "sse_limits.h"

#define SSE_CHANNEL_DEFAULT "default"

/* Returns 1 if name[0..len) is a valid channel name, 0 otherwise. */
int sse_channel_valid(const char *name, size_t len);

/* Returns 1 if type[0..len) is a valid event type (empty is valid and means
 * "message"), 0 otherwise. */
int sse_event_type_valid(const char *type, size_t len);

/* The hash of a channel name[0..len) (32-bit FNV-1a) that the fan-out
 * compares before it compares names (interning them, chanids.h). */
uint32_t sse_channel_hash(const char *name, size_t len);

#endif
