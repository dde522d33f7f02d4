"""Product and inventory webhooks keep stock right: tracking comes from InventoryItem.tracked,
and a field a payload leaves out never overwrites what a sync stored."""

from __future__ import annotations

from decimal import Decimal

import pytest
import sqlalchemy as sa

from posai_app.extensions import db
from posai_app.ingest import parse
from posai_app.ingest.products import upsert_products
from posai_app.models import ProductVariant, RecommenderConfig, Shop, WebhookDelivery
from tests.helpers import TEST_API_SECRET
from tests.serving.seed import seed_index
from tests.webhooks import examples

CUP, SAUCER, SPOON = 5001, 5002, 5003  # variant ids
CUP_PRODUCT, SET_PRODUCT = 6001, 6002  # the saucer and spoon are one product's two variants
SAUCER_ITEM, SPOON_ITEM = 7002, 7003  # their inventory items
SYNCED_AT = "2030-01-01T00:00:00Z"
LATER = "2030-01-02T00:00:00Z"


def post(client, fake, topic, shop_domain, payload, *, shape_checked=True):
    """Deliver a signed webhook (with Shopify's example's fields unless the test removes some)."""
    if shape_checked:
        examples.check_shape(topic, payload)
    body, headers = fake.webhook(topic, shop_domain, payload, TEST_API_SECRET)
    return client.post("/webhooks", data=body, headers=headers)


def _variant_node(variant_id: int, item_id: int, *, quantity: int, sku: str, price: str) -> dict:
    return {
        "id": examples.gid("ProductVariant", variant_id),
        "title": f"Variant {variant_id}",
        "price": price,
        "sku": sku,
        "inventoryQuantity": quantity,
        "inventoryPolicy": "DENY",
        "updatedAt": SYNCED_AT,
        "inventoryItem": {"id": examples.gid("InventoryItem", item_id), "tracked": True},
    }


def _product_node(product_id: int, title: str) -> dict:
    return {
        "id": examples.gid("Product", product_id),
        "title": title,
        "status": "ACTIVE",
        "isGiftCard": False,
        "updatedAt": SYNCED_AT,
    }


def sync_catalog(shop_id: int) -> None:
    """What a sync (GraphQL, with inventoryItem.tracked) stores, plus a trained index cup -> saucer."""
    cup = [_variant_node(CUP, 7001, quantity=5, sku="CUP", price="6.00")]
    pieces = [
        _variant_node(SAUCER, SAUCER_ITEM, quantity=4, sku="SAUCER", price="3.00"),
        _variant_node(SPOON, SPOON_ITEM, quantity=9, sku="SPOON", price="1.50"),
    ]
    upsert_products(
        shop_id,
        [
            parse.product_from_graphql(_product_node(CUP_PRODUCT, "Cup"), cup),
            parse.product_from_graphql(_product_node(SET_PRODUCT, "Saucer set"), pieces),
        ],
    )
    seed_index(shop_id, [(CUP, SAUCER, 3, 2.0), (CUP, SPOON, 3, 1.0)])
    db.session.add(RecommenderConfig(shop_id=shop_id, metric="cosine", model_version=1, status="trained"))
    db.session.get(Shop, shop_id).settings = {"bestseller_fallback": False}
    db.session.commit()


@pytest.fixture
def synced(app, shop):
    with app.app_context():
        sync_catalog(shop.id)
    return shop


def stored(app, variant_id: int) -> ProductVariant:
    with app.app_context():
        row = db.session.scalar(sa.select(ProductVariant).where(ProductVariant.variant_id == variant_id))
        db.session.expunge(row)
        return row


def recommended(client, headers) -> list[str]:
    response = client.post(
        "/api/recommendations", json={"cartVariantIds": [CUP], "limit": 3}, headers=headers
    )
    assert response.status_code == 200, response.get_data(as_text=True)
    return [r["variantId"] for r in response.json["recommendations"]]


def set_update(*, saucer_quantity: int, **product) -> dict:
    """Shopify's products/update example for the saucer set, the saucer's stock as given."""
    variants = [
        {
            "id": SAUCER,
            "inventory_item_id": SAUCER_ITEM,
            "inventory_quantity": saucer_quantity,
            "updated_at": LATER,
        },
        {"id": SPOON, "inventory_item_id": SPOON_ITEM, "inventory_quantity": 9, "updated_at": LATER},
    ]
    for variant, sku in zip(variants, ("SAUCER", "SPOON"), strict=True):
        variant.update(sku=sku, price="3.00", inventory_policy="deny")
    return examples.product("products/update", SET_PRODUCT, variants, updated_at=LATER, **product)


def test_a_sold_out_deny_variant_is_not_offered_after_a_product_webhook(
    app, client, fake, synced, auth_headers, run_jobs
):
    headers = auth_headers(synced)
    assert recommended(client, headers)[0] == str(SAUCER)
    response = post(client, fake, "products/update", synced.domain, set_update(saucer_quantity=0))
    assert response.status_code == 200
    run_jobs()
    saucer = stored(app, SAUCER)
    assert (saucer.inventory_quantity, saucer.inventory_policy, saucer.inventory_tracked) == (0, "deny", True)
    assert str(SAUCER) not in recommended(client, headers)


def test_fields_missing_from_a_product_payload_keep_the_stored_values(app, client, fake, synced, run_jobs):
    payload = set_update(saucer_quantity=4)
    for field in ("title", "status"):
        del payload[field]
    saucer = payload["variants"][0]
    for field in ("sku", "price", "inventory_item_id", "inventory_quantity", "inventory_policy", "title"):
        del saucer[field]
    payload["variants"][1]["inventory_item_id"] = None  # the examples send null: no variant lacks an item
    payload["variants"][1]["price"] = "1.75"
    post(client, fake, "products/update", synced.domain, payload, shape_checked=False)
    run_jobs()
    saucer, spoon = stored(app, SAUCER), stored(app, SPOON)
    assert (saucer.sku, saucer.price, saucer.inventory_item_id) == ("SAUCER", Decimal("3.00"), SAUCER_ITEM)
    assert (saucer.inventory_quantity, saucer.inventory_policy, saucer.variant_title) == (
        4,
        "deny",
        "Variant 5002",
    )
    assert (saucer.product_title, saucer.status, saucer.inventory_tracked) == ("Saucer set", "active", True)
    assert (spoon.inventory_item_id, spoon.price) == (SPOON_ITEM, Decimal("1.75"))
    assert saucer.shopify_updated_at > stored(app, CUP).shopify_updated_at  # the payload was applied


def test_inventory_items_update_switches_tracking(app, client, fake, synced, auth_headers, run_jobs):
    headers = auth_headers(synced)
    post(client, fake, "products/update", synced.domain, set_update(saucer_quantity=0))
    run_jobs()
    assert str(SAUCER) not in recommended(client, headers)
    untracked = examples.inventory_item(SAUCER_ITEM, tracked=False, updated_at=LATER)
    assert post(client, fake, "inventory_items/update", synced.domain, untracked).status_code == 200
    run_jobs()
    assert stored(app, SAUCER).inventory_tracked is False and stored(app, SPOON).inventory_tracked is True
    assert recommended(client, headers)[0] == str(SAUCER)  # not tracked: sellable at any stock
    post(
        client,
        fake,
        "inventory_items/update",
        synced.domain,
        examples.inventory_item(SAUCER_ITEM, tracked=True, updated_at="2030-01-03T00:00:00Z"),
    )
    run_jobs()
    assert stored(app, SAUCER).inventory_tracked is True
    assert str(SAUCER) not in recommended(client, headers)


def test_a_late_older_inventory_item_webhook_changes_nothing(app, client, fake, synced, run_jobs):
    """Found by tests/webhooks/test_convergence.py: `tracked` was written by whichever
    inventory_items delivery came last, so a delayed older one undid a newer one."""
    newer = examples.inventory_item(SAUCER_ITEM, tracked=False, updated_at="2030-01-03T00:00:00Z")
    older = examples.inventory_item(SAUCER_ITEM, tracked=True, updated_at=LATER)
    assert post(client, fake, "inventory_items/update", synced.domain, newer).status_code == 200
    assert post(client, fake, "inventory_items/update", synced.domain, older).status_code == 200
    run_jobs()
    assert stored(app, SAUCER).inventory_tracked is False
    with app.app_context():
        statuses = db.session.scalars(sa.select(WebhookDelivery.status)).all()
    assert statuses == ["processed", "processed"]  # the older one is applied as a no-op, not retried


@pytest.mark.parametrize("topic", ["inventory_items/create", "inventory_items/update"])
def test_an_inventory_item_webhook_before_its_product_is_retried_until_the_product_is_stored(
    topic, app, client, fake, shop, run_jobs, requires_redis
):
    from rq import Queue
    from rq.job import Job
    from rq.registry import ScheduledJobRegistry

    from posai_app.queue import get_redis

    item = examples.inventory_item(SAUCER_ITEM, tracked=True, topic=topic)
    assert post(client, fake, topic, shop.domain, item).json["status"] == "queued"
    run_jobs()
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(ProductVariant)) == 0
        assert db.session.scalar(sa.select(WebhookDelivery.status)) == "failed"
        queue = Queue("high", connection=get_redis())
        registry = ScheduledJobRegistry(queue=queue)
        (job_id,) = registry.get_job_ids()  # RQ retries it in 10 s
        job = Job.fetch(job_id, connection=queue.connection)
        assert job.retries_left == 2
    variants = [
        {"id": SAUCER, "inventory_item_id": SAUCER_ITEM, "inventory_quantity": 0, "updated_at": LATER}
    ]
    post(
        client,
        fake,
        "products/create",
        shop.domain,
        examples.product("products/create", SET_PRODUCT, variants),
    )
    run_jobs()
    assert stored(app, SAUCER).inventory_tracked is False  # a product webhook does not say
    with app.app_context():
        registry.remove(job)
        queue.enqueue_job(job)  # the retry, now rather than in 10 s
    run_jobs()
    assert stored(app, SAUCER).inventory_tracked is True
    with app.app_context():
        assert db.session.scalar(
            sa.select(WebhookDelivery.status).where(WebhookDelivery.topic.like("inv%"))
        ) == ("processed")


def test_variants_a_payload_lists_but_does_not_send_are_kept(app, client, fake, synced, run_jobs):
    """Product webhooks send the first 100 variants in full and list all of them in variant_gids."""
    sent = [{"id": SAUCER, "inventory_item_id": SAUCER_ITEM, "updated_at": LATER}]
    payload = examples.product(
        "products/update",
        SET_PRODUCT,
        sent,
        updated_at=LATER,
        status="archived",
        listed_variant_ids=[SAUCER, SPOON],
    )
    post(client, fake, "products/update", synced.domain, payload)
    run_jobs()
    spoon = stored(app, SPOON)
    assert spoon.deleted_at is None and spoon.status == "archived" and spoon.sku == "SPOON"
    dropped = dict(payload, variant_gids=[payload["variant_gids"][0]], updated_at="2030-01-03T00:00:00Z")
    post(client, fake, "products/update", synced.domain, dropped)
    run_jobs()
    assert stored(app, SPOON).deleted_at is not None  # no longer listed: gone from the product


def test_a_new_variant_missing_fields_gets_the_column_defaults(app, client, fake, shop, run_jobs):
    payload = examples.product("products/create", SET_PRODUCT, [{"id": SAUCER, "updated_at": LATER}])
    del payload["title"], payload["status"]
    for field in ("price", "inventory_policy", "inventory_quantity", "title"):
        del payload["variants"][0][field]
    post(client, fake, "products/create", shop.domain, payload, shape_checked=False)
    run_jobs()
    saucer = stored(app, SAUCER)
    assert (saucer.product_title, saucer.status, saucer.inventory_policy) == ("", "active", "deny")
    assert (saucer.price, saucer.inventory_quantity, saucer.inventory_tracked) == (None, None, False)


def test_webhooks_change_only_their_own_shops_rows(app, client, fake, synced, other_shop, run_jobs):
    with app.app_context():
        sync_catalog(other_shop.id)  # the same Shopify ids in another shop
    post(
        client,
        fake,
        "inventory_items/update",
        synced.domain,
        examples.inventory_item(SAUCER_ITEM, tracked=False),
    )
    post(client, fake, "products/update", synced.domain, set_update(saucer_quantity=0))
    run_jobs()
    with app.app_context():
        rows = db.session.execute(
            sa.select(
                ProductVariant.shop_id, ProductVariant.inventory_tracked, ProductVariant.inventory_quantity
            )
            .where(ProductVariant.variant_id == SAUCER)
            .order_by(ProductVariant.shop_id)
        ).all()
    assert [tuple(r) for r in rows] == [(synced.id, False, 0), (other_shop.id, True, 4)]
