"""What the routers of uploaded documents (sites, studies, flex-offers) share: the body parser and
their list, get and file routes. No router of its own.

The routes are made per resource (:func:`document_routes`) with the resource's own names: the
function names give the OpenAPI ``operationId`` and summary, the path parameter keeps its
resource's name (``site_id``, ``study_id`` …), so the document is the one hand-written routes had.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable
from typing import Annotated, Any

import yaml
from fastapi import APIRouter, Query
from pydantic import BaseModel

from gridflex.api.deps import Using
from gridflex.api.schemas import MAX_ID, DbId
from gridflex.errors import Problem, ValidationError

__all__ = ["document_routes", "parse_document"]


def parse_document(raw: bytes, content_type: str, what: str = "the site") -> Any:
    """An uploaded document's body, YAML when the content type says so, else JSON (422 if neither)."""
    try:
        text = raw.decode("utf-8")
        return yaml.safe_load(text) if "yaml" in content_type else json.loads(text)
    except (UnicodeDecodeError, json.JSONDecodeError, yaml.YAMLError) as exc:
        why = f"not valid {'YAML' if 'yaml' in content_type else 'JSON'}: {exc}"
        raise ValidationError(what, [Problem("body", "", why)]) from None


def document_routes(
    router: APIRouter,
    kind: str,
    out: type[BaseModel],
    *,
    prefix: str,
    names: tuple[str, str, str],
    id_name: str,
    file_path: str,
    file_doc: str,
) -> None:
    """Add to ``router``: ``GET {prefix}`` (the caller's documents of ``kind``, paged), ``GET
    {prefix}/{id}`` and ``GET {prefix}/{id}{file_path}`` (the document as uploaded, JSON), named
    ``names`` (list, get, file). Tenancy is the store's (:class:`gridflex.store.uploads.Uploads`)."""
    list_name, get_name, file_name = names

    def listed(
        r: Using,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
        after: Annotated[int, Query(ge=0, le=MAX_ID)] = 0,
    ) -> list[Any]:
        return [out.model_validate(u) for u in r.uploads.list(kind, limit, after)]

    def one(r: Using, **ids: int) -> Any:
        return out.model_validate(r.uploads.get(kind, ids[id_name]))

    def file(r: Using, **ids: int) -> dict[str, Any]:
        return dict(r.uploads.get(kind, ids[id_name]).body)

    item = f"{prefix}/{{{id_name}}}"
    router.add_api_route(prefix, listed, methods=["GET"], response_model=list[out], name=list_name)  # type: ignore[valid-type]
    router.add_api_route(item, _with_id(one, id_name), methods=["GET"], response_model=out, name=get_name)
    router.add_api_route(
        item + file_path, _with_id(file, id_name), methods=["GET"], response_model=dict[str, Any],
        name=file_name, description=file_doc,
    )  # fmt: skip


def _with_id(endpoint: Callable[..., Any], id_name: str) -> Callable[..., Any]:
    """``endpoint`` as FastAPI should see it: a path parameter ``id_name`` (a database id) first,
    then its own parameters (FastAPI reads ``__signature__``; ``**ids`` receives the id)."""
    own = [p for p in inspect.signature(endpoint).parameters.values() if p.kind is not p.VAR_KEYWORD]
    param = inspect.Parameter(id_name, inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=DbId)
    endpoint.__signature__ = inspect.Signature([param, *own])  # type: ignore[attr-defined]
    return endpoint
