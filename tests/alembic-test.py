#!/usr/bin/python3
"""alembic-test.py PGRACE_BIN SOURCE_DIR: the seed ticket against the real
Alembic project in examples/alembic, on the PG* server (scripts/test.sh
starts a throwaway one).

1. pgrace runs examples/alembic/membership-alembic.yaml (alembic upgrade 004
   as the schema, 005 as the migration, the six phases of the seed story):
   exit 0, and its sandbox schema is gone afterwards.
2. The mutant where 005 adds a plain (non-unique) index instead of the
   ticket's constraint: exit 1, with the precheck's expected 23505 and the
   after phase's one-row check among the failures.
3. The ticket's "duplicate insert attempts raise IntegrityError", with the
   real library: after `alembic upgrade 005`, the registration written with
   SQLAlchemy, run by two threads at once (both check before either
   inserts), raises sqlalchemy.exc.IntegrityError with orig.pgcode 23505 in
   exactly one of them, the count pgrace reports for two workers (one 23505
   per round). At 004 the same threads leave two rows and no error: the
   check can fail.
4. The same story raced through the application's own code
   (membership-app.yaml: app/register.py, SQLAlchemy's ORM over psycopg2,
   one process per worker through pgrace's protocol listener): before 005
   hold leaves a row per worker from the app's own check-then-add; after it
   one row per key, N-1 x 23505 on the wire naming the constraint, N-1
   processes exiting non-zero with sqlalchemy.exc.IntegrityError in their
   output; the mutant 005 makes it exit 1 too.
5. pgrace init on a table Alembic made (with rows), the schema and the
   migration taken from Alembic itself (upgrade 004; upgrade 005 and
   downgrade 004): the scenario it writes passes, the rows stay. With the
   migration alone from Alembic, the schema from the live table (and its
   alembic_version), it passes too.

Needs Debian's python3-alembic, python3-sqlalchemy, python3-psycopg2 and
alembic (scripts/setup.sh installs them). Exits 0 when every check held,
1 otherwise.
"""
import os
import shutil
import subprocess
import sys
import tempfile
import threading

from pgrace_testlib import check, failures, pgrace_and_source, phase, run_json

try:
    import psycopg2
    import sqlalchemy
    from sqlalchemy import MetaData, Table, create_engine, insert, select
    from sqlalchemy.exc import IntegrityError
except ImportError as e:  # a clear message, not a skip: CI must run this
    sys.exit(f"alembic-test: {e}: install python3-sqlalchemy python3-psycopg2 "
             "python3-alembic alembic (scripts/setup.sh)")

# PGRACE_TEST_BIN (e.g. a TSan build) outranks the binary ctest names, as in harness.h.
PGRACE, SOURCE = pgrace_and_source()
PROJECT = os.path.join(SOURCE, "examples", "alembic")
SCENARIO = "membership-alembic.yaml"
APP_SCENARIO = "membership-app.yaml"
UQ = "uq_user_tenant_membership_user_tenant"
RUN_LIMIT_S = 300


def pgrace(folder, json_path, *extra, scenario=SCENARIO):
    """Runs pgrace on the scenario in folder; returns (exit code, JSON, output)."""
    return run_json([PGRACE, "run", os.path.join(folder, scenario), *extra], json_path, RUN_LIMIT_S,
                    f"{' '.join(extra)} on {folder}")



def schema_exists(name):
    with psycopg2.connect("") as c, c.cursor() as cur:
        cur.execute("SELECT count(*) FROM pg_namespace WHERE nspname = %s", (name,))
        return cur.fetchone()[0] > 0


def failed_expectations(doc):
    return [(p["name"], x["expect"]) for p in doc["phases"] for x in p["expectations"]
            if not x["passed"]]


def scenario_runs(tmp):
    code, doc, said = pgrace(PROJECT, os.path.join(tmp, "run.json"), "--rounds", "5")
    check(code == 0, f"the Alembic scenario passes (exit {code})\n{said}")
    if doc:
        check(doc["verdict"] == "pass", "its verdict is pass")
        check(not schema_exists(doc["schema"]), f"its schema {doc['schema']} is dropped")
        check(phase(doc, "after")["outcomes"].get("23505", 0) > 0,
              "after 005 the race meets 23505")


def app_runs(tmp):
    code, doc, said = pgrace(PROJECT, os.path.join(tmp, "app.json"), "--rounds", "2",
                             "--workers", "3", scenario=APP_SCENARIO)
    check(code == 0, f"the app flow scenario passes (exit {code})\n{said}")
    if not doc:
        return
    before, after = phase(doc, "before"), phase(doc, "after")
    w, r = after["workers"], after["rounds"]
    check(before["rows_per_key"]["min"] == before["workers"],
          "before 005 every process's own check-then-add inserts")
    check(after["rows_per_key"]["max"] == 1, "after 005 one row per key")
    check(after["outcomes"].get("23505", 0) == (w - 1) * r,
          f"after 005 N-1 x 23505 on the wire ({after['outcomes']})")
    check(after["constraints"].get(UQ, 0) == (w - 1) * r, "each 23505 names the constraint")
    app = after.get("app") or {}
    check(app.get("exit_failed") == (w - 1) * r, f"N-1 processes exit non-zero ({app})")
    check(app.get("output_matched") == (w - 1) * r,
          "each of them printed sqlalchemy.exc.IntegrityError")
    check(not schema_exists(doc["schema"]), "its schema is dropped")


def mutant_fails(tmp):
    mutant = os.path.join(tmp, "mutant")
    shutil.copytree(PROJECT, mutant, ignore=shutil.ignore_patterns("__pycache__"))
    path = os.path.join(mutant, "versions", "005_add_membership_unique_constraint.py")
    with open(path) as f:
        text = f.read()
    up = text.index("def upgrade()")
    text = text[:up] + '''def upgrade() -> None:
    op.create_index(
        "ix_user_tenant_membership_user_tenant",
        "user_tenant_membership",
        ["user_id", "tenant_id"]
    )

def downgrade() -> None:
    op.drop_index("ix_user_tenant_membership_user_tenant", table_name="user_tenant_membership")
'''
    with open(path, "w") as f:
        f.write(text)
    code, doc, said = pgrace(mutant, os.path.join(tmp, "mutant-app.json"), "--rounds", "2",
                             "--workers", "3", scenario=APP_SCENARIO)
    check(code == 1, f"the app flow on the mutant fails with exit 1 (exit {code})\n{said}")
    code, doc, said = pgrace(mutant, os.path.join(tmp, "mutant.json"), "--rounds", "5")
    check(code == 1, f"the mutant (005 a non-unique index) fails with exit 1 (exit {code})\n{said}")
    if doc:
        failed = failed_expectations(doc)
        check(any(n == "precheck" and "fails with 23505" in x for n, x in failed),
              "the mutant's 005 applies over duplicates")
        check(any(n == "after" and x == "rows_per_key.max == 1" for n, x in failed),
              "the mutant leaves duplicates after 005")
        check(not schema_exists(doc["schema"]), "the mutant's schema is dropped")


def alembic(schema, *args):
    """Runs the project's alembic in schema, as pgrace would."""
    env = {k: v for k, v in os.environ.items() if k != "PGOPTIONS"}
    env["PGOPTIONS"] = f"-c search_path={schema}"
    host, port = os.environ.get("PGHOST", ""), os.environ.get("PGPORT", "5432")
    user, db = os.environ.get("PGUSER", ""), os.environ.get("PGDATABASE", "")
    env["DATABASE_URL"] = (f"postgresql://{user}@/{db}?host={host}&port={port}"
                           if host.startswith("/") else f"postgresql://{user}@{host}:{port}/{db}")
    subprocess.run(["alembic", *args], cwd=PROJECT, env=env, check=True, timeout=120,
                   capture_output=True)
    return env["DATABASE_URL"]


def race_two_registrations(engine, membership, user_id):
    """Two threads register (user_id, 1) at once: each checks, both wait until
    both have checked, then each inserts and commits. Returns the exceptions."""
    both_checked = threading.Barrier(2, timeout=30)
    errors = []

    def register():
        try:
            with engine.connect() as conn, conn.begin():
                found = conn.execute(select(membership.c.id).where(
                    membership.c.user_id == user_id, membership.c.tenant_id == 1)).first()
                both_checked.wait()
                if found is None:
                    conn.execute(insert(membership).values(
                        user_id=user_id, tenant_id=1, role="member"))
        except IntegrityError as e:
            errors.append(e)
        except Exception as e:  # anything else fails the check below
            errors.append(e)

    threads = [threading.Thread(target=register) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    check(not any(t.is_alive() for t in threads), "both registrations finished")
    with engine.connect() as conn:
        rows = conn.execute(select(sqlalchemy.func.count()).select_from(membership).where(
            membership.c.user_id == user_id, membership.c.tenant_id == 1)).scalar()
    return errors, rows


def integrity_error_with_sqlalchemy(tmp):
    schema = f"alembic_test_{os.getpid()}"
    admin = psycopg2.connect("")
    admin.autocommit = True
    admin.cursor().execute(f"CREATE SCHEMA {schema}")
    try:
        url = alembic(schema, "upgrade", "004")
        url = "postgresql+psycopg2://" + url[len("postgresql://"):]
        engine = create_engine(url, connect_args={"options": f"-c search_path={schema}"})
        with engine.begin() as conn:
            conn.exec_driver_sql("INSERT INTO users (id, email) VALUES "
                                 "(1, 'a@example.test'), (2, 'b@example.test')")
            conn.exec_driver_sql("INSERT INTO tenants (id, name) VALUES (1, 'acme')")
        membership = Table("user_tenant_membership", MetaData(), autoload_with=engine)

        errors, rows = race_two_registrations(engine, membership, 1)
        check(errors == [] and rows == 2,
              f"at 004 two registrations at once leave 2 rows, no error ({rows} rows, {errors})")

        with engine.begin() as conn:  # 005 refuses to apply over those duplicates
            conn.exec_driver_sql("DELETE FROM user_tenant_membership")
        alembic(schema, "upgrade", "005")
        errors, rows = race_two_registrations(engine, membership, 2)
        check(rows == 1, f"after 005 one row survives ({rows})")
        check(len(errors) == 1, f"after 005 exactly one of two registrations fails ({errors})")
        if len(errors) == 1:
            e = errors[0]
            check(isinstance(e, IntegrityError),
                  f"it raises sqlalchemy.exc.IntegrityError ({type(e).__name__})")
            check(getattr(getattr(e, "orig", None), "pgcode", None) == "23505",
                  "its orig.pgcode is 23505")
            check(getattr(e.orig.diag, "constraint_name", None) == UQ, f"it names {UQ}")
        engine.dispose()

        # pgrace with two workers: one 23505 per round, as the library saw.
        code, doc, said = pgrace(PROJECT, os.path.join(tmp, "two.json"), "--workers", "2",
                                 "--rounds", "3")
        check(code == 0, f"pgrace with two workers passes (exit {code})\n{said}")
        if doc:
            after = phase(doc, "after")
            check(after["workers"] == 2 and after["outcomes"].get("23505") == after["rounds"],
                  "pgrace reports one 23505 per round of two workers, as SQLAlchemy raised "
                  f"({after['outcomes']} over {after['rounds']} rounds)")
    finally:
        admin.cursor().execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        admin.close()


def init_from_alembic_schema(tmp):
    """pgrace init on a database Alembic made (at 004, with rows), with the
    schema and the migration from Alembic itself: the scenario it writes
    passes, and the table's rows are unchanged."""
    schema = f"alembic_src_{os.getpid()}"
    admin = psycopg2.connect("")
    admin.autocommit = True
    cur = admin.cursor()
    cur.execute(f"CREATE SCHEMA {schema}")
    try:
        alembic(schema, "upgrade", "004")
        cur.execute(f"SET search_path TO {schema}")
        cur.execute("INSERT INTO users SELECT g, 'u' || g || '@example.test' FROM generate_series(1, 30) g")
        cur.execute("INSERT INTO tenants (id, name) VALUES (1, 'acme')")
        cur.execute("INSERT INTO user_tenant_membership (user_id, tenant_id)"
                    " SELECT g, 1 FROM generate_series(1, 30) g UNION ALL SELECT 3, 1")
        digest = "SELECT md5(string_agg(m::text, ',' ORDER BY id)) FROM user_tenant_membership m"
        cur.execute(digest)
        before = cur.fetchone()[0]
        out = os.path.join(tmp, "init.yaml")
        p = subprocess.run([PGRACE, "init", "--table", f"{schema}.user_tenant_membership",
                            "--key", "user_id,tenant_id", "--schema-command",
                            "alembic upgrade 004", "--migrate-command", "alembic upgrade 005",
                            "--downgrade-command", "alembic downgrade 004",
                            "--constraint", UQ, "-o", out], cwd=PROJECT,
                           capture_output=True, text=True, timeout=60)
        check(p.returncode == 0, f"pgrace init --schema-command writes a scenario ({p.stderr})")
        if p.returncode == 0:
            code, doc, said = pgrace(tmp, os.path.join(tmp, "init.json"), "--rounds", "3",
                                     scenario="init.yaml")
            check(code == 0, f"the scenario init wrote passes with Alembic's schema (exit {code})\n{said}")
        # Only the migration from Alembic: the schema from the live table,
        # alembic_version (at 004) with it, so that `upgrade 005` applies 005.
        out = os.path.join(tmp, "init-migrate.yaml")
        p = subprocess.run([PGRACE, "init", "--table", f"{schema}.user_tenant_membership",
                            "--key", "user_id,tenant_id", "--migrate-command", "alembic upgrade 005",
                            "--downgrade-command", "alembic downgrade 004",
                            "--constraint", UQ, "-o", out], cwd=PROJECT,
                           capture_output=True, text=True, timeout=60)
        check(p.returncode == 0, f"pgrace init --migrate-command writes a scenario ({p.stderr})")
        if p.returncode == 0:
            code, doc, said = pgrace(tmp, os.path.join(tmp, "init-migrate.json"), "--rounds", "3",
                                     scenario="init-migrate.yaml")
            check(code == 0, "the scenario init wrote with only --migrate-command passes, its schema "
                  f"from the live table (exit {code})\n{said}")
        cur.execute(digest)
        check(cur.fetchone()[0] == before, "the table's rows are unchanged")
    finally:
        cur.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        admin.close()


def main():
    with tempfile.TemporaryDirectory(prefix="pgrace-alembic-") as tmp:
        scenario_runs(tmp)
        app_runs(tmp)
        mutant_fails(tmp)
        integrity_error_with_sqlalchemy(tmp)
        init_from_alembic_schema(tmp)
    print(f"alembic-test: {len(failures)} failed" if failures else "alembic-test: all passed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
