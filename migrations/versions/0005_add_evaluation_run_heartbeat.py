"""add evaluation_runs.heartbeat_at (a dead training run is known within a minute, not two hours)

Revision ID: 0005_run_heartbeat
Revises: 0004_order_versions
Create Date: 2026-12-01

"""

import sqlalchemy as sa
from alembic import op

revision = "0005_run_heartbeat"
down_revision = "0004_order_versions"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("evaluation_runs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=True))


def downgrade():
    with op.batch_alter_table("evaluation_runs", schema=None) as batch_op:
        batch_op.drop_column("heartbeat_at")
