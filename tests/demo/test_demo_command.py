"""`posai demo --no-serve` prepares the demo shop through the real ingestion and training code,
and the curl it prints gets in-stock recommendations from the real API."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import sqlalchemy as sa

from posai_app.demo import DEMO_SHOP_DOMAIN
from posai_app.extensions import db
from posai_app.models import EvaluationRun, OrderLineItem, ProductVariant, Shop

SLICE = Path(__file__).resolve().parents[1] / "data" / "online_retail_3000.csv.gz"


def _printed_curl(output: str) -> list[str]:
    line = next(line for line in output.splitlines() if line.startswith("curl "))
    return shlex.split(line)


def test_demo_prepares_reuses_and_resets_and_its_curl_gets_two_in_stock_recommendations(app, client):
    runner = app.test_cli_runner()
    result = runner.invoke(args=["demo", "--no-serve", "--orders", str(SLICE)])
    assert result.exit_code == 0, result.output
    assert "admin page : http://127.0.0.1:8000/app" in result.output
    with app.app_context():
        shop = db.session.scalar(sa.select(Shop).where(Shop.domain == DEMO_SHOP_DOMAIN))
        orders = db.session.scalar(
            sa.select(sa.func.count(sa.distinct(OrderLineItem.order_id))).where(
                OrderLineItem.shop_id == shop.id
            )
        )
        assert orders == 3000
        run = db.session.scalar(sa.select(EvaluationRun).where(EvaluationRun.shop_id == shop.id))
        assert run.status == "succeeded"

    argv = _printed_curl(result.output)
    headers = dict(h.split(": ", 1) for h in (argv[i + 1] for i, a in enumerate(argv) if a == "-H"))
    body = json.loads(argv[argv.index("-d") + 1])
    assert len(body["cartVariantIds"]) == 3
    response = client.post("/api/recommendations", data=json.dumps(body), headers=headers)
    assert response.status_code == 200
    recs = response.json["recommendations"]
    assert len(recs) == 2
    with app.app_context():
        for rec in recs:
            assert rec["variantId"] not in body["cartVariantIds"]
            variant = db.session.scalar(
                sa.select(ProductVariant).where(
                    ProductVariant.shop_id == shop.id, ProductVariant.variant_id == int(rec["variantId"])
                )
            )
            assert variant.status == "active" and (variant.inventory_quantity or 0) > 0

    # A second run reuses the data: no import, no training.
    again = runner.invoke(args=["demo", "--no-serve", "--orders", str(SLICE)])
    assert again.exit_code == 0, again.output
    assert "already imported and trained" in again.output
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(EvaluationRun)) == 1

    # --reset starts over: the shop's rows go, the history is imported and trained again.
    reset = runner.invoke(args=["demo", "--no-serve", "--reset", "--orders", str(SLICE)])
    assert reset.exit_code == 0, reset.output
    assert "demo shop reset" in reset.output and "importing" in reset.output
    with app.app_context():
        runs = db.session.scalars(sa.select(EvaluationRun)).all()
        assert [r.status for r in runs] == ["succeeded"]
