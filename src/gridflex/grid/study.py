"""The study file of a flexibility evaluation: network, load day, noise, renewables, storage, demand response.

One YAML or JSON file describes everything ``gridflex evaluate`` needs. The pydantic models below are
the single source of truth of its schema (``study_json_schema()``; a copy is kept in
``docs/evaluation-study.schema.json`` and a test checks they agree). Units are in the field names:
MW, MWh, hours, per-unit (``_pu``, a fraction).

Bad input is reported by :func:`load_study` as one :class:`~gridflex.errors.ValidationError` whose
problems name the study file and the field (``storage.0.energy_mwh``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import numpy as np
import pydantic
from pydantic import BaseModel, ConfigDict, Discriminator, Field, PrivateAttr, Tag, model_validator

from gridflex.documents import read_document
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


class StorageSpec(_Model):
    """A storage unit; SOC limits and initial SOC are fractions of energy_mwh. SOC_end = SOC_init."""

    id: str
    bus: int = Field(description="Bus id (as in the network's bus_ids).")
    power_mw: PositiveFloat = Field(description="Maximum charge and discharge power.")
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

    @model_validator(mode="after")
    def _lengths(self) -> Study:
        t = self.n_periods
        if not 1 <= t <= MAX_PERIODS:
            raise ValueError(f"load.shape: {t} periods; give 1 to {MAX_PERIODS} per-unit values")
        for i, r in enumerate(self.renewables):
            if len(r.profile_pu) not in (1, t):
                raise ValueError(f"renewables.{i}.profile_pu: length {len(r.profile_pu)}, need 1 or {t}")
        for i, d in enumerate(self.demand_response):
            if isinstance(d.nominal_mw, list) and len(d.nominal_mw) not in (1, t):
                raise ValueError(f"demand_response.{i}.nominal_mw: length {len(d.nominal_mw)}, need 1 or {t}")
        ids = [s.id for s in self.storage] + [r.id for r in self.renewables]
        dup = sorted({x for x in ids if ids.count(x) > 1})
        if dup:
            raise ValueError(f"duplicate storage/renewable ids: {dup}")
        return self

    @property
    def n_periods(self) -> int:
        return 24 if isinstance(self.load.shape, str) else len(self.load.shape)

    # ---- derived arrays ---------------------------------------------------------------------------

    def load_shape_pu(self) -> np.ndarray:
        """(T,) per-unit shape of the day (before growth)."""
        shape = self.load.shape
        if isinstance(shape, list):
            return np.asarray(shape, dtype=float)
        from gridflex.grid.rts import rts_hourly_load_pu, rts_peak_day_load_pu

        if shape == "rts_peak_day":
            return np.asarray(rts_peak_day_load_pu(), dtype=float)
        return np.asarray(rts_hourly_load_pu(self.load.day), dtype=float)

    def storage_arrays(self, scale: float = 1.0) -> dict[str, np.ndarray]:
        """Storage parameters as arrays (power and energy multiplied by ``scale``)."""
        s = self.storage
        return {
            "bus_id": np.array([x.bus for x in s], dtype=np.int64),
            "power_mw": scale * np.array([x.power_mw for x in s], dtype=float),
            "energy_mwh": scale * np.array([x.energy_mwh for x in s], dtype=float),
            "eta_charge": np.array([x.eta_charge for x in s], dtype=float),
            "eta_discharge": np.array([x.eta_discharge for x in s], dtype=float),
            "soc_min": np.array([x.soc_min for x in s], dtype=float),
            "soc_max": np.array([x.soc_max for x in s], dtype=float),
            "soc_init": np.array([x.soc_init for x in s], dtype=float),
        }

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
    groups: tuple[tuple[str, Sequence[RenewableSpec | StorageSpec | DemandResponseSpec]], ...] = (
        ("renewables", study.renewables),
        ("storage", study.storage),
        ("demand_response", study.demand_response),
    )
    for what, items in groups:
        for k, item in enumerate(items):
            if int(item.bus) not in known:
                problems.append(
                    Problem(object_id, f"{what}.{k}.bus", f"bus {item.bus} is not in the network")
                )
    return problems


_FIELD_IN_MESSAGE = re.compile(r"^([A-Za-z_][\w]*(?:\.[\w]+)+): (.*)$")


def _problems_from_pydantic(exc: pydantic.ValidationError, object_id: str) -> list[Problem]:
    out = []
    for e in exc.errors():
        parts = [x for x in e.get("loc", ()) if x not in _SHAPE_TAGS]  # a union's branch is not a field
        loc = ".".join(str(x) for x in parts)
        msg = str(e.get("msg", "invalid"))
        if msg.startswith("Value error, "):
            msg = msg[len("Value error, ") :]
        m = _FIELD_IN_MESSAGE.match(msg)
        if m:  # a model-level rule that names its field: "renewables.0.profile_pu: ..."
            loc = ".".join(x for x in (loc, m.group(1)) if x)
            msg = m.group(2)
        out.append(Problem(object_id, loc or "(root)", msg))
    return out


def study_from_dict(data: Any, object_id: str = "study", base_dir: str | Path = ".") -> Study:
    """Validate a mapping as a :class:`Study`; errors become one ValidationError naming each field."""
    if not isinstance(data, dict):
        raise ValidationError(object_id, [Problem(object_id, "(root)", "the study must be a mapping")])
    try:
        study = Study.model_validate(data)
    except pydantic.ValidationError as exc:
        raise ValidationError(object_id, _problems_from_pydantic(exc, object_id)) from None
    study._base_dir = str(base_dir)
    return study


def load_study(path: str | Path) -> Study:
    """Read a study from YAML (``.yaml``/``.yml``) or JSON; relative paths inside are relative to it."""
    p = Path(path)
    data = read_document(p, "study file")
    return study_from_dict(data, object_id=str(p), base_dir=p.parent)


def study_json_schema() -> dict[str, Any]:
    """JSON schema of the study file, generated from the models (the single source of truth)."""
    return Study.model_json_schema()
