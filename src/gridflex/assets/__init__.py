"""Asset kinds of a site: one module per kind, each a small parameter model that builds its part of the
site model in one vectorized pass (see :mod:`gridflex.assets.base` for the contract).

=================  =========================================================================
kind               module
=================  =========================================================================
grid_connection    :mod:`gridflex.assets.grid_connection` (any carrier; prices, limits, peak)
battery            :mod:`gridflex.assets.battery`
ev                 :mod:`gridflex.assets.ev`
heat_pump          :mod:`gridflex.assets.heat_pump`
storage            :mod:`gridflex.assets.storage` (also ``thermal_storage``; any carrier)
converter          :mod:`gridflex.assets.converter` (boilers, CHP, electrolyser, fuel cell; several inputs)
compressed_air_storage  :mod:`gridflex.assets.bulk_storage` (diabatic CAES: compressor, cavern, gas-fired expander)
liquid_air_storage :mod:`gridflex.assets.bulk_storage` (LAES; optional heat and cold coupling)
building           :mod:`gridflex.assets.thermal` (indoor temperature state, RC model, comfort band)
fridge, freezer    :mod:`gridflex.assets.thermal` (a compartment cooled by a compressor, temperature band)
link               :mod:`gridflex.assets.link` (a line between two nodes: limits and losses)
pv                 :mod:`gridflex.assets.pv`
load               :mod:`gridflex.assets.load`
shiftable_process  :mod:`gridflex.assets.shiftable_process` (MILP)
mode_machine       :mod:`gridflex.assets.mode_machine` (modes, transitions, timers; MILP: a CHP)
demand_machines    :mod:`gridflex.assets.mode_machine` (made by the S2 CEM for a DDBC device)
fill_rate_fleet    :mod:`gridflex.assets.fill_rate` (made by the S2 CEM for its FRBC devices)
power_envelope     :mod:`gridflex.assets.power_envelope` (made by the S2 CEM for a PEBC device)
power_sequence     :mod:`gridflex.assets.power_sequence` (made by the S2 CEM for a PPBC device; MILP)
=================  =========================================================================
"""

from typing import Annotated

from pydantic import Field

from gridflex.assets.base import AssetBase, Built, Context, Flex, Output, SoftConstraint
from gridflex.assets.battery import Battery
from gridflex.assets.bulk_storage import CompressedAirStorage, LiquidAirStorage
from gridflex.assets.converter import Converter
from gridflex.assets.ev import EV
from gridflex.assets.fill_rate import FillRateDevice, FillRateFleetAsset
from gridflex.assets.grid_connection import GridConnection
from gridflex.assets.heat_pump import HeatPump, carnot_cop
from gridflex.assets.link import Link
from gridflex.assets.load import Load
from gridflex.assets.mode_machine import DemandMachines, ModeMachine
from gridflex.assets.power_envelope import PowerEnvelope, PowerEnvelopeDevice
from gridflex.assets.power_sequence import PowerSequenceAsset
from gridflex.assets.pv import PV
from gridflex.assets.shiftable_process import ShiftableProcess
from gridflex.assets.storage import Storage
from gridflex.assets.thermal import Building, ColdAppliance
from gridflex.timegrid import expand

Asset = Annotated[
    GridConnection
    | Battery
    | EV
    | HeatPump
    | Storage
    | Converter
    | PV
    | Load
    | ShiftableProcess
    | ModeMachine
    | DemandMachines
    | FillRateFleetAsset
    | PowerEnvelope
    | PowerSequenceAsset
    | CompressedAirStorage
    | LiquidAirStorage
    | Building
    | ColdAppliance
    | Link,
    Field(discriminator="kind"),
]
"""Any asset kind, chosen by its ``kind`` field (the S2 CEM's device kinds among them)."""

# The kinds a site file writes (the S2 CEM's own device kinds, e.g. demand_machines, are left out)
ASSET_KINDS: dict[str, type[AssetBase]] = {
    "grid_connection": GridConnection,
    "battery": Battery,
    "ev": EV,
    "heat_pump": HeatPump,
    "storage": Storage,
    "thermal_storage": Storage,
    "converter": Converter,
    "pv": PV,
    "load": Load,
    "shiftable_process": ShiftableProcess,
    "mode_machine": ModeMachine,
    "compressed_air_storage": CompressedAirStorage,
    "liquid_air_storage": LiquidAirStorage,
    "building": Building,
    "fridge": ColdAppliance,
    "freezer": ColdAppliance,
    "link": Link,
}

__all__ = [
    "ASSET_KINDS",
    "EV",
    "PV",
    "Asset",
    "AssetBase",
    "Battery",
    "Building",
    "Built",
    "ColdAppliance",
    "CompressedAirStorage",
    "Context",
    "Converter",
    "DemandMachines",
    "FillRateDevice",
    "FillRateFleetAsset",
    "Flex",
    "GridConnection",
    "HeatPump",
    "Link",
    "LiquidAirStorage",
    "Load",
    "ModeMachine",
    "Output",
    "PowerEnvelope",
    "PowerEnvelopeDevice",
    "PowerSequenceAsset",
    "ShiftableProcess",
    "SoftConstraint",
    "Storage",
    "carnot_cop",
    "expand",
]
