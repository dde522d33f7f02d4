"""The impact tests use the API's small hand-made shop (tests/api/conftest.py)."""

from __future__ import annotations

import uuid

import pytest

from tests.api.conftest import small_shop  # noqa: F401  (a fixture, re-exported)


@pytest.fixture
def recommend(client, auth_headers):
    """recommend(shop, cart) -> the API's answer for that cart (with its recommendationId)."""

    def _recommend(shop, cart, **body):
        response = client.post(
            "/api/recommendations", json={"cartVariantIds": cart, **body}, headers=auth_headers(shop)
        )
        assert response.status_code == 200, response.get_json()
        return response.get_json()

    return _recommend


@pytest.fixture
def send_events(client, auth_headers):
    """send_events(shop, [event, ...]) -> the response of POST /api/events."""

    def _send(shop, events, headers=None):
        return client.post("/api/events", json={"events": events}, headers=headers or auth_headers(shop))

    return _send


def shown(answer, *, location="3", staff="55", event_id=None, items=None):
    return {
        "id": event_id or uuid.uuid4().hex,
        "type": "shown",
        "recommendationId": answer["recommendationId"],
        "variantIds": items or [r["variantId"] for r in answer["recommendations"]],
        "locationId": location,
        "staffMemberId": staff,
    }


def added(answer, variant_id, *, location="3", staff="55", event_id=None):
    return {
        "id": event_id or uuid.uuid4().hex,
        "type": "added",
        "recommendationId": answer["recommendationId"],
        "variantId": variant_id,
        "locationId": location,
        "staffMemberId": staff,
    }
