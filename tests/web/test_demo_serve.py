"""``gridflex demo --serve`` on a small day (two sites, 7200x) through a real ``gridflex serve``: what the
service recorded is the day's own (meters, orders, settlement against the day's engine), it showed
the day while it ran, and each role's page shows its part in Chromium without a console error."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import numpy as np
import pytest

from gridflex.demos.day import AGGREGATOR, DSO, HOMES, OFFICE, DayConfig
from gridflex.demos.day_serve import run_served_day
from tests.web.conftest import Dashboard, shot, sign_in

# two sites: the stress of tests/demos (at the demo's 0.85 two sites may make no overload)
CONFIG = DayConfig(sites=(HOMES[0], OFFICE), speed=7200.0, seed=1, stress_scale=0.95)


class Served(SimpleNamespace):
    result: Any
    sink: Any
    url: str
    seen_during_run: list[int]
    server: Any
    folder: Path


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    folder = tmp_path_factory.mktemp("demo-serve")
    db = f"sqlite:///{folder / 'serve.db'}"
    seen: list[int] = []
    done = threading.Event()

    def watch(sink: Any) -> None:  # what a dashboard user would see of the meters while the day runs
        headers = {"Authorization": f"Bearer {sink.tokens['brp']}"}
        params = {"start": sink.at(CONFIG.start), "end": sink.at(CONFIG.start + timedelta(days=1))}
        with httpx.Client(base_url=sink.url, headers=headers, timeout=30) as c:
            while not done.is_set():
                try:
                    got = c.get(f"/v1/connection-points/{HOMES[0].name}/readings", params=params)
                except httpx.HTTPError:  # a loaded machine, or the server stopped (the fixture says why)
                    got = None
                if got is not None and got.status_code == 200:
                    seen.append(sum(v is not None for v in got.json()["power_kw"]))
                time.sleep(0.2)

    watcher: list[threading.Thread] = []

    def on_ready(sink: Any) -> None:
        watcher.append(threading.Thread(target=watch, args=(sink,), daemon=True))
        watcher[0].start()

    result, sink, server = run_served_day(CONFIG, db, on_ready=on_ready)
    done.set()
    watcher[0].join(timeout=10)
    try:
        yield Served(
            result=result, sink=sink, url=server.url, seen_during_run=seen, server=server, folder=folder
        )
    finally:
        server.stop()


def api(s: Served, who: str) -> httpx.Client:
    return httpx.Client(base_url=s.url, headers={"Authorization": f"Bearer {s.sink.tokens[who]}"}, timeout=30)


def test_the_service_holds_the_days_meters_and_showed_them_while_it_ran(served: Served):
    day, sink = served.result, served.sink
    with api(served, AGGREGATOR) as c:
        for i, name in enumerate(day.meter_ids):
            got = c.get(f"/v1/connection-points/{name}/readings",
                        params={"start": sink.at(day.grid.start), "end": sink.at(day.grid.end)}).json()  # fmt: skip
            np.testing.assert_allclose(got["power_kw"], day.metered_kw[i], atol=5e-4)
    # the meters went up as simulated time passed, not all at the end
    assert any(0 < n < 96 for n in served.seen_during_run), served.seen_during_run
    assert served.sink.counts["meter uploads"] > 2


def test_the_services_settlement_is_the_days_own(served: Served):
    """The service settles the DSO's activations with its own engine on the stored meters and the
    day's D-prognosis as fixed baseline: the same activation payments and penalties as the day."""
    day = served.result
    with api(served, DSO) as c:
        (settlement,) = c.get("/v1/settlements").json()
        statement = c.get(f"/v1/settlements/{settlement['id']}/statement").json()
        acts = c.get("/v1/activations").json()
    assert {a["status"] for a in acts} == {"settled"}
    lines = day.settlement.lines
    market = lines[lines.payer.isin([DSO, AGGREGATOR]) & lines.payee.isin([DSO, AGGREGATOR])]
    for item in ("activation", "penalty"):
        ours = float(market[market["item"] == item].amount_eur.sum())
        theirs = sum(
            r["amount_eur"] for r in statement if r["item"] == item and r["participant"] == AGGREGATOR
        )
        # the service's orders are the day's floored to 0.01 kW per ISP
        assert theirs == pytest.approx(abs(ours) * (1 if item == "activation" else -1), abs=0.5, rel=1e-3)
    ordered = sum(a["ordered_kwh"] for a in settlement["activations"])
    day_ordered = sum(float(d.instructed_kw.sum()) for d in day.dispatch.values()) * day.grid.step_h
    assert ordered == pytest.approx(day_ordered, abs=0.01 * 0.25 * len(day.requests) + 1e-6, rel=1e-3)
    # a settlement only moves money: every period sums to zero over the parties
    per_period: dict[str, float] = {}
    for r in statement:
        per_period[r["period_start_utc"]] = per_period.get(r["period_start_utc"], 0.0) + r["amount_eur"]
    assert max(abs(v) for v in per_period.values()) < 1e-6


def _portfolio_eur(day: Any) -> dict[str, float]:
    """The day's own portfolio settlement (aggregator → sites): each site's net, EUR."""
    lines = day.settlement.lines
    out = dict.fromkeys(day.meter_ids, 0.0)
    for site in day.meter_ids:
        out[site] += float(
            lines[lines.payee == site].amount_eur.sum() - lines[lines.payer == site].amount_eur.sum()
        )
    return out


def test_the_aggregator_pays_its_prosumers_as_the_days_portfolio_settlement(served: Served):
    """The aggregator dispatched each site's part to its prosumer and settled them through the API:
    each prosumer's money is the day's portfolio document's, zero per ISP with the aggregator, and each
    party sees only its own lines (the DSO and the BRP none)."""
    day, sink = served.result, served.sink
    expected = _portfolio_eur(day)
    assert sum(abs(v) for v in expected.values()) > 1.0  # the day paid its sites something
    with api(served, AGGREGATOR) as agg:
        (mine,) = [
            x for x in agg.get("/v1/settlements").json() if x["run_by_org_id"] == sink.org_ids[AGGREGATOR]
        ]
        statement = agg.get(f"/v1/settlements/{mine['id']}/statement").json()
    per_isp: dict[str, float] = {}
    for r in statement:
        assert AGGREGATOR in (r["participant"], r["counterparty"]) and r["item"] != "imbalance_correction", r
        per_isp[r["period_start_utc"]] = per_isp.get(r["period_start_utc"], 0.0) + r["amount_eur"]
    assert max(abs(v) for v in per_isp.values()) < 1e-6
    for site, eur in expected.items():
        with api(served, site) as me:
            rows = me.get(f"/v1/settlements/{mine['id']}/statement")
            if eur == 0.0:  # not dispatched: not a party
                assert rows.status_code == 404
                continue
            assert {r["participant"] for r in rows.json()} == {site}
        # the service's parts leave out ISPs where the DSO's order, floored to 0.01 kW, is 0
        assert sum(r["amount_eur"] for r in rows.json()) == pytest.approx(eur, abs=0.05, rel=1e-3), site
    for who in (DSO, "brp"):
        with api(served, who) as other:
            assert other.get(f"/v1/settlements/{mine['id']}").status_code == 404


def test_the_sites_cems_report_their_s2_devices_to_the_service(served: Served):
    with api(served, AGGREGATOR) as c:
        sites = c.get("/v1/sites").json()
        for site in sites:
            devices = c.get(f"/v1/sites/{site['id']}/s2-devices").json()
            kinds = next(s.kinds for s in CONFIG.sites if s.name == site["name"])
            assert sorted(d["name"].split()[-1] for d in devices) == sorted(kinds)
            for d in devices:
                assert d["source"] == "reported" and d["control_type"] not in (
                    "NO_SELECTION",
                    "NOT_CONTROLABLE",
                )
                assert d["instructions"] > 0 and d["last_instruction"], d
                # the instruction in force at the report started by then (on the service's calendar)
                assert datetime.fromisoformat(d["last_instruction_at"]) <= datetime.fromisoformat(
                    d["reported_at"]
                ), d
        with api(served, "brp") as brp:  # another tenant's site: not found
            assert brp.get(f"/v1/sites/{sites[0]['id']}/s2-devices").status_code == 404
            r = brp.put(
                f"/v1/sites/{sites[0]['id']}/s2-devices", json={"at": "2030-01-01T00:00:00Z", "devices": []}
            )
            assert r.status_code == 404
        r = c.put(f"/v1/sites/{sites[0]['id']}/s2-devices", json={"at": "2030-01-01T00:00:00Z", "devices": [
            {"resource_id": "x", "connected": True, "control_type": "SIDEWAYS"}]})  # fmt: skip
        assert r.status_code == 422 and ["body", "devices", 0, "control_type"] in [
            e["loc"] for e in r.json()["detail"]
        ]


def test_each_role_sees_the_day_in_its_page(served: Served, browser: Any):
    dashboard = Dashboard(served.url, SimpleNamespace(secrets=served.sink.tokens))  # type: ignore[arg-type]
    day = served.result
    pages = {
        DSO: ("/dso", [f"at {day.congestion_branch}", "accepted"]),
        AGGREGATOR: (
            "/aggregator/portfolio",
            [
                *day.meter_ids,
                "settled",
                "flex-offer",
                "Imbalance",
                "FILL_RATE_BASED_CONTROL",
                "Instruction since",
                "dispatch of",
            ],
        ),
        "brp": ("/position", [*day.meter_ids, "imbalance correction", "settlement"]),
        **{site: ("/position", [site, "baseline", "Settled"]) for site in day.meter_ids},
        "market-operator": ("/market", ["Local flexibility", day.congestion_branch, "closed"]),
    }
    for who, (path, texts) in pages.items():
        context = browser.new_context(base_url=served.url, viewport={"width": 1280, "height": 900})
        context.set_default_timeout(20_000)
        page = context.new_page()
        errors: list[str] = []
        page.on("console", lambda m, e=errors: e.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda x, e=errors: e.append(str(x)))
        sign_in(page, dashboard, who, path)
        assert page.url.endswith(path), (who, page.url)
        body = page.inner_text("main")
        for text in texts:
            assert text in body, (who, text)
        if path in ("/aggregator/portfolio", "/position"):
            page.wait_for_selector("[data-chart] canvas")  # baseline against metered, drawn
            labels = page.evaluate("[...window.gridflexCharts.values()].map(c => c.axes.map(a => a.label))")
            assert ["ISP start (UTC)", "power (kW, + = consumption)"] in labels
            # the section refreshes itself (every 10 s): once now, and the chart is drawn again
            page.evaluate(
                """htmx.ajax('GET', location.pathname, {target: '#meters', select: '#meters', swap: 'outerHTML'})"""
            )
            page.wait_for_function(
                "document.querySelector('#meters [data-chart] canvas') && window.gridflexCharts.size >= 1"
            )
            assert page.evaluate("[...window.gridflexCharts.keys()].every(el => el.isConnected)")
        if who in day.meter_ids:  # a prosumer's earnings: the day's portfolio settlement of its site
            total = page.locator("[data-settled-total]")
            got = float(total.inner_text().replace(",", "")) if total.count() else 0.0
            assert got == pytest.approx(_portfolio_eur(day)[who], abs=0.05, rel=1e-3), who
        shot(page, f"demo-serve-{who}")
        context.close()
        assert errors == [], (who, errors)


def test_the_stopped_server_leaves_only_its_database(served: Served):
    """What `demo --serve --exit` does at the end (last in this file: the server is stopped): the server
    closes its store cleanly, so SQLite folds its write-ahead log into the database and removes it."""
    served.server.stop()
    assert served.server.process.returncode == 0  # stopped by itself, not killed
    assert sorted(p.name for p in served.folder.iterdir()) == ["serve.db"]
