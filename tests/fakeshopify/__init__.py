"""A faithful local fake of Shopify's Admin API for tests and benchmarks (never used by the app)."""

from tests.fakeshopify.server import FakeShopify

__all__ = ["FakeShopify"]
