"""The dashboard's sub-application: pages, static files, sign-in, and errors as pages."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from gridflex.store import AuthError, NotFoundError, PermissionDeniedError
from gridflex.web.render import render

__all__ = ["STATIC", "mount_dashboard"]

STATIC = Path(__file__).parent / "static"


def mount_dashboard(app: FastAPI) -> None:
    """Serve the dashboard at ``/`` of ``app`` (after its routes, so the API keeps its paths)."""
    # Here, not at the top: the pages import the API's dependencies, whose package imports this module.
    from gridflex.web import pages, portfolio, studies

    web = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
    web.state = app.state  # the same store and clock as the API
    web.mount("/static", StaticFiles(directory=STATIC), name="static")
    web.include_router(pages.router)
    web.include_router(portfolio.router)
    web.include_router(studies.router)
    _error_pages(web, pages.SESSION_COOKIE)
    app.mount("/", web)


def _error_pages(web: FastAPI, cookie: str) -> None:
    @web.exception_handler(AuthError)
    async def _signin(request: Request, exc: AuthError) -> Response:
        if request.headers.get("HX-Request"):  # an htmx fragment: make the whole page go to sign-in
            return Response(status_code=401, headers={"HX-Redirect": "/signin"})
        query = f"?{request.url.query}" if request.url.query else ""
        target = quote(request.url.path + query, safe="/")
        response = RedirectResponse(f"/signin?next={target}", status_code=303)
        if request.cookies.get(cookie):
            response.delete_cookie(cookie, path="/")  # revoked or expired: forget it
        return response

    @web.exception_handler(PermissionDeniedError)
    async def _forbidden(request: Request, exc: PermissionDeniedError) -> HTMLResponse:
        return render(request, "error.html", {"title": "Not allowed", "message": str(exc)}, status=403)

    @web.exception_handler(NotFoundError)
    async def _not_found(request: Request, exc: NotFoundError) -> HTMLResponse:
        return render(request, "error.html", {"title": "Not found", "message": str(exc)}, status=404)

    @web.exception_handler(404)
    async def _no_page(request: Request, exc: Exception) -> HTMLResponse:
        return render(
            request, "error.html", {"title": "Not found", "message": f"no page at {request.url.path}"}, 404
        )
