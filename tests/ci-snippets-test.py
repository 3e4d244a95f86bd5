#!/usr/bin/python3
"""ci-snippets-test.py PGRACE_BIN SOURCE_DIR: every snippet of docs/ci.md
works as written, run against a throwaway server, so the page cannot rot.

Every fenced block of docs/ci.md is taken in order and must be one of:

- sh: run with `sh -e`;
- yaml, a list of GitHub Actions steps: each `run:` with `bash -e` (the
  runner's default shell); a `uses:` of pgrace's own action must name its
  inputs (action-test.py runs the action itself);
- yaml, a GitLab job: its before_script and script lines in one
  `bash -e -o pipefail` (the runner stops at the first line that fails),
  then the files its artifacts name must exist;
- yaml, a scenario fragment: equal to the same keys of the scenario file
  it is quoted from (scenarios/membership-unique.yaml,
  examples/alembic/membership-alembic.yaml), or for a migration, to what
  the page's strip() filter printed;
- sql: Alembic's offline output, compared with the real one;
- python: run with Alembic's own Config, on a URL holding percent escapes.

A block of any other kind fails the test: a new snippet needs a way to run.

What stands in for the CI machine, and nothing else:

- the server: a throwaway cluster of the test's own (unix socket, trust
  authentication, so any password is accepted). The service host names
  (`localhost`, `postgres`) become its socket folder: `-h localhost` turns
  into `-h /tmp/pgrace-pg.X`, `@localhost:5432` into `@%2Ftmp%2Fpgrace-pg.X:5432`;
  `$DSN` and `$DATABASE_URL` name it (the latter as `?host=`, which
  SQLAlchemy reads too); PGRACE_DB_PASSWORD is set;
- `apt-get update` does nothing and `apt-get install P...` checks that each
  P is installed or known to apt (the packages are real); `sudo` runs its
  command; `docker restart` restarts the throwaway server (pg_ctl restart);
  `${{ job.services.postgres.id }}` is the word postgres;
- `scripts/pg-throwaway.sh start --version N` runs the installed server's
  version when N's binaries are not on the machine (no download), in a
  folder of the test's (PGRACE_PG_TMPDIR), where any cluster a failing
  block leaves running is stopped;
- the checkout: a copy of the project's tracked files, in which the GitLab
  job's own cmake lines build `build/pgrace` (until then it holds a copy of
  PGRACE_BIN); its scenarios/ keeps only membership-unique.yaml and
  replica-read-check.yaml, so that the runs of scenarios/*.yaml stay short;
  before each sh block and the GitLab job it has no results/ folder (an
  application's repository has none: a block that writes there makes it),
  while GitHub steps, which go after the gate step, find the gate's results;
  `pgrace` (installed) is PGRACE_BIN's folder first on PATH;
- an application project for the Alembic snippets: examples/alembic copied
  as app/migrations, its scenario as app/migrations/gate.yaml; a block that
  names migrations/gate.yaml runs in app, one that runs alembic in
  app/migrations (DATABASE_URL set, PGOPTIONS naming a schema of the test's).
  The deploy check runs twice: over duplicates it must exit 1 and say so,
  and once they are gone apply 005.

Exits 0 when every check held, 1 otherwise.
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile
import urllib.parse

import yaml

from pgrace_testlib import check, failures, pgrace_and_source

PGRACE, SOURCE = pgrace_and_source()
DOC = os.path.join(SOURCE, "docs", "ci.md")
KEEP_SCENARIOS = ("membership-unique.yaml", "replica-read-check.yaml")
LIMIT_S = 600


def blocks(path):
    """The fenced blocks of a Markdown file: (language, first line, text)."""
    out, lang, start, lines = [], None, 0, []
    with open(path) as f:
        for n, line in enumerate(f, 1):
            m = re.match(r"^```(\S*)\s*$", line)
            if m and lang is None:
                lang, start, lines = m.group(1) or "text", n + 1, []
            elif line.rstrip() == "```" and lang is not None:
                out.append((lang, start, "".join(lines)))
                lang = None
            elif lang is not None:
                lines.append(line)
    return out


SHIMS = {
    "sudo": '#!/bin/sh\nexec "$@"\n',
    "apt-get": r'''#!/bin/sh
# apt-get stand-in: update does nothing, install checks every package is
# installed here or known to apt.
case "$1" in
update) exit 0 ;;
install) ;;
*) echo "apt-get stand-in: only update and install" >&2; exit 2 ;;
esac
shift
for p in "$@"; do
	case "$p" in -*) continue ;; esac
	if dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed'; then continue; fi
	if apt-cache show "$p" >/dev/null 2>&1; then continue; fi
	echo "apt-get stand-in: no package $p" >&2
	exit 100
done
''',
    "docker": r'''#!/bin/sh
# docker stand-in: `docker restart ID` restarts the test's server.
[ "$1" = restart ] || { echo "docker stand-in: only restart" >&2; exit 2; }
cd "$PGRACE_PG_DIR" || exit 1
if [ "$(id -u)" = 0 ]; then
	set -- setpriv --reuid=postgres --regid="$(id -g postgres)" --init-groups --
else
	set --
fi
exec "$@" "$PGRACE_PG_BINDIR/pg_ctl" -w -t 30 -D "$PGRACE_PG_DIR/data" \
	-l "$PGRACE_PG_DIR/postgres.log" restart >/dev/null
''',
}


class World:
    """The stand-in CI machine: server, shims, checkout copy, app project."""

    def __init__(self, tmp):
        self.tmp = tmp
        out = subprocess.run(["bash", os.path.join(SOURCE, "scripts", "pg-throwaway.sh"), "start"],
                             capture_output=True, text=True, timeout=120)
        if out.returncode != 0:
            sys.exit(f"ci-snippets-test: cannot start a server: {out.stderr}")
        self.env = dict(os.environ)
        for m in re.finditer(r"export (.*)", out.stdout):
            for pair in m.group(1).split():
                k, _, v = pair.partition("=")
                self.env[k] = v
        for k in ("PGHOSTADDR", "PGSERVICE", "PGPASSWORD", "PGOPTIONS", "PGRACE_TEST_BIN"):
            self.env.pop(k, None)
        self.host = self.env["PGHOST"]
        self.url = f"postgresql://postgres@{urllib.parse.quote(self.host, safe='')}:5432/postgres"
        bindir = os.path.join(tmp, "bin")
        os.mkdir(bindir)
        for name, text in SHIMS.items():
            path = os.path.join(bindir, name)
            with open(path, "w") as f:
                f.write(text)
            os.chmod(path, 0o755)
        self.env["PATH"] = f"{bindir}:{os.path.dirname(PGRACE)}:{self.env['PATH']}"
        # SQLAlchemy reads no percent-encoded socket folder in the host part;
        # libpq, psycopg2 and SQLAlchemy all read ?host=.
        db_url = f"postgresql://postgres@/postgres?host={urllib.parse.quote(self.host)}"
        self.env.update(DSN=self.url, DATABASE_URL=db_url, PGRACE_DB_PASSWORD="pgrace-ci")
        # Clusters a block starts (scripts/pg-throwaway.sh start) go here, so
        # that those a failing block leaves running are found and stopped.
        self.pgtmp = os.path.join(tmp, "pg")
        os.mkdir(self.pgtmp)
        self.env["PGRACE_PG_TMPDIR"] = self.pgtmp
        self.checkout = os.path.join(tmp, "checkout")
        self.copy_checkout()
        self.app = os.path.join(tmp, "app")
        self.migrations = os.path.join(self.app, "migrations")
        shutil.copytree(os.path.join(SOURCE, "examples", "alembic"), self.migrations,
                        ignore=shutil.ignore_patterns("__pycache__"))
        shutil.copy(os.path.join(self.migrations, "membership-alembic.yaml"),
                    os.path.join(self.migrations, "gate.yaml"))
        self.schema = f"ci_snippets_{os.getpid()}"
        self.psql(f"DROP SCHEMA IF EXISTS {self.schema} CASCADE; CREATE SCHEMA {self.schema}")
        self.strip_out = {}

    def copy_checkout(self):
        try:
            files = subprocess.run(["git", "-C", SOURCE, "ls-files", "-z"], capture_output=True,
                                   check=True, timeout=60).stdout.decode().split("\0")
        except (OSError, subprocess.CalledProcessError):
            files = None
        if files:
            for rel in filter(None, files):
                src = os.path.join(SOURCE, rel)
                if not os.path.isfile(src):
                    continue
                dst = os.path.join(self.checkout, rel)
                os.makedirs(os.path.dirname(dst), exist_ok=True)
                shutil.copy2(src, dst)
        else:
            shutil.copytree(SOURCE, self.checkout, ignore=shutil.ignore_patterns(
                "build*", ".git", "__pycache__", "*.json", "*.xml"))
        for name in os.listdir(os.path.join(self.checkout, "scenarios")):
            if name.endswith(".yaml") and name not in KEEP_SCENARIOS:
                os.remove(os.path.join(self.checkout, "scenarios", name))
        os.makedirs(os.path.join(self.checkout, "build"), exist_ok=True)
        shutil.copy2(PGRACE, os.path.join(self.checkout, "build", "pgrace"))

    def psql(self, sql):
        return subprocess.run(["psql", "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-c", sql],
                              env=self.env, capture_output=True, text=True, timeout=60)

    def stop(self):
        self.psql(f"DROP SCHEMA IF EXISTS {self.schema} CASCADE")
        subprocess.run(["bash", os.path.join(SOURCE, "scripts", "pg-throwaway.sh"), "stop",
                        self.env["PGRACE_PG_DIR"]], capture_output=True, timeout=120)

    def subst(self, script):
        """The CI machine's names for the server, turned into the test's."""
        enc = urllib.parse.quote(self.host, safe="")
        script = re.sub(r"@(localhost|postgres):5432", f"@{enc}:5432", script)
        script = re.sub(r"-h (localhost|postgres)\b", f"-h {self.host}", script)
        script = script.replace("${{ job.services.postgres.id }}", "postgres")
        m = re.search(r"pg-throwaway\.sh start --version (\d+)", script)
        if m and not os.path.isdir(f"/usr/lib/postgresql/{m.group(1)}/bin"):
            installed = os.path.basename(os.path.dirname(self.env["PGRACE_PG_BINDIR"]))
            script = script.replace(m.group(0), f"pg-throwaway.sh start --version {installed}")
        return script

    def where(self, script):
        if "migrations/gate.yaml" in script:
            return self.app
        if re.search(r"\balembic\b", script):
            return self.migrations
        return self.checkout

    def run(self, argv, script, cwd, env=None):
        try:
            return subprocess.run(argv + [self.subst(script)], cwd=cwd, env=env or self.env,
                                  capture_output=True, text=True, timeout=LIMIT_S)
        finally:
            self.stop_leftovers()

    def stop_leftovers(self):
        """Stops the clusters a block started and left (it failed before its stop)."""
        for name in os.listdir(self.pgtmp):
            subprocess.run(["bash", os.path.join(SOURCE, "scripts", "pg-throwaway.sh"), "stop",
                            os.path.join(self.pgtmp, name)], capture_output=True, timeout=120)


def said(p):
    return f"exit {p.returncode}\n--- stdout:\n{p.stdout[-3000:]}\n--- stderr:\n{p.stderr[-3000:]}"


def alembic_env(w):
    env = dict(w.env)
    env["PGOPTIONS"] = f"-c search_path={w.schema}"
    return env


def fresh(w):
    """No results/ folder, as in an application's repository: a block that
    writes there must make it."""
    shutil.rmtree(os.path.join(w.checkout, "results"), ignore_errors=True)


def run_sh(w, line, text):
    cwd = w.where(text)
    fresh(w)
    if "dups=$(psql" in text:
        return run_deploy_check(w, line, text)
    p = w.run(["sh", "-e", "-c"], text, cwd, alembic_env(w) if cwd == w.migrations else None)
    check(p.returncode == 0, f"docs/ci.md:{line}: the sh block runs ({said(p)})")
    if "strip()" in text:
        outs = [o for o in p.stdout.split("\n") if o.strip()]
        w.strip_out = {"up": [o for o in outs if "ADD CONSTRAINT" in o],
                       "down": [o for o in outs if "DROP CONSTRAINT" in o]}
        check(len(outs) == 2 and all(len(v) == 1 for v in w.strip_out.values()),
              f"docs/ci.md:{line}: strip() leaves one statement for up and one for down: {outs}")
    for out in re.findall(r"--(?:json|junit) (\S+)", text):
        check(os.path.exists(os.path.join(cwd, out)), f"docs/ci.md:{line}: wrote {out}")


def run_deploy_check(w, line, text):
    """The pre-migration check of the deploy pipeline, on a database at 004."""
    env = alembic_env(w)
    a = subprocess.run(["alembic", "upgrade", "004"], cwd=w.migrations, env=env,
                       capture_output=True, text=True, timeout=120)
    if not check(a.returncode == 0, f"alembic upgrade 004 for docs/ci.md:{line} ({a.stderr[-800:]})"):
        return
    s = w.schema
    w.psql(f"INSERT INTO {s}.users SELECT g, 'u' || g || '@example.test' FROM generate_series(1, 3) g;"
           f"INSERT INTO {s}.tenants (id, name) VALUES (1, 'acme');"
           f"INSERT INTO {s}.user_tenant_membership (user_id, tenant_id) VALUES (1, 1), (1, 1), (2, 1)")
    p = w.run(["sh", "-e", "-c"], text, w.migrations, env)
    check(p.returncode == 1 and "duplicates block migration 005" in p.stderr and "1|1|2" in p.stderr,
          f"docs/ci.md:{line}: over duplicates the deploy check exits 1 naming them ({said(p)})")
    w.psql(f"DELETE FROM {s}.user_tenant_membership a USING {s}.user_tenant_membership b"
           " WHERE a.user_id = b.user_id AND a.tenant_id = b.tenant_id AND a.id > b.id")
    p = w.run(["sh", "-e", "-c"], text, w.migrations, env)
    v = w.psql(f"SELECT version_num FROM {s}.alembic_version")
    check(p.returncode == 0 and v.stdout.strip() == "005",
          f"docs/ci.md:{line}: without duplicates it applies 005 ({said(p)}; version {v.stdout!r})")


def run_github_steps(w, line, steps):
    for step in steps:
        label = f"docs/ci.md:{line}: step {step.get('name') or step.get('uses')!r}"
        if "uses" in step:
            with open(os.path.join(SOURCE, "action.yml")) as f:
                inputs = yaml.safe_load(f).get("inputs") or {}
            check(step["uses"].split("@")[0].endswith("/pgrace")
                  and set(step.get("with") or {}) <= set(inputs),
                  f"{label}: names pgrace's action and only its inputs {sorted(inputs)}")
            continue
        p = w.run(["bash", "-e", "-c"], step["run"], w.checkout)
        check(p.returncode == 0, f"{label} runs ({said(p)})")
        if "max_connections" in step["run"]:
            q = w.psql("SELECT setting FROM pg_file_settings WHERE name = 'max_connections'"
                       " AND sourcefile LIKE '%auto.conf'")
            check(q.stdout.strip() == "300", f"{label}: ALTER SYSTEM landed ({q.stdout!r})")
        for out in re.findall(r"results/charts", step["run"]):
            d = os.path.join(w.checkout, out)
            check(os.path.isdir(d) and os.listdir(d), f"{label}: wrote {out}")


def run_gitlab_job(w, line, name, job):
    fresh(w)
    lines = list(job.get("before_script") or []) + list(job.get("script") or [])
    p = w.run(["bash", "-e", "-o", "pipefail", "-c"], "\n".join(lines), w.checkout)
    check(p.returncode == 0, f"docs/ci.md:{line}: GitLab job {name} runs ({said(p)})")
    arts = job.get("artifacts") or {}
    for path in list(arts.get("paths") or []) + list((arts.get("reports") or {}).values()):
        check(os.path.exists(os.path.join(w.checkout, path)),
              f"docs/ci.md:{line}: GitLab job {name}: its artifact {path} exists")


def load(path):
    with open(os.path.join(SOURCE, path)) as f:
        return yaml.safe_load(f)


def same_as_scenario(fragment):
    """The fragment's keys equal those of one scenario it quotes; phases by name."""
    for path in ("scenarios/membership-unique.yaml", "examples/alembic/membership-alembic.yaml"):
        sc = load(path)
        if isinstance(fragment, list):
            by = {p.get("name"): p for p in sc.get("phases") or []}
            if all(isinstance(p, dict) and by.get(p.get("name")) == p for p in fragment):
                return path
        elif all(sc.get(k) == sub_of(v, sc.get(k)) for k, v in fragment.items()):
            return path
    return None


def sub_of(frag, full):
    """frag when it is full or a part of a mapping full, else a sentinel."""
    if isinstance(frag, dict) and isinstance(full, dict):
        return full if all(full.get(k) == v for k, v in frag.items()) else object()
    return frag


def run_fragment(w, line, doc):
    where = same_as_scenario(doc)
    if where:
        check(True, f"docs/ci.md:{line}: the fragment is {where}'s")
        return
    mig = doc.get("migration") if isinstance(doc, dict) else None
    if isinstance(mig, dict) and isinstance(mig.get("up"), str) and w.strip_out:
        check([mig["up"].strip()] == w.strip_out["up"] and
              [mig["down"].strip()] == w.strip_out["down"],
              f"docs/ci.md:{line}: the migration is what strip() printed ({w.strip_out})")
        return
    check(False, f"docs/ci.md:{line}: a yaml block the test cannot run or match: {doc!r:.200}")


def run_yaml(w, line, text):
    doc = yaml.safe_load(text)
    if isinstance(doc, list) and doc and all(isinstance(s, dict) and ("run" in s or "uses" in s)
                                             for s in doc):
        run_github_steps(w, line, doc)
    elif isinstance(doc, dict) and len(doc) == 1 and isinstance(next(iter(doc.values())), dict) \
            and "script" in next(iter(doc.values())):
        name, job = next(iter(doc.items()))
        run_gitlab_job(w, line, name, job)
    else:
        run_fragment(w, line, doc)


def run_sql(w, line, text):
    p = subprocess.run(["alembic", "upgrade", "004:005", "--sql"], cwd=w.migrations,
                       env=alembic_env(w), capture_output=True, text=True, timeout=120)
    check(p.returncode == 0 and p.stdout.strip() == text.strip(),
          f"docs/ci.md:{line}: Alembic's offline output is as shown ({said(p)})")


def run_python(w, line, text):
    url = "postgresql://app%40ci@db.example:5432/app?options=-c%20search_path%3Dx"
    prog = ("import os\nfrom alembic.config import Config\nconfig = Config()\n" + text +
            "\nassert config.get_main_option('sqlalchemy.url') == os.environ['DATABASE_URL'], "
            "config.get_main_option('sqlalchemy.url')\n")
    env = dict(w.env, DATABASE_URL=url)
    p = subprocess.run([sys.executable, "-c", prog], env=env, capture_output=True, text=True,
                       timeout=60)
    check(p.returncode == 0, f"docs/ci.md:{line}: the python block keeps a URL with % intact "
          f"through Alembic's Config ({said(p)})")


def main():
    found = blocks(DOC)
    check(len(found) >= 10, f"docs/ci.md has its snippets ({len(found)} blocks)")
    with tempfile.TemporaryDirectory(prefix="pgrace-ci-snippets-") as tmp:
        os.chmod(tmp, 0o755)
        w = World(tmp)
        try:
            for lang, line, text in found:
                if lang == "sh":
                    run_sh(w, line, text)
                elif lang == "yaml":
                    run_yaml(w, line, text)
                elif lang == "sql":
                    run_sql(w, line, text)
                elif lang == "python":
                    run_python(w, line, text)
                else:
                    check(False, f"docs/ci.md:{line}: a {lang} block the test cannot run")
        finally:
            w.stop()
    print(f"ci-snippets-test: {len(failures)} failed" if failures else
          "ci-snippets-test: all passed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
