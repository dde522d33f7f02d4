"""The engine commands: output shapes and clean errors."""

from __future__ import annotations

import json
import os
from pathlib import Path

from click.testing import CliRunner

from posai_app.reco.cli import evaluate, recommend_batch

HEADER = "order_id,created_at,variant_id,product_title,price,quantity\n"
SLICE = Path(__file__).resolve().parents[1] / "data" / "online_retail_3000.csv.gz"


def orders_file(tmp_path) -> Path:
    rows = []
    baskets = [["A", "B", "C"], ["A", "B"], ["B", "C"], ["A", "D"], ["C"], ["A", "C", "B"], ["D", "A"]]
    for i, basket in enumerate(baskets):
        rows += [f"{i},2024-01-0{i + 1}T10:00:00,{v},t,1,1\n" for v in basket]
    path = tmp_path / "orders.csv"
    path.write_text(HEADER + "".join(rows))
    return path


def test_evaluate_json_has_exactly_the_documented_keys(tmp_path):
    result = CliRunner().invoke(evaluate, [str(orders_file(tmp_path)), "--json", "--quiet"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert list(out) == ["k", "trainOrders", "evaluatedOrders", "results", "best"]
    assert "popularity" in out["results"]


def test_evaluate_table_and_progress_on_stderr():
    result = CliRunner().invoke(evaluate, [str(SLICE), "--k", "3"])
    assert result.exit_code == 0
    assert "HitRate@3" in result.stdout and "best:" in result.stdout
    assert "evaluating" in result.stderr


def test_missing_file(tmp_path):
    result = CliRunner().invoke(evaluate, [str(tmp_path / "nope.csv")])
    assert result.exit_code != 0
    assert "no such file" in result.stderr and "Traceback" not in result.output + result.stderr


def test_wrong_header(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("id,when\n1,2\n")
    result = CliRunner().invoke(evaluate, [str(path)])
    assert result.exit_code != 0 and "wrong header" in result.stderr
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_bad_date(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text(HEADER + "1,not-a-date,A,t,1,1\n")
    carts = tmp_path / "carts.jsonl"
    carts.write_text('{"cart": ["A"]}\n')
    result = CliRunner().invoke(recommend_batch, [str(path), str(carts)])
    assert result.exit_code != 0 and "unparsable created_at" in result.stderr
    assert isinstance(result.exception, SystemExit)


def test_recommend_batch_answers_each_line_in_order(tmp_path):
    carts = tmp_path / "carts.jsonl"
    carts.write_text('{"cart": ["A"]}\n{"cart": ["nope"]}\n\n{"cart": [1, "C"]}\n')
    result = CliRunner().invoke(recommend_batch, [str(orders_file(tmp_path)), str(carts), "--quiet"])
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [line["cart"] for line in lines] == [["A"], ["nope"], ["1", "C"]]
    assert all(len(line["recommendations"]) == 2 for line in lines)
    assert "A" not in lines[0]["recommendations"]


def test_recommend_batch_rejects_a_bad_line(tmp_path):
    carts = tmp_path / "carts.jsonl"
    carts.write_text('{"cart": ["A"]}\n{"items": ["A"]}\n')
    result = CliRunner().invoke(recommend_batch, [str(orders_file(tmp_path)), str(carts)])
    assert result.exit_code != 0 and "line 2" in result.stderr


def test_evaluate_asks_for_no_blas_threads_unless_told(tmp_path, monkeypatch):
    path = str(orders_file(tmp_path))
    monkeypatch.delenv("OPENBLAS_NUM_THREADS", raising=False)
    assert CliRunner().invoke(evaluate, [path, "--quiet", "--tuned"]).exit_code == 0
    assert "OPENBLAS_NUM_THREADS" not in os.environ  # training's factorisations keep the pool
    assert CliRunner().invoke(evaluate, [path, "--quiet"]).exit_code == 0
    assert os.environ["OPENBLAS_NUM_THREADS"] == "1"
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "3")
    assert CliRunner().invoke(evaluate, [path, "--quiet"]).exit_code == 0
    assert os.environ["OPENBLAS_NUM_THREADS"] == "3"
