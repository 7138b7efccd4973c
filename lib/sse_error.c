/* sse_error.c - error code descriptions.
 * SPDX-License-Identifier: MIT
 */
#include "sse_error.h"

const char *sse_strerror(int err)
{
    switch (err) {
    case SSE_OK:
        return "success";
    case SSE_EINVAL:
        return "invalid input";
    case SSE_ENOMEM:
        return "out of memory";
    case SSE_ETOOBIG:
        return "input too large";
    case SSE_ENOENT:
        return "database file not found";
    case SSE_EBUSY:
        return "database busy (locked, timed out, or a read cancelled by a "
               "standby)";
    case SSE_ECORRUPT:
        return "database corrupt or not a database";
    case SSE_EDB:
        return "database error";
    case SSE_EIO:
        return "write failed";
    case SSE_ESCHEMA:
        return "database not initialised (run: sselite init DB) or of a "
               "schema version this build does not know";
    case SSE_ECLOSED:
        return "shut down";
    case SSE_ETIMEDOUT:
        return "timed out";
    case SSE_EAGAIN:
        return "would block";
    default:
        return "unknown error";
    }
}
