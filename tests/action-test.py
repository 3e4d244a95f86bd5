#!/usr/bin/python3
"""action-test.py PGRACE_BIN SOURCE_DIR: the composite GitHub Action in
action.yml (actionlint is not packaged by Debian, so its structure is checked
here with python3-yaml), and its shell steps run for real.

Structure: a composite action with a name, a description, inputs each with a
description (required ones without a default), outputs whose value names a
step that exists, every step either `uses:` or `run:` with `shell:`, every
`${{ inputs.X }}` and `${{ steps.Y.outputs.Z }}` naming a declared input and
a step id, and no input expanded straight into a `run:` script (they go
through env:, so a scenario name cannot inject shell).

Run: the gate step and the summary step, their env set as the runner would
(GITHUB_OUTPUT, GITHUB_STEP_SUMMARY, the inputs), with PGRACE_BIN's folder
first on PATH, against the PG* server: the seed scenario passes, exit-code=0
lands in GITHUB_OUTPUT, the results folder has gate.json and gate.xml, and
the summary names the scenario and its verdict; a scenario that fails gives
exit-code=1 and the verdict step exits 1. Exits 0 when every check held.
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile

import yaml

from pgrace_testlib import check, failures, pgrace_and_source

PGRACE, SOURCE = pgrace_and_source()


with open(os.path.join(SOURCE, "action.yml")) as f:
    text = f.read()
action = yaml.safe_load(text)
check(isinstance(action.get("name"), str) and isinstance(action.get("description"), str),
      "action.yml has a name and a description")
inputs = action.get("inputs") or {}
for name, spec in inputs.items():
    check(isinstance(spec, dict) and spec.get("description"), f"input {name} is described")
    if spec.get("required"):
        check("default" not in spec, f"required input {name} has no default")
runs = action.get("runs") or {}
check(runs.get("using") == "composite", "runs.using is composite")
steps = runs.get("steps") or []
ids = {s.get("id") for s in steps if s.get("id")}
for i, s in enumerate(steps):
    label = s.get("name", f"step {i}")
    check(("uses" in s) != ("run" in s), f"{label}: either uses or run")
    if "run" in s:
        check(s.get("shell") in ("bash", "sh", "pwsh", "python"), f"{label}: has a shell")
        check("${{ inputs." not in s["run"],
              f"{label}: inputs reach the script through env, not expanded into it")
for ref in re.findall(r"\$\{\{\s*inputs\.([\w-]+)", text):
    check(ref in inputs, f"inputs.{ref} is declared")
for ref in re.findall(r"steps\.([\w-]+)\.outputs", text):
    check(ref in ids, f"steps.{ref} exists")
for name, spec in (action.get("outputs") or {}).items():
    check("value" in spec and spec.get("description"), f"output {name} has a value and a description")

by_name = {s.get("name"): s for s in steps}


def run_step(step, env, workdir):
    """Runs a run: step with env (its own env: with ${{ }} resolved by the caller)."""
    script = step["run"]
    return subprocess.run(["bash", "-e", "-c", script] if step["shell"] == "bash" else
                          [step["shell"], "-c", script], env=env, cwd=workdir,
                          capture_output=True, text=True, timeout=300)


def gate(scenarios, workdir):
    out = os.path.join(workdir, "output")
    summary = os.path.join(workdir, "summary.md")
    open(out, "w").close()
    open(summary, "w").close()
    env = dict(os.environ)
    env["PATH"] = os.path.dirname(PGRACE) + os.pathsep + env["PATH"]
    env.update(GITHUB_OUTPUT=out, GITHUB_STEP_SUMMARY=summary, RUNNER_TEMP=workdir)
    env.update(PGRACE_SCENARIOS=scenarios, PGRACE_DSN="", PGRACE_ARGS="--rounds 3",
               PGRACE_RESULTS="pgrace-results")
    r = run_step(by_name["Race the scenarios"], env, workdir)
    outputs = dict(line.split("=", 1) for line in open(out).read().split() if "=" in line)
    rc = outputs.get("exit-code", "")
    env["PGRACE_RC"] = rc
    s = run_step(by_name["Job summary"], env, workdir)
    v = run_step(by_name["Verdict"], env, workdir)
    return r, rc, s, open(summary).read(), v


work = tempfile.mkdtemp(prefix="pgrace-action-")
try:
    os.symlink(os.path.join(SOURCE, "scenarios"), os.path.join(work, "scenarios"))
    r, rc, s, summary, v = gate("scenarios/membership-unique.yaml", work)
    check(rc == "0", f"the gate step writes exit-code=0 for the seed scenario ({rc!r})\n{r.stderr}")
    for f in ("gate.json", "gate.xml"):
        check(os.path.exists(os.path.join(work, "pgrace-results", f)), f"the results hold {f}")
    check(s.returncode == 0 and "| membership-unique | pass |" in summary,
          f"the job summary names the scenario and its verdict\n{summary}{s.stderr}")
    check(v.returncode == 0, "the verdict step passes")
    bad = os.path.join(work, "bad.yaml")
    with open(os.path.join(SOURCE, "scenarios", "membership-unique.yaml")) as f:
        seed = f.read()
    # the mutant: after the migration, two rows per key are expected
    with open(bad, "w") as f:
        f.write(seed.replace("rows_per_key.max == 1", "rows_per_key.max == 2"))
    r, rc, s, summary, v = gate("bad.yaml", work)
    check(rc == "1", f"a failing scenario gives exit-code=1 ({rc!r})")
    check(v.returncode == 1, f"the verdict step fails with it ({v.returncode})")
    check("| fail |" in summary, f"the summary says fail\n{summary}")
finally:
    shutil.rmtree(work, ignore_errors=True)

if failures:
    print(f"{len(failures)} checks failed")
    sys.exit(1)
print("every check held")
