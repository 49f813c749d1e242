"""Database fixtures shared by tests/store and tests/api: every store test runs on SQLite and PostgreSQL.

PostgreSQL: the machine's server at 127.0.0.1:5432 (trust auth, database ``test``; override with
``GRIDFLEX_TEST_PG``). A session makes one migrated template database, and every test gets a fresh
copy of it (``CREATE DATABASE … TEMPLATE``), dropped afterwards. When ``CI`` is set, an unreachable
server fails the test; elsewhere it is skipped.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from gridflex.store import Store

PG_ADMIN_URL = os.environ.get("GRIDFLEX_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
BACKENDS = ["sqlite", "postgresql"]


def _admin_engine():  # AUTOCOMMIT: CREATE/DROP DATABASE cannot run in a transaction
    return create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 5})


def _url_for(db: str) -> str:
    return make_url(PG_ADMIN_URL).set(database=db).render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def pg_template() -> Iterator[str]:
    """A migrated template database for this session (one per xdist worker)."""
    try:
        admin = _admin_engine()
        with admin.connect() as c:
            c.execute(text("SELECT 1"))
    except Exception as exc:  # any failure to connect means "no PostgreSQL here"
        msg = f"PostgreSQL unreachable at {PG_ADMIN_URL}: {type(exc).__name__}"
        if os.environ.get("CI"):
            pytest.fail(msg + " (CI is set: the store must be tested on PostgreSQL)")
        pytest.skip(msg)
    name = f"gf_tpl_{uuid.uuid4().hex[:12]}"
    with admin.connect() as c:
        c.execute(text(f'CREATE DATABASE "{name}"'))
    store = Store(_url_for(name))
    try:
        store.upgrade()
    finally:
        store.close()  # a template must have no open connection when it is copied
    yield name
    with admin.connect() as c:
        c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture
def pg_url(request: pytest.FixtureRequest) -> Iterator[str]:
    template = request.getfixturevalue("pg_template")
    name = f"gf_t_{uuid.uuid4().hex[:12]}"
    admin = _admin_engine()
    with admin.connect() as c:
        c.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{template}"'))
    yield _url_for(name)
    with admin.connect() as c:
        c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(params=BACKENDS)
def db_url(request: pytest.FixtureRequest, tmp_path) -> str:
    """A fresh, migrated database: SQLite file or PostgreSQL copy."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'gridflex.db'}"
        s = Store(url)
        s.upgrade()
        s.close()
        return url
    return request.getfixturevalue("pg_url")


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    s = Store(db_url)
    yield s
    s.close()
