"""local flexibility: DSO flex requests and the aggregators' offers answering them

Revision ID: 0003_dash_requests
Revises: 0002_svc
Create Date: 2026-12-03 (times are naive UTC columns; the store hands back aware UTC)
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_dash_requests"
down_revision = "0002_svc"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "flex_requests",
        sa.Column("id", ID, nullable=False),
        sa.Column("dso_org_id", ID, nullable=False),
        sa.Column("congestion_point_id", ID, nullable=False),
        sa.Column("congestion_point", sa.String(length=200), nullable=False),
        sa.Column("direction", sa.String(length=8), nullable=False),
        sa.Column("start", sa.DateTime(), nullable=False),
        sa.Column("isp_s", sa.Integer(), nullable=False),
        sa.Column("volume_kw", sa.JSON(), nullable=False),
        sa.Column("max_price_eur_per_mwh", sa.Float(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["congestion_point_id"],
            ["congestion_points.id"],
            name=op.f("fk_flex_requests_congestion_point_id_congestion_points"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["dso_org_id"],
            ["organisations.id"],
            name=op.f("fk_flex_requests_dso_org_id_organisations"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_flex_requests")),
    )
    with op.batch_alter_table("flex_requests", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_flex_requests_dso_org_id"), ["dso_org_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_flex_requests_congestion_point_id"), ["congestion_point_id"], unique=False
        )

    op.create_table(
        "flex_request_offers",
        sa.Column("id", ID, nullable=False),
        sa.Column("request_id", ID, nullable=False),
        sa.Column("aggregator_org_id", ID, nullable=False),
        sa.Column("volume_kw", sa.JSON(), nullable=False),
        sa.Column("price_eur_per_mwh", sa.Float(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("accepted_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["aggregator_org_id"],
            ["organisations.id"],
            name=op.f("fk_flex_request_offers_aggregator_org_id_organisations"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["flex_requests.id"],
            name=op.f("fk_flex_request_offers_request_id_flex_requests"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_flex_request_offers")),
    )
    with op.batch_alter_table("flex_request_offers", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_flex_request_offers_request_id"), ["request_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_flex_request_offers_aggregator_org_id"), ["aggregator_org_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("flex_request_offers", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_flex_request_offers_aggregator_org_id"))
        batch_op.drop_index(batch_op.f("ix_flex_request_offers_request_id"))
    op.drop_table("flex_request_offers")
    with op.batch_alter_table("flex_requests", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_flex_requests_congestion_point_id"))
        batch_op.drop_index(batch_op.f("ix_flex_requests_dso_org_id"))
    op.drop_table("flex_requests")
