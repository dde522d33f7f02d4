"""Champion–challenger, the pure part: which arm a cart is in, and how the arms' figures compare.

Assignment: a cart's bucket is HMAC-SHA256 (key derived from SECRET_KEY) of the shop id and the
cart's sorted, de-duplicated variant ids, as a number mod 100. Buckets below the shop's
challenger share (a percentage) get the challenger. The same cart gets the same arm on every
call, in every process, with no state and no SQL; the order of the items and repeats do not
matter, and adding an item re-draws (it is another cart). Keyed, so nobody can pick carts for
an arm, and spread uniformly, so a share of s % gets s % of carts (tests check the proportions).

Statistics, per arm: attach rate (shown recommendations with at least one add ÷ shown) and live
HitRate (shown recommendations whose cart became an order holding one of their items ÷ those
that became an order; posai_app.impact.report), each with a 95 % Wilson score interval, and a
two-sided two-proportion z-test (pooled) of challenger against champion. A difference is called
significant when p < ALPHA and both arms have at least MIN_SAMPLE trials of that figure: below
that the normal approximation behind the test is poor (and at a few % attach rates a few
dozen carts prove nothing), and a daily automatic check on small samples would switch on noise.
The challenger should go live (`should_switch`) when its attach rate — the upsell the merchant
pays for — is significantly higher and its live HitRate is not significantly lower.
"""

from __future__ import annotations

import hashlib
import hmac
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

Z95 = 1.959964  # two-sided 95 % normal quantile
ALPHA = 0.05
MIN_SAMPLE = 100  # trials per arm (shown for attach rate, orders for live HitRate) before any verdict
BUCKETS = 100
MAX_SHARE = 50  # per cent: beyond half, the "challenger" would be the main answer
_KEY_INFO = b"posai arm assignment v1"


@lru_cache(maxsize=8)
def _key(secret: str) -> bytes:
    return hmac.new(secret.encode(), _KEY_INFO, hashlib.sha256).digest()


def assignment_key(config: Mapping[str, Any]) -> bytes:
    """The assignment's key, derived from SECRET_KEY (every process of a deployment agrees)."""
    return _key(str(config["SECRET_KEY"]))


def bucket(key: bytes, shop_id: int, cart_variant_ids: Sequence[int | str]) -> int:
    """The cart's bucket in [0, 100): the same for the same shop and set of variant ids."""
    text = f"{int(shop_id)}:" + ",".join(str(v) for v in sorted({int(v) for v in cart_variant_ids}))
    digest = hmac.new(key, text.encode(), hashlib.sha256).digest()
    return int.from_bytes(digest[:8], "big") % BUCKETS


def arm_for(key: bytes, shop_id: int, cart_variant_ids: Sequence[int | str], share: int) -> str:
    """ "challenger" for the cart when its bucket is below `share` (per cent), else "champion"."""
    if share <= 0:
        return "champion"
    return "challenger" if bucket(key, shop_id, cart_variant_ids) < share else "champion"


@dataclass(frozen=True)
class Proportion:
    """successes of trials, with its 95 % Wilson interval."""

    successes: int
    trials: int

    @property
    def rate(self) -> float | None:
        return self.successes / self.trials if self.trials else None

    @property
    def interval(self) -> tuple[float, float] | None:
        return wilson(self.successes, self.trials)


def wilson(successes: int, trials: int, z: float = Z95) -> tuple[float, float] | None:
    """The Wilson score interval of successes / trials (None without trials)."""
    if trials <= 0:
        return None
    p = successes / trials
    z2 = z * z
    denominator = 1 + z2 / trials
    centre = (p + z2 / (2 * trials)) / denominator
    half = z / denominator * math.sqrt(p * (1 - p) / trials + z2 / (4 * trials * trials))
    return max(0.0, centre - half), min(1.0, centre + half)


@dataclass(frozen=True)
class Test:
    """Challenger against champion on one figure."""

    champion: Proportion
    challenger: Proportion
    difference: float | None  # challenger rate − champion rate
    z: float | None
    p_value: float | None
    enough: bool  # both arms have MIN_SAMPLE trials

    @property
    def significant(self) -> bool:
        return self.enough and self.p_value is not None and self.p_value < ALPHA

    @property
    def verdict(self) -> str:
        """`too_few`, `challenger_better`, `champion_better` or `no_difference`."""
        if not self.enough:
            return "too_few"
        if not self.significant:
            return "no_difference"
        return "challenger_better" if (self.difference or 0) > 0 else "champion_better"


def two_proportion_test(champion: Proportion, challenger: Proportion, min_sample: int = MIN_SAMPLE) -> Test:
    """Two-sided pooled z-test of the challenger's rate against the champion's."""
    enough = champion.trials >= min_sample and challenger.trials >= min_sample
    if not champion.trials or not challenger.trials:
        return Test(champion, challenger, None, None, None, enough)
    difference = challenger.successes / challenger.trials - champion.successes / champion.trials
    pooled = (champion.successes + challenger.successes) / (champion.trials + challenger.trials)
    se = math.sqrt(pooled * (1 - pooled) * (1 / champion.trials + 1 / challenger.trials))
    if se == 0:  # both arms all successes or all failures: no difference to test
        return Test(champion, challenger, difference, 0.0, 1.0, enough)
    z = difference / se
    return Test(champion, challenger, difference, z, math.erfc(abs(z) / math.sqrt(2)), enough)


@dataclass(frozen=True)
class Comparison:
    attach: Test
    hit_rate: Test

    @property
    def should_switch(self) -> bool:
        """The challenger sells significantly more and finds the bought items no worse."""
        return self.attach.verdict == "challenger_better" and self.hit_rate.verdict != "champion_better"


def compare(
    champion_attach: Proportion,
    challenger_attach: Proportion,
    champion_hits: Proportion,
    challenger_hits: Proportion,
    min_sample: int = MIN_SAMPLE,
) -> Comparison:
    """Both figures tested, challenger against champion."""
    return Comparison(
        two_proportion_test(champion_attach, challenger_attach, min_sample),
        two_proportion_test(champion_hits, challenger_hits, min_sample),
    )
