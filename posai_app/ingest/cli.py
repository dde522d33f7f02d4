"""`posai sync --shop DOMAIN`: sync a shop's products and orders now, with a progress bar."""

from __future__ import annotations

import time

import click
import sqlalchemy as sa
from flask.cli import with_appcontext
from tqdm import tqdm

from posai_app.extensions import db
from posai_app.models import Shop, SyncState


class _Bars:
    """One tqdm bar per resource, fed from sync_states rows."""

    def __init__(self) -> None:
        self.bars: dict[str, tqdm] = {}

    def update(self, state: SyncState) -> None:
        bar = self.bars.get(state.resource)
        if bar is None:
            bar = self.bars[state.resource] = tqdm(
                total=state.total_count or None, unit=" objects", unit_scale=True, dynamic_ncols=True
            )
        if state.total_count and bar.total != state.total_count:
            bar.total = state.total_count
        bar.set_description(f"{state.resource:<8} {state.phase or state.status}")
        bar.n = state.processed_count or 0
        bar.refresh()
        if state.phase == "done":
            bar.close()

    def close(self) -> None:
        for bar in self.bars.values():
            bar.close()


@click.command("sync")
@click.option("--shop", "shop_domain", required=True, help="The shop's myshopify.com domain.")
@click.option("--background", is_flag=True, help="Queue the sync on the worker and follow its progress.")
@click.option("--no-train", is_flag=True, help="Do not queue a retrain afterwards.")
@with_appcontext
def sync(shop_domain: str, background: bool, no_train: bool) -> None:
    """Sync a shop's catalog and orders from Shopify (bulk first time, changes after)."""
    from posai_app.ingest import jobs, services
    from posai_app.queue import get_redis

    shop = db.session.scalar(sa.select(Shop).where(Shop.domain == shop_domain.lower()))
    if shop is None:
        raise click.ClickException(f"no shop {shop_domain!r} (install the app on it first)")
    shop_id = shop.id
    bars = _Bars()
    try:
        if background and get_redis() is not None:
            jobs.enqueue_sync(shop_id)
            _follow(shop_id, bars)
        else:
            jobs.sync_shop(shop_id, train=not no_train, on_progress=bars.update)
    finally:
        bars.close()
    counts = services.count_rows(shop_id)
    click.echo(
        f"{shop_domain}: {counts['orders']} orders, {counts['line_items']} line items, "
        f"{counts['variants']} variants"
    )
    for resource, summary in services.sync_summary(shop_id).items():
        history = "" if resource != "orders" else f", all history: {summary['all_history']}"
        click.echo(f"  {resource}: {summary['status']}, oldest {summary['oldest_record_at']}{history}")


def _follow(shop_id: int, bars: _Bars) -> None:
    while True:
        db.session.expire_all()
        states = db.session.scalars(sa.select(SyncState).where(SyncState.shop_id == shop_id)).all()
        for state in states:
            bars.update(state)
        if len(states) == 2 and all(s.status in ("done", "failed") for s in states):
            failed = [s for s in states if s.status == "failed"]
            if failed:
                raise click.ClickException(f"sync failed: {failed[0].last_error}")
            return
        db.session.rollback()
        time.sleep(1.0)


commands = [sync]
