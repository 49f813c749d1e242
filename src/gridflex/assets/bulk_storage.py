"""Compressed-air (diabatic CAES) and liquid-air (LAES) energy storage: a store between two converters.

Both are built from the same three parts on a private bus of the asset (``compressed_air`` or
``liquid_air`` at node ``<node>/<name>``), so nothing else on the site can use that bus:

* a charging converter (compressor train / air liquefier): ``{electricity: 1} → {air: 1}`` plus its
  by-products (the liquefier's compression heat), activity ≤ ``charge_power_kw``;
* the store (cavern / cryogenic tank, :func:`~gridflex.assets.storage.add_store`): stored energy
  ``e_t = r·e_{t-1} + η_c·dt·charge_t − dt/η_d·discharge_t`` with standing loss, limits, target;
* a discharging converter (expander / turbine) with several inputs at fixed ratios:
  ``{air: a, gas: g, heat: h_in} → {electricity: 1, heat: h_out, cold: c_out}`` per kWh of electricity
  generated, activity ≤ ``discharge_power_kw``.

**Diabatic CAES** (Huntorf 1978, McIntosh 1991): the air is reheated by burning gas before the
expander, so every kWh generated takes ``air_kwh_per_kwh`` of stored compression work and
``gas_kwh_per_kwh`` of fuel (heat rate). Huntorf: 0.8 kWh of compression and 1.6 kWh of gas per kWh;
McIntosh (with a recuperator): 0.69 and 1.17. Stored energy counts in kWh of compression work.

**LAES** (Highview Power): air liquefied with electricity, stored in an insulated tank, pumped,
evaporated and expanded. Stored energy counts in kWh deliverable; the round-trip efficiency
(electricity out per electricity in) is ``charge_efficiency × discharge_efficiency`` (50–60 %
stand-alone). Optional couplings at fixed ratios: waste heat taken on discharge (``heat_input``,
superheating raises the round trip; give the round trip reached with it), compression heat given
on charge (``heat_output``) and cold given on discharge (``cold_output``).
"""

from __future__ import annotations

from typing import ClassVar, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from gridflex.assets.base import (
    ELECTRICITY,
    Built,
    Context,
    Flex,
    Hook,
    Output,
    Pair,
    bus_name,
    storage_headroom,
)
from gridflex.assets.converter import add_conversion
from gridflex.assets.storage import StoreBase, add_store
from gridflex.optimize import Solution


class Coupling(BaseModel):
    """A by-product or co-input at a fixed ratio to the electricity of the charge or discharge."""

    model_config = ConfigDict(extra="forbid")
    carrier: str = Field(min_length=1, description="carrier given or taken (heat, cold, steam, ...)")
    kwh_per_kwh: float = Field(gt=0, description="kWh of the carrier per kWh of electricity")


class BulkStore(StoreBase):
    """What CAES and LAES share: a store between a charging and a discharging converter."""

    air_carrier: ClassVar[str] = "air"

    def _carrier(self) -> str:
        return self.air_carrier

    def _air_per_kwh(self) -> float:
        return 1.0

    def _charge_sides(self) -> tuple[dict[str, float], dict[str, float]]:
        return {ELECTRICITY: 1.0}, {}

    def _discharge_sides(self) -> tuple[dict[str, float], dict[str, float]]:
        return {}, {ELECTRICITY: 1.0}

    def build(self, ctx: Context) -> Built:
        n, dt = ctx.n, ctx.dt_h
        inner = f"{self.node}/{self.name}"
        ch_kw, dis_kw = self._power_limits()
        air_in = self._air_per_kwh() / self.discharge_efficiency  # stored energy per kWh generated
        s = self.store_arrays(ctx)
        # The efficiencies sit in the converters, so the private bus carries stored energy one to one
        # and a loop from the charging to the discharging side is never lossless.
        s.node, s.eta_charge, s.eta_discharge = inner, 1.0, 1.0
        s.charge_max_kw = np.full(n, ch_kw * self.charge_efficiency)
        s.discharge_max_kw = np.full(n, dis_kw * air_in)
        store = add_store(ctx, s)
        full = lambda d: {c: np.full(n, r) for c, r in d.items()}  # noqa: E731
        (c_in, c_out), (d_in, d_out) = self._charge_sides(), self._discharge_sides()
        sides = (
            ("charge", ({**c_in}, {self.air_carrier: self.charge_efficiency, **c_out}), ch_kw),
            ("discharge", ({self.air_carrier: air_in, **d_in}, {**d_out}), dis_kw),
        )
        parts = [
            add_conversion(
                ctx,
                f"{self.label} {what}",
                self.node,
                full(ins),
                full(outs),
                np.full(n, limit),
                nodes={self.air_carrier: inner},
            )
            for what, (ins, outs), limit in sides
        ]
        # One machine train: it compresses (liquefies) or expands, not both in the same period.
        charging, discharging = parts[0].activity, parts[1].activity
        assert charging is not None and discharging is not None
        ctx.pairs.append(Pair(self.label, [charging], [discharging], np.full(n, ch_kw), np.full(n, dis_kw),
                              bus_name(ELECTRICITY, self.node)))  # fmt: skip
        lo = s.soc_lo_kwh.copy()
        for lev in s.levels:
            if lev.soft_eur_per_kwh is None:
                lo[lev.period] = max(lo[lev.period], lev.energy_kwh)
        # A kW more (or less) electricity moves the stored energy by at most this many kWh per hour.
        shift = max(self.charge_efficiency, air_in)
        # For services the machine train moves its electric flow within [−discharge, charge] against the
        # store, like a battery (η_c: stored per kWh taken, η_d: kWh given per kWh stored); the gas,
        # heat or cold it takes or gives on the way must come from networks (products.eligible_providers).
        assert store.hook is not None
        hook = Hook(self.label, bus_name(ELECTRICITY, self.node), [(charging, 1.0), (discharging, -1.0)],
                    np.full(n, -dis_kw), np.full(n, ch_kw), store.hook.soc, s.soc_lo_kwh, s.soc_hi_kwh,
                    s.initial_kwh, self.charge_efficiency, 1.0 / air_in, store.hook.activation)  # fmt: skip

        def read(sol: Solution) -> Output:
            power: dict[str, np.ndarray] = {}
            for p in parts:
                for c, kw in p.read(sol).power_kw.items():
                    if c != self.air_carrier:  # the private bus balances to zero
                        power[c] = power.get(c, np.zeros(n)) + kw
            e = store.read(sol).soc_kwh
            net = power.get(ELECTRICITY, np.zeros(n))
            up, down = storage_headroom(net, np.full(n, ch_kw), np.full(n, dis_kw), np.asarray(e), lo,
                                        s.soc_hi_kwh, 1.0 / shift, dt)  # fmt: skip
            return Output(power, e, Flex(bus_name(ELECTRICITY, self.node), up, down))

        return Built(read, hook)

    def coupled_carriers(self) -> list[str]:
        """Carriers other than electricity it takes or gives (fuel, heat, cold)."""
        (c_in, c_out), (d_in, d_out) = self._charge_sides(), self._discharge_sides()
        return sorted({*c_in, *c_out, *d_in, *d_out} - {ELECTRICITY})


class CompressedAirStorage(BulkStore):
    """Diabatic compressed-air energy storage: compressor, cavern, gas-fired expander."""

    kind: Literal["compressed_air_storage"]
    capacity_kwh: float = Field(gt=0, description="cavern capacity in kWh of compression work")
    charge_power_kw: float = Field(ge=0, description="maximum electric input of the compressor train, kW")
    discharge_power_kw: float | None = Field(
        None, ge=0, description="maximum electric output of the expander, kW (default: charge_power_kw)"
    )
    charge_efficiency: float = Field(
        1.0,
        gt=0,
        le=1,
        description="share of compression work kept in the cavern (1: count it in kWh of work)",
    )
    discharge_efficiency: float = Field(
        1.0, gt=0, le=1, description="share of air drawn that reaches the expander"
    )
    air_kwh_per_kwh: float = Field(
        0.8, gt=0, description="stored compression work per kWh generated (Huntorf 0.8, McIntosh 0.69)"
    )
    gas_kwh_per_kwh: float = Field(
        1.6, ge=0, description="gas (LHV) burnt per kWh generated: the heat rate (Huntorf 1.6, McIntosh 1.17)"
    )
    gas_carrier: str = Field("gas", min_length=1, description="carrier of the fuel")
    heat_output: Coupling | None = Field(None, description="exhaust heat recovered per kWh generated")
    loss_per_h: float = Field(
        0.0, ge=0, lt=1, description="share of the cavern content lost per hour (leakage)"
    )
    air_carrier: ClassVar[str] = "compressed_air"

    def _loss_per_h(self) -> float:
        return self.loss_per_h

    def _air_per_kwh(self) -> float:
        return self.air_kwh_per_kwh

    def _discharge_sides(self) -> tuple[dict[str, float], dict[str, float]]:
        ins = {}
        if self.gas_kwh_per_kwh > 0:
            ins[self.gas_carrier] = self.gas_kwh_per_kwh
        outs = {ELECTRICITY: 1.0}
        if self.heat_output is not None:
            outs[self.heat_output.carrier] = self.heat_output.kwh_per_kwh
        return ins, outs


class LiquidAirStorage(BulkStore):
    """Liquid-air energy storage: liquefier, cryogenic tank, expander; optional heat and cold coupling."""

    kind: Literal["liquid_air_storage"]
    charge_power_kw: float = Field(ge=0, description="maximum electric input of the liquefier, kW")
    discharge_power_kw: float | None = Field(
        None, ge=0, description="maximum electric output of the expander, kW (default: charge_power_kw)"
    )
    capacity_kwh: float = Field(gt=0, description="tank capacity in kWh of electricity deliverable")
    charge_efficiency: float = Field(
        0.5,
        gt=0,
        le=1,
        description="round-trip efficiency (electricity out per electricity in; 0.5–0.6)"
        ", or its charging share",
    )
    discharge_efficiency: float = Field(
        1.0, gt=0, le=1, description="discharging share of the round trip (1: all of it in charge_efficiency)"
    )
    heat_input: Coupling | None = Field(
        None, description="waste heat taken per kWh generated (the round trip is the one reached with it)"
    )
    heat_output: Coupling | None = Field(
        None, description="compression heat given per kWh the liquefier takes"
    )
    cold_output: Coupling | None = Field(None, description="cold given per kWh generated (evaporation)")
    loss_per_h: float = Field(0.0, ge=0, lt=1, description="share of the tank content boiling off per hour")
    air_carrier: ClassVar[str] = "liquid_air"

    @property
    def round_trip_efficiency(self) -> float:
        return self.charge_efficiency * self.discharge_efficiency

    def _loss_per_h(self) -> float:
        return self.loss_per_h

    def _charge_sides(self) -> tuple[dict[str, float], dict[str, float]]:
        outs = {}
        if self.heat_output is not None:
            outs[self.heat_output.carrier] = self.heat_output.kwh_per_kwh
        return {ELECTRICITY: 1.0}, outs

    def _discharge_sides(self) -> tuple[dict[str, float], dict[str, float]]:
        ins = {}
        if self.heat_input is not None:
            ins[self.heat_input.carrier] = self.heat_input.kwh_per_kwh
        outs = {ELECTRICITY: 1.0}
        if self.cold_output is not None:
            outs[self.cold_output.carrier] = self.cold_output.kwh_per_kwh
        return ins, outs
