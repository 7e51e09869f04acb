"""The other rules a CDS card stands for (a merged finding's `evidence.merged`), so feedback on
the card is counted for each. A table of its own, so a server still running the previous release
during a rolling upgrade keeps writing `card` as before.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "card_merged",
        sa.Column("uuid", sa.String(200), nullable=False),
        sa.Column("rule", sa.String(200), nullable=False),
        sa.PrimaryKeyConstraint("uuid", "rule", name="pk_card_merged"),
    )


def downgrade() -> None:
    op.drop_table("card_merged")
