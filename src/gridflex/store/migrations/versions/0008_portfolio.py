"""the aggregator's portfolio: the prosumer behind a connection point, dispatches (an activation's part
called from one prosumer, ``activations.parent_id``) and their settlement (decision 0032)

Revision ID: 0008_portfolio
Revises: 0007_studies
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008_portfolio"
down_revision = "0007_studies"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("connection_points", schema=None) as batch_op:
        batch_op.add_column(sa.Column("prosumer_org_id", Id, nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_connection_points_prosumer_org_id_organisations"),
            "organisations",
            ["prosumer_org_id"],
            ["id"],
            ondelete="RESTRICT",
        )
        batch_op.create_index(batch_op.f("ix_connection_points_prosumer_org_id"), ["prosumer_org_id"])
    with op.batch_alter_table("activations", schema=None) as batch_op:
        batch_op.add_column(sa.Column("parent_id", Id, nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_activations_parent_id_activations"),
            "activations",
            ["parent_id"],
            ["id"],
            ondelete="RESTRICT",
        )
        batch_op.create_index(batch_op.f("ix_activations_parent_id"), ["parent_id"])


def downgrade() -> None:
    with op.batch_alter_table("activations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_activations_parent_id"))
        batch_op.drop_constraint(batch_op.f("fk_activations_parent_id_activations"), type_="foreignkey")
        batch_op.drop_column("parent_id")
    with op.batch_alter_table("connection_points", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_connection_points_prosumer_org_id"))
        batch_op.drop_constraint(
            batch_op.f("fk_connection_points_prosumer_org_id_organisations"), type_="foreignkey"
        )
        batch_op.drop_column("prosumer_org_id")
