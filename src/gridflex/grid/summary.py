"""What an evaluation gives: each state's balance matrix and scores, and ``summary.json``.

``z(s, t)`` is 1 for a balanced period, 0 for one out of balance, :data:`UNDECIDED` for one the
MILP time limit left open. Scores (paper eq. 17): per period ``100·mean_s [z = 1]``, per scenario
``100·mean_t [z = 1]``, overall ``100·mean [z = 1]``; undecided periods count as not balanced, and
``score_if_undecided_balanced`` gives the other bound. The summary adds Figure 4's improvement
between states, Figure 6's capacity headline and bands, and the economic model
(:mod:`gridflex.grid.economics`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from gridflex.grid.capacity import Capacity
from gridflex.grid.economics import Sensitivity, economics, sensitivity_dict
from gridflex.grid.study import Study

STATES = ("simulated", "current", "future")
UNDECIDED = -1
"""z of a period the solver's time limit left open: out of balance in the best schedule found, but
not provably (see :func:`gridflex.grid.evaluation.certain_imbalance`); neither counted as balanced nor as real imbalance."""


# ---- results ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StateResult:
    """One state's balance matrix and scores."""

    name: str
    storage_scale: float
    z: np.ndarray  # (S, T) int8
    shed_mwh: np.ndarray  # (S, T) energy not served per period
    spill_mwh: np.ndarray  # (S, T) forced over-generation per period
    cost_eur: np.ndarray  # (S,)
    solved: np.ndarray  # (S,) bool: the OPF reached optimality
    solver_time_s: float
    limited: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))  # (S,) stopped by the limit

    @property
    def score_per_period(self) -> np.ndarray:
        return 100.0 * (self.z == 1).mean(axis=0)

    @property
    def score_per_scenario(self) -> np.ndarray:
        return 100.0 * (self.z == 1).mean(axis=1)

    @property
    def score(self) -> float:
        """Share of balanced periods, %; undecided periods count as not balanced (a lower bound)."""
        return float(100.0 * (self.z == 1).mean())

    @property
    def score_if_undecided_balanced(self) -> float:
        """The upper bound: undecided periods counted as balanced (equal to ``score`` without any)."""
        return float(100.0 * (self.z != 0).mean())

    @property
    def undecided(self) -> int:
        return int((self.z == UNDECIDED).sum())

    def failing_periods(self) -> list[int]:
        """Periods (0-based) where at least one scenario is (provably) out of balance."""
        return [int(t) for t in np.flatnonzero((self.z == 0).any(axis=0))]


@dataclass
class EvaluationResult:
    """Everything ``gridflex evaluate`` writes."""

    study: Study
    n_scenarios: int
    seed: int
    states: dict[str, StateResult]
    sensitivity: Sensitivity
    capacity: Capacity
    timings: dict[str, float] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        """The content of summary.json."""
        states = {}
        for name, st in self.states.items():
            states[name] = {
                "storage_scale": st.storage_scale,
                "score": round(st.score, 4),
                "score_per_period": [round(float(v), 4) for v in st.score_per_period],
                "failing_periods": st.failing_periods(),
                "scenarios_fully_balanced": int((st.z.min(axis=1) == 1).sum()),
                "solve_failures": int((~st.solved & ~st.limited).sum()),
                "solves_at_time_limit": int(st.limited.sum()),
                "undecided_periods": st.undecided,
                "score_if_undecided_balanced": round(st.score_if_undecided_balanced, 4),
                "shed_mwh_mean": float(st.shed_mwh.sum(axis=1).mean()),
                "spill_mwh_mean": float(st.spill_mwh.sum(axis=1).mean()),
                "cost_eur_mean": float(st.cost_eur[st.solved].mean()) if st.solved.any() else None,
            }
        s = self.study
        return {
            "study": s.name,
            "n_scenarios": self.n_scenarios,
            "seed": self.seed,
            "n_periods": s.n_periods,
            "dt_h": s.dt_h,
            "z_rule": f"z(s,t)=1 iff the OPF solved and shed+spill in period t <= {s.tolerance_mw} MW",
            "installed_storage_mwh": float(sum(x.energy_mwh for x in s.storage)),
            "installed_storage_mw": float(sum(x.power_mw for x in s.storage)),
            "solver": s.solver.model_dump(),
            "fitted_noise": s.fitted(),
            "states": states,
            "improvement": self.improvement(),
            "capacity": self.capacity_summary(),
            "economics": self.economics(),
            "timings_s": {k: round(v, 4) for k, v in self.timings.items()},
        }

    def improvement(self) -> dict[str, Any]:
        """Figure 4's shaded area: the per-period score gained by storage, current over simulated
        (and future over current), in score points; ``area_score_h`` integrates it over the day."""
        out: dict[str, Any] = {}
        for a, b in (("simulated", "current"), ("current", "future")):
            d = self.states[b].score_per_period - self.states[a].score_per_period
            out[f"{b}_over_{a}"] = {
                "per_period": [round(float(v), 4) for v in d],
                "mean_points": round(float(d.mean()), 4),
                "area_score_h": round(float(d.sum() * self.study.dt_h), 4),
                "best_period": int(np.argmax(d)),
            }
        return out

    def capacity_summary(self) -> dict[str, Any]:
        """Figure 6's headline numbers (mean available up/down of the system) and per-source bands:
        mean, min and max over the day of each source's total and available capacity, MW."""
        cap = self.capacity

        def band(v: np.ndarray) -> dict[str, float]:
            return {
                "mean": round(float(v.mean()), 3),
                "min": round(float(v.min()), 3),
                "max": round(float(v.max()), 3),
            }

        sources = {
            src: {
                kind: {"up_mw": band(table[src].up_mw), "down_mw": band(table[src].down_mw)}
                for kind, table in (("total", cap.total), ("available", cap.available))
            }
            for src in cap.total
        }
        av = cap.available["system"]
        return {
            "direction": "up = more power into the grid (less load or more generation), down = less",
            "rules": self.study.capacity.model_dump(),
            "mean_available_up_mw": round(float(av.up_mw.mean()), 3),
            "mean_available_down_mw": round(float(av.down_mw.mean()), 3),
            "sources": sources,
        }

    def economics(self) -> dict[str, Any]:
        """The economic model (paper eq. 38): see :func:`gridflex.grid.economics.economics`."""
        return economics(self.study, self.sensitivity)

    def sensitivity_dict(self) -> dict[str, Any]:
        """The content of sensitivity.json."""
        return sensitivity_dict(self.sensitivity, self.study, self.states["simulated"].score)
