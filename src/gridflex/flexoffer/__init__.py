"""Flex-offers through their lifecycle: aggregation → scheduling → disaggregation → execution."""

from gridflex.flexoffer.aggregation import Aggregation, aggregate, balance_aggregate, group_offers
from gridflex.flexoffer.disaggregation import disaggregate
from gridflex.flexoffer.execution import (
    ExecutionResult,
    activation_payment_eur,
    execute,
    simulate_measurements,
)
from gridflex.flexoffer.fleet import DEFAULT_MIX, fleet_horizon, generate_fleet
from gridflex.flexoffer.io import flexoffers_from_json, flexoffers_to_json, read_flexoffers, write_flexoffers
from gridflex.flexoffer.measures import flexibility_summary
from gridflex.flexoffer.model import NO_TIME, FlexOfferBatch, Schedule, envelope_on_grid, place_on_grid
from gridflex.flexoffer.schedule import ScheduleResult, schedule_cost_eur, schedule_flexoffers
from gridflex.flexoffer.validate import check_flexoffers, validate_flexoffers, validate_schedule

__all__ = [
    "DEFAULT_MIX",
    "NO_TIME",
    "Aggregation",
    "ExecutionResult",
    "FlexOfferBatch",
    "Schedule",
    "ScheduleResult",
    "activation_payment_eur",
    "aggregate",
    "balance_aggregate",
    "check_flexoffers",
    "disaggregate",
    "envelope_on_grid",
    "execute",
    "fleet_horizon",
    "flexibility_summary",
    "flexoffers_from_json",
    "flexoffers_to_json",
    "generate_fleet",
    "group_offers",
    "place_on_grid",
    "read_flexoffers",
    "schedule_cost_eur",
    "schedule_flexoffers",
    "simulate_measurements",
    "validate_flexoffers",
    "validate_schedule",
    "write_flexoffers",
]
