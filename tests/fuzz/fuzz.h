/* fuzz.h - what every libFuzzer target in tests/fuzz shares.
 * SPDX-License-Identifier: MIT
 */
#ifndef SSE_FUZZ_H
#define SSE_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

/* A broken property is a crash, so libFuzzer keeps the input. */
#define CHECK(cond)                                                            \
    do {                                                                       \
        if (!(cond))                                                           \
            abort();                                                           \
    } while (0)

/* The entry point libFuzzer calls once per input. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#endif
