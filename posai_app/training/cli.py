"""`posai train --shop DOMAIN`: train one shop now, with progress, and print its report."""

from __future__ import annotations

import click
from flask.cli import with_appcontext


@click.command("train")
@click.option("--shop", "shop_domain", required=True, help="The shop's myshopify.com domain.")
@with_appcontext
def train(shop_domain: str) -> None:
    """Train one shop's recommender now (in this process) and publish its index."""
    import sqlalchemy as sa

    from posai_app.extensions import db
    from posai_app.models import EvaluationRun, RunStatus, Shop
    from posai_app.progress import PhaseBars
    from posai_app.training.jobs import train_shop
    from posai_app.training.report import format_report

    shop = db.session.scalar(sa.select(Shop).where(Shop.domain == shop_domain))
    if shop is None:
        known = ", ".join(db.session.scalars(sa.select(Shop.domain).order_by(Shop.domain))) or "none"
        raise click.ClickException(f"no shop {shop_domain!r} (known shops: {known})")
    with PhaseBars(unit="step") as progress:
        run_id = train_shop(shop.id, "cli", progress=progress)
    run = db.session.get(EvaluationRun, (shop.id, run_id))
    click.echo(format_report(run))
    if run.status != RunStatus.SUCCEEDED:
        raise SystemExit(1 if run.status == RunStatus.FAILED else 0)


commands = [train]
