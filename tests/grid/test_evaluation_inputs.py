"""Issue 15: the traps (RTS shapes at dt_h < 1 h, bounded over-generation MILP), the paper's method
options and the inputs of its case study, each from the study file."""

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from gridflex.errors import ValidationError
from gridflex.grid.economics import fit_log
from gridflex.grid.evaluation import build_model, certain_imbalance, evaluate
from gridflex.grid.history import fit_series
from gridflex.grid.rts import resample_hourly, rts_peak_day_load_pu
from gridflex.grid.scenarios import generate_scenarios
from gridflex.grid.study import load_study, study_from_dict

from .test_evaluation import two_bus

BATTERY = {"id": "b", "bus": 1, "power_mw": 30, "energy_mwh": 60, "soc_min": 0.0, "soc_max": 1.0,
           "soc_init": 0.5, "eta_charge": 0.9, "eta_discharge": 0.9}  # fmt: skip


def study(shape, **extra):
    doc = {"network": {"case": "case9"}, "load": {"shape": shape}, "sensitivity": {"scales": [1.0]}}
    doc.update(extra)
    return study_from_dict(doc)


# ---- trap 1: hourly RTS shapes at another step ----------------------------------------------------


def test_rts_shape_is_resampled_to_quarter_hours_keeping_each_hours_energy():
    st = study_from_dict({"network": {"case": "case24_ieee_rts"}, "dt_h": 0.25})
    assert st.n_periods == 96  # a whole day, not 24 quarter-hours (a 6-hour "day")
    q = st.load_shape_pu()
    np.testing.assert_allclose(q.reshape(24, 4).mean(axis=1), rts_peak_day_load_pu())
    two = study_from_dict({"network": {"case": "case24_ieee_rts"}, "dt_h": 2.0}).load_shape_pu()
    np.testing.assert_allclose(two, rts_peak_day_load_pu().reshape(12, 2).mean(axis=1))


def test_resampling_mixes_the_hours_a_period_straddles():
    np.testing.assert_allclose(resample_hourly(np.array([1.0, 2.0]), 0.4), [1, 1, 1.5, 2, 2])


def test_a_step_that_does_not_divide_the_day_is_refused_naming_dt_h():
    with pytest.raises(ValidationError) as e:
        study_from_dict({"network": {"case": "case24_ieee_rts"}, "dt_h": 0.7})
    (p,) = e.value.problems
    assert p.field == "dt_h" and "divide" in p.message


# ---- trap 2: the over-generation MILP is bounded and its limit reported apart ---------------------


def _overgen_net():
    return dataclasses.replace(two_bus(), gen_pmin_mw=np.array([30.0, 0.0]))


def test_netted_start_is_an_exclusive_schedule_with_the_same_injections():
    st = study([0.1, 0.1, 0.8, 0.1], storage=[BATTERY])  # 10 MW < 30 MW minimum: forced over-generation
    net = _overgen_net()
    m = build_model(st, net, 1.0)
    m.solve(np.array([[10.0], [10.0], [80.0], [10.0]]))
    relaxed = m.m.solve(relax=True)
    x = m.netted(relaxed)
    T = 4
    ch, dis = x[m.ch.start : m.ch.start + T], x[m.dis.start : m.dis.start + T]
    assert ((ch <= 1e-9) | (dis <= 1e-9)).all()  # exclusive
    a = m.m.arrays()
    row = a.a @ x
    assert (row >= a.row_lb - 1e-6).all() and (row <= a.row_ub + 1e-6).all()  # feasible
    assert (x >= a.lb - 1e-9).all() and (x <= a.ub + 1e-9).all()
    assert a.cost @ x >= relaxed.objective - 1e-6  # an upper bound next to the relaxation's lower one


def test_time_limit_comes_from_the_study_and_stopped_solves_are_not_counted_as_imbalance():
    # the MILP is stopped at once: its start (the netted relaxation) is the schedule read
    st = study([0.1, 0.1, 0.8, 0.1], storage=[BATTERY], solver={"milp_time_limit_s": 1e-9})
    assert build_model(st, _overgen_net(), 1.0).milp_time_limit_s == 1e-9
    res = evaluate(st, 2, seed=0, net=_overgen_net())
    cur = res.states["current"]
    assert cur.limited.all() and not cur.solved.any()
    # periods 0, 1, 3: 30 MW minimum − 10 MW load − 30 MW charging ≤ 0 is not a proof; 2 is balanced
    assert (cur.z[:, 2] == 1).all()
    assert cur.undecided > 0 and cur.score < cur.score_if_undecided_balanced
    summ = res.summary()["states"]["current"]
    assert summ["solves_at_time_limit"] == 2 and summ["solve_failures"] == 0
    assert summ["undecided_periods"] == cur.undecided
    assert res.summary()["solver"]["milp_time_limit_s"] == 1e-9


def test_copper_plate_bound_proves_imbalance_whatever_the_milp():
    st = study([0.1, 0.5], storage=[{**BATTERY, "power_mw": 5}])
    net = _overgen_net()
    # period 0: 30 − 10 − 5 = 15 MW must be spilled; period 1: 40 MW load is servable
    got = certain_imbalance(st, net, 1.0, np.array([[10.0], [40.0]]), None)
    np.testing.assert_array_equal(got, [True, False])
    # with unit 0 out, nothing is forced
    np.testing.assert_array_equal(
        certain_imbalance(st, net, 1.0, np.array([[10.0], [40.0]]), None, np.array([False, True])),
        [False, False],
    )


# ---- the paper's method options ---------------------------------------------------------------


def test_separate_charge_and_discharge_limits():
    # 120 MW in period 1 needs 20 MW of discharge: a 10 MW discharge limit leaves 10 MW shed
    b = {**BATTERY, "eta_charge": 1.0, "eta_discharge": 1.0, "discharge_power_mw": 10}
    res = evaluate(study([0.7, 1.2, 0.7], storage=[b]), 1, seed=0, net=two_bus())
    np.testing.assert_allclose(res.states["current"].shed_mwh[0], [0, 10, 0], atol=1e-6)
    b = {**b, "discharge_power_mw": 30, "charge_power_mw": 5}  # charging 5 MW in two hours: 10 MWh
    res = evaluate(study([0.7, 1.2, 0.7], storage=[{**b, "soc_init": 0.0}]), 1, seed=0, net=two_bus())
    np.testing.assert_allclose(res.states["current"].shed_mwh[0], [0, 15, 0], atol=1e-6)


def test_separate_up_and_down_ramps():
    # load 90 -> 40 MW; unit "gen 0" (cheap) ramps down 20 MW/h at most: unit 1 is at 0, so 30 MW spill
    net = dataclasses.replace(two_bus(), gen_pmin_mw=np.array([0.0, 0.0]), gen_name=np.array(["g0", "g1"]))
    down = study([0.9, 0.4], generators=[{"unit": "g0", "ramp_down_mw_per_h": 20, "ramp_up_mw_per_h": 100}])
    res = evaluate(down, 1, seed=0, net=net)
    assert res.states["simulated"].spill_mwh[0].sum() == pytest.approx(
        0.0, abs=1e-6
    )  # unit 1 takes the start
    m = build_model(down, net, 0.0)
    np.testing.assert_allclose(m._ramp_down, [20.0, np.inf])
    r = m.solve(np.array([[90.0], [40.0]]))
    assert r.gen_mw[0, 0] - r.gen_mw[1, 0] <= 20 + 1e-6


def test_time_varying_unit_limits_and_bad_limits_name_the_field():
    net = dataclasses.replace(two_bus(), gen_name=np.array(["g0", "g1"]))
    st = study([0.9, 0.9], generators=[{"unit": "g0", "pmax_mw": [60, 30]}])
    res = evaluate(st, 1, seed=0, net=net)
    np.testing.assert_allclose(res.states["simulated"].shed_mwh[0], [0, 20], atol=1e-6)  # 30 + 40 < 90
    from gridflex.grid.evaluation import check_evaluation

    bad = study([0.9, 0.9], generators=[{"unit": "g0", "pmax_mw": 70}, {"unit": "nope"}])
    fields = {p.field for p in check_evaluation(bad, 1, net)}
    assert fields == {"generators.0.pmax_mw", "generators.1.unit"}


def test_outages_are_sampled_per_scenario_and_take_the_unit_out():
    net = dataclasses.replace(two_bus(), gen_name=np.array(["g0", "g1"]))
    st = study([0.5], outage_rate=0.3, generators=[{"unit": "g1", "outage_rate": 0.0}])
    from gridflex.grid.study import unit_data

    rate = unit_data(st, net).outage_rate
    np.testing.assert_allclose(rate, [0.3, 0.0])
    sc = generate_scenarios(st, net.load_mw, 4000, 0, rate)
    assert sc.online is not None and sc.online[:, 1].all()
    assert abs((~sc.online[:, 0]).mean() - 0.3) < 0.03
    same = generate_scenarios(st, net.load_mw, 4000, 0)
    np.testing.assert_array_equal(same.load_mw, sc.load_mw)  # outages are drawn last
    res = evaluate(study([0.5], outage_rate=0.5), 200, seed=1, net=net)
    out = ~generate_scenarios(study([0.5], outage_rate=0.5), net.load_mw, 200, 1, np.full(2, 0.5)).online
    both_needed = out.any(axis=1)  # 50 MW needs both units? no: either 60 or 40 MW... unit 1 alone sheds 10
    shed = res.states["simulated"].shed_mwh[:, 0]
    expected = np.where(out[:, 0] & out[:, 1], 50.0, np.where(out[:, 0], 10.0, 0.0))
    np.testing.assert_allclose(shed, expected, atol=1e-6)
    assert both_needed.any()


def test_tie_line_imports_with_schedule_and_limits():
    # 120 MW against 100 MW of units: a fixed 25 MW import balances it; exported 10 MW adds load
    imp = {"id": "tie", "bus": 1, "schedule_mw": 25}
    res = evaluate(study([1.2], imports=[imp]), 1, seed=0, net=two_bus())
    assert res.states["simulated"].z.tolist() == [[1]]
    res = evaluate(study([0.95], imports=[{**imp, "schedule_mw": -10}]), 1, seed=0, net=two_bus())
    np.testing.assert_allclose(res.states["simulated"].shed_mwh[0], [5.0], atol=1e-6)
    # flexible and cheaper than unit 1 (20 EUR/MWh): used up to its limit
    cheap = {**imp, "schedule_mw": 0, "min_mw": 0, "max_mw": 15, "price_eur_per_mwh": 5}
    m = build_model(study([0.9], imports=[cheap]), two_bus(), 0.0)
    r = m.solve(np.array([[90.0]]))
    np.testing.assert_allclose(r.import_mw, [[15.0]])
    with pytest.raises(ValidationError) as e:
        study([0.9], imports=[{**cheap, "min_mw": 20}])
    assert e.value.problems[0].field == "imports.0.min_mw"


def test_noise_fitted_from_history_recovers_an_ar1_process(tmp_path):
    rng = np.random.default_rng(3)
    n, phi, sigma = 24 * 400, 0.6, 0.03
    e = np.empty(n)
    e[0] = rng.standard_normal()
    for t in range(1, n):
        e[t] = phi * e[t - 1] + np.sqrt(1 - phi**2) * rng.standard_normal()
    expected = 1000 * (1 + 0.2 * np.sin(np.arange(n) * 2 * np.pi / 24))
    load = expected * (1 + 0.01 + sigma * e)
    import pandas as pd

    pd.DataFrame({"load_mw": load, "expected_mw": expected}).to_csv(tmp_path / "h.csv", index=False)
    (tmp_path / "s.yaml").write_text(
        "network: {case: case9}\nload: {shape: [1.0, 1.0], noise: {fit_csv: h.csv, correlation: 0.3}}\n"
    )
    st = load_study(tmp_path / "s.yaml")
    noise = st.load.noise
    assert noise.mu_pu == pytest.approx(0.01, abs=0.003)
    assert noise.sigma_pu == pytest.approx(sigma, rel=0.05)
    assert noise.autocorrelation == pytest.approx(phi, abs=0.03)
    assert noise.correlation == 0.3 and st.fitted()["load"]["rows"] == n
    f = fit_series(np.array([1.0, -1.0, 1.0, -1.0]))  # negative lag-1 correlation is clipped to 0
    assert f.autocorrelation == 0.0


def test_history_file_errors_name_the_field(tmp_path):
    (tmp_path / "h.csv").write_text("load\n1\n2\n3\n")
    (tmp_path / "s.yaml").write_text("network: {case: case9}\nload: {noise: {fit_csv: h.csv}}\n")
    with pytest.raises(ValidationError) as e:
        load_study(tmp_path / "s.yaml")
    (p,) = e.value.problems
    assert p.field == "load.noise.fit_csv" and "load_mw" in p.message
    (tmp_path / "s.yaml").write_text(
        "network: {case: case9}\nload: {noise: {fit_csv: h.csv, sigma_pu: 0.1}}\n"
    )
    with pytest.raises(ValidationError) as e:
        load_study(tmp_path / "s.yaml")
    assert e.value.problems[0].field == "load.noise.fit_csv" and "not both" in e.value.problems[0].message


def test_scenario_sets_are_merged_and_their_errors_named():
    doc = {
        "network": {"case": "case9"},
        "load": {"shape": [1.0], "growth": 1.0, "noise": {"sigma_pu": 0.02}},
        "scenario_sets": {"typical": {}, "supply_guarantee": {"load": {"growth": 1.2}, "outage_rate": 0.05}},
    }
    st = study_from_dict(doc)
    sg = st.scenario_set("supply_guarantee")
    assert sg.load.growth == 1.2 and sg.load.noise.sigma_pu == 0.02 and sg.outage_rate == 0.05
    assert st.scenario_set("typical").load.growth == 1.0
    with pytest.raises(ValidationError):
        st.scenario_set("other")
    doc["scenario_sets"]["supply_guarantee"]["load"]["growth"] = -1
    with pytest.raises(ValidationError) as e:
        study_from_dict(doc)
    assert e.value.problems[0].field == "scenario_sets.supply_guarantee.load.growth"


# ---- capacity rules and the economic model --------------------------------------------------------


def test_paper_storage_rule_by_hand():
    from gridflex.grid.capacity import storage_capacity_paper

    # E = 100 MWh, SOC 0.5 at start, limits 0.1..0.9, η 0.9, P_c 20, P_d 30, Δt 1 h
    total, avail = storage_capacity_paper(
        np.array([[50.0], [12.0]]), np.array([20.0]), np.array([30.0]), np.array([0.9]), np.array([0.9]),
        np.array([10.0]), np.array([90.0]), 1.0,
    )  # fmt: skip
    np.testing.assert_allclose(total.up_mw, [30, 30])
    np.testing.assert_allclose(total.down_mw, [20, 20])
    np.testing.assert_allclose(avail.up_mw, [min(40 * 0.9, 30), 2 * 0.9])
    np.testing.assert_allclose(avail.down_mw, [20, 20])


def test_load_total_from_load_limits_and_conservative_rule_from_the_study():
    from gridflex.grid.capacity import load_limit_capacity

    got = load_limit_capacity(np.array([[100.0, 50.0]]), np.array([[80.0, 60.0]]), np.array([[130.0, 55.0]]))
    np.testing.assert_allclose([got.up_mw[0], got.down_mw[0]], [20.0, 35.0])
    dr = [{"bus": 4, "category": "industrial", "q": 0.5, "delta": 0.1, "nominal_mw": 10}]
    lim = [{"bus": 4, "min_mw": 50, "max_mw": 200}]
    for rule in ("paper", "conservative"):
        st = study([1.0], demand_response=dr, load_limits=lim,
                   capacity={"load_rule": rule, "load_total": "limits"})  # fmt: skip
        cap = evaluate(st, 1, seed=0).capacity
        assert cap.total["load"].up_mw[0] == pytest.approx(90 - 50)  # case9's bus-4 load is 90 MW
        assert cap.total["load"].down_mw[0] == pytest.approx(200 - 90)
        if rule == "conservative":
            assert cap.available["load"].up_mw[0] == pytest.approx(cap.available["load"].down_mw[0])
    with pytest.raises(ValidationError):
        study([1.0], capacity={"load_total": "limits"})


def test_log_fit_confidence_intervals_and_bases():
    rng = np.random.default_rng(0)
    x = np.geomspace(10, 10_000, 12)
    y = 1.2 * np.log(x) + 85.0 + rng.normal(0, 0.05, x.size)
    f, _ = fit_log(x, y, saturation_eps=0.0)
    assert f.beta_ci[0] < 1.2 < f.beta_ci[1] and f.gamma_ci[0] < 85.0 < f.gamma_ci[1]
    assert f.beta_p_value < 0.05
    assert f.beta_log10 == pytest.approx(f.beta * np.log(10))
    # the same curve in log10: β10·log10(x) + γ = β·ln(x) + γ
    assert f.beta_log10 * np.log10(500) + f.gamma == pytest.approx(f.beta * np.log(500) + f.gamma)
    two, _ = fit_log(x[:2], y[:2], 0.0)
    assert two.beta is not None and two.beta_ci is None and "3 or more" in two.reason
    flat, _ = fit_log(x, np.full(x.size, 97.5), 0.0)  # storage changes nothing: β = 0, not "significant"
    assert (
        flat.beta == 0.0 and flat.gamma == 97.5 and flat.beta_p_value is None and "same score" in flat.reason
    )


def test_log_fit_intervals_match_statsmodels_ols():
    import statsmodels.api as sm

    rng = np.random.default_rng(1)
    x = np.geomspace(50, 5_000, 7)
    y = 1.19 * np.log(x) + 85.14 + rng.normal(0, 0.3, x.size)
    f, _ = fit_log(x, y, saturation_eps=0.0)
    ols = sm.OLS(y, sm.add_constant(np.log(x))).fit()
    (g_lo, b_lo), (g_hi, b_hi) = ols.conf_int(0.05).T
    assert (f.beta, f.gamma) == pytest.approx((ols.params[1], ols.params[0]), rel=1e-10)
    assert f.beta_ci == pytest.approx((b_lo, b_hi), rel=1e-9) and f.gamma_ci == pytest.approx((g_lo, g_hi))
    assert f.beta_p_value == pytest.approx(ols.pvalues[1], rel=1e-6) and f.r2 == pytest.approx(ols.rsquared)


def test_summary_has_figure_4_and_6_numbers_and_marginal_benefit(tmp_path):
    b = {**BATTERY, "eta_charge": 1.0, "eta_discharge": 1.0}
    st = study([0.7, 1.2, 0.7], storage=[b], sensitivity={"scales": [0.2, 0.4, 0.6], "investment_eur_per_mwh": 1e5},
               demand_response=[{"bus": 1, "category": "x", "q": 0.5, "delta": 0.1, "nominal_mw": 10}])  # fmt: skip
    res = evaluate(st, 2, seed=0, net=two_bus())
    s = res.summary()
    imp = s["improvement"]["current_over_simulated"]
    assert imp["per_period"] == pytest.approx([0, 100, 0]) and imp["area_score_h"] == pytest.approx(100)
    cap = res.capacity
    assert s["capacity"]["mean_available_up_mw"] == pytest.approx(
        cap.available["system"].up_mw.mean(), abs=1e-3
    )
    bands = s["capacity"]["sources"]["generation"]["total"]["up_mw"]
    assert bands["min"] <= bands["mean"] <= bands["max"]
    assert s["economics"]["ln"]["beta"] == 0.0  # every sweep point scores the same here
    from gridflex.reports.evaluation import write_evaluation_report

    html = write_evaluation_report(res, tmp_path / "r.html").read_text()
    assert (
        "marginal benefit at the installed storage" in html and "0 points per MWh, 0 points per EUR" in html
    )
    # marginal benefit dscore/dE = β/E from a sweep whose score rises with the storage
    from gridflex.grid.economics import economics, sweep

    eco = economics(st, sweep(st, {0.2: 70.0, 0.4: 80.0, 0.6: 86.0}, 2))
    beta = eco["ln"]["beta"]
    assert beta == pytest.approx(np.polyfit(np.log([0.2, 0.4, 0.6]), [70, 80, 86], 1)[0])  # x scale: same β
    mb = eco["marginal_benefit"]
    assert mb["at_installed_per_mwh"] == pytest.approx(beta / 60)  # installed: 60 MWh
    assert mb["at_installed_per_eur"] == pytest.approx(beta / 60 / 1e5)
    assert [p["per_mwh"] for p in mb["per_point"]] == pytest.approx([beta / 12, beta / 24, beta / 36])


# ---- the example study with every input of the paper's case study --------------------------------


def test_province_example_runs_each_set_with_its_inputs():
    """examples/rts24_province.yaml at a small size: the noise is the one its CSV gives (recomputed
    here with pandas), each set's load and tie-line limits are its own, and the outputs are complete."""
    import pandas as pd

    from gridflex.grid.study import build_network, unit_data

    root = Path(__file__).resolve().parents[2] / "examples"
    st = load_study(root / "rts24_province.yaml")
    assert set(st.scenario_sets) == {"typical", "supply_guarantee"}
    hist = pd.read_csv(root / "rts24_winter_weekdays.csv")
    r = hist.load_mw / hist.groupby("hour").load_mw.transform("mean") - 1.0  # vs the mean weekday
    noise = st.load.noise
    assert noise.sigma_pu == pytest.approx(r.std()) and noise.mu_pu == pytest.approx(0.0, abs=1e-12)
    c = (r - r.mean()).to_numpy()
    assert noise.autocorrelation == pytest.approx(c[1:] @ c[:-1] / (c @ c))  # the sample ACF at lag 1
    net = build_network(st)
    units = unit_data(st, net)
    hydro = list(net.gen_name).index("gen 8")
    assert units.pmax_mw[:, hydro].min() == 30 and units.pmax_mw[:, hydro].max() == 50  # water by the hour
    assert units.outage_rate[list(net.gen_name).index("gen 6")] == 0.12
    typical, guarantee = st.scenario_set("typical"), st.scenario_set("supply_guarantee")
    assert guarantee.load_shape_pu().max() == 1.0 > typical.load_shape_pu().max()  # the annual peak day

    def most_import(s):
        return sum(s.import_bounds(i)[1] for i in range(len(s.imports)))

    assert (most_import(guarantee) < most_import(typical)).all()
    for s in (typical, guarantee):
        small = s.sensitivity.model_copy(update={"scales": [1.0], "n_scenarios": 2})  # no extra models
        res = evaluate(s.model_copy(update={"sensitivity": small}), 3, seed=0, net=net)
        summ = res.summary()
        assert summ["fitted_noise"]["load"]["rows"] == 480
        assert all(
            v["solve_failures"] == 0 and v["solves_at_time_limit"] == 0 for v in summ["states"].values()
        )
        assert summ["capacity"]["rules"] == {"storage_rule": "paper", "load_rule": "conservative",
                                             "load_total": "limits"}  # fmt: skip
        load_total = res.capacity.total["load"]
        assert (load_total.up_mw > 0).all() and (load_total.down_mw > 0).all()  # inside the nodes' limits


# ---- noise fitted from real 15-min series (SimBench) -------------------------------------------------

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def test_shipped_history_is_what_its_script_writes_from_the_simbench_grid():
    import runpy

    script = runpy.run_path(str(EXAMPLES / "mv_semiurb_history.py"))  # not as __main__: nothing written
    assert (EXAMPLES / "mv_semiurb_april_weekdays.csv").read_text() == script["text"]()


def test_noise_fitted_from_simbench_history_matches_statsmodels():
    """examples/case39_history.yaml fits its load noise and PV forecast error from the SimBench CSV;
    statsmodels, on residuals computed here from the time column, gives the same parameters."""
    import pandas as pd
    from statsmodels.tsa.ar_model import AutoReg
    from statsmodels.tsa.stattools import acf

    st = load_study(EXAMPLES / "case39_history.yaml")
    hist = pd.read_csv(EXAMPLES / "mv_semiurb_april_weekdays.csv", parse_dates=["time"])
    assert len(hist) == 20 * 96 and hist.time.dt.weekday.max() == 4  # 20 weekdays of quarter-hours
    quarter = hist.time.dt.hour * 4 + hist.time.dt.minute // 15
    r = hist.load_mw / hist.groupby(quarter).load_mw.transform("mean") - 1.0  # vs the mean weekday
    e = hist.actual_pu - hist.forecast_pu  # PV error of the day-before persistence forecast
    noise, pv = st.load.noise, st.renewables[0]
    assert noise.mu_pu == pytest.approx(r.mean(), abs=1e-12)
    assert noise.sigma_pu == pytest.approx(r.std(ddof=1), rel=1e-12)
    assert noise.autocorrelation == pytest.approx(acf(r, nlags=1, fft=False)[1], rel=1e-9)
    assert pv.error_sigma_pu == pytest.approx(e.std(ddof=1), rel=1e-12)
    assert pv.error_autocorrelation == pytest.approx(acf(e, nlags=1, fft=False)[1], rel=1e-9)
    # the AR(1) by least squares (conditional ML) differs from the sample ACF by O(1/n) only
    for series, phi in ((r, noise.autocorrelation), (e, pv.error_autocorrelation)):
        ols = AutoReg(series.to_numpy(), lags=1, trend="c").fit().params[1]
        assert phi == pytest.approx(ols, abs=5e-3)
    # a real feeder: noisy at 15 min and persistent; the persistence forecast's error more so
    assert 0.05 < noise.sigma_pu < 0.3 and 0.5 < noise.autocorrelation < pv.error_autocorrelation < 0.99
    assert st.fitted()["renewables.pv-bus4"]["rows"] == 1920


def test_a_history_at_another_step_than_the_study_is_refused_naming_the_field(tmp_path):
    import shutil

    shutil.copy(EXAMPLES / "mv_semiurb_april_weekdays.csv", tmp_path / "h.csv")
    for field, doc in (
        ("load.noise.fit_csv", "load: {noise: {fit_csv: h.csv}}"),
        ("renewables.0.fit_csv", "renewables: [{id: pv, bus: 3, kind: pv, capacity_mw: 10, "
                                 "profile_pu: [0.2], fit_csv: h.csv}]"),
    ):  # fmt: skip
        (tmp_path / "s.yaml").write_text(f"network: {{case: case9}}\n{doc}\n")  # hourly RTS day
        with pytest.raises(ValidationError) as exc:
            load_study(tmp_path / "s.yaml")
        (p,) = exc.value.problems
        assert p.field == field and "15 min apart" in p.message and "dt_h is 60 min" in p.message, p
