"""The aggregator's portfolio page: its sites and their S2 devices (the RMs connected to the service),
its flex-offer documents aggregated per location, its offers and activations, its meters against
their baselines (:mod:`gridflex.web.meters`) and its earnings. Read through the store's repositories
as the caller, like every page.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import numpy as np
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from gridflex.api.deps import Caller, Tx, Using
from gridflex.api.routers.flexrequests import offers_out
from gridflex.store.requests import FlexRequests
from gridflex.store.settling import Activations
from gridflex.store.tables import Role
from gridflex.store.tenancy import require_role
from gridflex.store.uploads import FLEXOFFERS, SITE
from gridflex.web.meters import earnings, meter_day, site_offers
from gridflex.web.pages import page
from gridflex.web.render import fmt_time

__all__ = ["router"]

router = APIRouter(include_in_schema=False)


@router.get("/aggregator/portfolio", response_class=HTMLResponse)
def portfolio(request: Request, p: Caller, r: Using, session: Tx) -> Response:
    """Sites and their S2 devices, flex-offers and their aggregation per location, offers,
    activations, baseline against metered, earnings."""
    from gridflex.api.s2 import list_s2_devices  # here: the api package imports the web's pages

    require_role(p, Role.AGGREGATOR, action="the portfolio page")
    sites = []
    for s in r.uploads.list(SITE, limit=100):
        devices = list_s2_devices(s.id, request, r)
        sites.append({"row": s, "devices": devices})
    documents = [_document_view(d) for d in r.uploads.list(FLEXOFFERS, limit=100)]
    flex = FlexRequests(session, p)
    offers = offers_out(flex, flex.offers())
    activations = Activations(session, p).list_activations(limit=1000)
    day = meter_day(session, p)
    money = earnings(session, p)
    accepted = sum(o.cost_eur for o in offers if o.status == "accepted")
    return page(
        request, p, "portfolio.html", sites=sites, documents=documents, offers=offers, activations=activations,
        day=day, money=money, accepted_eur=accepted, now=fmt_time(datetime.now(UTC)),
    )  # fmt: skip


def _document_view(up: Any) -> dict[str, Any]:
    """A flex-offer document: its offers aggregated per location (sites, baseline and up energy)."""
    offers = site_offers(up.body)
    n = len(up.body.get("flexOffers", []))
    if offers is None or offers.batch.default is None:
        return {"row": up, "groups": [], "n": n}
    b = offers.batch
    groups: dict[str, dict[str, Any]] = {}
    for i, (sid, loc) in enumerate(zip(b.ids.tolist(), offers.locations.tolist(), strict=True)):
        g = groups.setdefault(
            str(loc), {"location": str(loc), "offers": [], "baseline_kwh": 0.0, "up_kwh": 0.0}
        )
        base = b.default.energy_kwh[b.offsets[i] : b.offsets[i + 1]]
        g["offers"].append(str(sid))
        g["baseline_kwh"] += float(base.sum())
        g["up_kwh"] += float(np.clip(base - b.lower_kwh[b.offsets[i] : b.offsets[i + 1]], 0.0, None).sum())
    return {"row": up, "groups": list(groups.values()), "n": n}
