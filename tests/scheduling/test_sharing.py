"""Community sharing: links move a surplus between nodes, allocation keys conserve energy, the
per-member report adds up, bad community sections are named."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from gridflex.errors import ValidationError
from gridflex.scheduling import parse_site, schedule_site
from gridflex.scheduling.sharing import allocate, sharing_report
from tests.scheduling.helpers import START

ROOT = Path(__file__).resolve().parents[2]
PV = [0.0] * 8 + [2, 5, 8, 10, 10, 8, 5, 2] + [0.0] * 8


def _community(link: dict | None = None, **community) -> dict:
    assets = [
        {"kind": "grid_connection", "name": "meter-a", "node": "a"},
        {"kind": "grid_connection", "name": "meter-b", "node": "b"},
        {"kind": "pv", "name": "pv", "node": "a", "profile_kw": PV},
        {"kind": "load", "name": "load-a", "node": "a", "profile_kw": 1.0},
        {"kind": "load", "name": "load-b", "node": "b", "profile_kw": 3.0},
    ]
    return {
        "time": {"start": START, "step_s": 3600, "n_periods": 24, "timezone": "Europe/Paris"},
        "prices": {"day_ahead_eur_per_mwh": 50.0, "tou_eur_per_mwh": 60.0},
        "assets": assets + ([link] if link else []),
        "community": {
            "members": [{"name": "alice", "nodes": ["a"]}, {"name": "bob", "nodes": ["b"]}],
            **community,
        },
    }


CABLE = {"kind": "link", "name": "cable", "node": "a", "to_node": "b", "capacity_kw": 10.0, "loss_frac": 0.05}


def test_a_link_stops_exporting_here_and_importing_there() -> None:
    alone = schedule_site(parse_site(_community()))
    a, b = alone.power_kw["meter-a"]["electricity"], alone.power_kw["meter-b"]["electricity"]
    both = (a < -1e-6) & (b > 1e-6)
    assert both.sum() == 8  # without a link: A exports while B imports in every PV hour
    linked = schedule_site(parse_site(_community(CABLE)))
    a, b = linked.power_kw["meter-a"]["electricity"], linked.power_kw["meter-b"]["electricity"]
    assert not ((a < -1e-6) & (b > 1e-6)).any()
    rep = sharing_report(parse_site(_community(CABLE)), linked)
    sent, got = rep.link_out_kw[0], rep.link_in_kw[1]
    np.testing.assert_allclose(got, 0.95 * sent, atol=1e-9)  # 5 % lost on the way
    np.testing.assert_allclose(linked.power_kw["cable"]["electricity"], 0.05 * sent, atol=1e-9)
    assert rep.link_in_kw[0].max() < 1e-9 and rep.link_out_kw[1].max() < 1e-9
    surplus = np.maximum(np.array(PV) - 1.0, 0.0)
    np.testing.assert_allclose(sent, np.minimum(surplus, 3.0 / 0.95), atol=1e-6)
    np.testing.assert_allclose(b, 3.0 - got, atol=1e-9)
    assert linked.costs_eur["total"] < alone.costs_eur["total"]


def test_link_limit_and_wheeling_fee() -> None:
    data = _community({**CABLE, "capacity_kw": 1.5, "wheeling_eur_per_mwh": 10.0})
    r = schedule_site(parse_site(data))
    sent = sharing_report(parse_site(data), r).link_out_kw[0]
    assert sent.max() <= 1.5 + 1e-9
    assert r.costs_eur["wheeling"] == pytest.approx(sent.sum() * 10.0 / 1000, rel=1e-9)
    # a fee above the import price saved makes the link idle
    idle = schedule_site(parse_site(_community({**CABLE, "wheeling_eur_per_mwh": 500.0})))
    assert idle.power_kw["cable"]["electricity"].max() < 1e-9


def test_dynamic_pro_rata_hand_computed() -> None:
    imp = np.array([[2.0, 2.0, 0.0], [4.0, 4.0, 0.0], [0.0, 0.0, 0.0]])
    exp = np.array([[0.0, 0.0, 0.0], [0.0, 0.0, 0.0], [6.0, 3.0, 5.0]])
    got, sent = allocate(exp, imp)
    np.testing.assert_allclose(got, [[2, 1, 0], [4, 2, 0], [0, 0, 0]])  # all covered; then 3 split 1:2
    np.testing.assert_allclose(sent, [[0, 0, 0], [0, 0, 0], [6, 3, 0]])


def test_static_key_hand_computed() -> None:
    imp = np.array([[2.0], [4.0], [0.0]])
    exp = np.array([[0.0], [0.0], [6.0]])
    got, sent = allocate(exp, imp, "static", np.array([0.5, 0.25, 0.25]))
    np.testing.assert_allclose(got[:, 0], [2.0, 1.5, 0.0])  # min(import, share × 6); 2.5 kW go to the grid
    np.testing.assert_allclose(sent[:, 0], [0.0, 0.0, 3.5])


@settings(max_examples=60, deadline=None)
@given(
    exp=arrays(np.float64, (4, 6), elements=st.floats(0, 50)),
    imp=arrays(np.float64, (4, 6), elements=st.floats(0, 50)),
    shares=arrays(np.float64, 4, elements=st.floats(0, 0.25)),
    key=st.sampled_from(["dynamic_pro_rata", "static"]),
)
def test_allocation_conserves_energy(exp, imp, shares, key) -> None:
    got, sent = allocate(exp, imp, key, shares)
    np.testing.assert_allclose(got.sum(axis=0), sent.sum(axis=0), atol=1e-9)
    assert np.all(got <= imp + 1e-9) and np.all(sent <= exp + 1e-9)
    assert np.all(got >= 0) and np.all(sent >= 0)
    assert np.all(got.sum(axis=0) <= np.minimum(exp.sum(axis=0), imp.sum(axis=0)) + 1e-9)
    if key == "dynamic_pro_rata":  # pools everything that can be pooled
        np.testing.assert_allclose(got.sum(axis=0), np.minimum(exp.sum(axis=0), imp.sum(axis=0)), atol=1e-9)
    else:
        assert np.all(got <= shares[:, None] * exp.sum(axis=0) + 1e-9)


def test_report_per_member_adds_up_on_the_example() -> None:
    path = ROOT / "examples" / "sites" / "community.yaml"
    r = schedule_site(path)
    from gridflex.scheduling import load_site

    rep = sharing_report(load_site(path), r)
    t = rep.table()
    assert list(t.index) == ["school", "home1", "home2", "bakery"]
    assert t["shared_received_kwh"].sum() == pytest.approx(t["shared_sent_kwh"].sum(), rel=1e-9)
    np.testing.assert_allclose(t["import_kwh"], t["shared_received_kwh"] + t["grid_import_kwh"], atol=1e-9)
    np.testing.assert_allclose(t["export_kwh"], t["shared_sent_kwh"] + t["grid_export_kwh"], atol=1e-9)
    assert t.loc["school", "shared_sent_kwh"] > 0 and t.loc["home1", "link_in_kwh"] > 0
    assert r.costs_eur["community_sharing"] < 0  # valued at value_eur_per_mwh
    shared = np.minimum(rep.export_kw.sum(axis=0), rep.import_kw.sum(axis=0))
    assert -r.costs_eur["community_sharing"] == pytest.approx(shared.sum() * 40 / 1000, rel=1e-6)


def test_sharing_value_moves_a_flexible_member_into_the_surplus() -> None:
    data = _community()
    data["assets"].append(
        {"kind": "shiftable_process", "name": "washer", "node": "b", "profile_kw": [2.0, 2.0]}
    )
    data["prices"]["day_ahead_eur_per_mwh"] = [50.0] * 8 + [60.0] * 8 + [50.0] * 8
    alone = schedule_site(parse_site(data))
    data["community"]["value_eur_per_mwh"] = 55.0  # below the 60 EUR/MWh import − export margin
    shared = schedule_site(parse_site(data))
    start = lambda r: int(np.flatnonzero(r.power_kw["washer"]["electricity"] > 0)[0])  # noqa: E731
    assert not 8 <= start(alone) < 16  # cheapest hours are outside the PV hours
    assert 8 <= start(shared) < 15  # the community's surplus is worth more


@pytest.mark.parametrize(
    ("community", "field", "says"),
    [
        ({"members": [{"name": "alice", "nodes": ["a"]}, {"name": "bob", "nodes": ["z"]}]}, "members.1.nodes",
         "no asset is at node 'z'"),
        ({"members": [{"name": "alice", "nodes": ["a"]}, {"name": "bob", "nodes": ["a"]}]}, "members.1.nodes",
         "belongs to 'alice' too"),
        ({"members": [{"name": "x", "nodes": ["a"]}, {"name": "x", "nodes": ["b"]}]}, "members.0.name",
         "more than one member"),
        ({"allocation": "static", "static_shares": {"alice": 0.7, "bob": 0.6}}, "static_shares", "more than 1"),
        ({"allocation": "static"}, "static_shares", "needs a share per member"),
        ({"allocation": "static", "static_shares": {"carol": 0.5}}, "static_shares.carol", "is not a member"),
        ({"static_shares": {"alice": 0.5}}, "static_shares", "only used by allocation: static"),
        ({"members": [{"name": "alice", "nodes": ["a"]}]}, "community.members", "at least 2 items"),
        ({"value_eur_per_mwh": 60.0}, "value_eur_per_mwh", "would be paid to import and export at once"),
    ],
)  # fmt: skip
def test_bad_community_names_the_field(community: dict, field: str, says: str) -> None:
    data = _community()
    data["community"].update(community)
    with pytest.raises(ValidationError) as info:
        parse_site(data)
    assert any(p.field == field and says in p.message for p in info.value.problems), info.value.problems


def test_a_link_must_join_two_nodes() -> None:
    with pytest.raises(ValidationError, match="a link joins two nodes"):
        parse_site(_community({**CABLE, "to_node": "a"}))
