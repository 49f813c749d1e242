"""The meters behind the portfolio page of an aggregator and the position page of a BRP or prosumer.

Everything is read through the store's repositories as the caller (the API's tenancy): an aggregator
sees its sites, their S2 devices (the RMs connected to the service), its flex-offer documents, its
offers, activations, meters and settlements; a BRP the meters in its perimeter; a prosumer its own.

**Baseline** of a meter: the one a settlement stored for it (``/v1/settlements`` or ``/v1/baselines``),
else, for an aggregator, the default schedule (the D-prognosis) of its flex-offer with the meter's
name as ``id``. **Imbalance** = metered − baseline (kW, + = consumed more than the baseline).
Signs: power positive = consumption; flexibility **up** = more power into the grid.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np

from gridflex.errors import GridflexError
from gridflex.store import Principal
from gridflex.store.metering import Metering
from gridflex.store.settling import Settlements
from gridflex.store.tables import Role
from gridflex.store.uploads import FLEXOFFERS

__all__ = ["MeterDay", "earnings", "meter_day", "site_offers"]


@dataclass
class MeterDay:
    """The caller's meters over the latest UTC day with readings: kW per ISP (NaN: none)."""

    start: datetime
    isp_s: int
    names: list[str]
    metered_kw: np.ndarray  # meters × ISPs
    baseline_kw: np.ndarray  # meters × ISPs, NaN where no baseline is known
    baseline_source: dict[str, str] = field(default_factory=dict)

    def rows(self) -> list[dict[str, Any]]:
        h = self.isp_s / 3600.0
        out = []
        for i, name in enumerate(self.names):
            m, b = self.metered_kw[i], self.baseline_kw[i]
            both = np.isfinite(m) & np.isfinite(b)
            out.append({
                "name": name, "isps": int(np.isfinite(m).sum()), "metered_kwh": float(np.nansum(m) * h),
                "baseline_kwh": float(np.nansum(b[both]) * h) if both.any() else None,
                "imbalance_kwh": float((m[both] - b[both]).sum() * h) if both.any() else None,
                "baseline_source": self.baseline_source.get(name, "none"),
            })  # fmt: skip
        return out

    def chart(self) -> str:
        """The portfolio's sums per ISP as the chart's JSON (null: no value)."""
        t = [int(self.start.timestamp()) + self.isp_s * k for k in range(self.metered_kw.shape[1])]

        def total(a: np.ndarray) -> list[float | None]:
            s = np.where(np.isfinite(a).any(axis=0), np.nansum(a, axis=0), np.nan)
            return [None if not np.isfinite(x) else round(float(x), 3) for x in s]

        imbalance = self.metered_kw - self.baseline_kw
        return json.dumps({
            "t": t, "ylabel": "power (kW, + = consumption)",
            "series": [{"label": "baseline", "values": total(self.baseline_kw)},
                       {"label": "metered", "values": total(self.metered_kw)},
                       {"label": "imbalance (metered − baseline)", "values": total(imbalance)}],
        })  # fmt: skip


def meter_day(session: Any, p: Principal) -> MeterDay | None:
    """The caller's visible meters over the latest UTC day with a reading (None: no reading yet)."""
    metering = Metering(session, p)
    last = metering.latest_reading()
    if last is None:
        return None
    t, isp_s = last
    t = t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)
    start = datetime(t.year, t.month, t.day, tzinfo=UTC)
    points = sorted(metering.points(), key=lambda c: c.name)
    names = [c.name for c in points]
    got = metering.readings(names, start, start + timedelta(days=1), isp_s)
    day = MeterDay(start, isp_s, names, got.power_kw, np.full_like(got.power_kw, np.nan))
    _stored_baselines(session, p, day, points)
    if Role.AGGREGATOR in p.roles:
        _flexoffer_baselines(session, p, day)
    return day


def _stored_baselines(session: Any, p: Principal, day: MeterDay, points: list[Any]) -> None:
    row_of = {c.id: i for i, c in enumerate(points)}
    for b in _all_baselines(Settlements(session, p)):  # in id order: the latest of a meter wins
        if b.connection_point_id not in row_of:
            continue
        start = b.start.replace(tzinfo=UTC) if b.start.tzinfo is None else b.start
        k0 = int((start - day.start).total_seconds()) // day.isp_s
        if b.isp_s != day.isp_s or not -len(b.baseline_kw) < k0 < day.metered_kw.shape[1]:
            continue
        vals = np.array([np.nan if v is None else v for v in b.baseline_kw], dtype=float)
        lo, hi = max(k0, 0), min(k0 + len(vals), day.metered_kw.shape[1])
        i = row_of[b.connection_point_id]
        day.baseline_kw[i, lo:hi] = vals[lo - k0 : hi - k0]
        day.baseline_source[day.names[i]] = "settlement" if b.settlement_id else "baseline"


def _all_baselines(st: Settlements) -> Any:
    after = 0
    while page := st.baselines(limit=1000, after_id=after):
        yield from page
        after = page[-1].id


def _flexoffer_baselines(session: Any, p: Principal, day: MeterDay) -> None:
    """The D-prognosis of meters without a stored baseline: their flex-offers' default schedules."""
    from gridflex.store.uploads import Uploads

    for up in reversed(Uploads(session, p).list(FLEXOFFERS, limit=100)):  # the newest first
        offers = site_offers(up.body)
        if offers is None or offers.batch.default is None or offers.batch.interval_s != day.isp_s:
            continue
        b = offers.batch
        for i, name in enumerate(b.ids.tolist()):
            if name not in day.names or name in day.baseline_source:
                continue
            k0 = (int(b.default.start_s[i]) - int(day.start.timestamp())) // b.interval_s
            kw = b.default.energy_kwh[b.offsets[i] : b.offsets[i + 1]] / (b.interval_s / 3600.0)
            row, n = day.names.index(name), day.metered_kw.shape[1]
            lo, hi = max(k0, 0), min(k0 + len(kw), n)
            if lo < hi:
                day.baseline_kw[row, lo:hi] = kw[lo - k0 : hi - k0]
                day.baseline_source[name] = "flex-offer default"


def site_offers(body: dict[str, Any]) -> Any:
    """A stored FlexOffer document read back (None: offers without ``locationId``, not from sites)."""
    from gridflex.flexoffer.from_site import site_flexoffers_from_json

    try:
        return site_flexoffers_from_json(body)
    except GridflexError:
        return None


def earnings(session: Any, p: Principal) -> dict[tuple[str, str], float]:
    """The caller's settled money per item and counterparty (EUR, + = receives), over every settlement
    it is party of and not revised since: an aggregator's from the DSO (the market's settlement) and
    to its prosumers (its portfolio's), a prosumer's from its aggregator."""
    st = Settlements(session, p)
    out: dict[tuple[str, str], float] = {}
    for row in st.list_settlements(limit=1000):
        if row.superseded_by_id is not None:  # its revision counts instead
            continue
        lines = st.statements(row.id)
        mine = lines[lines.participant == p.org_name]
        for (item, who), amount in mine.groupby(["item", "counterparty"]).amount_eur.sum().items():
            key = (str(item), str(who))
            out[key] = out.get(key, 0.0) + float(amount)
    return {k: v for k, v in sorted(out.items()) if abs(v) >= 0.005}  # no "penalty 0.00" rows
