#!/usr/bin/env python3
# run.py - runs the access cases (every case_*.py here, sorted) with the
# integration suite's harness and runner: one line per case, then exactly
# "N passed, N failed".
# SPDX-License-Identifier: MIT
#
# Usage: run.py [PATTERN...]   (run only cases whose "NN name" contains one)

import glob
import importlib
import importlib.util
import os
import sys

sys.dont_write_bytecode = True  # leave no __pycache__ in the source tree
HERE = os.path.dirname(os.path.abspath(__file__))
TESTS = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(TESTS, "integration"))
sys.path.insert(0, HERE)
# The reliability suite's registry: @case("name") appends to CASES.
sys.path.insert(0, os.path.join(TESTS, "reliability"))

import registry  # noqa: E402

for path in sorted(glob.glob(os.path.join(HERE, "case_*.py"))):
    importlib.import_module(os.path.basename(path)[:-3])

import cases  # noqa: E402  (the integration runner reads cases.CASES)

_spec = importlib.util.spec_from_file_location(
    "integration_run", os.path.join(TESTS, "integration", "run.py"))
integration_run = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(integration_run)

cases.CASES[:] = registry.CASES

if __name__ == "__main__":
    sys.exit(integration_run.main(sys.argv[1:]))
