"""Helpers of the PPBC / OMBC / DDBC tests: a site with gas, a real CEM with one simulator, sessions."""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from s2python.common import Commodity, CommodityQuantity, NumberRange, PowerRange
from s2python.ddbc import DDBCActuatorDescription, DDBCOperationMode, DDBCSystemDescription
from s2python.ombc import OMBCSystemDescription

from gridflex.s2.protocol import Device, Session
from gridflex.s2.rm.sim_devices import CHP
from gridflex.s2.rm.simulators import Simulator
from gridflex.s2.schema import parse_problems, schema_problems
from gridflex.s2.server import CEM
from gridflex.scheduling import Site, parse_site
from tests.s2.helpers import TOKEN, details, handshake, start_cem

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def gas_site(prices: Sequence[float], gas_eur_per_mwh: float = 25.0) -> Site:
    """Eight quarter hours, electricity (import and export at ``prices``), gas, a 1 kW house."""
    return parse_site({
        "name": "s2-modes", "time": {"start": "2024-01-01T00:00:00Z", "step_s": 900, "n_periods": len(prices)},
        "prices": {"day_ahead_eur_per_mwh": list(prices)},
        "assets": [{"kind": "grid_connection", "name": "meter", "fuse_kw": 25, "export_price_eur_per_mwh": list(prices)},
                   {"kind": "grid_connection", "name": "gas", "carrier": "gas",
                    "import_price_eur_per_mwh": gas_eur_per_mwh, "export_max_kw": 0},
                   {"kind": "load", "name": "house", "profile_kw": 1.0}],
    })  # fmt: skip


def heat_site(
    prices: Sequence[float],
    heat_kw: float | list[float] | None,
    gas_eur_per_mwh: float = 40.0,
    boiler: bool = True,
) -> Site:
    """:func:`gas_site` with a heat bus: a gas boiler (92 %) and, unless ``heat_kw`` is None, a heat load."""
    site = gas_site(prices, gas_eur_per_mwh)
    data = site.model_dump(mode="json", exclude_none=True)
    if boiler:
        data["assets"].append({"kind": "converter", "name": "gas-boiler", "input_carrier": "gas",
                               "outputs": {"heat": 0.92}, "input_max_kw": 40})  # fmt: skip
    if heat_kw is not None:
        data["assets"].append({"kind": "load", "name": "heat-load", "carrier": "heat", "profile_kw": heat_kw})
    return parse_site(data)


HEAT = CommodityQuantity.HEAT_THERMAL_POWER
ELEC_3P = CommodityQuantity.ELECTRIC_POWER_3_PHASE_SYMMETRIC
CHP_HEAT_W = {"off": 0.0, "low": -4300.0, "full": -7000.0}
"""Heat of the CHP simulator's modes (S2 sign: produced heat is negative): 56 % / 50 % of its gas."""


def chp_with_heat(chp: CHP, now: datetime) -> OMBCSystemDescription:
    """The CHP simulator's system description: HEAT.THERMAL_POWER in every mode, as ``CHP_HEAT_W``."""
    sd = chp.system_description(now)
    for md in sd.operation_modes:
        heat = [r for r in md.power_ranges if r.commodity_quantity == HEAT]
        assert [r.start_of_range for r in heat] == [CHP_HEAT_W[md.diagnostic_label or ""]]
    return sd


def chp_without_heat(chp: CHP, now: datetime) -> OMBCSystemDescription:
    """The CHP simulator's system description without its heat ranges (electricity and gas only)."""
    sd = chp.system_description(now)
    for md in sd.operation_modes:
        md.power_ranges = [r for r in md.power_ranges if r.commodity_quantity != HEAT]
    return sd


def _ddbc_mode(label: str, power: list[PowerRange], supply: tuple[float, float]) -> DDBCOperationMode:
    mid = uuid.uuid4()  # s2-python 0.11 wants both "Id" and "id", and supply_range as a list
    return DDBCOperationMode.model_validate({
        "Id": str(mid), "id": mid, "diagnostic_label": label, "power_ranges": power, "abnormal_condition_only": False,
        "supply_range": [NumberRange(start_of_range=supply[0], end_of_range=supply[1])]})  # fmt: skip


def hot_water_tank(now: datetime, demand_kw: float = 6.0) -> DDBCSystemDescription:
    """A DDBC device whose demand (hot water, kW) is met by a heat exchanger on the site's heat
    network (0–10 kW of HEAT.THERMAL_POWER taken) or an electric heater (0–6 kW)."""
    acts = []
    for label, q, kw in (("heat exchanger", HEAT, 10.0), ("electric heater", ELEC_3P, 6.0)):
        off = _ddbc_mode(
            "off", [PowerRange(start_of_range=0.0, end_of_range=0.0, commodity_quantity=q)], (0, 0)
        )
        on = _ddbc_mode("on", [PowerRange(start_of_range=0.0, end_of_range=kw * 1000, commodity_quantity=q)],
                        (0.0, kw))  # fmt: skip
        acts.append(DDBCActuatorDescription(
            id=uuid.uuid4(), diagnostic_label=label, operation_modes=[off, on], transitions=[], timers=[],
            supported_commodites=[Commodity.HEAT if q == HEAT else Commodity.ELECTRICITY]))  # fmt: skip
    return DDBCSystemDescription(message_id=uuid.uuid4(), valid_from=now, actuators=acts,
                                 present_demand_rate=NumberRange(start_of_range=demand_kw, end_of_range=demand_kw),
                                 provides_average_demand_rate_forecast=False)  # fmt: skip


async def run_device(
    kind: str, site: Site, duration_s: float = 7200.0, speed: float = 1800.0, setup: Any = None
) -> tuple[CEM, Simulator, list[str]]:
    """A real CEM on 127.0.0.1 (ephemeral port) and one simulator over the socket until the end."""
    cem, port, frames = await start_cem(site, speed)
    try:
        sim = Simulator(kind, f"ws://127.0.0.1:{port}/s2", TOKEN, clock=cem.clock, report_every_s=0.2)
        if setup is not None:
            setup(sim)
        await sim.run(duration_s=duration_s)
    finally:
        await cem.stop()
    return cem, sim, frames


def assert_all_valid(frames: list[str], statuses_ok: bool = True) -> None:
    """Every frame the CEM sent conforms to the schema and parses with s2-python; with
    ``statuses_ok`` nothing was refused either (every ReceptionStatus OK)."""
    assert frames
    for f in frames:
        assert schema_problems(f) == [], f
        assert parse_problems(f) == [], f
        m = json.loads(f)
        if statuses_ok and m["message_type"] == "ReceptionStatus":
            assert m["status"] == "OK", m


def sent(frames: list[str], mtype: str) -> list[dict[str, Any]]:
    return [m for m in map(json.loads, frames) if m["message_type"] == mtype]


def session(control_types: list[str], rid: str | None = None) -> Session:
    rid = rid or str(uuid.uuid4())
    s = Session(Device(rid), rate_per_s=1e9, burst=1e9)
    s.opening()
    s.handle_frame(handshake())
    s.handle_frame(details(rid, control_types))
    return s


def statuses(out: Any) -> list[str]:
    return [m.status.value for m in out.replies if m.message_type == "ReceptionStatus"]
