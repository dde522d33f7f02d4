"""POST /api/events: shown and added, checked against the ids the API issued, recorded once."""

from __future__ import annotations

import sqlalchemy as sa

from posai_app.extensions import db
from posai_app.impact import ids
from posai_app.models import ImpactAdded, ImpactDrop, ImpactShown
from posai_app.tenancy import select_for_shop
from tests.impact.conftest import added, shown


def _rows(app, model, shop_id):
    with app.app_context():
        return db.session.scalars(select_for_shop(model, shop_id)).all()


def _drops(app, shop_id) -> dict[str, int]:
    return {d.reason: d.count for d in _rows(app, ImpactDrop, shop_id)}


def test_shown_and_added_are_recorded_with_location_staff_and_scorer(app, small_shop, recommend, send_events):
    answer = recommend(small_shop, ["1003"])
    first = answer["recommendations"][0]["variantId"]
    response = send_events(small_shop, [shown(answer), added(answer, first)])
    assert response.status_code == 200
    assert response.get_json() == {"accepted": 2, "duplicates": 0, "rejected": []}
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    [row] = _rows(app, ImpactShown, small_shop.id)
    assert (row.metric, row.model_version, row.arm, row.location_id, row.staff_member_id) == (
        "cosine",
        1,
        "champion",
        3,
        55,
    )
    assert row.variant_ids == [r["variantId"] for r in answer["recommendations"]]
    [add] = _rows(app, ImpactAdded, small_shop.id)
    assert (str(add.variant_id), add.recommendation_id) == (first, answer["recommendationId"])


def test_a_resent_batch_and_a_second_shown_change_nothing(app, small_shop, recommend, send_events):
    answer = recommend(small_shop, ["1003"])
    first = answer["recommendations"][0]["variantId"]
    batch = [shown(answer), added(answer, first)]
    assert send_events(small_shop, batch).get_json()["accepted"] == 2
    again = send_events(small_shop, batch).get_json()
    assert again == {"accepted": 0, "duplicates": 2, "rejected": []}
    # The same facts under new event ids (a second modal opening, a double tap): still once.
    assert send_events(small_shop, [shown(answer), added(answer, first)]).get_json()["duplicates"] == 2
    # The same event twice inside one batch: once.
    twice = shown(recommend(small_shop, ["1002"]))
    assert send_events(small_shop, [twice, twice]).get_json() == {
        "accepted": 1,
        "duplicates": 1,
        "rejected": [],
    }
    assert len(_rows(app, ImpactShown, small_shop.id)) == 2
    assert len(_rows(app, ImpactAdded, small_shop.id)) == 1
    assert _drops(app, small_shop.id) == {"duplicate": 5}


def test_unknown_foreign_and_mismatched_events_are_refused_one_by_one(
    app, small_shop, other_shop, recommend, send_events
):
    answer = recommend(small_shop, ["1003"])
    with app.app_context():
        foreign = ids.mint(ids.signing_key(app.config), other_shop.id, "cosine", 1, [1003], [1002])
    forged = answer["recommendationId"][:-4] + (
        "AAAA" if not answer["recommendationId"].endswith("AAAA") else "BBBB"
    )
    events = [
        shown(answer),
        {**shown(answer), "recommendationId": foreign},
        {**shown(answer), "recommendationId": forged},
        {**shown(answer), "recommendationId": "rec_123456789012345678901"},
        added(answer, "1009"),  # never suggested for this cart
        {**shown(answer), "variantIds": ["not-an-id"]},
        {**shown(answer), "id": "x"},
        {**shown(answer), "type": "clicked"},
        "not an object",
    ]
    body = send_events(small_shop, events).get_json()
    assert body["accepted"] == 1
    assert [(r["index"], r["reason"]) for r in body["rejected"]] == [
        (1, "other_shop"),
        (2, "unknown_recommendation"),
        (3, "unknown_recommendation"),
        (4, "not_in_answer"),
        (5, "malformed"),
        (6, "bad_event_id"),
        (7, "bad_type"),
        (8, "malformed"),
    ]
    assert _drops(app, small_shop.id) == {
        "other_shop": 1,
        "unknown_recommendation": 2,
        "not_in_answer": 1,
        "malformed": 2,
        "bad_event_id": 1,
        "bad_type": 1,
    }
    assert _rows(app, ImpactShown, other_shop.id) == []


def test_an_expired_recommendation_is_refused(app, small_shop, send_events):
    with app.app_context():
        old = ids.mint(
            ids.signing_key(app.config), small_shop.id, "cosine", 1, [1003], [1002], now=1_000_000_000
        )
    body = send_events(
        small_shop, [shown({"recommendationId": old, "recommendations": [{"variantId": "1002"}]})]
    )
    assert body.get_json()["rejected"][0]["reason"] == "expired"


def test_a_malformed_batch_is_a_400_and_records_nothing(app, client, small_shop, auth_headers):
    headers = auth_headers(small_shop)
    for body in ({"events": []}, {"events": "x"}, {"nope": 1}, [1], {"events": [{}] * 201}):
        response = client.post("/api/events", json=body, headers=headers)
        assert response.status_code == 400, body
        assert response.get_json()["error"]["code"] == "bad_request"
        assert response.headers["Access-Control-Allow-Origin"] == "*"
    response = client.post("/api/events", data=b"{", headers={**headers, "Content-Type": "application/json"})
    assert response.status_code == 400
    big = client.post("/api/events", data=b" " * (65 * 1024), headers=headers)
    assert big.status_code == 413
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(ImpactDrop)) == 0


def test_auth_cors_and_methods_follow_the_api_rules(client, small_shop):
    response = client.post("/api/events", json={"events": [{"id": "abcdefgh"}]})
    assert response.status_code == 401
    assert response.headers["X-Shopify-Retry-Invalid-Session-Request"] == "1"
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    preflight = client.options("/api/events")
    assert preflight.status_code == 204
    assert preflight.headers["Access-Control-Allow-Headers"] == "Authorization, Content-Type"
    assert client.get("/api/events").status_code == 405


def test_events_with_the_same_ids_stay_in_their_own_shop(app, small_shop, other_shop, recommend, send_events):
    from tests.api.conftest import add_catalog, add_index

    with app.app_context():
        add_catalog(other_shop.id)
        add_index(other_shop.id)
        db.session.commit()
    mine, theirs = recommend(small_shop, ["1003"]), recommend(other_shop, ["1003"])
    same_id = "same-event-id-0001"
    assert send_events(small_shop, [shown(mine, event_id=same_id)]).get_json()["accepted"] == 1
    assert send_events(other_shop, [shown(theirs, event_id=same_id)]).get_json()["accepted"] == 1
    # A shop cannot report another shop's answer, even with its own token.
    assert send_events(small_shop, [shown(theirs)]).get_json()["rejected"][0]["reason"] == "other_shop"
    assert len(_rows(app, ImpactShown, small_shop.id)) == len(_rows(app, ImpactShown, other_shop.id)) == 1
