"""users of organisations: org_admin and disabled_at; the audit names the token and user that acted;
settlement revisions and disputes of statement lines

Revision ID: 0006_accounts
Revises: 0005_jobs_sites
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006_accounts"
down_revision = "0005_jobs_sites"
branch_labels = None
depends_on = None


Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("org_admin", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.add_column(sa.Column("disabled_at", sa.DateTime(), nullable=True))
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("actor_token_id", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("actor_user_id", sa.BigInteger(), nullable=True))
        batch_op.create_index(batch_op.f("ix_audit_events_actor_user_id"), ["actor_user_id"], unique=False)
    with op.batch_alter_table("settlements", schema=None) as batch_op:
        batch_op.add_column(sa.Column("holidays", sa.JSON(), nullable=False, server_default="[]"))
        batch_op.add_column(sa.Column("revision", sa.Integer(), nullable=False, server_default="1"))
        batch_op.add_column(sa.Column("revises_id", Id, nullable=True))
        batch_op.add_column(sa.Column("superseded_by_id", Id, nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_settlements_revises_id_settlements"),
            "settlements",
            ["revises_id"],
            ["id"],
            ondelete="RESTRICT",
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_settlements_superseded_by_id_settlements"),
            "settlements",
            ["superseded_by_id"],
            ["id"],
            ondelete="RESTRICT",
        )
        batch_op.create_index(batch_op.f("ix_settlements_revises_id"), ["revises_id"], unique=False)
    op.create_table(
        "settlement_disputes",
        sa.Column("id", Id, nullable=False),
        sa.Column("settlement_id", Id, nullable=False),
        sa.Column("line_id", Id, nullable=False),
        sa.Column("raised_by_org_id", Id, nullable=False),
        sa.Column("reason", sa.String(length=1000), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("resolved_by_settlement_id", Id, nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("resolved_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(["settlement_id"], ["settlements.id"], name=op.f("fk_settlement_disputes_settlement_id_settlements"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["line_id"], ["settlement_lines.id"], name=op.f("fk_settlement_disputes_line_id_settlement_lines"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["raised_by_org_id"], ["organisations.id"], name=op.f("fk_settlement_disputes_raised_by_org_id_organisations"), ondelete="RESTRICT"),
        sa.ForeignKeyConstraint(["resolved_by_settlement_id"], ["settlements.id"], name=op.f("fk_settlement_disputes_resolved_by_settlement_id_settlements"), ondelete="RESTRICT"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_settlement_disputes")),
    )  # fmt: skip
    op.create_index(op.f("ix_settlement_disputes_settlement_id"), "settlement_disputes", ["settlement_id"])
    op.create_index(
        op.f("ix_settlement_disputes_raised_by_org_id"), "settlement_disputes", ["raised_by_org_id"]
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_settlement_disputes_raised_by_org_id"), table_name="settlement_disputes")
    op.drop_index(op.f("ix_settlement_disputes_settlement_id"), table_name="settlement_disputes")
    op.drop_table("settlement_disputes")
    with op.batch_alter_table("settlements", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_settlements_revises_id"))
        batch_op.drop_constraint(
            batch_op.f("fk_settlements_superseded_by_id_settlements"), type_="foreignkey"
        )
        batch_op.drop_constraint(batch_op.f("fk_settlements_revises_id_settlements"), type_="foreignkey")
        for column in ("superseded_by_id", "revises_id", "revision", "holidays"):
            batch_op.drop_column(column)
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_audit_events_actor_user_id"))
        batch_op.drop_column("actor_user_id")
        batch_op.drop_column("actor_token_id")
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("disabled_at")
        batch_op.drop_column("org_admin")
