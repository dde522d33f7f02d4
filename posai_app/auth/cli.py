"""`posai mint-session-token`: a session token for local curl calls against the API."""

from __future__ import annotations

import time
import uuid

import click
import jwt
from flask import current_app
from flask.cli import with_appcontext

from posai_app.auth.domains import is_valid_shop_domain


@click.command("mint-session-token")
@click.argument("shop_domain")
@click.option("--ttl", default=60, show_default=True, help="Lifetime in seconds.")
@with_appcontext
def mint_session_token(shop_domain: str, ttl: int) -> None:
    """Print a session token for SHOP_DOMAIN signed with the configured API secret (local testing)."""
    if not is_valid_shop_domain(shop_domain):
        raise click.BadParameter("must be a {name}.myshopify.com domain", param_hint="SHOP_DOMAIN")
    now = int(time.time())
    claims = {
        "iss": f"https://{shop_domain}/admin",
        "dest": f"https://{shop_domain}",
        "aud": current_app.config["SHOPIFY_API_KEY"],
        "exp": now + ttl,
        "nbf": now,
        "iat": now,
        "jti": str(uuid.uuid4()),
    }
    click.echo(jwt.encode(claims, current_app.config["SHOPIFY_API_SECRET"], algorithm="HS256"))


commands = [mint_session_token]
