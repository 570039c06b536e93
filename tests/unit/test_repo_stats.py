"""Summary statistics of benchmark samples, checked against values worked out by hand."""

from __future__ import annotations

import math
from fractions import Fraction

import pytest

from agentlab.repo_optimize.stats import median_confidence_interval, median_interval_rank, noise_floor, summarize


def _exact_rank(n: int) -> int | None:
    """The reference: the largest k with 2·P(B ≤ k-1) ≤ 5 % for B ~ Binomial(n, 1/2), in exact fractions."""
    best = None
    ways_below = 0
    for k in range(1, n // 2 + 1):
        ways_below += math.comb(n, k - 1)
        if 2 * Fraction(ways_below, 2**n) <= Fraction(5, 100):
            best = k
    return best


def test_median_interval_for_ten_samples_uses_the_second_and_ninth_order_statistics() -> None:
    # P(B ≤ 1) = 11/1024 ≈ 0.0107 ≤ 0.025 < P(B ≤ 2) = 56/1024 ≈ 0.0547, so k = 2: coverage 1 - 22/1024 ≈ 97.9 %.
    assert Fraction(1 + 10, 1024) <= Fraction(25, 1000) < Fraction(1 + 10 + 45, 1024)
    assert median_interval_rank(10) == 2
    assert median_confidence_interval([float(value) for value in range(10, 0, -1)]) == (2.0, 9.0)


def test_median_interval_for_twenty_samples_uses_the_sixth_and_fifteenth_order_statistics() -> None:
    # P(B ≤ 5) = 21700/2**20 ≈ 0.0207 ≤ 0.025 < P(B ≤ 6) = 60460/2**20 ≈ 0.0577.
    assert sum(math.comb(20, i) for i in range(6)) == 21700
    assert sum(math.comb(20, i) for i in range(7)) == 60460
    assert median_interval_rank(20) == 6
    assert median_confidence_interval([float(value) for value in range(1, 21)]) == (6.0, 15.0)


@pytest.mark.parametrize("n", [*range(1, 120), 250, 999])
def test_median_interval_rank_matches_the_exact_binomial(n: int) -> None:
    assert median_interval_rank(n) == _exact_rank(n)


def test_median_interval_needs_six_samples() -> None:
    assert median_confidence_interval([1.0, 2.0, 3.0, 4.0, 5.0]) is None
    # n = 6: P(B = 0) = 1/64 ≤ 0.025, so [min, max] covers the median with 1 - 2/64 ≈ 96.9 %.
    assert median_confidence_interval([6.0, 1.0, 5.0, 2.0, 4.0, 3.0]) == (1.0, 6.0)


def test_median_interval_rank_for_many_samples_is_near_the_normal_approximation() -> None:
    n = 10_000
    normal_rank = (n - 1.959964 * math.sqrt(n)) / 2
    rank = median_interval_rank(n)
    assert rank is not None
    assert abs(rank - normal_rank) <= 2


def test_summarize_known_values() -> None:
    summary = summarize([2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0])

    assert summary.n == 8
    assert (summary.min, summary.max) == (2.0, 9.0)
    assert summary.mean == 5.0
    assert summary.median == 4.5
    assert summary.stdev == pytest.approx(math.sqrt(32 / 7))
    # |x - 4.5| = 2.5, 0.5, 0.5, 0.5, 0.5, 0.5, 2.5, 4.5 -> median 0.5
    assert summary.mad == 0.5
    # position 7 x 0.05 = 0.35 between 2 and 4; 7 x 0.95 = 6.65 between 7 and 9
    assert summary.p05 == pytest.approx(2.7)
    assert summary.p95 == pytest.approx(8.3)
    assert summary.cv == pytest.approx(math.sqrt(32 / 7) / 5)
    # n = 8: P(B = 0) = 1/256 fits, P(B ≤ 1) = 9/256 does not
    assert summary.ci95_median == (2.0, 9.0)


def test_summarize_one_sample_has_no_spread() -> None:
    summary = summarize([0.25])

    assert (summary.min, summary.max, summary.mean, summary.median) == (0.25, 0.25, 0.25, 0.25)
    assert (summary.p05, summary.p95) == (0.25, 0.25)
    assert summary.stdev is None
    assert summary.mad is None
    assert summary.cv is None
    assert summary.ci95_median is None


def test_summarize_zero_mean_has_no_coefficient_of_variation() -> None:
    summary = summarize([0.0, 0.0, 0.0])

    assert summary.stdev == 0.0
    assert summary.cv is None


def test_summarize_refuses_empty_and_non_finite_samples() -> None:
    with pytest.raises(ValueError, match="no samples"):
        summarize([])
    with pytest.raises(ValueError, match="finite"):
        summarize([1.0, math.nan])
    with pytest.raises(ValueError, match="finite"):
        summarize([1.0, math.inf])


def test_noise_floor_is_the_relative_half_width_of_the_median_interval() -> None:
    samples = [float(value) for value in range(1, 11)]

    # median 5.5, interval (2, 9): half-width 3.5
    assert noise_floor(samples) == pytest.approx(3.5 / 5.5)


def test_noise_floor_of_tight_samples_is_small() -> None:
    samples = [1.00, 1.01, 0.99, 1.00, 1.02, 0.98, 1.00, 1.01, 0.99, 1.00]

    # sorted: 0.98, 0.99, 0.99, 1.00 x4, 1.01, 1.01, 1.02 -> interval (0.99, 1.01) around 1.00: ±1 %
    assert noise_floor(samples) == pytest.approx(0.01)


def test_noise_floor_is_infinite_when_unknown() -> None:
    assert noise_floor([1.0, 1.1, 0.9]) == math.inf
    assert noise_floor([0.0] * 10) == math.inf
    assert noise_floor([2.0] * 6) == 0.0
