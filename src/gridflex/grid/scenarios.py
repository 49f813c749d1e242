"""Seeded scenarios of load and renewable output (paper eqs. 1-2), vectorized over scenarios.

Load: ``P_s = P_expected · (1 + ΔP)`` with ``ΔP ~ N(μ, σ²)`` per node and period, where the expected
load is the day's per-unit shape × each node's nominal load × the growth factor, and μ, σ are
fractions of that expected load. Fluctuations are equicorrelated across nodes (correlation ρ, through
the Cholesky factor of ``(1-ρ)·I + ρ·11ᵀ``) and optionally AR(1) in time (lag-1 correlation φ, with
stationary variance σ²). Negative loads are clipped to zero.

Renewables: ``P = clip(forecast + ε, 0, capacity)`` with ``ε ~ N(0, (σ·capacity)²)``, optionally AR(1)
in time; a statistical model of the forecast error, as the paper asks.

All draws are made up front from one ``numpy.random.Generator(seed)``, so the scenarios depend on the
seed only, never on how the work is later split over workers.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from gridflex.grid.study import Study, as_study


@dataclass(frozen=True)
class Scenarios:
    """S scenarios of T periods: load per load point and renewable availability per plant."""

    load_mw: np.ndarray  # (S, T, n_loads)
    renewable_mw: np.ndarray | None  # (S, T, n_renewables) or None without renewables
    expected_load_mw: np.ndarray  # (T, n_loads)
    expected_renewable_mw: np.ndarray | None  # (T, n_renewables)
    online: np.ndarray | None = None  # (S, n_units) bool: units in service; None without outages

    @property
    def n(self) -> int:
        return int(self.load_mw.shape[0])

    @property
    def n_periods(self) -> int:
        return int(self.load_mw.shape[1])

    def take(self, idx: slice | np.ndarray) -> Scenarios:
        """A subset of scenarios (same expected values)."""
        ren = None if self.renewable_mw is None else self.renewable_mw[idx]
        on = None if self.online is None else self.online[idx]
        return Scenarios(self.load_mw[idx], ren, self.expected_load_mw, self.expected_renewable_mw, on)


def equicorrelation_cholesky(n: int, rho: float) -> np.ndarray:
    """Lower Cholesky factor of the n×n matrix with 1 on the diagonal and ``rho`` elsewhere."""
    c = (1.0 - rho) * np.eye(n) + rho * np.ones((n, n))
    return np.linalg.cholesky(c)


def _ar1(eps: np.ndarray, phi: float) -> np.ndarray:
    """AR(1) along axis 1 of standard-normal innovations, keeping unit stationary variance."""
    if phi == 0.0:
        return eps
    out = np.empty_like(eps)
    out[:, 0] = eps[:, 0]
    k = np.sqrt(1.0 - phi * phi)
    for t in range(1, eps.shape[1]):  # T steps, vectorized over scenarios and nodes
        out[:, t] = phi * out[:, t - 1] + k * eps[:, t]
    return out


def correlated_normals(
    rng: np.random.Generator, n_scenarios: int, n_periods: int, n_nodes: int, rho: float, phi: float = 0.0
) -> np.ndarray:
    """Standard normals (S, T, N): correlation ``rho`` between nodes, lag-1 ``phi`` in time."""
    eps = rng.standard_normal((n_scenarios, n_periods, n_nodes))
    if n_nodes > 1 and rho > 0.0:
        eps = eps @ equicorrelation_cholesky(n_nodes, rho).T
    return _ar1(eps, phi)


def expected_load_mw(study: Study | str | Path, nominal_load_mw: np.ndarray) -> np.ndarray:
    """(T, n_loads) expected load: shape × nominal × growth."""
    study = as_study(study)
    shape = study.load_shape_pu()
    return study.load.growth * shape[:, None] * np.asarray(nominal_load_mw, dtype=float)[None, :]


def expected_renewable_mw(study: Study | str | Path) -> np.ndarray | None:
    """(T, n_renewables) forecast output, or None without renewables."""
    study = as_study(study)
    if not study.renewables:
        return None
    t = study.n_periods
    cols = [
        r.capacity_mw * np.broadcast_to(np.asarray(r.profile_pu, dtype=float), (t,)) for r in study.renewables
    ]
    return np.stack(cols, axis=1)


def generate_scenarios(
    study: Study | str | Path,
    nominal_load_mw: np.ndarray,
    n_scenarios: int,
    seed: int,
    outage_rate: np.ndarray | None = None,
) -> Scenarios:
    """``n_scenarios`` seeded scenarios of the study's day (see the module docstring for the model).

    ``outage_rate`` (one probability per unit, :func:`gridflex.grid.study.unit_data`) draws, last,
    which units are out for the whole day in each scenario (the paper's shutdown rate); the load
    and renewable draws come first, so they do not change when outages are added.
    """
    study = as_study(study)
    rng = np.random.default_rng(seed)
    base = expected_load_mw(study, nominal_load_mw)
    t, n = base.shape
    noise = study.load.noise
    z = correlated_normals(rng, n_scenarios, t, n, noise.correlation, noise.autocorrelation)
    load = np.maximum(base[None] * (1.0 + noise.mu_pu + noise.sigma_pu * z), 0.0)

    forecast = expected_renewable_mw(study)
    ren = None
    if forecast is not None:
        cap = np.array([r.capacity_mw for r in study.renewables])
        sig = np.array([r.error_sigma_pu for r in study.renewables]) * cap
        eps = rng.standard_normal((n_scenarios, t, len(cap)))
        for j, r in enumerate(study.renewables):  # per plant: its own autocorrelation
            eps[:, :, j] = _ar1(eps[:, :, j : j + 1], r.error_autocorrelation)[:, :, 0]
        ren = np.clip(forecast[None] + sig * eps, 0.0, cap)
    online = None
    if outage_rate is not None and np.any(np.asarray(outage_rate) > 0):
        rate = np.asarray(outage_rate, dtype=float)
        online = rng.random((n_scenarios, rate.size)) >= rate[None]
    return Scenarios(load, ren, base, forecast, online)
