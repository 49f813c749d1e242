"""The store: an engine, transactions, and the repositories bound to a session and a principal."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass

from sqlalchemy import Engine, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from gridflex.store.accounts import Accounts, NewToken
from gridflex.store.engine import make_engine, normalise_url
from gridflex.store.errors import StoreBusyError
from gridflex.store.jobs import Jobs
from gridflex.store.market import Clearing, Orders, Products
from gridflex.store.migrate import upgrade
from gridflex.store.places import Places
from gridflex.store.tables import Organisation, OrgRole, Role
from gridflex.store.tenancy import Principal
from gridflex.store.uploads import Uploads
from gridflex.store.webhooks import Webhooks

__all__ = ["Repos", "Store", "bootstrap_admin"]


@dataclass(frozen=True)
class Repos:
    """Every repository for one transaction and one caller."""

    accounts: Accounts
    places: Places
    products: Products
    orders: Orders
    clearing: Clearing
    jobs: Jobs
    webhooks: Webhooks
    uploads: Uploads

    @classmethod
    def of(cls, session: Session, principal: Principal) -> Repos:
        return cls(
            Accounts(session, principal),
            Places(session, principal),
            Products(session, principal),
            Orders(session, principal),
            Clearing(session, principal),
            Jobs(session, principal),
            Webhooks(session, principal),
            Uploads(session, principal),
        )


class Store:
    """``Store(url)``: SQLite file by default (``./gridflex.db``), PostgreSQL via its URL."""

    def __init__(self, url: str | None = None, engine: Engine | None = None) -> None:
        self.url = normalise_url(url) if engine is None else str(engine.url)
        self.engine = engine if engine is not None else make_engine(url)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        # SQLite has one writer at a time and every transaction here takes the write lock (BEGIN
        # IMMEDIATE). Threads of this process queue on a mutex instead: SQLite's own busy handler
        # sleeps in growing steps (up to 100 ms), which made p95 latency ~10x the mean under load.
        # Other processes (a shell command next to the server) still wait on busy_timeout.
        self._writer: AbstractContextManager[object] = (
            threading.Lock() if self.engine.dialect.name == "sqlite" else contextlib.nullcontext()
        )

    def upgrade(self) -> None:
        """Create or migrate the schema (Alembic, to the newest revision)."""
        upgrade(self.engine)

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """One transaction: committed when the block ends, rolled back when it raises.
        :class:`StoreBusyError` (503, retry) when another writer held the database past the busy
        timeout (SQLite: another process; this one's threads queue on ``_writer``)."""
        try:
            with self._writer, self._sessions.begin() as session:
                yield session
        except OperationalError as exc:
            if "database is locked" not in str(exc.orig):
                raise
            raise StoreBusyError("the database is locked by another writer") from exc

    @contextmanager
    def repos(self, principal: Principal) -> Iterator[Repos]:
        with self.transaction() as session:
            yield Repos.of(session, principal)

    def close(self) -> None:
        self.engine.dispose()


def bootstrap_admin(store: Store, org_name: str = "admin") -> NewToken | None:
    """On an empty store, an admin organisation and its first token; ``None`` when one exists."""
    with store.transaction() as s:
        has_admin = s.scalar(select(OrgRole.org_id).where(OrgRole.role == Role.ADMIN.value).limit(1))
        if has_admin is not None:
            return None
        accounts = Accounts(s, Principal.system())
        name = org_name
        while s.scalar(select(Organisation.id).where(Organisation.name == name)) is not None:
            name += "_"
        org = accounts.create_org(name, [Role.ADMIN.value])
        return accounts.create_token(org.id, "first-admin")
