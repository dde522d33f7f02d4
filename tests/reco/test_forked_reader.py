"""The CLI's CSV reader in a forked child: same History as in-process, errors and failures handled."""

from __future__ import annotations

import threading

import pytest

from posai_app.reco import forked_reader
from posai_app.reco.forked_reader import ForkedCsvReader
from posai_app.reco.orders import OrdersFileError
from posai_app.reco.stats import History

HEADER = "order_id,created_at,variant_id,product_title,price,quantity\n"
ROWS = (
    "1,2024-01-02T10:00:00,B,b,1,1\n1,2024-01-02T10:00:00,A,a,1,1\n2,2024-01-01T09:00:00,A,a,1,1\n"
    "3,2024-01-03T10:00:00,C,c,1,1\n3,2024-01-03T10:00:00,B,b,1,1\n4,2024-01-01T00:00:00,,gift,1,1\n"
)


@pytest.fixture
def forking():
    if threading.active_count() > 1:
        pytest.skip("other threads are running in this test process: the reader will not fork")


def same(a: History, b: History) -> bool:
    return (
        a.ids == b.ids
        and a.indices.tolist() == b.indices.tolist()
        and a.indptr.tolist() == b.indptr.tolist()
        and a.times.tolist() == b.times.tolist()
    )


def test_the_child_reads_the_same_history_as_the_process(tmp_path, forking):
    path = tmp_path / "orders.csv"
    path.write_text(HEADER + ROWS)
    reader = ForkedCsvReader(str(path), min_bytes=0)
    assert reader.pid is not None
    assert same(reader.result(History.from_parts), History.from_csv(str(path)))


def test_a_bad_file_is_reported_from_the_child(tmp_path, forking):
    path = tmp_path / "orders.csv"
    path.write_text(HEADER + ROWS + "9,last tuesday,A,a,1,1\n")
    reader = ForkedCsvReader(str(path), min_bytes=0)
    assert reader.pid is not None
    with pytest.raises(OrdersFileError, match="order 9: unparsable created_at 'last tuesday'"):
        reader.result(History.from_parts)


def test_a_failing_child_falls_back_to_reading_here(tmp_path, monkeypatch, forking):
    path = tmp_path / "orders.csv"
    path.write_text(HEADER + ROWS)

    def crash(_fd, _path):
        raise MemoryError("child ran out of memory")

    monkeypatch.setattr(forked_reader, "_write_parts", crash)  # the forked child inherits this
    reader = ForkedCsvReader(str(path), min_bytes=0)
    assert reader.pid is not None
    assert same(reader.result(History.from_parts), History.from_csv(str(path)))


def test_small_or_missing_files_are_read_here(tmp_path):
    path = tmp_path / "orders.csv"
    path.write_text(HEADER + ROWS)
    assert ForkedCsvReader(str(path)).pid is None  # under MIN_BYTES: not worth a fork
    missing = ForkedCsvReader(str(tmp_path / "nope.csv"), min_bytes=0)
    assert missing.pid is None
    with pytest.raises(OrdersFileError, match="no such file"):
        missing.result(History.from_parts)
