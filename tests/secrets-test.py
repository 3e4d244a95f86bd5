#!/usr/bin/python3
"""secrets-test.py PGRACE_BIN SOURCE_DIR: the password stays secret.

Starts a throwaway cluster of its own (scripts/pg-throwaway.sh, unix socket
only) and switches it to scram-sha-256 for a role `racer` whose password
holds % @ : / # ? & spaces, both quotes and a backslash. pgrace then runs a
scenario (a hold race whose flow holds the password in its SQL, then a
command step that connects with DATABASE_URL, waits while this test reads
/proc, prints the password it can find in every spelling and fails) with
the password given four ways: a conninfo DSN, a URL, PGPASSWORD and the
user's own passfile. For each: the command connected; no spelling of the
password is in the terminal, the JSON, the JUnit, the HTML page, the -v
statement log (--log), nor in the cmdline of pgrace or any child, nor in
any child's environ; pgrace's own argv shows the DSN's password masked
whole. `pgrace -v` on the seed scenario logs every worker's every round
whole, and no password. Every subcommand given a malformed URL exits 2 and
shows none of it. An application flow (two processes connecting with
DATABASE_URL through pgrace's protocol listener, SCRAM relayed untouched)
prints the password: both authenticated as racer, and neither the terminal
nor the JSON shows it; one that prints it and never connects has its
output's tail shown, scrubbed. The cluster is stopped by its own pid at the end. Exits 0 when every check held.
"""
import html
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.parse

from pgrace_testlib import check, failures, pgrace_and_source

PGRACE, SOURCE = pgrace_and_source()
THROWAWAY = os.path.join(SOURCE, "scripts", "pg-throwaway.sh")
PW = "p%@:/#?& 'q\"\\z w"
RUN_LIMIT_S = 120


def spellings(pw):
    """Every way a tool could print pw."""
    out = {pw, urllib.parse.quote(pw, safe=""), urllib.parse.quote(pw),
           urllib.parse.quote_plus(pw), repr(pw)[1:-1], json.dumps(pw)[1:-1],
           pw.replace("\\", "\\\\").replace("'", "\\'"),
           pw.replace("\\", "\\\\").replace(":", "\\:"),
           urllib.parse.quote(pw, safe="").replace("%", "%%"),
           pw.replace("'", "''"), html.escape(pw), html.escape(pw).replace("&#x27;", "&#39;")}
    # the password's middle, long enough to be its own: a cut one leaks too
    out.add(pw[3:12])
    out.add(urllib.parse.quote(pw, safe="")[6:20])
    return out


SPELLINGS = spellings(PW)


def leaks(text):
    return sorted(s for s in SPELLINGS if s in text)


CHILD = r'''
import os, sys, time, json, urllib.parse
d = os.environ["SECRETS_TEST_DIR"]
def password():
    f = os.environ.get("PGPASSFILE")
    if f and os.path.exists(f):
        line = open(f).read().rstrip("\n")
        fields, cur, esc = [], "", False
        for c in line:
            if esc: cur += c; esc = False
            elif c == "\\": esc = True
            elif c == ":": fields.append(cur); cur = ""
            else: cur += c
        fields.append(cur)
        return fields[4], line
    return os.environ.get("PGPASSWORD", ""), ""
pw, line = password()
import sqlalchemy
url = os.environ["DATABASE_URL"].replace("postgresql://", "postgresql+psycopg2://", 1)
with sqlalchemy.create_engine(url).connect() as c:
    who = c.execute(sqlalchemy.text("SELECT current_user")).scalar()
open(os.path.join(d, "connected"), "w").write(who)
open(os.path.join(d, "child.pid"), "w").write(str(os.getpid()))
until = time.time() + 60
while not os.path.exists(os.path.join(d, "go")) and time.time() < until:
    time.sleep(0.05)
print("\n" * 20 + "raw " + pw + " quoted " + urllib.parse.quote(pw, safe=""), file=sys.stderr)
print("plus " + urllib.parse.quote_plus(pw) + " repr " + repr(pw), file=sys.stderr)
print("json " + json.dumps(pw) + " configparser " + urllib.parse.quote(pw, safe="").replace("%", "%%"), file=sys.stderr)
print("passfile " + line, file=sys.stderr)
print("url " + os.environ["DATABASE_URL"] + " env " + os.environ.get("PGPASSWORD", "-"), file=sys.stderr)
print("sqlalchemy.exc.OperationalError: postgresql://racer:" + urllib.parse.quote(pw, safe="") + "@/postgres", file=sys.stderr)
sys.exit(1)
'''

SCENARIO = """name: secrets
description: a command that prints the password it can find
schema: CREATE TABLE t (k int)
params: [round]
rows: SELECT count(*) FROM t WHERE k = $1
flow:
  - sql: |
      SELECT length('SQLPW') AS n
  - sql: INSERT INTO t VALUES ($1)
phases:
  - name: race
    race: {workers: 2, rounds: 2}
    expect: [rows_per_key.min == workers]
  - name: leak
    steps:
      - command: PYTHON child.py
        timeout_ms: 90000
"""


def start_cluster():
    out = subprocess.run(["bash", THROWAWAY, "start"], capture_output=True, text=True,
                         timeout=120)
    if out.returncode != 0:
        sys.exit("secrets-test: cannot start a throwaway cluster: " + out.stderr)
    env = {}
    for line in out.stdout.splitlines():
        if line.startswith("export "):
            for word in shlex.split(line)[1:]:
                k, _, v = word.partition("=")
                env[k] = v
    return env


def psql(env, sql):
    subprocess.run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-c", sql], env=env,
                   check=True, capture_output=True, timeout=60)


def descendants(root):
    kids = {}
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        try:
            stat = open(f"/proc/{p}/stat").read()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        kids.setdefault(ppid, []).append(int(p))
    out, todo = [], [root]
    while todo:
        p = todo.pop()
        for k in kids.get(p, []):
            out.append(k)
            todo.append(k)
    return out


def read_proc(pid, what):
    try:
        return open(f"/proc/{pid}/{what}", "rb").read().decode("utf-8", "replace")
    except OSError:
        return ""


def run_case(name, base_env, args, extra_env, masked_dsn):
    work = tempfile.mkdtemp(prefix="pgrace-secrets-")
    os.chmod(work, 0o755)
    try:
        with open(os.path.join(work, "s.yaml"), "w") as f:
            f.write(SCENARIO.replace("PYTHON", sys.executable).replace("SQLPW", PW.replace("'", "''")))
        with open(os.path.join(work, "child.py"), "w") as f:
            f.write(CHILD)
        env = dict(base_env)
        env.update(extra_env)
        env["SECRETS_TEST_DIR"] = work
        cmd = [PGRACE, "run", os.path.join(work, "s.yaml"), "--json",
               os.path.join(work, "r.json"), "--junit", os.path.join(work, "r.xml"), "--html",
               os.path.join(work, "r.html"), "--log", os.path.join(work, "r.log")] + args
        p = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             text=True)
        seen_ps = ""
        seen_environ = ""
        own_cmdline = ""
        deadline = time.time() + RUN_LIMIT_S
        while not os.path.exists(os.path.join(work, "child.pid")) and time.time() < deadline:
            if p.poll() is not None:
                break
            time.sleep(0.05)
        if p.poll() is None:
            own_cmdline = read_proc(p.pid, "cmdline")
            seen_ps += own_cmdline
            if "PGPASSWORD" not in extra_env:  # the user put it in pgrace's own
                seen_environ += read_proc(p.pid, "environ")
            kids = descendants(p.pid)
            check(len(kids) >= 1, f"{name}: the command's process is there to read")
            for k in kids:
                seen_ps += read_proc(k, "cmdline")
                seen_environ += read_proc(k, "environ")
        open(os.path.join(work, "go"), "w").close()
        try:
            terminal, _ = p.communicate(timeout=RUN_LIMIT_S)
        except subprocess.TimeoutExpired:
            p.kill()
            terminal, _ = p.communicate()
        check(p.returncode == 1, f"{name}: exit 1 (the leaking step failed), got {p.returncode}")
        connected = os.path.join(work, "connected")
        who = open(connected).read() if os.path.exists(connected) else ""
        check(who == "racer", f"{name}: the command connected with DATABASE_URL as racer ({who!r})")
        check("***" in terminal, f"{name}: the command's output reached the terminal, scrubbed")
        check(leaks(terminal) == [], f"{name}: terminal shows none: {leaks(terminal)}")
        for out in ("r.json", "r.xml", "r.html", "r.log"):
            path = os.path.join(work, out)
            text = open(path, encoding="utf-8", errors="replace").read() \
                if os.path.exists(path) else ""
            check(text != "", f"{name}: {out} written")
            check(leaks(text) == [], f"{name}: {out} shows none: {leaks(text)}")
            if out in ("r.json", "r.html"):
                check("***" in text, f"{name}: the command's output reached {out}, scrubbed")
            if out == "r.log":
                check(" sent: EXECUTE pgrace_flow_1 [" in text and " sent: COMMIT" in text and
                      " result: " in text and "SELECT length('***')" in text,
                      f"{name}: the -v log holds the workers' statements, scrubbed")
        check(leaks(seen_ps) == [], f"{name}: no cmdline shows it: {leaks(seen_ps)}")
        check(leaks(seen_environ) == [], f"{name}: no child's environ holds it: "
              f"{leaks(seen_environ)}")
        if masked_dsn:
            check(any(m in own_cmdline.split("\0") for m in masked_dsn),
                  f"{name}: ps shows the DSN masked whole ({masked_dsn}): {own_cmdline!r}")
        leftover = [e for e in os.listdir(env.get("TMPDIR", "/tmp"))
                    if e.startswith(f"pgrace-{p.pid}-")]
        check(leftover == [], f"{name}: the private passfile folder is gone: {leftover}")
        if failures:
            print(terminal)
    finally:
        shutil.rmtree(work, ignore_errors=True)


ALEMBIC_SCENARIO = """name: secrets-alembic
description: the example project's env.py, with a password and a % in the URL
schema: {command: alembic upgrade 004, cwd: PROJECT}
migration:
  up: {command: alembic upgrade 005, cwd: PROJECT}
  down: {command: alembic downgrade 004, cwd: PROJECT}
params: [round, 1]
rows: SELECT count(*) FROM user_tenant_membership WHERE user_id = $1 AND tenant_id = $2
flow:
  - sql: INSERT INTO user_tenant_membership (user_id, tenant_id) VALUES ($1, $2)
phases:
  - name: migrate
    steps:
      - run: revision
        expect: [rows == 0]
      - migrate: up
      - run: revision
        expect: [rows == 1]
      - migrate: down
sql:
  revision: SELECT 1 FROM alembic_version WHERE version_num = '005'
"""


APP_CHILD = r'''
import os, sys, json, urllib.parse
d = os.environ["SECRETS_TEST_DIR"]
line = open(os.environ["PGPASSFILE"]).read().rstrip("\n")
fields, cur, esc = [], "", False
for c in line:
    if esc: cur += c; esc = False
    elif c == "\\": esc = True
    elif c == ":": fields.append(cur); cur = ""
    else: cur += c
fields.append(cur)
pw = fields[4]
if sys.argv[1] == "connect":
    import sqlalchemy
    url = os.environ["DATABASE_URL"].replace("postgresql://", "postgresql+psycopg2://", 1)
    # a transaction that commits: what hold mode holds
    with sqlalchemy.create_engine(url).begin() as c:
        who = c.execute(sqlalchemy.text("SELECT current_user")).scalar()
        c.execute(sqlalchemy.text("INSERT INTO t VALUES (1)"))
    open(os.path.join(d, "connected-" + os.environ["PGRACE_WORKER"]), "w").write(who)
print("raw " + pw + " quoted " + urllib.parse.quote(pw, safe=""), file=sys.stderr)
print("json " + json.dumps(pw) + " passfile " + line, file=sys.stderr)
sys.exit(1)
'''

APP_SCENARIO = """name: secrets-app
description: an application flow whose processes print the password they can find
schema: CREATE TABLE t (k int)
params: [round]
rows: SELECT count(*) FROM t WHERE k = $1
flow:
  app:
    command: PYTHON child.py MODE
    timeout_ms: 90000
phases:
  - name: race
    race: {workers: 2, rounds: 1}
    expect: [app.exit_ok == attempts]
"""


def app_case(env, url):
    """An app flow through pgrace's listener with the SCRAM role: the app
    connects (SCRAM relayed untouched) and prints the password; then one
    that prints it without connecting, whose output tail pgrace shows."""
    for mode, want in (("connect", 1), ("bypass", 3)):
        work = tempfile.mkdtemp(prefix="pgrace-secrets-app-")
        os.chmod(work, 0o755)
        try:
            with open(os.path.join(work, "s.yaml"), "w") as f:
                f.write(APP_SCENARIO.replace("PYTHON", sys.executable).replace("MODE", mode))
            with open(os.path.join(work, "child.py"), "w") as f:
                f.write(APP_CHILD)
            run_env = dict(env)
            run_env["SECRETS_TEST_DIR"] = work
            r = subprocess.run([PGRACE, "run", os.path.join(work, "s.yaml"), "--dsn", url,
                                "--json", os.path.join(work, "r.json")], env=run_env,
                               capture_output=True, text=True, timeout=RUN_LIMIT_S)
            said = r.stdout + r.stderr
            check(r.returncode == want, f"app {mode}: exit {want} (got {r.returncode})\n{said}")
            if mode == "connect":
                who = [open(os.path.join(work, f"connected-{w}")).read()
                       if os.path.exists(os.path.join(work, f"connected-{w}")) else ""
                       for w in (0, 1)]
                check(who == ["racer", "racer"],
                      f"app connect: both processes authenticated through the listener ({who})")
            else:
                check("never connected" in said and "***" in said,
                      f"app bypass: the output tail is shown, scrubbed\n{said}")
            check(leaks(said) == [], f"app {mode}: terminal shows none: {leaks(said)}")
            path = os.path.join(work, "r.json")
            text = open(path).read() if os.path.exists(path) else ""
            check(leaks(text) == [], f"app {mode}: the JSON shows none: {leaks(text)}")
        finally:
            shutil.rmtree(work, ignore_errors=True)


def alembic_case(env, passfile):
    if not shutil.which("alembic", path=env.get("PATH")):
        check(False, "alembic is installed (scripts/setup.sh)")
        return
    work = tempfile.mkdtemp(prefix="pgrace-secrets-alembic-")
    try:
        path = os.path.join(work, "a.yaml")
        with open(path, "w") as f:
            f.write(ALEMBIC_SCENARIO.replace("PROJECT",
                                             os.path.join(SOURCE, "examples", "alembic")))
        run_env = dict(env)
        run_env["PGUSER"] = "alembic%user"
        run_env["PGPASSFILE"] = passfile
        r = subprocess.run([PGRACE, "run", path, "--json", os.path.join(work, "a.json")],
                           env=run_env, capture_output=True, text=True, timeout=RUN_LIMIT_S)
        said = r.stdout + r.stderr
        check(r.returncode == 0, f"alembic: env.py's pattern migrates with a % in DATABASE_URL "
              f"(exit {r.returncode})\n{said}")
        check(leaks(said) == [], f"alembic: terminal shows none: {leaks(said)}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


def verbose_case(env, url):
    """pgrace -v on the seed scenario: every statement of every worker, with its
    result, and no password. Each hold round of each worker is its whole
    transaction (BEGIN, the flow's statements, COMMIT or ROLLBACK), each
    interleave order's too, as many as the result document counts."""
    seed = os.path.join(SOURCE, "scenarios", "membership-unique.yaml")
    work = tempfile.mkdtemp(prefix="pgrace-secrets-verbose-")
    try:
        r = subprocess.run([PGRACE, "run", seed, "-v", "-w", "3", "-r", "2", "--dsn", url, "--json",
                            os.path.join(work, "v.json")], env=env, capture_output=True, text=True,
                           timeout=RUN_LIMIT_S)
        doc = json.load(open(os.path.join(work, "v.json"))) \
            if os.path.exists(os.path.join(work, "v.json")) else {"phases": []}
    finally:
        shutil.rmtree(work, ignore_errors=True)
    check(r.returncode == 0, f"verbose: the seed scenario passes (exit {r.returncode})")
    log = r.stderr
    check(leaks(log + r.stdout) == [], f"verbose: the log shows no password: {leaks(log)}")
    sent, results, txns = {}, {}, {}
    for line in log.splitlines():
        f = line.split(" ", 5)
        if len(f) < 6 or f[1] != "worker" or f[3] != "round":
            continue
        key = (f[2], f[4].rstrip(":"))
        if f[5].startswith("sent: "):
            sent[key] = sent.get(key, 0) + 1
            if not f[5].startswith("sent: PREPARE "):
                txns.setdefault(key, []).append(f[5][len("sent: "):].split(" [")[0])
        elif f[5].startswith("result: "):
            results[key] = results.get(key, 0) + 1
    workers = sorted({w for w, _ in sent})
    check(workers == ["a", "b", "c"], f"verbose: every worker logged, named as everywhere ({workers})")
    check(sent == results, "verbose: every statement sent has its result logged")
    # what the result document says ran: hold rounds per worker, interleave orders
    want = {}
    for ph in doc["phases"]:
        if ph.get("mode") == "hold" and ph.get("rows_per_key"):
            for w in range(ph["workers"]):
                want[chr(ord("a") + w)] = want.get(chr(ord("a") + w), 0) + ph["rounds"]
        elif ph.get("interleave"):
            ilv_ph = ph["interleave"]
            ran = ilv_ph.get("orders_run", ilv_ph["interleavings"])
            for w in ("a", "b"):
                want[w] = want.get(w, 0) + ran
    hold = re.compile(r"BEGIN ISOLATION LEVEL READ COMMITTED\nEXECUTE pgrace_flow_0\n"
                      r"(EXECUTE pgrace_flow_1\n)?(COMMIT|ROLLBACK)$")
    ilv = re.compile(r"BEGIN ISOLATION LEVEL READ COMMITTED\nEXECUTE pgrace_flow_0\n"
                     r"(EXECUTE pgrace_flow_1\n)?(COMMIT|ROLLBACK)$")
    # partial-order reduction's probe runs each flow statement alone, rolled back
    probe = re.compile(r"(BEGIN ISOLATION LEVEL READ COMMITTED\n[^\n]+\nROLLBACK(\n|$))+$")
    whole, broken = {}, []
    for (w, rnd), seq in txns.items():
        text = "\n".join(seq)
        if hold.match(text) or ilv.match(text):
            whole[w] = whole.get(w, 0) + 1
        elif not probe.match(text):
            broken.append((w, rnd, seq))
    check(broken == [], f"verbose: every round of every worker is logged whole: {broken[:3]}")
    check(want != {} and whole == want,
          f"verbose: a whole transaction per worker and round or order run (logged {whole}, "
          f"ran {want})")


def main():
    pg = start_cluster()
    base = {k: v for k, v in os.environ.items() if not k.startswith("PG")
            and k != "DATABASE_URL"}
    base.update(pg)
    tmp = tempfile.mkdtemp(prefix="pgrace-secrets-tmp-")
    base["TMPDIR"] = tmp
    try:
        quoted = PW.replace("'", "''")
        psql(base, f"CREATE ROLE racer LOGIN SUPERUSER PASSWORD '{quoted}'")
        hba = os.path.join(pg["PGRACE_PG_DIR"], "data", "pg_hba.conf")
        with open(hba, "w") as f:
            f.write("local all postgres trust\nlocal all all scram-sha-256\n")
        psql(base, "SELECT pg_reload_conf()")
        time.sleep(0.5)
        host, port = pg["PGHOST"], pg["PGPORT"]
        nopw = {k: v for k, v in base.items() if k not in ("PGUSER",)}
        nopw["PGUSER"] = "racer"
        conninfo_pw = PW.replace("\\", "\\\\").replace("'", "\\'")
        conninfo = f"host={host} port={port} user=racer dbname=postgres password='{conninfo_pw}'"
        # the value's quotes may go with it (as when a quote's change keeps it a password)
        masked = [f"host={host} port={port} user=racer dbname=postgres password='" +
                  "x" * len(conninfo_pw) + "'",
                  f"host={host} port={port} user=racer dbname=postgres password=" +
                  "x" * (len(conninfo_pw) + 1) + "'"]
        run_case("conninfo", nopw, ["--dsn", conninfo], {}, masked)
        enc = urllib.parse.quote(PW, safe="")
        url = f"postgresql://racer:{enc}@/postgres?host={urllib.parse.quote(host, safe='')}&port={port}"
        murl = f"postgresql://racer:{'x' * len(enc)}@/postgres?host=" \
            f"{urllib.parse.quote(host, safe='')}&port={port}"
        run_case("url", nopw, ["--dsn", url], {}, [murl])
        app_case(nopw, url)
        run_case("PGPASSWORD", nopw, [], {"PGPASSWORD": PW}, None)
        passfile = os.path.join(tmp, "user-pgpass")
        with open(passfile, "w") as f:
            for user in ("racer", "alembic%user"):
                f.write(f"*:*:*:{user}:" + PW.replace("\\", "\\\\").replace(":", "\\:") + "\n")
        os.chmod(passfile, 0o600)
        run_case("passfile", nopw, [], {"PGPASSFILE": passfile}, None)

        # The robust env.py of examples/alembic with real Alembic, for a user
        # whose name DATABASE_URL must percent-encode (ConfigParser's %).
        psql(base, "CREATE ROLE \"alembic%user\" LOGIN SUPERUSER PASSWORD '" + quoted + "'")
        alembic_case(nopw, passfile)

        verbose_case(nopw, url)

        # One DSN check for every subcommand: a URL libpq cannot parse.
        bad = "postgresql://racer:" + enc + "%zz@/postgres"
        for sub in (["run", os.path.join(SOURCE, "scenarios", "membership-unique.yaml")],
                    ["spec", os.path.join(SOURCE, "scenarios", "membership-unique.yaml"),
                     "--phase", "interleave-before"],
                    ["clean"], ["init", "--table", "t", "--key", "k"]):
            r = subprocess.run([PGRACE] + sub + ["--dsn", bad], env=nopw, capture_output=True,
                               text=True, timeout=60)
            said = r.stdout + r.stderr
            check(r.returncode == 2, f"{sub[0]}: a malformed --dsn exits 2 (got {r.returncode})")
            check(leaks(said) == [] and enc[:9] not in said,
                  f"{sub[0]}: its message shows no password: {said.strip()!r}")
    finally:
        subprocess.run(["bash", THROWAWAY, "stop", pg["PGRACE_PG_DIR"]], timeout=120)
        shutil.rmtree(tmp, ignore_errors=True)
    if failures:
        print(f"{len(failures)} checks failed", flush=True)
        sys.exit(1)
    print("every check held")


main()
