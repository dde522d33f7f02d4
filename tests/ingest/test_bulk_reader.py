"""The bulk JSONL reader joins children to parents wherever they are in the file.

The files are hand-made in the shapes `groupObjects: false` (the default from Admin API
2026-01) may produce: a child comes after its parent, but anywhere after it.
"""

from __future__ import annotations

import json
import logging
import tracemalloc

from posai_app.shopify import bulk


def _join(objects: list[dict], **kwargs) -> list[tuple[str, list[str]]]:
    lines = [json.dumps(obj) for obj in objects]
    return [
        (group.parent["id"], [child["id"] for child in group.children])
        for group in bulk.join_children(bulk.iter_jsonl(lines), **kwargs)
    ]


def _child(child_id: str, parent_id: str) -> dict:
    return {"id": child_id, "__parentId": parent_id}


def test_children_listed_before_the_next_parent_join_their_own():
    objects = [{"id": "P1"}, _child("C1", "P1"), _child("C2", "P1"), {"id": "P2"}, _child("C3", "P2")]
    assert _join(objects) == [("P1", ["C1", "C2"]), ("P2", ["C3"])]


def test_a_child_many_parents_later_joins_its_parent():
    objects = [{"id": "P0"}] + [{"id": f"P{n}"} for n in range(1, 200)] + [_child("C0", "P0")]
    groups = _join(objects)
    assert groups[0] == ("P0", ["C0"])
    assert [parent for parent, _ in groups] == [f"P{n}" for n in range(200)]
    assert all(children == [] for _, children in groups[1:])


def test_children_at_the_end_of_the_file_join_in_file_order():
    parents = [{"id": f"P{n}"} for n in range(100)]
    children = [_child(f"C{n}-{k}", f"P{n}") for k in range(3) for n in reversed(range(100))]
    groups = _join(parents + children)
    assert groups == [(f"P{n}", [f"C{n}-0", f"C{n}-1", f"C{n}-2"]) for n in range(100)]


def test_interleaved_children_of_several_parents_all_join():
    objects = [
        {"id": "P1"},
        {"id": "P2"},
        _child("C2a", "P2"),
        _child("C1a", "P1"),
        {"id": "P3"},
        _child("C1b", "P1"),
        _child("C3a", "P3"),
        _child("C2b", "P2"),
    ]
    assert _join(objects) == [("P1", ["C1a", "C1b"]), ("P2", ["C2a", "C2b"]), ("P3", ["C3a"])]


def test_a_parent_without_children_is_still_yielded():
    objects = [{"id": "P1"}, {"id": "P2"}, _child("C1", "P1"), {"id": "P3"}]
    assert _join(objects) == [("P1", ["C1"]), ("P2", []), ("P3", [])]


def test_a_child_of_an_unknown_parent_is_counted_and_logged_not_joined(caplog):
    orphans: list[dict] = []
    objects = [{"id": "P1"}, _child("C1", "P1"), _child("X1", "P9"), _child("Y1", "X9"), {"id": "P2"}]
    with caplog.at_level(logging.WARNING, logger="posai_app.shopify.bulk"):
        assert _join(objects, on_orphan=orphans.append) == [("P1", ["C1"]), ("P2", [])]
    assert [orphan["id"] for orphan in orphans] == ["X1", "Y1"]
    assert "skipped 2 of 5 lines" in caplog.text


def _shape(objects: list[dict]) -> list[tuple[str, list[tuple[str, list[str]]]]]:
    groups = bulk.join_children(bulk.iter_jsonl([json.dumps(o) for o in objects]))
    return [
        (g.parent["id"], [(c["id"], [x["id"] for x in c.get("__children", [])]) for c in g.children])
        for g in groups
    ]


def test_grandchildren_join_their_child_wherever_they_are():
    """products > variants > inventory levels: a level's __parentId is its variant."""
    objects = [
        {"id": "P1"},
        _child("V1", "P1"),
        {"id": "P2"},
        _child("L1b", "V1"),
        _child("V2", "P2"),
        _child("V3", "P1"),
        _child("L2a", "V2"),
        {"id": "P3"},
        _child("L1a", "V1"),
    ]
    assert _shape(objects) == [
        ("P1", [("V1", ["L1b", "L1a"]), ("V3", [])]),
        ("P2", [("V2", ["L2a"])]),
        ("P3", []),
    ]
    (first, *_) = bulk.join_children(bulk.iter_jsonl([json.dumps(o) for o in objects]))
    assert "__parentId" not in first.children[0]["__children"][0]


def test_a_grandchild_naming_an_object_embedded_in_its_child_joins_that_child(caplog):
    """inventory item parent: a level whose __parentId is the variant's inventoryItem, not the
    variant, still joins the variant (Shopify's docs leave open which of the two it names)."""
    variant = {"id": "V1", "inventoryItem": {"id": "I1", "tracked": True}, "__parentId": "P1"}
    objects = [
        {"id": "P1"},
        variant,
        {"id": "P2"},
        _child("L1a", "I1"),
        _child("V2", "P2"),
        _child("L2a", "V2"),  # the other form in the same file
        _child("L1b", "I1"),
    ]
    with caplog.at_level(logging.WARNING, logger="posai_app.shopify.bulk"):
        assert _shape(objects) == [("P1", [("V1", ["L1a", "L1b"])]), ("P2", [("V2", ["L2a"])])]
    assert "skipped" not in caplog.text


def test_an_id_embedded_in_several_children_joins_none_of_them():
    """Line items embed their variant: a line naming that variant is not guessed into one."""
    objects = [
        {"id": "O1"},
        {"id": "LI1", "variant": {"id": "V1"}, "__parentId": "O1"},
        {"id": "LI2", "variant": {"id": "V1"}, "__parentId": "O1"},
        _child("X1", "V1"),
    ]
    orphans: list[dict] = []
    groups = bulk.join_children(bulk.iter_jsonl([json.dumps(o) for o in objects]), on_orphan=orphans.append)
    assert [(g.parent["id"], [c["id"] for c in g.children]) for g in groups] == [("O1", ["LI1", "LI2"])]
    assert [orphan["id"] for orphan in orphans] == ["X1"]


def test_a_spool_of_the_earlier_format_is_read_again(tmp_path):
    path = str(tmp_path / "old.sqlite3")
    spool = bulk.Spool(path)
    spool.write([json.dumps({"id": "P1"})])
    spool.finish()
    spool._set_meta(format=1)
    spool._db.commit()
    spool.close()
    assert bulk.Spool.open_complete(path) is None


def test_children_lose_the_parent_marker_and_keep_their_fields():
    objects = [{"id": "P1", "name": "#1001"}, {"id": "C1", "quantity": 2, "__parentId": "P1"}]
    (group,) = list(bulk.join_children(bulk.iter_jsonl([json.dumps(o) for o in objects])))
    assert group.parent == {"id": "P1", "name": "#1001"}
    assert group.children == [{"id": "C1", "quantity": 2}]


def test_spool_resumes_from_a_parent_position(tmp_path):
    spool = bulk.Spool.create(str(tmp_path))
    spool.write(
        json.dumps(obj)
        for obj in [{"id": "P0"}, {"id": "P1"}, _child("C0", "P0"), {"id": "P2"}, _child("C1", "P1")]
    )
    spool.finish()
    resumed = [(g.position, g.parent["id"], [c["id"] for c in g.children]) for g in spool.groups(1)]
    assert resumed == [(1, "P1", ["C1"]), (2, "P2", [])]
    spool.delete()
    assert list(tmp_path.iterdir()) == []


def test_spool_commits_progress_and_reopens_only_when_complete(tmp_path):
    seen: list[int] = []
    spool = bulk.Spool.create(str(tmp_path))
    spool.write(
        (json.dumps({"id": f"P{n}"}) for n in range(10)),
        progress_every=4,
        on_progress=seen.append,
    )
    spool.close()
    assert seen == [4, 8, 10]
    assert bulk.Spool.open_complete(spool.path) is None  # written but never finished
    spool = bulk.Spool(spool.path)
    spool.finish()
    spool.close()
    reopened = bulk.Spool.open_complete(spool.path)
    assert [g.parent["id"] for g in reopened.groups()] == [f"P{n}" for n in range(10)]
    reopened.delete()


def test_temporary_files_are_removed_when_the_reader_is_closed_early(tmp_path):
    lines = [json.dumps(o) for o in [{"id": "P1"}, {"id": "P2"}, _child("C1", "P1")]]
    groups = bulk.join_children(bulk.iter_jsonl(lines), directory=str(tmp_path))
    assert next(groups).parent["id"] == "P1"
    groups.close()
    assert list(tmp_path.iterdir()) == []


def test_python_memory_stays_flat_when_every_child_is_at_the_end(tmp_path):
    """No per-file structure of parents: a dict of these 10,000 orders alone takes about 8 MB."""
    parents = 10_000
    lines = (
        json.dumps({"id": f"gid://shopify/Order/{n}", "name": f"#{n}"})
        if n < parents
        else json.dumps({"id": f"L{n}", "__parentId": f"gid://shopify/Order/{n - parents}"})
        for n in range(2 * parents)
    )
    tracemalloc.start()
    try:
        joined = sum(
            len(g.children) for g in bulk.join_children(bulk.iter_jsonl(lines), directory=str(tmp_path))
        )
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert joined == parents
    assert peak < 2**20, f"peak {peak / 2**20:.1f} MB"
