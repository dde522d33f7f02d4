"""The `posai` command line.

Engine commands (`evaluate`, `recommend-batch`) need no app and no database, so
`posai` dispatches them without importing Flask (start-up time matters for them).
Everything else is a Flask CLI command, also reachable as `flask --app posai_app ...`:
`db` (Flask-Migrate), `sync`, `train`, `demo`, `rotate-keys`, `worker`, `run`, ...
(the factory registers them: posai_app.factory._register_cli).
"""

from __future__ import annotations

import sys

from posai_app.reco.cli import commands as engine_commands


def main(argv: list[str] | None = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    engine = {c.name: c for c in engine_commands}
    if args and args[0] in engine:
        engine[args[0]].main(args=args[1:], prog_name=f"posai {args[0]}")
        return
    from flask.cli import FlaskGroup

    def _create_app():
        import click

        from posai_app.config import JOB_SETTINGS, ConfigError
        from posai_app.factory import create_app

        try:
            return create_app(JOB_SETTINGS)
        except ConfigError as exc:  # a setting the command cannot start with: a message, no traceback
            raise click.ClickException(str(exc)) from None

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
