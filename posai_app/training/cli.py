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
    from tqdm import tqdm

    from posai_app.extensions import db
    from posai_app.models import EvaluationRun, Shop
    from posai_app.training.jobs import train_shop
    from posai_app.training.report import format_report

    shop = db.session.scalar(sa.select(Shop).where(Shop.domain == shop_domain))
    if shop is None:
        raise click.ClickException(f"no shop {shop_domain!r}; installed shops: `posai shops`")
    bars: dict[str, tqdm] = {}

    def progress(phase: str, done: int, total: int) -> None:
        bar = bars.get(phase)
        if bar is None:
            for other in bars.values():
                other.close()
            bar = bars[phase] = tqdm(total=max(total, 1), desc=phase, unit="step", leave=False)
        bar.total = max(total, 1)
        bar.n = done
        bar.refresh()

    run_id = train_shop(shop.id, "cli", progress=progress)
    for bar in bars.values():
        bar.close()
    run = db.session.get(EvaluationRun, run_id)
    click.echo(format_report(run))
    if run.status != "succeeded":
        raise SystemExit(1 if run.status == "failed" else 0)


commands = [train]
