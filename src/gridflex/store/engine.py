"""Engines: an SQLite file by default (WAL, foreign keys on), PostgreSQL via ``postgresql+psycopg://``."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from gridflex.store.errors import StoreError

__all__ = ["DEFAULT_URL", "is_sqlite", "make_engine", "normalise_url"]

DEFAULT_URL = "sqlite:///gridflex.db"


def normalise_url(url: str | None) -> str:
    """``None`` → ``./gridflex.db``; a bare path → an SQLite URL; ``postgresql://`` → psycopg 3."""
    if not url:
        return DEFAULT_URL
    if "://" not in url:
        return f"sqlite:///{Path(url)}"
    if url.startswith(("postgresql://", "postgres://")):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def make_engine(url: str | None = None, **kwargs: Any) -> Engine:
    """An engine for ``url`` (see :func:`normalise_url`), ready for the store's transactions."""
    url = normalise_url(url)
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise StoreError(f"not a database URL: {url!r}") from None
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        db = parsed.database or ""
        if db and db != ":memory:":
            Path(db).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30}, **kwargs)
        _sqlite_events(engine)
        return engine
    if backend == "postgresql":
        kwargs.setdefault("pool_pre_ping", True)
        kwargs.setdefault("pool_size", int(os.environ.get("GRIDFLEX_DB_POOL", "10")))
        return create_engine(url, **kwargs)
    raise StoreError(f"unsupported database {backend!r}: use sqlite:///file.db or postgresql+psycopg://…")


def _sqlite_events(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # The driver's own BEGIN handling is switched off: SQLAlchemy emits BEGIN below, so that
        # savepoints work and the whole transaction is one unit.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")  # readers never block the writer
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute(
            "PRAGMA synchronous=NORMAL"
        )  # survives a killed process; a power cut may lose the last commits
        cur.execute("PRAGMA busy_timeout=30000")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        # IMMEDIATE takes the write lock at the start: a read-then-write transaction can never fail
        # half-way with "database is locked" when another writer got there first; it waits instead.
        conn.exec_driver_sql("BEGIN IMMEDIATE")
