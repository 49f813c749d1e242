"""The S2 wire schema, taken from s2-python (never hand-maintained here).

s2-python 0.11 does not ship the s2-ws-json JSON schema file itself; it ships ``s2python.generated.gen_s2``,
the pydantic models generated (datamodel-codegen) from the official ``openapi.yml``. :func:`s2_json_schema`
exports those generated models (not s2-python's stricter subclasses) as one JSON schema (draft 2020-12),
a discriminated union over ``message_type``; :func:`schema_problems` checks one frame against it with
``jsonschema``. :func:`parse_problems` re-parses a frame with s2-python's strict models (UUID ids,
cross-field validators). Tests run every frame the CEM sends through both.
"""

from __future__ import annotations

import json
import typing
from functools import lru_cache
from typing import Any

import pydantic
from s2python.generated import gen_s2
from s2python.s2_parser import TYPE_TO_MESSAGE_CLASS
from s2python.version import S2_VERSION

PROTOCOL_VERSION = S2_VERSION
"""The S2 protocol version the CEM speaks ("0.0.2-beta" with s2-python 0.11)."""


@lru_cache(maxsize=1)
def s2_json_schema() -> dict[str, Any]:
    """JSON schema of every S2 message, generated from s2-python's schema-derived models."""
    classes = tuple(getattr(gen_s2, name.replace(".", "")) for name in sorted(TYPE_TO_MESSAGE_CLASS))
    union = typing.Annotated[typing.Union[classes], pydantic.Field(discriminator="message_type")]  # type: ignore[valid-type]  # noqa: UP007
    schema: dict[str, Any] = pydantic.TypeAdapter(union).json_schema(by_alias=True)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = f"S2 s2-ws-json messages {PROTOCOL_VERSION} (from s2python.generated.gen_s2)"
    return schema


@lru_cache(maxsize=1)
def _validator() -> Any:
    import jsonschema  # a test / tooling dependency; the CEM itself does not need it

    return jsonschema.Draft202012Validator(s2_json_schema(), format_checker=jsonschema.FormatChecker())


def schema_problems(frame: str | bytes) -> list[str]:
    """Why a frame breaks the official schema (empty when it conforms)."""
    try:
        data = json.loads(frame)
    except (ValueError, RecursionError) as exc:
        return [f"not JSON: {exc}"]
    return [f"{'/'.join(map(str, e.path))}: {e.message}" for e in _validator().iter_errors(data)]


def parse_problems(frame: str | bytes) -> list[str]:
    """Why s2-python's strict models refuse a frame (empty when it parses)."""
    from s2python.s2_parser import S2Parser

    try:
        S2Parser.parse_as_any_message(frame)
    except Exception as exc:
        return [str(exc)]
    return []
