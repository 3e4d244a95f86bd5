"""Alembic environment: the database comes from DATABASE_URL.

pgrace runs `alembic upgrade ...` with DATABASE_URL and the PG* variables
naming its server, and PGOPTIONS='-c search_path=<sandbox>', which psycopg2
passes on: every table, alembic_version included, lands in the run's sandbox
schema and is dropped with it. DATABASE_URL holds no password: libpq reads
it from the PGPASSFILE pgrace hands the command (a 0600 file of the run's own).

The URL goes into sqlalchemy.url as Alembic's template does, through
ConfigParser, where % starts an interpolation: a URL's percent-escapes (a
user or database name with a blank, an options= query) would break it, so
every % is doubled first. That is the one line a common env.py lacks.
"""
import os
from logging.config import fileConfig

from alembic import context
from sqlalchemy import engine_from_config, pool

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


# ConfigParser reads "%%" as "%": the URL comes back out exactly as it went in.
config.set_main_option("sqlalchemy.url", database_url().replace("%", "%%"))


def run_migrations_offline() -> None:
    context.configure(url=config.get_main_option("sqlalchemy.url"), literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    engine = engine_from_config(config.get_section(config.config_ini_section, {}),
                                prefix="sqlalchemy.", poolclass=pool.NullPool)
    with engine.connect() as connection:
        context.configure(connection=connection, target_metadata=None)
        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
