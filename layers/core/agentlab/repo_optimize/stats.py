"""Summary statistics of benchmark samples, robust to the skew and outliers that timings always have.

A candidate change is only worth keeping when its speed-up is larger than the noise of the measurement, so the
summary carries the distribution-free confidence interval of the median next to the usual figures: timings are not
normal (a long right tail from scheduling and caches), and the median's interval from order statistics assumes
nothing about their shape. Pure Python on purpose: the layer ships without numpy.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence

from pydantic import BaseModel

CONFIDENCE_LEVEL = 0.95
# Below this many samples no pair of order statistics covers the median with 95 % confidence (n=5 gives 93.75 %).
MIN_SAMPLES_FOR_MEDIAN_CI = 6


class SampleSummary(BaseModel):
    """The figures of one series of samples, in the samples' unit (seconds for benchmarks)."""

    n: int
    min: float
    max: float
    mean: float
    median: float
    stdev: float | None
    mad: float | None
    p05: float
    p95: float
    cv: float | None
    ci95_median: tuple[float, float] | None


def summarize(samples: Sequence[float]) -> SampleSummary:
    """Summarise samples; raise ValueError when there are none or one is not a finite number.

    `stdev`, `mad` and `cv` need at least two samples (one sample says nothing about spread); `cv` is None too when
    the mean is zero. `mad` is the raw median absolute deviation, not scaled to a normal's sigma.
    """
    values = _checked_sorted(samples)
    n = len(values)
    mean = statistics.fmean(values)
    median = statistics.median(values)
    stdev = statistics.stdev(values) if n >= 2 else None
    mad = statistics.median(abs(value - median) for value in values) if n >= 2 else None
    cv = stdev / mean if stdev is not None and mean != 0 else None
    return SampleSummary(
        n=n,
        min=values[0],
        max=values[-1],
        mean=mean,
        median=median,
        stdev=stdev,
        mad=mad,
        p05=_percentile(values, 0.05),
        p95=_percentile(values, 0.95),
        cv=cv,
        ci95_median=median_confidence_interval(values),
    )


def noise_floor(samples: Sequence[float]) -> float:
    """The relative half-width of the median's 95 % interval: 0.02 means the median is known to about ±2 %.

    A measured difference smaller than this is indistinguishable from noise. `inf` when it cannot be known: too few
    samples for an interval, or a median of zero (a relative width has no meaning there).
    """
    values = _checked_sorted(samples)
    interval = median_confidence_interval(values)
    median = statistics.median(values)
    if interval is None or median <= 0:
        return math.inf
    low, high = interval
    return (high - low) / 2 / median


def median_confidence_interval(
    samples: Sequence[float], confidence: float = CONFIDENCE_LEVEL
) -> tuple[float, float] | None:
    """The interval [x(k), x(n-k+1)] of order statistics that covers the true median with at least `confidence`.

    The number of samples below the median is Binomial(n, 1/2), so the interval misses the median with probability
    2·P(B ≤ k-1); k is the largest rank keeping that at or under 1 - confidence. None when even [min, max] is not
    wide enough (n < 6 at 95 %).
    """
    values = sorted(samples)
    rank = median_interval_rank(len(values), confidence)
    if rank is None:
        return None
    return values[rank - 1], values[len(values) - rank]


def median_interval_rank(n: int, confidence: float = CONFIDENCE_LEVEL) -> int | None:
    """The 1-based rank k of the lower order statistic of the median's interval for n samples, or None."""
    if n < 1:
        return None
    tail_allowed = (1 - confidence) / 2
    cumulative = 0.0
    rank: int | None = None
    for below in range(n // 2 + 1):
        cumulative += _binomial_half_pmf(n, below)
        # P(B ≤ below) ≤ tail_allowed means x(below + 1) is a valid lower bound.
        if cumulative > tail_allowed:
            break
        rank = below + 1
    return rank


def _binomial_half_pmf(n: int, k: int) -> float:
    """P(B = k) for B ~ Binomial(n, 1/2), in log space so that large n does not underflow 2**-n to zero early."""
    log_pmf = math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1) - n * math.log(2)
    return math.exp(log_pmf)


def _percentile(sorted_values: Sequence[float], fraction: float) -> float:
    """Linear interpolation between closest ranks (the usual "type 7" definition, as spreadsheets and numpy use)."""
    position = (len(sorted_values) - 1) * fraction
    lower = math.floor(position)
    upper = min(lower + 1, len(sorted_values) - 1)
    weight = position - lower
    return sorted_values[lower] + (sorted_values[upper] - sorted_values[lower]) * weight


def _checked_sorted(samples: Sequence[float]) -> list[float]:
    values = sorted(float(sample) for sample in samples)
    if not values:
        raise ValueError("no samples to summarise")
    if not all(math.isfinite(value) for value in values):
        raise ValueError("samples must be finite numbers")
    return values
