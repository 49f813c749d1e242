"""Connection to a network of any carrier (electricity grid, gas grid, hydrogen pipeline, heat network).

Variables per period: ``import`` and ``export`` (kW, >= 0, limited by ``import_max_kw`` /
``export_max_kw`` and the ``fuse_kw``), plus, on electricity when the site has intraday prices, the
parts bought and sold intraday (``intraday.max_kw`` each). Costs per MWh imported: energy price
(electricity: the site's day-ahead price unless ``import_price_eur_per_mwh`` is given), the site's
time-of-use tariff (electricity), CO2 (intensity × the site's CO2 price); revenue per MWh exported:
``export_price_eur_per_mwh`` (electricity: the site's feed-in tariff, else the day-ahead price),
minus the site's self-consumption weight. A capacity/peak charge ``peak_eur_per_kw`` applies to the
highest import of the horizon (at least ``existing_peak_kw``).

With intraday prices the metered flow and the trades are separate variables (see
``GridConnection._two_markets``): the tariff, CO2, peak and self-consumption apply to what is metered,
the energy prices to what is traded on each market.

Results report the connection's power as the site's net consumption from the network
(import − export, kW): positive = the site draws.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import Field

from gridflex.assets.base import ELECTRICITY, AssetBase, Built, Context, Flex, Hook, Output, Pair, bus_name
from gridflex.errors import Problem
from gridflex.optimize import Solution, VarBlock
from gridflex.timegrid import Series


class GridConnection(AssetBase):
    """A metered connection to an external network."""

    kind: Literal["grid_connection"]
    carrier: str = Field(ELECTRICITY, min_length=1, description="carrier exchanged")
    import_max_kw: float | None = Field(None, ge=0, description="import limit, kW (default: none)")
    export_max_kw: float | None = Field(
        None, ge=0, description="export limit, kW (0 = no export; default: none)"
    )
    fuse_kw: float | None = Field(None, ge=0, description="physical limit on both directions, kW")
    import_price_eur_per_mwh: Series | None = Field(
        None, description="energy price of imports (electricity default: the site's day-ahead price)"
    )
    export_price_eur_per_mwh: Series | None = Field(
        None, description="price paid for exports (electricity default: feed-in tariff, else day-ahead)"
    )
    co2_kg_per_mwh: Series | None = Field(
        None, description="CO2 intensity of imports (electricity default: the site's co2_kg_per_mwh)"
    )
    peak_eur_per_kw: float = Field(0.0, ge=0, description="capacity charge on the highest import, EUR/kW")
    existing_peak_kw: float = Field(0.0, ge=0, description="peak already reached in the billing period, kW")

    def check(self, ctx: Context) -> list[Problem]:
        return ctx.series_problems(
            self.name,
            import_price_eur_per_mwh=self.import_price_eur_per_mwh,
            export_price_eur_per_mwh=self.export_price_eur_per_mwh,
            co2_kg_per_mwh=self.co2_kg_per_mwh,
        )

    def limits(self) -> tuple[float, float]:
        fuse = np.inf if self.fuse_kw is None else self.fuse_kw
        imp = np.inf if self.import_max_kw is None else self.import_max_kw
        exp = np.inf if self.export_max_kw is None else self.export_max_kw
        return min(imp, fuse), min(exp, fuse)

    def limit_field(self, direction: str) -> str:
        """The field that sets the ``"import"`` or ``"export"`` limit (for messages)."""
        own = self.import_max_kw if direction == "import" else self.export_max_kw
        if self.fuse_kw is not None and (own is None or self.fuse_kw <= own):
            return "fuse_kw"
        return f"{direction}_max_kw"

    def _prices(self, ctx: Context) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Import energy price, tariff, export price, CO2 cost per MWh imported (EUR/MWh)."""
        n, p = ctx.n, ctx.prices
        zero = np.zeros(n)
        elec = self.carrier == ELECTRICITY
        if self.import_price_eur_per_mwh is not None:
            energy = ctx.series(self.import_price_eur_per_mwh)
        else:
            energy = p.get("day_ahead", zero) if elec else zero
        tariff = p.get("tou", zero) if elec else zero
        if self.export_price_eur_per_mwh is not None:
            export = ctx.series(self.export_price_eur_per_mwh)
        elif elec:
            export = p.get("feed_in", energy)
        else:
            export = zero
        if self.co2_kg_per_mwh is not None:
            intensity = ctx.series(self.co2_kg_per_mwh)
        else:
            intensity = p.get("co2_kg_per_mwh", zero) if elec else zero
        co2 = intensity * float(p.get("co2_eur_per_t", zero)[0]) / 1000.0
        return energy, tariff, export, co2

    def build(self, ctx: Context) -> Built:
        n, k = ctx.n, ctx.dt_h / 1000.0  # kW in a period → MWh
        t = np.arange(n)
        imp_max, exp_max = self.limits()
        energy, tariff, export, co2 = self._prices(ctx)
        elec = self.carrier == ELECTRICITY
        self_use = ctx.self_consumption_eur_per_mwh if elec else 0.0
        metered_imp = {"tariff": tariff * k, "co2": co2 * k}  # on what flows through the meter
        metered_exp = {"self_consumption": np.full(n, self_use * k)}
        bus = bus_name(self.carrier, self.node)
        intraday = ctx.prices.get("intraday")
        if elec and intraday is not None and ctx.intraday_max_kw > 0:
            imports, exports = self._two_markets(ctx, intraday, energy, export, metered_imp, metered_exp)
        else:
            imports = [
                ctx.add_vars(f"{self.label} import", n, 0.0, imp_max, {"energy": energy * k, **metered_imp})
            ]
            exports = [
                ctx.add_vars(f"{self.label} export", n, 0.0, exp_max, {"feed_in": -export * k, **metered_exp})
            ]
        for b in imports:
            ctx.flow(self.carrier, self.node, t, b.idx, -1.0)
        for b in exports:
            ctx.flow(self.carrier, self.node, t, b.idx, 1.0)
        if imp_max > 0 and exp_max > 0:
            # Infinite limits are replaced by a bound from the rest of the bus if binaries are needed.
            ctx.pairs.append(
                Pair(self.label, imports, exports, np.full(n, imp_max), np.full(n, exp_max), bus)
            )
        if self.peak_eur_per_kw > 0:
            peak = ctx.add_vars(
                f"{self.label} peak", 1, self.existing_peak_kw, np.inf, {"peak": self.peak_eur_per_kw}
            )
            rows = np.concatenate([t] * len(imports) + [t])
            cols = np.concatenate([b.idx for b in imports] + [np.full(n, peak.start)])
            vals = np.concatenate([np.ones(n * len(imports)), -np.ones(n)])
            ctx.relation(f"{self.label} peak", rows, cols, vals, -np.inf, 0.0, n)

        def read(sol: Solution) -> Output:
            imp = np.add.reduce([sol.value(b) for b in imports])
            exp = np.add.reduce([sol.value(b) for b in exports])
            # In the bus's consumption sense: more export / less import is "up", the reverse "down".
            up = imp + np.maximum(exp_max - exp, 0.0)
            down = np.maximum(imp_max - imp, 0.0) + exp
            return Output({self.carrier: imp - exp}, None, Flex(bus, up, down, is_grid=True))

        # The hook's flow is the net import (the flow the connection gives to the bus).
        terms = [(b, 1.0) for b in imports] + [(b, -1.0) for b in exports]
        hook = Hook(self.label, bus, terms, np.full(n, -exp_max), np.full(n, imp_max), is_grid=True)
        return Built(read, hook)

    def _two_markets(
        self, ctx: Context, intraday: np.ndarray, energy: np.ndarray, export: np.ndarray,
        metered_imp: dict[str, np.ndarray], metered_exp: dict[str, np.ndarray],
    ) -> tuple[list[VarBlock], list[VarBlock]]:  # fmt: skip
        """With an intraday market the meter and the trades are apart: the metered import and export
        (limits, tariff, CO2, peak, self-consumption) equal the day-ahead trades (``import`` /
        ``export``, at the day-ahead and feed-in prices) plus the intraday ones (within ``max_kw``).
        A fixed day-ahead position then pays the network tariff on what is metered, not on what was
        traded. Buying on one market and selling on the other in one period is excluded (a pair), as
        a trader's arbitrage is not the site's business; :func:`position_pairs` lifts that when the
        day-ahead position is fixed."""
        n, k = ctx.n, ctx.dt_h / 1000.0
        imp_max, exp_max = self.limits()
        id_max = ctx.intraday_max_kw
        meter_in = ctx.add_vars(f"{self.label} metered import", n, 0.0, imp_max, metered_imp)
        meter_out = ctx.add_vars(f"{self.label} metered export", n, 0.0, exp_max, metered_exp)
        buy = ctx.add_vars(f"{self.label} import", n, 0.0, imp_max, {"energy": energy * k})
        sell = ctx.add_vars(f"{self.label} export", n, 0.0, exp_max, {"feed_in": -export * k})
        id_buy = ctx.add_vars(
            f"{self.label} intraday import", n, 0.0, min(id_max, imp_max), {"intraday": intraday * k}
        )
        id_sell = ctx.add_vars(
            f"{self.label} intraday export", n, 0.0, min(id_max, exp_max), {"intraday": -intraday * k}
        )
        t = np.arange(n)
        blocks, signs = (meter_in, meter_out, buy, sell, id_buy, id_sell), (1.0, -1.0, -1.0, 1.0, -1.0, 1.0)
        ctx.relation(f"{self.label} metered = traded", np.concatenate([t] * 6), np.concatenate([b.idx for b in blocks]),
                     np.concatenate([np.full(n, c) for c in signs]), 0.0, 0.0, n)  # fmt: skip
        big_in, big_out = np.full(n, min(imp_max, 1e9)), np.full(n, min(exp_max, 1e9))
        bus = bus_name(self.carrier, self.node)
        ctx.pairs.append(Pair(f"{self.label} trades", [buy, id_buy], [sell, id_sell], big_in, big_out, bus))
        return [meter_in], [meter_out]


def position_pairs(ctx: Context) -> None:
    """Once the day-ahead position is fixed the trades are financial: intraday may sell in a period
    what was bought day-ahead (and buy what was sold). Only the day-ahead trades stay exclusive (where
    the position is fixed, one of them is 0 anyway)."""
    for p in ctx.pairs:
        if p.owner.endswith(" trades"):
            p.a, p.b = p.a[:1], p.b[:1]
