"""The value of storage (paper eq. 38): a storage sweep and the fit ``score = β·ln(x) + γ``.

x is the installed storage energy in MWh, or the investment in EUR when
``sensitivity.investment_eur_per_mwh`` is set. Least squares on the sweep points that are *not
saturated* (score < 100 − ``sensitivity.saturation_eps``): saturated points are reported but left
out, because a logarithm cannot level off at 100. γ is the fitted score at x = 1, the same for every
log base; β for log10 is β·ln 10. With three or more points, 95 % confidence intervals of β and γ
come from the t distribution with n − 2 degrees of freedom, and the marginal benefit
dscore/dx = β/x is reported per MWh and per EUR.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    from gridflex.grid.study import Study


@dataclass(frozen=True)
class LogFit:
    """score = beta·ln(E) + gamma over the unsaturated points; None when fewer than 2 remain."""

    beta: float | None
    gamma: float | None
    r2: float | None
    n_points: int
    rule: str
    reason: str = ""
    beta_ci: tuple[float, float] | None = None  # 95 % confidence interval (t distribution, n − 2 dof)
    gamma_ci: tuple[float, float] | None = None
    beta_p_value: float | None = None  # two-sided test of β = 0

    @property
    def beta_log10(self) -> float | None:
        """β for the same curve written with log10: β·ln 10 (γ is the same: the score at x = 1)."""
        return None if self.beta is None else self.beta * float(np.log(10.0))

    @property
    def beta_log10_ci(self) -> tuple[float, float] | None:
        k = float(np.log(10.0))
        return None if self.beta_ci is None else (self.beta_ci[0] * k, self.beta_ci[1] * k)


@dataclass(frozen=True)
class Sensitivity:
    """The storage sweep: one point per scale."""

    scales: np.ndarray
    energy_mwh: np.ndarray
    x: np.ndarray  # E used in the fit (MWh or EUR)
    x_label: str
    score: np.ndarray
    n_scenarios: int
    saturated: np.ndarray  # bool
    fit: LogFit


def fit_log(x: np.ndarray, score: np.ndarray, saturation_eps: float = 0.05) -> tuple[LogFit, np.ndarray]:
    """Least squares ``score = β·ln(x) + γ`` on points with ``x > 0`` and ``score < 100 − eps``."""
    x = np.asarray(x, dtype=float)
    y = np.asarray(score, dtype=float)
    saturated = y >= 100.0 - saturation_eps
    use = (~saturated) & (x > 0)
    rule = (
        f"least squares on points with x > 0 and score < {100.0 - saturation_eps:g} "
        "(saturated points are left out: a logarithm cannot level off at 100)"
    )
    if len(np.unique(x[use])) < 2:
        reason = f"{int(use.sum())} unsaturated point(s) with distinct x; need 2"
        return LogFit(None, None, None, int(use.sum()), rule, reason), saturated
    lx = np.log(x[use])
    n = int(use.sum())
    if np.ptp(y[use]) <= 1e-9 * max(1.0, float(np.abs(y[use]).max())):
        # storage does not change the score here: β is 0, not a least-squares residue of 1e-15 that
        # a zero residual would turn into "significant" (p = 0)
        why = "the unsaturated points all have the same score: β = 0, no uncertainty to estimate"
        return LogFit(0.0, float(y[use].mean()), 1.0, n, rule, why), saturated
    a = np.vstack([lx, np.ones_like(lx)]).T
    (beta, gamma), *_ = np.linalg.lstsq(a, y[use], rcond=None)
    pred = beta * lx + gamma
    ss_res = float(((y[use] - pred) ** 2).sum())
    ss_tot = float(((y[use] - y[use].mean()) ** 2).sum())
    r2 = 1.0 - ss_res / ss_tot
    if n < 3:  # two points fit exactly: no residual to estimate the uncertainty from
        why = "confidence intervals need 3 or more unsaturated points"
        return LogFit(float(beta), float(gamma), r2, n, rule, why), saturated
    from scipy import stats

    s2 = ss_res / (n - 2)
    sxx = float(((lx - lx.mean()) ** 2).sum())
    se_b = float(np.sqrt(s2 / sxx))
    se_g = float(np.sqrt(s2 * (1.0 / n + lx.mean() ** 2 / sxx)))
    q = float(stats.t.ppf(0.975, n - 2))
    p = float(2.0 * stats.t.sf(abs(beta) / se_b, n - 2)) if se_b > 0 else 0.0
    return (
        LogFit(
            float(beta), float(gamma), r2, n, rule, "",
            (float(beta - q * se_b), float(beta + q * se_b)),
            (float(gamma - q * se_g), float(gamma + q * se_g)),
            p,
        ),
        saturated,
    )  # fmt: skip


def sweep(study: Study, score_by_scale: Mapping[float, float], n_scenarios: int) -> Sensitivity:
    """The sweep's points (storage × each scale, its score on ``n_scenarios``) and their fit."""
    e_inst = float(sum(x.energy_mwh for x in study.storage))
    a = np.array(sorted(score_by_scale), dtype=float)
    energy = a * e_inst
    price = study.sensitivity.investment_eur_per_mwh
    x = energy * price if price else energy
    label = "investment_eur" if price else "energy_mwh"
    score = np.array([score_by_scale[s] for s in a.tolist()], dtype=float)
    if len(a):
        fit, saturated = fit_log(x, score, study.sensitivity.saturation_eps)
    else:
        fit = LogFit(None, None, None, 0, "", "the study has no storage to sweep")
        saturated = np.zeros(0, dtype=bool)
    return Sensitivity(a, energy, x, label, score, n_scenarios, saturated, fit)


def economics(study: Study, sens: Sensitivity) -> dict[str, Any]:
    """The economic model (paper eq. 38) with its log base stated, β for ln and log10, 95 %
    confidence intervals, and the marginal benefit dscore/dE = β/E per MWh and per EUR."""
    f = sens.fit
    e_inst = float(sum(x.energy_mwh for x in study.storage))
    price = study.sensitivity.investment_eur_per_mwh
    out: dict[str, Any] = {
        "model": f"score = beta * log(x) + gamma, x = {sens.x_label}",
        "gamma_meaning": "the fitted score at x = 1 (the same for both bases)",
        "ln": {"beta": f.beta, "beta_ci95": f.beta_ci},
        "log10": {"beta": f.beta_log10, "beta_ci95": f.beta_log10_ci},
        "gamma": f.gamma,
        "gamma_ci95": f.gamma_ci,
        "beta_p_value": f.beta_p_value,
        "marginal_benefit": None,
    }
    if f.beta is not None and e_inst > 0:
        per_mwh = [f.beta / e if e > 0 else None for e in sens.energy_mwh.tolist()]
        out["marginal_benefit"] = {
            "unit": "score points per MWh of storage energy, and per EUR invested",
            "at_installed_per_mwh": f.beta / e_inst,
            "at_installed_per_eur": f.beta / (e_inst * price) if price else None,
            "per_point": [
                {
                    "scale": float(a),
                    "per_mwh": m,
                    "per_eur": (m / price if (m is not None and price) else None),
                }
                for a, m in zip(sens.scales.tolist(), per_mwh, strict=True)
            ],
        }
    return out


def sensitivity_dict(sens: Sensitivity, study: Study, score_without_storage: float) -> dict[str, Any]:
    """The content of sensitivity.json: the sweep's points, the fit and the economic model."""
    f = sens.fit
    return {
        "x_label": sens.x_label,
        "n_scenarios": sens.n_scenarios,
        "points": [
            {
                "scale": float(a),
                "energy_mwh": float(e),
                "x": float(x),
                "score": float(sc),
                "saturated": bool(b),
            }
            for a, e, x, sc, b in zip(
                sens.scales, sens.energy_mwh, sens.x, sens.score, sens.saturated, strict=True
            )
        ],
        "score_without_storage": score_without_storage,
        "fit": {
            "model": "score = beta * ln(x) + gamma",
            "log_base": "e (natural logarithm); beta_log10 = beta * ln(10) for log10, gamma unchanged",
            "beta": f.beta,
            "gamma": f.gamma,
            "beta_log10": f.beta_log10,
            "beta_ci95": f.beta_ci,
            "beta_log10_ci95": f.beta_log10_ci,
            "gamma_ci95": f.gamma_ci,
            "beta_p_value": f.beta_p_value,
            "r2": f.r2,
            "n_points": f.n_points,
            "rule": f.rule,
            "reason": f.reason,
        },
        "economics": economics(study, sens),
    }
