"""Converter: several input carriers to several output carriers with fixed ratios.

One activity variable ``x_t ∈ [0, x_max]`` (kW) per period; the converter takes ``a_c·x_t`` from each
input bus ``c`` and gives ``b_c·x_t`` to each output bus ``c``. A single-input converter
(``input_carrier`` + ``outputs``, the older form) is the case ``inputs = {input_carrier: 1}``: its
activity is its input power and ``outputs`` are its efficiencies. Several inputs cover a diabatic
compressed-air expander (air energy + gas → electricity + heat) or a fuel blend; electric and gas
boilers, CHP, electrolysers and fuel cells are the single-input case. With ``min_load_frac > 0`` an
on/off binary per period enforces ``x_t ∈ {0} ∪ [min_load_frac·x_max, x_max]`` (MILP).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from pydantic import Field

from gridflex.assets.base import ELECTRICITY, AssetBase, Built, Context, Flex, Hook, Output, bus_name
from gridflex.errors import Problem
from gridflex.optimize import Solution, VarBlock


def add_conversion(
    ctx: Context,
    label: str,
    node: str,
    inputs: dict[str, np.ndarray],
    outputs: dict[str, np.ndarray],
    activity_max_kw: np.ndarray,
    min_load_frac: float = 0.0,
    nodes: dict[str, str] | None = None,
) -> Built:
    """Variables and flows of a converter: per unit of activity, ``inputs[c]`` kW taken from the bus
    of carrier ``c`` at ``node`` and ``outputs[c]`` kW given to it (one array per carrier);
    ``nodes`` places some carriers at another node (a store's private bus)."""
    n = ctx.n
    where = nodes or {}
    t = np.arange(n)
    u = ctx.add_vars(f"{label} input", n, 0.0, activity_max_kw)
    coef_by_carrier: dict[str, np.ndarray] = {}
    for carrier, ratio in inputs.items():
        coef_by_carrier[carrier] = coef_by_carrier.get(carrier, np.zeros(n)) + ratio
    for carrier, ratio in outputs.items():
        coef_by_carrier[carrier] = coef_by_carrier.get(carrier, np.zeros(n)) - ratio
    for carrier, k in coef_by_carrier.items():
        ctx.flow(carrier, where.get(carrier, node), t, u.idx, k)
    lo = np.zeros(n)
    on = None
    if min_load_frac > 0:
        on = ctx.add_vars(f"{label} on", n, 0.0, 1.0, integer=True)
        rows = np.concatenate([t, t])
        cols = np.concatenate([u.idx, on.idx])
        ones = np.ones(n)
        ctx.relation(f"{label} capacity when on", rows, cols, np.concatenate([ones, -activity_max_kw]),
                     -np.inf, 0.0, n)  # fmt: skip
        lo = min_load_frac * activity_max_kw
        ctx.relation(f"{label} minimum load", rows, cols, np.concatenate([ones, -lo]), 0.0, np.inf, n)
    coef = {bus_name(c, where.get(c, node)): k for c, k in coef_by_carrier.items()}

    def read(sol: Solution) -> Output:
        x = sol.value(u)
        power = {c: k * x for c, k in coef_by_carrier.items()}
        # With a minimum load the converter can still drop from it to zero, or rise from zero to it.
        down = np.where(x >= lo - 1e-9, x, 0.0)
        return Output(power, None, Flex(None, np.maximum(activity_max_kw - x, 0.0), down, coef))

    hook: Hook | None = None
    a_e = coef_by_carrier.get(ELECTRICITY)
    elec = bus_name(ELECTRICITY, node)
    if min_load_frac == 0 and a_e is not None and a_e[0] > 0 and np.all(a_e == a_e[0]):
        # A converter taking electricity moves its other buses with it: stores there must absorb it.
        e = float(a_e[0])
        coupled = {b: k / e for b, k in coef.items() if b != elec}
        hook = Hook(label, elec, [(u, e)], np.zeros(n), e * activity_max_kw, coupled=coupled)
    elif a_e is not None and np.all(a_e != 0):
        hook = _running_hook(label, elec, coef, a_e, u, on, activity_max_kw, lo)
    return Built(read, hook, u)


def activity_limit(
    limit: float | None, ratios: dict[str, float], carrier_max: dict[str, float] | None
) -> float:
    """The tightest bound on the activity: its own limit and each carrier's limit over its ratio."""
    limits = [] if limit is None else [limit]
    for carrier, kw in (carrier_max or {}).items():
        r = ratios.get(carrier)
        if r:
            limits.append(kw / r)
    return min(limits) if limits else np.inf


@dataclass
class RunningHook(Hook):
    """A unit that provides services only while running (CHP, fuel cell, electrolyser with a minimum
    load): ``running`` is its on/off column (None without a minimum load) and the services layer
    keeps ``Σ_p r_{p,t} ≤ running_kw_t · on_t``. ``terms`` are the electric flow measured from its
    lowest running value, so the usual rows give the room above minimum and below maximum."""

    running: VarBlock | None = None
    running_kw: np.ndarray | None = None


def _running_hook(
    label: str, elec: str, coef: dict[str, np.ndarray], a: np.ndarray, u: VarBlock,
    on: VarBlock | None, activity_max_kw: np.ndarray, lo: np.ndarray,
) -> RunningHook:  # fmt: skip
    """Electric flow f = a·u (a: the net electricity taken per unit of activity, negative for an
    electric output); while on it ranges over a·[lo, max]. With f_min its lower end: terms
    ``a·u − f_min·on``, limits ``[0, |a|·(max − lo)]``, and allocations gated by ``on``."""
    f_min = np.minimum(a * lo, a * activity_max_kw)
    span = np.abs(a) * (activity_max_kw - lo)
    terms: list[tuple[VarBlock, Any]] = [(u, a)]
    if on is not None:
        terms.append((on, -f_min))
    # Per kW more taken from electricity, the other buses' flows (inputs and outputs) move by these.
    coupled = {b: c / a for b, c in coef.items() if b != elec}
    return RunningHook(label, elec, terms, np.zeros(u.idx.size), span, coupled=coupled,
                       running=on, running_kw=span)  # fmt: skip


class Converter(AssetBase):
    """Input carriers → output carriers with fixed ratios (CHP, boilers, electrolyser, fuel cell,
    a compressed-air expander burning gas)."""

    kind: Literal["converter"]
    input_carrier: str | None = Field(
        None,
        min_length=1,
        description="the one carrier taken in (electricity, gas, hydrogen, ...); or give inputs",
    )
    inputs: dict[str, float] | None = Field(
        None,
        min_length=1,
        description="kW taken per kW of activity, per input carrier (several inputs); "
        "or give input_carrier (one input, ratio 1)",
    )
    outputs: dict[str, float] = Field(
        min_length=1,
        description="kW given per kW of activity, per output carrier (one input: its efficiencies; "
        "CHP: electricity and heat)",
    )
    input_max_kw: float | None = Field(
        None, gt=0, description="maximum activity, kW (one input: its maximum input power)"
    )
    output_max_kw: dict[str, float] | None = Field(
        None, description="maximum output power per carrier, kW (turned into an activity limit)"
    )
    inputs_max_kw: dict[str, float] | None = Field(
        None, description="maximum input power per carrier, kW (turned into an activity limit)"
    )
    min_load_frac: float = Field(
        0.0, ge=0, le=1, description="minimum activity when running, share of maximum (MILP)"
    )

    def input_ratios(self) -> dict[str, float]:
        return dict(self.inputs) if self.inputs is not None else {str(self.input_carrier): 1.0}

    def input_limit(self) -> float:
        out_limit = activity_limit(self.input_max_kw, self.outputs, self.output_max_kw)
        return activity_limit(out_limit, self.input_ratios(), self.inputs_max_kw)

    def check(self, ctx: Context) -> list[Problem]:
        out = []
        if (self.input_carrier is None) == (self.inputs is None):
            out.append(Problem(self.name, "inputs", "give exactly one of input_carrier and inputs"))
            return out
        for what, ratios in (("inputs", self.input_ratios()), ("outputs", self.outputs)):
            for carrier, r in ratios.items():
                if not r > 0:
                    word = "efficiency" if what == "outputs" and self.inputs is None else "ratio"
                    out.append(Problem(self.name, f"{what}.{carrier}", f"{word} must be > 0, got {r}"))
        for what, ratios, limits in (
            ("output_max_kw", self.outputs, self.output_max_kw),
            ("inputs_max_kw", self.input_ratios(), self.inputs_max_kw),
        ):
            for carrier, kw in (limits or {}).items():
                kind = "an output" if what == "output_max_kw" else "an input"
                if carrier not in ratios:
                    out.append(Problem(self.name, f"{what}.{carrier}", f"{carrier!r} is not {kind}"))
                elif not kw >= 0:
                    out.append(Problem(self.name, f"{what}.{carrier}", f"must be >= 0, got {kw}"))
        if self.input_max_kw is None and not self.output_max_kw and not self.inputs_max_kw:
            out.append(
                Problem(self.name, "input_max_kw", "give input_max_kw, output_max_kw or inputs_max_kw")
            )
        if self.min_load_frac > 0 and not np.isfinite(self.input_limit()):
            out.append(Problem(self.name, "min_load_frac", "needs a finite input_max_kw"))
        return out

    def build(self, ctx: Context) -> Built:
        full = lambda ratios: {c: np.full(ctx.n, r) for c, r in ratios.items()}  # noqa: E731
        return add_conversion(
            ctx,
            self.label,
            self.node,
            full(self.input_ratios()),
            full(self.outputs),
            np.full(ctx.n, self.input_limit()),
            self.min_load_frac,
        )
