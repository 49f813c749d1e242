"""Transmission networks, multi-period DC-OPF and published RTS data."""

from gridflex.grid.capacity import Capacity, UpDown
from gridflex.grid.economics import LogFit, fit_log
from gridflex.grid.evaluation import (
    MemoryEstimate,
    SolvePlan,
    check_evaluation,
    evaluate,
    memory_estimate,
    solve_plan,
)
from gridflex.grid.limits import MAX_PERIODS
from gridflex.grid.network import Network, validate_network
from gridflex.grid.opf import MultiPeriodDCOPF, OPFResult, Renewables, Storage
from gridflex.grid.rts import (
    RTS96_RAMP_MW_PER_MIN,
    rts24_load_mw,
    rts24_network,
    rts_hourly_load_pu,
    rts_load_shape,
    rts_peak_day_load_pu,
)
from gridflex.grid.scenarios import Scenarios, generate_scenarios
from gridflex.grid.study import Study, as_study, load_study, study_json_schema
from gridflex.grid.summary import EvaluationResult, StateResult

__all__ = [
    "MAX_PERIODS",
    "RTS96_RAMP_MW_PER_MIN",
    "Capacity",
    "EvaluationResult",
    "LogFit",
    "MemoryEstimate",
    "MultiPeriodDCOPF",
    "Network",
    "OPFResult",
    "Renewables",
    "Scenarios",
    "SolvePlan",
    "StateResult",
    "Storage",
    "Study",
    "UpDown",
    "as_study",
    "check_evaluation",
    "evaluate",
    "fit_log",
    "generate_scenarios",
    "load_study",
    "memory_estimate",
    "rts24_load_mw",
    "rts24_network",
    "rts_hourly_load_pu",
    "rts_load_shape",
    "rts_peak_day_load_pu",
    "solve_plan",
    "study_json_schema",
    "validate_network",
]
