"""Operational commands: key rotation and the RQ worker."""

from __future__ import annotations

import click
from flask.cli import with_appcontext


@click.command("rotate-keys")
@with_appcontext
def rotate_keys() -> None:
    """Re-encrypt every stored Shopify token with the newest POSAI_ENCRYPTION_KEYS key."""
    from sqlalchemy import select, update

    from posai_app.crypto import rotate
    from posai_app.extensions import db
    from posai_app.models import Shop

    table = Shop.__table__
    rows = db.session.execute(select(table.c.id, table.c.access_token, table.c.refresh_token)).all()
    for shop_id, access, refresh in rows:
        db.session.execute(
            update(table)
            .where(table.c.id == shop_id)
            .values(
                access_token=rotate(access) if access else None,
                refresh_token=rotate(refresh) if refresh else None,
            )
        )
    db.session.commit()
    click.echo(f"re-encrypted tokens of {len(rows)} shop(s) with the newest key")


@click.command("worker")
@click.option("--queues", default=None, help="Comma-separated queue names (default: all).")
@click.option("--burst", is_flag=True, help="Stop when the queues are empty.")
def worker(queues: str | None, burst: bool) -> None:
    """Run an RQ worker for this app (same as `python worker.py`)."""
    from worker import run_worker

    run_worker(queues.split(",") if queues else None, burst=burst)


commands = [rotate_keys, worker]
