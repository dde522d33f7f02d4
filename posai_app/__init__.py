"""POSAI: point-of-sale upsell recommendations for Shopify shops.

This module stays import-light on purpose: the `posai` CLI's engine commands
(`evaluate`, `recommend-batch`) import `posai_app.reco` without paying for Flask.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from flask import Flask


def create_app(overrides: Mapping[str, Any] | None = None) -> Flask:
    """Build the Flask app (see posai_app.factory)."""
    from posai_app.factory import create_app as _create_app

    return _create_app(overrides)
