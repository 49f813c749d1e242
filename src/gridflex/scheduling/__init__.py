"""Site scheduling: a multi-carrier energy hub (electricity, heat, gas, hydrogen, ...) at least cost.

Public API::

    site = load_site("examples/sites/office.yaml")   # or parse_site(dict)
    result = schedule_site(site)                       # SiteResult
    result.to_json("out.json"); result.to_csv("out.csv")
    run_schedule_file(site_path, out_json, csv=None)   # the CLI's entry point
    site_json_schema()                                 # the file format as JSON schema

Lower level, to add constraint groups before solving (reserves, DSO limits)::

    sm = build_site_model(compile_site(site)); sm.model.add_constrs(...); solve_site_model(sm)
"""

from gridflex.scheduling.flexibility import site_flexibility
from gridflex.scheduling.hub import (
    SiteInfeasibleError,
    SiteModel,
    build_site_model,
    precheck_site,
    schedule_site,
    solve_site_model,
)
from gridflex.scheduling.result import SiteResult
from gridflex.scheduling.run import run_schedule_file
from gridflex.scheduling.site import (
    CompiledSite,
    Site,
    compile_site,
    load_site,
    parse_site,
    site_json_schema,
    validate_site,
)

__all__ = [
    "CompiledSite",
    "Site",
    "SiteInfeasibleError",
    "SiteModel",
    "SiteResult",
    "build_site_model",
    "compile_site",
    "load_site",
    "parse_site",
    "precheck_site",
    "run_schedule_file",
    "schedule_site",
    "site_flexibility",
    "site_json_schema",
    "solve_site_model",
    "validate_site",
]
