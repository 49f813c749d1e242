"""Organisations, their roles, users and API tokens."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from gridflex.errors import Problem, ValidationError
from gridflex.store import tokens
from gridflex.store.columns import utcnow
from gridflex.store.errors import AuthError, ConflictError, NotFoundError, PermissionDeniedError
from gridflex.store.tables import ApiToken, Organisation, OrgRole, Role, User
from gridflex.store.tenancy import Principal, can_write_org, orgs_visible, tokens_visible

__all__ = ["Accounts", "NewToken", "authenticate"]


@dataclass(frozen=True)
class NewToken:
    """A token just created: ``secret`` is shown this once and never stored."""

    token: ApiToken
    secret: str


def _roles(names: Iterable[str]) -> list[Role]:
    known = {r.value for r in Role}
    bad = [Problem("organisation", "roles", f"unknown role {n!r}: one of {', '.join(sorted(known))}")
           for n in names if n not in known]  # fmt: skip
    if bad:
        raise ValidationError("organisation", bad)
    return sorted({Role(n) for n in names})


_TOKEN_OF = (
    select(
        ApiToken.id,
        ApiToken.revoked_at,
        ApiToken.expires_at,
        Organisation.id,
        Organisation.name,
        OrgRole.role,
    )
    .join(Organisation, Organisation.id == ApiToken.org_id)
    .outerjoin(OrgRole, OrgRole.org_id == Organisation.id)
    .where(ApiToken.digest == bindparam("digest"))
)


def authenticate(session: Session, secret: str, now: datetime | None = None) -> Principal:
    """The principal of a bearer token, or :class:`AuthError` (unknown, revoked or expired)."""
    now = now or utcnow()
    # One constant Core query (compiled once, no ORM objects): it runs on every request.
    rows = session.connection().execute(_TOKEN_OF, {"digest": tokens.digest(secret)}).all()
    if not rows:
        raise AuthError("unknown token")
    token_id, revoked_at, expires_at, org_id, org_name, _ = rows[0]
    if revoked_at is not None:
        raise AuthError("token revoked")
    if expires_at is not None and expires_at <= now:
        raise AuthError("token expired")
    roles = frozenset(Role(r[5]) for r in rows if r[5] is not None)
    return Principal(org_id, org_name, roles, token_id)


class Accounts:
    """Organisations, users and tokens as ``principal`` may see and change them."""

    def __init__(self, session: Session, principal: Principal) -> None:
        self.s, self.p = session, principal

    # -- organisations
    def create_org(self, name: str, roles: Iterable[str]) -> Organisation:
        if not self.p.is_admin:
            raise PermissionDeniedError("creating an organisation needs the role admin")
        if self.s.scalar(select(Organisation.id).where(Organisation.name == name)) is not None:
            raise ConflictError(f"an organisation named {name!r} exists")
        org = Organisation(name=name, roles=[OrgRole(role=r.value) for r in _roles(roles)])
        self.s.add(org)
        self.s.flush()
        return org

    def get_org(self, org_id: int) -> Organisation:
        org = self.s.scalar(select(Organisation).where(Organisation.id == org_id, orgs_visible(self.p)))
        if org is None:
            raise NotFoundError(f"organisation {org_id} not found")
        return org

    def find_org(self, name: str) -> Organisation:
        org = self.s.scalar(select(Organisation).where(Organisation.name == name, orgs_visible(self.p)))
        if org is None:
            raise NotFoundError(f"organisation {name!r} not found")
        return org

    def list_orgs(self) -> list[Organisation]:
        return list(
            self.s.scalars(select(Organisation).where(orgs_visible(self.p)).order_by(Organisation.id))
        )

    # -- users
    def create_user(self, org_id: int, email: str, name: str = "") -> User:
        self._writable_org(org_id)
        if self.s.scalar(select(User.id).where(User.email == email)) is not None:
            raise ConflictError(f"a user with e-mail {email!r} exists")
        user = User(org_id=org_id, email=email, name=name)
        self.s.add(user)
        self.s.flush()
        return user

    # -- tokens
    def create_token(self, org_id: int, name: str, expires_at: datetime | None = None) -> NewToken:
        self._writable_org(org_id)
        if expires_at is not None and expires_at <= utcnow():
            raise ConflictError("expires_at is in the past")
        secret = tokens.new_secret()
        tok = ApiToken(
            org_id=org_id,
            name=name,
            prefix=secret[: len(tokens.PREFIX) + 6],
            digest=tokens.digest(secret),
            expires_at=expires_at,
        )
        self.s.add(tok)
        self.s.flush()
        return NewToken(tok, secret)

    def list_tokens(self, org_id: int | None = None) -> list[ApiToken]:
        q = select(ApiToken).where(tokens_visible(self.p))
        if org_id is not None:
            q = q.where(ApiToken.org_id == org_id)
        return list(self.s.scalars(q.order_by(ApiToken.id)))

    def get_token(self, token_id: int) -> ApiToken:
        tok = self.s.scalar(select(ApiToken).where(ApiToken.id == token_id, tokens_visible(self.p)))
        if tok is None:
            raise NotFoundError(f"token {token_id} not found")
        return tok

    def revoke_token(self, token_id: int) -> ApiToken:
        tok = self.get_token(token_id)
        if tok.revoked_at is None:
            tok.revoked_at = utcnow()
            self.s.flush()
        return tok

    def _writable_org(self, org_id: int) -> Organisation:
        org = self.get_org(org_id)  # 404 when not visible
        if not can_write_org(self.p, org_id):
            raise PermissionDeniedError(f"organisation {org_id} is not yours")
        return org
