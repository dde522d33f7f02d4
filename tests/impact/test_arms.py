"""The pure part of champion–challenger: stable per-cart assignment, share proportions, Wilson
intervals and the two-proportion z-test, against figures computed by hand."""

from __future__ import annotations

import random

import pytest

from posai_app.impact import arms

KEY = arms.assignment_key({"SECRET_KEY": "test-secret-key-that-is-at-least-32-bytes-long"})


def test_the_same_cart_always_gets_the_same_bucket_whatever_the_order_or_repeats():
    cart = [1003, 1001, 1002]
    first = arms.bucket(KEY, 7, cart)
    assert 0 <= first < 100
    for _ in range(50):
        assert arms.bucket(KEY, 7, cart) == first
    assert arms.bucket(KEY, 7, [1002, 1001, 1003, 1001]) == first
    assert arms.bucket(KEY, 7, ["1001", "1002", "1003"]) == first  # ids as the POS may send them


def test_the_bucket_depends_on_the_shop_the_cart_and_the_key():
    carts = [[v, v + 1] for v in range(1000, 1200)]
    here = [arms.bucket(KEY, 7, c) for c in carts]
    # Another shop, or another deployment's key, draws independently (not the same buckets).
    assert here != [arms.bucket(KEY, 8, c) for c in carts]
    other_key = arms.assignment_key({"SECRET_KEY": "another-secret-key-that-is-at-least-32-bytes"})
    assert here != [arms.bucket(other_key, 7, c) for c in carts]


def test_share_zero_is_everyone_champion_and_a_cart_keeps_its_arm_as_the_share_grows():
    cart = [5, 6]
    b = arms.bucket(KEY, 1, cart)
    assert arms.arm_for(KEY, 1, cart, 0) == "champion"
    assert arms.arm_for(KEY, 1, cart, b) == "champion"
    assert arms.arm_for(KEY, 1, cart, b + 1) == "challenger"
    # A challenger cart at 10 % stays a challenger at 20 % (buckets below the share).
    assert all(
        arms.arm_for(KEY, 1, [v], 20) == "challenger"
        for v in range(2000)
        if arms.arm_for(KEY, 1, [v], 10) == "challenger"
    )


@pytest.mark.parametrize("share", [5, 10, 20, 50])
def test_the_challenger_gets_its_share_of_carts(share):
    rng = random.Random(share)
    n = 20_000
    carts = [rng.sample(range(1, 10_000_000), rng.randint(1, 5)) for _ in range(n)]
    challenger = sum(arms.arm_for(KEY, 42, c, share) == "challenger" for c in carts)
    # Binomial(n, s): standard deviation sqrt(s(1−s)/n) ≤ 0.0036 at s = 0.5, so ±1.5 points is
    # over four standard deviations at every share tested.
    assert abs(challenger / n - share / 100) < 0.015


def test_wilson_interval_matches_the_hand_computation():
    # 10 of 100, z = 1.959964: p = 0.1, z² = 3.841459, z²/n = 0.0384146, d = 1 + z²/n = 1.0384146;
    # centre = (p + z²/2n) / d = (0.1 + 0.0192073) / 1.0384146 = 0.1147974;
    # half = z/d · sqrt(p(1−p)/n + z²/4n²) = 1.887457 · sqrt(0.0009 + 0.0000960) = 0.0595683;
    # interval = [0.0552291, 0.1743657].
    low, high = arms.wilson(10, 100)
    assert low == pytest.approx(0.0552291, abs=1e-6)
    assert high == pytest.approx(0.1743657, abs=1e-6)
    # 0 of 20: p = 0, d = 1.1920729, centre = (z²/40)/d = 0.0960365/1.1920729 = 0.0805626 = half:
    # [0, 0.1611252] (a normal interval would say [0, 0]).
    low, high = arms.wilson(0, 20)
    assert low == pytest.approx(0.0, abs=1e-12)
    assert high == pytest.approx(0.1611252, abs=1e-6)
    assert arms.wilson(0, 0) is None
    assert arms.Proportion(3, 0).rate is None and arms.Proportion(3, 0).interval is None


def test_two_proportion_test_matches_the_hand_computation():
    # Champion 30 of 300 (0.10), challenger 50 of 300 (0.1667): pooled p = 80/600 = 0.133333;
    # se = sqrt(p(1−p)(1/300 + 1/300)) = sqrt(0.115556 · 0.006667) = 0.0277555;
    # z = 0.0666667 / 0.0277555 = 2.401922; p = erfc(2.401922/√2) = 0.0163092 < 0.05: significant.
    test = arms.two_proportion_test(arms.Proportion(30, 300), arms.Proportion(50, 300))
    assert test.difference == pytest.approx(0.0666667, abs=1e-6)
    assert test.z == pytest.approx(2.401922, abs=1e-5)
    assert test.p_value == pytest.approx(0.0163092, abs=1e-6)
    assert test.significant and test.verdict == "challenger_better"
    # The other way round: the same p, the champion is better.
    reverse = arms.two_proportion_test(arms.Proportion(50, 300), arms.Proportion(30, 300))
    assert reverse.z == pytest.approx(-2.401922, abs=1e-5) and reverse.verdict == "champion_better"
    # 30/300 against 36/300: pooled 0.11, se = sqrt(0.11 · 0.89 · 2/300) = 0.0255473;
    # z = 0.02/0.0255473 = 0.782860; p = 0.433709: no significant difference.
    flat = arms.two_proportion_test(arms.Proportion(30, 300), arms.Proportion(36, 300))
    assert flat.p_value == pytest.approx(0.433709, abs=1e-5)
    assert not flat.significant and flat.verdict == "no_difference"


def test_below_the_minimum_sample_there_is_no_verdict_even_when_p_is_small():
    # 20/100 against 35/100 meets the minimum (100 each): pooled 0.275,
    # se = sqrt(0.275 · 0.725 · 0.02) = 0.0631467, z = 0.15/0.0631467 = 2.375423, p = 0.0175289.
    enough = arms.two_proportion_test(arms.Proportion(20, 100), arms.Proportion(35, 100))
    assert enough.p_value == pytest.approx(0.0175289, abs=1e-6) and enough.verdict == "challenger_better"
    # The same rates on 99 challenger trials (p still < 0.05): too few to say.
    few = arms.two_proportion_test(arms.Proportion(20, 100), arms.Proportion(35, 99))
    assert few.p_value < 0.05 and not few.significant and few.verdict == "too_few"
    none = arms.two_proportion_test(arms.Proportion(0, 0), arms.Proportion(5, 200))
    assert none.p_value is None and none.verdict == "too_few"
    # Every trial a success on both arms: no variance, no difference.
    same = arms.two_proportion_test(arms.Proportion(150, 150), arms.Proportion(120, 120))
    assert same.p_value == 1.0 and same.verdict == "no_difference"


def test_the_challenger_should_go_live_only_when_it_sells_more_and_finds_no_worse():
    better_attach = (arms.Proportion(30, 300), arms.Proportion(50, 300))
    same_hits = (arms.Proportion(60, 120), arms.Proportion(62, 120))
    worse_hits = (arms.Proportion(80, 120), arms.Proportion(50, 120))
    assert arms.compare(*better_attach, *same_hits).should_switch
    # Live HitRate significantly lower (80/120 against 50/120: z ≈ −3.9): stay.
    assert not arms.compare(*better_attach, *worse_hits).should_switch
    # Attach rate not significantly higher: stay.
    assert not arms.compare(arms.Proportion(30, 300), arms.Proportion(36, 300), *same_hits).should_switch
    # Too few orders for a HitRate verdict does not block a significant attach rate.
    assert arms.compare(*better_attach, arms.Proportion(5, 10), arms.Proportion(5, 10)).should_switch
