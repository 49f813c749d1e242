"""Converter: one input carrier to one or more outputs with fixed efficiencies.

Covers electric and gas boilers, CHP (electric and thermal efficiencies fix their ratio),
electrolysers and fuel cells by parameters. Input power ``u_t ∈ [0, input_max_kw]``; it takes
``u_t`` from the input bus and gives ``η_c·u_t`` to each output bus ``c``. With ``min_load_frac > 0``
an on/off binary per period enforces ``u_t ∈ {0} ∪ [min_load_frac·max, max]`` (MILP).
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
    input_carrier: str,
    efficiency: dict[str, np.ndarray],
    input_max_kw: np.ndarray,
    min_load_frac: float = 0.0,
) -> Built:
    """Variables and flows of a converter; ``efficiency`` holds one array per output carrier."""
    n = ctx.n
    t = np.arange(n)
    u = ctx.add_vars(f"{label} input", n, 0.0, input_max_kw)
    ctx.flow(input_carrier, node, t, u.idx, 1.0)
    for carrier, eff in efficiency.items():
        ctx.flow(carrier, node, t, u.idx, -eff)
    lo = np.zeros(n)
    on = None
    if min_load_frac > 0:
        on = ctx.add_vars(f"{label} on", n, 0.0, 1.0, integer=True)
        rows = np.concatenate([t, t])
        cols = np.concatenate([u.idx, on.idx])
        ctx.relation(
            f"{label} capacity when on",
            rows,
            cols,
            np.concatenate([np.ones(n), -input_max_kw]),
            -np.inf,
            0.0,
            n,
        )
        lo = min_load_frac * input_max_kw
        ctx.relation(f"{label} minimum load", rows, cols, np.concatenate([np.ones(n), -lo]), 0.0, np.inf, n)
    coef = {bus_name(input_carrier, node): np.ones(n)}
    for carrier, eff in efficiency.items():
        key = bus_name(carrier, node)
        coef[key] = coef.get(key, 0.0) - eff

    def read(sol: Solution) -> Output:
        x = sol.value(u)
        power = {input_carrier: x.copy()}
        for carrier, eff in efficiency.items():
            power[carrier] = power.get(carrier, 0.0) - eff * x
        # With a minimum load the converter can still drop from it to zero, or rise from zero to it.
        down = np.where(x >= lo - 1e-9, x, 0.0)
        return Output(power, None, Flex(None, np.maximum(input_max_kw - x, 0.0), down, coef))

    hook: Hook | None = None
    if min_load_frac == 0 and input_carrier == ELECTRICITY and ELECTRICITY not in efficiency:
        # An electric-input converter moves its outputs with its input: stores there must absorb it.
        coupled = {bus_name(c, node): -eff for c, eff in efficiency.items()}
        hook = Hook(
            label, bus_name(ELECTRICITY, node), [(u, 1.0)], np.zeros(n), input_max_kw, coupled=coupled
        )
    elif ELECTRICITY in efficiency or input_carrier == ELECTRICITY:
        hook = _running_hook(label, node, input_carrier, efficiency, u, on, input_max_kw, lo)
    return Built(read, hook)


@dataclass
class RunningHook(Hook):
    """A unit that provides services only while running (CHP, fuel cell, electrolyser with a minimum
    load): ``running`` is its on/off column (None without a minimum load) and the services layer
    keeps ``Σ_p r_{p,t} ≤ running_kw_t · on_t``. ``terms`` are the electric flow measured from its
    lowest running value, so the usual rows give the room above minimum and below maximum."""

    running: VarBlock | None = None
    running_kw: np.ndarray | None = None


def _running_hook(
    label: str, node: str, input_carrier: str, efficiency: dict[str, np.ndarray], u: VarBlock,
    on: VarBlock | None, input_max_kw: np.ndarray, lo: np.ndarray,
) -> RunningHook:  # fmt: skip
    """Electric flow f = a·u (a = 1 for an electric input, −η for an electric output); while on it
    ranges over a·[lo, max]. With f_min its lower end: terms ``a·u − f_min·on``, limits
    ``[0, |a|·(max − lo)]``, and allocations gated by ``on``."""
    n = u.idx.size
    a = (1.0 if input_carrier == ELECTRICITY else 0.0) - efficiency.get(ELECTRICITY, np.zeros(n))
    f_min = np.minimum(a * lo, a * input_max_kw)
    span = np.abs(a) * (input_max_kw - lo)
    terms: list[tuple[VarBlock, Any]] = [(u, a)]
    if on is not None:
        terms.append((on, -f_min))
    # Per kW more taken from electricity, the other buses' flows (input and outputs) move by these.
    per_u = {bus_name(input_carrier, node): np.ones(n)}
    for c, eff in efficiency.items():
        per_u[bus_name(c, node)] = per_u.get(bus_name(c, node), 0.0) - eff
    elec = bus_name(ELECTRICITY, node)
    coupled = {b: c / a for b, c in per_u.items() if b != elec}
    return RunningHook(label, elec, terms, np.zeros(n), span, coupled=coupled, running=on, running_kw=span)


class Converter(AssetBase):
    """Input carrier → output carriers with efficiencies (CHP, boilers, electrolyser, fuel cell)."""

    kind: Literal["converter"]
    input_carrier: str = Field(min_length=1, description="carrier taken in (electricity, gas, hydrogen, ...)")
    outputs: dict[str, float] = Field(
        min_length=1,
        description="efficiency per output carrier: kW out per kW in (CHP: electricity and heat)",
    )
    input_max_kw: float | None = Field(None, gt=0, description="maximum input power, kW")
    output_max_kw: dict[str, float] | None = Field(
        None, description="maximum output power per carrier, kW (turned into an input limit)"
    )
    min_load_frac: float = Field(
        0.0, ge=0, le=1, description="minimum input when running, share of maximum (MILP)"
    )

    def input_limit(self) -> float:
        limits = [] if self.input_max_kw is None else [self.input_max_kw]
        for carrier, kw in (self.output_max_kw or {}).items():
            eff = self.outputs.get(carrier)
            if eff:
                limits.append(kw / eff)
        return min(limits) if limits else np.inf

    def check(self, ctx: Context) -> list[Problem]:
        out = []
        for carrier, eff in self.outputs.items():
            if not eff > 0:
                out.append(Problem(self.name, f"outputs.{carrier}", f"efficiency must be > 0, got {eff}"))
        for carrier, kw in (self.output_max_kw or {}).items():
            if carrier not in self.outputs:
                out.append(Problem(self.name, f"output_max_kw.{carrier}", f"{carrier!r} is not an output"))
            elif not kw >= 0:
                out.append(Problem(self.name, f"output_max_kw.{carrier}", f"must be >= 0, got {kw}"))
        if self.input_max_kw is None and not self.output_max_kw:
            out.append(Problem(self.name, "input_max_kw", "give input_max_kw or output_max_kw"))
        if self.min_load_frac > 0 and not np.isfinite(self.input_limit()):
            out.append(Problem(self.name, "min_load_frac", "needs a finite input_max_kw"))
        return out

    def build(self, ctx: Context) -> Built:
        eff = {c: np.full(ctx.n, e) for c, e in self.outputs.items()}
        return add_conversion(
            ctx,
            self.label,
            self.node,
            self.input_carrier,
            eff,
            np.full(ctx.n, self.input_limit()),
            self.min_load_frac,
        )
