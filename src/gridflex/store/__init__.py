"""The store: SQLAlchemy tables and repositories; SQLite by default, PostgreSQL in production.

Tenancy is enforced here and only here (:mod:`gridflex.store.tenancy`): every repository takes the
calling :class:`Principal`. An adapter layer: the core never imports it.
"""

from gridflex.store.accounts import Accounts, NewToken, authenticate
from gridflex.store.engine import DEFAULT_URL, make_engine, normalise_url
from gridflex.store.errors import AuthError, ConflictError, NotFoundError, PermissionDeniedError, StoreError
from gridflex.store.jobfiles import JobFiles  # its table joins the metadata
from gridflex.store.market import Clearing, Orders, Products, Submitted
from gridflex.store.metering import Metering
from gridflex.store.places import Places
from gridflex.store.requests import FlexRequests  # its tables join the metadata
from gridflex.store.session import Repos, Store, bootstrap_admin
from gridflex.store.settling import Activations, Settlements
from gridflex.store.tables import Role
from gridflex.store.tenancy import Principal
from gridflex.store.uploads import Uploads

__all__ = [
    "DEFAULT_URL",
    "Accounts",
    "Activations",
    "AuthError",
    "Clearing",
    "ConflictError",
    "FlexRequests",
    "JobFiles",
    "Metering",
    "NewToken",
    "NotFoundError",
    "Orders",
    "PermissionDeniedError",
    "Places",
    "Principal",
    "Products",
    "Repos",
    "Role",
    "Settlements",
    "Store",
    "StoreError",
    "Submitted",
    "Uploads",
    "authenticate",
    "bootstrap_admin",
    "make_engine",
    "normalise_url",
]
