"""The data model. Table and column names are a contract (operators' SQL relies on them).

`shops` is the tenant; every other table is `ShopOwned`, and its primary key and every unique
constraint start with shop_id: the rule a distributed PostgreSQL (Citus) and PostgreSQL's own hash
partitioning both enforce, so the schema distributes on shop_id unchanged (docs/operations.md,
"Partitioning by shop"). Keys are natural (Shopify's ids) where Shopify has one; rows Shopify does
not name (training runs, challenger switches) are numbered per shop (`ShopSequence`). Shopify ids
are stored as their numeric legacy ids (BigInteger); GIDs are converted at the edge.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Mapped, declared_attr, mapped_column

from posai_app.crypto import EncryptedText
from posai_app.extensions import db

TZDateTime = sa.DateTime(timezone=True)
Money = sa.Numeric(14, 2)


class SyncStatus(StrEnum):
    """sync_states.status: the only values ingest writes."""

    IDLE = "idle"  # the row exists, no sync has run yet
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


class RunStatus(StrEnum):
    """evaluation_runs.status: the only values the train job writes."""

    RUNNING = "running"
    SUCCEEDED = "succeeded"
    INSUFFICIENT_DATA = "insufficient_data"
    FAILED = "failed"


class ModelStatus(StrEnum):
    """recommender_configs.status: what the API serves from."""

    UNTRAINED = "untrained"
    TRAINED = "trained"
    INSUFFICIENT_DATA = "insufficient_data"


class ShopOwned:
    """Mixin: a non-null shop_id FK that cascades on delete, the first column of the primary key.

    No index of its own: the primary key's index starts with shop_id and serves every lookup by
    shop and the cascade (migration 0014 dropped the single-column ones, which cost every write
    to the largest tables an index update for nothing)."""

    @declared_attr
    def shop_id(cls) -> Mapped[int]:  # noqa: N805
        return mapped_column(
            sa.ForeignKey("shops.id", ondelete="CASCADE"),
            primary_key=True,
            nullable=False,
            sort_order=-1,  # first column, so every key starts with it
        )


def utcnow() -> datetime:
    return datetime.now(UTC)


def aware(moment: datetime | None) -> datetime | None:
    """SQLite hands timestamps back naive; they were stored as UTC."""
    if moment is not None and moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment


class Shop(db.Model):
    __tablename__ = "shops"
    __signals__ = ("shop",)  # cache_signals: what a change of these rows makes stale

    id: Mapped[int] = mapped_column(primary_key=True)
    domain: Mapped[str] = mapped_column(sa.String(255), unique=True)
    access_token: Mapped[str | None] = mapped_column(EncryptedText)
    access_token_expires_at: Mapped[datetime | None] = mapped_column(TZDateTime)
    refresh_token: Mapped[str | None] = mapped_column(EncryptedText)
    refresh_token_expires_at: Mapped[datetime | None] = mapped_column(TZDateTime)
    scopes: Mapped[str | None] = mapped_column(sa.Text)
    installed_at: Mapped[datetime | None] = mapped_column(TZDateTime)
    uninstalled_at: Mapped[datetime | None] = mapped_column(TZDateTime)
    needs_reauth: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    settings: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(TZDateTime, default=utcnow)

    def __repr__(self) -> str:  # tokens never appear here
        return f"<Shop {self.id} {self.domain}>"

    @property
    def is_installed(self) -> bool:
        return self.installed_at is not None and self.uninstalled_at is None


class ProductVariant(ShopOwned, db.Model):
    __tablename__ = "product_variants"
    __signals__ = ("catalog",)  # cache_signals: what a change of these rows makes stale
    __table_args__ = (
        sa.Index("ix_product_variants_shop_id_inventory_item_id", "shop_id", "inventory_item_id"),
        sa.Index("ix_product_variants_shop_id_product_id", "shop_id", "product_id"),
    )

    variant_id: Mapped[int] = mapped_column(sa.BigInteger, primary_key=True)
    product_id: Mapped[int] = mapped_column(sa.BigInteger)
    inventory_item_id: Mapped[int | None] = mapped_column(sa.BigInteger)
    product_title: Mapped[str] = mapped_column(sa.Text, default="")
    # Product-level fields, stored on each variant like the title: what exclusions by type,
    # vendor and tag match. `tags` is Shopify's list joined with ", " (a tag holds no comma).
    product_type: Mapped[str | None] = mapped_column(sa.Text)
    vendor: Mapped[str | None] = mapped_column(sa.Text)
    tags: Mapped[str | None] = mapped_column(sa.Text)
    variant_title: Mapped[str | None] = mapped_column(sa.Text)
    price: Mapped[Decimal | None] = mapped_column(Money)
    sku: Mapped[str | None] = mapped_column(sa.String(255))
    inventory_quantity: Mapped[int | None] = mapped_column(sa.Integer)
    inventory_tracked: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    # The inventory item's updated_at of the inventory_items webhook that set inventory_tracked:
    # an older delivery of that topic never overwrites a newer one.
    inventory_item_updated_at: Mapped[datetime | None] = mapped_column(TZDateTime)
    inventory_policy: Mapped[str] = mapped_column(sa.String(16), default="deny", server_default="deny")
    status: Mapped[str] = mapped_column(sa.String(16), default="active", server_default="active")
    is_gift_card: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    deleted_at: Mapped[datetime | None] = mapped_column(TZDateTime)
    shopify_updated_at: Mapped[datetime | None] = mapped_column(TZDateTime)


class ShopLocation(ShopOwned, db.Model):
    """A location of the shop that stock has been seen at (inventory levels name it).

    The API treats a POS location it has never seen as unknown, and then applies the shop-wide
    stock rule instead of "nothing available here"."""

    __tablename__ = "shop_locations"
    __signals__ = ("catalog",)  # cache_signals: what a change of these rows makes stale

    shop_id: Mapped[int] = mapped_column(sa.ForeignKey("shops.id", ondelete="CASCADE"), primary_key=True)
    location_id: Mapped[int] = mapped_column(sa.BigInteger, primary_key=True)
    first_seen_at: Mapped[datetime] = mapped_column(TZDateTime, default=utcnow)


class InventoryLevel(ShopOwned, db.Model):
    """One inventory item's available quantity at one location (Shopify's InventoryLevel)."""

    __tablename__ = "inventory_levels"
    __signals__ = ("catalog",)  # cache_signals: what a change of these rows makes stale

    shop_id: Mapped[int] = mapped_column(sa.ForeignKey("shops.id", ondelete="CASCADE"), primary_key=True)
    inventory_item_id: Mapped[int] = mapped_column(sa.BigInteger, primary_key=True)
    location_id: Mapped[int] = mapped_column(sa.BigInteger, primary_key=True)
    available: Mapped[int | None] = mapped_column(sa.Integer)
    shopify_updated_at: Mapped[datetime | None] = mapped_column(TZDateTime)


class ProductPin(ShopOwned, db.Model):
    """A merchant's pairing: with `product_id` in the cart, suggest `pinned_product_id` first.

    `position` orders a product's pins (0 first); `origin` is "merchant" (set on the admin
    page) or "search_discovery" (imported from Shopify Search & Discovery's complementary
    products). Written only by posai_app.shops.settings."""

    __tablename__ = "product_pins"
    __signals__ = ("pins",)  # cache_signals: what a change of these rows makes stale

    shop_id: Mapped[int] = mapped_column(sa.ForeignKey("shops.id", ondelete="CASCADE"), primary_key=True)
    product_id: Mapped[int] = mapped_column(sa.BigInteger, primary_key=True)
    pinned_product_id: Mapped[int] = mapped_column(sa.BigInteger, primary_key=True)
    position: Mapped[int] = mapped_column(sa.Integer, default=0)
    origin: Mapped[str] = mapped_column(sa.String(32), default="merchant")
    created_at: Mapped[datetime] = mapped_column(TZDateTime, default=utcnow)


class OrderLineItem(ShopOwned, db.Model):
    """One line item of an order, as the order's newest applied version has it.

    Its shop_id has no foreign key (migration 0016): the writers lock the shop's row once per
    batch instead of PostgreSQL checking it once per row (ingest.upserts.hold_shop), and deleting
    a shop deletes its line items explicitly (shops.lifecycle.delete_shop_data).
    """

    __tablename__ = "order_line_items"
    __table_args__ = (
        sa.Index("ix_order_line_items_shop_id_order_id", "shop_id", "order_id"),
        sa.Index("ix_order_line_items_shop_id_created_at", "shop_id", "created_at"),
    )

    shop_id: Mapped[int] = mapped_column(primary_key=True, nullable=False, sort_order=-1)

    line_item_id: Mapped[int] = mapped_column(sa.BigInteger, primary_key=True)
    order_id: Mapped[int] = mapped_column(sa.BigInteger)
    order_number: Mapped[int | None] = mapped_column(sa.BigInteger)
    order_name: Mapped[str | None] = mapped_column(sa.String(64))
    created_at: Mapped[datetime] = mapped_column(TZDateTime)
    currency: Mapped[str | None] = mapped_column(sa.String(8))
    product_id: Mapped[int | None] = mapped_column(sa.BigInteger)
    variant_id: Mapped[int | None] = mapped_column(sa.BigInteger)
    title: Mapped[str] = mapped_column(sa.Text, default="")
    quantity: Mapped[int] = mapped_column(sa.Integer, default=1)
    price: Mapped[Decimal | None] = mapped_column(Money)
    sku: Mapped[str | None] = mapped_column(sa.String(255))
    is_custom_sale: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    cancelled_at: Mapped[datetime | None] = mapped_column(TZDateTime)
    shopify_updated_at: Mapped[datetime | None] = mapped_column(TZDateTime)


class VariantNeighbor(ShopOwned, db.Model):
    """The most co-purchased pairs of the serving index, for people (the admin page's "bought
    together"); the index itself is `serving_indexes` (posai_app.serving.store)."""

    __tablename__ = "variant_neighbors"
    __signals__ = ("model",)  # cache_signals: what a change of these rows makes stale

    shop_id: Mapped[int] = mapped_column(sa.ForeignKey("shops.id", ondelete="CASCADE"), primary_key=True)
    source_variant_id: Mapped[int] = mapped_column(sa.BigInteger, primary_key=True)
    target_variant_id: Mapped[int] = mapped_column(sa.BigInteger, primary_key=True)
    co_count: Mapped[int] = mapped_column(sa.Integer)
    score: Mapped[float] = mapped_column(sa.Float)


class ServingIndexBlob(ShopOwned, db.Model):
    """Each shop's serving indexes as compact, versioned objects (posai_app.serving.packed), one per
    arm (the live champion, and the challenger when training found a runner-up), written and read
    only by posai_app.serving.store."""

    __tablename__ = "serving_indexes"
    __signals__ = ("model",)  # cache_signals: what a change of these rows makes stale

    shop_id: Mapped[int] = mapped_column(sa.ForeignKey("shops.id", ondelete="CASCADE"), primary_key=True)
    arm: Mapped[str] = mapped_column(
        sa.String(16), primary_key=True, default="champion", server_default="champion"
    )
    metric: Mapped[str | None] = mapped_column(sa.String(64))  # the scorer this index was built from
    format: Mapped[int] = mapped_column(sa.Integer)
    variants: Mapped[int] = mapped_column(sa.Integer)  # variants in the index
    neighbors: Mapped[int] = mapped_column(sa.BigInteger)  # neighbour entries in the index
    payload: Mapped[bytes] = mapped_column(sa.LargeBinary)
    published_at: Mapped[datetime] = mapped_column(TZDateTime, default=utcnow)


class RecommenderConfig(ShopOwned, db.Model):
    __tablename__ = "recommender_configs"
    __signals__ = ("model",)  # cache_signals: what a change of these rows makes stale

    metric: Mapped[str | None] = mapped_column(sa.String(64))
    params: Mapped[dict[str, Any] | None] = mapped_column(sa.JSON)
    k: Mapped[int] = mapped_column(sa.Integer, default=2)
    trained_at: Mapped[datetime | None] = mapped_column(TZDateTime)
    model_version: Mapped[int] = mapped_column(sa.Integer, default=0)
    train_orders: Mapped[int | None] = mapped_column(sa.Integer)
    status: Mapped[str] = mapped_column(sa.String(32), default=ModelStatus.UNTRAINED.value)
    status_message: Mapped[str | None] = mapped_column(sa.Text)
    # Champion–challenger (posai_app.impact.challenger): the runner-up that answers the challenger
    # share, and the scorer live traffic made live (training keeps it live while it is one of the
    # run's two best; see docs/impact.md).
    challenger_metric: Mapped[str | None] = mapped_column(sa.String(64))
    challenger_params: Mapped[dict[str, Any] | None] = mapped_column(sa.JSON)
    live_choice: Mapped[str | None] = mapped_column(sa.String(64))


class EvaluationRun(ShopOwned, db.Model):
    __tablename__ = "evaluation_runs"
    __table_args__ = (sa.Index("ix_evaluation_runs_shop_id_started_at", "shop_id", "started_at"),)

    # The run's number within its shop (1, 2, …), given on insert by ShopSequence.
    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=False)
    started_at: Mapped[datetime] = mapped_column(TZDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(TZDateTime)
    status: Mapped[str] = mapped_column(sa.String(32), default="running")
    trigger: Mapped[str | None] = mapped_column(sa.String(32))
    error: Mapped[str | None] = mapped_column(sa.Text)
    progress: Mapped[dict[str, Any] | None] = mapped_column(sa.JSON)
    k: Mapped[int] = mapped_column(sa.Integer, default=2)
    train_orders: Mapped[int | None] = mapped_column(sa.Integer)
    evaluated_orders: Mapped[int | None] = mapped_column(sa.Integer)
    results: Mapped[dict[str, Any] | None] = mapped_column(sa.JSON)
    chosen_metric: Mapped[str | None] = mapped_column(sa.String(64))
    duration_seconds: Mapped[float | None] = mapped_column(sa.Float)
    # Written every few seconds by the job while it runs: a run whose heartbeat stopped died with
    # its worker (training.services.DEAD_AFTER).
    heartbeat_at: Mapped[datetime | None] = mapped_column(TZDateTime)


class WebhookDelivery(ShopOwned, db.Model):
    __tablename__ = "webhook_deliveries"

    webhook_id: Mapped[str] = mapped_column(sa.String(255), primary_key=True)
    topic: Mapped[str] = mapped_column(sa.String(128))
    received_at: Mapped[datetime] = mapped_column(TZDateTime, default=utcnow)
    processed_at: Mapped[datetime | None] = mapped_column(TZDateTime)
    status: Mapped[str] = mapped_column(sa.String(32), default="received")
    error: Mapped[str | None] = mapped_column(sa.Text)


class SyncState(ShopOwned, db.Model):
    __tablename__ = "sync_states"

    resource: Mapped[str] = mapped_column(sa.String(32), primary_key=True)  # "products" | "orders"
    status: Mapped[str] = mapped_column(sa.String(32), default="idle")
    phase: Mapped[str | None] = mapped_column(sa.String(64))
    cursor: Mapped[str | None] = mapped_column(sa.Text)
    bulk_operation_id: Mapped[str | None] = mapped_column(sa.String(255))
    processed_count: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    total_count: Mapped[int | None] = mapped_column(sa.BigInteger)
    oldest_record_at: Mapped[datetime | None] = mapped_column(TZDateTime)
    all_history: Mapped[bool | None] = mapped_column(sa.Boolean)
    last_synced_at: Mapped[datetime | None] = mapped_column(TZDateTime)
    last_error: Mapped[str | None] = mapped_column(sa.Text)
    started_at: Mapped[datetime | None] = mapped_column(TZDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(TZDateTime)
    updated_at: Mapped[datetime | None] = mapped_column(TZDateTime, default=utcnow, onupdate=utcnow)


class VariantStat(ShopOwned, db.Model):
    """Per-variant order counts from the last training: tie-breaks and the bestseller fallback."""

    __tablename__ = "variant_stats"
    __signals__ = ("model",)  # cache_signals: what a change of these rows makes stale

    shop_id: Mapped[int] = mapped_column(sa.ForeignKey("shops.id", ondelete="CASCADE"), primary_key=True)
    variant_id: Mapped[int] = mapped_column(sa.BigInteger, primary_key=True)
    order_count: Mapped[int] = mapped_column(sa.Integer)
    # Orders in the 90 days ending at the shop's latest order (its "recent bestsellers").
    recent_order_count: Mapped[int] = mapped_column(sa.Integer, default=0)


class OrderVersion(ShopOwned, db.Model):
    """The newest Shopify version of each order applied, kept even when the order has no line
    items left (all edited out or refunded): a late, older payload (say an orders/create
    redelivered after orders/updated emptied the order) must not bring the old items back."""

    __tablename__ = "order_versions"

    shop_id: Mapped[int] = mapped_column(sa.ForeignKey("shops.id", ondelete="CASCADE"), primary_key=True)
    order_id: Mapped[int] = mapped_column(sa.BigInteger, primary_key=True)
    shopify_updated_at: Mapped[datetime | None] = mapped_column(TZDateTime)


class BulkOrderHeader(ShopOwned, db.Model):
    """The orders of the bulk file an initial sync is reading, while it reads it (PostgreSQL).

    A bulk file lists each order before its line items, which may come anywhere after it (Admin
    API 2026-01 and later do not group them). `posai_app.ingest.bulk_orders` writes line items as
    the file streams in, each joined here to its order's columns and version; the rows are
    removed when the file is done, so the table is empty between syncs.
    """

    __tablename__ = "bulk_order_headers"

    shop_id: Mapped[int] = mapped_column(sa.ForeignKey("shops.id", ondelete="CASCADE"), primary_key=True)
    order_id: Mapped[int] = mapped_column(sa.BigInteger, primary_key=True)
    order_number: Mapped[int | None] = mapped_column(sa.BigInteger)
    order_name: Mapped[str | None] = mapped_column(sa.String(64))
    created_at: Mapped[datetime] = mapped_column(TZDateTime)
    currency: Mapped[str | None] = mapped_column(sa.String(8))
    cancelled_at: Mapped[datetime | None] = mapped_column(TZDateTime)
    shopify_updated_at: Mapped[datetime | None] = mapped_column(TZDateTime)
    is_new: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    tagged: Mapped[bool] = mapped_column(default=False, server_default=sa.false())


class ShopifyTombstone(ShopOwned, db.Model):
    """A Shopify order or product deleted (or redacted): late webhooks and syncs must not resurrect it."""

    __tablename__ = "shopify_tombstones"

    resource: Mapped[str] = mapped_column(sa.String(16), primary_key=True)  # "order" | "product"
    resource_id: Mapped[int] = mapped_column(sa.BigInteger, primary_key=True)
    reason: Mapped[str] = mapped_column(sa.String(32))  # "deleted" | "redacted"
    deleted_at: Mapped[datetime] = mapped_column(TZDateTime, default=utcnow)


class ShopSequence(ShopOwned, db.Model):
    """Per-shop counters: the numbers of rows Shopify does not name (training runs, challenger
    switches), so their keys are (shop_id, number) and no sequence is shared between shops."""

    __tablename__ = "shop_sequences"

    name: Mapped[str] = mapped_column(sa.String(64), primary_key=True)  # the numbered table
    value: Mapped[int] = mapped_column(sa.Integer)  # the last number given


def next_in_shop(connection: sa.Connection, shop_id: int, name: str) -> int:
    """The shop's next number for `name`: one atomic upsert (a row lock on PostgreSQL, the write
    lock on SQLite), so concurrent inserts for one shop never get the same number."""
    table = ShopSequence.__table__
    dialect = postgresql if connection.dialect.name == "postgresql" else sqlite
    stmt = dialect.insert(table).values(shop_id=shop_id, name=name, value=1)
    stmt = stmt.on_conflict_do_update(
        index_elements=["shop_id", "name"], set_={"value": table.c.value + 1}
    ).returning(table.c.value)
    return connection.execute(stmt).scalar_one()


def _numbered_in_shop(model: type) -> None:
    @sa.event.listens_for(model, "before_insert")
    def _give_number(mapper, connection, target) -> None:
        if target.id is None:
            target.id = next_in_shop(connection, target.shop_id, model.__tablename__)


# ---- measured impact (posai_app.impact): what the POS showed and added, and what orders paid.
# Keys start with shop_id; no customer data (staff and location ids only).


def _shop_key() -> Mapped[int]:
    return mapped_column(sa.ForeignKey("shops.id", ondelete="CASCADE"), primary_key=True)


class ImpactShown(ShopOwned, db.Model):
    """One recommendation the POS showed (the first `shown` event for its id)."""

    __tablename__ = "impact_shown"
    __table_args__ = (
        sa.UniqueConstraint("shop_id", "event_id"),
        sa.Index("ix_impact_shown_shop_id_shown_at", "shop_id", "shown_at"),
    )

    shop_id: Mapped[int] = _shop_key()
    recommendation_id: Mapped[str] = mapped_column(sa.String(400), primary_key=True)
    event_id: Mapped[str] = mapped_column(sa.String(64))
    metric: Mapped[str] = mapped_column(sa.String(64))
    model_version: Mapped[int] = mapped_column(sa.Integer)
    arm: Mapped[str] = mapped_column(sa.String(16), default="champion")
    issued_at: Mapped[datetime] = mapped_column(TZDateTime)
    shown_at: Mapped[datetime] = mapped_column(TZDateTime)
    location_id: Mapped[int | None] = mapped_column(sa.BigInteger)
    staff_member_id: Mapped[int | None] = mapped_column(sa.BigInteger)
    variant_ids: Mapped[list[str]] = mapped_column(sa.JSON)  # the items displayed, in order
    # Those of them that were the merchant's pins (the id says so; [] for ids minted before pins).
    pinned_variant_ids: Mapped[list[str]] = mapped_column(sa.JSON, default=list, server_default="[]")


class ImpactAdded(ShopOwned, db.Model):
    """One suggested variant the cashier added to the cart (once per recommendation and variant)."""

    __tablename__ = "impact_added"
    __table_args__ = (
        sa.UniqueConstraint("shop_id", "event_id"),
        sa.Index("ix_impact_added_shop_id_added_at", "shop_id", "added_at"),
    )

    shop_id: Mapped[int] = _shop_key()
    recommendation_id: Mapped[str] = mapped_column(sa.String(400), primary_key=True)
    variant_id: Mapped[int] = mapped_column(sa.BigInteger, primary_key=True)
    event_id: Mapped[str] = mapped_column(sa.String(64))
    metric: Mapped[str] = mapped_column(sa.String(64))
    model_version: Mapped[int] = mapped_column(sa.Integer)
    arm: Mapped[str] = mapped_column(sa.String(16), default="champion")
    added_at: Mapped[datetime] = mapped_column(TZDateTime)
    location_id: Mapped[int | None] = mapped_column(sa.BigInteger)
    staff_member_id: Mapped[int | None] = mapped_column(sa.BigInteger)


class ImpactLine(ShopOwned, db.Model):
    """An order line tagged `_posai`: an attributed upsell, its revenue net of discounts, refunds
    and cancellation, as of the newest version of its order (redeliveries change nothing)."""

    __tablename__ = "impact_lines"
    __table_args__ = (
        sa.Index("ix_impact_lines_shop_id_created_at", "shop_id", "created_at"),
        sa.Index("ix_impact_lines_shop_id_order_id", "shop_id", "order_id"),
    )

    shop_id: Mapped[int] = _shop_key()
    line_item_id: Mapped[int] = mapped_column(sa.BigInteger, primary_key=True)
    order_id: Mapped[int] = mapped_column(sa.BigInteger)
    order_name: Mapped[str | None] = mapped_column(sa.String(64))
    created_at: Mapped[datetime] = mapped_column(TZDateTime)
    recommendation_id: Mapped[str] = mapped_column(sa.String(400))
    metric: Mapped[str] = mapped_column(sa.String(64))
    model_version: Mapped[int] = mapped_column(sa.Integer)
    arm: Mapped[str] = mapped_column(sa.String(16), default="champion")
    variant_id: Mapped[int | None] = mapped_column(sa.BigInteger)
    title: Mapped[str] = mapped_column(sa.Text, default="")
    location_id: Mapped[int | None] = mapped_column(sa.BigInteger)
    staff_member_id: Mapped[int | None] = mapped_column(sa.BigInteger)
    source_name: Mapped[str | None] = mapped_column(sa.String(64))
    currency: Mapped[str | None] = mapped_column(sa.String(8))
    quantity: Mapped[int] = mapped_column(sa.Integer)  # units ordered
    current_quantity: Mapped[int] = mapped_column(sa.Integer)  # units kept (refunds, edits removed)
    unit_price: Mapped[Decimal | None] = mapped_column(Money)
    discount: Mapped[Decimal] = mapped_column(Money, default=Decimal("0"))  # on all units ordered
    revenue: Mapped[Decimal] = mapped_column(Money, default=Decimal("0"))  # 0 once cancelled
    cancelled_at: Mapped[datetime | None] = mapped_column(TZDateTime)
    shopify_updated_at: Mapped[datetime | None] = mapped_column(TZDateTime)


class ImpactOrder(ShopOwned, db.Model):
    """A shown recommendation whose cart became an order (the order's `_posai_shown` cart
    property names it), and whether the order holds one of its shown items: live HitRate@K."""

    __tablename__ = "impact_orders"
    __table_args__ = (sa.Index("ix_impact_orders_shop_id_created_at", "shop_id", "created_at"),)

    shop_id: Mapped[int] = _shop_key()
    order_id: Mapped[int] = mapped_column(sa.BigInteger, primary_key=True)
    recommendation_id: Mapped[str] = mapped_column(sa.String(400), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(TZDateTime)
    metric: Mapped[str] = mapped_column(sa.String(64))
    arm: Mapped[str] = mapped_column(sa.String(16), default="champion")
    hit: Mapped[bool] = mapped_column(default=False)
    cancelled: Mapped[bool] = mapped_column(default=False)
    shopify_updated_at: Mapped[datetime | None] = mapped_column(TZDateTime)


class ImpactDrop(ShopOwned, db.Model):
    """Events the API refused or found already counted, per day and reason (counted, never applied)."""

    __tablename__ = "impact_drops"

    shop_id: Mapped[int] = _shop_key()
    day: Mapped[date] = mapped_column(sa.Date, primary_key=True)
    reason: Mapped[str] = mapped_column(sa.String(32), primary_key=True)
    count: Mapped[int] = mapped_column(sa.BigInteger, default=0)


class ChallengerSwitch(ShopOwned, db.Model):
    """One "make the challenger live" (by the merchant or automatically): what was swapped, when,
    and the figures it was decided on."""

    __tablename__ = "challenger_switches"
    __table_args__ = (sa.Index("ix_challenger_switches_shop_id_switched_at", "shop_id", "switched_at"),)

    # The switch's number within its shop, given on insert by ShopSequence.
    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=False)
    switched_at: Mapped[datetime] = mapped_column(TZDateTime, default=utcnow)
    automatic: Mapped[bool] = mapped_column(default=False)
    from_metric: Mapped[str] = mapped_column(sa.String(64))  # the champion before (now the challenger)
    to_metric: Mapped[str] = mapped_column(sa.String(64))  # the challenger before (now live)
    figures: Mapped[dict[str, Any] | None] = mapped_column(sa.JSON)


_numbered_in_shop(EvaluationRun)
_numbered_in_shop(ChallengerSwitch)


def shop_owned_models() -> list[type]:
    """Every mapped model that carries shop_id, children first (safe delete order)."""
    owned = [m.class_ for m in db.Model.registry.mappers if issubclass(m.class_, ShopOwned)]
    return sorted(owned, key=lambda m: m.__tablename__)
