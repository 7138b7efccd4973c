/* clock.c - the one clock every deadline in the worker is measured on.
 * SPDX-License-Identifier: MIT
 */
#include <time.h>

#include "clock.h"

int64_t sse_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * SSE_NS_PER_S + ts.tv_nsec;
}
