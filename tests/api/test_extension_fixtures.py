"""The POS extension's test fixtures are answers recorded from this API.

`POSAI_RECORD_FIXTURES=1 pytest tests/api/test_extension_fixtures.py` rewrites them;
otherwise the test fails when the API's answers drift from what the extension is tested on.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from posai_app.extensions import db
from posai_app.impact import ids
from posai_app.models import Shop

FIXTURES = Path(__file__).resolve().parents[2] / "extensions/pos-upsell/test/fixtures/recorded"
ISSUED_AT = 1_798_761_600.0  # 2027-01-01T00:00:00Z
KEPT_HEADERS = ("Content-Type", "Access-Control-Allow-Origin", "X-Shopify-Retry-Invalid-Session-Request")


def _record(response) -> dict:
    headers = {name: response.headers[name] for name in KEPT_HEADERS if name in response.headers}
    return {"status": response.status_code, "headers": headers, "body": response.get_json()}


def _answers(app, client, shop, auth_headers) -> dict[str, dict]:
    url = "/api/recommendations"
    answers = {
        "ok": client.post(url, json={"cartVariantIds": ["1003"]}, headers=auth_headers(shop)),
        "unauthorized": client.post(url, json={"cartVariantIds": ["1003"]}),
        "bad_request": client.post(url, json={"cartVariantIds": "1003"}, headers=auth_headers(shop)),
        # suggestions whose stock is untracked (inventoryQuantity null) beside tracked ones
        "untracked": client.post(
            url, json={"cartVariantIds": ["1002"], "limit": 3}, headers=auth_headers(shop)
        ),
    }
    with app.app_context():
        db.session.get(Shop, shop.id).settings = {"bestseller_fallback": False}
        db.session.commit()
    answers["empty"] = client.post(url, json={"cartVariantIds": ["999999"]}, headers=auth_headers(shop))
    return {name: _record(response) for name, response in answers.items()}


@pytest.mark.skipif(not FIXTURES.is_dir(), reason="extensions/pos-upsell is not in this checkout")
def test_extension_fixtures_are_what_the_api_answers(app, client, small_shop, auth_headers, monkeypatch):
    # Recommendation ids are random and timed (posai_app.impact.ids): fixed here, so the
    # recorded answers carry real, verifiable ids that do not drift between runs.
    monkeypatch.setattr(ids, "_random", lambda n: bytes(range(1, n + 1)))
    monkeypatch.setattr(ids, "_clock", lambda: ISSUED_AT)
    answers = _answers(app, client, small_shop, auth_headers)
    if os.environ.get("POSAI_RECORD_FIXTURES") == "1":
        for name, answer in answers.items():
            (FIXTURES / f"{name}.json").write_text(json.dumps(answer, indent=2) + "\n")
    for name, answer in answers.items():
        recorded = json.loads((FIXTURES / f"{name}.json").read_text())
        assert recorded == answer, f"{name}.json differs from the API's answer: re-record (see module doc)"
