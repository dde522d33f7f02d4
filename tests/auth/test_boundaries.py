"""shopifyapp stays wrapped: nothing outside posai_app/auth imports it."""

from __future__ import annotations

import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parents[2]


def test_only_the_auth_package_imports_shopify_app():
    pattern = re.compile(r"^\s*(from|import)\s+shopify_app\b", re.MULTILINE)
    offenders = [
        str(path.relative_to(ROOT))
        for path in (ROOT / "posai_app").rglob("*.py")
        if "auth" not in path.relative_to(ROOT / "posai_app").parts[:1] and pattern.search(path.read_text())
    ]
    assert offenders == []
