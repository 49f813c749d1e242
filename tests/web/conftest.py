"""The dashboard in a real browser: Debian's Chromium driven by Playwright against `gridflex serve`
(a real server process on a free loopback port, a real SQLite store).

Playwright's own browser download does not work on the project's machines: the tests launch the
Debian package's ``/usr/bin/chromium``. Without it they skip, except under ``CI=1``, where they fail.
Screenshots go to ``out/test-artifacts/screenshots/``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from gridflex.market import Product, ProductKind
from gridflex.store import Store
from tests.api.test_serve import serving
from tests.store.world import World, build_world

CHROMIUM = Path(os.environ.get("GRIDFLEX_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
SCREENSHOTS = Path(__file__).resolve().parents[2] / "out" / "test-artifacts" / "screenshots"
TIMEOUT_MS = 20_000  # a bound against hanging on a loaded machine, not a performance claim


def _delivery_day() -> datetime:
    """The next UTC day whose gate (2 h before it) is at least 3 h ahead: at any hour of the run."""
    return (datetime.now(UTC) + timedelta(hours=5)).replace(
        hour=0, minute=0, second=0, microsecond=0
    ) + timedelta(days=1)


def seeded_products() -> tuple[Product, Product]:
    """A cleared day (no gate: cleared at once) and an open day-ahead auction (gate ahead)."""
    day = _delivery_day()
    cleared = Product(
        product_id="DA-cleared", kind=ProductKind.ENERGY_AUCTION, delivery_start=day, n_isps=24, isp_s=3600
    )
    live = Product(
        product_id="DA-live", kind=ProductKind.ENERGY_AUCTION, delivery_start=day, n_isps=24, isp_s=3600,
        gate_closure=day - timedelta(hours=2), price_min_eur_per_mwh=-500, price_max_eur_per_mwh=4000,
    )  # fmt: skip
    return cleared, live


def seed(store: Store) -> World:
    """The test world (operator, dso1/dso2 with CP-A/CP-B, alice, bob) plus two products, a book and
    a clearing run, so that every page has data."""
    world = build_world(store)
    cleared, live = seeded_products()
    with store.repos(world.principals["operator"]) as r:
        r.products.create(cleared)
        r.products.create(live)
    book = [("alice", "buy", 8, 10, 60), ("bob", "sell", 8, 6, 30), ("bob", "sell", 8, 8, 55),
            ("alice", "buy", 9, 5, 80), ("bob", "sell", 9, 4, 40)]  # fmt: skip
    for product in ("DA-cleared", "DA-live"):
        for who, side, isp, q, p in book:
            with store.repos(world.principals[who]) as r:
                fields = {
                    "product": product,
                    "side": side,
                    "isp": isp,
                    "quantity_mw": q,
                    "price_eur_per_mwh": p,
                }
                r.orders.submit(fields)
    with store.repos(world.principals["operator"]) as r:
        r.clearing.run("DA-cleared")
    return world


@dataclass
class Dashboard:
    url: str
    world: World
    errors: list[str] = field(default_factory=list)

    def api(self, who: str) -> httpx.Client:
        return httpx.Client(
            base_url=self.url, headers={"Authorization": f"Bearer {self.world.secrets[who]}"}, timeout=30
        )


@pytest.fixture(scope="module")
def dashboard(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dashboard]:
    tmp = tmp_path_factory.mktemp("dashboard")
    url = f"sqlite:///{tmp / 'gridflex.db'}"
    store = Store(url)
    store.upgrade()
    world = seed(store)
    store.close()
    with serving(url, tmp) as (base, _admin):
        yield Dashboard(base, world)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        msg = f"no Chromium at {CHROMIUM} (apt-get install chromium)"
        if os.environ.get("CI"):
            pytest.fail(msg + ": CI is set, the dashboard must be tested in a browser")
        pytest.skip(msg)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def console() -> list[str]:
    """The console errors and page errors of the test's page."""
    return []


def expect_http_errors(console: list[str], *statuses: int) -> None:
    """Drop the browser's "Failed to load resource" lines for answers the test provoked on purpose."""
    wanted = {f"status of {s} " for s in statuses}
    console[:] = [e for e in console if not ("Failed to load resource" in e and any(w in e for w in wanted))]


@pytest.fixture
def page(browser: Any, dashboard: Dashboard, console: list[str]) -> Iterator[Any]:
    """A fresh browser context (no cookie) whose console errors and page errors fail the test."""
    context = browser.new_context(base_url=dashboard.url, viewport={"width": 1280, "height": 900})
    context.set_default_timeout(TIMEOUT_MS)
    pg = context.new_page()
    errors = console
    pg.on("console", lambda m: errors.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
    pg.on("pageerror", lambda e: errors.append(f"page error: {e}"))
    yield pg
    context.close()
    assert errors == [], errors


def shot(page: Any, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def sign_in(page: Any, dashboard: Dashboard, who: str, path: str = "/") -> None:
    page.goto(path)
    page.get_by_label("API token").fill(dashboard.world.secrets[who])
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state("load")
