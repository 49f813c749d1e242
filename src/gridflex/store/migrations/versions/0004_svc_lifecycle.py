"""market lifecycle: connection points, meter readings, activations, baselines, settlements, audit trail

Revision ID: 0004_svc_lifecycle
Revises: 0003_dash_requests
Create Date: 2026-12-03 (times are naive UTC columns; the store hands back aware UTC)
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_svc_lifecycle"
down_revision = "0003_dash_requests"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "audit_events",
        sa.Column("id", ID, nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("actor_org_id", ID, nullable=False),
        sa.Column("subject_org_id", ID, nullable=True),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("object_type", sa.String(length=32), nullable=False),
        sa.Column("object_id", sa.String(length=200), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["actor_org_id"],
            ["organisations.id"],
            name=op.f("fk_audit_events_actor_org_id_organisations"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["subject_org_id"],
            ["organisations.id"],
            name=op.f("fk_audit_events_subject_org_id_organisations"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_events")),
    )
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_audit_events_actor_org_id"), ["actor_org_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_audit_events_at"), ["at"], unique=False)
        batch_op.create_index(batch_op.f("ix_audit_events_subject_org_id"), ["subject_org_id"], unique=False)

    op.create_table(
        "settlements",
        sa.Column("id", ID, nullable=False),
        sa.Column("run_by_org_id", ID, nullable=False),
        sa.Column("start", sa.DateTime(), nullable=False),
        sa.Column("end", sa.DateTime(), nullable=False),
        sa.Column("tz", sa.String(length=64), nullable=False),
        sa.Column("baseline", sa.JSON(), nullable=False),
        sa.Column("history_days", sa.Integer(), nullable=False),
        sa.Column("transfer_price_eur_per_mwh", sa.Float(), nullable=False),
        sa.Column("activations", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["run_by_org_id"],
            ["organisations.id"],
            name=op.f("fk_settlements_run_by_org_id_organisations"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_settlements")),
    )
    with op.batch_alter_table("settlements", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_settlements_run_by_org_id"), ["run_by_org_id"], unique=False)

    op.create_table(
        "connection_points",
        sa.Column("id", ID, nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("owner_org_id", ID, nullable=False),
        sa.Column("congestion_point_id", ID, nullable=True),
        sa.Column("brp_org_id", ID, nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["brp_org_id"],
            ["organisations.id"],
            name=op.f("fk_connection_points_brp_org_id_organisations"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["congestion_point_id"],
            ["congestion_points.id"],
            name=op.f("fk_connection_points_congestion_point_id_congestion_points"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["owner_org_id"],
            ["organisations.id"],
            name=op.f("fk_connection_points_owner_org_id_organisations"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_connection_points")),
        sa.UniqueConstraint("name", name=op.f("uq_connection_points_name")),
    )
    with op.batch_alter_table("connection_points", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_connection_points_congestion_point_id"), ["congestion_point_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_connection_points_owner_org_id"), ["owner_org_id"], unique=False)

    op.create_table(
        "baselines",
        sa.Column("id", ID, nullable=False),
        sa.Column("connection_point_id", ID, nullable=False),
        sa.Column("settlement_id", ID, nullable=True),
        sa.Column("created_by_org_id", ID, nullable=False),
        sa.Column("start", sa.DateTime(), nullable=False),
        sa.Column("isp_s", sa.Integer(), nullable=False),
        sa.Column("tz", sa.String(length=64), nullable=False),
        sa.Column("spec", sa.JSON(), nullable=False),
        sa.Column("baseline_kw", sa.JSON(), nullable=False),
        sa.Column("metered_kw", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["connection_point_id"],
            ["connection_points.id"],
            name=op.f("fk_baselines_connection_point_id_connection_points"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["created_by_org_id"],
            ["organisations.id"],
            name=op.f("fk_baselines_created_by_org_id_organisations"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["settlement_id"],
            ["settlements.id"],
            name=op.f("fk_baselines_settlement_id_settlements"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_baselines")),
    )
    with op.batch_alter_table("baselines", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_baselines_connection_point_id"), ["connection_point_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_baselines_settlement_id"), ["settlement_id"], unique=False)

    op.create_table(
        "meter_readings",
        sa.Column("connection_point_id", ID, nullable=False),
        sa.Column("period_start", sa.DateTime(), nullable=False),
        sa.Column("isp_s", sa.Integer(), nullable=False),
        sa.Column("power_kw", sa.Float(), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("uploaded_by_org_id", ID, nullable=False),
        sa.Column("uploaded_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["connection_point_id"],
            ["connection_points.id"],
            name=op.f("fk_meter_readings_connection_point_id_connection_points"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["uploaded_by_org_id"],
            ["organisations.id"],
            name=op.f("fk_meter_readings_uploaded_by_org_id_organisations"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("connection_point_id", "period_start", name=op.f("pk_meter_readings")),
    )
    op.create_table(
        "activations",
        sa.Column("id", ID, nullable=False),
        sa.Column("offer_id", ID, nullable=False),
        sa.Column("buyer_org_id", ID, nullable=False),
        sa.Column("seller_org_id", ID, nullable=False),
        sa.Column("congestion_point", sa.String(length=200), nullable=False),
        sa.Column("direction", sa.String(length=8), nullable=False),
        sa.Column("start", sa.DateTime(), nullable=False),
        sa.Column("isp_s", sa.Integer(), nullable=False),
        sa.Column("power_kw", sa.JSON(), nullable=False),
        sa.Column("price_eur_per_mwh", sa.Float(), nullable=False),
        sa.Column("penalty_eur_per_mwh", sa.Float(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column("connection_points", sa.JSON(), nullable=False),
        sa.Column("settlement_id", ID, nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("acknowledged_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["buyer_org_id"],
            ["organisations.id"],
            name=op.f("fk_activations_buyer_org_id_organisations"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["offer_id"],
            ["flex_request_offers.id"],
            name=op.f("fk_activations_offer_id_flex_request_offers"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["seller_org_id"],
            ["organisations.id"],
            name=op.f("fk_activations_seller_org_id_organisations"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["settlement_id"],
            ["settlements.id"],
            name=op.f("fk_activations_settlement_id_settlements"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_activations")),
    )
    with op.batch_alter_table("activations", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_activations_buyer_org_id"), ["buyer_org_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_activations_offer_id"), ["offer_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_activations_seller_org_id"), ["seller_org_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_activations_settlement_id"), ["settlement_id"], unique=False)

    op.create_table(
        "settlement_lines",
        sa.Column("id", ID, nullable=False),
        sa.Column("settlement_id", ID, nullable=False),
        sa.Column("period_start", sa.DateTime(), nullable=False),
        sa.Column("item", sa.String(length=32), nullable=False),
        sa.Column("activation_id", ID, nullable=False),
        sa.Column("payer_org_id", ID, nullable=False),
        sa.Column("payee_org_id", ID, nullable=False),
        sa.Column("energy_kwh", sa.Float(), nullable=False),
        sa.Column("price", sa.Float(), nullable=False),
        sa.Column("price_unit", sa.String(length=16), nullable=False),
        sa.Column("amount_eur", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(
            ["activation_id"],
            ["activations.id"],
            name=op.f("fk_settlement_lines_activation_id_activations"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["payee_org_id"],
            ["organisations.id"],
            name=op.f("fk_settlement_lines_payee_org_id_organisations"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["payer_org_id"],
            ["organisations.id"],
            name=op.f("fk_settlement_lines_payer_org_id_organisations"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["settlement_id"],
            ["settlements.id"],
            name=op.f("fk_settlement_lines_settlement_id_settlements"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_settlement_lines")),
    )
    with op.batch_alter_table("settlement_lines", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_settlement_lines_payee_org_id"), ["payee_org_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_settlement_lines_payer_org_id"), ["payer_org_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_settlement_lines_settlement_id"), ["settlement_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("settlement_lines", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_settlement_lines_settlement_id"))
        batch_op.drop_index(batch_op.f("ix_settlement_lines_payer_org_id"))
        batch_op.drop_index(batch_op.f("ix_settlement_lines_payee_org_id"))

    op.drop_table("settlement_lines")
    with op.batch_alter_table("activations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_activations_settlement_id"))
        batch_op.drop_index(batch_op.f("ix_activations_seller_org_id"))
        batch_op.drop_index(batch_op.f("ix_activations_offer_id"))
        batch_op.drop_index(batch_op.f("ix_activations_buyer_org_id"))

    op.drop_table("activations")
    op.drop_table("meter_readings")
    with op.batch_alter_table("baselines", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_baselines_settlement_id"))
        batch_op.drop_index(batch_op.f("ix_baselines_connection_point_id"))

    op.drop_table("baselines")
    with op.batch_alter_table("connection_points", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_connection_points_owner_org_id"))
        batch_op.drop_index(batch_op.f("ix_connection_points_congestion_point_id"))

    op.drop_table("connection_points")
    with op.batch_alter_table("settlements", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_settlements_run_by_org_id"))

    op.drop_table("settlements")
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_audit_events_subject_org_id"))
        batch_op.drop_index(batch_op.f("ix_audit_events_at"))
        batch_op.drop_index(batch_op.f("ix_audit_events_actor_org_id"))

    op.drop_table("audit_events")
