"""gridflex: energy flexibility from the device to the grid.

The public API is this module's ``__all__`` (checked by ``tests/test_public_api.py``).
"""

from gridflex.errors import (
    DataError,
    DisaggregationError,
    FlexOfferValidationError,
    GridflexError,
    InfeasibleError,
    ModelError,
    Problem,
    SolverError,
    TimeGridError,
    UnboundedError,
    ValidationError,
)
from gridflex.flexoffer import (
    Aggregation,
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
from gridflex.optimize import Model, Solution
from gridflex.prices import load_smard_prices, local_day_grid, prices_on_grid
from gridflex.timegrid import TimeGrid, local_to_utc

__version__ = "0.1.0"

__all__ = [
    "Aggregation",
    "DataError",
    "DisaggregationError",
    "FlexOfferBatch",
    "FlexOfferValidationError",
    "GridflexError",
    "InfeasibleError",
    "Model",
    "ModelError",
    "Problem",
    "Schedule",
    "ScheduleResult",
    "Solution",
    "SolverError",
    "TimeGrid",
    "TimeGridError",
    "UnboundedError",
    "ValidationError",
    "__version__",
    "aggregate",
    "balance_aggregate",
    "check_flexoffers",
    "disaggregate",
    "execute",
    "fleet_horizon",
    "flexibility_summary",
    "generate_fleet",
    "load_smard_prices",
    "local_day_grid",
    "local_to_utc",
    "prices_on_grid",
    "read_flexoffers",
    "schedule_flexoffers",
    "simulate_measurements",
    "validate_flexoffers",
    "write_flexoffers",
]
