"""Distribution networks for the DSO's technical VPP: model, converters, time-series power flow,
sensitivities, congestion forecast and the flexibility needs it implies (USEF FlexRequest-shaped).
"""

from gridflex.grid.distribution.congestion import (
    CongestionForecast,
    CongestionPoint,
    Limits,
    forecast,
    forecast_by_day,
    relieve,
)
from gridflex.grid.distribution.convert import (
    cigre,
    from_matpower,
    from_pandapower,
    from_pandapower_json,
    from_simbench,
)
from gridflex.grid.distribution.envelopes import OperatingEnvelopes, operating_envelopes
from gridflex.grid.distribution.gridfile import SHIPPED, GridCase, load_grid, save_grid
from gridflex.grid.distribution.model import DistributionNetwork, check_network, validate_network
from gridflex.grid.distribution.powerflow import PowerFlow, PowerFlowResult, run_power_flow
from gridflex.grid.distribution.profiles import ElementSeries, Profiles, flat_profiles
from gridflex.grid.distribution.requests import FlexRequest, FlexRequestBatch, flex_requests, request_batch
from gridflex.grid.distribution.sensitivity import JacobianSystem, Sensitivities, sensitivities
from gridflex.grid.distribution.stress import SCENARIOS, StressScenario, stress

__all__ = [
    "SCENARIOS",
    "SHIPPED",
    "CongestionForecast",
    "CongestionPoint",
    "DistributionNetwork",
    "ElementSeries",
    "FlexRequest",
    "FlexRequestBatch",
    "GridCase",
    "JacobianSystem",
    "Limits",
    "OperatingEnvelopes",
    "PowerFlow",
    "PowerFlowResult",
    "Profiles",
    "Sensitivities",
    "StressScenario",
    "check_network",
    "cigre",
    "flat_profiles",
    "flex_requests",
    "forecast",
    "forecast_by_day",
    "from_matpower",
    "from_pandapower",
    "from_pandapower_json",
    "from_simbench",
    "load_grid",
    "operating_envelopes",
    "relieve",
    "request_batch",
    "run_power_flow",
    "save_grid",
    "sensitivities",
    "stress",
    "validate_network",
]  # fmt: skip
