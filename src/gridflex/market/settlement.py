"""Settlement of flexibility: delivered energy, performance, payments, penalties, BRP correction.

Directions as everywhere in gridflex: flexibility **up** = more power into the grid (less
consumption or more production), **down** = less power into the grid. With power positive for
consumption, the flexibility delivered in direction ``up`` is ``baseline − metered`` and in
direction ``down`` it is ``metered − baseline``.

Rules, per activation and settlement period (ISP = the meter grid's step), energies in kWh:

* activation payment (buyer → seller) = ``price × clip(delivered, 0, ordered)``: over-delivery is
  not paid;
* penalty (seller → buyer) = ``penalty × max(ordered − delivered, 0)``: a shortfall is charged,
  also the part of it delivered in the wrong direction;

  (USEF's example: baseline 10 MW, 2 MW ordered for one hour at 7 EUR/MW with an 11 EUR/MW penalty;
  metered 7/8/9/10/11 MW settle to 14/14/−4/−22/−33 EUR for the seller.)
* availability (buyer → seller) = ``reserved MW × hours × price EUR/MW/h`` over a reservation;
* BRP imbalance correction: the energy the activation moved in each BRP's perimeter
  (``baseline − metered`` of that BRP's meters, up-positive) is added to the BRP's position, and the
  seller pays the BRP for it at the transfer price (EUR/MWh; the BRP pays back where it is negative):
  the BRP sourced energy its customers did not take.

Every line is a transfer from a payer to a payee, so the statements of all participants sum to
zero in every period: money only moves between them.

``settle`` works on arrays; ``settle_files`` is what a ``gridflex market settle`` command calls.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field
from pydantic import ValidationError as PydanticError

from gridflex.errors import DataError, Problem, TimeGridError, ValidationError
from gridflex.market.baselines.files import read_meter_csv
from gridflex.timegrid import TimeGrid, to_utc

__all__ = [
    "Activation",
    "Meter",
    "Participant",
    "Reservation",
    "Settlement",
    "SettlementDocument",
    "activation_amounts",
    "delivered_kw",
    "settle",
    "settle_files",
    "validate_settlement",
]

Direction = Literal["up", "down"]
ITEMS = ("availability", "activation", "penalty", "imbalance_correction")


# ── rules on arrays ───────────────────────────────────────────────────────────────────────────


def delivered_kw(baseline_kw: np.ndarray, metered_kw: np.ndarray, direction: Direction = "up") -> np.ndarray:
    """Flexibility delivered in ``direction`` (kW, same shape): up = baseline − metered, down = the opposite."""
    if direction not in ("up", "down"):
        raise ValidationError(
            "delivered flexibility", [Problem("direction", "direction", f"not up/down: {direction!r}")]
        )
    diff = np.asarray(baseline_kw, dtype=float) - np.asarray(metered_kw, dtype=float)
    return diff if direction == "up" else -diff


def activation_amounts(
    ordered_kwh: np.ndarray,
    delivered_kwh: np.ndarray,
    price_eur_per_mwh: float | np.ndarray,
    penalty_eur_per_mwh: float | np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """(activation payment, penalty) in EUR per period, both >= 0; see the module docstring."""
    ordered = np.asarray(ordered_kwh, dtype=float)
    delivered = np.asarray(delivered_kwh, dtype=float)
    paid = np.asarray(price_eur_per_mwh) * np.clip(delivered, 0.0, ordered) / 1000.0
    penalty = np.asarray(penalty_eur_per_mwh) * np.maximum(ordered - delivered, 0.0) / 1000.0
    return paid, penalty


# ── the document ──────────────────────────────────────────────────────────────────────────────

_ID = Field(min_length=1)


class Participant(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str = _ID
    role: Literal["DSO", "TSO", "BRP", "aggregator", "prosumer", "market_operator"]


class Meter(BaseModel):
    """A metered connection point and the BRP whose perimeter it is in (none: no BRP correction)."""

    model_config = ConfigDict(extra="forbid")
    id: str = _ID
    brp: str | None = None


class Reservation(BaseModel):
    """Capacity held available for the buyer over ``[start, end)``; paid per MW and hour."""

    model_config = ConfigDict(extra="forbid")
    id: str = _ID
    buyer: str
    seller: str
    direction: Direction = "up"
    start: str
    end: str
    reserved_kw: float = Field(gt=0)
    price_eur_per_mw_h: float = Field(ge=0)


class Activation(BaseModel):
    """An accepted order to deliver ``power_kw`` in ``direction`` over ``[start, end)`` from ``meters``."""

    model_config = ConfigDict(extra="forbid")
    id: str = _ID
    buyer: str
    seller: str
    direction: Direction
    start: str
    end: str
    power_kw: float = Field(gt=0)
    price_eur_per_mwh: float = Field(ge=0)
    penalty_eur_per_mwh: float = Field(0.0, ge=0)
    meters: list[str] = Field(min_length=1)
    brp_correction: bool = True


class SettlementDocument(BaseModel):
    """What is settled: who, which meters, which reservations and activations, at which transfer price."""

    model_config = ConfigDict(extra="forbid")
    participants: list[Participant]
    meters: list[Meter]
    reservations: list[Reservation] = []
    activations: list[Activation] = []
    transfer_price_eur_per_mwh: float | list[float] = 0.0


# ── validation ────────────────────────────────────────────────────────────────────────────────


def _span(grid: TimeGrid, start: str, end: str, oid: str, problems: list[Problem]) -> slice | None:
    try:
        lo, hi = to_utc(start), to_utc(end)
    except (TimeGridError, ValueError) as exc:
        problems.append(Problem(oid, "start/end", str(exc)))
        return None
    if hi <= lo:
        problems.append(Problem(oid, "end", f"{end} is not after start {start}"))
        return None
    if lo < grid.start or hi > grid.end:
        problems.append(
            Problem(oid, "start/end", f"[{lo}, {hi}) is outside the metered data [{grid.start}, {grid.end})")
        )
        return None
    a, b = ((t - grid.start).total_seconds() / grid.step_s for t in (lo, hi))
    if a != int(a) or b != int(b):
        problems.append(Problem(oid, "start/end", f"not on the {grid.step_s} s settlement periods"))
        return None
    return slice(int(a), int(b))


def validate_settlement(doc: SettlementDocument, grid: TimeGrid, meter_ids: list[str]) -> list[Problem]:
    """Every problem of ``doc`` against meter data on ``grid`` (unknown parties or meters, spans, overlaps)."""
    problems: list[Problem] = []
    roles = {p.id: p.role for p in doc.participants}
    if len(roles) != len(doc.participants):
        problems.append(Problem("participants", "id", "ids must be unique"))
    known = set(meter_ids)
    for meter in doc.meters:
        if meter.id not in known:
            problems.append(Problem(f"meter {meter.id}", "id", "no metered data for it"))
        if meter.brp is not None and roles.get(meter.brp) != "BRP":
            problems.append(
                Problem(f"meter {meter.id}", "brp", f"{meter.brp!r} is not a participant with role BRP")
            )
    orders: list[Reservation | Activation] = [*doc.reservations, *doc.activations]
    if len({o.id for o in orders}) != len(orders):
        problems.append(Problem("orders", "id", "reservation and activation ids must be unique"))
    for o in orders:
        for side in ("buyer", "seller"):
            if getattr(o, side) not in roles:
                problems.append(Problem(o.id, side, f"unknown participant {getattr(o, side)!r}"))
        if o.buyer == o.seller:
            problems.append(Problem(o.id, "seller", "buyer and seller are the same participant"))
        _span(grid, o.start, o.end, o.id, problems)
    # a meter in two activations at once: its delivered energy cannot be told apart
    busy = {m: np.zeros(grid.n, dtype=bool) for m in meter_ids}
    for a in doc.activations:
        unknown = sorted(set(a.meters) - known)
        if unknown:
            problems.append(Problem(a.id, "meters", f"no metered data for {unknown}"))
        span = _span(grid, a.start, a.end, a.id, [])
        for m in set(a.meters) & known:
            if span is not None and busy[m][span].any():
                problems.append(
                    Problem(a.id, "meters", f"meter {m!r} is in another activation at the same time")
                )
            elif span is not None:
                busy[m][span] = True
    if isinstance(doc.transfer_price_eur_per_mwh, list) and len(doc.transfer_price_eur_per_mwh) != grid.n:
        problems.append(
            Problem(
                "transfer_price_eur_per_mwh",
                "length",
                f"{len(doc.transfer_price_eur_per_mwh)} values for {grid.n} periods",
            )
        )
    return problems


# ── settlement ────────────────────────────────────────────────────────────────────────────────


@dataclass(frozen=True, eq=False)
class Settlement:
    """The transfers (``lines``), one summary row per activation, and views per participant.

    ``lines``: period_start_utc, item, order_id, payer, payee, energy_kwh, price, price_unit,
    amount_eur (payer → payee; negative = the other way). ``activations``: order_id, buyer,
    seller, direction, ordered_kwh, delivered_kwh, performance_ratio, activation_eur, penalty_eur.
    """

    lines: pd.DataFrame
    activations: pd.DataFrame
    roles: dict[str, str]

    def statements(self, period: str | None = None) -> pd.DataFrame:
        """Per participant, period, item and counterparty: energy_kwh and amount_eur (+ = receives).

        ``period``: None keeps the settlement periods (ISPs); a pandas frequency (``"D"``, ``"MS"``)
        sums them into UTC days, months, …
        """
        lines = self.lines
        payee = lines.assign(participant=lines.payee, counterparty=lines.payer)
        payer = lines.assign(
            participant=lines.payer,
            counterparty=lines.payee,
            amount_eur=-lines.amount_eur,
            energy_kwh=-lines.energy_kwh,
        )
        both = pd.concat([payee, payer], ignore_index=True)
        if period is not None:
            start = both.period_start_utc.dt.tz_convert("UTC").dt.tz_localize(None).dt.to_period(period)
            both["period_start_utc"] = start.dt.start_time.dt.tz_localize("UTC")
        keys = ["participant", "period_start_utc", "item", "counterparty"]
        out = both.groupby(keys, sort=True, as_index=False)[["energy_kwh", "amount_eur"]].sum()
        out.insert(1, "role", out.participant.map(self.roles))
        return out

    def totals(self) -> pd.DataFrame:
        """Net amount per participant and item over the whole settlement (+ = receives)."""
        s = self.statements()
        table = s.pivot_table(
            index="participant", columns="item", values="amount_eur", aggfunc="sum", fill_value=0.0
        )
        table["net_eur"] = table.sum(axis=1)
        return table

    def write_csv(self, path: str | Path, period: str | None = None) -> Path:
        """Write :meth:`statements` as CSV (times in ISO 8601 UTC); returns the path."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        out = self.statements(period)
        out["period_start_utc"] = out.period_start_utc.dt.strftime("%Y-%m-%dT%H:%M:%SZ")
        out.to_csv(path, index=False, float_format="%.10g")
        return path


COLUMNS = [
    "period_start_utc",
    "item",
    "order_id",
    "payer",
    "payee",
    "energy_kwh",
    "price",
    "price_unit",
    "amount_eur",
]


def _lines(
    t: pd.DatetimeIndex, item: str, oid: str, payer: str, payee: str, energy, price, unit: str, amount
) -> pd.DataFrame:
    """Transfers payer → payee, one per period of ``t``; scalars are repeated."""
    n = len(t)
    cols = (t, item, oid, payer, payee, *(np.broadcast_to(np.asarray(v, float), n) for v in (energy, price)))
    return pd.DataFrame(
        dict(zip(COLUMNS, (*cols, unit, np.broadcast_to(np.asarray(amount, float), n)), strict=True))
    )


@dataclass(frozen=True)
class _Data:
    """Settlement inputs checked and looked up once."""

    grid: TimeGrid
    base: np.ndarray
    meas: np.ndarray
    row: dict[str, int]
    brp_of: dict[str, str | None]
    transfer: np.ndarray  # EUR/MWh per period


def _activation(a: Activation, data: _Data) -> tuple[list[pd.DataFrame], dict]:
    """The transfers of one activation, and its summary row."""
    grid, h = data.grid, data.grid.step_h
    span = _span(grid, a.start, a.end, a.id, []) or slice(0, 0)  # validated before
    t = grid.index[span]
    rows = [data.row[m] for m in a.meters]
    moved_kwh = (data.base[rows, span] - data.meas[rows, span]) * h  # up-positive, per meter
    missing = np.argwhere(~np.isfinite(moved_kwh))
    if len(missing):
        i, k = missing[0]
        where = f"meter {a.meters[i]}"
        raise ValidationError("settlement", [Problem(a.id, where, f"no baseline or metered value at {t[k]}")])
    delivered = moved_kwh.sum(axis=0) * (1.0 if a.direction == "up" else -1.0)
    ordered = np.full(delivered.shape, a.power_kw * h)
    paid, penalty = activation_amounts(ordered, delivered, a.price_eur_per_mwh, a.penalty_eur_per_mwh)
    paid_kwh, short_kwh = np.clip(delivered, 0, ordered), np.maximum(ordered - delivered, 0)
    parts = [
        _lines(t, "activation", a.id, a.buyer, a.seller, paid_kwh, a.price_eur_per_mwh, "EUR/MWh", paid),
        _lines(t, "penalty", a.id, a.seller, a.buyer, short_kwh, a.penalty_eur_per_mwh, "EUR/MWh", penalty),
    ]
    if a.brp_correction:
        brps = np.array([data.brp_of.get(m) or "" for m in a.meters])
        price = data.transfer[span]
        for brp in sorted(set(brps) - {""}):
            energy = moved_kwh[brps == brp].sum(axis=0)
            amount = energy / 1000.0 * price
            parts.append(
                _lines(t, "imbalance_correction", a.id, a.seller, brp, energy, price, "EUR/MWh", amount)
            )
    summary = {
        "order_id": a.id,
        "buyer": a.buyer,
        "seller": a.seller,
        "direction": a.direction,
        "ordered_kwh": float(ordered.sum()),
        "delivered_kwh": float(delivered.sum()),
        "performance_ratio": float(delivered.sum()) / float(ordered.sum()),
        "activation_eur": float(paid.sum()),
        "penalty_eur": float(penalty.sum()),
    }
    return parts, summary


def settle(
    doc: SettlementDocument,
    grid: TimeGrid,
    meter_ids: list[str],
    baseline_kw: np.ndarray,
    metered_kw: np.ndarray,
) -> Settlement:
    """Settle ``doc`` on meter data (meters × periods of ``grid``, kW, rows in ``meter_ids`` order).

    Raises :class:`ValidationError` with every problem found (see :func:`validate_settlement`) or
    when a baseline is missing (NaN) for a meter and period being settled.
    """
    problems = validate_settlement(doc, grid, meter_ids)
    base, meas = (np.asarray(a, dtype=float) for a in (baseline_kw, metered_kw))
    for name, arr in (("baseline_kw", base), ("metered_kw", meas)):
        if arr.shape != (len(meter_ids), grid.n):
            problems.append(Problem(name, "shape", f"expected {(len(meter_ids), grid.n)}, got {arr.shape}"))
    if problems:
        raise ValidationError("settlement", problems)
    transfer = np.broadcast_to(np.asarray(doc.transfer_price_eur_per_mwh, dtype=float), (grid.n,))
    data = _Data(
        grid, base, meas, {m: i for i, m in enumerate(meter_ids)}, {m.id: m.brp for m in doc.meters}, transfer
    )
    parts, summary = [], []
    for r in doc.reservations:
        span = _span(grid, r.start, r.end, r.id, []) or slice(0, 0)
        amount = r.reserved_kw / 1000.0 * grid.step_h * r.price_eur_per_mw_h
        price = r.price_eur_per_mw_h
        parts.append(
            _lines(grid.index[span], "availability", r.id, r.buyer, r.seller, 0.0, price, "EUR/MW/h", amount)
        )
    for a in doc.activations:
        lines, row = _activation(a, data)
        parts += lines
        summary.append(row)
    if parts:
        lines_df = pd.concat(parts, ignore_index=True)
    else:
        empty = pd.DatetimeIndex([], tz="UTC")
        lines_df = _lines(empty, "", "", "", "", 0.0, 0.0, "", 0.0)
    return Settlement(lines_df, pd.DataFrame(summary), {p.id: p.role for p in doc.participants})


def _read_document(path: str | Path | dict) -> SettlementDocument:
    try:
        if isinstance(path, dict):
            return SettlementDocument.model_validate(path)
        try:
            text = Path(path).read_text()
        except OSError as exc:
            raise DataError(f"cannot read settlement document {path}: {exc.strerror or exc}") from None
        return SettlementDocument.model_validate_json(text)
    except PydanticError as exc:
        problems = [
            Problem("settlement document", ".".join(map(str, e["loc"])) or "(root)", e["msg"])
            for e in exc.errors()
        ]
        raise ValidationError(
            str(path) if not isinstance(path, dict) else "settlement document", problems
        ) from None


def settle_files(
    document: str | Path | dict,
    metered_csv: str | Path,
    baseline_csv: str | Path,
    out_csv: str | Path | None = None,
    period: str | None = None,
) -> Settlement:
    """Settle the JSON ``document`` on meter and baseline CSVs (same meters and times, see
    ``gridflex.market.baselines.files``); write the statements to ``out_csv`` when given."""
    doc = _read_document(document)
    metered = read_meter_csv(metered_csv)
    baseline = read_meter_csv(baseline_csv)
    if baseline.grid != metered.grid or baseline.meter_ids != metered.meter_ids:
        raise DataError(f"{baseline_csv}: meters and times must match {metered_csv}")
    result = settle(doc, metered.grid, metered.meter_ids, baseline.kw, metered.kw)
    if out_csv is not None:
        result.write_csv(out_csv, period)
    return result
