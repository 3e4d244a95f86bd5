#!/usr/bin/python3
"""apps-test.py PGRACE_BIN SOURCE_DIR: the application-flow examples, raced
as the real programs through pgrace's protocol listener, on the PG* server
(scripts/test.sh starts a throwaway one).

1. examples/django (get_or_create): before the constraint every process
   creates its own row; after it one row per key, 23505 N-1 times per round
   on the wire naming the constraint, and every process exits 0: Django
   caught its IntegrityError and found the winner's row (the application
   recovered).
2. examples/rails (validates_uniqueness_of): the validation alone lets a row
   per process in under hold; with the unique index one row per key, N-1 x
   23505 and N-1 processes failing with ActiveRecord::RecordNotUnique.

Needs Debian's python3-django, ruby-activerecord and ruby-pg
(scripts/setup.sh installs them). Exits 0 when every check held, 1
otherwise.
"""
import os
import subprocess
import sys
import tempfile

from pgrace_testlib import check, failures, pgrace_and_source, phase, run_json

PGRACE, SOURCE = pgrace_and_source()
RUN_LIMIT_S = 600


def run(scenario, json_path):
    return run_json([PGRACE, "run", scenario, "-q"], json_path, RUN_LIMIT_S, f"on {scenario}")



def have(what, argv):
    ok = subprocess.run(argv, capture_output=True).returncode == 0
    check(ok, f"{what} is installed (scripts/setup.sh)")
    return ok


def django(tmp):
    if not have("python3-django", ["/usr/bin/python3", "-c", "import django"]):
        return
    code, doc, said = run(os.path.join(SOURCE, "examples", "django", "django-app.yaml"),
                          os.path.join(tmp, "django.json"))
    check(code == 0, f"django: the scenario passes (exit {code})\n{said}")
    if not doc:
        return
    before, after = phase(doc, "before"), phase(doc, "after")
    w, r = after["workers"], after["rounds"]
    check(before["rows_per_key"]["min"] == before["workers"],
          "django: without the constraint every get_or_create creates")
    check(after["rows_per_key"]["max"] == 1, "django: with it one row per key")
    check(after["outcomes"].get("23505", 0) == (w - 1) * r,
          f"django: 23505 N-1 times per round on the wire ({after['outcomes']})")
    check(after["constraints"].get("members_membership_user_id_tenant_id_uniq", 0) == (w - 1) * r,
          "django: each names the constraint")
    app = after.get("app") or {}
    check(app.get("exit_ok") == w * r and app.get("exit_failed") == 0,
          f"django: every process recovered and exited 0 ({app})")


def rails(tmp):
    if not have("ruby-activerecord and ruby-pg", ["ruby", "-e", "require 'active_record'; require 'pg'"]):
        return
    code, doc, said = run(os.path.join(SOURCE, "examples", "rails", "rails-app.yaml"),
                          os.path.join(tmp, "rails.json"))
    check(code == 0, f"rails: the scenario passes (exit {code})\n{said}")
    if not doc:
        return
    before, after = phase(doc, "before"), phase(doc, "after")
    w, r = after["workers"], after["rounds"]
    check(before["rows_per_key"]["min"] == before["workers"],
          "rails: validates_uniqueness_of alone lets every process insert")
    check(after["rows_per_key"]["max"] == 1, "rails: the unique index leaves one row per key")
    check(after["outcomes"].get("23505", 0) == (w - 1) * r, "rails: N-1 x 23505 per round")
    app = after.get("app") or {}
    check(app.get("exit_failed") == (w - 1) * r and app.get("output_matched") == (w - 1) * r,
          f"rails: N-1 processes fail with ActiveRecord::RecordNotUnique ({app})")


def main():
    with tempfile.TemporaryDirectory(prefix="pgrace-apps-") as tmp:
        django(tmp)
        rails(tmp)
    print(f"apps-test: {len(failures)} failed" if failures else "apps-test: all passed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
