"""`posai sync --shop DOMAIN`: sync a shop's products and orders now, with a progress bar."""

from __future__ import annotations

import time

import click
import sqlalchemy as sa
from flask.cli import with_appcontext

from posai_app.extensions import db
from posai_app.models import Shop, SyncState, SyncStatus
from posai_app.progress import PhaseBars
from posai_app.tenancy import of_shop


def _reporter(bars: PhaseBars):
    """sync_shop's on_progress: one bar per resource and phase, fed from its sync_states row."""

    def report(state: SyncState) -> None:
        phase = f"{state.resource:<8} {state.phase or state.status}"
        bars(phase, state.processed_count or 0, state.total_count)

    return report


@click.command("sync")
@click.option("--shop", "shop_domain", required=True, help="The shop's myshopify.com domain.")
@click.option("--background", is_flag=True, help="Queue the sync on the worker and follow its progress.")
@click.option("--no-train", is_flag=True, help="Do not queue a retrain afterwards.")
@with_appcontext
def sync(shop_domain: str, background: bool, no_train: bool) -> None:
    """Sync a shop's catalog and orders from Shopify (bulk first time, changes after)."""
    from posai_app.ingest import sync as jobs
    from posai_app.ingest.summary import count_rows
    from posai_app.ingest.sync_state import sync_summary
    from posai_app.queue import get_redis

    shop = db.session.scalar(sa.select(Shop).where(Shop.domain == shop_domain.lower()))
    if shop is None:
        raise click.ClickException(f"no shop {shop_domain!r} (install the app on it first)")
    shop_id = shop.id
    bars = PhaseBars(unit=" objects")
    try:
        if background and get_redis() is not None:
            jobs.enqueue_sync(shop_id)
            _follow(shop_id, bars)
        else:
            jobs.sync_shop(shop_id, train=not no_train, on_progress=_reporter(bars))
    finally:
        bars.close()
    counts = count_rows(shop_id)
    click.echo(
        f"{shop_domain}: {counts['orders']} orders, {counts['line_items']} line items, "
        f"{counts['variants']} variants"
    )
    for resource, summary in sync_summary(shop_id).items():
        history = "" if resource != "orders" else f", all history: {summary['all_history']}"
        click.echo(f"  {resource}: {summary['status']}, oldest {summary['oldest_record_at']}{history}")


def _follow(shop_id: int, bars: PhaseBars) -> None:
    while True:
        db.session.expire_all()
        states = db.session.scalars(sa.select(SyncState).where(of_shop(SyncState, shop_id))).all()
        for state in states:
            _reporter(bars)(state)
        if len(states) == 2 and all(s.status in (SyncStatus.DONE, SyncStatus.FAILED) for s in states):
            failed = [s for s in states if s.status == SyncStatus.FAILED]
            if failed:
                raise click.ClickException(f"sync failed: {failed[0].last_error}")
            return
        db.session.rollback()
        time.sleep(1.0)


commands = [sync]
