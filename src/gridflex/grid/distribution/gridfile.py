"""gridflex's own grid file (one compressed ``.npz``: network tables + profiles) and the grids shipped with it.

Profiles are stored as 16-bit integers with a per-column offset and scale (relative error below 2e-5
of the column's range), which keeps a SimBench year of ~40 profiles near 1 MB. The shipped grids are
extracts of SimBench (ODbL, see ``gridflex/data/grids/README.md``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from importlib import resources
from pathlib import Path

import numpy as np

from gridflex.errors import DataError
from gridflex.grid.distribution.model import COLUMNS, DistributionNetwork, Table, check_network
from gridflex.grid.distribution.profiles import Profiles

FORMAT = "gridflex-distribution-grid/1"
# name → SimBench code of the grids shipped in gridflex/data/grids
SHIPPED = {
    "mv-semiurb": "1-MV-semiurb--0-sw",
    "lv-rural1-storage": "1-LV-rural1--2-sw",
}


@dataclass
class GridCase:
    """A network and its profiles, as loaded from a grid file."""

    network: DistributionNetwork
    profiles: Profiles


def save_grid(
    path: str | Path, network: DistributionNetwork, profiles: Profiles, attribution: str = ""
) -> Path:
    arrays: dict[str, np.ndarray] = {}
    for kind, spec in COLUMNS.items():
        for col, typ in spec.items():
            v = getattr(network.tables[kind], col)
            arrays[f"{kind}.{col}"] = v.astype(str) if typ is str else v
    vals = np.asarray(profiles.values, dtype=float)
    lo = vals.min(axis=0) if vals.size else np.zeros(vals.shape[1])
    span = (vals.max(axis=0) - lo) if vals.size else np.zeros(vals.shape[1])
    scale = np.where(span > 0, span / 65535, 1.0)
    arrays["profiles.q"] = np.round((vals - lo) / scale).astype(np.uint16)
    arrays["profiles.lo"], arrays["profiles.scale"] = lo, scale
    meta = {
        "format": FORMAT, "name": network.name, "source": network.source, "f_hz": network.f_hz,
        "start": profiles.start.isoformat(), "step_min": profiles.step_min, "profiles": profiles.names,
        "attribution": attribution,
    }  # fmt: skip
    arrays["meta"] = np.array(json.dumps(meta))
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(out, **arrays)  # type: ignore[arg-type]
    return out


def load_grid(name_or_path: str | Path) -> GridCase:
    """A shipped grid by name (``mv-semiurb``, ``lv-rural1-storage``) or a grid file by path."""
    if str(name_or_path) in SHIPPED:
        ref = resources.files("gridflex") / "data" / "grids" / f"{name_or_path}.npz"
        with resources.as_file(ref) as p:
            return _read(p)
    return _read(Path(name_or_path))


def _read(path: Path) -> GridCase:
    try:
        with np.load(path, allow_pickle=False) as z:
            meta = json.loads(str(z["meta"]))
            if meta.get("format") != FORMAT:
                raise DataError(f"{path}: not a gridflex grid file (format {meta.get('format')!r})")
            tables = {
                kind: Table(kind, {col: z[f"{kind}.{col}"] for col in spec}) for kind, spec in COLUMNS.items()
            }
            q, lo, scale = z["profiles.q"], z["profiles.lo"], z["profiles.scale"]
            values = q * scale + lo
    except (OSError, KeyError, ValueError) as exc:
        raise DataError(f"{path}: cannot read grid file ({exc})") from None
    net = DistributionNetwork(meta["name"], tables, f_hz=float(meta["f_hz"]), source=meta["source"])
    net.meta["attribution"] = meta.get("attribution", "")
    profiles = Profiles(
        datetime.fromisoformat(meta["start"]), int(meta["step_min"]), list(meta["profiles"]), values
    )
    return GridCase(check_network(net), profiles)


ODBL = (
    "Contains information from SimBench (https://simbench.de), made available under the Open Database "
    "Licence (ODbL) v1.0, https://opendatacommons.org/licenses/odbl/1-0/. Converted by gridflex."
)


def extract_simbench(code: str, path: str | Path) -> Path:
    """Write a SimBench grid and its year of profiles as a grid file (how the shipped grids were made)."""
    from gridflex.grid.distribution.convert import from_simbench

    network, profiles = from_simbench(code)
    used = _used_profiles(network)
    keep = [j for j, n in enumerate(profiles.names) if n.split(":", 1)[1] in used]
    profiles = Profiles(
        profiles.start, profiles.step_min, [profiles.names[j] for j in keep], profiles.values[:, keep]
    )
    return save_grid(path, network, profiles, attribution=ODBL)


def _used_profiles(network: DistributionNetwork) -> set[str]:
    return {str(p) for k in ("load", "sgen", "storage") for p in network.tables[k].profile}


def open_network(spec: str | Path, start: datetime | None = None, periods: int = 96) -> GridCase:
    """A network from what a user types: a shipped grid name, a grid file (.npz), a pandapower JSON file,
    ``cigre-mv``/``cigre-lv``, or a SimBench code (with the ``simbench`` extra). Networks without profiles
    get flat ones (every element at its nominal power) from ``start`` for ``periods``."""
    from gridflex.grid.distribution.convert import cigre, from_pandapower_json, from_simbench
    from gridflex.grid.distribution.profiles import flat_profiles

    text = str(spec)
    path = Path(text)
    flat_start = start or datetime(2016, 1, 1)
    if text in SHIPPED or path.suffix == ".npz":
        return load_grid(spec)
    if text in ("cigre-mv", "cigre-lv"):
        return GridCase(cigre(text[-2:]), flat_profiles(flat_start, periods))
    if path.suffix.lower() == ".json":
        if not path.exists():
            raise DataError(f"{path}: no such file")
        return GridCase(from_pandapower_json(path), flat_profiles(flat_start, periods))
    if "--" in text:
        return GridCase(*from_simbench(text))
    names = ", ".join(sorted(SHIPPED))
    raise DataError(
        f"unknown network {text!r}: give a shipped grid ({names}), a .npz grid file, a pandapower .json file, "
        "cigre-mv, cigre-lv or a SimBench code"
    )
