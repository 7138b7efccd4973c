/* channel.c - channel names and event type names.
 * SPDX-License-Identifier: MIT
 */
#include "channel.h"

static int channel_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9') || c == '_' || c == '.' || c == ':' ||
           c == '/' || c == '@' || c == '-';
}

int sse_channel_valid(const char *name, size_t len)
{
    if (!name || len == 0 || len > SSE_CHANNEL_MAX)
        return 0;
    for (size_t i = 0; i < len; i++)
        if (!channel_char((unsigned char)name[i]))
            return 0;
    return 1;
}

int sse_event_type_valid(const char *type, size_t len)
{
    if (len > SSE_EVENT_TYPE_MAX)
        return 0;
    for (size_t i = 0; i < len; i++)
        if (type[i] == '\r' || type[i] == '\n' || type[i] == '\0')
            return 0;
    return 1;
}

uint32_t sse_channel_hash(const char *name, size_t len)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)name[i];
        h *= 16777619u;
    }
    return h;
}
