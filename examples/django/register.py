#!/usr/bin/python3
"""register.py USER_ID TENANT_ID: Django's get_or_create, as a view calls it.

A minimal Django program (settings in code, the members app beside it) that
does what a signup view does: Membership.objects.get_or_create(...). Django
reads the connection from the environment pgrace gives an application flow
(PGHOST, PGPORT, PGUSER, PGDATABASE; libpq takes PGOPTIONS and PGPASSFILE
itself). get_or_create gets, and when nothing is found creates inside
transaction.atomic; on IntegrityError it gets again. Then the membership is
read back with get(), as the next request would.

With the unique constraint the loser's INSERT fails with 23505, Django
catches it, finds the winner's row and the process exits 0: the application
recovered. Without it every process creates its own row, and the read-back
raises MultipleObjectsReturned (exit 1) once the others have committed.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import django  # noqa: E402
from django.conf import settings  # noqa: E402

settings.configure(
    DATABASES={"default": {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": os.environ.get("PGDATABASE", "postgres"),
        "USER": os.environ.get("PGUSER", ""),
        "HOST": os.environ.get("PGHOST", ""),
        "PORT": os.environ.get("PGPORT", ""),
    }},
    INSTALLED_APPS=["members"],
    USE_TZ=True,
)
django.setup()

from members.models import Membership  # noqa: E402


def main() -> int:
    if len(sys.argv) != 3:
        print("usage: register.py USER_ID TENANT_ID", file=sys.stderr)
        return 2
    user_id, tenant_id = int(sys.argv[1]), int(sys.argv[2])
    m, created = Membership.objects.get_or_create(user_id=user_id, tenant_id=tenant_id,
                                                  defaults={"role": "member"})
    print("created" if created else "found", m.id)
    again = Membership.objects.get(user_id=user_id, tenant_id=tenant_id)
    print("read back", again.id)
    return 0


if __name__ == "__main__":
    sys.exit(main())
