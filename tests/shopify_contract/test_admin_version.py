"""One Admin API version: the app, shopify.app.toml's webhooks and the fake all speak it."""

from __future__ import annotations

import tomllib
from pathlib import Path

from posai_app.config import BaseConfig
from posai_app.shopify.version import API_VERSION
from tests.fakeshopify.server import FakeShopify
from tests.shopify_contract import artifacts

ROOT = Path(__file__).resolve().parents[2]


def test_app_toml_and_fake_agree_on_the_version():
    toml = tomllib.loads((ROOT / "shopify.app.toml").read_text(encoding="utf-8"))
    assert {
        "app": BaseConfig.SHOPIFY_API_VERSION,
        "shopify.app.toml": toml["webhooks"]["api_version"],
        "fake": FakeShopify().api_version,
    } == dict.fromkeys(("app", "shopify.app.toml", "fake"), API_VERSION)


def test_the_version_is_the_newest_stable_schema_shopify_ships():
    assert API_VERSION == artifacts.admin_versions()[-1]
