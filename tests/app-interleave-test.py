#!/usr/bin/python3
"""app-interleave-test.py PGRACE_BIN SOURCE_DIR: interleave mode of app
flows, with the real applications through pgrace's protocol listener, on
the PG* server (scripts/test.sh starts a throwaway one).

1. examples/alembic/membership-app-interleave.yaml (SQLAlchemy, two
   workers): before revision 005 the number of orders is (a+b)!/(a!b!) for
   the a and b interleaving points seen, and an order duplicates exactly
   when both workers' SELECTs precede either COMMIT; after it no order
   duplicates, the loser's INSERT waited on the winner's, and every worker
   that got 23505 on the wire exited non-zero with IntegrityError in its own
   output. The HTML report's race map draws a cell per order.

   `pgrace spec` writes the first duplicating order (before) and the first
   order with a 23505 (after) as isolation specs; the real isolationtester (Debian's
   postgresql package, in the server's pgxs tree) runs them and prints the
   same rows, and after, the same unique violation.
   The same with warm workers (membership-app-interleave-warm.yaml,
   register.py --warm: one process per worker for the phase, a key per
   line): the same orders, the same duplicates, the losers' answers naming
   IntegrityError; the time per order is printed, never asserted. Warm
   workers race in hold mode as well.
2. examples/django/django-app-interleave.yaml (get_or_create, two workers):
   with the constraint every order ends in one row and every process exits
   0, and the orders the app recovered in (23505, then a SELECT) are listed.

Exits 0 when every check held, 1 otherwise.
"""
import json
import math
import os
import subprocess
import sys
import tempfile

from pgrace_testlib import check, failures, pgrace_and_source, phase, run_json

PGRACE, SOURCE = pgrace_and_source()
RUN_LIMIT_S = 600


def run(args, json_path):
    return run_json([PGRACE] + args, json_path, RUN_LIMIT_S, ' '.join(args))



def points(order):
    """Each worker's points in the order they went: [(worker, kind), ...]."""
    return [(s["worker"], s["kind"]) for s in order["steps"] if s["point"]]


def both_selects_before_a_commit(order):
    pts = points(order)
    first_commit = min((i for i, (w, k) in enumerate(pts) if k == "commit"), default=len(pts))
    selects = [i for i, (w, k) in enumerate(pts) if k == "select"]
    workers_selecting = {pts[i][0] for i in selects if i < first_commit}
    return workers_selecting == {"a", "b"}


def sqlalchemy(tmp):
    scenario = os.path.join(SOURCE, "examples", "alembic", "membership-app-interleave.yaml")
    code, doc, said = run(["run", scenario, "-q"], os.path.join(tmp, "sqla.json"))
    check(code == 0, f"sqlalchemy: the interleave scenario passes (exit {code})\n{said}")
    if not doc or len(doc.get("phases", [])) < 3:
        return
    before, after = phase(doc, "before")["interleave"], phase(doc, "after")["interleave"]
    orders = before["orders"]
    most = {"a": 0, "b": 0}
    for o in orders:
        for w in most:
            most[w] = max(most[w], sum(1 for x, _ in points(o) if x == w))
    a, b = most["a"], most["b"]
    check(before["exhaustive"] and len(orders) == math.comb(a + b, a) == before["orders_possible"],
          f"sqlalchemy: before, {len(orders)} orders == ({a}+{b})!/({a}!{b}!) = "
          f"{math.comb(a + b, a)}, exhaustive")
    check(len({o["order"] for o in orders}) == len(orders), "sqlalchemy: every order distinct")
    wrong = [o["order"] for o in orders
             if o["duplicate"] != both_selects_before_a_commit(o)]
    check(not wrong and before["interleavings_with_duplicates"] >= 1,
          f"sqlalchemy: before, an order duplicates exactly when both SELECTs precede either "
          f"COMMIT (mismatched: {wrong})")
    check(before["interleavings_diverged"] == 0, "sqlalchemy: no order diverged")
    aorders = after["orders"]
    check(after["exhaustive"] and after["interleavings_with_duplicates"] == 0 and aorders
          and all(o["rows"] == 1 for o in aorders),
          "sqlalchemy: after, no order duplicates, every order one row")
    check(any(s["waited"] for o in aorders for s in o["steps"]),
          "sqlalchemy: after, a loser's INSERT waited on the winner's (lock view)")
    losers = [w for o in aorders for w in o["workers"] if w["outcome"] == "23505"]
    check(losers and all(w["exit_code"] != 0 and "sqlalchemy.exc.IntegrityError" in w["stderr_tail"]
                         for w in losers),
          f"sqlalchemy: after, each of the {len(losers)} losers raised IntegrityError in its output")
    check(len(aorders) < len(orders), "sqlalchemy: after, fewer orders: a waiting INSERT is no "
          "choice")
    html = os.path.join(tmp, "sqla.html")
    p = subprocess.run([PGRACE, "report", os.path.join(tmp, "sqla.json"), "-o", html],
                       capture_output=True, text=True, timeout=60)
    page = open(html).read() if p.returncode == 0 else ""
    check(page.count('<rect class="cell') == len(orders) + len(aorders)
          and 'data-phase="before"' in page and 'data-phase="after"' in page,
          f"sqlalchemy: the HTML race map has a cell per order of both phases ({p.stderr})")


def warm(tmp):
    cold_path = os.path.join(tmp, "sqla.json")
    scenario = os.path.join(SOURCE, "examples", "alembic", "membership-app-interleave-warm.yaml")
    code, doc, said = run(["run", scenario, "-q"], os.path.join(tmp, "warm.json"))
    check(code == 0, f"warm: the scenario passes (exit {code})\n{said}")
    if not doc or len(doc.get("phases", [])) < 3 or not os.path.exists(cold_path):
        return
    with open(cold_path) as f:
        cold = json.load(f)
    for name in ("before", "after"):
        w, c = phase(doc, name)["interleave"], phase(cold, name)["interleave"]
        check(sorted(o["order"] for o in w["orders"]) == sorted(o["order"] for o in c["orders"])
              and sorted(o["order"] for o in w["orders"] if o["duplicate"])
              == sorted(o["order"] for o in c["orders"] if o["duplicate"]),
              f"warm: {name}: the same {len(w['orders'])} orders and the same duplicates as cold")
        print(f"     {name}: {w['ms_per_order']:.1f} ms per order warm, "
              f"{c['ms_per_order']:.1f} ms cold", flush=True)
    code, hold, said = run(["run", scenario, "-q", "--mode", "hold", "--workers", "4",
                            "--rounds", "3"], os.path.join(tmp, "warm-hold.json"))
    check(code == 0 and hold and phase(hold, "after")["outcomes"].get("23505") == 9
          and phase(hold, "before")["rows_per_key"]["min"] == 4,
          f"warm: hold mode too: 4 rows per key before, 3 x 3 x 23505 after (exit {code})\n{said}")
    losers = [w for o in phase(doc, "after")["interleave"]["orders"] for w in o["workers"]
              if w["outcome"] == "23505"]
    check(losers and all(w["exit_code"] == 1 and w["stdout_tail"].startswith(
        "error sqlalchemy.exc.IntegrityError") and w["output_matched"] for w in losers),
          f"warm: each of the {len(losers)} losers answered IntegrityError")


def isolationtester():
    """The isolationtester beside the pgxs tree the server names, else pg_config's."""
    pgxs = subprocess.run(["psql", "-X", "-Atc", "SELECT setting FROM pg_config WHERE name = 'PGXS'"],
                          capture_output=True, text=True).stdout.strip()
    if not pgxs:
        pgxs = subprocess.run(["pg_config", "--pgxs"], capture_output=True, text=True).stdout.strip()
    path = pgxs.replace("/makefiles/pgxs.mk", "/test/isolation/isolationtester")
    return path if os.access(path, os.X_OK) else None


def spec_agrees(tmp, phase_name, schema):
    scenario = os.path.join(SOURCE, "examples", "alembic", "membership-app-interleave.yaml")
    spec, js = os.path.join(tmp, phase_name + ".spec"), os.path.join(tmp, phase_name + "-spec.json")
    code, doc, said = run(["spec", scenario, "--phase", phase_name, "-o", spec, "--schema", schema],
                          js)
    check(code == 0 and os.path.exists(spec), f"spec {phase_name}: written (exit {code})\n{said}")
    if code != 0 or not doc:
        return
    il = phase(doc, phase_name)["interleave"]
    want = il["first_duplicate"]
    order = next((o for o in il["orders"] if o["order"] == want), None) or next(
        (o for o in il["orders"] if o["state"] == "ran"
         and any(w["outcome"] != "ok" for w in o["workers"])), None)
    check(order is not None and (want or any(w["outcome"] == "23505" for w in order["workers"])),
          f"spec {phase_name}: the order written is the first duplicate, else one with 23505")
    if not order:
        return
    with open(spec) as f:
        text = f.read()
    tester = isolationtester()
    check(tester is not None, "the isolationtester is installed (postgresql's pgxs tree)")
    if not tester:
        return
    env = dict(os.environ, PGISOLATIONTIMEOUT="60")
    with open(spec) as f:
        p = subprocess.run([tester, ""], stdin=f, capture_output=True, text=True, env=env,
                           timeout=300)
    check(p.returncode == 0, f"spec {phase_name}: the isolationtester runs it\n{p.stderr}")
    out = p.stdout
    rows = None
    if "pgrace_rows\n" in out:
        rows = int(out.split("pgrace_rows\n", 1)[1].split("\n")[1].strip())
    check(rows == order["rows"], f"spec {phase_name}: order {order['order']}: "
          f"{rows} rows there, {order['rows']} here")
    ours = any(w["outcome"] == "23505" for w in order["workers"])
    theirs = "duplicate key value violates unique constraint" in out
    check(ours == theirs, f"spec {phase_name}: a unique violation there ({theirs}) as here ({ours})")
    perm = next((ln for ln in text.splitlines() if ln.startswith("permutation ")), "")
    check(perm.count('"') == 2 * len(order["steps"]),
          f"spec {phase_name}: one permutation of the order's {len(order['steps'])} round trips")


def django(tmp):
    scenario = os.path.join(SOURCE, "examples", "django", "django-app-interleave.yaml")
    code, doc, said = run(["run", scenario], os.path.join(tmp, "django.json"))
    check(code == 0, f"django: the interleave scenario passes (exit {code})\n{said}")
    if not doc or len(doc.get("phases", [])) < 3:
        return
    before, after = phase(doc, "before")["interleave"], phase(doc, "after")["interleave"]
    check(before["interleavings_with_duplicates"] >= 1, "django: without the constraint, "
          "some order duplicates")
    orders = after["orders"]
    check(after["exhaustive"] and orders and all(o["rows"] == 1 and o["state"] == "ran"
                                                   for o in orders),
          f"django: with it, every one of {len(orders)} orders ends in one row")
    check(all(w["exit_code"] == 0 for o in orders for w in o["workers"]),
          "django: every process exits 0")
    recovered = [(o, w) for o in orders for w in o["workers"] if w["recovered"]]
    check(recovered and after["orders_recovered"] == len(recovered),
          f"django: the report lists {len(recovered)} recoveries")
    check("recovered (a class-23 error, then read again, exit 0)" in said,
          "django: the terminal summary names orders the app recovered in")
    for o, w in recovered:
        steps = [s for s in o["steps"] if s["worker"] == w["worker"]]
        failed = next((i for i, s in enumerate(steps) if s["sqlstate"] == "23505"), None)
        ok = failed is not None and any(s["kind"] == "select" for s in steps[failed + 1:])
        if not ok:
            check(False, f"django: order {o['order']}: worker {w['worker']} recovered without "
                  f"23505 then a SELECT")
            break
    else:
        check(bool(recovered), "django: each recovery is a 23505 on the wire, then a SELECT")


def main():
    with tempfile.TemporaryDirectory(prefix="pgrace-appil-") as tmp:
        sqlalchemy(tmp)
        warm(tmp)
        spec_agrees(tmp, "before", "pgrace_appspec_before")
        spec_agrees(tmp, "after", "pgrace_appspec_after")
        django(tmp)
    print(f"app-interleave-test: {len(failures)} failed" if failures
          else "app-interleave-test: all passed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
