"""The CLI's CSV reader in a forked child: same History as in-process, errors and failures handled.

The forking cases run in a fresh interpreter: the reader (rightly) refuses to fork a process
with other threads, and the test process may have some.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from posai_app.reco.forked_reader import ForkedCsvReader
from posai_app.reco.orders import OrdersFileError
from posai_app.reco.stats import History

ROOT = Path(__file__).resolve().parents[2]
HEADER = "order_id,created_at,variant_id,product_title,price,quantity\n"
ROWS = (
    "1,2024-01-02T10:00:00,B,b,1,1\n1,2024-01-02T10:00:00,A,a,1,1\n2,2024-01-01T09:00:00,A,a,1,1\n"
    "3,2024-01-03T10:00:00,C,c,1,1\n3,2024-01-03T10:00:00,B,b,1,1\n4,2024-01-01T00:00:00,,gift,1,1\n"
)
SCRIPT = textwrap.dedent(
    """
    import json, sys
    from posai_app.reco import forked_reader
    from posai_app.reco.orders import OrdersFileError
    from posai_app.reco.stats import History

    path, crash = sys.argv[1], sys.argv[2] == "crash"
    if crash:
        def fail(_fd, _path):
            raise MemoryError("the child ran out of memory")
        forked_reader._write_parts = fail  # the forked child inherits this
    reader = forked_reader.ForkedCsvReader(path, min_bytes=0)
    forked = reader.pid is not None
    try:
        h = reader.result(History.from_parts)
    except OrdersFileError as exc:
        print(json.dumps({"forked": forked, "error": exc.message}))
        sys.exit(0)
    direct = History.from_csv(path)
    same = all(
        getattr(h, a).tolist() == getattr(direct, a).tolist() for a in ("indices", "indptr", "times")
    ) and h.ids == direct.ids
    print(json.dumps({"forked": forked, "same": same, "ids": h.ids}))
    """
)


def read_in_child(path: Path, crash: bool = False) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(path), "crash" if crash else "ok"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=True,
    )
    return json.loads(done.stdout)


def test_the_child_reads_the_same_history_as_the_process(tmp_path):
    path = tmp_path / "orders.csv"
    path.write_text(HEADER + ROWS)
    assert read_in_child(path) == {"forked": True, "same": True, "ids": ["A", "B", "C"]}


def test_a_bad_file_is_reported_from_the_child(tmp_path):
    path = tmp_path / "orders.csv"
    path.write_text(HEADER + ROWS + "9,last tuesday,A,a,1,1\n")
    got = read_in_child(path)
    assert got["forked"] and "order 9: unparsable created_at 'last tuesday'" in got["error"]


def test_a_failing_child_falls_back_to_reading_in_the_process(tmp_path):
    path = tmp_path / "orders.csv"
    path.write_text(HEADER + ROWS)
    assert read_in_child(path, crash=True) == {"forked": True, "same": True, "ids": ["A", "B", "C"]}


def test_small_or_missing_files_are_read_in_the_process(tmp_path):
    path = tmp_path / "orders.csv"
    path.write_text(HEADER + ROWS)
    assert ForkedCsvReader(str(path)).pid is None  # under MIN_BYTES: not worth a fork
    missing = ForkedCsvReader(str(tmp_path / "nope.csv"), min_bytes=0)
    assert missing.pid is None
    with pytest.raises(OrdersFileError, match="no such file"):
        missing.result(History.from_parts)
