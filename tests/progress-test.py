#!/usr/bin/python3
"""progress-test.py PGRACE_BIN SOURCE_DIR: on a terminal, interleave phases
show a progress line (orders done/total, duplicate orders so far, elapsed),
as rounds do; the seed scenario on the PG* server, stderr a pseudo-terminal.
Exits 0 when every check held."""
import os
import re
import select
import subprocess
import sys
import time

PGRACE = os.path.abspath(os.environ.get("PGRACE_TEST_BIN") or sys.argv[1])
SOURCE = os.path.abspath(sys.argv[2])

master, slave = os.openpty()
p = subprocess.Popen([PGRACE, "run", os.path.join(SOURCE, "scenarios", "membership-unique.yaml"),
                      "-w", "2", "-r", "2"], stdout=subprocess.DEVNULL, stderr=slave)
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
text = said.decode("utf-8", "replace")
lines = set(re.findall(r"(interleave-\w+) +order (\d+)/(\d+) +dup orders (\d+)", text))
ok = p.returncode == 0
ok &= ("interleave-before", "20", "20", "18") in lines
ok &= ("interleave-after", "20", "20", "0") in lines
print("ok" if ok else f"FAIL exit {p.returncode}, progress lines {sorted(lines)}")
sys.exit(0 if ok else 1)
