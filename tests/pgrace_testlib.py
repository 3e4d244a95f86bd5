"""pgrace_testlib: what the Python tests of pgrace share (standard library only).

A test script imports it from its own folder (tests/, first on sys.path when the
script runs): check() prints one line per check and keeps the failures, for the
script's exit code; pgrace_and_source() reads the two arguments ctest passes;
run_json() runs pgrace with --json and reads the document, phase() finds a phase in it.
"""
import json
import os
import subprocess
import sys
import time

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


def run_json(argv, json_path, limit_s, label):
    """Runs argv (pgrace and its arguments) with --json json_path added, within limit_s;
    prints "pgrace LABEL: exit N in S s"; returns (exit code, the JSON document or None,
    stdout + stderr)."""
    t0 = time.monotonic()
    p = subprocess.run(argv + ["--json", json_path], capture_output=True, text=True,
                       timeout=limit_s)
    print(f"     pgrace {label}: exit {p.returncode} in {time.monotonic() - t0:.1f} s", flush=True)
    doc = None
    if os.path.exists(json_path):
        with open(json_path) as f:
            doc = json.load(f)
    return p.returncode, doc, p.stdout + p.stderr


def phase(doc, name):
    """The phase called name in a result document."""
    return next(p for p in doc["phases"] if p["name"] == name)
