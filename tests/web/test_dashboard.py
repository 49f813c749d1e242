"""The dashboard as a person uses it, in Chromium: sign in, every page with data and no console error,
a DSO's request answered by an aggregator through the pages, the live order book, tenants apart."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.web.conftest import Dashboard, expect_http_errors, shot, sign_in


def _text(page: Any, selector: str) -> str:
    return str(page.locator(selector).first.inner_text())


def _axis_labels(page: Any) -> list[list[str]]:
    return page.evaluate("[...window.gridflexCharts.values()].map(c => c.axes.map(a => a.label))")


def test_sign_in_with_a_token_keeps_it_in_an_httponly_cookie(
    page: Any, dashboard: Dashboard, console: list[str]
):
    page.goto("/market")
    assert page.url.endswith("/signin?next=/market")  # not signed in: sent to sign-in, then back
    page.get_by_label("API token").fill("gfx_not-a-token")
    page.get_by_role("button", name="Sign in").click()
    assert "Sign-in refused: unknown token" in page.get_by_role("alert").inner_text()
    expect_http_errors(console, 401)
    page.get_by_label("API token").fill(dashboard.world.secrets["operator"])
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r"/market$"))
    assert page.evaluate("document.cookie") == ""  # HttpOnly: scripts never read the token
    cookie = next(c for c in page.context.cookies() if c["name"] == "gridflex_token")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(re.compile(r"/signin"))
    page.goto("/market")
    assert "/signin" in page.url


def test_sign_in_with_the_keyboard_only(page: Any, dashboard: Dashboard):
    page.goto("/signin")
    page.keyboard.type(dashboard.world.secrets["dso1"])  # the token field has the focus (autofocus)
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/dso$"))
    page.keyboard.press("Tab")  # the first stop is the skip link
    assert page.evaluate("document.activeElement.textContent") == "Skip to content"


def test_market_page_shows_book_merit_order_prices_and_gate_clock(page: Any, dashboard: Dashboard):
    sign_in(page, dashboard, "operator", "/market?product=DA-cleared&isp=8")
    page.wait_for_selector("[data-merit] canvas")
    page.wait_for_selector("[data-prices] canvas")
    assert "Not cleared yet" not in page.content()
    rows = page.locator("table caption:text('Open orders of DA-cleared') >> xpath=..").locator("tbody tr")
    cleared = rows.filter(has=page.locator("th", has_text=re.compile(r"^8$")))
    cells = cleared.locator("td").all_inner_texts()
    # ISP 8: 10 MW bid at 60 against 6 MW at 30 and 8 MW at 55: the 55 offer sets the price, 10 MW clear
    assert cells[-2:] == ["55.00", "10.000"], cells
    # every axis carries its unit (uPlot draws the labels on the canvas)
    assert _axis_labels(page) == [
        ["cumulative quantity (MW)", "price (EUR/MWh)"],
        ["ISP start (UTC)", "price (EUR/MWh)"],
    ]
    shot(page, "market-cleared")
    page.goto("/market?product=DA-live&isp=8")
    left = page.locator("[data-gate-left]")
    page.wait_for_function("document.querySelector('[data-gate-left]').textContent.includes('left')")
    assert re.fullmatch(r"\d+ h \d\d min \d\d s left", left.inner_text())
    assert "UTC" in page.locator("[data-gate]").inner_text()
    shot(page, "market-live")


def test_the_live_order_book_updates_when_an_order_arrives(page: Any, dashboard: Dashboard):
    sign_in(page, dashboard, "operator", "/market?product=DA-live&isp=3")
    page.wait_for_function("document.querySelector('[data-live-status]').textContent.startsWith('live')")
    before = int(_text(page, "[data-open-orders]"))
    with dashboard.api("bob") as api:
        r = api.post("/v1/orders", json={"product": "DA-live", "side": "sell", "isp": 3, "quantity_mw": 7.5,
                                         "price_eur_per_mwh": 42.5})  # fmt: skip
        assert r.status_code == 201 and r.json()["status"] == "active", r.text
    page.wait_for_function(
        f"Number(document.querySelector('[data-open-orders]').textContent) === {before + 1}"
    )
    assert f"order {r.json()['id']}" in _text(page, "[data-live-status]")
    merit = page.locator("table caption:text('Merit order of ISP 3') >> xpath=..").inner_text()
    assert "7.500" in merit and "42.50" in merit
    shot(page, "market-live-update")


def test_a_dso_posts_a_request_and_an_aggregator_answers_it(
    page: Any, dashboard: Dashboard, console: list[str]
):
    start = (datetime.now(UTC) + timedelta(days=2)).replace(hour=17, minute=0, second=0, microsecond=0)
    sign_in(page, dashboard, "dso1", "/dso")
    assert page.locator("[data-point='CP-A']").count() == 1
    assert page.locator("[data-point='CP-B']").count() == 0  # dso2's point is not shown
    # a bad volume first: the form says which field, and keeps what was typed
    page.get_by_label("Congestion point", exact=True).select_option("CP-A")
    page.get_by_label("Direction").select_option("up")
    page.get_by_label("First ISP starts (UTC)").fill(start.strftime("%Y-%m-%dT%H:%M"))
    page.get_by_label("Volume per ISP (kW)").fill("120, lots")
    page.get_by_label("Maximum price (EUR/MWh)").fill("250")
    page.get_by_role("button", name="Post request").click()
    assert "volume_kw" in page.locator("#volume_kw-error").inner_text()
    assert page.get_by_label("Volume per ISP (kW)").input_value() == "120, lots"
    expect_http_errors(console, 422)
    page.get_by_label("Volume per ISP (kW)").fill("120, 150, 150, 90")
    page.get_by_role("button", name="Post request").click()
    page.wait_for_url(re.compile(r"done=request-\d+"))
    req_id = int(re.search(r"request-(\d+)", page.url)[1])
    article = page.locator(f"[data-request='{req_id}']")
    assert "0.0 %" in article.locator("[data-fill]").inner_text()
    shot(page, "dso-request-posted")

    # the aggregator sees it and offers up to 100 kW per ISP at 180 EUR/MWh
    page.context.clear_cookies()
    sign_in(page, dashboard, "bob", "/aggregator")
    offer_form = page.locator(f"[data-request='{req_id}'] form")
    offer_form.get_by_label("Offer per ISP (kW)").fill("200")  # more than requested: refused, field named
    offer_form.get_by_label("Price (EUR/MWh)").fill("180")
    offer_form.get_by_role("button", name=f"Offer on request {req_id}").click()
    assert (
        "more than the 120 kW requested"
        in page.locator(f"[data-request='{req_id}'] [role=alert]").first.inner_text()
    )
    expect_http_errors(console, 422)
    offer_form = page.locator(f"[data-request='{req_id}'] form")
    offer_form.get_by_label("Offer per ISP (kW)").fill("100, 100, 100, 90")
    offer_form.get_by_label("Price (EUR/MWh)").fill("180")
    offer_form.get_by_role("button", name=f"Offer on request {req_id}").click()
    page.wait_for_url(re.compile(r"done=offer-\d+"))
    offer_id = int(re.search(r"offer-(\d+)", page.url)[1])
    row = page.locator(f"[data-offer='{offer_id}']").inner_text()
    # (100 + 100 + 100 + 90) kW × 0.25 h = 97.5 kWh; at 180 EUR/MWh: 17.55 EUR
    assert "97.5" in row and "17.55" in row and "offered" in row
    shot(page, "aggregator-offered")

    # the DSO sees the offer, accepts it, and the fill follows: 390 kW of 510 kW requested
    page.context.clear_cookies()
    sign_in(page, dashboard, "dso1", "/dso")
    page.get_by_role("button", name=f"Accept offer {offer_id}").click()
    page.wait_for_url(re.compile(rf"done=accepted-{offer_id}"))
    fill = page.locator(f"[data-request='{req_id}'] [data-fill]").inner_text()
    assert fill == f"{100 * 390 / 510:.1f} %", fill
    shot(page, "dso-offer-accepted")

    # another DSO sees neither the request nor the offer
    page.context.clear_cookies()
    sign_in(page, dashboard, "dso2", "/dso")
    assert page.locator(f"[data-request='{req_id}']").count() == 0


def test_each_role_sees_only_its_pages(page: Any, dashboard: Dashboard, console: list[str]):
    sign_in(page, dashboard, "bob", "/")
    assert page.url.endswith("/aggregator")
    nav = page.get_by_role("navigation", name="Pages").inner_text()
    assert "Aggregator" in nav and "Market" not in nav and "DSO" not in nav
    response = page.goto("/dso")
    assert response.status == 403
    assert "needs the role dso" in page.get_by_role("alert").inner_text()
    response = page.goto("/market")
    assert response.status == 403
    expect_http_errors(console, 403)


def test_the_dense_series_chart_draws_a_year_and_zooms(page: Any, dashboard: Dashboard):
    sign_in(page, dashboard, "alice", "/series")
    page.wait_for_selector("#series[data-ready='1'] canvas")
    status = _text(page, "[data-series-status]")
    assert status.startswith("35,136 samples × 10 series"), status
    legend = page.locator("#series .u-legend").inner_text()
    assert "load H0-A" in legend
    assert _axis_labels(page) == [["time (UTC)", "power (kW, + consumption)"]]
    box = page.locator("#series .u-over").bounding_box()
    y = box["y"] + box["height"] / 2
    page.mouse.move(box["x"] + box["width"] * 0.40, y)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.42, y, steps=5)
    page.mouse.up()
    page.wait_for_selector("#series[data-ready='2']")
    zoomed = _text(page, "[data-series-status]")
    n = int(zoomed.split(" samples")[0].replace(",", ""))
    assert 0 < n < 35_136, zoomed  # a zoomed range, fetched again
    shot(page, "series-zoomed")


def test_the_dso_feeder_view_shows_forecast_loading_and_needs(page: Any, dashboard: Dashboard):
    sign_in(page, dashboard, "dso1", "/dso/feeder?network=mv-semiurb&day=2016-01-20&stress=winter")
    points = page.locator("[data-cp]")
    assert points.count() >= 1  # the winter evening congests the semi-urban feeder
    peak = float(_text(page, "[data-max-loading]").rstrip(" %").replace(",", ""))
    assert peak > 100
    # one drawn branch per line and transformer, each titled with its loading; 24 strips of 96 quarter-hours
    assert page.locator("[data-feeder] line").count() == 121 + 2
    assert page.locator("[data-strip] rect").count() == 24 * 96
    assert "time (UTC)" in page.locator("[data-strip]").text_content()
    shot(page, "dso-feeder")


def test_a_prosumer_sees_its_position_and_earnings(page: Any, dashboard: Dashboard):
    sign_in(page, dashboard, "alice", "/position")
    # alice bought 10 MW in ISP 8 and 4 MW in ISP 9 of the cleared day, at 55 and 80 EUR/MWh (1 h ISPs)
    assert "10.000" in _text(page, "[data-position='DA-cleared/8']")
    assert "4.000" in _text(page, "[data-position='DA-cleared/9']")
    assert _text(page, "[data-trade-eur]") == f"{-(10 * 55 + 4 * 80):,.2f}"
    nav = page.get_by_role("navigation", name="Pages").inner_text()
    assert "Position" in nav and "Market" not in nav
    shot(page, "prosumer-position")
