"""The jti ledger, CDS cards and feedback, and per-rule shown counts.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "jti_seen",
        sa.Column("key", sa.String(64), nullable=False),
        sa.Column("exp", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("key", name="pk_jti_seen"),
    )
    op.create_index("ix_jti_seen_exp", "jti_seen", ["exp"])
    op.create_table(
        "card",
        sa.Column("uuid", sa.String(200), nullable=False),
        sa.Column("rule", sa.String(200), nullable=False),
        sa.PrimaryKeyConstraint("uuid", name="pk_card"),
    )
    op.create_table(
        "feedback",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("service", sa.String(64), nullable=False),
        sa.Column("card", sa.String(200), nullable=False),
        sa.Column("rule", sa.String(200), nullable=True),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("reason", sa.String(64), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_feedback"),
    )
    op.create_index("ix_feedback_at", "feedback", ["at"])
    op.create_index("ix_feedback_card", "feedback", ["card"])
    op.create_table(
        "shown",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("rule", sa.String(200), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("day", "rule", name="pk_shown"),
    )


def downgrade() -> None:
    op.drop_table("shown")
    op.drop_index("ix_feedback_card", "feedback")
    op.drop_index("ix_feedback_at", "feedback")
    op.drop_table("feedback")
    op.drop_table("card")
    op.drop_index("ix_jti_seen_exp", "jti_seen")
    op.drop_table("jti_seen")
