# registry.py - the case registry of the reliability suite.
# SPDX-License-Identifier: MIT
#
# Each case_*.py module registers its cases with @case("name"); run.py
# imports every such module (sorted by file name) and runs what they
# registered, in that order.

CASES = []


def case(name):
    def deco(fn):
        CASES.append((name, fn))
        return fn
    return deco
