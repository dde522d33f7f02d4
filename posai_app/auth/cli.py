"""`posai mint-session-token`: a session token for local curl calls against the API."""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import with_appcontext

from posai_app.auth.domains import is_valid_shop_domain
from posai_app.auth.session_token import mint_session_token


@click.command("mint-session-token")
@click.argument("shop_domain")
@click.option("--ttl", default=60, show_default=True, help="Lifetime in seconds.")
@with_appcontext
def mint_session_token_command(shop_domain: str, ttl: int) -> None:
    """Print a session token for SHOP_DOMAIN signed with the configured API secret (local testing)."""
    if not is_valid_shop_domain(shop_domain):
        raise click.BadParameter("must be a {name}.myshopify.com domain", param_hint="SHOP_DOMAIN")
    click.echo(mint_session_token(current_app.config, shop_domain, ttl))


commands = [mint_session_token_command]
