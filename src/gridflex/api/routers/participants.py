"""Participants: organisations with market roles. Each sees itself; the admin and the market
operator see all; the admin creates them."""

from __future__ import annotations

from fastapi import APIRouter, status

from gridflex.api.deps import Caller, Using
from gridflex.api.schemas import DbId, ParticipantIn, ParticipantOut
from gridflex.store.tables import Organisation

router = APIRouter(prefix="/v1", tags=["participants"])


def out(org: Organisation) -> ParticipantOut:
    return ParticipantOut(id=org.id, name=org.name, roles=org.role_names, created_at=org.created_at)


@router.get("/me", response_model=ParticipantOut)
def me(r: Using, p: Caller) -> ParticipantOut:
    return out(r.accounts.get_org(p.org_id))


@router.get("/participants", response_model=list[ParticipantOut])
def list_participants(r: Using) -> list[ParticipantOut]:
    return [out(o) for o in r.accounts.list_orgs()]


@router.post("/participants", response_model=ParticipantOut, status_code=status.HTTP_201_CREATED)
def create_participant(body: ParticipantIn, r: Using) -> ParticipantOut:
    return out(r.accounts.create_org(body.name, [x.value for x in body.roles]))


@router.get("/participants/{org_id}", response_model=ParticipantOut)
def get_participant(org_id: DbId, r: Using) -> ParticipantOut:
    return out(r.accounts.get_org(org_id))
