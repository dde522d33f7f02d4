"""`posai demo [--reset] [--no-serve] [--no-replay]`: migrate, import, train, replay a simulated POS
day (posai_app.demo.replay), print how to try it, serve."""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
import time

import click
from flask import current_app
from flask.cli import with_appcontext

from posai_app.tenancy import of_shop

# Long enough for a training run started from the page while jobs run inline (no REDIS_URL).
DEMO_GUNICORN_TIMEOUT = "600"


@click.command("demo")
@click.option("--reset", is_flag=True, help="Delete the demo shop's data and import it again.")
@click.option("--no-serve", is_flag=True, help="Prepare the demo shop, print the commands, do not serve.")
@click.option(
    "--no-replay", is_flag=True, help="Do not replay the simulated POS day (the Impact section stays empty)."
)
@click.option("--port", type=int, envvar="PORT", default=8000, show_default=True, help="Port to serve on.")
@click.option(
    "--orders",
    "orders_path",
    type=click.Path(exists=True, dir_okay=False),
    default=None,
    help="Import this order history (common CSV shape, plain or .gz) instead of the shipped one.",
)
@with_appcontext
def demo(reset: bool, no_serve: bool, no_replay: bool, port: int, orders_path: str | None) -> None:
    """Run the whole product on the Online Retail history as posai-demo.myshopify.com."""
    from flask_migrate import upgrade

    from posai_app.demo.importer import ensure_demo_shop, import_history, reset_demo_shop
    from posai_app.demo.payloads import DATA_PATH
    from posai_app.demo.replay import held_out_order_ids, replay_pos_day
    from posai_app.demo.tryout import describe_tryout
    from posai_app.ingest.summary import count_rows
    from posai_app.progress import PhaseBars
    from posai_app.training.jobs import train_shop

    config = current_app.config
    click.echo(f"POSAI demo · {_backend_summary(config)}")
    upgrade()
    if reset:
        reset_demo_shop()
        click.echo("demo shop reset")
    shop = ensure_demo_shop()
    counts = count_rows(shop.id)
    if not counts.get("orders"):
        source = orders_path or "the Online Retail history (UCI, CC BY 4.0)"
        click.echo(f"importing {source} through the ingestion services…")
        with PhaseBars(unit="record") as progress:
            imported = import_history(
                shop.id,
                path=orders_path or DATA_PATH,
                progress=progress,
                hold_out=held_out_order_ids(orders_path or DATA_PATH),
            )
        click.echo(
            f"imported {imported['orders']:,} orders, {imported['line_items']:,} line items, "
            f"{imported['variants']:,} variants (the last orders are held out for the simulated POS day)"
        )
    if not _is_trained(shop.id):
        click.echo("training (evaluating every scorer on the shop's own history)…")
        with PhaseBars(unit="step") as progress:
            run_id = train_shop(shop.id, "demo", progress=progress)
        from posai_app.extensions import db
        from posai_app.models import EvaluationRun
        from posai_app.training.report import format_report

        click.echo(format_report(db.session.get(EvaluationRun, (shop.id, run_id))))
    else:
        click.echo("demo shop already imported and trained (use --reset to start over)")
    if not no_replay:
        click.echo("replaying a simulated POS day (held-out orders, real API, events and webhooks)…")
        click.echo(replay_pos_day(shop.id, path=orders_path or DATA_PATH).summary())
    click.echo(describe_tryout(shop.id, port))
    if no_serve:
        return
    _serve(config, port)


def _is_trained(shop_id: int) -> bool:
    import sqlalchemy as sa

    from posai_app.extensions import db
    from posai_app.models import ModelStatus, RecommenderConfig

    status = db.session.scalar(sa.select(RecommenderConfig.status).where(of_shop(RecommenderConfig, shop_id)))
    return status in (ModelStatus.TRAINED, ModelStatus.INSUFFICIENT_DATA)


def _backend_summary(config) -> str:
    from posai_app.config import settings_summary

    keys = (
        "your SHOPIFY_API_KEY/SECRET"
        if "SHOPIFY_API_SECRET" not in config["POSAI_GENERATED_SETTINGS"]
        else (f"demo API key {config['SHOPIFY_API_KEY']!r} and the fixed demo secret (not for production)")
    )
    return f"{settings_summary(config)}; session tokens signed with {keys}"


class _StopSignal:
    """Records SIGTERM / SIGINT instead of raising: a signal that lands while a child is being
    started must not skip recording it (it would be left running)."""

    def __init__(self) -> None:
        self.received = False

    def __call__(self, signum, frame) -> None:
        self.received = True


def _serve(config, port: int) -> None:
    """gunicorn for the web app, plus an RQ worker when REDIS_URL is set; Ctrl-C stops both."""
    env = {
        **os.environ,
        "POSAI_DEMO": "1",
        "PORT": str(port),
        "HOST": os.environ.get("HOST", "127.0.0.1"),
        "DATABASE_URL": config["DATABASE_URL"],
        "SECRET_KEY": config["SECRET_KEY"],
        "SHOPIFY_API_KEY": config["SHOPIFY_API_KEY"],
        "SHOPIFY_API_SECRET": config["SHOPIFY_API_SECRET"],
        "POSAI_ENCRYPTION_KEYS": config["POSAI_ENCRYPTION_KEYS"],
        "GUNICORN_TIMEOUT": os.environ.get("GUNICORN_TIMEOUT", DEMO_GUNICORN_TIMEOUT),
    }
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    bin_dir = os.path.dirname(sys.executable)
    processes = []
    # SIGTERM (a service manager, `kill`, a CI runner) must stop the children as Ctrl-C does;
    # Python's default for it ends this process at once and leaves gunicorn and the worker running.
    # Both signals only set a flag, checked between steps, so every child started is recorded.
    stop = _StopSignal()
    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    gunicorn = [
        os.path.join(bin_dir, "gunicorn"),
        "--config",
        os.path.join(root, "gunicorn.conf.py"),
        "posai_app:create_app()",
    ]
    argvs = [[sys.executable, os.path.join(root, "worker.py")]] if config.get("REDIS_URL") else []
    argvs.append(gunicorn)
    try:
        for argv in argvs:
            if stop.received:
                break
            if argv is gunicorn:
                click.echo(f"serving: {shlex.join(gunicorn)}  (Ctrl-C to stop)")
            processes.append(subprocess.Popen(argv, env=env, cwd=root))  # noqa: S603
        while not stop.received and all(p.poll() is None for p in processes):
            time.sleep(0.2)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        for p in processes:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in processes:
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
    failed = [p.returncode for p in processes if p.returncode not in (0, -signal.SIGTERM, None)]
    if failed:
        raise SystemExit(failed[0])


commands = [demo]
