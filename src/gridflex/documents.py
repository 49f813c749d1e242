"""Reading the YAML/JSON documents users write (site files, study files)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from gridflex.errors import DataError


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
