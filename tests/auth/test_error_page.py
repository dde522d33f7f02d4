"""The HTML error page: inside the admin frame it loads App Bridge, as every embedded document must."""

from __future__ import annotations

import re

from tests.helpers import make_session_token

APP_BRIDGE = '<script src="https://cdn.shopify.com/shopifycloud/app-bridge.js"></script>'


def _head(html: str) -> str:
    return html.split("</head>", 1)[0]


def test_an_error_inside_the_admin_frame_loads_app_bridge_first(app, client, shop):
    forged = make_session_token(app.config, shop.domain, secret="y" * 48)
    for headers, query in (({}, "embedded=1&"), ({"Sec-Fetch-Dest": "iframe"}, "")):
        response = client.get(f"/app?{query}shop={shop.domain}&id_token={forged}", headers=headers)
        assert response.status_code == 401 and response.mimetype == "text/html"
        head = _head(response.get_data(as_text=True))
        assert f'<meta name="shopify-api-key" content="{app.config["SHOPIFY_API_KEY"]}">' in head
        assert re.findall(r"<script[^>]*>", head)[0] == APP_BRIDGE.removesuffix("</script>")


def test_a_top_level_error_page_does_without_app_bridge(client):
    # The code-grant callback is a top-level redirect from Shopify, never framed.
    response = client.get(
        "/auth/callback?shop=gamma-shop.myshopify.com&hmac=00", headers={"Sec-Fetch-Dest": "document"}
    )
    assert response.status_code == 403 and response.mimetype == "text/html"
    html = response.get_data(as_text=True)
    assert "invalid hmac" in html and "app-bridge.js" not in html and "shopify-api-key" not in html
