"""Organisations, their roles, users and API tokens."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session

from gridflex.errors import Problem, ValidationError
from gridflex.store import tokens
from gridflex.store.columns import utcnow
from gridflex.store.errors import AuthError, ConflictError, NotFoundError, PermissionDeniedError
from gridflex.store.metering import audit as _audit
from gridflex.store.tables import ApiToken, Organisation, OrgRole, Role, User
from gridflex.store.tenancy import (
    Principal,
    can_write_org,
    one_visible,
    orgs_visible,
    require_org_manager,
    tokens_visible,
    users_visible,
)

__all__ = ["Accounts", "NewToken", "authenticate", "authenticate_all"]


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


# One constant Core query (compiled once, no ORM objects): it runs on every request. A token's rows
# (one per role of its organisation), for each digest asked.
_TOKENS_OF = (
    select(
        ApiToken.digest,
        ApiToken.id,
        ApiToken.revoked_at,
        ApiToken.expires_at,
        Organisation.id,
        Organisation.name,
        ApiToken.user_id,
        User.org_admin,
        OrgRole.role,
    )
    .join(Organisation, Organisation.id == ApiToken.org_id)
    .outerjoin(User, User.id == ApiToken.user_id)
    .outerjoin(OrgRole, OrgRole.org_id == Organisation.id)
    .where(ApiToken.digest.in_(bindparam("digests", expanding=True)))
)


def authenticate(session: Session, secret: str, now: datetime | None = None) -> Principal:
    """The principal of a bearer token, or :class:`AuthError` (unknown, revoked or expired).

    A disabled user's tokens were revoked when it was disabled, so no check of the user is needed."""
    got = authenticate_all(session, [secret], now)[secret]
    if isinstance(got, AuthError):
        raise got
    return got


def authenticate_all(
    session: Session, secrets: Iterable[str], now: datetime | None = None
) -> dict[str, Principal | AuthError]:
    """:func:`authenticate` of several tokens in one query (a group commit's batch): for each
    secret, its principal or its :class:`AuthError`, returned."""
    now = now or utcnow()
    by_digest = {tokens.digest(s): s for s in secrets}
    rows: dict[str, list[Any]] = {}
    for row in session.connection().execute(_TOKENS_OF, {"digests": list(by_digest)}):
        rows.setdefault(row[0], []).append(row)
    return {secret: _principal(rows.get(d), now) for d, secret in by_digest.items()}


def _principal(rows: list[Any] | None, now: datetime) -> Principal | AuthError:
    if not rows:
        return AuthError("unknown token")
    _, token_id, revoked_at, expires_at, org_id, org_name, user_id, org_admin, _ = rows[0]
    if revoked_at is not None:
        return AuthError("token revoked")
    if expires_at is not None and expires_at <= now:
        return AuthError("token expired")
    roles = frozenset(Role(r[-1]) for r in rows if r[-1] is not None)
    return Principal(org_id, org_name, roles, token_id, user_id, user_id is None or bool(org_admin))


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
    def create_user(self, org_id: int, email: str, name: str = "", org_admin: bool = False) -> User:
        """A person of organisation ``org_id``; ``org_admin``: manages its users and tokens."""
        self._writable_org(org_id)
        require_org_manager(self.p, org_id, "adding a user")
        if self.s.scalar(select(User.id).where(User.email == email)) is not None:
            raise ConflictError(f"a user with e-mail {email!r} exists")
        user = User(org_id=org_id, email=email, name=name, org_admin=org_admin)
        self.s.add(user)
        self.s.flush()
        self._audit("user.created", "user", user.id, subject_org_id=org_id,
                    detail={"email": email, "org_admin": org_admin})  # fmt: skip
        return user

    def list_users(self, org_id: int | None = None) -> list[User]:
        q = select(User).where(users_visible(self.p))
        if org_id is not None:
            q = q.where(User.org_id == org_id)
        return list(self.s.scalars(q.order_by(User.id)))

    def get_user(self, user_id: int) -> User:
        return one_visible(self.s, User, user_id, users_visible(self.p), "user")

    def find_user(self, email: str) -> User:
        user = self.s.scalar(select(User).where(User.email == email, users_visible(self.p)))
        if user is None:
            raise NotFoundError(f"user {email!r} not found")
        return user

    def disable_user(self, user_id: int, now: datetime | None = None) -> User:
        """Disable a user and revoke every token of it in the same transaction: refused from the
        next request on. Disabling again changes nothing."""
        user = self.get_user(user_id)
        require_org_manager(self.p, user.org_id, "disabling a user")
        if user.disabled_at is not None:
            return user
        now = now or utcnow()
        user.disabled_at = now
        revoked = self.s.execute(
            update(ApiToken)
            .where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None))
            .values(revoked_at=now)
            .returning(ApiToken.id)
        ).scalars().all()  # fmt: skip
        self.s.flush()
        self._audit("user.disabled", "user", user.id, at=now, subject_org_id=user.org_id,
                    detail={"revoked_tokens": sorted(revoked)})  # fmt: skip
        return user

    # -- tokens
    def create_token(
        self, org_id: int, name: str, expires_at: datetime | None = None, user_id: int | None = None
    ) -> NewToken:
        """A token of organisation ``org_id``, of its user ``user_id`` when given. A plain user's
        token creates tokens of its own user only."""
        self._writable_org(org_id)
        if user_id is None and not self.p.org_manager and not self.p.is_admin:
            user_id = self.p.user_id  # a user's token makes tokens of that user
        if user_id is not None:
            user = self.get_user(user_id)
            if user.org_id != org_id:
                raise NotFoundError(f"user {user_id} not found in organisation {org_id}")
            if user.disabled_at is not None:
                raise ConflictError(f"user {user_id} is disabled")
            if user_id != self.p.user_id:
                require_org_manager(self.p, org_id, "creating a token of another user")
        if expires_at is not None and expires_at <= utcnow():
            raise ConflictError("expires_at is in the past")
        secret = tokens.new_secret()
        tok = ApiToken(
            org_id=org_id,
            user_id=user_id,
            name=name,
            prefix=secret[: len(tokens.PREFIX) + 6],
            digest=tokens.digest(secret),
            expires_at=expires_at,
        )
        self.s.add(tok)
        self.s.flush()
        self._audit("token.created", "token", tok.id, subject_org_id=org_id,
                    detail={"name": name, "user_id": user_id})  # fmt: skip
        return NewToken(tok, secret)

    def list_tokens(self, org_id: int | None = None) -> list[ApiToken]:
        q = select(ApiToken).where(tokens_visible(self.p))
        if org_id is not None:
            q = q.where(ApiToken.org_id == org_id)
        return list(self.s.scalars(q.order_by(ApiToken.id)))

    def get_token(self, token_id: int) -> ApiToken:
        return one_visible(self.s, ApiToken, token_id, tokens_visible(self.p), "token")

    def revoke_token(self, token_id: int) -> ApiToken:
        tok = self.get_token(token_id)
        if tok.user_id is None or tok.user_id != self.p.user_id:
            require_org_manager(self.p, tok.org_id, "revoking a token that is not the caller's")
        if tok.revoked_at is None:
            tok.revoked_at = utcnow()
            self.s.flush()
            self._audit("token.revoked", "token", tok.id, subject_org_id=tok.org_id,
                        detail={"name": tok.name, "user_id": tok.user_id})  # fmt: skip
        return tok

    def _audit(self, action: str, object_type: str, object_id: int, **kw: Any) -> None:
        # The shell's bootstrap identity has no organisation row to name as the actor.
        if self.p.org_id != Principal.system().org_id:
            _audit(self.s, self.p, action, object_type, object_id, **kw)

    def _writable_org(self, org_id: int) -> Organisation:
        org = self.get_org(org_id)  # 404 when not visible
        if not can_write_org(self.p, org_id):
            raise PermissionDeniedError(f"organisation {org_id} is not yours")
        return org
