"""The index store: what publish writes is what load reads, in one object; people keep the top pairs."""

from __future__ import annotations

import numpy as np
import pytest
import sqlalchemy as sa

from posai_app.extensions import db
from posai_app.models import ServingIndexBlob, VariantNeighbor, VariantStat
from posai_app.reco import NeighborIndex
from posai_app.reco.serving import rank_bestsellers
from posai_app.serving import packed, store


def big_index(n_variants: int = 40, per_row: int = 12) -> tuple[NeighborIndex, list[tuple[str, int, int]]]:
    rng = np.random.default_rng(3)
    rows = [
        (
            str(9_007_199_254_740_993 + s),
            str(9_007_199_254_740_993 + t),
            int(rng.integers(1, 5)),
            float(rng.random()),
        )
        for s in range(n_variants)
        for t in rng.choice([t for t in range(n_variants) if t != s], size=per_row, replace=False).tolist()
    ]
    stats = [
        (str(9_007_199_254_740_993 + v), int(rng.integers(1, 50)), int(rng.integers(0, 9)))
        for v in range(n_variants)
    ]
    return NeighborIndex.from_rows(rows, {v: c for v, c, _ in stats}), stats


def test_save_then_load_gives_the_same_index_and_bestsellers_in_one_object(app_ctx, shop, other_shop):
    index, stats = big_index()
    store.save(shop.id, index, stats)
    db.session.commit()
    loaded = store.load(shop.id)
    assert loaded.index.ids == index.ids and loaded.index.counts == index.counts
    assert list(loaded.index.to_rows()) == list(index.to_rows())
    assert loaded.bestsellers == rank_bestsellers(stats)
    assert loaded.index.recommend([index.ids[3]], 5) == index.recommend([index.ids[3]], 5)
    assert store.load(other_shop.id).index is None and store.load(other_shop.id).bestsellers == ()
    blob = db.session.scalar(sa.select(ServingIndexBlob).where(ServingIndexBlob.shop_id == shop.id))
    assert (blob.format, blob.variants, blob.neighbors) == (packed.FORMAT, len(index), index.n_rows)


def test_people_keep_the_top_pairs_and_every_variants_stats(app_ctx, shop):
    index, stats = big_index()
    assert index.n_rows > store.PAIR_ROWS
    store.save(shop.id, index, stats)
    db.session.commit()
    pairs = db.session.execute(
        sa.select(
            VariantNeighbor.source_variant_id,
            VariantNeighbor.target_variant_id,
            VariantNeighbor.co_count,
            VariantNeighbor.score,
        ).where(VariantNeighbor.shop_id == shop.id)
    ).all()
    every = [(int(a), int(b), co, s) for a, b, co, s in index.to_rows()]
    assert sorted(map(tuple, pairs)) == sorted(sorted(every, key=lambda r: (-r[2], -r[3], r[0], r[1]))[:200])
    stored = db.session.execute(
        sa.select(VariantStat.variant_id, VariantStat.order_count, VariantStat.recent_order_count).where(
            VariantStat.shop_id == shop.id
        )
    ).all()
    assert sorted(map(tuple, stored)) == sorted((int(v), c, r) for v, c, r in stats)


def test_no_index_still_stores_the_bestsellers_and_a_new_save_replaces_the_old(app_ctx, shop):
    index, stats = big_index()
    store.save(shop.id, index, stats)
    store.save(shop.id, None, [("21", 4, 4), ("22", 1, 0)])
    db.session.commit()
    loaded = store.load(shop.id)
    assert loaded.index is None and loaded.bestsellers == (("21", 4.0),)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(VariantNeighbor)) == 0
    assert db.session.scalar(sa.select(sa.func.count()).select_from(ServingIndexBlob)) == 1


def test_an_unknown_format_is_refused_not_misread():
    import io

    buffer = io.BytesIO()
    np.savez_compressed(buffer, format=np.int64(packed.FORMAT + 1))
    with pytest.raises(packed.UnknownFormat):
        packed.unpack(buffer.getvalue())


def test_the_cart_decay_travels_with_the_index_and_old_payloads_read_as_no_decay():
    import io
    import zipfile

    index, stats = big_index()
    index.cart_decay = 0.25
    loaded, _ = packed.unpack(packed.pack(index, rank_bestsellers(stats)))
    assert loaded.cart_decay == 0.25
    cart = [index.ids[3], index.ids[7]]
    assert loaded.recommend(cart, 5) == index.recommend(cart, 5)
    # A payload written before the member existed: every cart item counts fully.
    old = io.BytesIO()
    with (
        zipfile.ZipFile(io.BytesIO(packed.pack(index, ())), "r") as source,
        zipfile.ZipFile(old, "w") as target,
    ):
        for name in source.namelist():
            if name != "cart_decay.npy":
                target.writestr(name, source.read(name))
    assert packed.unpack(old.getvalue())[0].cart_decay == 1.0


def test_only_members_that_deflate_to_half_are_deflated_and_older_payloads_read_the_same():
    """Float scores barely compress and inflating them was most of a load: they are stored; ids,
    counts and co-purchase counts are deflated. A payload deflated
    throughout (as written before) reads as the same index, and packing is deterministic."""
    import io
    import zipfile

    index, stats = big_index(n_variants=400, per_row=40)
    payload = packed.pack(index, rank_bestsellers(stats))
    assert payload == packed.pack(index, rank_bestsellers(stats))
    with zipfile.ZipFile(io.BytesIO(payload)) as archive:
        kinds = {info.filename: info.compress_type for info in archive.infolist()}
        assert {info.date_time for info in archive.infolist()} == {(1980, 1, 1, 0, 0, 0)}  # no clock
        old = io.BytesIO()
        with zipfile.ZipFile(old, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as target:
            for name in archive.namelist():
                target.writestr(name, archive.read(name))
    assert kinds["scores.npy"] == zipfile.ZIP_STORED  # random floats: deflate saves a few %
    assert kinds["counts.npy"] == kinds["co_counts.npy"] == kinds["indptr.npy"] == zipfile.ZIP_DEFLATED
    for written in (payload, old.getvalue()):
        loaded, best = packed.unpack(written)
        assert list(loaded.to_rows()) == list(index.to_rows()) and best == rank_bestsellers(stats)


def test_the_index_is_read_in_binary_format_on_postgresql(app_ctx, shop):
    """bytea in text format is hex (twice the bytes, encoded and decoded): store.load asks psycopg
    for binary results (posai_app.binary_results); a statement that does not ask is untouched."""
    if db.engine.dialect.driver != "psycopg":
        pytest.skip("binary results are a psycopg (PostgreSQL) option; SQLite reads bytes as they are")
    from posai_app import binary_results
    from posai_app.tenancy import of_shop

    index, stats = big_index()
    store.save(shop.id, index, stats)
    db.session.commit()
    query = sa.select(ServingIndexBlob.payload).where(of_shop(ServingIndexBlob, shop.id))
    formats = {}
    for asked in (True, False):
        result = db.session.connection().execute(query.execution_options(**{binary_results.OPTION: asked}))
        formats[asked] = result.cursor.pgresult.fformat(0)  # 1: binary, 0: text
        assert packed.unpack(result.scalar_one())[0].ids == index.ids
    assert formats == {True: 1, False: 0}

    seen = []

    def record(conn, cursor, statement, parameters, context, executemany):
        if "serving_indexes" in statement:
            seen.append(cursor.pgresult.fformat(0))

    sa.event.listen(db.engine, "after_cursor_execute", record)
    try:
        assert list(store.load(shop.id).index.to_rows()) == list(index.to_rows())
    finally:
        sa.event.remove(db.engine, "after_cursor_execute", record)
    assert seen and set(seen) == {1}  # store.load's own reads of the payload were binary


def test_a_cold_load_reads_version_and_index_in_one_statement(app_ctx, shop, other_shop):
    """Version, metric and arms come from one snapshot: a retrain committing between two reads can
    no longer label the new index with the old version."""
    from datetime import UTC, datetime

    from posai_app.models import RecommenderConfig

    index, stats = big_index()
    store.save(shop.id, index, stats)
    store.save(other_shop.id, None, stats)
    trained = datetime(2026, 11, 30, 8, 15, tzinfo=UTC)
    db.session.add(
        RecommenderConfig(
            shop_id=shop.id, metric="cosine", model_version=3, trained_at=trained, status="trained"
        )
    )
    db.session.commit()
    statements = []

    def record(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement)

    sa.event.listen(db.engine, "before_cursor_execute", record)
    try:
        loaded = store.load(shop.id)
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", record)
    assert len(statements) == 1
    assert (loaded.version, loaded.metric) == store.published_version(shop.id)
    version, at = loaded.version
    assert (version, at if at.tzinfo else at.replace(tzinfo=UTC), loaded.metric) == (3, trained, "cosine")
    assert list(loaded.index.to_rows()) == list(index.to_rows())
    assert loaded.bestsellers == rank_bestsellers(stats)
    # Another shop's rows never join in; a shop with no config reads its arms alone.
    unpublished = store.load(other_shop.id)
    assert unpublished.index is None and unpublished.version == (0, None)
    assert unpublished.bestsellers == rank_bestsellers(stats)
