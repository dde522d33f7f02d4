"""Demo mode: /app outside the iframe for the demo shop only, never in production."""

from __future__ import annotations

import re

import pytest

from posai_app.admin.demo import DEMO_SHOP_DOMAIN
from posai_app.auth.session_token import verify_session_token
from posai_app.config import ConfigError
from tests.conftest import _add_shop


@pytest.fixture
def demo_shop(app):
    return _add_shop(app, DEMO_SHOP_DOMAIN)


def _meta_token(html: str) -> str:
    return re.search(r'<meta name="posai-demo-token" content="([^"]+)"', html).group(1)


def test_demo_page_works_without_app_bridge_and_embeds_a_verifiable_token(make_app, demo_shop):
    demo = make_app(POSAI_DEMO=True)
    client = demo.test_client()
    response = client.get("/app")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "app-bridge.js" not in html and "shopify-api-key" not in html
    assert "Demo mode" in html
    token = _meta_token(html)
    claims = verify_session_token(token, demo.config)
    assert claims["shop_domain"] == DEMO_SHOP_DOMAIN
    assert claims["exp"] - claims["iat"] <= 300
    # The embedded token drives the fragments through the normal verification path.
    report = client.get("/app/report", headers={"Authorization": f"Bearer {token}", "HX-Request": "true"})
    assert report.status_code == 200


def test_demo_token_endpoint_mints_fresh_tokens(make_app, demo_shop):
    demo = make_app(POSAI_DEMO=True)
    body = demo.test_client().get("/app/demo-token").json
    assert verify_session_token(body["token"], demo.config)["shop_domain"] == DEMO_SHOP_DOMAIN
    assert body["expiresIn"] > 0


def test_demo_mode_never_serves_other_shops(make_app, demo_shop, shop):
    demo = make_app(POSAI_DEMO=True)
    html = demo.test_client().get("/app").get_data(as_text=True)
    assert shop.domain not in html


def test_without_the_demo_shop_demo_mode_opens_nothing(make_app, shop):
    demo = make_app(POSAI_DEMO=True)
    client = demo.test_client()
    assert client.get("/app").status_code == 401
    assert client.get("/app/demo-token").status_code == 404


def test_demo_token_endpoint_is_404_outside_demo_mode(client, demo_shop):
    assert client.get("/app/demo-token").status_code == 404
    assert client.get("/app").status_code == 401


def test_demo_is_refused_in_production(make_app, demo_shop):
    with pytest.raises(ConfigError):
        make_app(POSAI_DEMO=True, POSAI_ENV="production", REDIS_URL="redis://127.0.0.1:1/0")
    # Even a config mutated after start-up does not open the page.
    demo = make_app(POSAI_DEMO=True)
    demo.config["POSAI_ENV"] = "production"
    client = demo.test_client()
    assert client.get("/app/demo-token").status_code == 404
    response = client.get("/app")
    assert response.status_code == 401
    assert "posai-demo-token" not in response.get_data(as_text=True)


def test_a_real_session_token_wins_over_demo_mode(make_app, demo_shop, shop, auth_headers):
    demo = make_app(POSAI_DEMO=True)
    html = demo.test_client().get("/app", headers=auth_headers(shop)).get_data(as_text=True)
    assert shop.domain in html and "posai-demo-token" not in html and "app-bridge.js" in html
