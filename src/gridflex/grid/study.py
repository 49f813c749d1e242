"""The study file of a flexibility evaluation: network, load day, noise, renewables, storage, demand response.

One YAML or JSON file describes everything ``gridflex evaluate`` needs. The pydantic models below are
the single source of truth of its schema (``study_json_schema()``; a copy is kept in
``docs/evaluation-study.schema.json`` and a test checks they agree). Units are in the field names:
MW, MWh, hours, per-unit (``_pu``, a fraction).

Bad input is reported by :func:`load_study` as one :class:`~gridflex.errors.ValidationError` whose
problems name the study file and the field (``storage.0.energy_mwh``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import numpy as np
import pydantic
from pydantic import BaseModel, ConfigDict, Discriminator, Field, PrivateAttr, Tag, model_validator

from gridflex.documents import problems_from_pydantic, read_document
from gridflex.errors import Problem, ValidationError
from gridflex.grid.limits import MAX_DT_H, MAX_FACTOR, MAX_PERIODS, MAX_VALUE, MIN_EFFICIENCY

if TYPE_CHECKING:  # pragma: no cover
    from gridflex.grid.network import Network

# Every number is finite (allow_inf_nan=False) and within the magnitudes of gridflex.grid.limits:
# values the solver cannot take are refused here, naming the field, not by HiGHS.
Fraction = Annotated[float, Field(ge=0.0, le=1.0)]
PositiveFloat = Annotated[float, Field(gt=0.0, le=MAX_VALUE)]
NonNegFloat = Annotated[float, Field(ge=0.0, le=MAX_VALUE)]
PositiveFactor = Annotated[float, Field(gt=0.0, le=MAX_FACTOR)]
NonNegFactor = Annotated[float, Field(ge=0.0, le=MAX_FACTOR)]
Efficiency = Annotated[float, Field(ge=MIN_EFFICIENCY, le=1.0)]


# A shape is a name or a list of values: the discriminator picks the branch from the input, so a bad
# list is reported as such and not also as "should be 'rts_peak_day' or 'rts_day'".
_SHAPE_TAGS = ("named", "values")
ShapeSpec = Annotated[
    Annotated[Literal["rts_peak_day", "rts_day"], Tag("named")]
    | Annotated[list[NonNegFactor], Tag("values")],
    Discriminator(lambda v: "values" if isinstance(v, list | tuple) else "named"),
]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class NetworkSpec(_Model):
    """Where the transmission network comes from: a named pandapower case or a MATPOWER file."""

    case: str | None = Field(
        None,
        description="Name of a pandapower case (e.g. 'case24_ieee_rts', 'case39'). "
        "'case24_ieee_rts' gets the RTS-96 ramp rates.",
    )
    matpower: str | None = Field(
        None, description="Path of a MATPOWER .m/.mat case, relative to the study file."
    )

    @model_validator(mode="after")
    def _one_source(self) -> NetworkSpec:
        if (self.case is None) == (self.matpower is None):
            raise ValueError("give exactly one of 'case' or 'matpower'")
        return self


class NoiseSpec(_Model):
    """Load fluctuation ΔP ~ N(μ, σ²) per node and period, relative to the node's expected load."""

    mu_pu: Annotated[float, Field(ge=-MAX_FACTOR, le=MAX_FACTOR)] = Field(
        0.0, description="Mean of the fluctuation, fraction of the expected load."
    )
    sigma_pu: NonNegFactor = Field(
        0.0, description="Standard deviation of the fluctuation, fraction of the expected load."
    )
    correlation: Annotated[float, Field(ge=0.0, lt=1.0)] = Field(
        0.0, description="Correlation of the fluctuation between any two load nodes (equicorrelation)."
    )
    autocorrelation: Annotated[float, Field(ge=0.0, lt=1.0)] = Field(
        0.0, description="Lag-1 correlation of a node's fluctuation from one period to the next (AR(1))."
    )
    fit_csv: str | None = Field(
        None,
        description="CSV of historical load (columns load_mw and optionally expected_mw), relative to the "
        "study file: mu_pu, sigma_pu and autocorrelation are fitted from it (give them or this, not both).",
    )

    @model_validator(mode="after")
    def _fit_or_values(self) -> NoiseSpec:
        given = self.model_fields_set & {"mu_pu", "sigma_pu", "autocorrelation"}
        if self.fit_csv is not None and given:
            raise ValueError(
                f"fit_csv: give it or {', '.join(sorted(given))}, not both (they are fitted from it)"
            )
        return self


class LoadSpec(_Model):
    """The day's expected load: a per-unit shape times each node's nominal load times a growth factor."""

    shape: ShapeSpec = Field(
        "rts_peak_day",
        description="'rts_peak_day' (the IEEE RTS day of the annual peak), 'rts_day' (day `day` of the "
        "RTS year) or an explicit list of per-unit values, one per period, multiplying the network's "
        f"nominal load of every node (1 to {MAX_PERIODS} values).",
    )
    day: Annotated[int, Field(ge=1, le=364)] = Field(
        352, description="Day of the RTS year (1..364) when shape is 'rts_day' (352 is the peak day)."
    )
    growth: PositiveFactor = Field(1.0, description="Load growth factor multiplying every node's load.")
    noise: NoiseSpec = Field(default_factory=NoiseSpec)  # type: ignore[arg-type]


class RenewableSpec(_Model):
    """A wind or PV plant: forecast profile and a statistical model of the forecast error."""

    id: str
    bus: int = Field(description="Bus id (as in the network's bus_ids).")
    kind: Literal["wind", "pv"]
    capacity_mw: PositiveFloat
    profile_pu: list[Fraction] = Field(
        description="Forecast output per period as a fraction of capacity (length 1 or n_periods)."
    )
    error_sigma_pu: NonNegFactor = Field(
        0.1, description="Standard deviation of the forecast error, fraction of capacity."
    )
    error_autocorrelation: Annotated[float, Field(ge=0.0, lt=1.0)] = Field(
        0.0, description="Lag-1 correlation of the forecast error between periods (AR(1))."
    )
    fit_csv: str | None = Field(
        None,
        description="CSV of historical output (columns actual_pu and forecast_pu, fractions of capacity), "
        "relative to the study file: error_sigma_pu and error_autocorrelation are fitted from it.",
    )

    @model_validator(mode="after")
    def _fit_or_values(self) -> RenewableSpec:
        given = self.model_fields_set & {"error_sigma_pu", "error_autocorrelation"}
        if self.fit_csv is not None and given:
            raise ValueError(
                f"fit_csv: give it or {', '.join(sorted(given))}, not both (they are fitted from it)"
            )
        return self


class StorageSpec(_Model):
    """A storage unit; SOC limits and initial SOC are fractions of energy_mwh. SOC_end = SOC_init."""

    id: str
    bus: int = Field(description="Bus id (as in the network's bus_ids).")
    power_mw: PositiveFloat = Field(description="Maximum charge and discharge power.")
    charge_power_mw: PositiveFloat | None = Field(
        None, description="Maximum charge power (default power_mw)."
    )
    discharge_power_mw: PositiveFloat | None = Field(
        None, description="Maximum discharge power (default power_mw)."
    )
    energy_mwh: PositiveFloat = Field(description="Installed energy capacity.")
    eta_charge: Efficiency = 0.95
    eta_discharge: Efficiency = 0.95
    soc_min: Fraction = 0.1
    soc_max: Fraction = 0.9
    soc_init: Fraction = 0.5

    @model_validator(mode="after")
    def _soc_order(self) -> StorageSpec:
        if not self.soc_min <= self.soc_init <= self.soc_max:
            raise ValueError(
                f"need soc_min <= soc_init <= soc_max, got {self.soc_min}, {self.soc_init}, {self.soc_max}"
            )
        return self


class DemandResponseSpec(_Model):
    """A demand-response resource of one category at one load node (paper eq. 31: N(q·P_nom, (δ·P_nom)²))."""

    bus: int = Field(description="Bus id (as in the network's bus_ids).")
    category: str = Field(description="Load category, e.g. 'industrial', 'commercial', 'residential'.")
    q: Fraction = Field(description="Expected participation rate of demand response.")
    delta: NonNegFactor = Field(description="Volatility from user behaviour: σ = δ·P_nom.")
    nominal_mw: PositiveFloat | list[NonNegFloat] = Field(
        description="Total flexible capacity P_nom (one value, or one per period)."
    )


Series = NonNegFloat | list[NonNegFloat]
"""One value for every period, or one value per period."""


class GeneratorSpec(_Model):
    """Overrides for one unit of the network: time-varying limits, separate ramps, outage rate."""

    unit: str = Field(description="The unit's name in the network (Network.gen_name, e.g. 'gen 3').")
    pmin_mw: Series | None = Field(
        None, description="Minimum output per period (one value or T), within the unit's [pmin, pmax]."
    )
    pmax_mw: Series | None = Field(
        None, description="Maximum output per period (one value or T), within the unit's [pmin, pmax]."
    )
    ramp_up_mw_per_h: NonNegFloat | None = Field(None, description="Upward ramp rate (default: network's).")
    ramp_down_mw_per_h: NonNegFloat | None = Field(
        None, description="Downward ramp rate (default: network's)."
    )
    outage_rate: Fraction | None = Field(
        None, description="Probability that the unit is out for a whole scenario (default: study's)."
    )


class ImportSpec(_Model):
    """External power over a tie-line: positive = import into the network, negative = export."""

    id: str
    bus: int = Field(description="Bus id of the tie-line's end in the network.")
    schedule_mw: float | list[float] = Field(
        0.0, description="Scheduled exchange per period (one value or T); the limits default to it."
    )
    min_mw: float | list[float] | None = Field(
        None, description="Lowest exchange per period (default: the schedule, i.e. fixed)."
    )
    max_mw: float | list[float] | None = Field(
        None, description="Highest exchange per period (default: the schedule, i.e. fixed)."
    )
    price_eur_per_mwh: Annotated[float, Field(ge=-MAX_VALUE, le=MAX_VALUE)] = Field(
        0.0, description="Cost of importing (earned when exporting), EUR/MWh."
    )

    @model_validator(mode="after")
    def _magnitudes(self) -> ImportSpec:
        for name in ("schedule_mw", "min_mw", "max_mw"):
            v = getattr(self, name)
            vals = v if isinstance(v, list) else [v] if v is not None else []
            if any(abs(x) > MAX_VALUE for x in vals):
                raise ValueError(f"{name}: |value| must be <= {MAX_VALUE:g} MW")
        return self


class LoadLimitSpec(_Model):
    """A node's minimum and maximum load after demand response (paper eqs. 20-21)."""

    bus: int = Field(description="Bus id (as in the network's bus_ids).")
    min_mw: Series = Field(description="Minimum load after demand response (one value or T).")
    max_mw: Series = Field(description="Maximum load after demand response (one value or T).")


class CapacitySpec(_Model):
    """How the available flexible capacity is computed (docs/evaluation.md, method step 6)."""

    storage_rule: Literal["operating_point", "paper"] = Field(
        "operating_point",
        description="'operating_point': from the scheduled net output; 'paper': totals Σ P_max and "
        "available min(E(SOC − SOC_min)η_d/Δt, P_d,max) (eqs. 22-23, 34-35).",
    )
    load_rule: Literal["paper", "conservative"] = Field(
        "paper",
        description="'paper': up μ + ωσ, down μ − ωσ (eqs. 30-31); 'conservative': μ − z_(1−α)σ both ways.",
    )
    load_total: Literal["nominal", "limits"] = Field(
        "nominal",
        description="'nominal': Σ P_nom of the DR resources; 'limits': P_load − P_load,min up and "
        "P_load,max − P_load down from load_limits (eqs. 20-21).",
    )


class SolverSpec(_Model):
    """Bounds of the MILP that enforces storage exclusivity when the relaxation burns energy."""

    milp_time_limit_s: Annotated[float, Field(gt=0.0, le=86_400.0)] = Field(
        10.0, description="Time limit of one MILP solve, s; a solve stopped by it is reported apart."
    )
    milp_rel_gap: Annotated[float, Field(ge=0.0, lt=1.0)] = Field(
        1e-3, description="Relative optimality gap at which the MILP stops."
    )


class StatesSpec(_Model):
    """The three states of the paper: simulated (no storage), current (installed), future (scaled)."""

    future_storage_scale: NonNegFactor = Field(
        2.0, description="Future state: installed storage power and energy multiplied by this factor."
    )


class SensitivitySpec(_Model):
    """Storage sweep for the fit score = β·ln(E) + γ."""

    scales: list[PositiveFactor] = Field(
        default_factory=lambda: [0.25, 0.5, 1.0, 2.0, 4.0],
        description="Multipliers of the installed storage (power and energy) to evaluate.",
    )
    n_scenarios: Annotated[int, Field(ge=1)] | None = Field(
        None, description="Scenarios per sweep point (default: the run's scenario count)."
    )
    investment_eur_per_mwh: PositiveFloat | None = Field(
        None, description="If given, E is the investment in EUR (energy × this price) instead of MWh."
    )
    saturation_eps: Annotated[float, Field(ge=0.0, le=100.0)] = Field(
        0.05, description="Points with score >= 100 - saturation_eps are saturated and left out of the fit."
    )


class Study(_Model):
    """A flexibility evaluation study (schema version 1)."""

    name: str = "study"
    description: str = ""
    network: NetworkSpec
    load: LoadSpec = Field(default_factory=LoadSpec)  # type: ignore[arg-type]
    dt_h: Annotated[float, Field(gt=0.0, le=MAX_DT_H)] = Field(
        1.0, description="Length of one period, hours."
    )
    renewables: list[RenewableSpec] = Field(default_factory=list)
    storage: list[StorageSpec] = Field(default_factory=list)
    demand_response: list[DemandResponseSpec] = Field(default_factory=list)
    generators: list[GeneratorSpec] = Field(default_factory=list)
    outage_rate: Fraction = Field(
        0.0, description="Probability that a unit is out for a whole scenario (the paper's shutdown rate)."
    )
    imports: list[ImportSpec] = Field(default_factory=list)
    load_limits: list[LoadLimitSpec] = Field(default_factory=list)
    capacity: CapacitySpec = Field(default_factory=CapacitySpec)  # type: ignore[arg-type]
    solver: SolverSpec = Field(default_factory=SolverSpec)  # type: ignore[arg-type]
    scenario_sets: dict[str, dict[str, Any]] = Field(
        default_factory=dict,
        description="Named scenario families (e.g. typical, supply_guarantee): each overrides fields of "
        "this study (merged key by key) and is evaluated on its own.",
    )
    states: StatesSpec = Field(default_factory=StatesSpec)  # type: ignore[arg-type]
    sensitivity: SensitivitySpec = Field(default_factory=SensitivitySpec)  # type: ignore[arg-type]
    alpha: Annotated[float, Field(gt=0.0, lt=1.0)] = Field(
        0.05, description="Demand response: available capacity at confidence level 1 - alpha."
    )
    tolerance_mw: NonNegFloat = Field(
        1.0, description="z(s,t) = 0 when load shed + forced over-generation in period t exceeds this."
    )
    shed_cost_eur_per_mwh: PositiveFloat = 1e4
    spill_cost_eur_per_mwh: PositiveFloat = 1e4
    pwl_segments: Annotated[int, Field(ge=1, le=50)] = Field(
        4, description="Segments of the piecewise-linear fuel cost curves."
    )
    enforce_lines: bool = Field(True, description="Enforce line ratings in the DC-OPF.")
    ramp: bool = Field(True, description="Enforce generator ramp limits between periods.")
    chunk_size: Annotated[int, Field(ge=1)] = Field(50, description="Scenarios per parallel task.")
    _base_dir: str = PrivateAttr(".")
    _sets: dict[str, Study] = PrivateAttr(default_factory=dict)
    _fits: dict[str, dict[str, float]] = PrivateAttr(default_factory=dict)

    @model_validator(mode="after")
    def _lengths(self) -> Study:
        if isinstance(self.load.shape, str) and abs(24.0 / self.dt_h - round(24.0 / self.dt_h)) > 1e-9:
            raise ValueError(
                f"dt_h: {self.dt_h:g} h does not divide the day; the RTS shapes are hourly and are "
                "resampled to the study's step, which must divide 24 h (e.g. 0.25, 0.5, 1, 2)"
            )
        t = self.n_periods
        if not 1 <= t <= MAX_PERIODS:
            raise ValueError(f"load.shape: {t} periods; give 1 to {MAX_PERIODS} per-unit values")
        series: list[tuple[str, Any]] = [
            *((f"renewables.{i}.profile_pu", r.profile_pu) for i, r in enumerate(self.renewables)),
            *((f"demand_response.{i}.nominal_mw", d.nominal_mw) for i, d in enumerate(self.demand_response)),
            *((f"generators.{i}.{f}", getattr(g, f)) for i, g in enumerate(self.generators)
              for f in ("pmin_mw", "pmax_mw")),
            *((f"imports.{i}.{f}", getattr(x, f)) for i, x in enumerate(self.imports)
              for f in ("schedule_mw", "min_mw", "max_mw")),
            *((f"load_limits.{i}.{f}", getattr(x, f)) for i, x in enumerate(self.load_limits)
              for f in ("min_mw", "max_mw")),
        ]  # fmt: skip
        for name, v in series:
            if isinstance(v, list) and len(v) not in (1, t):
                raise ValueError(f"{name}: length {len(v)}, need 1 or {t}")
        for i in range(len(self.imports)):
            lo, hi = self.import_bounds(i)
            if (lo > hi + 1e-9).any():
                raise ValueError(f"imports.{i}.min_mw: above max_mw in period {int(np.argmax(lo > hi))}")
        for i, x in enumerate(self.load_limits):
            if (self.series(x.min_mw) > self.series(x.max_mw)).any():
                raise ValueError(f"load_limits.{i}.min_mw: above max_mw")
        if self.capacity.load_total == "limits" and not self.load_limits:
            raise ValueError("capacity.load_total: 'limits' needs load_limits (each node's min and max load)")
        ids = [s.id for s in self.storage] + [r.id for r in self.renewables]
        dup = sorted({x for x in ids if ids.count(x) > 1})
        if dup:
            raise ValueError(f"duplicate storage/renewable ids: {dup}")
        return self

    @property
    def n_periods(self) -> int:
        """Periods of the day: an explicit shape's length, or 24 h / dt_h for the hourly RTS shapes."""
        return round(24.0 / self.dt_h) if isinstance(self.load.shape, str) else len(self.load.shape)

    # ---- derived arrays ---------------------------------------------------------------------------

    def series(self, value: float | list[float] | None, default: float = 0.0) -> np.ndarray:
        """(T,) a one-value-or-T-values field as an array."""
        v = default if value is None else value
        return np.broadcast_to(np.asarray(v, dtype=float), (self.n_periods,)).copy()

    def import_bounds(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        """(T,), (T,) the lowest and highest exchange of tie-line ``i`` (the schedule when not given)."""
        x = self.imports[i]
        sched = self.series(x.schedule_mw)
        lo = sched if x.min_mw is None else self.series(x.min_mw)
        hi = sched if x.max_mw is None else self.series(x.max_mw)
        return lo, hi

    def load_shape_pu(self) -> np.ndarray:
        """(T,) per-unit shape of the day (before growth); the RTS's hourly shapes at the study's step."""
        shape = self.load.shape
        if isinstance(shape, list):
            return np.asarray(shape, dtype=float)
        from gridflex.grid.rts import resample_hourly, rts_hourly_load_pu, rts_peak_day_load_pu

        hourly = rts_peak_day_load_pu() if shape == "rts_peak_day" else rts_hourly_load_pu(self.load.day)
        return resample_hourly(np.asarray(hourly, dtype=float), self.dt_h)

    def storage_arrays(self, scale: float = 1.0) -> dict[str, np.ndarray]:
        """Storage parameters as arrays (power and energy multiplied by ``scale``)."""
        s = self.storage
        return {
            "bus_id": np.array([x.bus for x in s], dtype=np.int64),
            "power_mw": scale * np.array([x.power_mw for x in s], dtype=float),
            "charge_power_mw": scale * np.array([x.charge_power_mw or x.power_mw for x in s], dtype=float),
            "discharge_power_mw": scale
            * np.array([x.discharge_power_mw or x.power_mw for x in s], dtype=float),
            "energy_mwh": scale * np.array([x.energy_mwh for x in s], dtype=float),
            "eta_charge": np.array([x.eta_charge for x in s], dtype=float),
            "eta_discharge": np.array([x.eta_discharge for x in s], dtype=float),
            "soc_min": np.array([x.soc_min for x in s], dtype=float),
            "soc_max": np.array([x.soc_max for x in s], dtype=float),
            "soc_init": np.array([x.soc_init for x in s], dtype=float),
        }

    def scenario_set(self, name: str) -> Study:
        """The study of one named scenario set (this study with the set's fields merged in)."""
        if name not in self._sets:
            known = ", ".join(self._sets) or "none"
            raise ValidationError(
                "study", [Problem("study", "scenario_sets", f"no scenario set {name!r} (sets: {known})")]
            )
        return self._sets[name]

    def fitted(self) -> dict[str, dict[str, float]]:
        """Noise parameters fitted from the ``fit_csv`` files, by what they describe (for summary.json)."""
        return dict(self._fits)

    def base_dir(self) -> Path:
        """Directory that relative paths in the study are relative to."""
        return Path(self._base_dir)


def as_study(study: Study | str | Path) -> Study:
    """A :class:`Study` as given, or read from the path of a study file (YAML or JSON)."""
    if isinstance(study, Study):
        return study
    if isinstance(study, str | Path):
        return load_study(study)
    raise TypeError(f"expected a Study or the path of a study file, not {type(study).__name__}")


def build_network(study: Study | str | Path) -> Network:
    """The study's network (RTS-24 with the RTS-96 ramp rates, another pandapower case, or MATPOWER)."""
    from gridflex.grid.network import Network

    study = as_study(study)
    spec = study.network
    if spec.case is not None:
        if spec.case == "case24_ieee_rts":
            from gridflex.grid.rts import rts24_network

            return rts24_network()
        return Network.case(spec.case)
    assert spec.matpower is not None
    path = Path(spec.matpower)
    if not path.is_absolute():
        path = study.base_dir() / path
    return Network.from_matpower(path)


def bus_positions(net: Network, bus_ids: np.ndarray, what: str, object_id: str = "study") -> np.ndarray:
    """Positions of bus ids in ``net.bus_ids``; a missing id raises a ValidationError naming the field."""
    ids = np.asarray(net.bus_ids)
    lookup = {int(b): i for i, b in enumerate(ids.tolist())}
    problems = [
        Problem(
            object_id,
            f"{what}.{k}.bus",
            f"bus {int(b)} is not in the network (buses {ids.min()}..{ids.max()})",
        )
        for k, b in enumerate(np.asarray(bus_ids).tolist())
        if int(b) not in lookup
    ]
    if problems:
        raise ValidationError(object_id, problems)
    return np.array([lookup[int(b)] for b in np.asarray(bus_ids).tolist()], dtype=np.int64)


def validate_study_buses(study: Study | str | Path, net: Network, object_id: str = "study") -> list[Problem]:
    """Problems of bus ids that the network does not have (renewables, storage, demand response)."""
    study = as_study(study)
    known = {int(b) for b in np.asarray(net.bus_ids).tolist()}
    problems: list[Problem] = []
    groups: tuple[tuple[str, Sequence[Any]], ...] = (
        ("renewables", study.renewables),
        ("storage", study.storage),
        ("demand_response", study.demand_response),
        ("imports", study.imports),
        ("load_limits", study.load_limits),
    )
    for what, items in groups:
        for k, item in enumerate(items):
            if int(item.bus) not in known:
                problems.append(
                    Problem(object_id, f"{what}.{k}.bus", f"bus {item.bus} is not in the network")
                )
    names = {str(n): g for g, n in enumerate(np.asarray(net.gen_name).tolist())}
    for k, spec in enumerate(study.generators):
        if spec.unit not in names:
            some = ", ".join(list(names)[:4])
            problems.append(
                Problem(
                    object_id, f"generators.{k}.unit", f"no unit {spec.unit!r} in the network ({some}, …)"
                )
            )
            continue
        g = names[spec.unit]
        lo, hi = float(net.gen_pmin_mw[g]), float(net.gen_pmax_mw[g])
        pmin = study.series(spec.pmin_mw, lo)
        pmax = study.series(spec.pmax_mw, hi)
        for f, v in (("pmin_mw", pmin), ("pmax_mw", pmax)):
            if ((v < lo - 1e-9) | (v > hi + 1e-9)).any():
                problems.append(
                    Problem(
                        object_id, f"generators.{k}.{f}", f"must lie within the unit's [{lo:g}, {hi:g}] MW"
                    )
                )
        if (pmin > pmax + 1e-9).any():
            problems.append(Problem(object_id, f"generators.{k}.pmin_mw", "above pmax_mw"))
    return problems


@dataclass(frozen=True)
class UnitData:
    """The network's units as the study sets them: per-period limits, ramps, outage rates."""

    pmin_mw: np.ndarray  # (T, G)
    pmax_mw: np.ndarray  # (T, G)
    ramp_up_mw_per_h: np.ndarray  # (G,)
    ramp_down_mw_per_h: np.ndarray  # (G,)
    outage_rate: np.ndarray  # (G,)


def unit_data(study: Study | str | Path, net: Network) -> UnitData:
    """Per-unit arrays with the study's ``generators`` overrides applied (names checked beforehand)."""
    study = as_study(study)
    t, g = study.n_periods, net.n_gens
    pmin = np.broadcast_to(net.gen_pmin_mw, (t, g)).copy()
    pmax = np.broadcast_to(net.gen_pmax_mw, (t, g)).copy()
    up, down = net.gen_ramp_mw_per_h.copy(), net.gen_ramp_mw_per_h.copy()
    rate = np.full(g, study.outage_rate)
    names = {str(n): i for i, n in enumerate(np.asarray(net.gen_name).tolist())}
    for spec in study.generators:
        i = names[spec.unit]
        pmin[:, i] = study.series(spec.pmin_mw, float(net.gen_pmin_mw[i]))
        pmax[:, i] = study.series(spec.pmax_mw, float(net.gen_pmax_mw[i]))
        up[i] = up[i] if spec.ramp_up_mw_per_h is None else spec.ramp_up_mw_per_h
        down[i] = down[i] if spec.ramp_down_mw_per_h is None else spec.ramp_down_mw_per_h
        rate[i] = rate[i] if spec.outage_rate is None else spec.outage_rate
    return UnitData(pmin, pmax, up, down, rate)


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """``base`` with ``over`` merged in key by key (mappings recursively; lists and values replaced)."""
    out = dict(base)
    for k, v in over.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def _validated(data: dict[str, Any], object_id: str, base_dir: str | Path, prefix: str = "") -> Study:
    try:
        study = Study.model_validate(data)
    except pydantic.ValidationError as exc:
        problems = problems_from_pydantic(exc, data, object_id, dotted=True)
        raise ValidationError(
            object_id, [Problem(p.object_id, prefix + p.field, p.message) for p in problems]
        ) from None
    study._base_dir = str(base_dir)
    from gridflex.grid.history import apply_fits

    return apply_fits(study, object_id, prefix)


def study_from_dict(data: Any, object_id: str = "study", base_dir: str | Path = ".") -> Study:
    """Validate a mapping as a :class:`Study`; errors become one ValidationError naming each field.

    Noise parameters given as ``fit_csv`` are fitted here (the file is read once), and every named
    scenario set is merged into the study and validated, its errors named ``scenario_sets.NAME.…``.
    """
    if not isinstance(data, dict):
        raise ValidationError(object_id, [Problem(object_id, "(root)", "the study must be a mapping")])
    study = _validated(data, object_id, base_dir)
    sets: dict[str, Study] = {}
    for name, over in study.scenario_sets.items():
        base = {k: v for k, v in data.items() if k != "scenario_sets"}
        merged = _merge(base, {**over, "name": f"{study.name} — {name}"})
        sets[name] = _validated(merged, object_id, base_dir, prefix=f"scenario_sets.{name}.")
    study._sets = sets
    return study


def load_study(path: str | Path) -> Study:
    """Read a study from YAML (``.yaml``/``.yml``) or JSON; relative paths inside are relative to it."""
    p = Path(path)
    data = read_document(p, "study file")
    return study_from_dict(data, object_id=str(p), base_dir=p.parent)


def study_json_schema() -> dict[str, Any]:
    """JSON schema of the study file, generated from the models (the single source of truth)."""
    return Study.model_json_schema()
