#!/usr/bin/python3
"""bench-summary-test.py SOURCE_DIR: scripts/bench-summary.py on the small raw
file tests/data/bench/raw.jsonl gives tests/data/bench/summary.json (the
tables bench.sh's jq aggregation gave for the same records), and figures
worked out by hand from the records: medians of odd and even counts, records
not ok left out, ratios and repetition counts; a line that is not JSON is
named by file:line with exit code 2. Exits 0 when every check held."""
import json
import os
import subprocess
import sys

SOURCE = os.path.abspath(sys.argv[1])
SUMMARY = os.path.join(SOURCE, "scripts", "bench-summary.py")
DATA = os.path.join(SOURCE, "tests", "data", "bench")

failures = []


def check(what, got, want):
    if got != want:
        failures.append(f"{what}: got {got!r}, want {want!r}")


def run(raw, nproc="2"):
    return subprocess.run([sys.executable, SUMMARY, raw, nproc], capture_output=True, text=True, timeout=60)


p = run(os.path.join(DATA, "raw.jsonl"))
check("exit code", p.returncode, 0)
got = json.loads(p.stdout) if p.returncode == 0 else {}
with open(os.path.join(DATA, "summary.json"), encoding="utf-8") as f:
    check("summary.json", got, json.load(f))

hit = {(r["flow"], r["workers"]): r for r in got.get("hit_rate", [])}
cti2 = hit.get(("check-then-insert", 2), {})
# fire 3/6, 5/6, 1/6 (a fourth rep not ok): median 3/6; pgbench 1/6, 2/6 (a third not ok): mean 1.5/6.
check("hit pgrace", cti2.get("pgrace"), 0.5)
check("hit pgbench", cti2.get("pgbench"), 0.25)
check("hit ratio", cti2.get("ratio"), 2)
check("hit reps", cti2.get("reps"), {"pgrace": 3, "pgbench": 2})
check("hit pgbench skew p50 (even count)", cti2.get("pgbench_skew_us_p50"), 300.5)
check("hit skew max (odd count)", cti2.get("skew_us_max"), 90)
check("hit groups in flow, workers order", [(r["flow"], r["workers"]) for r in got.get("hit_rate", [])],
      [("check-then-insert", 2), ("check-then-insert", 16), ("where-not-exists", 16)])
y16 = {r["workers"]: r for r in got.get("yield", [])}.get(16, {})
# (0.4445 + 0.5) / 2 = 0.47225 to 0.472; pgbench (0.111 + 0.1332) / 2 = 0.1221 to 0.122.
check("yield pgrace", y16.get("pgrace"), 0.472)
check("yield ratio", y16.get("ratio"), 3.87)
rel16 = {r["workers"]: r for r in got.get("release", [])}.get(16, {})
check("release last-byte server max (null left out)", rel16.get("last_byte", {}).get("server_us_max"), 300)
check("release last-byte client p50", rel16.get("last_byte", {}).get("client_us_p50"), 13.5)
# app flow: listener p50 (90 + 110) / 2, server max one of two (null left out).
check("release app listener p50", rel16.get("app", {}).get("client_us_p50"), 100)
check("release app server max (null left out)", rel16.get("app", {}).get("server_us_max"), 30000)

tp = {(r["phase"], r["workers"]): r for r in got.get("throughput", [])}
tp8 = tp.get(("before", 8), {})
# tps 1000, 1200.55, 1100: median 1100; efficiency 1100 x 1.4 / 5500 / 2 cores = 0.14 (rep 3),
# 1200.55 x 1.5 / 6000 / 2 = 0.15 (rep 2), rep 1 without CPU figures left out: mean 0.145 to 0.15.
check("throughput pgrace tps", tp8.get("pgrace", {}).get("tps"), 1100)
check("throughput pgrace efficiency", tp8.get("pgrace", {}).get("efficiency"), 0.15)
# client CPU 0.3 / 6000 and 0.25 / 5500 s: 50 and 45.45 us, mean 47.7; pgbench prepared 0.5 / 4500: 111.1.
check("throughput client CPU per attempt", tp8.get("pgrace", {}).get("client_cpu_us_per_attempt"), 47.7)
check("throughput cpu ratio prepared", tp8.get("cpu_ratio_prepared"), 0.43)
check("throughput ratio prepared", tp8.get("ratio_prepared"), 1.22)
check("throughput errors summed, null left out", tp8.get("pgrace_errors"), 2)
check("throughput pgbench aborted clients summed", tp8.get("pgbench_aborted_clients"), 1)
check("throughput groups: before first, then workers", [(r["phase"], r["workers"]) for r in got.get("throughput", [])],
      [("before", 1), ("before", 8), ("after", 1)])
check("throughput zero attempts: no per-attempt figure",
      tp.get(("after", 1), {}).get("pgrace", {}).get("client_cpu_us_per_attempt"), None)
gate = got.get("gate", {})
# gate reps 0.9, 1.1, 0.8 s: median 0.9; phase "before" 0.1234 and 0.1 (rep 1 without phases): 0.112.
check("gate total", gate.get("total_s"), 0.9)
check("gate phase before", (gate.get("phase_elapsed_s") or {}).get("before"), 0.112)
check("gate verdicts in order", gate.get("verdicts"), ["fail", "pass", "pass"])
hold = got.get("hold", {})
check("hold phases", hold.get("phases"), 3)
check("hold detection p50", hold.get("detect_us_p50"), 300)
check("hold detection max (largest, null left out)", hold.get("detect_us_max"), 1200)
check("hold coordinator share", hold.get("coordinator_share"), 0.046)
scale = got.get("scale", {})
# rss 40000 and 45000 KiB: median 42500 KiB = 41.5 MiB, largest 43.9 MiB; one rep failed.
check("scale rss median", scale.get("rss_mib"), 41.5)
check("scale rss max", scale.get("rss_mib_max"), 43.9)
check("scale verdict: the first not pass", scale.get("verdict"), "fail")
check("scale errors", scale.get("errors"), ["expectations failed"])
check("scale phase after", (scale.get("phase_elapsed_s") or {}).get("after"), 9.15)
ilv = got.get("interleave", [])
check("interleave order: workers, reduction first, before first",
      [(r["workers"], r["reduction"], r["phase"]) for r in ilv],
      [(2, True, "before"), (2, True, "after"), (3, True, "before"), (3, True, "after"), (3, False, "before")])
if len(ilv) == 5:
    # 2 workers after: steps 20000 and 21000 us over 6 orders (none run-counted): 3.33 and 3.5 ms, 3.42.
    check("interleave steps ms per order", ilv[1]["ms"]["steps"], 3.42)
    check("interleave cancels summed", ilv[1]["cancels"], 3)
    check("interleave lock questions per order run", ilv[3]["lock_queries_per_order"], 6)
# grouped by workers, then reduction: false before true.
check("interleave run s", [(r["workers"], r["reduction"], r["run_s"]) for r in got.get("interleave_run_s", [])],
      [(2, True, 1.6), (3, False, 60), (3, True, 15.12)])

goals = {g["goal"]: g for g in got.get("goals", [])}
# 16 workers check-then-insert: skew p50 95 <= 100; release 16: last-byte server 82.5 < pgbench's 650.
check("goal skew 16", goals.get("fire release skew p50 <= 100 µs (16 workers)"),
      {"goal": "fire release skew p50 <= 100 µs (16 workers)", "target": 100, "actual": 95, "met": True})
check("goal server spread", goals.get("fire server-observed release spread p50 < pgbench's (16 workers)", {}).get("met"),
      True)
check("goal yield at 2 workers not measured", goals.get(
    "fire duplicate yield >= 1x pgbench (autocommit WHERE NOT EXISTS, 2 workers)", {}).get("met"), None)
check("goal threads (cores + 4 = 6)", goals.get("1000 workers: threads <= cores + 4"),
      {"goal": "1000 workers: threads <= cores + 4", "target": 6, "actual": 6, "met": True})
check("goal verdict", goals.get("1000 workers: verdict pass", {}).get("met"), False)
check("goal efficiency names pgbench's", "efficiency (attempts/s x server CPU per attempt / cores) >= 0.90 "
      "(before, 8 workers; pgbench -M prepared 0.12)" in goals, True)

p = run(os.path.join(DATA, "raw.jsonl"), "0")
check("nproc 0 exit code", p.returncode, 2)

bad = os.path.join(DATA, "bad.jsonl")
p = run(bad)
check("bad input exit code", p.returncode, 2)
check("bad input names file:line", f"{bad}:2:" in p.stderr, True)
check("bad input: nothing on stdout", p.stdout, "")

for line in failures:
    print("FAIL", line)
print("ok" if not failures else f"{len(failures)} failed")
sys.exit(1 if failures else 0)
