"""The researcher's page in Chromium against a real `gridflex serve`: an organisation without a market
page (a TSO planner) lands on it, submits a study from a file, watches it run, opens its report; a bad
study is refused naming the field; another organisation sees none of it. No console errors."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from gridflex.grid import evaluate
from gridflex.grid.study import study_from_dict
from gridflex.store import Principal, Store
from tests.api.test_routes import STUDY
from tests.api.test_serve import serving
from tests.store.world import build_world
from tests.web.conftest import TIMEOUT_MS, expect_http_errors, shot

RUN_MS = 300_000  # a bound against hanging on a loaded machine, not a performance claim
N, SEED = 6, 3


@dataclass
class Server:
    url: str
    secrets: dict[str, str]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    tmp = tmp_path_factory.mktemp("studies")
    url = f"sqlite:///{tmp / 'gridflex.db'}"
    store = Store(url)
    store.upgrade()
    world = build_world(store)
    with store.repos(Principal.system()) as r:
        planner = r.accounts.create_org("planner", ["tso"])
        secrets = {**world.secrets, "planner": r.accounts.create_token(planner.id, "page").secret}
    store.close()
    with serving(url, tmp) as (base, _admin):
        yield Server(base, secrets)


@pytest.fixture
def page(browser: Any, server: Server, console: list[str]) -> Iterator[Any]:
    """A fresh context whose pages' console errors and page errors (the report's too) fail the test."""
    context = browser.new_context(base_url=server.url, viewport={"width": 1280, "height": 900})
    context.set_default_timeout(TIMEOUT_MS)

    def watch(pg: Any) -> None:
        pg.on(
            "console", lambda m: console.append(f"console {m.type}: {m.text}") if m.type == "error" else None
        )
        pg.on("pageerror", lambda e: console.append(f"page error: {e}"))

    context.on("page", watch)
    yield context.new_page()
    context.close()
    assert console == [], console


def _sign_in(page: Any, server: Server, who: str) -> None:
    page.goto("/")
    page.get_by_label("API token").fill(server.secrets[who])
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state("load")


def _finished(page: Any, job_id: str) -> Any:
    page.wait_for_selector(f"[data-job='{job_id}'][data-status='succeeded']", timeout=RUN_MS)
    return page.locator(f"[data-job='{job_id}']")


def test_a_researcher_submits_a_study_watches_it_and_opens_its_report(
    page: Any, server: Server, console: list[str], tmp_path: Path
):
    reference = evaluate(study_from_dict(STUDY), N, seed=SEED)
    _sign_in(page, server, "planner")
    assert page.url.endswith("/studies")  # a TSO has no market page: `/` is the researcher's
    assert "RTS-24" in page.get_by_label("Study (YAML or JSON)").input_value()  # the example, ready to run
    # a bad study is refused, naming the field
    page.get_by_label("Study (YAML or JSON)").fill(yaml.safe_dump({**STUDY, "dt_h": -1}))
    page.get_by_role("button", name="Evaluate").click()
    assert "dt_h" in page.get_by_role("alert").first.inner_text()
    expect_http_errors(console, 422)
    # a study from a file, read into the form
    path = tmp_path / "nine-bus.yaml"
    path.write_text(yaml.safe_dump(STUDY), encoding="utf-8")
    page.get_by_label("Load a study file (YAML or JSON)").set_input_files(str(path))
    page.wait_for_function("document.getElementById('study-text').value.includes('nine-bus')")
    page.get_by_label("Scenarios", exact=True).fill(str(N))
    page.get_by_label("Seed", exact=True).fill(str(SEED))
    page.get_by_role("button", name="Evaluate").click()
    page.wait_for_url(re.compile(r"/studies\?job=\d+"))
    job_id = re.search(r"job=(\d+)", page.url)[1]
    shot(page, "studies-running")
    job = _finished(page, job_id)  # htmx polls the job's fragment until it ends
    for name, st in reference.states.items():
        row = job.locator(f"tr[data-state='{name}'] td").all_inner_texts()
        assert row[2] == f"{st.score:,.2f}", (name, row)
    assert f"{4 * N} solves" in job.locator("[data-job-message]").inner_text()
    shot(page, "studies-finished")
    with page.context.expect_page() as opened:
        job.get_by_role("link", name=f"Open the report of job {job_id}").click()
    report = opened.value
    report.wait_for_load_state("load")
    assert "nine-bus" in report.title()
    report.wait_for_selector(".plotly-graph-div .main-svg")  # the figures drew, offline
    shot(report, "studies-report")
    report.close()
    # the example itself runs (two scenarios, to keep the suite quick)
    page.goto("/studies")
    page.get_by_label("Scenarios", exact=True).fill("2")
    page.get_by_role("button", name="Evaluate").click()
    page.wait_for_url(re.compile(r"/studies\?job=\d+"))
    example = _finished(page, re.search(r"job=(\d+)", page.url)[1])
    assert "RTS-24" in example.get_by_role("heading").inner_text()
    # another organisation sees none of it
    page.get_by_role("button", name="Sign out").click()
    _sign_in(page, server, "alice")
    page.goto("/studies")
    assert page.locator("[data-job]").count() == 0 and "No evaluation yet" in page.content()
    assert page.goto(f"/studies/jobs/{job_id}").status == 404
    assert page.goto(f"/v1/jobs/{job_id}/files/report.html").status == 404
    page.goto("/studies")  # the refused loads' console lines have arrived by now
    expect_http_errors(console, 404)
