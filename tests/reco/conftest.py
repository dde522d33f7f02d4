"""Small hand-checkable histories for the engine tests (pure: no database, no app)."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from posai_app.reco import Order

T0 = datetime(2024, 1, 1, 9, 0)


def orders_from(baskets: list[list[str]], step_days: float = 1.0) -> list[Order]:
    """One order per basket, a day apart, in the given order."""
    return [
        Order(f"o{i + 1}", T0 + timedelta(days=i * step_days), list(items)) for i, items in enumerate(baskets)
    ]


# counts: A3 B3 C3 D1 (N = 5); co: AB 2, AC 1, BC 2, AD 1
SMALL = [["A", "B", "C"], ["A", "B"], ["B", "C"], ["A", "D"], ["C"]]


@pytest.fixture
def small_orders() -> list[Order]:
    return orders_from(SMALL)
