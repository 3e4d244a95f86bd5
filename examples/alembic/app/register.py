#!/usr/bin/python3
"""register.py USER_ID TENANT_ID: the application's own registration path.

What the service runs when a user joins a tenant, written as such code
usually is with SQLAlchemy's ORM: look the membership up, add it when it is
not there, commit. Nothing in it knows about pgrace: it connects with
DATABASE_URL (psycopg2 reads PGPASSFILE and PGOPTIONS, so the sandbox's
search_path and any password come from the environment). pgrace races it as
an application flow (membership-app.yaml): one process per worker per round.

Exit status 0 when the membership exists at the end (added here or found);
an IntegrityError (the unique constraint of revision 005 refusing a
duplicate) is not caught: it propagates, its traceback names
sqlalchemy.exc.IntegrityError, and the process exits 1, as the service's
request would fail.

register.py --warm: the same as a long-lived service, pgrace's warm worker
(flow: {app: {warm: true}}): reads one key per line on stdin (USER_ID and
TENANT_ID separated by a tab), connects anew for each, and answers each
with one line on stdout: "ok member ..." or "error <exception class>:
<message>" (its traceback on stderr).
"""
import os
import sys
import traceback

from sqlalchemy import BigInteger, Column, Text, create_engine, select
from sqlalchemy.pool import NullPool
from sqlalchemy.orm import Session, declarative_base

Base = declarative_base()


class Membership(Base):
    __tablename__ = "user_tenant_membership"
    id = Column(BigInteger, primary_key=True)
    user_id = Column(BigInteger, nullable=False)
    tenant_id = Column(BigInteger, nullable=False)
    role = Column(Text, nullable=False, server_default="member")


def register(session: Session, user_id: int, tenant_id: int) -> Membership:
    """The membership of user_id in tenant_id, created when missing."""
    found = session.execute(
        select(Membership).where(Membership.user_id == user_id,
                                 Membership.tenant_id == tenant_id)).scalars().first()
    if found is not None:
        return found
    m = Membership(user_id=user_id, tenant_id=tenant_id, role="member")
    session.add(m)
    session.commit()
    return m


def engine_url() -> str:
    url = os.environ["DATABASE_URL"]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg2://" + url[len("postgresql://"):]
    return url


def warm() -> int:
    """One key per line on stdin, one answer line per key on stdout."""
    engine = create_engine(engine_url(), poolclass=NullPool)  # a connection per key
    for line in sys.stdin:
        user_id, tenant_id = (int(v) for v in line.rstrip("\n").split("\t"))
        try:
            with Session(engine, expire_on_commit=False) as session:
                m = register(session, user_id, tenant_id)
                answer = f"ok member {m.user_id} of tenant {m.tenant_id}"
        except Exception as e:  # the request fails; the service goes on
            traceback.print_exc(file=sys.stderr)
            sys.stderr.flush()
            kind = f"{type(e).__module__}.{type(e).__name__}"
            answer = "error " + kind + ": " + str(e).splitlines()[0]
        print(answer, flush=True)
    return 0


def main() -> int:
    if sys.argv[1:] == ["--warm"]:
        return warm()
    if len(sys.argv) != 3:
        print("usage: register.py USER_ID TENANT_ID | register.py --warm", file=sys.stderr)
        return 2
    engine = create_engine(engine_url())
    # expire_on_commit=False: the membership stays readable after commit,
    # as a service returning it does, without reading the row back.
    with Session(engine, expire_on_commit=False) as session:
        m = register(session, int(sys.argv[1]), int(sys.argv[2]))
        print(f"member {m.user_id} of tenant {m.tenant_id}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
