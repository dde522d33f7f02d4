"""The /app page and its report fragments: auth, content, empty states, tenant isolation."""

from __future__ import annotations

import re

import pytest

from posai_app.extensions import db
from tests.admin import shopdata
from tests.helpers import make_session_token

FRAGMENTS = ["/app/report", "/app/summary", "/app/pairs", "/app/status", "/app/settings", "/app/products?q=a"]
WRITES = ["/app/retrain", "/app/resync", "/app/preview", "/app/settings", "/app/settings/exclusions"]


def test_page_without_a_session_token_is_refused_with_the_retry_header(client, shop):
    response = client.get("/app")
    assert response.status_code == 401
    assert response.headers["X-Shopify-Retry-Invalid-Session-Request"] == "1"


@pytest.mark.parametrize("path", FRAGMENTS)
def test_fragments_need_a_session_token(client, shop, path):
    response = client.get(path, headers={"HX-Request": "true"})
    assert response.status_code == 401
    assert response.headers["X-Shopify-Retry-Invalid-Session-Request"] == "1"


@pytest.mark.parametrize("path", WRITES)
def test_writes_need_a_session_token(client, shop, path):
    response = client.post(path, headers={"HX-Request": "true"}, data={"product_id": "1"})
    assert response.status_code == 401


def test_a_token_signed_with_another_secret_is_refused(app, client, shop):
    token = make_session_token(app.config, shop.domain, secret="x" * 48)
    response = client.get("/app/report", headers={"Authorization": f"Bearer {token}", "HX-Request": "true"})
    assert response.status_code == 401


def test_page_loads_with_the_id_token_shopify_appends(app, client, reported_shop):
    token = make_session_token(app.config, reported_shop.domain)
    response = client.get(f"/app?shop={reported_shop.domain}&host=abc&id_token={token}")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    head = html.split("<head>", 1)[1]
    # App Bridge first in <head> (after charset), from Shopify's CDN; htmx vendored, pinned to 2.x.
    first_tags = re.findall(r"<(meta|script|link|title)[^>]*>", head)[:3]
    assert first_tags == ["meta", "meta", "script"]
    assert f'<meta name="shopify-api-key" content="{app.config["SHOPIFY_API_KEY"]}">' in head
    assert '<script src="https://cdn.shopify.com/shopifycloud/app-bridge.js"></script>' in head
    assert "/static/vendor/htmx/htmx-2.0.11.min.js" in head
    external = re.findall(r'(?:src|href)="(https?://[^"]+)"', html)
    # Then Polaris web components (App Home conventions), from the same CDN.
    assert external == [
        "https://cdn.shopify.com/shopifycloud/app-bridge.js",
        "https://cdn.shopify.com/shopifycloud/polaris.js",
    ]
    assert "frame-ancestors" in response.headers["Content-Security-Policy"]
    assert "HX-Request" in response.headers["Vary"]
    assert response.headers["Cache-Control"] == "no-store"


def test_vendored_htmx_and_licence_are_served(client):
    for path in ("vendor/htmx/htmx-2.0.11.min.js", "vendor/htmx/LICENSE", "posai.js", "posai.css"):
        response = client.get(f"/static/{path}")
        assert response.status_code == 200, path
        response.close()


def test_page_shows_summary_live_metric_evaluation_charts_and_pairs(client, reported_shop, auth_headers):
    # The first load leaves the (possibly slow) counts to their own request; later loads are complete.
    first = client.get("/app", headers=auth_headers(reported_shop)).get_data(as_text=True)
    summary_card = first.split('id="summary-card"', 1)[1].split("</s-section>", 1)[0]
    assert (
        'hx-trigger="load, report-changed from:body"' in summary_card
        and "Counting your orders" in summary_card
    )
    summary = client.get("/app/summary", headers=auth_headers(reported_shop)).get_data(as_text=True)
    # data summary: 41 orders, 88 line items (see shopdata.BASKETS)
    assert re.search(r"<dt>Orders</dt><dd>41</dd>", summary)
    assert re.search(r"<dt>Line items</dt><dd>88</dd>", summary)
    assert re.search(r"<dt>Orders with 2\+ items</dt><dd>36</dd>", summary)
    response = client.get("/app", headers=auth_headers(reported_shop))
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert re.search(r"<dt>Orders</dt><dd>41</dd>", html) and "Counting your orders" not in html
    # live metric
    assert "The POS is using <strong>cosine</strong>" in html
    # evaluation table: every scorer, the chosen one highlighted, the baseline marked
    table = html.split('id="evaluation-table"', 1)[1].split("</table>", 1)[0]
    for name in ("cooccurrence", "cosine", "confidence", "lift", "jaccard", "popularity"):
        assert name in table
    chosen = table.split('class="row--chosen', 1)[1].split("</tr>", 1)[0]
    assert "cosine" in chosen and "36.0%" in chosen
    assert "row--baseline" in table
    assert "HitRate@2: how often" in html
    # charts: inline SVG, the bar chart and a trend over the two runs
    assert '<svg class="chart chart--bars"' in html
    assert '<svg class="chart chart--trend"' in html
    assert html.count('class="chart-point"') == 2
    # top pairs with titles
    pairs = html.split('id="pairs-table"', 1)[1].split("</table>", 1)[0]
    assert "White hanging heart T-light holder" in pairs and "White metal lantern" in pairs


def test_fragment_request_for_the_page_returns_only_the_content(client, reported_shop, hx):
    response = client.get("/app", headers=hx(reported_shop))
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "<html" not in html and 'id="report-card"' in html
    restore = client.get("/app", headers=hx(reported_shop, **{"HX-History-Restore-Request": "true"}))
    assert "<html" in restore.get_data(as_text=True)


@pytest.mark.parametrize(
    ("path", "marker"),
    [
        ("/app/report", 'id="evaluation-table"'),
        ("/app/summary", 'id="data-summary"'),
        ("/app/pairs", 'id="pairs-table"'),
        ("/app/status", 'id="status"'),
        ("/app/settings", 'id="settings-form"'),
    ],
)
def test_each_fragment_renders_alone(client, reported_shop, hx, path, marker):
    response = client.get(path, headers=hx(reported_shop))
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert marker in html and "<html" not in html
    assert "HX-Request" in response.headers["Vary"]


def test_new_shop_sees_empty_states(client, shop, auth_headers):
    html = client.get("/app", headers=auth_headers(shop)).get_data(as_text=True)
    assert "No orders imported yet" in client.get("/app/summary", headers=auth_headers(shop)).get_data(
        as_text=True
    )
    assert "No evaluation yet" in html
    assert "No model yet" in html
    assert 'id="pairs-empty"' in html
    assert "Not trained yet" in html


def test_import_in_progress_is_described(app, client, shop, auth_headers):
    with app.app_context():
        shopdata.add_sync(
            shop.id, "orders", status="running", phase="importing", processed_count=12400, total_count=19773
        )
        db.session.commit()
    html = client.get("/app", headers=auth_headers(shop)).get_data(as_text=True)
    assert "12,400 of 19,773" in html  # the status card
    summary = client.get("/app/summary", headers=auth_headers(shop)).get_data(as_text=True)
    assert "Importing your orders" in summary and "12,400 of 19,773" in summary


def test_insufficient_data_is_explained(app, client, shop, auth_headers):
    with app.app_context():
        shopdata.add_catalog(shop.id)
        shopdata.add_run(shop.id, status="insufficient_data", error="Not enough multi-item orders yet: test.")
        db.session.commit()
    html = client.get("/app", headers=auth_headers(shop)).get_data(as_text=True)
    assert "Not enough multi-item orders yet: test." in html


def test_missing_history_is_flagged(app, client, stocked_shop, auth_headers):
    from posai_app.models import Shop

    with app.app_context():
        shop = db.session.get(Shop, stocked_shop.id)
        shop.scopes = "read_products,read_orders"
        shopdata.add_sync(stocked_shop.id, "orders", status="done", all_history=False)
        db.session.commit()
    html = client.get("/app/summary", headers=auth_headers(stocked_shop)).get_data(as_text=True)
    assert "read_all_orders" in html and "last 60 days" in html


def test_another_shops_data_never_appears(app, client, reported_shop, other_shop, auth_headers):
    with app.app_context():
        shopdata.add_catalog(other_shop.id, title_prefix="SECRET ", id_offset=50000)
        shopdata.add_orders(other_shop.id, id_offset=50000)
        results = shopdata.report(best="lift")
        results["results"]["beta-only-scorer"] = {
            "hitRate": 0.99,
            "precision": 0.5,
            "recall": 0.9,
            "coverage": 1,
        }
        shopdata.add_run(other_shop.id, results=results, chosen="lift")
        db.session.commit()
    headers = auth_headers(reported_shop)
    page = client.get("/app", headers=headers).get_data(as_text=True)
    summary = client.get("/app/summary", headers=headers).get_data(as_text=True)
    assert "SECRET" not in page + summary and "beta-only-scorer" not in page
    assert re.search(r"<dt>Orders</dt><dd>41</dd>", summary)
    search = client.get("/app/products?q=secret&purpose=preview", headers=headers).get_data(as_text=True)
    assert "SECRET" not in search
    search = client.get("/app/products?q=secret&purpose=exclude", headers=headers).get_data(as_text=True)
    assert "SECRET" not in search
    # and the other shop sees its own data, not ours
    theirs = client.get("/app/report", headers=auth_headers(other_shop)).get_data(as_text=True)
    assert "beta-only-scorer" in theirs


def test_bad_search_purpose_is_a_422(client, shop, hx):
    response = client.get("/app/products?q=a&purpose=nope", headers=hx(shop))
    assert response.status_code == 422


def test_product_search_is_case_insensitive_and_literal(client, stocked_shop, hx):
    html = client.get("/app/products?q=LANTERN&purpose=preview", headers=hx(stocked_shop)).get_data(
        as_text=True
    )
    assert "White metal lantern" in html
    html = client.get("/app/products?q=%25&purpose=preview", headers=hx(stocked_shop)).get_data(as_text=True)
    assert "No products match" in html
    html = client.get("/app/products?q=cake+tins&purpose=exclude", headers=hx(stocked_shop)).get_data(
        as_text=True
    )
    assert "Set of 3 cake tins" in html and "(2 variants)" in html


def test_stale_id_token_on_page_load_bounces_through_app_bridge(app, client, shop):
    import time
    from urllib.parse import parse_qs, urlsplit

    expired = make_session_token(
        app.config, shop.domain, exp=int(time.time()) - 120, nbf=int(time.time()) - 200
    )
    response = client.get(f"/app?shop={shop.domain}&host=YWJj&id_token={expired}")
    assert response.status_code == 302
    target = urlsplit(response.headers["Location"])
    assert target.path == "/app/session-token-bounce"
    query = parse_qs(target.query)
    assert query["shop"] == [shop.domain] and "id_token" not in query
    assert query["shopify-reload"] == [f"https://posai.test/app?shop={shop.domain}&host=YWJj"]
    bounce = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "app-bridge.js" in bounce and 'name="shopify-api-key"' in bounce


def test_a_forged_id_token_is_refused_not_bounced(app, client, shop):
    forged = make_session_token(app.config, shop.domain, secret="y" * 48)
    assert client.get(f"/app?shop={shop.domain}&id_token={forged}").status_code == 401
    # no shop parameter (not Shopify loading us): a plain 401
    assert client.get("/app").status_code == 401
    assert client.get("/app?shop=evil.com").status_code == 401


def test_tuned_scorers_show_their_parameters(app, client, shop, auth_headers):
    results = shopdata.report()
    results["results"]["rp3beta"] = {
        "hitRate": 0.4,
        "precision": 0.2,
        "recall": 0.35,
        "coverage": 0.8,
        "params": {"beta": 0.5},
    }
    with app.app_context():
        shopdata.add_run(shop.id, results=results, chosen="rp3beta")
        db.session.commit()
    html = client.get("/app/report", headers=auth_headers(shop)).get_data(as_text=True)
    chosen = html.split('class="row--chosen', 1)[1].split("</tr>", 1)[0]
    assert "rp3beta" in chosen and "Tuned: beta=0.5" in chosen and "random walk" in chosen


def test_headline_is_honest_when_bestsellers_do_better(app, client, shop, auth_headers):
    results = shopdata.report()
    results["results"]["popularity"]["hitRate"] = 0.5
    with app.app_context():
        shopdata.add_run(shop.id, results=results)
        db.session.commit()
    html = client.get("/app/report", headers=auth_headers(shop)).get_data(as_text=True)
    headline = html.split('id="report-headline"', 1)[1].split("</p>", 1)[0]
    assert "×" not in headline and "suggesting your bestsellers scored <" not in headline
    assert "suggesting your bestsellers scored 50.0%" in headline


def test_selection_details_from_the_engine_are_explained(app, client, shop, auth_headers):
    results = shopdata.report(best="jaccard")
    results["details"] = {
        "params": {"rp3beta": {"beta": 0.3}},
        "selection": {"rule": "highest inner-split HitRate@K", "chosen": "jaccard"},
        "skipped": {"ease": "skipped: the 45s training budget was spent"},
    }
    results["results"]["rp3beta"] = {"hitRate": 0.5, "precision": 0.25, "recall": 0.5, "coverage": 1.0}
    with app.app_context():
        shopdata.add_run(shop.id, results=results, chosen="jaccard")
        db.session.commit()
    html = client.get("/app/report", headers=auth_headers(shop)).get_data(as_text=True)
    note = html.split('id="selection-note"', 1)[1].split("</div>", 1)[0]
    assert "scored higher on this test but were not picked" in note
    assert "highest inner-split HitRate@K" in note
    assert "ease: skipped: the 45s training budget was spent" in note
    assert "Tuned: beta=0.3" in html


def test_bounce_keeps_odd_query_keys_as_plain_data(app, client, shop):
    response = client.get(f"/app?shop={shop.domain}&_scheme=javascript&_external=1&_anchor=x")
    assert response.status_code == 302
    location = response.headers["Location"]
    assert location.startswith("/app/session-token-bounce?") and "_scheme=javascript" in location


def test_app_origin_redirects_to_the_embedded_home_keeping_the_query(client):
    response = client.get("/?shop=alpha-shop.myshopify.com&host=YWJj&embedded=1")
    assert response.status_code == 302
    assert response.headers["Location"] == "/app?shop=alpha-shop.myshopify.com&host=YWJj&embedded=1"
