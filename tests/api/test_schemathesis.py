"""schemathesis against the server's own OpenAPI document: generated requests (valid and not) to
every operation, as the admin, never get a 5xx, and every answer has a documented status, content
type and body shape. A small number of examples per operation here; more with GRIDFLEX_SCHEMA_EXAMPLES."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from gridflex.api import create_app
from gridflex.store import Store
from tests.store.world import build_world

EXAMPLES = int(os.environ.get("GRIDFLEX_SCHEMA_EXAMPLES", "4"))
CHECKS = (not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance)


# The document does not depend on the store: the app is made once, its store handed in per module.
APP = create_app(url="sqlite:///:memory:")
schema = schemathesis.openapi.from_asgi("/openapi.json", APP)


@pytest.fixture(scope="module")
def admin(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    db: Path = tmp_path_factory.mktemp("schemathesis") / "g.db"
    store = Store(f"sqlite:///{db}")
    store.upgrade()
    world = build_world(store)
    APP.state.store = store
    yield world.secrets["admin"]
    store.close()


@schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
def test_the_server_keeps_its_own_contract(case, admin: str):
    response = case.call(headers={"Authorization": f"Bearer {admin}"})
    case.validate_response(response, checks=CHECKS)
