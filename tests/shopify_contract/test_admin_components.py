"""The embedded admin page against Shopify's own published type definitions, not against the
fallback we wrote for pages without Shopify's CDN (posai_app/static/posai.js):

- every `<s-*>` element in our templates, and every one posai.js stands in for, is an element
  Shopify declares: `@shopify/polaris-types` (the Polaris web components polaris.js defines) or
  `@shopify/app-bridge-types` (App Bridge's own, such as `<s-app-nav>`);
- every attribute we put on one is a property Polaris declares, a global HTML attribute, or
  htmx's / ours (`hx-*`, `data-*`, `aria-*`), with the exceptions below written out;
- every `shopify.*` API posai.js calls is one App Bridge's `ShopifyGlobal` declares, with the
  shape we use.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

from tests.shopify_contract import artifacts

ROOT = Path(__file__).resolve().parents[2]
TEMPLATES = ROOT / "posai_app" / "templates"
POSAI_JS = ROOT / "posai_app" / "static" / "posai.js"
POLARIS_TYPES = artifacts.NODE_MODULES / "@shopify" / "polaris-types" / "dist" / "polaris.d.ts"
APP_BRIDGE_TYPES = artifacts.NODE_MODULES / "@shopify" / "app-bridge-types" / "dist" / "shopify.ts"

GLOBAL_ATTRIBUTES = {"id", "class", "style", "slot", "hidden", "role", "title", "lang", "dir", "tabindex"}
# Attributes Polaris does not declare, each kept on purpose:
NOT_POLARIS = {
    # App Bridge's convention, not a Polaris property: the <s-link rel="home"> inside <s-app-nav>
    # names the app's home page (shopify.dev, app-home/app-bridge-web-components/app-nav).
    ("s-link", "rel"),
    # The exclusion value's suggestions (a <datalist>): only the fallback field uses them; inside
    # Shopify, <s-text-field> has no such property and offers none (docs/admin.md says so).
    ("s-text-field", "list"),
}


def _text(path: Path) -> str:
    if not path.is_file():
        artifacts.require()
        pytest.fail(f"{path} is missing from the installed artifacts")
    return path.read_text(encoding="utf-8")


def _polaris() -> tuple[set[str], set[str]]:
    """(element names, property names lower-cased) that @shopify/polaris-types declares."""
    types = _text(POLARIS_TYPES)
    tags = set(re.findall(r'tagName\$?\w* = "(s-[a-z-]+)"', types))
    props = {
        name.lower()
        for name in re.findall(r"^\s*(?:readonly\s+)?['\"]?([A-Za-z][\w-]*)['\"]?\??\s*:", types, flags=re.M)
    }
    return tags, props


def _app_bridge_elements() -> set[str]:
    types = _text(APP_BRIDGE_TYPES)
    body = re.search(r"export interface AppBridgeElements \{(.*?)\n\}", types, flags=re.S).group(1)
    return set(re.findall(r"'([a-z-]+)':", body))


def _used() -> dict[str, set[str]]:
    """Each <s-*> element our templates write, and the attributes they give it (Jinja removed:
    a `{% if %}` around an attribute keeps the attribute, an expression stands for its value)."""
    used: dict[str, set[str]] = {}

    class Collect(HTMLParser):
        def handle_starttag(self, tag, attrs):
            if tag.startswith("s-"):
                used.setdefault(tag, set()).update(name for name, _ in attrs)

    for path in sorted(TEMPLATES.rglob("*.html")):
        text = path.read_text(encoding="utf-8")
        text = re.sub(r"\{#.*?#\}", "", text, flags=re.S)
        text = re.sub(r"\{%.*?%\}", "", text, flags=re.S)
        text = re.sub(r"\{\{.*?\}\}", "x", text, flags=re.S)
        Collect().feed(text)
    return used


def test_every_element_is_one_shopify_declares():
    artifacts.require()
    tags, _ = _polaris()
    declared = tags | _app_bridge_elements()
    ours = set(_used()) | set(re.findall(r'defineFallback\("(s-[a-z-]+)"', POSAI_JS.read_text()))
    ours |= set(re.findall(r'customElements\.get\("(s-[a-z-]+)"\)', POSAI_JS.read_text()))
    assert len(ours) > 10, ours  # the parse found the page's elements
    assert ours - declared == set()


def test_every_attribute_is_a_declared_property_or_a_global_one():
    artifacts.require()
    _, props = _polaris()
    unknown = {
        (tag, name)
        for tag, names in _used().items()
        for name in names
        if name not in GLOBAL_ATTRIBUTES
        and not name.startswith(("hx-", "data-", "aria-"))
        and name not in props
    }
    assert unknown == NOT_POLARIS  # a new one fails; an exception no longer needed fails too
    # the properties the settings form relies on are real ones
    assert {"label", "details", "error", "heading", "accessibilitylabel", "listslot"} <= props


def test_the_app_bridge_calls_posai_js_makes_exist():
    artifacts.require()
    types = _text(APP_BRIDGE_TYPES)
    global_api = re.search(r"export interface ShopifyGlobal \{(.*?)\n\}", types, flags=re.S).group(1)
    members = dict(re.findall(r"^\s*(\w+)\??: (\w+);", global_api, flags=re.M))
    js = POSAI_JS.read_text()
    called = set(re.findall(r"window\.shopify\.(\w+)", js))
    assert called == {"idToken", "toast", "saveBar"}, called  # a new call is checked here first
    assert called <= set(members)
    # shopify.idToken() -> Promise<string>; shopify.toast.show(message) -> id
    assert re.search(rf"type {members['idToken']} = \(\) => Promise<string>;", types)
    toast = re.search(rf"interface {members['toast']} \{{(.*?)\n\}}", types, flags=re.S).group(1)
    assert re.search(r"^\s*show: ToastShow;", toast, flags=re.M)
    assert re.search(r"type ToastShow = \(message: string, opts\?: ToastOptions\) => string;", types)
