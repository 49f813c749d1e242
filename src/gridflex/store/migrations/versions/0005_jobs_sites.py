"""uploaded documents (sites) and jobs on them: jobs.upload_id and jobs.params

Revision ID: 0005_jobs_sites
Revises: 0004_svc_lifecycle (the lead re-chains it after 0004 at merge)
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_jobs_sites"
down_revision = "0004_svc_lifecycle"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "uploads",
        sa.Column("id", Id, nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("org_id", Id, nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("body", sa.JSON(), nullable=False),
        sa.Column("summary", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id"], ["organisations.id"], name=op.f("fk_uploads_org_id_organisations"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_uploads")),
    )  # fmt: skip
    op.create_index(op.f("ix_uploads_kind"), "uploads", ["kind"])
    op.create_index(op.f("ix_uploads_org_id"), "uploads", ["org_id"])
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("upload_id", Id, nullable=True))
        batch_op.add_column(sa.Column("params", sa.JSON(), nullable=False, server_default="{}"))
        batch_op.create_foreign_key(
            batch_op.f("fk_jobs_upload_id_uploads"), "uploads", ["upload_id"], ["id"], ondelete="CASCADE"
        )
        batch_op.create_index(batch_op.f("ix_jobs_upload_id"), ["upload_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_jobs_upload_id"))
        batch_op.drop_constraint(batch_op.f("fk_jobs_upload_id_uploads"), type_="foreignkey")
        batch_op.drop_column("params")
        batch_op.drop_column("upload_id")
    op.drop_index(op.f("ix_uploads_org_id"), table_name="uploads")
    op.drop_index(op.f("ix_uploads_kind"), table_name="uploads")
    op.drop_table("uploads")
