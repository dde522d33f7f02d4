"""Settings changes are atomic: concurrent exclusions are all kept (issue: hardening)."""

from __future__ import annotations

import threading

import pytest

from posai_app.extensions import db
from posai_app.models import Shop
from tests.admin.shopdata import CATALOG

PRODUCT_IDS = sorted({pid for pid, *_ in CATALOG.values()})


@pytest.mark.parametrize("value", ["²", "٣", "9223372036854775808", "99999999999999999999"])
def test_unicode_digits_and_out_of_range_ids_are_422(client, stocked_shop, hx, value):
    for path, data in (
        ("/app/settings/exclusions", {"product_id": value}),
        ("/app/settings/exclusions/remove", {"product_id": value}),
        ("/app/preview", {"add": value}),
        ("/app/preview", {"variant_id": value}),
    ):
        response = client.post(path, data=data, headers=hx(stocked_shop))
        assert response.status_code == 422, (path, value, response.status_code)


def test_concurrent_exclusions_are_all_stored(app, stocked_shop, hx):
    headers = hx(stocked_shop)
    start = threading.Barrier(len(PRODUCT_IDS))
    statuses: list[int] = []

    def exclude(product_id: int) -> None:
        client = app.test_client()
        start.wait()
        response = client.post("/app/settings/exclusions", data={"product_id": product_id}, headers=headers)
        statuses.append(response.status_code)

    threads = [threading.Thread(target=exclude, args=(pid,)) for pid in PRODUCT_IDS]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert statuses == [200] * len(PRODUCT_IDS)
    with app.app_context():
        stored = db.session.get(Shop, stocked_shop.id).settings["excluded_product_ids"]
    assert sorted(stored) == PRODUCT_IDS
