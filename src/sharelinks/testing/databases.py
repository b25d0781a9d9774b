"""Throwaway databases for tests: a migrated SQLite file, or a fresh PostgreSQL database."""

from __future__ import annotations

import os
import secrets

import psycopg
from sqlalchemy import text
from sqlalchemy.engine import make_url

from sharelinks.db.database import Database

DEFAULT_POSTGRES_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


def postgres_admin_url() -> str:
    return os.environ.get("SHARELINKS_TEST_POSTGRES_URL", DEFAULT_POSTGRES_ADMIN_URL)


def _libpq(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def create_postgres_database(prefix: str = "sharelinks_test") -> str:
    """Create an empty database and return its SQLAlchemy URL."""
    admin = postgres_admin_url()
    name = f"{prefix}_{secrets.token_hex(4)}"
    with psycopg.connect(_libpq(admin), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return make_url(admin).set(database=name).render_as_string(hide_password=False)


def drop_postgres_database(url: str) -> None:
    name = make_url(url).database
    with psycopg.connect(_libpq(postgres_admin_url()), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def truncate_all(db: Database) -> None:
    """Empty every table (PostgreSQL): much faster than a new database per test."""
    from sharelinks.db.metadata import metadata
    from sharelinks.db.nodes import id_nodes

    # Not id_nodes: its one row is the database's, not a test's (db.nodes).
    names = ", ".join(f'"{t.name}"' for t in metadata.sorted_tables if t is not id_nodes)
    with db.transaction() as conn:
        conn.execute(text(f"TRUNCATE {names} CASCADE"))
