#!/usr/bin/python3
"""bench-summary.py RAW NPROC: the figures of every table of bench.sh from its
raw records.

RAW is bench.sh's bench-raw.jsonl, one JSON object per measurement; NPROC the
cores efficiency is divided by. Prints one JSON object with hit_rate,
throughput, yield, release, hold, gate, scale, interleave and
interleave_run_s: per group (flow and workers, phase and workers, workers...),
the median over repetitions of each figure, rounded as bench.json shows it;
and goals: each goal of docs/performance.md with its actual figure and
whether it is met (null when not measured). bench.sh adds the machine and
the settings around them. Records whose "ok" is false or missing are left
out. Exit code: 0 written; 2 bad usage or a RAW line that is not a JSON
object (named file:line). Standard library only."""
import json
import math
import sys


def median(values):
    """Median of the non-null values, the mean of the middle two for an even count; None if none."""
    v = sorted(x for x in values if x is not None)
    if not v:
        return None
    n = len(v)
    if n % 2 == 1:
        return v[(n - 1) // 2]
    return (v[n // 2 - 1] + v[n // 2]) / 2


def rnd(x, n):
    """x rounded to 1/n, halves away from zero; None stays None."""
    if x is None:
        return None
    return math.copysign(math.floor(abs(x * n) + 0.5), x * n) / n


def ratio(a, b):
    """a / b to 1/100; None when either is missing or b is zero."""
    if a is None or b is None or b == 0:
        return None
    return rnd(a / b, 100)


def share(rec):
    """The record's dup / rounds; None when either is missing or rounds is zero."""
    if rec.get("dup") is None or not rec.get("rounds"):
        return None
    return rec["dup"] / rec["rounds"]


def jq_order(v):
    """A sort key ordering values as jq does: null, false, true, numbers, strings, arrays."""
    if v is None:
        return (0,)
    if v is False:
        return (1,)
    if v is True:
        return (2,)
    if isinstance(v, (int, float)):
        return (3, v)
    if isinstance(v, str):
        return (4, v)
    return (5, tuple(jq_order(x) for x in v))


def groups(records, key):
    """Records grouped by key(record), groups in jq's ascending key order."""
    out = {}
    for rec in records:
        out.setdefault(key(rec), []).append(rec)
    return [out[k] for k in sorted(out, key=jq_order)]


def largest(values):
    """The largest non-null value; None if none (jq's max)."""
    v = [x for x in values if x is not None]
    return max(v) if v else None


def hit_rate(ok):
    rows = []
    for g in groups([r for r in ok if r.get("section") == "hit"], lambda r: (r["flow"], r["workers"])):
        f = [r for r in g if r.get("tool") == "pgrace" and r.get("mode") == "fire"]
        b = [r for r in g if r.get("tool") == "pgbench"]
        h = [r for r in g if r.get("tool") == "pgrace" and r.get("mode") == "hold"]
        row = {"flow": g[0]["flow"], "workers": g[0]["workers"],
               "pgrace": rnd(median(share(r) for r in f), 1000),
               "pgbench": rnd(median(share(r) for r in b), 1000),
               "pgrace_hold": rnd(median(share(r) for r in h), 1000),
               "skew_us_p50": median(r.get("skew_p50") for r in f),
               "skew_us_max": median(r.get("skew_max") for r in f),
               "pgbench_skew_us_p50": median(r.get("skew_p50") for r in b),
               "pgbench_skew_us_max": median(r.get("skew_max") for r in b),
               "pgrace_latency_us_p50": median(r.get("lat_p50") for r in f),
               "pgbench_latency_us_p50": median(r.get("lat_p50") for r in b),
               "reps": {"pgrace": len(f), "pgbench": len(b)}}
        row["ratio"] = ratio(row["pgrace"], row["pgbench"])
        rows.append(row)
    return rows


def duplicate_yield(ok):
    rows = []
    for g in groups([r for r in ok if r.get("section") == "yield"], lambda r: r["workers"]):
        p, b, s = ([r for r in g if r.get("tool") == t] for t in ("pgrace", "pgbench", "pgrace_send"))
        row = {"workers": g[0]["workers"],
               "pgrace": rnd(median(r.get("yield") for r in p), 1000),
               "pgrace_send": rnd(median(r.get("yield") for r in s), 1000),
               "pgbench": rnd(median(r.get("yield") for r in b), 1000),
               "pgrace_skew_us_p50": median(r.get("skew_p50") for r in p),
               "pgrace_send_skew_us_p50": median(r.get("skew_p50") for r in s),
               "reps": {"pgrace": len(p), "pgrace_send": len(s), "pgbench": len(b)}}
        row["ratio"] = ratio(row["pgrace"], row["pgbench"])
        rows.append(row)
    return rows


def total(values):
    """Sum of the non-null values, as jq's add; None if none."""
    v = [x for x in values if x is not None]
    return sum(v) if v else None


def per_attempt(rec, cpu):
    """CPU seconds per attempt in microseconds; None without CPU or attempts."""
    if rec.get(cpu) is None or not rec.get("attempts"):
        return None
    return rec[cpu] / rec["attempts"] * 1000000


def efficiency(rec, nproc):
    """Attempts/s x server CPU per attempt / cores; None when a figure is missing."""
    if rec.get("server_cpu_s") is None or rec.get("tps") is None or not rec.get("attempts"):
        return None
    return rec["tps"] * rec["server_cpu_s"] / rec["attempts"] / nproc


def throughput(ok, nproc):
    def tool(g, t):
        m = [r for r in g if r.get("tool") == t]
        return {"tps": rnd(median(r.get("tps") for r in m), 10),
                "latency_us": {q: median(r.get(q) for r in m) for q in ("p50", "p90", "p99", "max")},
                "client_cpu_us_per_attempt": rnd(median(per_attempt(r, "client_cpu_s") for r in m), 10),
                "server_cpu_us_per_attempt": rnd(median(per_attempt(r, "server_cpu_s") for r in m), 10),
                "efficiency": rnd(median(efficiency(r, nproc) for r in m), 100),
                "reps": len(m)}
    rows = []
    for g in groups([r for r in ok if r.get("section") == "throughput"],
                    lambda r: (r.get("phase") != "before", r["workers"])):
        row = {"phase": g[0].get("phase"), "workers": g[0]["workers"], "pgrace": tool(g, "pgrace"),
               "pgbench_prepared": tool(g, "pgbench_prepared"), "pgbench_simple": tool(g, "pgbench_simple"),
               "pgrace_errors": total(r.get("errors") for r in g if r.get("tool") == "pgrace"),
               "pgbench_aborted_clients": total(r.get("aborted_clients") for r in g
                                                if r.get("tool") != "pgrace")}
        row["ratio_prepared"] = ratio(row["pgrace"]["tps"], row["pgbench_prepared"]["tps"])
        row["ratio_simple"] = ratio(row["pgrace"]["tps"], row["pgbench_simple"]["tps"])
        row["cpu_ratio_prepared"] = ratio(row["pgrace"]["client_cpu_us_per_attempt"],
                                          row["pgbench_prepared"]["client_cpu_us_per_attempt"])
        row["cpu_ratio_simple"] = ratio(row["pgrace"]["client_cpu_us_per_attempt"],
                                        row["pgbench_simple"]["client_cpu_us_per_attempt"])
        rows.append(row)
    return rows


def release(ok):
    def tool(g, t):
        m = [r for r in g if r.get("tool") == t]
        return {"client_us_p50": median(r.get("client_p50") for r in m),
                "client_us_max": median(r.get("client_max") for r in m),
                "server_us_p50": median(r.get("server_p50") for r in m),
                "server_us_max": median(r.get("server_max") for r in m),
                "reps": len(m)}
    return [{"workers": g[0]["workers"], "last_byte": tool(g, "pgrace_last-byte"),
             "send": tool(g, "pgrace_send"), "pgbench": tool(g, "pgbench"), "app": tool(g, "pgrace_app")}
            for g in groups([r for r in ok if r.get("section") == "release"], lambda r: r["workers"])]


def hold(ok):
    phases = [h for r in ok if r.get("section") == "gate" for h in (r.get("hold") or [])]
    return {"phases": len(phases), "detect_us_p50": median(h.get("detect_us_p50") for h in phases),
            "detect_us_max": largest(h.get("detect_us_max") for h in phases),
            "coordinator_share": rnd(median(h.get("cpu_share") for h in phases), 1000),
            "polls_per_phase": median(h.get("polls") for h in phases),
            "isolation_tester_poll_us": 10000}


def by_name(pairs):
    """{name: median of its values to 1/1000} over (name, value) pairs, names sorted; None if none."""
    out = {}
    for name, value in pairs:
        out.setdefault(name, []).append(value)
    return {k: rnd(median(out[k]), 1000) for k in sorted(out, key=jq_order)} or None


def gate(ok):
    g = [r for r in ok if r.get("section") == "gate"]
    return {"reps": len(g), **{k: median(r.get(k) for r in g) for k in ("total_s", "start_s", "run_s", "stop_s")},
            "phase_elapsed_s": by_name(kv for r in g for kv in (r.get("phase_elapsed_s") or {}).items()),
            "verdicts": [r.get("verdict") for r in g], "exits": [r.get("exit") for r in g]}


def mib(kib):
    return None if kib is None else rnd(kib / 1024, 10)


def scale(ok):
    g = [r for r in ok if r.get("section") == "scale"]
    verdicts = [r.get("verdict") for r in g]
    verdict = None
    if verdicts:
        verdict = next((v for v in verdicts if v != "pass"), "pass")
    return {"reps": len(g), "rss_mib": mib(median(r.get("rss_kib") for r in g)),
            "rss_mib_max": mib(largest(r.get("rss_kib") for r in g)),
            "rss_source": (g[0].get("rss_source") if g[0].get("rss_source") is not False else None) if g else None,
            "threads_max": largest(r.get("threads_max") for r in g),
            "connect_s": rnd(median(r.get("connect_s") for r in g), 1000),
            "verdict": verdict, "verdicts": verdicts, "exits": [r.get("exit") for r in g],
            "errors": [r["error"] for r in g if r.get("error") is not None],
            "elapsed_s": rnd(median(r.get("elapsed_s") for r in g), 1000),
            "phase_elapsed_s": by_name((p.get("name"), p.get("elapsed_s")) for r in g for p in r.get("phases") or [])}


def per_order(p, figure):
    """figure / the orders run (else the orders); None when either is missing."""
    n = p.get("orders_run") if p.get("orders_run") not in (None, False) else p.get("orders")
    if figure is None or not n:
        return None
    return figure / n


def interleave(ok):
    runs = [r for r in ok if r.get("section") == "interleave"]
    phases = [{**p, "workers": r.get("workers"), "reduction": r.get("reduction")}
              for r in runs for p in r.get("phases") or []]
    rows = []
    for g in groups(phases, lambda p: (p["workers"], p.get("name"), p["reduction"])):
        def part(k):
            return rnd(median(None if per_order(p, (p.get("time") or {}).get(k)) is None
                              else per_order(p, p["time"][k]) / 1000 for p in g), 100)
        rows.append({"workers": g[0]["workers"], "phase": g[0].get("name"), "reduction": g[0]["reduction"],
                     "orders": g[0].get("orders"), "orders_run": g[0].get("orders_run"),
                     "not_executable": g[0].get("not_executable"), "reps": len(g),
                     "ms_per_order": rnd(median(p.get("ms_per_order") for p in g), 100),
                     "ms": {"begin": part("begin_us"), "steps": part("steps_us"), "detect": part("detect_us"),
                            "teardown": part("teardown_us"), "rows": part("rows_us")},
                     "lock_queries_per_order": rnd(median(per_order(p, (p.get("time") or {}).get("lock_queries"))
                                                          for p in g), 100),
                     "cancels": total((p.get("time") or {}).get("cancels") for p in g)})
    rows.sort(key=lambda r: jq_order([r["workers"], not r["reduction"], r["phase"] != "before"]))
    run_s = [{"workers": g[0]["workers"], "reduction": g[0]["reduction"],
              "run_s": rnd(median(r.get("run_s") for r in g), 100)}
             for g in groups(runs, lambda r: (r["workers"], r["reduction"]))]
    return rows, run_s


def text(x):
    """A number as jq writes it into a string: whole numbers without a fraction."""
    if isinstance(x, float) and x.is_integer() and abs(x) < 1e17:
        return str(int(x))
    return str(x)


def goal(what, target, actual, met):
    """One goal row; met is None when actual (or what it is compared with) is missing."""
    return {"goal": what, "target": target, "actual": actual, "met": met}


def at_most(a, t):
    return None if a is None else a <= t


def at_least(a, t):
    return None if a is None else a >= t


def goals(s, nproc):
    """The goals of docs/performance.md against the summary s, in bench.md's order."""
    out = []
    for t in s["throughput"]:
        out.append(goal(f"free-run attempts/s >= 1.2x pgbench -M prepared ({t['phase']}, {t['workers']} workers)",
                        1.2, t["ratio_prepared"], at_least(t["ratio_prepared"], 1.2)))
    for t in s["throughput"]:
        out.append(goal(f"client CPU per attempt <= 0.8x pgbench -M prepared ({t['phase']}, {t['workers']} workers)",
                        0.8, t["cpu_ratio_prepared"], at_most(t["cpu_ratio_prepared"], 0.8)))
    for h in s["hit_rate"]:
        if h["flow"] == "check-then-insert" and h["workers"] in (16, 64):
            t = 100 if h["workers"] == 16 else 400
            out.append(goal(f"fire release skew p50 <= {t} µs ({h['workers']} workers)", t, h["skew_us_p50"],
                            at_most(h["skew_us_p50"], t)))
    for r in s["release"]:
        if r["workers"] in (16, 64):
            t = 30 if r["workers"] == 16 else 120
            a = r["last_byte"]["client_us_p50"]
            out.append(goal(f"fire last-byte client release spread p50 <= {t} µs ({r['workers']} workers)", t, a,
                            at_most(a, t)))
    for r in s["release"]:
        a, b = r["last_byte"]["server_us_p50"], r["pgbench"]["server_us_p50"]
        out.append(goal(f"fire server-observed release spread p50 < pgbench's ({r['workers']} workers)", b, a,
                        None if a is None or b is None else a < b))
    for t in s["throughput"]:
        if t["workers"] >= 8:
            e = t["pgbench_prepared"]["efficiency"]
            out.append(goal("efficiency (attempts/s x server CPU per attempt / cores) >= 0.90 "
                            f"({t['phase']}, {t['workers']} workers; pgbench -M prepared "
                            f"{'-' if e is None else text(e)})",
                            0.9, t["pgrace"]["efficiency"], at_least(t["pgrace"]["efficiency"], 0.9)))
    for w, t in ((2, 1.0), (16, 1.5)):
        a = next((y["ratio"] for y in s["yield"] if y["workers"] == w), None)
        out.append(goal(f"fire duplicate yield >= {text(t)}x pgbench (autocommit WHERE NOT EXISTS, {w} workers)",
                        t, a, at_least(a, t)))
    a = s["hold"]["detect_us_p50"]
    out.append(goal("hold detection latency p50 <= 1000 µs", 1000, a, at_most(a, 1000)))
    a = s["hold"]["coordinator_share"]
    out.append(goal("hold coordinator CPU <= 10 % of the round", 0.1, a, at_most(a, 0.1)))
    a = s["gate"]["total_s"]
    out.append(goal("seed gate from nothing <= 1.0 s", 1.0, a, at_most(a, 1.0)))
    sc = s["scale"]
    out.append(goal("1000 workers: RSS <= 48 MiB", 48, sc["rss_mib"], at_most(sc["rss_mib"], 48)))
    out.append(goal("1000 workers: connect <= 2 s", 2, sc["connect_s"], at_most(sc["connect_s"], 2)))
    out.append(goal("1000 workers: threads <= cores + 4", nproc + 4, sc["threads_max"],
                    at_most(sc["threads_max"], nproc + 4)))
    out.append(goal("1000 workers: verdict pass", "pass", sc["verdict"],
                    None if sc["verdict"] is None else sc["verdict"] == "pass"))
    for r in s["interleave"]:
        waits = "no step waits" if r["phase"] == "before" else "steps wait"
        every = "" if r["reduction"] else ", every order run"
        out.append(goal(f"interleave <= 20 ms per order ({r['workers']} workers, {waits}{every})", 20,
                        r["ms_per_order"], at_most(r["ms_per_order"], 20)))
    return out


def tidy(x):
    """Whole floats as integers, as jq prints them."""
    if isinstance(x, float) and x.is_integer() and abs(x) < 1e17:
        return int(x)
    if isinstance(x, dict):
        return {k: tidy(v) for k, v in x.items()}
    if isinstance(x, list):
        return [tidy(v) for v in x]
    return x


def load(path):
    records = []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except ValueError as e:
                raise SystemExit(f"bench-summary: {path}:{n}: not JSON: {e}") from None
            if not isinstance(rec, dict):
                raise SystemExit(f"bench-summary: {path}:{n}: not a JSON object")
            records.append(rec)
    return records


def main(argv):
    if len(argv) != 3 or not argv[2].isdigit() or int(argv[2]) < 1:
        print("usage: bench-summary.py RAW NPROC", file=sys.stderr)
        return 2
    try:
        ok = [r for r in load(argv[1]) if r.get("ok") not in (None, False)]
    except OSError as e:
        print(f"bench-summary: {argv[1]}: {e.strerror}", file=sys.stderr)
        return 2
    except SystemExit as e:
        print(e, file=sys.stderr)
        return 2
    ilv, ilv_run_s = interleave(ok)
    summary = {"hit_rate": hit_rate(ok), "throughput": throughput(ok, int(argv[2])),
               "yield": duplicate_yield(ok), "release": release(ok), "hold": hold(ok), "gate": gate(ok),
               "scale": scale(ok), "interleave": ilv, "interleave_run_s": ilv_run_s}
    summary["goals"] = goals(tidy(summary), int(argv[2]))
    json.dump(tidy(summary),
              sys.stdout, separators=(",", ":"), ensure_ascii=False)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
