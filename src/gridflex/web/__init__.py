"""The dashboard: server-rendered pages (Jinja2) with small vendored JS (htmx, uPlot), no build step.

Mounted at ``/`` by :func:`gridflex.api.create_app`, next to the API, on the same store. Sign-in takes
an API token and keeps it in an HttpOnly, SameSite=Strict cookie; every page authenticates through the
API's own dependency (:func:`gridflex.api.deps.caller`) and reads through the store's repositories,
so each role sees its own tenant only, exactly as through the API.
"""

from gridflex.web.app import mount_dashboard

__all__ = ["mount_dashboard"]
