"""champion–challenger: one serving index per arm (the live champion and the training's runner-up),
the challenger's scorer and the scorer live traffic made live on recommender_configs, and the
record of every switch (posai_app.impact.challenger)

Existing indexes become their shop's champion row (`arm` = 'champion', `metric` = the config's);
no shop has a challenger until its next training. Downgrade keeps only the champion rows.

Revision ID: 0010_challenger
Revises: 0009_impact
Create Date: 2026-12-01

"""

import sqlalchemy as sa
from alembic import op

revision = "0010_challenger"
down_revision = "0009_impact"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("serving_indexes", schema=None) as batch_op:
        batch_op.add_column(sa.Column("arm", sa.String(length=16), server_default="champion", nullable=False))
        batch_op.add_column(sa.Column("metric", sa.String(length=64), nullable=True))
        batch_op.drop_constraint("pk_serving_indexes", type_="primary")
        batch_op.create_primary_key("pk_serving_indexes", ["shop_id", "arm"])
    op.execute(
        "UPDATE serving_indexes SET metric = (SELECT c.metric FROM recommender_configs c "
        "WHERE c.shop_id = serving_indexes.shop_id)"
    )
    with op.batch_alter_table("recommender_configs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("challenger_metric", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("challenger_params", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("live_choice", sa.String(length=64), nullable=True))
    op.create_table(
        "challenger_switches",
        sa.Column("shop_id", sa.Integer(), nullable=False),
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("switched_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("automatic", sa.Boolean(), nullable=False),
        sa.Column("from_metric", sa.String(length=64), nullable=False),
        sa.Column("to_metric", sa.String(length=64), nullable=False),
        sa.Column("figures", sa.JSON(), nullable=True),
        sa.ForeignKeyConstraint(
            ["shop_id"], ["shops.id"], name=op.f("fk_challenger_switches_shop_id_shops"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_challenger_switches")),
    )
    with op.batch_alter_table("challenger_switches", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_challenger_switches_shop_id"), ["shop_id"], unique=False)
        batch_op.create_index(
            "ix_challenger_switches_shop_id_switched_at", ["shop_id", "switched_at"], unique=False
        )


def downgrade():
    op.drop_table("challenger_switches")
    with op.batch_alter_table("recommender_configs", schema=None) as batch_op:
        batch_op.drop_column("live_choice")
        batch_op.drop_column("challenger_params")
        batch_op.drop_column("challenger_metric")
    op.execute("DELETE FROM serving_indexes WHERE arm <> 'champion'")
    with op.batch_alter_table("serving_indexes", schema=None) as batch_op:
        batch_op.drop_constraint("pk_serving_indexes", type_="primary")
        batch_op.create_primary_key("pk_serving_indexes", ["shop_id"])
        batch_op.drop_column("metric")
        batch_op.drop_column("arm")
