"""Demo mode: the admin page outside Shopify's iframe, for the demo shop only.

Enabled by POSAI_DEMO with POSAI_ENV other than production (config refuses the pair at
start-up; this module checks again so a mutated config cannot open it). The page gets a
short-lived session token minted here, signed like App Bridge's with the app's API secret,
so every request still goes through the one session-token verification path.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from posai_app.auth.session_token import mint_session_token
from posai_app.demo import DEMO_SHOP_DOMAIN
from posai_app.demo.importer import find_demo_shop
from posai_app.models import Shop

DEMO_TOKEN_TTL_SECONDS = 120


def demo_enabled(config: Mapping[str, Any]) -> bool:
    """True only when POSAI_DEMO is on and this is not a production process."""
    return bool(config.get("POSAI_DEMO")) and config.get("POSAI_ENV") != "production"


def demo_shop() -> Shop | None:
    """The installed demo shop, if the demo data has been imported."""
    shop = find_demo_shop()
    return shop if shop is not None and shop.is_installed else None


def demo_token_ttl(config: Mapping[str, Any]) -> int:
    """Lifetime of minted demo tokens (POSAI_DEMO_TOKEN_TTL, default 120 s; tests shorten it)."""
    return int(config.get("POSAI_DEMO_TOKEN_TTL") or DEMO_TOKEN_TTL_SECONDS)


def mint_demo_session_token(
    config: Mapping[str, Any], shop_domain: str = DEMO_SHOP_DOMAIN, ttl: int | None = None
) -> str:
    """A session token shaped like App Bridge's for the shop, valid for `ttl` seconds."""
    return mint_session_token(config, shop_domain, ttl or demo_token_ttl(config), subject="demo")
