"""The pages. Each authenticates with the API's dependency (token from the sign-in cookie) and reads
through the store's repositories, so a page shows exactly what the API would show its caller.

Forms post back to the page's own paths (POST, then a redirect: reloading never posts twice). The
sign-in cookie is SameSite=Strict, and a POST whose ``Origin`` is another site is refused as well.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any
from urllib.parse import parse_qs, urlsplit

import pydantic
from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from gridflex.api.deps import SESSION_COOKIE, Caller, Now, Tx, Using
from gridflex.api.routers.book import book_of
from gridflex.api.routers.flexrequests import FlexOfferIn, FlexRequestIn, offer_out, request_out
from gridflex.errors import ValidationError
from gridflex.grid.distribution.gridfile import SHIPPED
from gridflex.grid.distribution.stress import SCENARIOS
from gridflex.store import AuthError, ConflictError, PermissionDeniedError, Principal, authenticate
from gridflex.store.market import product_of
from gridflex.store.requests import FlexRequests, RequestStatus
from gridflex.store.tables import Role
from gridflex.store.tenancy import require_role
from gridflex.web.feeder import feeder_view, loading_colour
from gridflex.web.render import render

__all__ = ["PAGES", "SESSION_COOKIE", "router"]

router = APIRouter(include_in_schema=False)

SESSION_MAX_AGE_S = 8 * 3600
# (path, title, roles that see it in the navigation; empty: everyone)
PAGES: tuple[tuple[str, str, frozenset[Role]], ...] = (
    ("/market", "Market", frozenset({Role.MARKET_OPERATOR, Role.ADMIN})),
    ("/dso", "DSO", frozenset({Role.DSO, Role.ADMIN})),
    ("/dso/feeder", "Feeder", frozenset({Role.DSO, Role.ADMIN})),
    ("/aggregator", "Aggregator", frozenset({Role.AGGREGATOR, Role.ADMIN})),
    ("/aggregator/portfolio", "Portfolio", frozenset({Role.AGGREGATOR})),
    ("/position", "Position", frozenset({Role.BRP, Role.PROSUMER, Role.AGGREGATOR})),
    ("/studies", "Studies", frozenset()),  # any organisation (web/studies.py)
    ("/series", "Series", frozenset()),
)


def nav(p: Principal) -> list[tuple[str, str]]:
    return [(path, title) for path, title, roles in PAGES if not roles or p.roles & roles or p.is_admin]


def page(request: Request, p: Principal, name: str, status: int = 200, **context: Any) -> HTMLResponse:
    context |= {"me": p, "roles": sorted(r.value for r in p.roles), "nav": nav(p), "path": request.url.path}
    return render(request, name, context, status)


async def form_data(request: Request) -> dict[str, str]:
    """An urlencoded form as a dict (the last value of a repeated field), after a same-origin check."""
    origin = request.headers.get("origin")
    if origin and origin != "null" and urlsplit(origin).netloc != request.headers.get("host"):
        raise PermissionDeniedError("a form posted from another site")
    body = (await request.body()).decode("utf-8", errors="replace")
    return {k: v[-1] for k, v in parse_qs(body, keep_blank_values=True).items()}


Form = Annotated[dict[str, str], Depends(form_data)]


def flex_of(session: Tx, p: Caller) -> FlexRequests:
    return FlexRequests(session, p)


Flex = Annotated[FlexRequests, Depends(flex_of)]


def problems(exc: pydantic.ValidationError | ValidationError) -> dict[str, str]:
    """Field → message, for showing next to the form's controls."""
    out: dict[str, str] = {}
    if isinstance(exc, ValidationError):  # the first problem of each field (volume_kw.3 → volume_kw)
        for p in exc.problems:
            out.setdefault(p.field.split(".")[0], p.message)
        return out
    for e in exc.errors(include_url=False):
        field = str(e["loc"][0]) if e["loc"] else "form"
        out.setdefault(field, str(e["msg"]).removeprefix("Value error, "))
    return out


def kw_list(text: str) -> list[str] | str:
    """``"120, 80 , 60"`` → ``["120", "80", "60"]`` (pydantic converts and checks the numbers)."""
    parts = [x.strip() for x in text.replace(";", ",").split(",")]
    return [x for x in parts if x] or text


def see_other(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


# -- sign-in ----------------------------------------------------------------------------------------


def _safe_next(target: str | None) -> str:
    # only a path of this site: never an absolute URL (an open redirect)
    # (browsers read a backslash as a slash: "/\\evil.example" would leave the site)
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/"


@router.get("/signin", response_class=HTMLResponse)
def signin_page(request: Request, next: str | None = None) -> HTMLResponse:
    return render(request, "signin.html", {"next": _safe_next(next), "error": None, "nav": []})


@router.post("/signin", response_class=HTMLResponse)
def signin(request: Request, session: Tx, at: Now, form: Form) -> Response:
    token = form.get("token", "").strip()
    target = _safe_next(form.get("next"))
    try:
        if not token:
            raise AuthError("enter an API token")
        authenticate(session, token, now=at)
    except AuthError as exc:
        context = {"next": target, "error": f"Sign-in refused: {exc}.", "nav": []}
        return render(request, "signin.html", context, status=401)
    response = see_other(target)
    response.set_cookie(
        SESSION_COOKIE, token, max_age=SESSION_MAX_AGE_S, path="/", httponly=True, samesite="strict",
        secure=request.url.scheme == "https",
    )  # fmt: skip
    return response


@router.post("/signout")
def signout(form: Form) -> Response:
    response = see_other("/signin")
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.get("/")
def home(p: Caller) -> Response:
    first = nav(p)[0][0]
    return see_other(first)


# -- market operator ---------------------------------------------------------------------------------


@router.get("/market", response_class=HTMLResponse)
def market(
    request: Request, p: Caller, r: Using, at: Now, flex: Flex, product: str | None = None, isp: int = 0
) -> Response:
    require_role(p, Role.MARKET_OPERATOR, action="the market page")
    products = r.products.list()
    chosen = product or (products[-1].product_id if products else None)
    book = book_of(r, chosen) if chosen else None
    if book is not None:
        isp = min(max(isp, 0), len(book.isps) - 1)
    runs = r.clearing.list_runs(chosen) if chosen else []
    local = [request_out(flex, q) for q in flex.list_requests()]  # every DSO's: the operator sees all
    return page(
        request, p, "market.html", products=products, chosen=chosen, book=book, isp=isp, runs=runs, now=at,
        local=local,
    )  # fmt: skip


@router.get("/market/book", response_class=HTMLResponse)
def market_book(request: Request, p: Caller, r: Using, product: str, isp: int = 0) -> Response:
    """The book fragment the page swaps in when the stream says an order arrived."""
    require_role(p, Role.MARKET_OPERATOR, action="the market page")
    book = book_of(r, product)
    isp = min(max(isp, 0), len(book.isps) - 1)
    return page(request, p, "_book.html", book=book, chosen=product, isp=isp)


# -- DSO ---------------------------------------------------------------------------------------------


def _dso_context(r: Any, flex: FlexRequests, p: Principal) -> dict[str, Any]:
    areas = [a for a in r.places.list_grid_areas() if a.dso_org_id == p.org_id or p.is_admin]
    area_ids = {a.id for a in areas}
    points = [c for c in r.places.list_congestion_points() if c.grid_area_id in area_ids]
    requests = [request_out(flex, q) for q in flex.list_requests()]
    offers = {q.id: [offer_out(flex, o) for o in flex.offers(q.id)] for q in requests}
    needs = {}
    for c in points:
        here = [q for q in requests if q.congestion_point == c.name and q.status == RequestStatus.OPEN]
        needs[c.name] = {
            "open": len(here),
            "requested_kwh": sum(sum(q.volume_kw) * q.isp_s / 3600 for q in here),
            "accepted_kwh": sum(sum(q.accepted_kw) * q.isp_s / 3600 for q in here),
            "peak_kw": max((max(q.volume_kw) for q in here), default=0.0),
        }
    return {
        "areas": {a.id: a for a in areas},
        "points": points,
        "requests": requests,
        "offers": offers,
        "needs": needs,
    }


@router.get("/dso", response_class=HTMLResponse)
def dso(request: Request, p: Caller, r: Using, flex: Flex, at: Now, done: str | None = None) -> Response:
    require_role(p, Role.DSO, action="the DSO page")
    return page(request, p, "dso.html", errors={}, values={}, done=done, now=at, **_dso_context(r, flex, p))


@router.post("/dso/requests", response_class=HTMLResponse)
def dso_post_request(request: Request, p: Caller, r: Using, flex: Flex, at: Now, form: Form) -> Response:
    require_role(p, Role.DSO, action="posting a flexibility request")
    data: dict[str, Any] = dict(form)
    data["volume_kw"] = kw_list(form.get("volume_kw", ""))
    if str(data.get("isp_s", "")).isdigit():
        data["isp_s"] = int(data["isp_s"])
    if data.get("start") and len(data["start"]) <= 16:  # <input type=datetime-local>: minutes, UTC by label
        data["start"] += ":00Z"
    if not data.get("expires_at"):
        data.pop("expires_at", None)
    elif len(data["expires_at"]) <= 16:
        data["expires_at"] += ":00Z"
    try:
        body = FlexRequestIn.model_validate(data)
        row = flex.create(**body.model_dump(), now=at)
    except (pydantic.ValidationError, ValidationError) as exc:
        context = _dso_context(r, flex, p)
        return page(
            request, p, "dso.html", 422, errors=problems(exc), values=form, done=None, now=at, **context
        )
    return see_other(f"/dso?done=request-{row.id}")


@router.post("/dso/offers/{offer_id}/accept")
def dso_accept(p: Caller, flex: Flex, at: Now, offer_id: int, form: Form) -> Response:
    try:
        flex.accept(offer_id, now=at)
    except ConflictError as exc:
        return see_other(f"/dso?done=refused:{exc}")
    return see_other(f"/dso?done=accepted-{offer_id}")


@router.post("/dso/requests/{request_id}/close")
def dso_close(p: Caller, flex: Flex, request_id: int, form: Form) -> Response:
    flex.close(request_id)
    return see_other(f"/dso?done=closed-{request_id}")


# -- aggregator --------------------------------------------------------------------------------------


def _agg_context(flex: FlexRequests, at: datetime) -> dict[str, Any]:
    open_requests = [request_out(flex, q) for q in flex.list_requests(RequestStatus.OPEN, now=at)]
    mine = [offer_out(flex, o) for o in flex.offers()]
    return {"open_requests": open_requests, "my_offers": mine}


@router.get("/aggregator", response_class=HTMLResponse)
def aggregator(request: Request, p: Caller, flex: Flex, at: Now, done: str | None = None) -> Response:
    require_role(p, Role.AGGREGATOR, action="the aggregator page")
    return page(
        request, p, "aggregator.html", errors={}, values={}, failed=None, done=done, **_agg_context(flex, at)
    )


@router.post("/aggregator/requests/{request_id}/offers", response_class=HTMLResponse)
def aggregator_offer(
    request: Request, p: Caller, flex: Flex, at: Now, request_id: int, form: Form
) -> Response:
    require_role(p, Role.AGGREGATOR, action="offering flexibility")
    data: dict[str, Any] = {
        "volume_kw": kw_list(form.get("volume_kw", "")),
        "price_eur_per_mwh": form.get("price_eur_per_mwh"),
    }
    req = flex.get(request_id)
    if len(data["volume_kw"]) == 1 and len(req.volume_kw) > 1:  # one value: the same kW in every ISP
        data["volume_kw"] = data["volume_kw"] * len(req.volume_kw)
    try:
        body = FlexOfferIn.model_validate(data)
        row = flex.offer(request_id, body.volume_kw, body.price_eur_per_mwh, now=at)
    except (pydantic.ValidationError, ValidationError, ConflictError) as exc:
        errors = {"form": str(exc)} if isinstance(exc, ConflictError) else problems(exc)
        context = _agg_context(flex, at)
        return page(
            request,
            p,
            "aggregator.html",
            422,
            errors=errors,
            values=form,
            failed=request_id,
            done=None,
            **context,
        )
    return see_other(f"/aggregator?done=offer-{row.id}")


# -- dense series ------------------------------------------------------------------------------------


@router.get("/series", response_class=HTMLResponse)
def series_page(request: Request, p: Caller, network: str = "lv-rural1-storage") -> Response:
    return page(request, p, "series.html", network=network, now=datetime.now(UTC))


# -- DSO feeder view ---------------------------------------------------------------------------------


@router.get("/dso/feeder", response_class=HTMLResponse)
def feeder(
    request: Request, p: Caller, network: str = "mv-semiurb", day: str = "2016-01-20", stress: str = "winter"
) -> Response:
    require_role(p, Role.DSO, action="the feeder view")
    error = None
    if network not in SHIPPED:
        error, network = f"network: unknown grid {network!r}, one of {', '.join(SHIPPED)}", "mv-semiurb"
    if stress not in SCENARIOS:
        error, stress = f"stress: unknown scenario {stress!r}, one of {', '.join(SCENARIOS)}", "winter"
    try:
        when = date.fromisoformat(day)
        if when.year != 2016:
            raise ValueError
    except ValueError:
        error, when = f"day: {day!r} is not a day of 2016 (the profiles' year), YYYY-MM-DD", date(2016, 1, 20)
    view = feeder_view(network, when, stress)
    return page(
        request, p, "feeder.html", 422 if error else 200, view=view, error=error, networks=list(SHIPPED),
        scenarios=list(SCENARIOS), colour=loading_colour,
    )  # fmt: skip


# -- BRP / prosumer: position and earnings -----------------------------------------------------------


@router.get("/position", response_class=HTMLResponse)
def position(request: Request, p: Caller, r: Using, flex: Flex, session: Tx) -> Response:
    """The caller's traded position per product and ISP, its meters against their baselines
    (imbalance), and what it earned (trades, flexibility, settlements)."""
    from gridflex.web.meters import earnings, meter_day

    require_role(p, Role.BRP, Role.PROSUMER, Role.AGGREGATOR, action="the position page")
    products = {row.product_id: product_of(row) for row in r.products.list()}
    cells: dict[tuple[str, int], dict[str, float]] = {}
    for t in r.clearing.list_trades(limit=10_000):
        if t.participant_org_id != p.org_id:
            continue
        c = cells.setdefault((t.product_id, t.isp), {"bought_mw": 0.0, "sold_mw": 0.0, "cash_eur": 0.0})
        mwh = t.quantity_mw * products[t.product_id].isp_h
        if t.side == "buy":
            c["bought_mw"] += t.quantity_mw
            c["cash_eur"] -= mwh * t.price_eur_per_mwh
        else:
            c["sold_mw"] += t.quantity_mw
            c["cash_eur"] += mwh * t.price_eur_per_mwh
    rows: list[dict[str, Any]] = [
        {"product": k[0], "isp": k[1], "start": products[k[0]].delivery_start + timedelta(seconds=products[k[0]].isp_s * k[1]),
         "net_mw": v["bought_mw"] - v["sold_mw"], **v}
        for k, v in sorted(cells.items())
    ]  # fmt: skip
    accepted_eur = 0.0
    if Role.AGGREGATOR in p.roles:
        accepted_eur = sum(
            o.cost_eur for o in (offer_out(flex, x) for x in flex.offers()) if o.status == "accepted"
        )
    trade_eur = sum(v["cash_eur"] for v in cells.values())
    return page(request, p, "position.html", rows=rows, trade_eur=trade_eur, accepted_eur=accepted_eur,
                day=meter_day(session, p), money=earnings(session, p))  # fmt: skip
