"""pgrace_testlib: what the Python tests of pgrace share (standard library only).

A test script imports it from its own folder (tests/, first on sys.path when the
script runs): check() prints one line per check and keeps the failures, for the
script's exit code; pgrace_and_source() reads the two arguments ctest passes.
"""
import os
import sys

# The checks that failed, in order (what each was).
failures = []


def check(ok, what):
    """Prints "ok   WHAT" or "FAIL WHAT"; keeps WHAT in failures when not ok; returns ok."""
    print(("ok   " if ok else "FAIL ") + what, flush=True)
    if not ok:
        failures.append(what)
    return ok


def pgrace_and_source():
    """The pgrace binary (PGRACE_TEST_BIN, else argv[1]) and the source folder (argv[2]), absolute."""
    return (os.path.abspath(os.environ.get("PGRACE_TEST_BIN") or sys.argv[1]),
            os.path.abspath(sys.argv[2]))
