from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

import pytest
from fastapi.testclient import TestClient

from gridflex.api import create_app
from gridflex.store import Store
from tests.store.databases import db_url, pg_template, pg_url, store  # noqa: F401
from tests.store.world import BEFORE_GATE, World, build_world


@dataclass
class Api:
    client: TestClient
    world: World
    store: Store
    clock: list[datetime]  # clock[0] is "now" for the app

    def auth(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.world.secrets[who]}"}


@pytest.fixture
def api(store: Store) -> Iterator[Api]:  # noqa: F811 - the fixture imported above
    world = build_world(store)
    clock = [BEFORE_GATE]
    app = create_app(store, clock=lambda: clock[0])
    with TestClient(app, raise_server_exceptions=False) as client:
        yield Api(client, world, store, clock)
