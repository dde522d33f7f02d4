"""An index's rows for people (its most co-purchased pairs, per-variant stats): written inside the
publish transaction, read by the admin page (`top_pairs`).

On PostgreSQL they go in as binary COPY built from the index's arrays (no Python object per
row; a whole index of a 50,000-variant shop would be 2.5 million rows); other databases get
batched INSERTs. Either way the rows go through the session's connection, so they commit or
roll back with the rest of the publish.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import aliased

from posai_app.cache_signals import shop_cache
from posai_app.extensions import db
from posai_app.ingest import catalog
from posai_app.models import ProductVariant, VariantNeighbor, VariantStat
from posai_app.tenancy import of_shop, select_for_shop

INSERT_BATCH = 5_000
# PostgreSQL's binary COPY framing (also used by bench/train_end_to_end.py to load shops).
COPY_HEADER = b"PGCOPY\n\xff\r\n\x00" + bytes(8)  # signature, no flags, no header extension
COPY_TRAILER = b"\xff\xff"
_COPY_CHUNK = 500_000  # rows per write


def insert_neighbors(shop_id: int, index, top: int | None = None) -> None:
    """The index's neighbour rows (source, target, co-count, score) for this shop; with `top`, only
    the `top` most co-purchased (co-count desc, score desc, then source and target ids)."""
    import numpy as np

    ids = np.fromiter(map(int, index.ids), dtype=np.int64, count=len(index.ids))
    sources = np.repeat(ids, np.diff(index.indptr))
    targets = ids[index.targets]
    co_counts, scores = np.asarray(index.co_counts), np.asarray(index.scores)
    if top is not None:
        best = np.lexsort((targets, sources, -scores, -co_counts))[:top]
        sources, targets, co_counts, scores = sources[best], targets[best], co_counts[best], scores[best]
    if not _is_postgresql():
        _insert_batched(
            VariantNeighbor,
            (
                {
                    "shop_id": shop_id,
                    "source_variant_id": a,
                    "target_variant_id": b,
                    "co_count": co,
                    "score": score,
                }
                for a, b, co, score in zip(
                    sources.tolist(), targets.tolist(), co_counts.tolist(), scores.tolist(), strict=True
                )
            ),
        )
        return
    # In primary-key order, so each row lands on the btree's rightmost page (several times faster).
    by_key = np.lexsort((targets, sources))
    sources, targets = sources[by_key], targets[by_key]
    co_counts, scores = co_counts[by_key], scores[by_key]
    fields = [("n", ">i2"), ("l_shop", ">i4"), ("shop", ">i4"), ("l_source", ">i4"), ("source", ">i8")]
    fields += [("l_target", ">i4"), ("target", ">i8"), ("l_co", ">i4"), ("co", ">i4")]
    fields += [("l_score", ">i4"), ("score", ">f8")]
    row = np.dtype(fields)
    statement = (
        "COPY variant_neighbors (shop_id, source_variant_id, target_variant_id, co_count, score) "
        "FROM STDIN (FORMAT BINARY)"
    )
    with _cursor() as cursor, cursor.copy(statement) as copy:
        copy.write(COPY_HEADER)
        for start in range(0, len(sources), _COPY_CHUNK):
            stop = min(start + _COPY_CHUNK, len(sources))
            rows = np.empty(stop - start, dtype=row)
            rows["n"] = 5
            rows["l_shop"], rows["shop"] = 4, shop_id
            rows["l_source"], rows["source"] = 8, sources[start:stop]
            rows["l_target"], rows["target"] = 8, targets[start:stop]
            rows["l_co"], rows["co"] = 4, co_counts[start:stop]
            rows["l_score"], rows["score"] = 8, scores[start:stop]
            copy.write(rows.tobytes())
        copy.write(COPY_TRAILER)


def insert_stats(shop_id: int, counts: Mapping[str, int], recent: Mapping[str, int]) -> None:
    """Per-variant order counts and recent (bestseller) counts for this shop."""
    rows = ((shop_id, int(vid), int(count), int(recent.get(vid, 0))) for vid, count in counts.items())
    if not _is_postgresql():
        names = ("shop_id", "variant_id", "order_count", "recent_order_count")
        _insert_batched(VariantStat, (dict(zip(names, r, strict=True)) for r in rows))
        return
    statement = "COPY variant_stats (shop_id, variant_id, order_count, recent_order_count) FROM STDIN"
    with _cursor() as cursor, cursor.copy(statement) as copy:
        for r in rows:
            copy.write_row(r)


def _is_postgresql() -> bool:
    return db.session.get_bind().dialect.name == "postgresql"


def _cursor():
    """A DB-API cursor on the session's connection (its transaction)."""
    return db.session.connection().connection.dbapi_connection.cursor()


def _insert_batched(model, rows: Iterable[dict]) -> None:
    batch: list[dict] = []
    for row in rows:
        batch.append(row)
        if len(batch) >= INSERT_BATCH:
            db.session.execute(sa.insert(model), batch)
            batch = []
    if batch:
        db.session.execute(sa.insert(model), batch)


MAX_CACHED_SHOPS = 256


def top_pairs(shop_id: int, limit: int = 10) -> list[dict[str, Any]]:
    """The most co-purchased pairs of the serving index, each unordered pair once, with titles."""
    # The index only changes when a training publishes, which raises the "model" signal.
    cache = shop_cache("admin-top-pairs", "model", MAX_CACHED_SHOPS)
    cached = cache.get_or_load(shop_id, lambda _previous: {})
    if limit not in cached:
        token, current, loaded_at = cache.peek(shop_id)
        current = dict(current if current is not None else cached)
        current[limit] = _top_pairs(shop_id, limit)
        cache.put(shop_id, token, current, loaded_at)
        return current[limit]
    return cached[limit]


def _top_pairs(shop_id: int, limit: int) -> list[dict[str, Any]]:
    # Pick the top rows first, then join titles to those few (not to the whole index).
    top = (
        select_for_shop(VariantNeighbor, shop_id)
        .with_only_columns(
            VariantNeighbor.source_variant_id,
            VariantNeighbor.target_variant_id,
            VariantNeighbor.co_count,
            VariantNeighbor.score,
        )
        .order_by(
            VariantNeighbor.co_count.desc(),
            VariantNeighbor.score.desc(),
            VariantNeighbor.source_variant_id,
            VariantNeighbor.target_variant_id,
        )
        .limit(limit * 4)
        .subquery()
    )
    source = aliased(ProductVariant)
    target = aliased(ProductVariant)
    rows = db.session.execute(
        sa.select(
            top.c.source_variant_id,
            top.c.target_variant_id,
            top.c.co_count,
            top.c.score,
            source.product_title,
            source.variant_title,
            target.product_title,
            target.variant_title,
        )
        .select_from(top)
        .outerjoin(source, sa.and_(of_shop(source, shop_id), source.variant_id == top.c.source_variant_id))
        .outerjoin(target, sa.and_(of_shop(target, shop_id), target.variant_id == top.c.target_variant_id))
        .order_by(top.c.co_count.desc(), top.c.score.desc(), top.c.source_variant_id, top.c.target_variant_id)
    ).all()
    seen: set[frozenset[int]] = set()
    pairs = []
    for src, dst, co, score, s_title, s_variant, t_title, t_variant in rows:
        key = frozenset((src, dst))
        if key in seen:
            continue
        seen.add(key)
        pairs.append(
            {
                "a": catalog.variant_label(s_title, s_variant, src),
                "b": catalog.variant_label(t_title, t_variant, dst),
                "a_variant_id": src,
                "b_variant_id": dst,
                "co_count": co,
                "score": score,
            }
        )
        if len(pairs) == limit:
            break
    return pairs
