"""Alembic environment: the database comes from DATABASE_URL.

pgrace runs `alembic upgrade ...` with DATABASE_URL and the PG* variables
naming its server, and PGOPTIONS='-c search_path=<sandbox>', which psycopg2
passes on: every table, alembic_version included, lands in the run's sandbox
schema and is dropped with it.
"""
import os
from logging.config import fileConfig

from alembic import context
from sqlalchemy import create_engine, pool

config = context.config
if config.config_file_name is not None:
    fileConfig(config.config_file_name)


def database_url() -> str:
    url = os.environ.get("DATABASE_URL")
    if not url:
        raise SystemExit("env.py: DATABASE_URL is not set")
    # SQLAlchemy names the driver in the scheme.
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg2://" + url[len("postgresql://"):]
    return url


def run_migrations_offline() -> None:
    context.configure(url=database_url(), literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    engine = create_engine(database_url(), poolclass=pool.NullPool)
    with engine.connect() as connection:
        context.configure(connection=connection, target_metadata=None)
        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
