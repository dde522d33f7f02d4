"""A small hand-made shop for the admin page: catalog, a few dozen orders, evaluation runs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from posai_app.extensions import db
from posai_app.models import EvaluationRun, OrderLineItem, ProductVariant, RunStatus, SyncState, SyncStatus

# variant_id: (product_id, product title, variant title, inventory, status)
CATALOG = {
    2001: (201, "White hanging heart T-light holder", "Default Title", 40, "active"),
    2002: (202, "White metal lantern", "Default Title", 12, "active"),
    2003: (203, "Glass star frosted T-light holder", "Default Title", 25, "active"),
    2004: (204, "Red woolly hottie heart", "Default Title", 0, "active"),  # sold out
    2005: (205, "Set of 3 cake tins", "Pantry", 30, "active"),
    2006: (205, "Set of 3 cake tins", "Retrospot", 18, "active"),
    2007: (207, "Jumbo bag red retrospot", "Default Title", 60, "active"),
    2008: (208, "Lunch bag pink polkadot", "Default Title", 33, "active"),
    2009: (209, "Pack of 72 retrospot cake cases", "Default Title", 80, "active"),
    2010: (210, "Vintage doily tray", "Default Title", 5, "archived"),
}
# Baskets repeated to give clear pairs: T-light holders with lanterns, cake tins with cases, bags together.
BASKETS = [
    ([2001, 2002], 6),
    ([2001, 2002, 2003], 5),
    ([2001, 2003], 4),
    ([2005, 2009], 5),
    ([2006, 2009, 2005], 3),
    ([2007, 2008], 6),
    ([2007, 2008, 2009], 3),
    ([2004, 2001], 2),
    ([2010, 2007], 2),
    ([2002], 3),
    ([2009], 2),
]


def add_catalog(shop_id: int, title_prefix: str = "", id_offset: int = 0) -> None:
    for vid, (pid, title, vtitle, qty, status) in CATALOG.items():
        db.session.add(
            ProductVariant(
                shop_id=shop_id,
                variant_id=vid + id_offset,
                product_id=pid + id_offset,
                product_title=title_prefix + title,
                variant_title=vtitle,
                price=Decimal("2.95"),
                inventory_quantity=qty,
                inventory_tracked=True,
                inventory_policy="deny",
                status=status,
            )
        )


def add_orders(shop_id: int, id_offset: int = 0, start: datetime | None = None) -> int:
    """Insert the baskets as orders, one hour apart; returns the number of orders."""
    start = start or datetime(2026, 9, 1, 9, 0, tzinfo=UTC)
    order_id = 5000 + id_offset
    line_id = 900000 + id_offset * 10
    # Round-robin over the basket kinds so every stretch of time (and so the engine's held-out
    # last 20%) looks like the whole history.
    pending = [[basket, repeat] for basket, repeat in BASKETS]
    sequence = []
    while any(r for _, r in pending):
        for item in pending:
            if item[1]:
                sequence.append(item[0])
                item[1] -= 1
    n = 0
    for basket in sequence:
        order_id += 1
        created = start + timedelta(hours=n)
        for vid in basket:
            line_id += 1
            pid, title, _, _, _ = CATALOG[vid]
            db.session.add(
                OrderLineItem(
                    shop_id=shop_id,
                    line_item_id=line_id,
                    order_id=order_id,
                    order_number=order_id,
                    order_name=f"#{order_id}",
                    created_at=created,
                    currency="GBP",
                    product_id=pid + id_offset,
                    variant_id=vid + id_offset,
                    title=title,
                    quantity=1,
                    price=Decimal("2.95"),
                )
            )
        n += 1
    return n


def report(k: int = 2, best: str = "cosine", scale: float = 1.0) -> dict:
    """An engine report dict shaped like reco's to_dict()."""
    figures = {
        "cooccurrence": 0.31,
        "cosine": 0.36,
        "confidence": 0.33,
        "lift": 0.22,
        "jaccard": 0.35,
        "popularity": 0.12,
    }
    return {
        "k": k,
        "trainOrders": 33,
        "evaluatedOrders": 8,
        "results": {
            name: {
                "hitRate": hr * scale,
                "precision": hr * scale / 2,
                "recall": hr * scale * 0.9,
                "coverage": 1.0 if name == "popularity" else 0.75,
            }
            for name, hr in figures.items()
        },
        "best": best,
    }


def add_run(
    shop_id: int,
    *,
    status: str = "succeeded",
    results: dict | None = None,
    chosen: str | None = "cosine",
    started_at: datetime | None = None,
    error: str | None = None,
    progress: dict | None = None,
) -> EvaluationRun:
    # A live run beats (training.jobs._heartbeat); one given an old start stands for a dead one.
    heartbeat_at = datetime.now(UTC) if status == "running" and started_at is None else None
    started_at = started_at or datetime.now(UTC) - timedelta(minutes=5)
    run = EvaluationRun(
        heartbeat_at=heartbeat_at,
        shop_id=shop_id,
        started_at=started_at,
        finished_at=None if status == "running" else started_at + timedelta(seconds=3),
        status=RunStatus(status),  # only what the train job really writes
        trigger="test",
        error=error,
        progress=progress or {"phase": "done", "done": 1, "total": 1},
        k=2,
        train_orders=33,
        evaluated_orders=8,
        results=results if status == "succeeded" else None,
        chosen_metric=chosen if status == "succeeded" else None,
        duration_seconds=None if status == "running" else 3.0,
    )
    if status == "succeeded" and results is None:
        run.results = report(best=chosen or "cosine")
    db.session.add(run)
    db.session.flush()
    return run


def add_sync(shop_id: int, resource: str = "orders", **values) -> SyncState:
    """A sync_states row; its status must be one ingest really writes (SyncStatus)."""
    if "status" in values:
        values["status"] = SyncStatus(values["status"])
    state = SyncState(shop_id=shop_id, resource=resource, **values)
    db.session.add(state)
    db.session.flush()
    return state


def add_index(shop_id: int, version: int = 1, metric: str = "cosine") -> None:
    """A serving index computed by hand from BASKETS (co-counts; score = co-count / 10)."""
    from posai_app.models import RecommenderConfig
    from tests.serving.seed import seed_index

    co: dict[tuple[int, int], int] = {}
    counts: dict[int, int] = {}
    for basket, repeat in BASKETS:
        for a in basket:
            counts[a] = counts.get(a, 0) + repeat
            for b in basket:
                if a != b:
                    co[(a, b)] = co.get((a, b), 0) + repeat
    seed_index(
        shop_id, ((a, b, n, n / 10) for (a, b), n in co.items()), ((v, n, n) for v, n in counts.items())
    )
    db.session.add(
        RecommenderConfig(
            shop_id=shop_id,
            metric=metric,
            model_version=version,
            status="trained",
            trained_at=datetime.now(UTC),
            train_orders=41,
            k=2,
        )
    )
