"""One serving policy: `posai recommend-batch` on a shop's orders file and POST /api/recommendations
on the same shop, trained by the train job, answer every cart with the same items."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from click.testing import CliRunner

from posai_app.extensions import db
from posai_app.models import OrderLineItem, ProductVariant
from posai_app.reco.cli import recommend_batch
from posai_app.training.jobs import train_shop

T0 = datetime(2025, 1, 1, tzinfo=UTC)
K = 2  # the shop's default k and recommendation limit
PAIRS = [(101, 102), (103, 104), (105, 106), (107, 108)]
OLD_FAVOURITE = 120  # the best seller of all time, but not bought in the last 90 days
LONER = 119  # only ever bought alone: no neighbours


def orders() -> list[tuple[int, datetime, list[int]]]:
    """(order id, created_at, variants) over 200 days, one order every few hours, none at the same time."""
    rng = random.Random(17)
    out = []
    for n in range(240):
        created = T0 + timedelta(hours=20 * n)
        if n < 100 and n % 11:
            items = [OLD_FAVOURITE, rng.choice([101, 103, 110])]
        elif n % 11 == 0:
            items = [LONER]
        else:
            a, b = rng.choice(PAIRS)
            items = [a, b] + rng.sample(range(109, 119), rng.choice([0, 1, 2]))
        out.append((5000 + n, created, items))
    return out


def seed_shop(shop_id: int) -> None:
    for order_id, created, items in orders():
        for position, vid in enumerate(items):
            db.session.add(
                OrderLineItem(
                    shop_id=shop_id,
                    line_item_id=order_id * 100 + position,
                    order_id=order_id,
                    created_at=created,
                    variant_id=vid,
                    product_id=vid * 10,
                    title=f"v{vid}",
                    quantity=1,
                    price=Decimal("3.00"),
                )
            )
    for vid in range(101, 121):  # every variant its own product, active, in stock: as the file says
        db.session.add(
            ProductVariant(
                shop_id=shop_id,
                variant_id=vid,
                product_id=vid * 10,
                product_title=f"p{vid}",
                price=Decimal("3.00"),
                inventory_quantity=50,
                inventory_tracked=True,
                inventory_policy="deny",
                status="active",
            )
        )


def orders_csv(path) -> None:
    lines = ["order_id,created_at,variant_id,product_title,price,quantity"]
    for order_id, created, items in orders():
        lines += [f"{order_id},{created.isoformat()},{vid},p{vid},3.00,1" for vid in items]
    path.write_text("\n".join(lines) + "\n")


CARTS = [
    [101],
    [103, 110],
    [105, 106],
    [107, 112, 113],
    [LONER],  # nothing learnt: bestsellers only
    [OLD_FAVOURITE],
    [999_999],  # unknown to the shop
    [101, 103, 105, 107],
    list(range(101, 119)),  # the index's candidates run out: the fallback fills up
]


def test_recommend_batch_and_the_api_give_the_same_items(app, client, shop, auth_headers, tmp_path):
    with app.app_context():
        seed_shop(shop.id)
        db.session.commit()
        train_shop(shop.id, "test")
    orders_path, carts_path = tmp_path / "orders.csv", tmp_path / "carts.jsonl"
    orders_csv(orders_path)
    carts_path.write_text("".join(json.dumps({"cart": [str(v) for v in cart]}) + "\n" for cart in CARTS))
    result = CliRunner().invoke(
        recommend_batch, [str(orders_path), str(carts_path), "--quiet", "--k", str(K)]
    )
    assert result.exit_code == 0, result.output
    batch = [json.loads(line)["recommendations"] for line in result.stdout.splitlines()]

    api, sources = [], set()
    for cart in CARTS:
        response = client.post(
            "/api/recommendations", json={"cartVariantIds": cart, "limit": K}, headers=auth_headers(shop)
        )
        assert response.status_code == 200
        api.append([r["variantId"] for r in response.json["recommendations"]])
        sources |= {r["source"] for r in response.json["recommendations"]}

    assert batch == api
    assert sources == {"model", "bestsellers"} and all(len(items) == K for items in api)
    # The fallback is the recent bestsellers, not the all-time ones (the old recommend-batch rule).
    counts: dict[int, int] = {}
    for _, _, items in orders():
        for vid in items:
            counts[vid] = counts.get(vid, 0) + 1
    assert max(counts, key=counts.get) == OLD_FAVOURITE
    assert str(OLD_FAVOURITE) not in api[CARTS.index([LONER])]
