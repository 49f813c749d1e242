"""gridflex: energy flexibility from the device to the grid.

The public API is this module's ``__all__`` (pinned by ``tests/test_public_api.py``): flex-offers,
multi-energy sites, power-system evaluation, prices and time grids, the optimisation layer and the
errors. Names are imported on first use (PEP 562), so ``import gridflex`` and the CLI start fast.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_ERRORS = (
    "DataError DisaggregationError FlexOfferValidationError GridflexError InfeasibleError ModelError "
    "Problem SiteInfeasibleError SolverError TimeGridError UnboundedError ValidationError"
)
_FLEXOFFER = (
    "Aggregation ExecutionResult FlexOfferBatch Schedule ScheduleResult aggregate balance_aggregate "
    "check_flexoffers disaggregate execute fleet_horizon flexibility_summary generate_fleet "
    "read_flexoffers schedule_flexoffers simulate_measurements validate_flexoffers write_flexoffers"
)
_SCHEDULING = (
    "CompiledSite MpcResult Site SiteResult compare_strategies compile_site load_site parse_site "
    "run_mpc run_schedule_file run_strategy schedule_site site_flexibility site_on_horizon validate_site"
)
_GRID = "EvaluationResult Study evaluate load_study"
_SOURCES = {
    "gridflex.errors": _ERRORS,
    "gridflex.flexoffer": _FLEXOFFER,
    "gridflex.scheduling": _SCHEDULING,
    "gridflex.grid": _GRID,
    "gridflex.market.prices": "load_smard_prices prices_on_grid",
    "gridflex.optimize": "Model Solution",
    "gridflex.timegrid": "TimeGrid local_day_grid local_to_utc",
}
_WHERE = {name: module for module, names in _SOURCES.items() for name in names.split()}

__all__ = ["__version__", *sorted(_WHERE)]


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'gridflex' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


if TYPE_CHECKING:  # for type checkers and IDEs: the same names, imported eagerly
    from gridflex.errors import (
        DataError,
        DisaggregationError,
        FlexOfferValidationError,
        GridflexError,
        InfeasibleError,
        ModelError,
        Problem,
        SiteInfeasibleError,
        SolverError,
        TimeGridError,
        UnboundedError,
        ValidationError,
    )
    from gridflex.flexoffer import (
        Aggregation,
        ExecutionResult,
        FlexOfferBatch,
        Schedule,
        ScheduleResult,
        aggregate,
        balance_aggregate,
        check_flexoffers,
        disaggregate,
        execute,
        fleet_horizon,
        flexibility_summary,
        generate_fleet,
        read_flexoffers,
        schedule_flexoffers,
        simulate_measurements,
        validate_flexoffers,
        write_flexoffers,
    )
    from gridflex.grid import EvaluationResult, Study, evaluate, load_study
    from gridflex.market.prices import load_smard_prices, prices_on_grid
    from gridflex.optimize import Model, Solution
    from gridflex.scheduling import (
        CompiledSite,
        MpcResult,
        Site,
        SiteResult,
        compare_strategies,
        compile_site,
        load_site,
        parse_site,
        run_mpc,
        run_schedule_file,
        run_strategy,
        schedule_site,
        site_flexibility,
        site_on_horizon,
        validate_site,
    )
    from gridflex.timegrid import TimeGrid, local_day_grid, local_to_utc
