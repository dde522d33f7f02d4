"""Shop domain validation: the one definition of what a shop domain may look like."""

from __future__ import annotations

import re

# Lower-case only on purpose: Shopify always sends the canonical form, so anything
# else is a forged or mangled value, not a spelling to normalise.
SHOP_DOMAIN_RE = re.compile(r"^[a-z0-9][a-z0-9-]*\.myshopify\.com$")


def is_valid_shop_domain(value: object) -> bool:
    """True for a canonical `{name}.myshopify.com` domain and nothing else."""
    return isinstance(value, str) and len(value) <= 255 and SHOP_DOMAIN_RE.fullmatch(value) is not None
