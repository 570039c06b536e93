"""The acceptance rule of a candidate's benchmark A/B, on synthetic timings whose true gain is known.

Timings are lognormal around a base time (a few % coefficient of variation, as benchmarks on a shared machine show)
and may drift over the session; the drift is a function of when a run was measured, so the two runs of a pair, taken
back to back, see almost the same drift, as they do on a real machine.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable

import pytest

from agentlab.repo_optimize.acceptance import BOOTSTRAP_RESAMPLES, ABSamples, Verdict, judge, judge_all

BASE_S = 0.050


def synthetic(
    seed: int,
    pairs: int,
    *,
    gain: float,
    cv: float = 0.04,
    drift: Callable[[float], float] = lambda progress: 1.0,
    name: str = "bench",
) -> ABSamples:
    """Interleaved A/B timings: the candidate is `gain` faster; `drift(progress)` scales every run measured at that
    point of the session (0 at the start, 1 at the end), the baseline run of a pair just before the candidate run."""
    rng = random.Random(seed)
    measured = []
    runs = 2 * pairs
    for index in range(pairs):
        baseline = BASE_S * drift(2 * index / runs) * math.exp(rng.gauss(0, cv))
        candidate = BASE_S * (1 - gain) * drift((2 * index + 1) / runs) * math.exp(rng.gauss(0, cv))
        measured.append((baseline, candidate))
    return ABSamples(name=name, pairs=measured)


def from_ratios(ratios: list[float], name: str = "bench") -> ABSamples:
    return ABSamples(name=name, pairs=[(1.0, ratio) for ratio in ratios])


def test_a_true_ten_percent_gain_is_accepted_with_its_numbers() -> None:
    verdict = judge(synthetic(seed=1, pairs=30, gain=0.10))

    assert verdict.accepted
    assert verdict.pairs == 30
    assert verdict.gain == pytest.approx(0.10, abs=0.02)
    low, high = verdict.ci95
    assert 0 < low < verdict.gain < high
    assert low < 0.10 < high
    assert verdict.reason == (
        f"median gain {verdict.gain * 100:.1f} % (95 % CI {low * 100:.1f} % .. {high * 100:.1f} %) "
        "over 30 pairs: accepted"
    )


def test_a_true_four_percent_gain_is_accepted_in_most_seeds_at_forty_pairs() -> None:
    accepted = [seed for seed in range(20) if judge(synthetic(seed=seed, pairs=40, gain=0.04)).accepted]

    assert len(accepted) >= 15


def test_the_same_code_against_itself_is_almost_never_accepted() -> None:
    accepted = [seed for seed in range(40) if judge(synthetic(seed=seed, pairs=30, gain=0.0)).accepted]

    assert len(accepted) <= 2


def test_a_real_two_percent_gain_is_rejected_as_below_the_required_gain() -> None:
    # Enough pairs that the interval excludes no gain: the gain is real, only too small to be worth a patch.
    verdict = judge(synthetic(seed=3, pairs=200, gain=0.02, cv=0.03))

    assert not verdict.accepted
    assert verdict.ci95[0] > 0
    assert verdict.gain == pytest.approx(0.02, abs=0.01)
    assert verdict.reason.endswith("over 200 pairs is below the 3.0 % required")
    assert f"median gain {verdict.gain * 100:.1f} %" in verdict.reason


def test_a_two_percent_gain_is_rejected_whatever_the_seed() -> None:
    assert not any(judge(synthetic(seed=seed, pairs=40, gain=0.02, cv=0.03)).accepted for seed in range(20))


def test_a_regression_is_rejected_as_a_regression() -> None:
    verdict = judge(synthetic(seed=4, pairs=30, gain=-0.05))

    assert not verdict.accepted
    assert verdict.gain == pytest.approx(-0.05, abs=0.02)
    assert verdict.ci95[1] < 0
    assert verdict.reason.startswith("regression: median gain -")
    assert verdict.reason.endswith("over 30 pairs, the candidate is slower")


def test_too_few_pairs_are_rejected_even_for_a_large_gain() -> None:
    verdict = judge(synthetic(seed=5, pairs=9, gain=0.20))

    assert not verdict.accepted
    assert verdict.gain > 0.1
    assert verdict.reason.startswith("too few pairs: 9 measured, at least 10 are needed to judge a gain")


def test_min_pairs_is_the_callers_choice() -> None:
    samples = synthetic(seed=5, pairs=9, gain=0.20)

    assert judge(samples, min_pairs=9).accepted
    assert not judge(samples, min_pairs=10).accepted


def test_a_large_median_gain_with_a_wide_interval_is_rejected_as_noise() -> None:
    # Median ratio 0.9 (a 10 % gain), but half the pairs say the candidate is much slower.
    ratios = [0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 0.9, 0.9, 1.2, 1.3, 1.4, 1.5, 1.6, 1.7, 1.8, 1.9]

    verdict = judge(from_ratios(ratios))

    assert verdict.gain == pytest.approx(0.10)
    assert not verdict.accepted
    assert verdict.ci95[0] <= 0 < verdict.ci95[1]
    assert verdict.reason.startswith("gain not distinguishable from noise: 95 % CI -")
    assert "includes no gain (median gain 10.0 % over 19 pairs)" in verdict.reason


def test_the_gain_is_one_minus_the_median_ratio_and_the_interval_stays_within_the_ratios() -> None:
    ratios = [0.80, 0.85, 0.90, 0.92, 0.95, 0.96, 0.97, 0.98, 0.99, 1.01]
    samples = ABSamples(name="bench", pairs=[(2.0, 2.0 * ratio) for ratio in ratios])

    verdict = judge(samples)

    assert verdict.gain == pytest.approx(1 - (0.95 + 0.96) / 2)
    low, high = verdict.ci95
    assert 1 - max(ratios) <= low <= verdict.gain <= high <= 1 - min(ratios)


def test_identical_timings_give_no_gain_and_a_zero_width_interval() -> None:
    verdict = judge(ABSamples(name="bench", pairs=[(0.01, 0.01)] * 20))

    assert verdict.gain == 0
    assert verdict.ci95 == (0, 0)
    assert not verdict.accepted
    assert verdict.reason.startswith("gain not distinguishable from noise")


def test_drift_shared_by_both_sides_does_not_create_a_gain() -> None:
    # Both sides slow down by half over the session, far more than the noise or the threshold.
    def slowing(progress: float) -> float:
        return 1 + 0.5 * progress

    for seed in range(20):
        steady = judge(synthetic(seed=seed, pairs=30, gain=0.0))
        drifting = judge(synthetic(seed=seed, pairs=30, gain=0.0, drift=slowing))

        assert not drifting.accepted
        assert drifting.gain == pytest.approx(steady.gain, abs=0.01)
        steady_width = steady.ci95[1] - steady.ci95[0]
        assert drifting.ci95[1] - drifting.ci95[0] == pytest.approx(steady_width, rel=0.25, abs=0.005)


def test_a_machine_that_speeds_up_over_the_session_does_not_make_the_later_candidate_look_faster() -> None:
    # Caches warming: both sides get a third faster; each candidate run comes just after its baseline run.
    def warming(progress: float) -> float:
        return 1 - 0.33 * progress

    assert not any(judge(synthetic(seed=seed, pairs=30, gain=0.0, drift=warming)).accepted for seed in range(40))


def test_a_gain_is_still_found_under_drift() -> None:
    verdict = judge(synthetic(seed=6, pairs=30, gain=0.10, drift=lambda progress: 1 + 0.5 * progress))

    assert verdict.accepted
    assert verdict.gain == pytest.approx(0.10, abs=0.02)


def test_the_verdict_is_reproducible_and_names_its_method() -> None:
    samples = synthetic(seed=7, pairs=25, gain=0.05)

    first = judge(samples, seed=11)
    again = judge(samples, seed=11)
    other_seed = judge(samples, seed=12)

    assert first == again
    assert first.gain == other_seed.gain
    assert first.ci95 == pytest.approx(other_seed.ci95, abs=0.01)
    assert BOOTSTRAP_RESAMPLES == 10_000
    assert first.method == (
        "paired ratio bootstrap, percentile 95 % interval, 10 000 resamples of the median of the candidate/baseline "
        "ratios, seed 11"
    )


def test_a_lower_confidence_gives_a_narrower_interval() -> None:
    samples = synthetic(seed=8, pairs=30, gain=0.04)

    wide = judge(samples, confidence=0.99)
    narrow = judge(samples, confidence=0.80)

    assert wide.ci95[0] < narrow.ci95[0] < narrow.ci95[1] < wide.ci95[1]
    assert "80 % CI" in narrow.reason


def test_min_gain_is_the_callers_choice() -> None:
    samples = synthetic(seed=3, pairs=200, gain=0.02, cv=0.03)

    assert judge(samples, min_gain=0.01).accepted
    assert not judge(samples, min_gain=0.03).accepted


@pytest.mark.parametrize(
    "pairs",
    [
        [(1.0, math.nan)],
        [(math.inf, 1.0)],
        [(1.0, -math.inf)],
        [(0.0, 1.0)],
        [(1.0, 0.0)],
        [(-1.0, 1.0)],
        [(1.0, -0.5)],
    ],
)
def test_timings_that_are_not_finite_and_positive_are_refused(pairs: list[tuple[float, float]]) -> None:
    samples = ABSamples(name="bench", pairs=[(1.0, 1.0)] * 20 + pairs)

    with pytest.raises(ValueError, match="pair 20: timings must be finite and > 0 seconds"):
        judge(samples)


def test_a_series_without_pairs_is_refused() -> None:
    with pytest.raises(ValueError, match="has no pairs"):
        judge(ABSamples(name="bench", pairs=[]))


@pytest.mark.parametrize("pair", [(1.0,), (1.0, 1.0, 1.0), ("fast", 1.0)])
def test_a_pair_that_is_not_two_timings_is_refused(pair: tuple[object, ...]) -> None:
    with pytest.raises(ValueError):
        ABSamples.model_validate({"name": "bench", "pairs": [(1.0, 1.0), pair]})


@pytest.mark.parametrize(
    "rule",
    [{"min_gain": math.nan}, {"min_gain": 1.0}, {"min_pairs": 0}, {"confidence": 0.0}, {"confidence": 1.0}],
)
def test_a_rule_that_makes_no_sense_is_refused(rule: dict[str, float]) -> None:
    samples = synthetic(seed=1, pairs=30, gain=0.10)

    with pytest.raises(ValueError):
        judge(samples, **rule)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        judge_all([samples], **rule)  # type: ignore[arg-type]


def test_one_series_judged_together_is_judged_as_alone() -> None:
    samples = synthetic(seed=9, pairs=30, gain=0.05)

    assert judge_all([samples], seed=3) == judge(samples, seed=3)


def test_series_that_all_gain_are_accepted_on_the_geometric_mean_of_their_median_ratios() -> None:
    first = synthetic(seed=10, pairs=30, gain=0.06, name="parse")
    second = synthetic(seed=11, pairs=20, gain=0.10, name="render")

    verdict = judge_all([first, second])

    assert verdict.accepted
    per_series = {series.name: judge(series) for series in (first, second)}
    assert verdict.per_series == [per_series["parse"], per_series["render"]]
    expected_ratio = math.sqrt((1 - per_series["parse"].gain) * (1 - per_series["render"].gain))
    assert verdict.gain == pytest.approx(1 - expected_ratio)
    assert 0 < verdict.ci95[0] < verdict.gain < verdict.ci95[1]
    assert verdict.pairs == 50
    assert verdict.reason.startswith("over 2 series (geometric mean): median gain")
    assert verdict.reason.endswith("over 50 pairs: accepted")
    assert "geometric mean over series" in verdict.method


def test_a_gain_on_one_series_and_no_change_on_another_is_accepted_on_the_aggregate() -> None:
    verdict = judge_all(
        [synthetic(seed=12, pairs=40, gain=0.12, name="hot"), synthetic(seed=13, pairs=40, gain=0.0, name="cold")]
    )

    assert verdict.accepted
    assert verdict.gain == pytest.approx(1 - math.sqrt(0.88), abs=0.02)
    assert [series.accepted for series in verdict.per_series] == [True, False]


def test_a_regressing_series_rejects_the_candidate_whatever_the_aggregate_says() -> None:
    gaining = synthetic(seed=14, pairs=30, gain=0.25, name="hot")
    regressing = synthetic(seed=15, pairs=30, gain=-0.06, name="startup")

    verdict = judge_all([gaining, regressing])

    assert verdict.gain > 0.03
    assert not verdict.accepted
    assert verdict.reason.startswith("a benchmark regresses: 'startup': median gain -")
    assert "hot" not in verdict.reason
    assert verdict.per_series[1].ci95[1] < 0


def test_a_series_with_too_few_pairs_rejects_the_candidate() -> None:
    verdict = judge_all(
        [synthetic(seed=16, pairs=30, gain=0.10, name="hot"), synthetic(seed=17, pairs=4, gain=0.10, name="tiny")]
    )

    assert not verdict.accepted
    assert verdict.reason == "too few pairs: 'tiny' has 4; at least 10 per series are needed to judge a gain"


def test_several_noisy_series_of_the_same_code_are_not_accepted() -> None:
    accepted = [
        seed
        for seed in range(20)
        if judge_all(
            [synthetic(seed=100 * seed + index, pairs=20, gain=0.0, name=f"s{index}") for index in range(3)]
        ).accepted
    ]

    assert len(accepted) <= 1


def test_series_to_judge_together_must_exist_and_have_distinct_names() -> None:
    samples = synthetic(seed=1, pairs=30, gain=0.10)

    with pytest.raises(ValueError, match="no benchmark series"):
        judge_all([])
    with pytest.raises(ValueError, match="must be unique"):
        judge_all([samples, samples])


def test_a_verdict_round_trips_through_json_for_the_record() -> None:
    verdict = judge_all(
        [synthetic(seed=18, pairs=30, gain=0.1, name="a"), synthetic(seed=19, pairs=30, gain=0.1, name="b")]
    )

    assert Verdict.model_validate_json(verdict.model_dump_json()) == verdict
