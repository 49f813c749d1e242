"""Noise parameters of the scenario models estimated from historical series (paper §4.1: "a model
was established based on the statistical characteristics of the historical data").

Load (``load.noise.fit_csv``): a CSV with a column ``load_mw`` (the system or a node's load, one row
per period of the study's step, whole days) and optionally ``expected_mw`` (the forecast or baseline
of each row). Without ``expected_mw`` the baseline is the mean day: the mean of each period of the
day over all days of the history. The relative deviation ``r = load / expected − 1`` gives
``mu_pu = mean(r)``, ``sigma_pu = std(r)`` (n − 1) and ``autocorrelation`` = the lag-1 correlation
of ``r − mu`` within the series (clipped to [0, 0.99]: the scenario model is AR(1) with φ ≥ 0).

Renewables (``renewables[].fit_csv``): columns ``actual_pu`` and ``forecast_pu`` (fractions of the
plant's capacity); the error ``actual − forecast`` gives ``error_sigma_pu`` and
``error_autocorrelation`` the same way. The correlation between load nodes cannot be seen in one
series and stays as given.

Either CSV may carry a ``time`` column (timestamps of the rows). Then the rows' step (the most common
difference; gaps such as left-out weekends are allowed) must be the study's ``dt_h``: a 15-min history
read by an hourly study would otherwise give a quarter-hour autocorrelation and a 6-hour "day".
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from gridflex.errors import Problem, ValidationError

if TYPE_CHECKING:  # pragma: no cover
    from gridflex.grid.study import Study

MAX_PHI = 0.99


@dataclass(frozen=True)
class NoiseFit:
    """Fitted parameters of a relative (load) or absolute (renewable, per unit) deviation series."""

    mu: float
    sigma: float
    autocorrelation: float
    n: int


def fit_series(dev: np.ndarray) -> NoiseFit:
    """Mean, standard deviation (n − 1) and lag-1 autocorrelation (clipped to [0, 0.99]) of ``dev``."""
    d = np.asarray(dev, dtype=float)
    mu = float(d.mean())
    sigma = float(d.std(ddof=1))
    c = d - mu
    denom = float((c * c).sum())
    phi = float((c[1:] * c[:-1]).sum() / denom) if denom > 0 else 0.0
    return NoiseFit(mu, sigma, float(np.clip(phi, 0.0, MAX_PHI)), int(d.size))


def _check_step(time: pd.Series, dt_h: float, path: Path, bad: Callable[[str], ValidationError]) -> None:
    try:
        t = pd.to_datetime(time, utc=True, format="ISO8601")
    except (ValueError, TypeError) as exc:
        raise bad(f"{path}: column time is not timestamps ({exc})") from None
    steps = t.diff().dropna()
    if steps.empty:
        return
    step_h = steps.mode().iloc[0].total_seconds() / 3600
    if abs(step_h - dt_h) > 1e-6 * dt_h:
        raise bad(
            f"{path}: rows are {step_h * 60:g} min apart (column time), the study's dt_h is {dt_h * 60:g} min"
        )


def _read(
    path: Path,
    columns: tuple[str, ...],
    optional: tuple[str, ...],
    owner: str,
    field: str,
    dt_h: float | None = None,
) -> pd.DataFrame:
    def bad(msg: str) -> ValidationError:
        return ValidationError(owner, [Problem(owner, field, msg)])

    try:
        df = pd.read_csv(path)
    except (OSError, ValueError) as exc:
        raise bad(f"cannot read {path}: {exc}") from None
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise bad(f"{path} has no column {', '.join(missing)} (columns: {', '.join(map(str, df.columns))})")
    if dt_h is not None and "time" in df.columns:
        _check_step(df["time"], dt_h, path, bad)
    keep = [c for c in (*columns, *optional) if c in df.columns]
    values = df[keep].apply(pd.to_numeric, errors="coerce")
    if values.isna().to_numpy().any() or not np.isfinite(values.to_numpy()).all():
        row = int(np.flatnonzero(~np.isfinite(values.to_numpy(dtype=float)).all(axis=1))[0])
        raise bad(f"{path}: row {row + 2} is not a finite number in {', '.join(keep)}")
    if len(values) < 3:
        raise bad(f"{path}: {len(values)} rows; need at least 3 to fit a noise model")
    return values


def fit_load_noise(
    path: str | Path,
    periods_per_day: int,
    owner: str = "study",
    field: str = "load.noise.fit_csv",
    dt_h: float | None = None,
) -> NoiseFit:
    """Fit ``load.noise`` (μ, σ, autocorrelation) from a CSV of historical load (module docstring)."""
    df = _read(Path(path), ("load_mw",), ("expected_mw",), owner, field, dt_h)
    load = df["load_mw"].to_numpy(dtype=float)
    if "expected_mw" in df.columns:
        expected = df["expected_mw"].to_numpy(dtype=float)
    else:
        n = len(load)
        if n % periods_per_day or n // periods_per_day < 2:
            raise ValidationError(owner, [Problem(owner, field, (
                f"{path}: {n} rows are not whole days of {periods_per_day} periods (two or more); "
                "give whole days or an expected_mw column"))])  # fmt: skip
        days = load.reshape(-1, periods_per_day)
        expected = np.tile(days.mean(axis=0), days.shape[0])
    if (expected <= 0).any():
        raise ValidationError(
            owner, [Problem(owner, field, f"{path}: the expected load must be > 0 in every row")]
        )
    return fit_series(load / expected - 1.0)


def fit_forecast_error(
    path: str | Path, owner: str = "study", field: str = "renewables.fit_csv", dt_h: float | None = None
) -> NoiseFit:
    """Fit a renewable's forecast error (σ and autocorrelation, per unit of capacity) from a CSV."""
    df = _read(Path(path), ("actual_pu", "forecast_pu"), (), owner, field, dt_h)
    return fit_series(df["actual_pu"].to_numpy(dtype=float) - df["forecast_pu"].to_numpy(dtype=float))


def apply_fits(study: Study, owner: str = "study", prefix: str = "") -> Study:
    """The study with every ``fit_csv`` replaced by the parameters fitted from it (paths relative to it)."""
    base = study.base_dir()

    def where(p: str) -> Path:
        q = Path(p)
        return q if q.is_absolute() else base / q

    noise = study.load.noise
    update: dict[str, object] = {}
    fits: dict[str, dict[str, float]] = {}
    if noise.fit_csv is not None:
        f = fit_load_noise(
            where(noise.fit_csv), study.n_periods, owner, f"{prefix}load.noise.fit_csv", study.dt_h
        )
        new_noise = noise.model_copy(
            update={"mu_pu": f.mu, "sigma_pu": f.sigma, "autocorrelation": f.autocorrelation}
        )
        update["load"] = study.load.model_copy(update={"noise": new_noise})
        fits["load"] = {"mu_pu": f.mu, "sigma_pu": f.sigma, "autocorrelation": f.autocorrelation, "rows": f.n}
    if any(r.fit_csv for r in study.renewables):
        ren = []
        for i, r in enumerate(study.renewables):
            if r.fit_csv is None:
                ren.append(r)
                continue
            f = fit_forecast_error(where(r.fit_csv), owner, f"{prefix}renewables.{i}.fit_csv", study.dt_h)
            ren.append(
                r.model_copy(update={"error_sigma_pu": f.sigma, "error_autocorrelation": f.autocorrelation})
            )
            fits[f"renewables.{r.id}"] = {
                "error_sigma_pu": f.sigma,
                "error_autocorrelation": f.autocorrelation,
                "rows": f.n,
            }
        update["renewables"] = ren
    if not update:
        return study
    out = study.model_copy(update=update)
    out._base_dir = study._base_dir
    out._fits = fits
    return out
