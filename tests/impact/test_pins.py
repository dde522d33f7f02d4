"""Issue 18's pins in the Impact figures: the id says which ranked items were the merchant's pins,
the shown row keeps them, and the report's Pins line sets them against model suggestions."""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest
import sqlalchemy as sa

from posai_app.extensions import db
from posai_app.impact import ids, report
from posai_app.models import ImpactShown
from posai_app.shops import settings
from posai_app.tenancy import of_shop
from tests.api.conftest import add_catalog, add_index
from tests.impact.conftest import added, shown
from tests.impact.test_challenger import _carts, add_arms


def _pin(app, shop_id: int, product_id: int, pinned_product_id: int) -> None:
    with app.app_context():
        settings.add_pin(shop_id, product_id, pinned_product_id)
        db.session.commit()


def _as_version_1(app, token: str) -> str:
    """The same answer as a version-1 id (no pinned mask), signed: what the API minted before pins."""
    raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    body = b"\x01" + raw[1 : -ids.SIGNATURE_BYTES - 4]
    key = ids.signing_key(app.config)
    return ids._b64(body + hmac.new(key, body, hashlib.sha256).digest()[: ids.SIGNATURE_BYTES])


def _pinned_rows(app, shop_id: int) -> dict[str, list[str]]:
    with app.app_context():
        rows = db.session.execute(
            sa.select(ImpactShown.recommendation_id, ImpactShown.pinned_variant_ids).where(
                of_shop(ImpactShown, shop_id)
            )
        )
        return dict(rows.all())


@pytest.fixture
def pinned_shop(app, small_shop):
    _pin(app, small_shop.id, 2, 5)  # coaster -> sugar bowl
    return small_shop


def test_the_answer_id_names_its_pins_and_only_them(app, pinned_shop, recommend):
    with_pin = recommend(pinned_shop, ["1002"], limit=3)
    without = recommend(pinned_shop, ["1003"], limit=2)
    assert [(r["variantId"], r["source"]) for r in with_pin["recommendations"]][0] == ("1005", "pinned")
    key = ids.signing_key(app.config)
    assert ids.verify(key, with_pin["recommendationId"], pinned_shop.id).pinned == (1005,)
    assert "pinned" not in {r["source"] for r in without["recommendations"]}
    assert ids.verify(key, without["recommendationId"], pinned_shop.id).pinned == ()


def test_both_arms_answers_name_their_pins(app, shop, recommend):
    with app.app_context():
        add_arms(shop.id)
        db.session.commit()
    _pin(app, shop.id, 1, 11)  # mug -> candle
    challenger_carts, champion_carts = _carts(app, shop.id)
    key = ids.signing_key(app.config)
    for cart, arm in ((challenger_carts[0], "challenger"), (champion_carts[0], "champion")):
        answer = recommend(shop, cart)
        rec = ids.verify(key, answer["recommendationId"], shop.id)
        assert (rec.arm, rec.pinned) == (arm, (1011,))
        assert answer["recommendations"][0] == {**answer["recommendations"][0], "source": "pinned"}


def test_the_pins_line_counts_pins_against_model_suggestions(
    app, client, pinned_shop, other_shop, recommend, send_events, auth_headers
):
    a = recommend(pinned_shop, ["1002"], limit=3)  # 1005 (pin), 1003, 1001
    b = recommend(pinned_shop, ["1003"], limit=2)  # no pin
    c = recommend(pinned_shop, ["1002"], limit=2)  # 1005 (pin), 1003
    old = recommend(pinned_shop, ["1002"], limit=2)
    d = {**old, "recommendationId": _as_version_1(app, old["recommendationId"])}  # same items, a v1 id
    assert [r["variantId"] for r in a["recommendations"]] == ["1005", "1003", "1001"]
    assert [r["variantId"] for r in c["recommendations"]] == ["1005", "1003"]
    batch = [
        shown(a),
        added(a, "1005"),  # a pin
        added(a, "1003"),  # a model suggestion
        shown(b),
        shown(c),
        added(c, "1003"),  # a model suggestion
        shown(d),
        added(d, "1005"),  # a pin, but its v1 id does not say so: a model suggestion
    ]
    assert send_events(pinned_shop, batch).get_json() == {"accepted": 8, "duplicates": 0, "rejected": []}
    assert _pinned_rows(app, pinned_shop.id) == {
        a["recommendationId"]: ["1005"],
        b["recommendationId"]: [],
        c["recommendationId"]: ["1005"],
        d["recommendationId"]: [],
    }

    # Another shop with the same catalog and pin, whose pin is shown and added: never counted here.
    with app.app_context():
        add_catalog(other_shop.id)
        add_index(other_shop.id)
        db.session.commit()
    _pin(app, other_shop.id, 2, 5)
    theirs = recommend(other_shop, ["1002"], limit=3)
    assert send_events(other_shop, [shown(theirs), added(theirs, "1005")]).get_json()["accepted"] == 2

    with app.app_context():
        figures = report.impact_report(pinned_shop.id, 30)
        their_figures = report.impact_report(other_shop.id, 30)
    # Pins: a and c held one (2); a's pin was added (1): 1 of 2. Model: a, b, c and d held model
    # items (4); a's 1003, c's 1003, d's 1005 were added (3); a, c and d attached: 3 of 4.
    assert figures["pins"] == {
        "pinned": {"shown": 2, "added": 1, "attach_rate": 0.5},
        "model": {"shown": 4, "added": 3, "attach_rate": 0.75},
    }
    assert (figures["shown"], figures["added"], figures["attach_rate"]) == (4, 4, 0.75)
    assert their_figures["pins"] == {
        "pinned": {"shown": 1, "added": 1, "attach_rate": 1.0},
        "model": {"shown": 1, "added": 0, "attach_rate": 0.0},
    }

    html = client.get("/app/impact", headers=auth_headers(pinned_shop)).get_data(True)
    table = html[html.index('id="impact-pins"') :]
    table = table[: table.index("</table>")]
    rows = [row.split("</tr>")[0] for row in table.split("<tr>")[2:]]
    assert "Pins (pairings you set)" in rows[0]
    assert ">2<" in rows[0] and ">1<" in rows[0] and "50.0%" in rows[0]
    assert "Model suggestions" in rows[1]
    assert ">4<" in rows[1] and ">3<" in rows[1] and "75.0%" in rows[1]


def test_shown_rows_from_before_pins_were_recorded_count_as_model_suggestions(app, pinned_shop, recommend):
    answer = recommend(pinned_shop, ["1002"], limit=2)
    with app.app_context():
        # A row as migration 0011 leaves it: pinned_variant_ids not written, the column's default.
        db.session.execute(
            sa.text(
                "INSERT INTO impact_shown (shop_id, recommendation_id, event_id, metric, model_version,"
                " arm, issued_at, shown_at, variant_ids) VALUES (:shop, :rec, 'old-row-000001',"
                " 'cosine', 1, 'champion', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, '[\"1005\", \"1003\"]')"
            ),
            {"shop": pinned_shop.id, "rec": answer["recommendationId"]},
        )
        db.session.commit()
        assert db.session.scalar(sa.select(ImpactShown.pinned_variant_ids)) == []
        pins = report.impact_report(pinned_shop.id, 30)["pins"]
    assert pins["pinned"] == {"shown": 0, "added": 0, "attach_rate": None}
    assert pins["model"]["shown"] == 1
