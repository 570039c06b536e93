"""The acceptance rule for a candidate patch's benchmark A/B: keep a speed-up only when it is larger than the noise.

The baseline and the candidate are measured back to back in one session (ABAB…), so whatever slows the machine
down (thermal throttling, a noisy neighbour, caches warming) hits both runs of a pair alike. Each pair therefore
gives one ratio, candidate / baseline, in which that shared drift cancels; the gain is one minus the median of those
ratios (the median because timings have a long right tail that would drag a mean). A candidate is accepted only when
there are enough pairs, the median gain reaches `min_gain` and the 95 % confidence interval of the gain lies entirely
above zero: a threshold alone would accept noise, an interval alone would accept a real but worthless 0.5 %. The
floor also carries most of the protection against noise on a real machine: the interval treats pairs as independent,
but a session's noise is partly shared by neighbouring pairs, so intervals of the same code against itself miss zero
far more often than 5 % (bench/validation.py counts them), by a fraction of a percent each time, well under the floor.

The interval comes from a bootstrap of the pairs: resample the pairs with replacement, take the median ratio each
time, and read the 2.5 % and 97.5 % percentiles of those medians. The percentile interval rather than BCa: BCa's
acceleration is estimated by a jackknife, and the jackknife of a median is known to be unreliable (the median is not
smooth in the data), so it would add complexity without adding accuracy. Pure Python with `random.Random(seed)`, so
that the same samples always give the same verdict and the layer needs no numpy; 10 000 resamples of 50 pairs take
about 55 ms on one core (bench/validation.py measures it), a tenth of the 0.5 s allowed, so no fewer are needed.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence

from pydantic import BaseModel

BOOTSTRAP_RESAMPLES = 10_000
DEFAULT_MIN_GAIN = 0.03
DEFAULT_MIN_PAIRS = 10
DEFAULT_CONFIDENCE = 0.95


class ABSamples(BaseModel):
    """One benchmark series' interleaved runs: `pairs[i]` = (baseline_s, candidate_s), measured back to back.

    Warm-up runs are already dropped; both timings of a pair are in seconds.
    """

    name: str
    pairs: list[tuple[float, float]]


class Verdict(BaseModel):
    """Whether a candidate is kept, why, and the numbers behind it (recorded with every attempt, kept or not).

    `gain` is the median relative improvement, 1 - median(candidate / baseline): 0.041 means 4.1 % faster, a
    negative gain means slower. `ci95` is the confidence interval of the gain (at the confidence asked for, 95 % by
    default). When several series are judged together, `pairs` counts the pairs of all of them and `per_series` holds
    each series' own verdict.
    """

    accepted: bool
    reason: str
    gain: float
    ci95: tuple[float, float]
    pairs: int
    method: str
    per_series: list[Verdict] = []


def judge(
    samples: ABSamples,
    *,
    min_gain: float = DEFAULT_MIN_GAIN,
    min_pairs: int = DEFAULT_MIN_PAIRS,
    confidence: float = DEFAULT_CONFIDENCE,
    seed: int = 0,
) -> Verdict:
    """Judge one series: accepted iff pairs ≥ `min_pairs`, median gain ≥ `min_gain` and the interval's low end > 0.

    Raises ValueError on input that cannot be timings (no pairs, a timing that is not finite or not > 0) or on
    rule parameters that make no sense; a rejection is a Verdict, never an exception.
    """
    _check_rule(min_gain=min_gain, min_pairs=min_pairs, confidence=confidence)
    verdict, _, _ = _judge_series(samples, min_gain=min_gain, min_pairs=min_pairs, confidence=confidence, seed=seed)
    return verdict


def judge_all(
    series: list[ABSamples],
    *,
    min_gain: float = DEFAULT_MIN_GAIN,
    min_pairs: int = DEFAULT_MIN_PAIRS,
    confidence: float = DEFAULT_CONFIDENCE,
    seed: int = 0,
) -> Verdict:
    """Judge several benchmark series of one candidate together.

    The aggregate gain is 1 - the geometric mean of the series' median ratios (each series weighs the same whatever
    its absolute time), with a stratified bootstrap interval: every series is resampled on its own, as its pairs were
    measured on their own. Accepted only when every series has at least `min_pairs` pairs, no series regresses (its
    interval lies entirely below zero gain: a patch that makes one benchmark clearly slower is not a speed-up,
    whatever the others say) and the aggregate passes the same rule as a single series. One series gives exactly
    the verdict `judge` gives.
    """
    _check_rule(min_gain=min_gain, min_pairs=min_pairs, confidence=confidence)
    if not series:
        raise ValueError("no benchmark series to judge")
    names = [samples.name for samples in series]
    if len(set(names)) != len(names):
        raise ValueError(f"benchmark series names must be unique, got {names}")
    judged = [
        _judge_series(samples, min_gain=min_gain, min_pairs=min_pairs, confidence=confidence, seed=seed)
        for samples in series
    ]
    per_series = [verdict for verdict, _, _ in judged]
    if len(series) == 1:
        return per_series[0]

    ratios_per_series = [ratios for _, ratios, _ in judged]
    medians_per_series = [medians for _, _, medians in judged]
    aggregate_medians = [
        math.exp(math.fsum(math.log(medians[index]) for medians in medians_per_series) / len(series))
        for index in range(BOOTSTRAP_RESAMPLES)
    ]
    gain = 1 - math.exp(math.fsum(math.log(_median(ratios)) for ratios in ratios_per_series) / len(series))
    ci95 = _gain_interval(aggregate_medians, confidence)
    total_pairs = sum(len(ratios) for ratios in ratios_per_series)
    method = _method(confidence, seed, aggregate=True)

    short = [(samples.name, len(ratios)) for samples, ratios in zip(series, ratios_per_series, strict=True)]
    short = [(name, count) for name, count in short if count < min_pairs]
    regressed = [(samples.name, verdict) for samples, verdict in zip(series, per_series, strict=True)]
    regressed = [(name, verdict) for name, verdict in regressed if verdict.ci95[1] < 0]
    if short:
        listed = ", ".join(f"{name!r} has {count}" for name, count in short)
        reason = f"too few pairs: {listed}; at least {min_pairs} per series are needed to judge a gain"
        accepted = False
    elif regressed:
        listed = "; ".join(
            f"{name!r}: {_describe(verdict.gain, verdict.ci95, confidence)}" for name, verdict in regressed
        )
        reason = f"a benchmark regresses: {listed}"
        accepted = False
    else:
        accepted, reason = _decide(
            gain, ci95, total_pairs, min_gain=min_gain, min_pairs=min_pairs, confidence=confidence
        )
        reason = f"over {len(series)} series (geometric mean): {reason}"
    return Verdict(
        accepted=accepted,
        reason=reason,
        gain=gain,
        ci95=ci95,
        pairs=total_pairs,
        method=method,
        per_series=per_series,
    )


def _judge_series(
    samples: ABSamples, *, min_gain: float, min_pairs: int, confidence: float, seed: int
) -> tuple[Verdict, list[float], list[float]]:
    """A series' verdict, its ratios and its bootstrap medians (in resample order), which `judge_all` combines."""
    ratios = _checked_ratios(samples)
    medians = _bootstrap_medians(ratios, _series_rng(seed, samples.name))
    gain = 1 - _median(ratios)
    ci95 = _gain_interval(medians, confidence)
    accepted, reason = _decide(gain, ci95, len(ratios), min_gain=min_gain, min_pairs=min_pairs, confidence=confidence)
    verdict = Verdict(
        accepted=accepted,
        reason=reason,
        gain=gain,
        ci95=ci95,
        pairs=len(ratios),
        method=_method(confidence, seed, aggregate=False),
    )
    return verdict, ratios, medians


def _decide(
    gain: float, ci95: tuple[float, float], pairs: int, *, min_gain: float, min_pairs: int, confidence: float
) -> tuple[bool, str]:
    """The rule itself, with a reason that names the numbers of the first condition that failed."""
    described = _describe(gain, ci95, confidence)
    low, high = ci95
    level = _percent_label(confidence)
    if pairs < min_pairs:
        return False, f"too few pairs: {pairs} measured, at least {min_pairs} are needed to judge a gain ({described})"
    if high < 0:
        return False, f"regression: {described} over {pairs} pairs, the candidate is slower"
    if low <= 0:
        return False, (
            f"gain not distinguishable from noise: {level} CI {_pct(low)} .. {_pct(high)} includes no gain "
            f"(median gain {_pct(gain)} over {pairs} pairs)"
        )
    if gain < min_gain:
        return False, f"{described} over {pairs} pairs is below the {_pct(min_gain)} required"
    return True, f"{described} over {pairs} pairs: accepted"


def _describe(gain: float, ci95: tuple[float, float], confidence: float) -> str:
    return f"median gain {_pct(gain)} ({_percent_label(confidence)} CI {_pct(ci95[0])} .. {_pct(ci95[1])})"


def _pct(fraction: float) -> str:
    return f"{fraction * 100:.1f} %"


def _percent_label(confidence: float) -> str:
    return f"{confidence * 100:g} %"


def _method(confidence: float, seed: int, *, aggregate: bool) -> str:
    statistic = (
        "geometric mean over series of the median candidate/baseline ratio, series resampled separately"
        if aggregate
        else "median of the candidate/baseline ratios"
    )
    resamples = f"{BOOTSTRAP_RESAMPLES:,}".replace(",", " ")
    return (
        f"paired ratio bootstrap, percentile {_percent_label(confidence)} interval, "
        f"{resamples} resamples of the {statistic}, seed {seed}"
    )


def _check_rule(*, min_gain: float, min_pairs: int, confidence: float) -> None:
    if not math.isfinite(min_gain) or min_gain >= 1:
        raise ValueError(f"min_gain must be a finite fraction below 1, got {min_gain}")
    if min_pairs < 1:
        raise ValueError(f"min_pairs must be at least 1, got {min_pairs}")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must lie strictly between 0 and 1, got {confidence}")


def _checked_ratios(samples: ABSamples) -> list[float]:
    """candidate / baseline of every pair, after refusing what cannot be a timing (a zero would make a ratio lie)."""
    if not samples.pairs:
        raise ValueError(f"series {samples.name!r} has no pairs")
    ratios = []
    for index, pair in enumerate(samples.pairs):
        baseline, candidate = pair
        if not (math.isfinite(baseline) and math.isfinite(candidate)) or baseline <= 0 or candidate <= 0:
            raise ValueError(
                f"series {samples.name!r}, pair {index}: timings must be finite and > 0 seconds, got {pair}"
            )
        ratios.append(candidate / baseline)
    return ratios


def _series_rng(seed: int, name: str) -> random.Random:
    """A generator per series: the same seed and series always resample alike, and series judged together are
    resampled independently (a string seed is hashed with SHA-512, so it does not depend on PYTHONHASHSEED)."""
    return random.Random(f"{seed}/{name}")  # noqa: S311 - reproducible resampling, not secrecy


def _bootstrap_medians(ratios: Sequence[float], rng: random.Random) -> list[float]:
    """The median ratio of each of BOOTSTRAP_RESAMPLES resamples of the pairs, in resample order."""
    count = len(ratios)
    middle = count // 2
    draw = rng.choices
    population = list(ratios)
    if count % 2:
        return [sorted(draw(population, k=count))[middle] for _ in range(BOOTSTRAP_RESAMPLES)]
    medians = []
    for _ in range(BOOTSTRAP_RESAMPLES):
        resample = sorted(draw(population, k=count))
        medians.append((resample[middle - 1] + resample[middle]) / 2)
    return medians


def _gain_interval(median_ratios: Sequence[float], confidence: float) -> tuple[float, float]:
    """The percentile interval of the gain: a high ratio is a low gain, so the ends swap."""
    ordered = sorted(median_ratios)
    tail = (1 - confidence) / 2
    return 1 - _percentile(ordered, 1 - tail), 1 - _percentile(ordered, tail)


def _median(values: Sequence[float]) -> float:
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


def _percentile(sorted_values: Sequence[float], fraction: float) -> float:
    """Linear interpolation between closest ranks (the "type 7" definition numpy and spreadsheets use)."""
    position = (len(sorted_values) - 1) * fraction
    lower = math.floor(position)
    upper = min(lower + 1, len(sorted_values) - 1)
    return sorted_values[lower] + (sorted_values[upper] - sorted_values[lower]) * (position - lower)
