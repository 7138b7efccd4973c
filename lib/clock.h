/* clock.h - the one clock every deadline in the worker is measured on.
 * SPDX-License-Identifier: MIT
 *
 * CLOCK_MONOTONIC, so a wall-clock step (NTP, an admin's date command)
 * never ends a stream early or keeps a heartbeat from being sent.
 *
 * Thread-safety: thread-safe.
 */
#ifndef SSE_CLOCK_H
#define SSE_CLOCK_H

#include <stdint.h>

#define SSE_NS_PER_MS 1000000LL
#define SSE_NS_PER_S 1000000000LL

/* CLOCK_MONOTONIC in nanoseconds. */
int64_t sse_now_ns(void);

#endif
