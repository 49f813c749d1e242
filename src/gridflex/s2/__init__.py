"""S2 adapter: a CEM speaking s2-ws-json to resource managers, mapping them onto the site optimiser.

Public API::

    serve(site_path, host, port, tokens_path, certfile=None, keyfile=None, control_types=None)
                                    # gridflex cem serve [--control-types FRBC,PPBC,...]
    simulate(kind, url, token, speed=1.0, duration_s=None)                   # gridflex rm simulate
    CEM(site, tokens, clock=None, control_types=None)   # await cem.start(host, port); cem.stop()
    cem.set_congestion_limit(import_kw, export_kw=None, start=None)         # a DSO's cap, at run time
    parse_control_types("PEBC,FRBC") → [ControlType, ...]                  # the policy's names
    Session(Device(rid)).handle_frame(frame) → Outcome(replies, events, close)   # pure handler
    plan_site(site, PlanRequest(...)) → Plan                                   # the optimiser step

Layout: the protocol here (``server``, ``protocol``, ``planner``, ``schema``, ``clock``; ``admin``
checks the operator's commands, ``planning_process`` plans in a worker process);
``control/`` one module per control type behind one registry (``control.CONTROLS``); ``rm/`` the
device simulators. The device models are assets of the core (``gridflex.assets``: ``fill_rate``,
``power_envelope``, ``power_sequence``, ``mode_machine``).

The core never imports this package (see ARCHITECTURE.md); it only calls the core.
"""

from gridflex.s2.clock import Clock
from gridflex.s2.planner import Plan, PlanRequest, plan_site
from gridflex.s2.protocol import SUPPORTED_CONTROL_TYPES, Device, Event, Outcome, Session, SessionState
from gridflex.s2.rm.simulators import KINDS, Simulator, simulate
from gridflex.s2.schema import PROTOCOL_VERSION, s2_json_schema
from gridflex.s2.server import CEM, parse_control_types, read_tokens, serve

__all__ = [
    "CEM",
    "KINDS",
    "PROTOCOL_VERSION",
    "SUPPORTED_CONTROL_TYPES",
    "Clock",
    "Device",
    "Event",
    "Outcome",
    "Plan",
    "PlanRequest",
    "Session",
    "SessionState",
    "Simulator",
    "parse_control_types",
    "plan_site",
    "read_tokens",
    "s2_json_schema",
    "serve",
    "simulate",
]
