"""add serving_indexes (each shop's serving index as one compact object), filled from the rows

Every shop's neighbour rows and stats become one `serving_indexes` row (format 1 of
posai_app.serving.packed: the same index and bestseller pool the rows gave). The rows stay, so
the previous release keeps serving during a rolling deploy; from this release on, each publish
keeps only a shop's most co-purchased pairs there (posai_app.serving.store.PAIR_ROWS, what the
admin page shows), so the nightly retrain trims every shop within a day. Downgrade writes every
neighbour row back from the objects (shops published since then have only their top pairs).

Revision ID: 0006_serving_indexes
Revises: 0005_run_heartbeat
Create Date: 2026-12-01

"""

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = "0006_serving_indexes"
down_revision = "0005_run_heartbeat"
branch_labels = None
depends_on = None

BATCH = 5_000

neighbors = sa.table(
    "variant_neighbors",
    sa.column("shop_id", sa.Integer),
    sa.column("source_variant_id", sa.BigInteger),
    sa.column("target_variant_id", sa.BigInteger),
    sa.column("co_count", sa.Integer),
    sa.column("score", sa.Float),
)
stats = sa.table(
    "variant_stats",
    sa.column("shop_id", sa.Integer),
    sa.column("variant_id", sa.BigInteger),
    sa.column("order_count", sa.Integer),
    sa.column("recent_order_count", sa.Integer),
)
indexes = sa.table(
    "serving_indexes",
    sa.column("shop_id", sa.Integer),
    sa.column("format", sa.Integer),
    sa.column("variants", sa.Integer),
    sa.column("neighbors", sa.BigInteger),
    sa.column("payload", sa.LargeBinary),
    sa.column("published_at", sa.DateTime(timezone=True)),
)


def upgrade():
    op.create_table(
        "serving_indexes",
        sa.Column("shop_id", sa.Integer(), nullable=False),
        sa.Column("format", sa.Integer(), nullable=False),
        sa.Column("variants", sa.Integer(), nullable=False),
        sa.Column("neighbors", sa.BigInteger(), nullable=False),
        sa.Column("payload", sa.LargeBinary(), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["shop_id"], ["shops.id"], name=op.f("fk_serving_indexes_shop_id_shops"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("shop_id", name=op.f("pk_serving_indexes")),
    )
    with op.batch_alter_table("serving_indexes", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_serving_indexes_shop_id"), ["shop_id"], unique=False)
    if op.get_bind().dialect.name == "postgresql":
        # The payload is compressed already: TOAST stores it out of line without trying again.
        op.execute("ALTER TABLE serving_indexes ALTER COLUMN payload SET STORAGE EXTERNAL")

    from posai_app.reco import NeighborIndex
    from posai_app.reco.serving import rank_bestsellers
    from posai_app.serving import packed

    conn = op.get_bind()
    shop_ids = sorted(
        set(conn.scalars(sa.select(neighbors.c.shop_id).distinct()))
        | set(conn.scalars(sa.select(stats.c.shop_id).distinct()))
    )
    for shop_id in shop_ids:
        # What the request path built from these rows before (posai_app.serving.store.load at 0005).
        shop_stats = conn.execute(
            sa.select(stats.c.variant_id, stats.c.order_count, stats.c.recent_order_count).where(
                stats.c.shop_id == shop_id
            )
        ).all()
        rows = conn.execute(
            sa.select(
                neighbors.c.source_variant_id,
                neighbors.c.target_variant_id,
                neighbors.c.co_count,
                neighbors.c.score,
            ).where(neighbors.c.shop_id == shop_id)
        ).all()
        counts = {str(v): int(c) for v, c, _ in shop_stats}
        index = (
            NeighborIndex.from_rows(((str(a), str(b), co, s) for a, b, co, s in rows), counts)
            if rows
            else None
        )
        conn.execute(
            sa.insert(indexes).values(
                shop_id=shop_id,
                format=packed.FORMAT,
                variants=len(index) if index is not None else 0,
                neighbors=len(rows),
                payload=packed.pack(index, rank_bestsellers(shop_stats)),
                published_at=datetime.now(UTC),
            )
        )


def downgrade():
    from posai_app.serving import packed

    conn = op.get_bind()
    for shop_id, payload in conn.execute(sa.select(indexes.c.shop_id, indexes.c.payload)).all():
        index, _ = packed.unpack(payload)
        conn.execute(sa.delete(neighbors).where(neighbors.c.shop_id == shop_id))
        if index is None:
            continue
        batch = []
        for a, b, co, score in index.to_rows():
            batch.append(
                {
                    "shop_id": shop_id,
                    "source_variant_id": int(a),
                    "target_variant_id": int(b),
                    "co_count": int(co),
                    "score": float(score),
                }
            )
            if len(batch) >= BATCH:
                conn.execute(sa.insert(neighbors), batch)
                batch = []
        if batch:
            conn.execute(sa.insert(neighbors), batch)
    with op.batch_alter_table("serving_indexes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_serving_indexes_shop_id"))
    op.drop_table("serving_indexes")
