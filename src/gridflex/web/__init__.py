"""The dashboard: server-rendered pages (Jinja2) with small vendored JS (htmx, uPlot), no build step.

Mounted at ``/`` by :func:`gridflex.api.create_app`, next to the API, on the same store. Sign-in takes
an API token and keeps it in an HttpOnly, SameSite=Strict cookie; every page authenticates through the
API's own dependency (:func:`gridflex.api.deps.caller`) and reads through the store's repositories,
so each role sees its own tenant only, exactly as through the API.

The package imports nothing itself: ``gridflex.api.app`` takes ``mount_dashboard`` from
``gridflex.web.app``, and the pages import the API's dependencies, so either side may load first.
"""

__all__: list[str] = []
