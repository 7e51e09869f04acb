"""Outcomes recorded on the pages: a finding acted on, or overridden for a coded reason.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "outcome",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("rule", sa.String(200), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("reason", sa.String(64), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_outcome"),
    )
    op.create_index("ix_outcome_at", "outcome", ["at"])
    op.create_index("ix_outcome_rule", "outcome", ["rule"])


def downgrade() -> None:
    op.drop_index("ix_outcome_rule", "outcome")
    op.drop_index("ix_outcome_at", "outcome")
    op.drop_table("outcome")
