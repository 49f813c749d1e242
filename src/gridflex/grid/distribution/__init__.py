"""Distribution networks for the DSO's technical VPP: model, converters, time-series power flow,
sensitivities, congestion forecast and the flexibility needs it implies (USEF FlexRequest-shaped).
"""

from gridflex.grid.distribution.convert import (
    cigre,
    from_matpower,
    from_pandapower,
    from_pandapower_json,
    from_simbench,
)
from gridflex.grid.distribution.gridfile import SHIPPED, GridCase, load_grid, save_grid
from gridflex.grid.distribution.model import DistributionNetwork, check_network, validate_network
from gridflex.grid.distribution.powerflow import PowerFlow, PowerFlowResult, run_power_flow
from gridflex.grid.distribution.profiles import ElementSeries, Profiles, flat_profiles
from gridflex.grid.distribution.sensitivity import JacobianSystem, Sensitivities, sensitivities

__all__ = [
    "SHIPPED",
    "DistributionNetwork",
    "ElementSeries",
    "GridCase",
    "JacobianSystem",
    "PowerFlow",
    "PowerFlowResult",
    "Profiles",
    "Sensitivities",
    "check_network",
    "cigre",
    "flat_profiles",
    "from_matpower",
    "from_pandapower",
    "from_pandapower_json",
    "from_simbench",
    "load_grid",
    "run_power_flow",
    "save_grid",
    "sensitivities",
    "validate_network",
]  # fmt: skip
