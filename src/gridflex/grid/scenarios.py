"""Seeded scenarios of load and renewable output (paper eqs. 1-2), vectorized over scenarios.

Load: ``P_s = P_expected · (1 + ΔP)`` with ``ΔP ~ N(μ, σ²)`` per node and period, where the expected
load is the day's per-unit shape × each node's nominal load × the growth factor, and μ, σ are
fractions of that expected load. Fluctuations are equicorrelated across nodes (correlation ρ, as
``√(1−ρ)·e_node + √ρ·e_common``: one common normal per period) and optionally AR(1) in time (lag-1
correlation φ, with stationary variance σ²). Negative loads are clipped to zero.

Renewables: ``P = clip(forecast + ε, 0, capacity)`` with ``ε ~ N(0, (σ·capacity)²)``, optionally AR(1)
in time; a statistical model of the forecast error, as the paper asks.

Every scenario has its own random stream, ``SeedSequence(seed, spawn_key=(s,))`` for scenario ``s``
(decision 0028): scenario ``s`` of a seed is the same whether scenarios 0…n are drawn at once or a
worker draws scenarios ``first … first + n − 1`` of a chunk. So a task ships the seed and its first
scenario, not the arrays (:class:`ScenarioSeed`), and the results depend on the seed only, never on
the workers, the chunking, or local vs Dask. The transforms after the draws are elementwise (no BLAS
product), so they give the same bits for any batch of scenarios.
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


@dataclass(frozen=True)
class ScenarioSeed:
    """Scenarios ``first … first + n − 1`` of ``seed``, not drawn yet: what a task ships to a worker."""

    seed: int
    n: int
    first: int = 0

    def take(self, idx: slice) -> ScenarioSeed:
        """The scenarios ``idx`` (a step-1 slice) of these, still undrawn."""
        a, b, _ = idx.indices(self.n)
        return ScenarioSeed(self.seed, max(0, b - a), self.first + a)

    def draw(
        self, study: Study | str | Path, nominal_load_mw: np.ndarray, outage_rate: np.ndarray | None = None
    ) -> Scenarios:
        return generate_scenarios(study, nominal_load_mw, self.n, self.seed, outage_rate, first=self.first)


def scenario_rng(seed: int, s: int) -> np.random.Generator:
    """The random stream of scenario ``s`` of ``seed`` (independent streams, by SeedSequence spawning)."""
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(s,)))


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


def correlated_normals(raw: np.ndarray, rho: float, phi: float = 0.0) -> np.ndarray:
    """Standard normals (S, T, N) from ``raw`` (S, T, N + 1; the last column is the common factor):
    correlation ``rho`` between nodes, lag-1 ``phi`` in time."""
    eps = np.sqrt(1.0 - rho) * raw[:, :, :-1] + np.sqrt(rho) * raw[:, :, -1:]
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
    first: int = 0,
) -> Scenarios:
    """Scenarios ``first … first + n_scenarios − 1`` of ``seed`` (the model: the module docstring).

    ``outage_rate`` (one probability per unit, :func:`gridflex.grid.study.unit_data`) draws, last in
    each scenario's stream, which units are out for the whole day (the paper's shutdown rate); the
    load and renewable draws come first, so they do not change when outages are added.
    """
    study = as_study(study)
    base = expected_load_mw(study, nominal_load_mw)
    t, n = base.shape
    forecast = expected_renewable_mw(study)
    n_ren = 0 if forecast is None else forecast.shape[1]
    rate = None
    if outage_rate is not None and np.any(np.asarray(outage_rate) > 0):
        rate = np.asarray(outage_rate, dtype=float)
    raw = np.empty((n_scenarios, t, n + 1))
    eps = np.empty((n_scenarios, t, n_ren))
    u = np.empty((n_scenarios, 0 if rate is None else rate.size))
    for i in range(n_scenarios):  # one stream per scenario: the raw draws only, the rest vectorized
        rng = scenario_rng(seed, first + i)
        raw[i] = rng.standard_normal((t, n + 1))
        if n_ren:
            eps[i] = rng.standard_normal((t, n_ren))
        if rate is not None:
            u[i] = rng.random(rate.size)
    noise = study.load.noise
    z = correlated_normals(raw, noise.correlation, noise.autocorrelation)
    load = np.maximum(base[None] * (1.0 + noise.mu_pu + noise.sigma_pu * z), 0.0)

    ren = None
    if forecast is not None:
        cap = np.array([r.capacity_mw for r in study.renewables])
        sig = np.array([r.error_sigma_pu for r in study.renewables]) * cap
        for j, r in enumerate(study.renewables):  # per plant: its own autocorrelation
            eps[:, :, j] = _ar1(eps[:, :, j : j + 1], r.error_autocorrelation)[:, :, 0]
        ren = np.clip(forecast[None] + sig * eps, 0.0, cap)
    online = None if rate is None else u >= rate[None]
    return Scenarios(load, ren, base, forecast, online)
