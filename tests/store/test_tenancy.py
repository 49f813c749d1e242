"""Tenancy of the rows the API property test (tests/api/test_tenancy_property.py) does not reach
cheaply: connection points, audit events, activations, settlements and their lines, jobs, uploads,
webhooks. Generated rows owned by generated organisations; every caller's view through the
repositories must equal an oracle written here from the rules of the issue, independently of
`gridflex.store.tenancy`. And every visibility predicate stays in that one module.
"""

from __future__ import annotations

import ast
from datetime import UTC, datetime
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

import gridflex.store
from gridflex.store import Store
from gridflex.store.jobs import CLEARING, SITE_SCHEDULE, Jobs
from gridflex.store.metering import Metering
from gridflex.store.settling import Activations, Settlements
from gridflex.store.tables import (
    ActivationRow,
    AuditRow,
    CongestionPoint,
    ConnectionPointRow,
    FlexRequestOffer,
    FlexRequestRow,
    JobRow,
    SettlementLineRow,
    SettlementRow,
    UploadRow,
    WebhookRow,
)
from gridflex.store.tenancy import Principal
from gridflex.store.uploads import SITE, Uploads
from gridflex.store.webhooks import Webhooks
from tests.store.world import World, build_world

T0 = datetime(2026, 6, 1, tzinfo=UTC)
ACTORS = ["alice", "bob", "dso1", "dso2", "operator", "admin"]
BOOK = {"operator", "admin"}
DSO_OF = {"CP-A": "dso1", "CP-B": "dso2"}

org = st.sampled_from(ACTORS)
point = st.tuples(
    st.sampled_from(["alice", "bob"]), st.sampled_from([None, "CP-A", "CP-B"]), st.sampled_from([None, "bob"])
)
event = st.tuples(org, st.sampled_from([None, *ACTORS]))
activation = st.tuples(st.sampled_from(["dso1", "dso2"]), st.sampled_from(["alice", "bob"]))
# a settlement run by a DSO with lines (payer, payee) between any two organisations
settlement = st.tuples(st.sampled_from(["dso1", "dso2"]), st.lists(st.tuples(org, org), max_size=3))
job = st.tuples(org, st.sampled_from([CLEARING, SITE_SCHEDULE]))
rows = st.fixed_dictionaries({
    "points": st.lists(point, max_size=4), "events": st.lists(event, max_size=4),
    "activations": st.lists(activation, max_size=3), "settlements": st.lists(settlement, max_size=3),
    "jobs": st.lists(job, max_size=4), "uploads": st.lists(org, max_size=3), "webhooks": st.lists(org, max_size=3),
})  # fmt: skip


def _add(store: Store, w: World, spec: dict, serial: list[int]) -> None:
    """Insert the generated rows as they are (no repository: the rows under test, not the writes)."""
    o = w.org_ids
    with store.transaction() as s:
        cps = {
            name: s.scalar(select(CongestionPoint.id).where(CongestionPoint.name == name)) for name in DSO_OF
        }
        req = FlexRequestRow(
            dso_org_id=o["dso1"], congestion_point_id=cps["CP-A"], congestion_point="CP-A", direction="down",
            start=T0, isp_s=900, volume_kw=[1.0], max_price_eur_per_mwh=100.0, expires_at=T0,
        )  # fmt: skip
        s.add(req)
        s.flush()
        offer = FlexRequestOffer(
            request_id=req.id, aggregator_org_id=o["bob"], volume_kw=[1.0], price_eur_per_mwh=50.0
        )
        s.add(offer)
        s.flush()
        for owner, cp, brp in spec["points"]:
            serial[0] += 1
            s.add(ConnectionPointRow(name=f"EAN-{serial[0]}", owner_org_id=o[owner],
                                     congestion_point_id=cps[cp] if cp else None,
                                     brp_org_id=o[brp] if brp else None))  # fmt: skip
        for actor, subject in spec["events"]:
            s.add(AuditRow(actor_org_id=o[actor], subject_org_id=o[subject] if subject else None,
                           action="test", object_type="test", object_id="1"))  # fmt: skip
        acts = []
        for buyer, seller in [*spec["activations"], ("dso1", "bob")]:  # one for the settlement lines
            a = ActivationRow(offer_id=offer.id, buyer_org_id=o[buyer], seller_org_id=o[seller],
                              congestion_point="CP-A", direction="down", start=T0, isp_s=900, power_kw=[1.0],
                              price_eur_per_mwh=50.0)  # fmt: skip
            s.add(a)
            acts.append(a)
        s.flush()
        for runner, lines in spec["settlements"]:
            st_row = SettlementRow(run_by_org_id=o[runner], start=T0, end=T0, tz="UTC", baseline={},
                                   history_days=0, activations=[])  # fmt: skip
            s.add(st_row)
            s.flush()
            for payer, payee in lines:
                s.add(SettlementLineRow(settlement_id=st_row.id, period_start=T0, item="activation",
                                        activation_id=acts[-1].id, payer_org_id=o[payer], payee_org_id=o[payee],
                                        energy_kwh=1.0, price=50.0, price_unit="EUR/MWh", amount_eur=0.05))  # fmt: skip
        for creator, kind in spec["jobs"]:
            s.add(JobRow(kind=kind, created_by_org_id=o[creator], run_at=T0))
        for owner in spec["uploads"]:
            s.add(UploadRow(kind=SITE, org_id=o[owner], name="site", body={}))
        for owner in spec["webhooks"]:
            s.add(
                WebhookRow(org_id=o[owner], url="https://example.org/hook", secret="s", events={"events": []})
            )


def _oracle(store: Store, w: World, who: str) -> dict[str, set[int]]:
    """What ``who`` may see, by the issue's rules: its own things; a DSO also the connection points
    behind its congestion points; the parties of an activation or a settlement line; the organisation
    that ran a settlement; the book (operator, admin) everything, except that the operator sees of
    the jobs only the clearing ones and no one's uploads or webhooks but its own."""
    me, book, admin = w.org_ids[who], who in BOOK, who == "admin"
    with store.transaction() as s:
        cp_names = dict(s.execute(select(CongestionPoint.id, CongestionPoint.name)).all())
        lines = list(s.scalars(select(SettlementLineRow)))
        runner = dict(s.execute(select(SettlementRow.id, SettlementRow.run_by_org_id)).all())
        return {
            "points": {p.id for p in s.scalars(select(ConnectionPointRow))
                       if book or me in (p.owner_org_id, p.brp_org_id)
                       or DSO_OF.get(cp_names.get(p.congestion_point_id, "")) == who},
            "events": {e.id for e in s.scalars(select(AuditRow)) if book or me in (e.actor_org_id, e.subject_org_id)},
            "activations": {a.id for a in s.scalars(select(ActivationRow))
                            if book or me in (a.buyer_org_id, a.seller_org_id)},
            "settlements": {i for i, r in runner.items()
                            if book or r == me or any(x.settlement_id == i and me in (x.payer_org_id, x.payee_org_id)
                                                      for x in lines)},
            "lines": {x.id for x in lines if book or me in (x.payer_org_id, x.payee_org_id, runner[x.settlement_id])},
            "jobs": {j.id for j in s.scalars(select(JobRow))
                     if admin or j.created_by_org_id == me or (book and j.kind == CLEARING)},
            "uploads": {u.id for u in s.scalars(select(UploadRow)) if admin or u.org_id == me},
            "webhooks": {h.id for h in s.scalars(select(WebhookRow)) if admin or h.org_id == me},
        }  # fmt: skip


def _seen(store: Store, p: Principal) -> dict[str, set[int]]:
    """What the repositories show ``p``."""
    big = 10**6
    with store.transaction() as s:
        settlements = Settlements(s, p)
        listed = settlements.list_settlements(limit=big)
        return {
            "points": {r.id for r in Metering(s, p).points()},
            "events": {r.id for r in Metering(s, p).audit_trail(limit=big)},
            "activations": {r.id for r in Activations(s, p).list_activations(limit=big)},
            "settlements": {r.id for r in listed},
            "lines": {x.id for r in listed for x in settlements.lines(r.id)},
            "jobs": {r.id for r in Jobs(s, p).list(limit=big)},
            "uploads": {r.id for r in Uploads(s, p).list(SITE, limit=big)},
            "webhooks": {r.id for r in Webhooks(s, p).list_all()},
        }


def test_no_cross_tenant_read_of_lifecycle_rows(store: Store) -> None:
    w, serial = build_world(store), [0]

    @settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(spec=rows)
    def check(spec: dict) -> None:  # rows pile up across examples: the oracle reads them all
        _add(store, w, spec, serial)
        for who in ACTORS:
            seen, truth = _seen(store, w.principals[who]), _oracle(store, w, who)
            for what in truth:
                assert seen[what] == truth[what], (who, what)

    check()


def test_visibility_predicates_live_in_tenancy_only() -> None:
    """One place enforces tenancy: no store module but tenancy.py defines a ``*_visible`` function."""
    root = Path(gridflex.store.__file__).parent
    found = [
        f"{path.relative_to(root)}:{node.lineno} {node.name}"
        for path in sorted(root.rglob("*.py"))
        if path.name != "tenancy.py"
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name.endswith("_visible")
    ]
    assert found == []
