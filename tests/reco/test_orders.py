from __future__ import annotations

import gzip
from datetime import datetime
from pathlib import Path

import pytest

from posai_app.reco import Order, OrdersFileError, load_orders_csv
from posai_app.reco.orders import baskets_by_time, parse_time, split_point, time_key
from posai_app.reco.stats import History
from tests.reco import seed_reference

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
    baskets, _, has_times = baskets_by_time(orders)
    assert baskets == [["3"], [6], ["1", "2"], ["4", "5"]] and has_times
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


QUOTED = (
    HEADER + '1,2024-01-02T10:00:00,B,"Mug, large",1,1\r\n'
    '1,2024-01-02T10:00:00,A,"Two\nlines",1,1\r\n'
    "2,2024-01-01T09:00:00,A,a,1,1\r\n"
)


@pytest.mark.parametrize(
    "text",
    [
        QUOTED,  # quotes, commas and a line break inside titles: the csv module's path
        QUOTED.replace('"Mug, large"', "Mug").replace('"Two\nlines"', "Two"),  # CRLF, no quotes: split path
    ],
)
def test_quoted_titles_and_crlf_read_like_the_csv_module(tmp_path, text):
    orders = load_orders_csv(write(tmp_path, text))
    assert [(o.order_id, o.variant_ids) for o in orders] == [("1", ["B", "A"]), ("2", ["A"])]


def test_a_short_row_names_its_line(tmp_path):
    path = write(tmp_path, HEADER + "1,2024-01-02T10:00:00,A,a,1,1\n\n2,2024-01-02\n")
    with pytest.raises(OrdersFileError, match="line 4: expected 6 columns"):
        load_orders_csv(path)


@pytest.mark.parametrize("value", ["NaT", "yesterday", "2024-13-01T00:00:00", "31/31/2024", "1/2/24"])
def test_history_from_csv_refuses_what_is_not_a_time_naming_the_line(tmp_path, value):
    path = write(tmp_path, HEADER + f"1,2024-01-02T10:00:00,A,a,1,1\n7,{value},B,b,1,1\n7,{value},C,c,1,1\n")
    with pytest.raises(OrdersFileError, match=f"line 3: order 7: unparsable created_at '{value}'"):
        History.from_csv(str(path))
    with pytest.raises(OrdersFileError, match=f"line 3: order 7: unparsable created_at '{value}'"):
        load_orders_csv(path)


def test_history_from_csv_equals_history_from_orders(tmp_path):
    path = write(
        tmp_path,
        HEADER + "1,2024-01-02T10:00:00,B,b,1,1\n1,2024-01-02T10:00:00,A,a,1,1\n"
        "2,2024-01-01T09:00:00+01:00,A,a,1,1\n3,2024-01-02T10:00:00,C,c,1,1\n"
        "3,2024-01-02T10:00:00,B,b,1,1\n4,2024-01-01T00:00:00,,gift,1,1\n",
        "orders.csv.gz",
    )
    direct, via_orders = History.from_csv(str(path)), History.from_orders(load_orders_csv(path))
    assert direct.ids == via_orders.ids == ["A", "B", "C"]
    assert direct.indices.tolist() == via_orders.indices.tolist()
    assert direct.indptr.tolist() == via_orders.indptr.tolist()
    assert direct.times.tolist() == via_orders.times.tolist()


# One instant, 2010-12-01 08:26 UTC, as merchants' exports spell it.
SPELLINGS = [
    "2010-12-01T08:26:00",
    "2010-12-01 08:26:00 +0000",
    "2010-12-01 03:26:00 -0500",
    "2010-12-01T03:26:00-05:00",
    "2010-12-01T08:26:00.000Z",
    "2010-12-01 08:26",
    "2010-12-01 8:26",
    "2010-12-01 08:26:00 UTC",
    "12/1/2010 8:26",
    "12/01/2010 08:26:00 AM",
    "01.12.2010 08:26",
]


@pytest.mark.parametrize("value", SPELLINGS)
def test_export_spellings_read_as_the_same_instant(tmp_path, value):
    path = write(tmp_path, HEADER + f"1,{value},A,a,1,1\n1,{value},B,b,1,1\n2,2010-12-01T08:25:00,C,c,1,1\n")
    history = History.from_csv(str(path))
    assert history.times.tolist() == [time_key("2010-12-01T08:25:00"), time_key("2010-12-01T08:26:00")]
    assert history.has_times
    assert load_orders_csv(path)[0].created_at == datetime(2010, 12, 1, 8, 26)


def test_afternoon_and_midnight_in_twelve_hour_spelling():
    assert parse_time("12/1/2010 1:05 PM") == datetime(2010, 12, 1, 13, 5)
    assert parse_time("12/1/2010 12:05 am") == datetime(2010, 12, 1, 0, 5)


def test_slashed_dates_are_month_first_unless_a_first_number_exceeds_12(tmp_path):
    us = write(tmp_path, HEADER + "1,3/4/2024 10:00,A,a,1,1\n2,12/25/2024 10:00,B,b,1,1\n", "us.csv")
    assert [o.created_at for o in load_orders_csv(us)] == [
        datetime(2024, 3, 4, 10),
        datetime(2024, 12, 25, 10),
    ]
    eu = write(tmp_path, HEADER + "1,3/4/2024 10:00,A,a,1,1\n2,25/12/2024 10:00,B,b,1,1\n", "eu.csv")
    assert [o.created_at for o in load_orders_csv(eu)] == [
        datetime(2024, 4, 3, 10),
        datetime(2024, 12, 25, 10),
    ]


def test_a_file_mixing_day_first_and_month_first_is_refused_naming_the_line(tmp_path):
    path = write(tmp_path, HEADER + "1,25/12/2024 10:00,A,a,1,1\n2,3/4/2024,B,b,1,1\n3,12/26/2024,C,c,1,1\n")
    with pytest.raises(OrdersFileError, match=r"line 4: order 3: .*contradicts '25/12/2024 10:00'"):
        History.from_csv(str(path))


def test_a_file_without_times_keeps_file_order_and_says_so(tmp_path):
    path = write(tmp_path, HEADER + "9,,C,c,1,1\n9,,A,a,1,1\n3,,B,b,1,1\n5, ,A,a,1,1\n")
    history = History.from_csv(str(path))
    assert [history.ids[i] for i in history.indices] == ["C", "A", "B", "A"]
    assert history.times.tolist() == [0, 0, 0] and not history.has_times
    assert [o.created_at for o in load_orders_csv(path)] == [None, None, None]
    assert not History.from_orders(load_orders_csv(path)).has_times


def test_orders_without_a_time_sort_first_in_file_order_as_the_reference_does(tmp_path):
    rows = [
        ("1", "2024-01-03T00:00:00", "A"),
        ("2", "", "B"),
        ("3", "2024-01-01T00:00:00", "C"),
        ("4", "", "D"),
        ("5", "2024-01-02T00:00:00", "E"),
    ]
    path = write(tmp_path, HEADER + "".join(f"{o},{t},{v},x,1,1\n" for o, t, v in rows))
    history = History.from_csv(str(path))
    reference = [
        items for _, _, items in seed_reference.split_by_time(seed_reference.load(str(path)), 1.0)[0]
    ]
    assert [[history.ids[i]] for i in history.indices] == reference == [["B"], ["D"], ["C"], ["E"], ["A"]]
    assert history.has_times
    times = history.times.tolist()
    assert times == sorted(times) and times[0] == times[1] == time_key("2024-01-01T00:00:00") - 1
    via_orders = History.from_orders(load_orders_csv(path))
    assert via_orders.indices.tolist() == history.indices.tolist() and via_orders.times.tolist() == times


def test_the_cli_reads_a_file_without_times_and_names_a_bad_line(tmp_path):
    from click.testing import CliRunner

    from posai_app.reco.cli import evaluate as evaluate_command

    rows = "".join(f"{n},,{n % 5},x,1,1\n{n},,{(n + 1) % 5},x,1,1\n" for n in range(40))
    good = write(tmp_path, HEADER + rows, "good.csv")
    done = CliRunner().invoke(evaluate_command, [str(good), "--quiet"])
    assert done.exit_code == 0 and "trained on 32 orders" in done.output
    bad = write(tmp_path, HEADER + rows + "77,soon,A,a,1,1\n", "bad.csv")
    done = CliRunner().invoke(evaluate_command, [str(bad), "--quiet"])
    assert done.exit_code == 1 and done.exception.__class__ is SystemExit
    assert "line 82: order 77: unparsable created_at 'soon'" in done.output


def test_a_real_slice_respelled_as_a_us_spreadsheet_reads_identically(tmp_path):
    """The first 3,000 Online Retail orders, created_at spelled 12/1/2010 8:26 as in the original export."""
    source = Path(__file__).resolve().parents[1] / "data" / "online_retail_3000.csv.gz"
    lines = gzip.decompress(source.read_bytes()).decode().splitlines(keepends=True)
    respelled = [lines[0]]
    for text in lines[1:]:
        fields = text.split(",")
        moment = datetime.fromisoformat(fields[1])
        fields[1] = f"{moment.month}/{moment.day}/{moment.year} {moment.hour}:{moment.minute:02d}"
        respelled.append(",".join(fields))
    iso, us = History.from_csv(str(source)), History.from_csv(str(write(tmp_path, "".join(respelled))))
    assert us.ids == iso.ids and us.indices.tolist() == iso.indices.tolist()
    assert us.times.tolist() == iso.times.tolist() and us.n_orders > 2_900
