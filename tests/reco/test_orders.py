from __future__ import annotations

import gzip
from datetime import datetime

import pytest

from posai_app.reco import Order, OrdersFileError, load_orders_csv
from posai_app.reco.orders import baskets_by_time, split_point
from posai_app.reco.stats import History

HEADER = "order_id,created_at,variant_id,product_title,price,quantity\n"


def write(tmp_path, text: str, name: str = "orders.csv"):
    path = tmp_path / name
    if name.endswith(".gz"):
        with gzip.open(path, "wt") as f:
            f.write(text)
    else:
        path.write_text(text)
    return path


def test_rows_group_into_orders_with_distinct_items_in_line_order(tmp_path):
    path = write(
        tmp_path,
        HEADER + "1,2024-01-02T10:00:00,B,b,1,1\n1,2024-01-02T10:00:00,A,a,1,1\n"
        "2,2024-01-01T09:00:00,A,a,1,1\n1,2024-01-02T10:00:00,B,b,1,2\n2,2024-01-01T09:00:00,,x,1,1\n",
        "orders.csv.gz",
    )
    orders = load_orders_csv(path)
    assert orders == [
        Order("1", datetime(2024, 1, 2, 10), ["B", "A"]),
        Order("2", datetime(2024, 1, 1, 9), ["A"]),
    ]


def test_offsets_are_converted_to_utc(tmp_path):
    path = write(tmp_path, HEADER + "1,2024-01-02T10:00:00+02:00,A,a,1,1\n")
    assert load_orders_csv(path)[0].created_at == datetime(2024, 1, 2, 8)


def test_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(OrdersFileError, match="no such file"):
        load_orders_csv(tmp_path / "nope.csv")


def test_wrong_header_is_a_clear_error(tmp_path):
    path = write(tmp_path, "id,when,sku\n1,2024-01-01,A\n")
    with pytest.raises(OrdersFileError, match="wrong header"):
        load_orders_csv(path)


def test_unparsable_date_names_the_order(tmp_path):
    path = write(tmp_path, HEADER + "7,yesterday,A,a,1,1\n")
    with pytest.raises(OrdersFileError, match="order 7: unparsable created_at 'yesterday'"):
        load_orders_csv(path)


def test_sort_is_stable_and_empty_orders_are_dropped():
    orders = [
        Order("a", "2024-01-02T00:00:00", ["1", "2"]),
        Order("b", "2024-01-01T00:00:00", ["3"]),
        Order("c", "2024-01-02T00:00:00", ["4", "4", "5"]),
        Order("d", "2024-01-01T00:00:00", []),
        Order("e", datetime(2024, 1, 1, 12), [6, ""]),
    ]
    baskets, _ = baskets_by_time(orders)
    assert baskets == [["3"], [6], ["1", "2"], ["4", "5"]]
    history = History.from_orders(orders)  # ids become strings inside the engine
    assert [history.ids[i] for i in history.indices] == ["3", "6", "1", "2", "4", "5"]
    assert history.lengths.tolist() == [1, 1, 2, 2]


def test_time_keys_agree_for_strings_datetimes_and_offsets():
    from posai_app.reco.orders import time_key, time_keys

    texts = ["2024-01-02T10:00:00", "2024-01-02 10:00:00.5", "2024-01-02T12:00:00+02:00"]
    assert time_keys(texts) == [time_key(t) for t in texts]
    assert time_keys(texts[:2]) == [time_key(t) for t in texts[:2]]
    moments = [datetime(2024, 1, 2, 10), datetime(2024, 1, 2, 10, 0, 0, 500000)]
    assert time_keys(moments) == time_keys(texts[:2])
    assert time_keys(texts)[0] == time_keys(texts)[2]


def test_split_point_is_floor_of_80_percent():
    assert [split_point(n) for n in (0, 1, 4, 5, 7, 10, 11)] == [0, 0, 3, 4, 5, 8, 8]
