/* sqlite_error.c - SQLite result codes as sselite error codes.
 * SPDX-License-Identifier: MIT
 */
#include <sqlite3.h>

#include "sqlite_error.h"
#include "sse_error.h"

int sse_sqlite_error(int rc)
{
    switch (rc & 0xff) {
    case SQLITE_OK:
    case SQLITE_ROW:
    case SQLITE_DONE:
        return 0;
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        return SSE_EBUSY;
    case SQLITE_CONSTRAINT:
        return SSE_EINVAL;
    case SQLITE_NOTADB:
    case SQLITE_CORRUPT:
        return SSE_ECORRUPT;
    case SQLITE_NOMEM:
        return SSE_ENOMEM;
    case SQLITE_TOOBIG:
        return SSE_ETOOBIG;
    default:
        return SSE_EDB;
    }
}
