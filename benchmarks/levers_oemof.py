"""Several-input converters and diabatic CAES over a year, gridflex against oemof-solph, printed as JSON.

    .venv/bin/pip install -e '.[bench]'          # oemof.solph (and Pyomo) — benchmark extra only
    .venv/bin/python benchmarks/levers_oemof.py [--repeat 3] [--seed 2018]

An industrial site over 8760 hourly periods of 2018 (Europe/Paris), built twice from the same arrays:

* electricity connection: import at the real 2018 French day-ahead price (SMARD, Bundesnetzagentur |
  SMARD.de, CC BY 4.0) plus a network tariff, export at the day-ahead price minus a fee;
* diabatic compressed-air storage (gridflex ``compressed_air_storage``; oemof: a compressor
  ``Converter``, a ``GenericStorage`` on an air bus, an expander ``Converter`` with two inputs,
  air + gas → electricity, ``conversion_factors`` 0.69 and 1.17 per kWh generated, McIntosh-like);
* a burner with two inputs at fixed ratios, 0.8 gas + 0.2 hydrogen → 0.9 heat (gridflex ``converter``
  with ``inputs``; oemof ``Converter`` with two input flows), next to a single-input gas boiler;
* gas and hydrogen supplies, a heat dump, electricity and heat demand.

Gas at 70 EUR/MWh keeps compressing and expanding at once unprofitable in every hour of 2018
(it would pay above 0.45·p > 1.7·gas, p > 264 EUR/MWh; the year's maximum is 260), and a small
wear cost on the cavern's flows removes degenerate simultaneous charge/discharge, so both tools
solve the same LP (gridflex forbids the two sides of its machine train together; oemof does not).
Demand profiles are SYNTHETIC (those of ``hub_oemof.py``, seeded, scaled); prices are real.
Timing as in ``hub_oemof.py``: median of interleaved runs, end to end from arrays in memory, solver
time = wall time inside ``highspy.Highs.run()``; CPU time of the whole process is reported too.
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import time
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

from gridflex.scheduling import parse_site, schedule_site
from hub_oemof import inputs, solver_clock

START = "2018-01-01T00:00:00+01:00"


@dataclass(frozen=True)
class Site:
    tariff_eur_per_mwh: float = 40.0
    export_fee_eur_per_mwh: float = 5.0
    gas_eur_per_mwh: float = 70.0
    h2_eur_per_mwh: float = 50.0
    compressor_kw: float = 3000.0
    expander_kw: float = 5000.0
    cavern_kwh: float = 30000.0
    air_per_kwh: float = 0.69
    gas_per_kwh: float = 1.17
    cavern_loss_per_h: float = 0.001
    cavern_initial_frac: float = 0.3
    cavern_wear_eur_per_mwh: float = 0.5
    burner_max_kw: float = 3000.0  # activity: kW of fuel blend
    burner_gas: float = 0.8
    burner_h2: float = 0.2
    burner_heat: float = 0.9
    boiler_eta: float = 0.92
    heat_scale: float = 2.5
    el_scale: float = 4.0


def site_document(inp: dict[str, np.ndarray], p: Site, n: int) -> dict:
    price = inp["price"][:n]
    return {
        "name": "levers-8760",
        "time": {"start": START, "step_s": 3600, "n_periods": n, "timezone": "Europe/Paris"},
        "prices": {"day_ahead_eur_per_mwh": price.tolist(), "tou_eur_per_mwh": p.tariff_eur_per_mwh},
        "assets": [
            {"kind": "grid_connection", "name": "power-grid",
             "export_price_eur_per_mwh": (price - p.export_fee_eur_per_mwh).tolist()},
            {"kind": "grid_connection", "name": "gas-grid", "carrier": "gas", "export_max_kw": 0.0,
             "import_price_eur_per_mwh": p.gas_eur_per_mwh},
            {"kind": "grid_connection", "name": "h2-supply", "carrier": "hydrogen", "export_max_kw": 0.0,
             "import_price_eur_per_mwh": p.h2_eur_per_mwh},
            {"kind": "grid_connection", "name": "heat-dump", "carrier": "heat", "import_max_kw": 0.0,
             "export_price_eur_per_mwh": 0.0},
            {"kind": "compressed_air_storage", "name": "caes", "capacity_kwh": p.cavern_kwh,
             "charge_power_kw": p.compressor_kw, "discharge_power_kw": p.expander_kw,
             "air_kwh_per_kwh": p.air_per_kwh, "gas_kwh_per_kwh": p.gas_per_kwh,
             "loss_per_h": p.cavern_loss_per_h, "initial_soc_frac": p.cavern_initial_frac,
             "target_soc_frac": p.cavern_initial_frac, "degradation_eur_per_mwh": p.cavern_wear_eur_per_mwh},
            {"kind": "converter", "name": "burner", "inputs": {"gas": p.burner_gas, "hydrogen": p.burner_h2},
             "outputs": {"heat": p.burner_heat}, "input_max_kw": p.burner_max_kw},
            {"kind": "converter", "name": "boiler", "input_carrier": "gas", "outputs": {"heat": p.boiler_eta},
             "input_max_kw": 10000.0},
            {"kind": "load", "name": "power-demand", "profile_kw": (p.el_scale * inp["el_kw"][:n]).tolist()},
            {"kind": "load", "name": "heat-demand", "carrier": "heat",
             "profile_kw": (p.heat_scale * inp["heat_kw"][:n]).tolist()},
        ],
    }  # fmt: skip


def run_gridflex(inp: dict[str, np.ndarray], p: Site, n: int) -> dict:
    with solver_clock() as in_solver:
        t0 = time.perf_counter()
        result = schedule_site(parse_site(site_document(inp, p, n), source="levers benchmark"))
        result.to_frame()
        t1 = time.perf_counter()
    return {
        "time_total_s": t1 - t0,
        "time_solver_s": in_solver[0],
        "objective_eur": float(result.costs_eur["total"]),
        "milp_fallback": list(result.exclusivity_binaries),
        "cavern_end_kwh": float(result.soc_kwh["caes"][-1]),
        "burner_heat_mwh": float(-result.power_kw["burner"]["heat"].sum() / 1000),
        "caes_generated_mwh": float(np.maximum(-result.power_kw["caes"]["electricity"], 0).sum() / 1000),
    }


def run_oemof(inp: dict[str, np.ndarray], p: Site, n: int) -> dict:
    from oemof import solph

    price = inp["price"][:n]
    k = 1.0 / 1000.0  # EUR/MWh → EUR/kWh on kW flows of 1 h steps
    with solver_clock() as in_solver:
        t0 = time.perf_counter()
        idx = pd.date_range("2018-01-01 00:00", periods=n + 1, freq="h", tz="Europe/Paris")
        es = solph.EnergySystem(timeindex=idx, infer_last_interval=False)
        el, heat, gas = (
            solph.buses.Bus(label="electricity"),
            solph.buses.Bus(label="heat"),
            solph.buses.Bus(label="gas"),
        )
        h2, air = solph.buses.Bus(label="hydrogen"), solph.buses.Bus(label="air")
        F, Conv = solph.flows.Flow, solph.components.Converter
        wear = p.cavern_wear_eur_per_mwh * k
        es.add(el, heat, gas, h2, air)
        es.add(
            solph.components.Source(label="import", outputs={el: F(variable_costs=(price + p.tariff_eur_per_mwh) * k)}),
            solph.components.Sink(label="export", inputs={el: F(variable_costs=-(price - p.export_fee_eur_per_mwh) * k)}),
            solph.components.Source(label="gas-grid", outputs={gas: F(variable_costs=p.gas_eur_per_mwh * k)}),
            solph.components.Source(label="h2-supply", outputs={h2: F(variable_costs=p.h2_eur_per_mwh * k)}),
            solph.components.Sink(label="heat-dump", inputs={heat: F()}),
            Conv(label="compressor", inputs={el: F(nominal_capacity=p.compressor_kw)}, outputs={air: F()},
                 conversion_factors={air: 1.0}),
            solph.components.GenericStorage(
                label="cavern", inputs={air: F(variable_costs=wear)}, outputs={air: F(variable_costs=wear)},
                nominal_capacity=p.cavern_kwh, loss_rate=p.cavern_loss_per_h,
                initial_storage_level=p.cavern_initial_frac, balanced=True),
            Conv(label="expander", inputs={air: F(), gas: F()}, outputs={el: F(nominal_capacity=p.expander_kw)},
                 conversion_factors={air: p.air_per_kwh, gas: p.gas_per_kwh}),
            Conv(label="burner", inputs={gas: F(), h2: F()},
                 outputs={heat: F(nominal_capacity=p.burner_max_kw * p.burner_heat)},
                 conversion_factors={gas: p.burner_gas, h2: p.burner_h2, heat: p.burner_heat}),
            Conv(label="boiler", inputs={gas: F(nominal_capacity=10000.0)}, outputs={heat: F()},
                 conversion_factors={heat: p.boiler_eta}),
            solph.components.Sink(label="power-demand", inputs={el: F(nominal_capacity=1.0, fix=p.el_scale * inp["el_kw"][:n])}),
            solph.components.Sink(label="heat-demand", inputs={heat: F(nominal_capacity=1.0, fix=p.heat_scale * inp["heat_kw"][:n])}),
        )  # fmt: skip
        model = solph.Model(es)
        model.solve(solver="highs")
        solph.processing.results(model)
        t1 = time.perf_counter()
    return {"time_total_s": t1 - t0, "time_solver_s": in_solver[0], "objective_eur": float(model.objective())}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--seed", type=int, default=2018)
    ap.add_argument(
        "--smoke", action="store_true", help="One week, one run: checks the script runs (the test suite)."
    )
    args = ap.parse_args()
    n, repeat = (168, 1) if args.smoke else (8760, args.repeat)
    logging.getLogger().setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", module="oemof")
    p, inp = Site(), inputs(args.seed)
    cpu0 = time.process_time()
    gf_runs, oe_runs = [], []
    try:
        import oemof.solph  # noqa: F401
    except ImportError as exc:  # the peer is an optional extra: report ours alone, fake nothing
        gf_runs = [run_gridflex(inp, p, n) for _ in range(repeat)]
        oe: dict = {"available": False, "reason": f"{exc} (pip install -e '.[bench]')"}
    else:
        for _ in range(repeat):  # interleaved, so drift of the loaded machine hits both alike
            gf_runs.append(run_gridflex(inp, p, n))
            oe_runs.append(run_oemof(inp, p, n))
        oe = {"time_total_s_median": round(statistics.median(r["time_total_s"] for r in oe_runs), 4),
              "time_solver_s_median": round(statistics.median(r["time_solver_s"] for r in oe_runs), 4),
              "objective_eur": round(oe_runs[-1]["objective_eur"], 6)}  # fmt: skip
    gf = gf_runs[-1]
    out = {
        "periods": n,
        "repeat": repeat,
        "data": "prices: SMARD 2018 France day-ahead (real, CC BY 4.0); demand: synthetic, seeded",
        "gridflex": {
            "time_total_s_median": round(statistics.median(r["time_total_s"] for r in gf_runs), 4),
            "time_solver_s_median": round(statistics.median(r["time_solver_s"] for r in gf_runs), 4),
            **{
                k: (round(v, 6) if isinstance(v, float) else v)
                for k, v in gf.items()
                if not k.startswith("time")
            },
        },
        "oemof": oe,
        "cpu_time_process_s": round(time.process_time() - cpu0, 3),
    }
    if oe_runs:
        rel = abs(gf["objective_eur"] - oe_runs[-1]["objective_eur"]) / max(
            abs(oe_runs[-1]["objective_eur"]), 1e-12
        )
        out["objective_rel_diff"] = float(f"{rel:.3e}")
        out["objectives_agree_1e-6"] = rel <= 1e-6
        out["gridflex_cavern_end_gap_kwh"] = round(
            gf["cavern_end_kwh"] - p.cavern_initial_frac * p.cavern_kwh, 6
        )
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
