"""users of organisations: org_admin and disabled_at; the audit names the token and user that acted

Revision ID: 0006_accounts
Revises: 0005_jobs_sites (0006_studies is added in parallel: the lead chains them at merge)
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006_accounts"
down_revision = "0005_jobs_sites"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("org_admin", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.add_column(sa.Column("disabled_at", sa.DateTime(), nullable=True))
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("actor_token_id", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("actor_user_id", sa.BigInteger(), nullable=True))
        batch_op.create_index(batch_op.f("ix_audit_events_actor_user_id"), ["actor_user_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_audit_events_actor_user_id"))
        batch_op.drop_column("actor_user_id")
        batch_op.drop_column("actor_token_id")
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("disabled_at")
        batch_op.drop_column("org_admin")
