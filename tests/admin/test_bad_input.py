"""Odd input never gives a 500 on any admin endpoint."""

from __future__ import annotations

import pytest

ODD = ["", "nan", "inf", "-1", "1e308", "99999999999999999999999", "abc", "٣", "%00", "<b>x</b>", "x" * 5000]


@pytest.mark.parametrize("value", ODD)
def test_status_and_search_params(client, stocked_shop, hx, value):
    for path in (
        f"/app/status?active=1&train_after={value}&train_since={value}&sync_since={value}",
        f"/app/products?purpose=preview&q={value}",
        f"/app/products?purpose=exclude&q={value}",
        f"/app/report?x={value}",
    ):
        response = client.get(path, headers=hx(stocked_shop))
        assert response.status_code < 500, path
        assert "<b>x</b>" not in response.get_data(as_text=True)


@pytest.mark.parametrize("value", ODD)
def test_form_fields(client, stocked_shop, hx, value):
    posts = [
        (
            "/app/settings",
            {"recommendation_limit": value, "retrain_interval_minutes": value, "bestseller_fallback": value},
        ),
        ("/app/settings/exclusions", {"product_id": value}),
        ("/app/settings/exclusions/remove", {"product_id": value}),
        ("/app/preview", {"add": value, "remove": value, "explain": value}),
    ]
    for path, data in posts:
        response = client.post(path, data=data, headers=hx(stocked_shop))
        assert response.status_code < 500, (path, response.status_code)
        assert "<b>x</b>" not in response.get_data(as_text=True)
