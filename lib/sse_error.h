/* sse_error.h - error codes shared by every sselite module.
 * SPDX-License-Identifier: MIT
 *
 * Fallible functions return 0 on success or one of these negative codes.
 * sse_strerror() gives a short, stable English phrase for logs and for the
 * one-line bodies of HTTP error responses.
 */
#ifndef SSE_ERROR_H
#define SSE_ERROR_H

enum sse_error {
    SSE_OK = 0,
    SSE_EINVAL = -1,     /* malformed input (request, option, argument) */
    SSE_ENOMEM = -2,     /* allocation failed */
    SSE_ETOOBIG = -3,    /* input exceeds a documented limit */
    SSE_ENOENT = -4,     /* database file (or other named thing) missing */
    SSE_EBUSY = -5,      /* database busy past the busy timeout: locked,
                            a statement timeout, a recovery conflict */
    SSE_ECORRUPT = -6,   /* database is not an sselite log or is damaged */
    SSE_EDB = -7,        /* any other SQLite failure */
    SSE_EIO = -8,        /* write to the client or a file failed */
    SSE_ESCHEMA = -9,    /* schema missing, or newer than this build knows */
    SSE_ECLOSED = -10,   /* the object was shut down */
    SSE_ETIMEDOUT = -11, /* a bounded wait ran out */
    SSE_EAGAIN = -12     /* not now: the socket is full, call again once it
                            is writable */
};

/* Returns a static string describing err; never NULL, also for unknown
 * codes. Thread-safe. */
const char *sse_strerror(int err);

#endif
