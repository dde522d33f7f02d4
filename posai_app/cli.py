"""The `posai` command line.

Engine commands (`evaluate`, `recommend-batch`) need no app and no database, so
`posai` dispatches them without importing Flask (start-up time matters for them).
Everything else is a Flask CLI command, also reachable as `flask --app posai_app ...`:
`db` (Flask-Migrate), `sync`, `train`, `demo`, `rotate-keys`, `worker`, `run`, ...
"""

from __future__ import annotations

import importlib
import sys

import click

# Modules that contribute commands; each exposes `commands: list[click.Command]`.
ENGINE_COMMAND_MODULE = "posai_app.reco.cli"
APP_COMMAND_MODULES = (
    "posai_app.auth.cli",
    "posai_app.ingest.cli",
    "posai_app.training.cli",
    "posai_app.demo.cli",
    "posai_app.ops_cli",
)


def _is_missing(exc: ModuleNotFoundError, module: str) -> bool:
    """True when `module` itself (or its package) does not exist yet, not a broken import inside it."""
    return exc.name is not None and (module == exc.name or module.startswith(exc.name + "."))


def _engine_commands() -> list[click.Command]:
    try:
        return list(importlib.import_module(ENGINE_COMMAND_MODULE).commands)
    except ModuleNotFoundError as exc:
        if not _is_missing(exc, ENGINE_COMMAND_MODULE):
            raise
        return []


def register_app_commands(app) -> None:
    """Attach every feature's CLI commands to app.cli (called by the factory)."""
    for command in _engine_commands():
        app.cli.add_command(command)
    for name in APP_COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if not _is_missing(exc, name):
                raise
            continue
        for command in module.commands:
            app.cli.add_command(command)


def main(argv: list[str] | None = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    engine = {c.name: c for c in _engine_commands()}
    if args and args[0] in engine:
        engine[args[0]].main(args=args[1:], prog_name=f"posai {args[0]}")
        return
    from flask.cli import FlaskGroup

    def _create_app():
        from posai_app import create_app
        from posai_app.config import JOB_SETTINGS

        return create_app(JOB_SETTINGS)

    group = FlaskGroup(
        name="posai",
        create_app=_create_app,
        add_version_option=False,
        load_dotenv=False,
        help="POSAI: POS upsell recommendations for Shopify. Engine commands: "
        + ", ".join(sorted(engine))
        + ".",
    )
    group.main(args=args, prog_name="posai")


if __name__ == "__main__":
    main()
