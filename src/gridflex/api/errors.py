"""Errors as answers: every refusal is JSON with a status, never a traceback.

401 no valid token · 403 seen but not allowed · 404 not found or not yours · 409 conflicts with the
stored state · 413 body too large · 422 bad input, naming the field (``detail[].loc``) · 429 the token's rate
limit reached (``Retry-After``) · 503 the
database is busy · 500 anything else, without internals.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import OperationalError

from gridflex.api.limits import RateLimitedError
from gridflex.errors import Problem, ValidationError
from gridflex.store import AuthError, ConflictError, NotFoundError, PermissionDeniedError
from gridflex.store.errors import StoreBusyError

__all__ = ["in_body", "install_error_handlers"]

log = logging.getLogger("gridflex.api")


def in_body(what: str, exc: ValidationError) -> ValidationError:
    """A document's problems (object, field) as the request body's: loc ``body.<object>.<field>``."""
    problems = [
        Problem("body", ".".join(x for x in (p.object_id, p.field) if x), p.message) for p in exc.problems
    ]
    return ValidationError(what, problems)


def _detail(status: int, message: str, **headers: str) -> JSONResponse:
    return JSONResponse({"detail": message}, status_code=status, headers=headers or None)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(AuthError)
    async def _auth(_r: Request, exc: AuthError) -> JSONResponse:
        return _detail(401, str(exc), **{"WWW-Authenticate": "Bearer"})

    @app.exception_handler(PermissionDeniedError)
    async def _forbidden(_r: Request, exc: PermissionDeniedError) -> JSONResponse:
        return _detail(403, str(exc))

    @app.exception_handler(NotFoundError)
    async def _not_found(_r: Request, exc: NotFoundError) -> JSONResponse:
        return _detail(404, str(exc))

    @app.exception_handler(ConflictError)
    async def _conflict(_r: Request, exc: ConflictError) -> JSONResponse:
        return _detail(409, str(exc))

    @app.exception_handler(ValidationError)
    async def _invalid(_r: Request, exc: ValidationError) -> JSONResponse:
        # The same shape as FastAPI's own 422: loc names where the field is.
        detail = [
            {
                "loc": [
                    "header" if p.object_id == "request" else "body",
                    *(p.field.split(".") if p.field else []),
                ],
                "msg": p.message,
                "type": "value_error",
            }
            for p in exc.problems
        ]
        return JSONResponse({"detail": detail}, status_code=422)

    @app.exception_handler(RequestValidationError)
    async def _bad_request(_r: Request, exc: RequestValidationError) -> JSONResponse:
        # loc, msg and type only: echoing the input back could hold NaN (not JSON) or a huge value.
        detail = [{"loc": list(e["loc"]), "msg": str(e["msg"]), "type": str(e["type"])} for e in exc.errors()]
        return JSONResponse({"detail": detail}, status_code=422)

    @app.exception_handler(RateLimitedError)
    async def _rate_limited(_r: Request, exc: RateLimitedError) -> JSONResponse:
        return _detail(429, str(exc), **{"Retry-After": str(exc.retry_after_s)})

    @app.exception_handler(OperationalError)
    async def _unreachable(_r: Request, exc: OperationalError) -> JSONResponse:
        log.warning("database error: %s", exc.orig)
        return _detail(503, "the database is busy or unreachable; retry", **{"Retry-After": "1"})

    @app.exception_handler(StoreBusyError)
    async def _busy(_r: Request, exc: StoreBusyError) -> JSONResponse:
        return _detail(503, f"{exc}; retry", **{"Retry-After": "1"})

    @app.exception_handler(Exception)
    async def _internal(_r: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error")  # the log has the traceback; the client does not
        return _detail(500, "internal error")
