"""The POS extension's real code against the real server: a trained shop, a live HTTP server, the
modal target run by Node (extensions/pos-upsell/e2e/pos_sale.e2e.test.ts) with a fake `shopify`,
then the order webhook built from what the extension put in the cart, and the admin's figures.

Needs node and the extension's node_modules (`make test` installs them from its lock file, like
`make ext-test`); without them the test skips and says so, and fails when CI sets
POSAI_REQUIRE_CONTRACT=1. Shopify's example order payload comes from the contract artifacts.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from werkzeug.serving import make_server

from posai_app.extensions import db
from posai_app.impact import report
from posai_app.models import (
    ImpactAdded,
    ImpactShown,
    OrderLineItem,
    ProductVariant,
    RecommenderConfig,
    Shop,
)
from posai_app.tenancy import of_shop
from posai_app.training.jobs import train_shop
from posai_app.webhooks import handlers
from tests.fakeshopify.server import webhook_headers
from tests.helpers import TEST_API_SECRET, make_session_token
from tests.webhooks import examples

EXTENSION = Path(__file__).resolve().parents[2] / "extensions" / "pos-upsell"
VITEST = EXTENSION / "node_modules" / "vitest" / "vitest.mjs"
LOCATION, STAFF = 71, 5501
# variant: (product, title, price, stock)
CATALOG = {
    2001: (201, "Mug", "12.50", 40),
    2002: (202, "Coaster", "4.50", 25),
    2003: (203, "Tea towel", "6.00", 12),
    2004: (204, "Apron", "18.00", 8),
}


@pytest.fixture(autouse=True)
def no_training(monkeypatch):
    monkeypatch.setattr(handlers, "request_retrain", lambda shop_id: None)


def _require_node() -> str:
    node = shutil.which("node")
    missing = None
    if node is None or shutil.which("npm") is None:
        missing = "node and npm are needed to run the POS extension's code end to end"
    elif not VITEST.is_file():
        missing = (
            "the POS extension's node_modules are not installed (run `make test`, which runs "
            "`npm ci` in extensions/pos-upsell from its lock file)"
        )
    if missing:
        if os.environ.get("POSAI_REQUIRE_CONTRACT") == "1":
            pytest.fail(missing)
        pytest.skip(missing)
    return node


def _train(app, shop) -> str:
    """A small shop: mugs sell with coasters, tea towels with aprons; trained for real."""
    start = datetime.now(UTC) - timedelta(days=90)
    with app.app_context():
        for variant_id, (product_id, title, price, stock) in CATALOG.items():
            db.session.add(
                ProductVariant(
                    shop_id=shop.id,
                    variant_id=variant_id,
                    product_id=product_id,
                    product_title=title,
                    variant_title="Default Title",
                    price=Decimal(price),
                    inventory_quantity=stock,
                    inventory_tracked=True,
                )
            )
        for n in range(60):
            for position, variant_id in enumerate((2001, 2002) if n % 2 else (2003, 2004)):
                db.session.add(
                    OrderLineItem(
                        shop_id=shop.id,
                        line_item_id=900_000 + n * 10 + position,
                        order_id=90_000 + n,
                        created_at=start + timedelta(days=n),
                        variant_id=variant_id,
                        product_id=CATALOG[variant_id][0],
                        title=CATALOG[variant_id][1],
                        quantity=1,
                        price=Decimal(CATALOG[variant_id][2]),
                    )
                )
        # Only what the index suggests: a cart that holds both halves of a pair gets nothing more.
        db.session.get(Shop, shop.id).settings = {"bestseller_fallback": False}
        db.session.commit()
        train_shop(shop.id, "test")
        config = db.session.scalar(sa.select(RecommenderConfig).where(of_shop(RecommenderConfig, shop.id)))
        assert config.status == "trained"
        return config.metric


@pytest.fixture
def live_server(app):
    """The app over real HTTP on a loopback port (a thread; requests see the test's database)."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=10)


def _run_extension(node: str, base: str, app, shop, out: Path) -> dict:
    exp = int(time.time()) + 600
    tokens = [make_session_token(app.config, shop.domain, exp=exp) for _ in range(12)]
    done = subprocess.run(  # noqa: S603 (our script, our arguments)
        [node, str(VITEST), "run", "--config", "vitest.e2e.config.ts"],
        cwd=EXTENSION,
        env={
            **os.environ,
            "POSAI_E2E_APP_URL": f"{base}/app",
            "POSAI_E2E_TOKENS": json.dumps(tokens),
            "POSAI_E2E_CART": json.dumps([2001]),
            "POSAI_E2E_LOCATION": str(LOCATION),
            "POSAI_E2E_STAFF": str(STAFF),
            "POSAI_E2E_OUT": str(out),
            "NO_COLOR": "1",
            "CI": "1",
        },
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, f"the extension's run failed:\n{done.stdout}\n{done.stderr}"
    return json.loads(out.read_text())


def _order_from_cart(run: dict, order_id: int, created_at: str) -> dict:
    """orders/create in Shopify's shape for the cart the extension left: its lines with their
    properties (`properties`: name/value pairs), the cart's properties as `note_attributes`."""
    lines = []
    for n, line in enumerate(run["lineItems"], start=1):
        product_id, title, price, _ = CATALOG[line["variantId"]]
        tagged = bool(line.get("properties"))
        lines.append(
            {
                "id": order_id * 10 + n,
                "variant_id": line["variantId"],
                "product_id": product_id,
                "title": title,
                "quantity": line["quantity"],
                "price": price,
                "price_set": {
                    "shop_money": {"amount": price, "currency_code": "GBP"},
                    "presentment_money": {"amount": price, "currency_code": "GBP"},
                },
                "attributed_staffs": [],
                "properties": [{"name": k, "value": v} for k, v in (line.get("properties") or {}).items()],
                # The cashier took 1.00 off the add-on at the till.
                "discount_allocations": [
                    {
                        "amount": "1.00",
                        "amount_set": {
                            "shop_money": {"amount": "1.00", "currency_code": "GBP"},
                            "presentment_money": {"amount": "1.00", "currency_code": "GBP"},
                        },
                        "discount_application_index": 0,
                    }
                ]
                if tagged
                else [],
            }
        )
    payload = examples.order(
        "orders/create", order_id, lines, name=f"#{order_id}", created_at=created_at, updated_at=created_at
    )
    payload.update(location_id=LOCATION, user_id=STAFF, source_name="pos")
    payload["note_attributes"] = [{"name": k, "value": v} for k, v in run["cartProperties"].items()]
    return payload


def _figures(app, shop) -> dict:
    with app.app_context():
        figures = report.impact_report(shop.id, 30)
    return {k: v for k, v in figures.items() if k not in ("since", "daily", "dropped")} | {
        "daily_shown": sum(d["shown"] for d in figures["daily"]),
        "daily_revenue": sum(d["revenue"] for d in figures["daily"]),
    }


def _counts(app, shop) -> tuple[int, int]:
    with app.app_context():
        return tuple(
            db.session.scalar(sa.select(sa.func.count()).select_from(m).where(of_shop(m, shop.id)))
            for m in (ImpactShown, ImpactAdded)
        )


def test_the_extensions_real_code_from_suggestion_to_the_admins_figures(
    app, shop, live_server, run_jobs, tmp_path
):
    node = _require_node()
    examples.example("orders/create")  # Shopify's payload (skips like the contract tests without it)
    metric = _train(app, shop)
    run = _run_extension(node, live_server, app, shop, tmp_path / "run.json")

    # The modal showed the live answer for the cart, and Add tagged the new line with its id.
    reco = [e for e in run["exchanges"] if e["path"] == "/api/recommendations"]
    assert reco[0]["request"] == {"cartVariantIds": ["2001"], "locationId": str(LOCATION), "locale": "en-US"}
    answer = reco[0]["answer"]
    assert reco[0]["status"] == 200 and answer["metric"] == metric
    assert [r["variantId"] for r in answer["recommendations"]] == ["2002"]
    assert "Add Coaster" in run["suggestionText"] and "$4.50" in run["suggestionText"]
    rec_id = answer["recommendationId"]
    [add] = run["addLineItem"]
    assert add["args"] == [2002, 1, {"properties": {"_posai": rec_id}}] and add["result"]
    # The reload for the new cart (mug and coaster) has nothing more to suggest: nothing more shown.
    assert (
        reco[1]["request"]["cartVariantIds"] == ["2001", "2002"]
        and reco[1]["answer"]["recommendations"] == []
    )
    assert run["cartProperties"] == {"_posai_shown": rec_id}

    # One batch (shown, added); its first answer was lost, the queue resent the same events.
    posts = [e for e in run["exchanges"] if e["path"] == "/api/events"]
    assert [(p["status"], p["delivered"]) for p in posts] == [(200, False), (200, True)]
    assert posts[0]["request"] == posts[1]["request"]
    events = posts[0]["request"]["events"]
    assert [(e["type"], e["recommendationId"]) for e in events] == [("shown", rec_id), ("added", rec_id)]
    assert events[0]["variantIds"] == ["2002"] and events[1]["variantId"] == "2002"
    assert {(e["locationId"], e["staffMemberId"]) for e in events} == {(str(LOCATION), str(STAFF))}
    assert posts[0]["answer"] == {"accepted": 2, "duplicates": 0, "rejected": []}
    assert posts[1]["answer"] == {"accepted": 0, "duplicates": 2, "rejected": []}
    assert _counts(app, shop) == (1, 1)

    # The sale: orders/create through the real webhook endpoint, signed as Shopify signs it.
    order = _order_from_cart(run, 7301, datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"))
    tagged = [li for li in order["line_items"] if li["properties"]]
    assert [(li["variant_id"], li["quantity"]) for li in tagged] == [(2002, 2)]

    def deliver(payload, webhook_id):
        body = json.dumps(payload).encode()
        headers = webhook_headers("orders/create", shop.domain, body, TEST_API_SECRET, webhook_id=webhook_id)
        response = httpx.post(f"{live_server}/webhooks", content=body, headers=headers, timeout=5.0)
        assert response.status_code == 200, response.text
        run_jobs()

    deliver(order, "wh-e2e-1")
    revenue = Decimal("4.50") * 2 - Decimal("1.00")
    figures = _figures(app, shop)
    expected = {
        "shown": 1,
        "added": 1,
        "attach_rate": 1.0,
        "orders": 1,
        "revenue": revenue,
        "currency": "GBP",
        "revenue_per_100": revenue * 100,
        "live_orders": 1,
        "live_hits": 1,
        "live_hit_rate": 1.0,
        "daily_shown": 1,
        "daily_revenue": revenue,
    }
    assert {k: figures[k] for k in expected} == expected
    [scorer] = figures["by"]["scorer"]
    assert (scorer["key"], scorer["orders"], scorer["revenue"], scorer["live_hit_rate"]) == (
        metric,
        1,
        revenue,
        1.0,
    )
    assert [(r["key"], r["shown"], r["added"], r["revenue"]) for r in figures["by"]["staff"]] == [
        (STAFF, 1, 1, revenue)
    ]
    assert [(r["key"], r["orders"]) for r in figures["by"]["location"]] == [(LOCATION, 1)]

    # Shopify redelivers (same webhook id, then a new one); the POS resends its batch: nothing moves.
    deliver(order, "wh-e2e-1")
    deliver(order, "wh-e2e-2")
    token = make_session_token(app.config, shop.domain)
    resent = httpx.post(
        f"{live_server}/api/events",
        json=posts[0]["request"],
        headers={"Authorization": f"Bearer {token}"},
    )
    assert resent.status_code == 200 and resent.json() == {"accepted": 0, "duplicates": 2, "rejected": []}
    assert _figures(app, shop) == figures
    assert _counts(app, shop) == (1, 1)
    with app.app_context():
        assert report.impact_report(shop.id, 30)["dropped"] == {"duplicate": 4}
