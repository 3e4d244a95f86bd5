#!/usr/bin/python3
"""progress-test.py PGRACE_BIN SOURCE_DIR: on a terminal, interleave phases
show a progress line (orders done/total, duplicate orders so far, elapsed),
as rounds do, and the verdict line is coloured (green PASS), but not under
NO_COLOR nor into a pipe; the seed scenario on the PG* server, stdout and
stderr a pseudo-terminal. Exits 0 when every check held."""
import os
import re
import select
import subprocess
import sys
import time

from pgrace_testlib import pgrace_and_source

PGRACE, SOURCE = pgrace_and_source()

SEED = os.path.join(SOURCE, "scenarios", "membership-unique.yaml")
GREEN = "\033[32mmembership-unique"


def on_terminal(env):
    master, slave = os.openpty()
    p = subprocess.Popen([PGRACE, "run", SEED, "-w", "2", "-r", "2"], stdout=slave, stderr=slave,
                         env=env)
    os.close(slave)
    said = b""
    deadline = time.time() + 120
    while time.time() < deadline:
        r, _, _ = select.select([master], [], [], 1)
        if r:
            try:
                chunk = os.read(master, 65536)
            except OSError:
                break
            if not chunk:
                break
            said += chunk
        elif p.poll() is not None:
            break
    p.wait(timeout=60)
    os.close(master)
    return p.returncode, said.decode("utf-8", "replace")


failures = []
env = dict(os.environ)
env.pop("NO_COLOR", None)
code, text = on_terminal(env)
lines = set(re.findall(r"(interleave-\w+) +order (\d+)/(\d+) +dup orders (\d+)", text))
if code != 0:
    failures.append(f"exit {code}")
for want in (("interleave-before", "20", "20", "18"), ("interleave-after", "20", "20", "0")):
    if want not in lines:
        failures.append(f"no progress line {want}: {sorted(lines)}")
if GREEN not in text:
    failures.append("the PASS line is not green on a terminal")
env["NO_COLOR"] = "1"
code, text = on_terminal(env)
if "\033[32m" in text or "\033[31m" in text:
    failures.append("colour under NO_COLOR")
piped = subprocess.run([PGRACE, "run", SEED, "-w", "2", "-r", "2"], capture_output=True, text=True,
                       timeout=120)
if "\033[" in piped.stdout:
    failures.append("colour into a pipe")
for f in failures:
    print("FAIL " + f)
print("ok" if not failures else f"{len(failures)} checks failed")
sys.exit(1 if failures else 0)
