"""Settlement: delivered flexibility by direction, the USEF example exactly, money balances, files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gridflex.errors import DataError, ValidationError
from gridflex.market.settlement import (
    SettlementDocument,
    activation_amounts,
    delivered_kw,
    settle,
    settle_files,
)
from gridflex.timegrid import TimeGrid

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "market" / "settlement"
HOUR = TimeGrid("2018-06-01T00:00Z", 3600, 5)

PARTIES = [
    {"id": "dso", "role": "DSO"},
    {"id": "agr", "role": "aggregator"},
    {"id": "brp", "role": "BRP"},
]


def usef_document(**activation) -> SettlementDocument:
    order = {
        "id": "flexorder-1",
        "buyer": "dso",
        "seller": "agr",
        "direction": "up",
        "start": "2018-06-01T00:00:00Z",
        "end": "2018-06-01T05:00:00Z",
        "power_kw": 2000.0,  # 2 MW ordered in each one-hour ISP
        "price_eur_per_mwh": 7.0,  # 7 EUR/MW for the ISP of one hour
        "penalty_eur_per_mwh": 11.0,
        "meters": ["site"],
        "brp_correction": False,
    } | activation
    return SettlementDocument(
        participants=PARTIES, meters=[{"id": "site", "brp": "brp"}], activations=[order]
    )


def test_delivered_flexibility_is_up_for_less_consumption():
    assert delivered_kw(10.0, 7.0, "up") == 3.0
    assert delivered_kw(10.0, 7.0, "down") == -3.0
    assert delivered_kw(-5.0, -8.0, "up") == 3.0  # a producer feeding in 3 kW more
    with pytest.raises(ValidationError):
        delivered_kw(1.0, 1.0, "sideways")  # type: ignore[arg-type]


def test_usef_settlement_example_exactly():
    """USEF: baseline 10 MW, 2 MW ordered, 7 EUR/MW fee, 11 EUR/MW penalty; allocations 7…11 MW."""
    baseline = np.full((1, 5), 10_000.0)
    allocation = np.array([[7_000.0, 8_000.0, 9_000.0, 10_000.0, 11_000.0]])
    result = settle(usef_document(), HOUR, ["site"], baseline, allocation)
    agr = result.statements().query("participant == 'agr'").groupby("period_start_utc").amount_eur.sum()
    assert agr.tolist() == [14.0, 14.0, -4.0, -22.0, -33.0]
    dso = result.statements().query("participant == 'dso'").groupby("period_start_utc").amount_eur.sum()
    assert dso.tolist() == [-14.0, -14.0, 4.0, 22.0, 33.0]
    delivered_kwh = np.array([3.0, 2.0, 1.0, 0.0, -1.0]) * 1000
    paid, penalty = activation_amounts(np.full(5, 2000.0), delivered_kwh, 7.0, 11.0)
    assert (paid - penalty).tolist() == [14.0, 14.0, -4.0, -22.0, -33.0]  # the same rule on bare arrays
    summary = result.activations.iloc[0]
    assert summary.ordered_kwh == 10_000.0 and summary.delivered_kwh == 5_000.0
    assert summary.performance_ratio == 0.5


def test_down_activation_counts_more_consumption():
    baseline = np.full((1, 5), 10_000.0)
    metered = np.array([[13_000.0, 12_000.0, 11_000.0, 10_000.0, 9_000.0]])
    result = settle(usef_document(direction="down"), HOUR, ["site"], baseline, metered)
    net = result.statements().query("participant == 'agr'").groupby("period_start_utc").amount_eur.sum()
    assert net.tolist() == [14.0, 14.0, -4.0, -22.0, -33.0]


def test_brp_correction_moves_the_delivered_energy_at_the_transfer_price():
    doc = usef_document(brp_correction=True, end="2018-06-01T02:00:00Z")
    doc = doc.model_copy(update={"transfer_price_eur_per_mwh": [50.0, 60.0, 0.0, 0.0, 0.0]})
    baseline = np.full((1, 5), 10_000.0)
    metered = np.array([[7_000.0, 11_000.0, 10_000.0, 10_000.0, 10_000.0]])
    lines = settle(doc, HOUR, ["site"], baseline, metered).lines.query("item == 'imbalance_correction'")
    assert lines.payer.tolist() == ["agr", "agr"] and lines.payee.tolist() == ["brp", "brp"]
    assert lines.energy_kwh.tolist() == [3000.0, -1000.0]  # the BRP is long 3 MWh, then short 1 MWh
    assert lines.amount_eur.tolist() == [150.0, -60.0]


def test_availability_is_paid_per_mw_and_hour():
    doc = SettlementDocument(
        participants=PARTIES,
        meters=[{"id": "site"}],
        reservations=[
            {"id": "res-1", "buyer": "dso", "seller": "agr", "start": "2018-06-01T01:00:00Z",
             "end": "2018-06-01T04:00:00Z", "reserved_kw": 500.0, "price_eur_per_mw_h": 12.0}
        ],
    )  # fmt: skip
    result = settle(doc, HOUR, ["site"], np.zeros((1, 5)), np.zeros((1, 5)))
    assert result.totals().loc["agr", "availability"] == 3 * 0.5 * 12.0


@settings(max_examples=30, deadline=None)
@given(
    n_meters=st.integers(1, 5),
    seed=st.integers(0, 2**31),
    orders=st.lists(
        st.tuples(
            st.sampled_from(["up", "down"]),
            st.integers(0, 4),  # start period
            st.integers(1, 3),  # length
            st.floats(1.0, 5_000.0),  # power_kw
            st.floats(0.0, 300.0),  # price
            st.floats(0.0, 300.0),  # penalty
        ),
        min_size=1,
        max_size=4,
    ),
)
def test_money_only_moves_between_participants(n_meters, seed, orders):
    rng = np.random.default_rng(seed)
    grid = TimeGrid("2018-06-01T00:00Z", 900, 8)
    meters = [f"m{i}" for i in range(n_meters)]
    parties = [*PARTIES, {"id": "brp2", "role": "BRP"}, {"id": "agr2", "role": "aggregator"}]
    acts = [
        {
            "id": f"o{k}",
            "buyer": "dso",
            "seller": ["agr", "agr2"][k % 2],
            "direction": d,
            "start": str(grid.index[s]),
            "end": str(grid.index[0] + pd.Timedelta(minutes=15 * min(s + n, 8))),
            "power_kw": p,
            "price_eur_per_mwh": price,
            "penalty_eur_per_mwh": pen,
            "meters": [meters[k % n_meters]],  # one meter per activation: never two at once
        }
        for k, (d, s, n, p, price, pen) in enumerate(orders)
        if k < n_meters
    ]
    doc = SettlementDocument(
        participants=parties,
        meters=[{"id": m, "brp": ["brp", "brp2", None][i % 3]} for i, m in enumerate(meters)],
        activations=acts,
        reservations=[
            {
                "id": "r",
                "buyer": "dso",
                "seller": "agr",
                "start": str(grid.start),
                "end": str(grid.end),
                "reserved_kw": 100.0,
                "price_eur_per_mw_h": 5.0,
            }
        ],
        transfer_price_eur_per_mwh=list(rng.uniform(-50, 200, grid.n)),
    )
    baseline = rng.uniform(-3_000, 8_000, (n_meters, grid.n))
    metered = baseline + rng.normal(0, 2_000, (n_meters, grid.n))
    result = settle(doc, grid, meters, baseline, metered)
    per_period = result.statements().groupby("period_start_utc").amount_eur.sum()
    np.testing.assert_allclose(per_period.to_numpy(), 0.0, atol=1e-7)
    assert (result.lines.query("item in ['activation', 'penalty']").amount_eur >= 0).all()
    # per ISP: a seller is paid for at most the ordered energy, penalised only for a shortfall
    power = {a["id"]: a["power_kw"] for a in acts}
    paid = result.lines.query("item == 'activation'")
    assert (paid.energy_kwh <= paid.order_id.map(power) * grid.step_h + 1e-9).all()
    penalties = result.lines.query("item == 'penalty' and amount_eur > 0")
    assert (penalties.energy_kwh > 0).all()


def test_bad_documents_are_rejected_with_every_problem():
    doc = usef_document(buyer="nobody", meters=["site", "ghost"], start="2018-06-01T00:10:00Z")
    with pytest.raises(ValidationError) as info:
        settle(doc, HOUR, ["site"], np.zeros((1, 5)), np.zeros((1, 5)))
    fields = {(p.object_id, p.field) for p in info.value.problems}
    assert {("flexorder-1", "buyer"), ("flexorder-1", "meters"), ("flexorder-1", "start/end")} <= fields
    with pytest.raises(ValidationError, match="no baseline"):
        settle(usef_document(), HOUR, ["site"], np.full((1, 5), np.nan), np.zeros((1, 5)))


def test_settle_files_writes_statements_that_balance(tmp_path):
    out = tmp_path / "statements.csv"
    result = settle_files(
        EXAMPLES / "document.json", EXAMPLES / "metered.csv", EXAMPLES / "baseline.csv", out
    )
    table = pd.read_csv(out)
    assert set(table.columns) >= {
        "participant",
        "role",
        "period_start_utc",
        "item",
        "counterparty",
        "amount_eur",
    }
    assert set(table.item) == {"availability", "activation", "penalty", "imbalance_correction"}
    assert abs(table.amount_eur.sum()) < 1e-6
    assert result.totals().net_eur.round(6).sum() == 0
    daily = settle_files(
        EXAMPLES / "document.json", EXAMPLES / "metered.csv", EXAMPLES / "baseline.csv", period="D"
    )
    assert daily.statements("D").period_start_utc.nunique() == 1
    with pytest.raises(DataError, match="cannot read"):
        settle_files(tmp_path / "nope.json", EXAMPLES / "metered.csv", EXAMPLES / "baseline.csv")
