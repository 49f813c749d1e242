"""Site scheduling: a multi-carrier energy hub (electricity, heat, gas, hydrogen, ...) at least cost.

Public API::

    site = load_site("examples/sites/office.yaml")   # or parse_site(dict)
    result = schedule_site(site)                       # SiteResult
    result.to_json("out.json"); result.to_csv("out.csv")
    compiled, result = run_schedule_file(site_path, out_json, csv=None)   # the CLI's entry point
    site_json_schema()                                 # the file format as JSON schema

Services (reserves, DSO contracts; ``services:`` / ``strategy:`` in the file, docs/services.md)::

    schedule_site(site)                    # with services: the site's strategy (default cooptimised)
    run_strategy(site, "energy_first")     # or "services_first", "cooptimised"
    compare_strategies(site)               # DataFrame: value and breakdown, one column per strategy
    run_mpc(site, days=7, step_h=1, horizon_h=24, forecast_error=0.1, seed=0)   # MpcResult

Lower level, to add constraint groups before solving (reserves, DSO limits)::

    sm = build_site_model(compile_site(site)); sm.model.add_constrs(...); solve_site_model(sm)
    sv = add_services(sm, compile_site(site).products)   # the services' groups, then solve_site_model
"""

from gridflex.errors import SiteInfeasibleError
from gridflex.scheduling.flexibility import site_flexibility
from gridflex.scheduling.hub import (
    SiteModel,
    build_site_model,
    precheck_site,
    solve_site_model,
)
from gridflex.scheduling.mpc import MpcResult, run_mpc
from gridflex.scheduling.pooling import PoolResult, pool_dso_contract
from gridflex.scheduling.result import SiteResult
from gridflex.scheduling.schedule import run_schedule_file, schedule_site
from gridflex.scheduling.services import ServiceModel, add_services
from gridflex.scheduling.site import (
    CompiledSite,
    Site,
    compile_site,
    load_site,
    parse_site,
    site_json_schema,
    site_on_horizon,
    validate_site,
)
from gridflex.scheduling.strategies import STRATEGIES, compare_strategies, run_strategy, strategy_table

__all__ = [
    "STRATEGIES",
    "CompiledSite",
    "MpcResult",
    "PoolResult",
    "ServiceModel",
    "Site",
    "SiteInfeasibleError",
    "SiteModel",
    "SiteResult",
    "add_services",
    "build_site_model",
    "compare_strategies",
    "compile_site",
    "load_site",
    "parse_site",
    "pool_dso_contract",
    "precheck_site",
    "run_mpc",
    "run_schedule_file",
    "run_strategy",
    "schedule_site",
    "site_flexibility",
    "site_json_schema",
    "site_on_horizon",
    "solve_site_model",
    "strategy_table",
    "validate_site",
]
