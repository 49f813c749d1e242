"""The REST API (FastAPI): one router per resource, auth and tenancy as dependencies.

An adapter: it talks to the store's repositories, which enforce tenancy; the core never imports it.
"""

from gridflex.api.app import API_VERSION, MAX_BODY_BYTES, create_app

__all__ = ["API_VERSION", "MAX_BODY_BYTES", "create_app"]
