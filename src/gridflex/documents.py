"""Reading the YAML/JSON documents users write (site files, study files), and turning what is wrong
in them into structured problems (object id, field, message).

::

    read_document(path, what) -> Any                          # YAML or JSON; DataError if unreadable
    problems_from_pydantic(exc, data, root="site", dotted=False) -> list[Problem]   # pydantic errors
    magnitude_problems(model, owner) -> list[Problem]         # NaN, infinities, |x| > MAX_ABS
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

import yaml

from gridflex.errors import DataError, Problem, unique

# pydantic objects are used by duck typing (``.errors()``, ``model_fields``): this layer reads
# documents and maps errors, it does not define models, so it stays free of the pydantic import.

MAX_ABS = 1e9
"""Largest magnitude a number in a document may have, in its field's unit (kW, kWh, EUR/MWh, ...).

HiGHS treats bounds of 1e20 and more as infinite and loses precision long before: 1e9 kW is a
terawatt, 1e9 EUR/MWh far beyond any price cap, and keeps the model well scaled."""


def read_document(path: str | Path, what: str) -> Any:
    """Parse a YAML or JSON file (JSON when the suffix is ``.json``).

    An unreadable or malformed file raises :class:`DataError` naming ``what`` and the path.
    """
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise DataError(f"cannot read {what} {p}: {exc.strerror or exc}") from None
    is_json = p.suffix.lower() == ".json"
    try:
        return json.loads(text) if is_json else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        raise DataError(f"{what} {p} is not valid {'JSON' if is_json else 'YAML'}: {exc}") from None


def _ident(item: Any) -> str | None:
    if isinstance(item, dict):
        for key in ("name", "id"):
            if isinstance(item.get(key), str | int) and not isinstance(item.get(key), bool):
                return str(item[key])
    return None


def _locate(loc: tuple[Any, ...], data: Any, root: str) -> tuple[str, str]:
    """The object (nearest list item with a name or id, else ``root``) and the field under it."""
    obj, node = root, data
    parts: list[str] = []
    for x in loc:
        if isinstance(x, int) and isinstance(node, list):
            item = node[x] if 0 <= x < len(node) else None
            ident = _ident(item)
            if ident is not None:  # a named item is the object; its fields are named from it
                obj, parts = ident, []
            elif isinstance(item, dict):  # an unnamed item: its position names it ("assets[2]")
                path = ".".join([*([] if obj == root else [obj]), *parts]) or root
                obj, parts = f"{path}[{x}]", []
            elif parts:  # a value inside a list field: part of the field ("profile_kw[3]")
                parts[-1] += f"[{x}]"
            node = item
        elif isinstance(node, dict) and x in node:
            parts.append(str(x))
            node = node[x]
        elif isinstance(node, dict) and (x == node.get("kind") or x == node.get("type")):
            continue  # the tag pydantic inserts for a discriminated union
        elif isinstance(node, dict):
            parts.append(str(x))  # a missing field
            node = None
        # else: a union member's name ('float', 'list[float]') under a scalar: not a field
    return obj, ".".join(parts)


def _dotted(loc: tuple[Any, ...], data: Any) -> str:
    """The field as a dotted path from the document's root (``storage.0.energy_mwh``): list
    positions are parts, and the names pydantic inserts for union members and tags are left out."""
    parts, node = [], data
    for x in loc:
        if isinstance(x, int) and isinstance(node, list):
            node = node[x] if 0 <= x < len(node) else None
        elif isinstance(node, dict):
            node = node.get(x)
        else:
            continue  # a union member's name or tag under a value: not a field
        parts.append(str(x))
    return ".".join(parts)


def _field_in_message(fld: str, msg: str) -> tuple[str, str]:
    """A model-level rule may name its field first ("renewables.0.profile_pu: length 2"): move it."""
    head, sep, rest = msg.partition(": ")
    if sep and re.fullmatch(r"[A-Za-z_]\w*(?:\.\w+)*", head):
        return ".".join(x for x in (fld, head) if x), rest
    return fld, msg


def problems_from_pydantic(exc: Any, data: Any, root: str = "site", dotted: bool = False) -> list[Problem]:
    """One problem per wrong field of a ``pydantic.ValidationError``: the object is the nearest list
    item with a ``name`` or ``id`` (an asset, a service), else ``root``; a field that fails every
    member of a union (a series: number or list) is reported once, with the first message.

    ``dotted=True`` keeps ``root`` as the object of every problem and names the field by its whole
    path, list positions included (``storage.0.energy_mwh``; study files)."""
    found = []
    for e in exc.errors():
        msg = str(e["msg"]).removeprefix("Value error, ")
        if dotted:
            fld, msg = _field_in_message(_dotted(tuple(e["loc"]), data), msg)
            found.append((root, fld or "(root)", msg))
        else:
            found.append((*_locate(tuple(e["loc"]), data, root), msg))
    # A list given to a number-or-list field fails both members: keep the list member's, which
    # names the value ("profile_kw[3]"), not the number member's ("profile_kw").
    deeper = {(o, f.split("[", 1)[0]) for o, f, _ in found if "[" in f}
    deeper |= {(o, f.rsplit(".", 1)[0]) for o, f, _ in found if dotted and f.rsplit(".", 1)[-1].isdigit()}
    out, seen = [], set()
    for obj, fld, msg in found:
        if (obj, fld) in seen or (obj, fld) in deeper:
            continue
        seen.add((obj, fld))
        out.append(Problem(obj, fld, msg))
    return out


_UNITS = (
    ("_eur_per_mw_h", "EUR/MW/h"), ("_eur_per_mwh", "EUR/MWh"), ("_eur_per_kwh", "EUR/kWh"),
    ("_eur_per_kw", "EUR/kW"), ("_eur_per_t", "EUR/t"), ("_kg_per_mwh", "kg/MWh"), ("_kwh", "kWh"),
    ("_kw", "kW"), ("_frac", "share"), ("_share", "share"), ("_h", "h"), ("_s", "s"), ("_c", "°C"),
)  # fmt: skip


def unit_of(field: str) -> str:
    """The unit a field name carries (``capacity_kwh`` → kWh), or "its unit"."""
    name = field.rsplit(".", 1)[-1]
    return next((u for suffix, u in _UNITS if name.endswith(suffix)), "its unit")


def _e(x: float) -> str:
    return f"{x:.0e}".replace("e+0", "e").replace("e+", "e")  # 1e9, not 1e+09


def _bad_number(v: Any, max_abs: float) -> str | None:
    if isinstance(v, bool) or not isinstance(v, int | float):
        return None
    if isinstance(v, float) and math.isnan(v):
        return "is not a number (NaN)"
    if isinstance(v, float) and math.isinf(v):
        return f"is infinite ({v})"
    if abs(v) > max_abs:
        return f"is {v:.4g}"
    return None


def _is_model(v: Any) -> bool:
    return hasattr(type(v), "model_fields")


def magnitude_problems(model: Any, owner: str, max_abs: float = MAX_ABS) -> list[Problem]:
    """Numbers the solver cannot take: NaN, infinities and magnitudes above ``max_abs`` (in the
    field's unit), in every field of the pydantic ``model`` and of the models inside it (lists of named models
    are walked with each item's name as the object)."""
    out: list[Problem] = []

    def walk(m: Any, obj: str, prefix: str) -> None:
        for name in type(m).model_fields:
            v = getattr(m, name)
            fld = f"{prefix}{name}"
            if _is_model(v):
                walk(v, obj, f"{fld}.")
                continue
            items = v if isinstance(v, list) else [v]
            if items and _is_model(items[0]):
                for i, item in enumerate(items):
                    ident = getattr(item, "name", None)
                    walk(item, str(ident), "") if ident else walk(item, obj, f"{fld}[{i}].")
                continue
            for i, x in enumerate(items):
                why = _bad_number(x, max_abs)
                if why is not None:
                    where = f" (value {i})" if isinstance(v, list) else ""
                    out.append(
                        Problem(
                            obj,
                            fld,
                            f"{why}{where}: give a finite number, |x| ≤ {_e(max_abs)} {unit_of(fld)}",
                        )
                    )
                    break  # one problem per field

    walk(model, owner, "")
    return unique(out)
