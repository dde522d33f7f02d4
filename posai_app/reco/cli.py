"""Engine commands: `posai evaluate` and `posai recommend-batch` (no app, no database).

Only click is imported at module level; the engine (numpy, scipy) loads when a command runs.
"""

from __future__ import annotations

import json
import sys

import click


def _load(path: str):
    """The file's orders as the engine's History, read by a forked child while numpy/scipy load."""
    from posai_app.reco.forked_reader import ForkedCsvReader
    from posai_app.reco.orders import OrdersFileError

    try:
        reader = ForkedCsvReader(path)  # before the heavy imports below: the child parses meanwhile
        from posai_app.reco.stats import History

        history = reader.result(History.from_parts)
    except OrdersFileError as exc:
        raise click.ClickException(exc.message) from None
    if history.n_orders == 0:
        raise click.ClickException(f"{path}: no orders with line items")
    return history


def _without_blas_threads() -> None:
    """Before numpy loads: no OpenBLAS thread pool (unless the caller asked for one).

    `evaluate` makes no BLAS call, yet OpenBLAS starts its threads when numpy is imported and
    they spin for a while (~0.1 s of CPU here), time the parsing child and the scoring threads
    need on a small machine. Training (`--tuned`, `recommend-batch`) keeps the pool: its dense
    factorisations use it.
    """
    import os

    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")


def _skip_final_collection() -> None:
    """The command is done and the process is about to end: move every object out of the
    collector's reach so interpreter shutdown does not walk millions of them (~30-70 ms)."""
    import gc

    gc.freeze()


def _progress(enabled: bool):
    """A (phase, done, total) callback writing one status line per phase change to stderr."""
    if not enabled:
        return None
    seen: dict[str, int] = {}

    def report(phase: str, done: int, total: int) -> None:
        if phase not in seen or done >= total:
            if seen.get(phase) != done:
                click.echo(f"{phase}: {done}/{total}", err=True)
            seen[phase] = done

    return report


def format_table(report: dict) -> str:
    """The report as an aligned plain-text table (the chosen scorer marked with *)."""
    k = report["k"]
    lines = [
        f"trained on {report['trainOrders']} orders, evaluated on {report['evaluatedOrders']} held-out carts",
        f"{'scorer':<20}{'HitRate@' + str(k):>12}{'Precision@' + str(k):>14}"
        f"{'Recall@' + str(k):>11}{'Coverage@' + str(k):>13}",
    ]
    for name, fig in report["results"].items():
        mark = " *" if name == report["best"] else ""
        lines.append(
            f"{name + mark:<20}{fig['hitRate']:>12.4f}{fig['precision']:>14.4f}"
            f"{fig['recall']:>11.4f}{fig['coverage']:>13.4f}"
        )
    lines.append(f"best: {report['best']}")
    details = report.get("details", {})
    for name, params in details.get("params", {}).items():
        if params:
            lines.append(f"  {name}: " + ", ".join(f"{key}={value}" for key, value in params.items()))
    for name, why in details.get("skipped", {}).items():
        lines.append(f"  {name}: {why}")
    return "\n".join(lines)


@click.command("evaluate")
@click.argument("orders_csv", type=click.Path(dir_okay=False))
@click.option("--k", "k", type=click.IntRange(min=1), default=2, show_default=True, help="List length K.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option(
    "--tuned",
    is_flag=True,
    help="Evaluate every candidate exactly as the training job does (inner-split tuning; slower).",
)
@click.option("--quiet", is_flag=True, help="No progress on stderr.")
def evaluate(orders_csv: str, k: int, as_json: bool, tuned: bool, quiet: bool) -> None:
    """Measure each scorer on ORDERS_CSV[.gz]: train on the first 80% by time, test on the rest."""
    if not tuned:
        _without_blas_threads()
    orders = _load(orders_csv)
    progress = _progress(not quiet)
    if tuned:
        from posai_app.reco.selection import train

        report = train(orders, k=k, progress=progress, build_index=False).report.to_dict()
    else:
        from posai_app.reco.evaluation import evaluate as run

        report = run(orders, k=k, progress=progress).to_dict()
    click.echo(json.dumps(report, indent=1) if as_json else format_table(report))
    _skip_final_collection()


@click.command("recommend-batch")
@click.argument("orders_csv", type=click.Path(dir_okay=False))
@click.argument("carts_jsonl", type=click.File("r"))
@click.option(
    "--k", "k", type=click.IntRange(min=1), default=2, show_default=True, help="Recommendations per cart."
)
@click.option("--quiet", is_flag=True, help="No progress on stderr.")
def recommend_batch(orders_csv: str, carts_jsonl, k: int, quiet: bool) -> None:
    """Learn from ORDERS_CSV as the training job does, then answer each cart of CARTS_JSONL (one per
    line) by the API's serving policy: index picks, then the file's recent bestsellers (90 days up to
    its latest order); every variant of the file counts as sellable and as its own product."""
    carts = []
    for number, line in enumerate(carts_jsonl, start=1):
        if not line.strip():
            continue
        try:
            payload = json.loads(line)
        except json.JSONDecodeError as exc:
            raise click.ClickException(f"{carts_jsonl.name}, line {number}: not JSON ({exc.msg})") from None
        cart = payload.get("cart") if isinstance(payload, dict) else None
        if not isinstance(cart, list) or not all(isinstance(v, str | int) for v in cart):
            raise click.ClickException(
                f'{carts_jsonl.name}, line {number}: expected {{"cart": ["variant id", ...]}}'
            )
        carts.append([str(v) for v in cart])
    history = _load(orders_csv)
    from posai_app.reco.selection import train
    from posai_app.reco.serving import bestsellers, every_variant_sellable, recommend

    # no challenger: a batch answers every cart with the live scorer, as the API's champion arm does
    result = train(history, k=k, progress=_progress(not quiet), build_runner_up=False)
    if not quiet:
        click.echo(f"chosen scorer: {result.metric} {result.params}", err=True)
    # The API's policy; the file names no products or stock, so every variant is sellable.
    fallback = bestsellers(history)
    out = sys.stdout
    for cart in carts:
        answer = recommend(result.index, cart, k, every_variant_sellable, fallback)
        out.write(json.dumps({"cart": cart, "recommendations": answer.variant_ids}) + "\n")
    _skip_final_collection()


commands = [evaluate, recommend_batch]


@click.group()
def main() -> None:
    """POSAI engine commands (also available as `posai evaluate` / `posai recommend-batch`)."""


for _command in commands:
    main.add_command(_command)

if __name__ == "__main__":
    main()
