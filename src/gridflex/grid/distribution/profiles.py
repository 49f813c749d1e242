"""Profiles (normalised factors per profile name) and the per-element time series a power flow consumes.

A profile column is named ``<quantity>:<profile>``, with quantity ``load_p``, ``load_q``, ``sgen`` or
``storage``, as SimBench organises them; an element's absolute power is its nominal ``p_mw``/``q_mvar``
times the factor of its profile (1 when it has none). ``ElementSeries`` holds the result in the house
sign: positive = consumption, per element (loads, sgens, storage, in the network's order).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np

from gridflex.errors import Problem, TimeGridError, ValidationError
from gridflex.grid.distribution.model import ELEMENT_KINDS, DistributionNetwork


@dataclass
class Profiles:
    """Normalised profile factors on a regular grid: ``values[t, j]`` for column ``names[j]``."""

    start: datetime  # naive, UTC
    step_min: int
    names: list[str]
    values: np.ndarray  # (periods, profiles)

    @property
    def periods(self) -> int:
        return int(self.values.shape[0])

    def column(self, name: str) -> int | None:
        return self._index.get(name)

    @property
    def _index(self) -> dict[str, int]:
        return {n: j for j, n in enumerate(self.names)}

    def series(
        self, net: DistributionNetwork, start: datetime | None = None, periods: int | None = None
    ) -> ElementSeries:
        """Absolute active and reactive consumption of every element from ``start`` for ``periods``."""
        t0 = 0 if start is None else self.period_of(start)
        n = self.periods - t0 if periods is None else periods
        if n <= 0 or t0 + n > self.periods:
            raise TimeGridError(
                f"{n} periods from {self.time(t0):%Y-%m-%d %H:%M} leave the profiles "
                f"({self.start:%Y-%m-%d %H:%M}, {self.periods} periods of {self.step_min} min)"
            )
        window = self.values[t0 : t0 + n]
        p_cols, q_cols, p_nom, q_nom = self._element_columns(net)
        ones = np.ones((n, 1))
        ext = np.concatenate([window, ones], axis=1)  # column -1: constant 1 for elements without profile
        sign = net.element_sign()
        p = ext[:, p_cols]
        p *= p_nom * sign  # in place: a year of a feeder is ~70 MB per quantity
        q = ext[:, q_cols]
        q *= q_nom * sign
        return ElementSeries(self.time(t0), self.step_min, net.element_names(), p, q)

    def _element_columns(self, net: DistributionNetwork) -> tuple[np.ndarray, ...]:
        idx = self._index
        p_cols, q_cols = [], []
        for kind in ELEMENT_KINDS:
            for prof in net.tables[kind].profile:
                if kind == "load":
                    p_cols.append(idx.get(f"load_p:{prof}", -1))
                    q_cols.append(idx.get(f"load_q:{prof}", -1))
                else:
                    # SimBench gives sgens and storage an active-power profile only; q stays nominal
                    p_cols.append(idx.get(f"{kind}:{prof}", -1))
                    q_cols.append(-1)
        p_nom = np.concatenate([net.tables[k].p_mw for k in ELEMENT_KINDS]).astype(float)
        q_nom = np.concatenate([net.tables[k].q_mvar for k in ELEMENT_KINDS]).astype(float)
        return np.array(p_cols, dtype=np.int64), np.array(q_cols, dtype=np.int64), p_nom, q_nom

    def time(self, t: int) -> datetime:
        return self.start + timedelta(minutes=self.step_min * t)

    def period_of(self, when: datetime) -> int:
        minutes = (when - self.start).total_seconds() / 60
        if minutes % self.step_min or not 0 <= minutes < self.periods * self.step_min:
            raise TimeGridError(
                f"{when:%Y-%m-%d %H:%M} is not a period of the profiles ({self.start:%Y-%m-%d %H:%M}, "
                f"{self.periods} periods of {self.step_min} min)"
            )
        return int(minutes // self.step_min)


def flat_profiles(start: datetime, periods: int, step_min: int = 15) -> Profiles:
    """No profile at all: every element at its nominal power in every period."""
    return Profiles(start=start, step_min=step_min, names=[], values=np.zeros((periods, 0)))


@dataclass
class ElementSeries:
    """Active and reactive consumption (MW, Mvar; positive = consumption) per period and element."""

    start: datetime
    step_min: int
    names: np.ndarray
    p_mw: np.ndarray  # (periods, elements)
    q_mvar: np.ndarray
    notes: list[str] = field(default_factory=list)  # what changed them (stress scenarios), for reports

    def __post_init__(self) -> None:
        if self.p_mw.shape != self.q_mvar.shape or self.p_mw.shape[1:] != (len(self.names),):
            raise ValidationError(
                "element series",
                [
                    Problem(
                        "series",
                        "shape",
                        f"p {self.p_mw.shape}, q {self.q_mvar.shape}, {len(self.names)} names",
                    )
                ],
            )

    @property
    def periods(self) -> int:
        return int(self.p_mw.shape[0])

    def times(self) -> list[datetime]:
        return [self.start + timedelta(minutes=self.step_min * t) for t in range(self.periods)]

    def window(self, t0: int, n: int) -> ElementSeries:
        return ElementSeries(
            self.start + timedelta(minutes=self.step_min * t0),
            self.step_min,
            self.names,
            self.p_mw[t0 : t0 + n],
            self.q_mvar[t0 : t0 + n],
            list(self.notes),
        )

    def with_changes(self, delta_p_mw: np.ndarray, note: str = "") -> ElementSeries:
        """The same series plus a change of active consumption (periods × elements, MW)."""
        notes = [*self.notes, note] if note else list(self.notes)
        return ElementSeries(
            self.start, self.step_min, self.names, self.p_mw + delta_p_mw, self.q_mvar, notes
        )
