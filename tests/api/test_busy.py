"""A database held by another writer past the busy timeout: 503 with Retry-After naming the cause,
never a 500 or a traceback (SQLite; PostgreSQL waits on row locks without a timeout here)."""

from __future__ import annotations

import sqlite3
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event, text

from gridflex.api import create_app
from gridflex.store import Store
from gridflex.store.engine import make_engine
from gridflex.store.errors import StoreBusyError
from tests.store.world import build_world


def test_a_write_lock_held_past_the_busy_timeout_is_a_503_with_retry_after(tmp_path) -> None:
    path = tmp_path / "busy.db"
    engine = make_engine(f"sqlite:///{path}")

    @event.listens_for(engine, "connect")
    def _short_wait(dbapi_conn: Any, _record: Any) -> None:  # after the store's own 30 s
        dbapi_conn.execute("PRAGMA busy_timeout=50")

    store = Store(engine=engine)
    store.upgrade()
    world = build_world(store)
    auth = {"Authorization": f"Bearer {world.secrets['alice']}"}
    other = sqlite3.connect(path, isolation_level=None)  # another process's writer, say a shell command
    with TestClient(create_app(store), raise_server_exceptions=False) as client:
        assert client.get("/v1/me", headers=auth).status_code == 200
        other.execute("BEGIN IMMEDIATE")
        try:
            r = client.get("/v1/me", headers=auth)
            assert r.status_code == 503, r.text
            assert r.headers["Retry-After"] == "1"
            assert "locked" in r.json()["detail"]
            with pytest.raises(StoreBusyError, match="locked by another writer"), store.transaction() as s:
                s.execute(
                    text("SELECT 1")
                )  # the first statement begins (BEGIN IMMEDIATE): it waits, then fails
        finally:
            other.execute("ROLLBACK")
        assert client.get("/v1/me", headers=auth).status_code == 200  # served again once released
    other.close()
    store.close()
