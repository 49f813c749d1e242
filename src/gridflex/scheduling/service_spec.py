"""The ``services:`` and ``strategy:`` sections of a site file (pydantic; the schema's source of truth).

Reserves (FCR, aFRR up/down, mFRR) and DSO local-flexibility contracts (Enedis style, with or
without capacity reservation) that a site sells next to its energy; see ``docs/services.md``.
Power is in kW in the file like everywhere else (1 MW = 1000 kW); prices keep the market's units
(EUR per MW per hour of availability, EUR per MWh of activation energy).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from gridflex.timegrid import Series

ReserveProduct = Literal["fcr", "afrr_up", "afrr_down", "mfrr", "rr", "rc"]

DIRECTIONS: dict[str, str] = {
    "fcr": "symmetric", "afrr_up": "up", "afrr_down": "down", "mfrr": "up", "rr": "up", "rc": "up",
}  # fmt: skip
"""Direction of each product: up = more power into the grid (the site exports more / imports less),
down = less power into the grid."""

DEFAULT_DURATION_H: dict[str, float] = {
    "fcr": 0.25, "afrr_up": 1.0, "afrr_down": 1.0, "mfrr": 1.0, "rr": 1.0, "rc": 1.0,
}  # fmt: skip
"""Default delivery duration the energy headroom must cover (configurable per reserve)."""

DEFAULT_RESPONSE_S: dict[str, float] = {
    "fcr": 30.0, "afrr_up": 300.0, "afrr_down": 300.0, "mfrr": 900.0, "rr": 780.0, "rc": 1800.0,
}  # fmt: skip
"""Full activation time each product requires (ENTSO-E / RTE: FCR 30 s, aFRR 5 min, mFRR 15 min,
rapid reserve RR 13 min, complementary reserve RC 30 min): an asset slower than this cannot provide."""

DEFAULT_DELAY_S: dict[str, float] = {
    "fcr": 0.0, "afrr_up": 0.0, "afrr_down": 0.0, "mfrr": 0.0, "rr": 780.0, "rc": 1800.0,
}  # fmt: skip
"""Activation delay: delivery starts this long after the call (RTE's RR and RC are called with 13
and 30 min notice); the schedule keeps its headroom from the call on, the deviation only after it."""

DEFAULT_ASSET_RESPONSE_S: dict[str, float] = {
    "battery": 1.0, "storage": 1.0, "thermal_storage": 1.0, "ev": 10.0, "pv": 1.0, "heat_pump": 120.0,
    "converter": 60.0, "fridge": 180.0, "freezer": 180.0, "compressed_air_storage": 600.0,
    "liquid_air_storage": 600.0,
}  # fmt: skip
"""Assumed time for an asset kind to reach a new set point (inverters in about a second, an EV
charger in seconds, a heat pump's compressor in minutes, a fridge's compressor after its 3-minute
anti-short-cycle delay, a CAES or LAES machine train from standstill in about ten minutes); override
per asset in ``services.response_times_s``. A converter with a minimum load (CHP, fuel cell)
defaults to 300 s."""

DEFAULT_MIN_LOAD_RESPONSE_S = 300.0

Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def _every_day() -> list[Weekday]:
    return list(WEEKDAYS)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ReserveSpec(_Strict):
    """A frequency reserve the site offers: committed kW constant per block, paid per MW and hour."""

    name: str = Field(min_length=1, description="unique service name, used in results and messages")
    product: ReserveProduct = Field(
        description="fcr (symmetric), afrr_up, afrr_down, mfrr (up), rr (rapid reserve, up) or rc "
        "(complementary reserve, up)"
    )
    direction: Literal["up", "down", "symmetric"] | None = Field(
        None, description="override the product's direction (mfrr may be 'down')"
    )
    block_h: float = Field(
        4.0, gt=0, description="product block length, h: the commitment is constant within"
    )
    min_bid_kw: float = Field(0.0, ge=0, description="smallest commitment per block if any (0 = none), kW")
    step_kw: float = Field(
        0.0, ge=0, description="commitments are integer multiples of this (0 = continuous), kW"
    )
    max_kw: float | None = Field(None, gt=0, description="largest commitment per block, kW")
    availability_price_eur_per_mw_h: Series = Field(
        description="availability price per MW committed per hour: a number or a series"
    )
    delivery_duration_h: float | None = Field(
        None, gt=0, description="full activation the stores must hold, h (default fcr 0.25, others 1)"
    )
    response_time_s: float | None = Field(
        None,
        gt=0,
        description="full activation time required, s (default fcr 30, afrr 300, mfrr 900, "
        "rr 780, rc 1800): slower assets cannot provide",
    )
    activation_delay_s: float | None = Field(
        None,
        ge=0,
        description="delivery starts this long after the call, s (default rr 780, rc 1800, others 0)",
    )
    activation_share: float = Field(
        0.0, ge=0, le=1, description="expected share of the time the reserve is activated (each direction)"
    )
    activation_price_eur_per_mwh: Series = Field(
        0.0, description="price of activated energy: paid to the site (up) or by the site (down)"
    )
    providers: list[str] | None = Field(
        None, description="assets allowed to provide it (default: every eligible asset)"
    )
    committed_kw: Series | None = Field(
        None, description="already sold (e.g. auction cleared): commitment kept as given, kW"
    )

    @property
    def resolved_direction(self) -> str:
        return self.direction or DIRECTIONS[self.product]

    @property
    def duration_h(self) -> float:
        return self.delivery_duration_h or DEFAULT_DURATION_H[self.product]

    @property
    def response_s(self) -> float:
        return self.response_time_s or DEFAULT_RESPONSE_S[self.product]

    @property
    def delay_h(self) -> float:
        delay = self.activation_delay_s
        return (DEFAULT_DELAY_S[self.product] if delay is None else delay) / 3600.0


class ActivationWindow(_Strict):
    """Days of the week and local hours in which the DSO may call an activation."""

    days: list[Weekday] = Field(default_factory=_every_day, description="days of the week (mon … sun)")
    start: str = Field(description="local start time 'HH:MM'")
    end: str = Field(description="local end time 'HH:MM' (exclusive; '24:00' = midnight)")


class DsoContractSpec(_Strict):
    """A local flexibility contract with the distribution operator (Enedis-style tender)."""

    name: str = Field(min_length=1, description="unique service name, used in results and messages")
    reservation: bool = Field(
        True,
        description="with capacity reservation: power_kw is kept available in every window and paid; "
        "without: activation only, the site keeps what it chooses (0 or at least min_power_kw)",
    )
    power_kw: float = Field(gt=0, description="contracted power the site can reduce its import by, kW")
    min_power_kw: float = Field(0.0, ge=0, description="minimum power of the tender, kW (e.g. 250)")
    min_duration_h: float = Field(gt=0, description="minimum duration of an activation, h")
    start: str | None = Field(
        None, description="contract start, ISO 8601 with offset (default: horizon start)"
    )
    end: str | None = Field(None, description="contract end (exclusive), ISO 8601 with offset")
    calendar: list[ActivationWindow] = Field(
        min_length=1, description="when activations may be called: days and local hours"
    )
    direction: Literal["up", "down"] = Field(
        "up", description="up = reduce import (consumption congestion), down = raise it (generation)"
    )
    availability_price_eur_per_mw_h: float = Field(
        0.0, ge=0, description="capacity payment per MW kept per window hour (reservation only)"
    )
    activation_price_eur_per_mwh: float = Field(0.0, description="payment per MWh activated")
    activation_share: float = Field(
        0.0, ge=0, le=1, description="expected share of window time the DSO activates"
    )
    providers: list[str] | None = Field(
        None, description="assets allowed to provide it (default: all eligible)"
    )
    response_time_s: float | None = Field(
        None, gt=0, description="full activation time the DSO requires, s (default: none required)"
    )


class PeakHours(_Strict):
    """Local hours of a peak window on a peak day."""

    start: str = Field(description="local start time 'HH:MM'")
    end: str = Field(description="local end time 'HH:MM' (exclusive)")


def _rte_peak_hours() -> list[PeakHours]:
    return [PeakHours(start="07:00", end="15:00"), PeakHours(start="18:00", end="20:00")]


class CapacitySpec(_Strict):
    """RTE capacity mechanism: capacity certified on the peak periods (PP1/PP2), kept available in them.

    The certified capacity ``C`` (kW, one value) must be deliverable up (less import or more
    export) over every whole peak window of the calendar's days in the horizon, and is paid
    ``price_eur_per_mw_year`` per MW for the delivery year, spread over the year's peak hours.
    """

    name: str = Field("capacity", min_length=1, description="service name, used in results and messages")
    price_eur_per_mw_year: float = Field(
        ge=0, description="capacity price, EUR per MW certified for the year"
    )
    pp1_days: list[str] = Field(default_factory=list, description="PP1 days, local dates 'YYYY-MM-DD'")
    pp2_days: list[str] = Field(default_factory=list, description="PP2 days, local dates 'YYYY-MM-DD'")
    hours: list[PeakHours] = Field(
        default_factory=_rte_peak_hours, min_length=1,
        description="peak windows of a peak day, local (RTE: 07:00-15:00 and 18:00-20:00)",
    )  # fmt: skip
    peak_hours_per_year: float | None = Field(
        None, gt=0, description="peak hours of the delivery year the price spreads over (default: the listed "
        "days × the windows' hours)",
    )  # fmt: skip
    max_kw: float | None = Field(None, gt=0, description="largest capacity to certify, kW")
    providers: list[str] | None = Field(
        None, description="assets allowed to provide it (default: all eligible)"
    )


class ServicesSpec(_Strict):
    reserves: list[ReserveSpec] = Field(default_factory=list, description="frequency reserves offered")
    dso_contracts: list[DsoContractSpec] = Field(
        default_factory=list, description="DSO local flexibility contracts"
    )
    capacity: CapacitySpec | None = Field(None, description="RTE capacity mechanism (PP1/PP2 peak periods)")
    response_times_s: dict[str, float] = Field(
        default_factory=dict,
        description="asset name → time to reach a new set point, s (defaults per kind: battery 1, EV 10, "
        "PV 1, heat pump 120, converter 60, with a minimum load 300)",
    )


class StrategySpec(_Strict):
    name: Literal["cooptimised", "energy_first", "services_first", "two_loop"] = Field(
        "cooptimised",
        description="cooptimised: one model; energy_first: energy, then services on the residual headroom; "
        "services_first: services on forecast prices, then energy with the commitments fixed; "
        "two_loop: day-ahead position and services on forecasts, then intraday on the actual data "
        "(needs prices.intraday)",
    )
    forecast_error: float = Field(
        0.1,
        ge=0,
        lt=10,
        description="two_loop: relative error of the day-ahead forecasts of electric loads and PV",
    )
    seed: int = Field(0, ge=0, description="two_loop: seed of the forecast errors")
    price_forecast: Literal["flat", "previous_day"] | Series = Field(
        "flat",
        description="day-ahead prices assumed when services are committed first: 'flat' (the mean), "
        "'previous_day' (SMARD prices 24 h earlier) or a series, EUR/MWh",
    )
