"""Search & Discovery's complementary products ("Pairs well with") into the merchant's pins.

Shopify keeps them in the product metafield
`shopify--discovery--product_recommendation.complementary_products` (a list.product_reference:
a JSON list of Product GIDs; see posai_app.shopify.queries), readable with `read_products`.
`import_discovery_pins` reads every product's (pages of 250, 502 points each) and hands the
pairs to the settings rules (posai_app.shops.settings.import_discovery_pins), which replace the
shop's earlier imported pins and keep the merchant's own first. It runs as a job ("default"
queue, one per shop) started from the admin page.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from posai_app.extensions import db
from posai_app.queue import RETRY, enqueue
from posai_app.shopify import queries
from posai_app.shopify.client import AdminClient, client_for_shop
from posai_app.shopify.gid import from_gid
from posai_app.shops import settings

log = logging.getLogger(__name__)

IMPORT_JOB = "posai_app.ingest.discovery.import_discovery_pins"
IMPORT_JOB_ID = "discovery-pins-{}"


def complementary_products(client: AdminClient) -> dict[int, list[int]]:
    """product id -> its complementary product ids, for every product that has some."""
    pairs: dict[int, list[int]] = {}
    after: str | None = None
    while True:
        data = client.execute(
            queries.COMPLEMENTARY_PRODUCTS_PAGE,
            queries.complementary_products_variables(after),
            operation="ComplementaryProductsPage",
        )["products"]
        for edge in data["edges"]:
            node = edge["node"]
            ids = parse_product_references((node.get("complementaryProducts") or {}).get("value"))
            if ids:
                pairs[from_gid(node["id"])] = ids
        if not data["pageInfo"].get("hasNextPage"):
            return pairs
        after = data["pageInfo"]["endCursor"]


def parse_product_references(value: Any) -> list[int]:
    """A list.product_reference metafield value (a JSON list of Product GIDs) -> product ids."""
    if not value:
        return []
    try:
        items = json.loads(value) if isinstance(value, str) else value
    except ValueError:
        return []
    if not isinstance(items, list):
        return []
    out = []
    for item in items:
        if isinstance(item, str) and item.startswith("gid://shopify/Product/"):
            product = from_gid(item)
            if product is not None and product not in out:
                out.append(product)
    return out


def import_discovery_pins(shop_id: int) -> dict[str, int]:
    """Read the shop's Search & Discovery pairings from Shopify and store them as pins."""
    with client_for_shop(shop_id) as client:
        pairs = complementary_products(client)
    summary = settings.import_discovery_pins(shop_id, pairs)
    db.session.commit()
    log.info("shop %s: imported Search & Discovery pairings: %s", shop_id, summary)
    return summary


def enqueue_discovery_import(shop_id: int) -> str | None:
    return enqueue(
        "default",
        IMPORT_JOB,
        shop_id,
        job_id=IMPORT_JOB_ID.format(shop_id),
        coalesce=True,
        retry=RETRY,
    )
