#!/usr/bin/env python3
# run.py - runs the PostgreSQL cases (pg_cases.py) with the integration
# suite's harness and runner: one line per case, then exactly
# "N passed, N failed".
# SPDX-License-Identifier: MIT
#
# Usage: run.py [PATTERN...]   (run only cases whose "NN name" contains one)

import importlib.util
import os
import sys

sys.dont_write_bytecode = True  # leave no __pycache__ in the source tree
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "integration"))
sys.path.insert(0, HERE)

import cases  # noqa: E402  (the integration runner reads cases.CASES)
import pg_cases  # noqa: E402

_spec = importlib.util.spec_from_file_location(
    "integration_run", os.path.join(os.path.dirname(HERE), "integration", "run.py"))
integration_run = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(integration_run)

cases.CASES[:] = pg_cases.CASES

if __name__ == "__main__":
    try:
        import psycopg2  # noqa: F401
    except ImportError:
        print("not ok - prerequisites: python3-psycopg2 is not installed")
        print("0 passed, 1 failed")
        sys.exit(1)
    try:
        sys.exit(integration_run.main(sys.argv[1:]))
    finally:
        pg_cases.shutdown()
