"""impact_shown.pinned_variant_ids: which of a shown recommendation's items were the merchant's
pins (from its recommendationId, version 2), for the Impact section's Pins line

Rows recorded before it hold `[]`: their ids (version 1) did not say, and are counted as model
suggestions. Downgrade drops the column.

Revision ID: 0011_pinned_shown
Revises: 0010_challenger
Create Date: 2026-12-01

"""

import sqlalchemy as sa
from alembic import op

revision = "0011_pinned_shown"
down_revision = "0010_challenger"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("impact_shown", schema=None) as batch_op:
        batch_op.add_column(sa.Column("pinned_variant_ids", sa.JSON(), server_default="[]", nullable=False))


def downgrade():
    with op.batch_alter_table("impact_shown", schema=None) as batch_op:
        batch_op.drop_column("pinned_variant_ids")
