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
