"""The acceptance rule of a candidate's benchmark A/B: its false-positive rate and its power, with trial counts.

Each trial is one A/B comparison judged by `agentlab.repo_optimize.acceptance.judge` (median gain ≥ 3 % and a 95 %
bootstrap interval of the paired ratios above zero). What it measures:

- synthetic: lognormal noise (4 % CV), a few outliers (2 % of runs 10 to 50 % slow, as a scheduler hiccup makes them)
  and a slow drift shared by both sides (a random walk of the machine's speed); the code against itself (A/A) and
  against planted gains of 3, 4 and 5 %. The same trials judged by a naive rule (median gain ≥ 3 %, no interval),
  the baseline, show what the interval adds; A/A with only 10 pairs (the rule's minimum) shows the small-sample
  false-positive rate.
- real, on this machine, when `python3` and `node` are on PATH: a worker process per language runs a spin loop of N
  iterations on request and times it itself (as pytest-benchmark or tinybench do); A and B alternate ABAB… in one
  session, three warm-up pairs dropped. A/A runs N against N; the planted variants run N against 0.96·N (faster, to be
  detected) and 1.04·N (slower, to be rejected). The measured true gain of the planted variant is printed: the loop's
  fixed overhead makes it a little less than 4 %.
- every table also counts the intervals that exclude zero on either side (what an interval alone, without the 3 %
  floor, would call a change) and the trials rejected as a regression, so the share of the false-positive rate that
  the interval keeps out and the share the 3 % floor keeps out can be told apart.
- the judge's own cost: 10 000 resamples of 50 pairs, against the 0.5 s a validation step can spend on it.

Targets (printed, never asserted): A/A accepted in ≤ 5 % of trials; a planted 3 to 5 % gain accepted in most
trials. The rule requires the measured median gain itself to reach 3 %, so a true gain of exactly 3 % is accepted in
at most about half the trials by construction; 4 % and more is where "most" holds. Each phase stops at a time budget
and prints how many trials it ran.

Run from the repository root: .venv/bin/python bench/validation.py [--trials 100] [--real-trials 20] [--pairs 30]
"""

from __future__ import annotations

import argparse
import json
import math
import random
import shutil
import statistics
import subprocess
import time
from dataclasses import dataclass, field

from agentlab.repo_optimize.acceptance import BOOTSTRAP_RESAMPLES, DEFAULT_MIN_GAIN, ABSamples, judge

TARGET_FALSE_POSITIVE_RATE = 0.05
TARGET_DETECTION_RATE = 0.5
JUDGE_BUDGET_S = 0.5
JUDGE_TIMING_PAIRS = 50
SYNTHETIC_CV = 0.04
SYNTHETIC_OUTLIER_RATE = 0.02
SYNTHETIC_DRIFT_STEP = 0.005
PLANTED_GAINS = (0.03, 0.04, 0.05)
SMALL_SAMPLE_PAIRS = 10
REAL_PLANTED_CHANGE = 0.04
REAL_RUN_TARGET_S = 0.005
WARMUP_PAIRS = 3
SYNTHETIC_BUDGET_S = 40.0
REAL_BUDGET_PER_LANGUAGE_S = 30.0

PYTHON_WORKER = """
import sys, time

def spin(iterations):
    total = 0
    for index in range(iterations):
        total = (total * 31 + index) & 0xFFFFF
    return total

for line in sys.stdin:
    iterations = int(line)
    started = time.perf_counter()
    result = spin(iterations)
    elapsed = time.perf_counter() - started
    sys.stdout.write(f"{elapsed!r} {result}\\n")
    sys.stdout.flush()
"""

NODE_WORKER = """
const readline = require("readline");
function spin(iterations) {
  let total = 0;
  for (let index = 0; index < iterations; index++) total = (total * 31 + index) & 0xfffff;
  return total;
}
readline.createInterface({ input: process.stdin }).on("line", (line) => {
  const iterations = parseInt(line, 10);
  const started = process.hrtime.bigint();
  const result = spin(iterations);
  const elapsed = Number(process.hrtime.bigint() - started) / 1e9;
  process.stdout.write(`${elapsed} ${result}\\n`);
});
"""


@dataclass
class Tally:
    """How many trials of one condition ran and how many the rule accepted (and the naive baseline rule)."""

    trials: int = 0
    accepted: int = 0
    naive_accepted: int = 0
    regressions_flagged: int = 0
    interval_excludes_zero: int = 0
    gains: list[float] = field(default_factory=list)

    def add(self, samples: ABSamples, seed: int) -> None:
        verdict = judge(samples, seed=seed)
        self.trials += 1
        self.accepted += verdict.accepted
        self.naive_accepted += verdict.gain >= DEFAULT_MIN_GAIN
        self.regressions_flagged += verdict.reason.startswith("regression")
        self.interval_excludes_zero += verdict.ci95[0] > 0 or verdict.ci95[1] < 0
        self.gains.append(verdict.gain)

    @property
    def rate(self) -> float:
        return self.accepted / self.trials if self.trials else math.nan

    @property
    def naive_rate(self) -> float:
        return self.naive_accepted / self.trials if self.trials else math.nan


def synthetic_samples(rng: random.Random, pairs: int, gain: float) -> ABSamples:
    """ABAB… runs of a 50 ms benchmark; the drift is a random walk of the machine's speed that both sides share."""
    speed = 1.0
    measured = []

    def one_run(true_s: float) -> float:
        nonlocal speed
        speed *= math.exp(rng.gauss(0, SYNTHETIC_DRIFT_STEP))
        outlier = rng.uniform(1.1, 1.5) if rng.random() < SYNTHETIC_OUTLIER_RATE else 1.0
        return true_s * speed * outlier * math.exp(rng.gauss(0, SYNTHETIC_CV))

    for _ in range(pairs):
        baseline = one_run(0.050)
        candidate = one_run(0.050 * (1 - gain))
        measured.append((baseline, candidate))
    return ABSamples(name="synthetic", pairs=measured)


def run_synthetic(trials: int, pairs: int, seed: int) -> dict[str, Tally]:
    conditions = {"a/a": (0.0, pairs), **{f"gain {gain:.0%}": (gain, pairs) for gain in PLANTED_GAINS}}
    conditions[f"a/a, {SMALL_SAMPLE_PAIRS} pairs"] = (0.0, SMALL_SAMPLE_PAIRS)
    tallies = {name: Tally() for name in conditions}
    deadline = time.perf_counter() + SYNTHETIC_BUDGET_S
    for trial in range(trials):
        if time.perf_counter() > deadline:
            print(f"synthetic: time budget of {SYNTHETIC_BUDGET_S:.0f} s reached after {trial} of {trials} trials")
            break
        for index, (name, (gain, count)) in enumerate(conditions.items()):
            rng = random.Random(f"{seed}/{trial}/{index}")
            tallies[name].add(synthetic_samples(rng, count, gain), seed=trial)
    return tallies


class SpinWorker:
    """A long-lived interpreter that times a spin loop of N iterations each time it is asked."""

    def __init__(self, command: list[str]) -> None:
        self.process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1)

    def time_spin(self, iterations: int) -> float:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(f"{iterations}\n")
        self.process.stdin.flush()
        answer = self.process.stdout.readline()
        if not answer:
            raise RuntimeError(f"worker {self.process.args!r} ended unexpectedly")
        return float(answer.split()[0])

    def calibrate(self, target_s: float) -> int:
        """The iteration count whose run takes about `target_s` (after a few runs to let a JIT settle)."""
        probe = 100_000
        for _ in range(5):
            self.time_spin(probe)
        elapsed = statistics.median(self.time_spin(probe) for _ in range(5))
        return max(1_000, round(probe * target_s / elapsed))

    def close(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.close()
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def measure_interleaved(
    worker: SpinWorker, baseline_iterations: int, candidate_iterations: int, pairs: int
) -> ABSamples:
    measured = []
    for index in range(WARMUP_PAIRS + pairs):
        baseline = worker.time_spin(baseline_iterations)
        candidate = worker.time_spin(candidate_iterations)
        if index >= WARMUP_PAIRS:
            measured.append((baseline, candidate))
    return ABSamples(name="spin", pairs=measured)


@dataclass
class RealResult:
    iterations: int
    run_ms: float
    tallies: dict[str, Tally]
    measured_planted_gain: float
    elapsed_s: float


def run_real(command: list[str], trials: int, pairs: int) -> RealResult:
    started = time.perf_counter()
    worker = SpinWorker(command)
    try:
        iterations = worker.calibrate(REAL_RUN_TARGET_S)
        run_ms = statistics.median(worker.time_spin(iterations) for _ in range(5)) * 1000
        variants = {
            "a/a": iterations,
            f"faster {REAL_PLANTED_CHANGE:.0%}": round(iterations * (1 - REAL_PLANTED_CHANGE)),
            f"slower {REAL_PLANTED_CHANGE:.0%}": round(iterations * (1 + REAL_PLANTED_CHANGE)),
        }
        tallies = {name: Tally() for name in variants}
        planted_ratios: list[float] = []
        deadline = started + REAL_BUDGET_PER_LANGUAGE_S
        for trial in range(trials):
            if time.perf_counter() > deadline:
                print(f"  time budget of {REAL_BUDGET_PER_LANGUAGE_S:.0f} s reached after {trial} of {trials} trials")
                break
            for name, candidate_iterations in variants.items():
                samples = measure_interleaved(worker, iterations, candidate_iterations, pairs)
                tallies[name].add(samples, seed=trial)
                if name.startswith("faster"):
                    baselines = [baseline for baseline, _ in samples.pairs]
                    candidates = [candidate for _, candidate in samples.pairs]
                    planted_ratios.append(statistics.median(candidates) / statistics.median(baselines))
    finally:
        worker.close()
    measured_planted_gain = 1 - statistics.median(planted_ratios) if planted_ratios else math.nan
    return RealResult(iterations, run_ms, tallies, measured_planted_gain, time.perf_counter() - started)


def time_judge() -> float:
    """Median seconds of one `judge` call on 50 pairs (the bootstrap dominates)."""
    rng = random.Random(0)
    samples = synthetic_samples(rng, JUDGE_TIMING_PAIRS, 0.04)
    durations = []
    for seed in range(5):
        begin = time.perf_counter()
        judge(samples, seed=seed)
        durations.append(time.perf_counter() - begin)
    return statistics.median(durations)


def print_tallies(tallies: dict[str, Tally]) -> None:
    """One line per condition; "CI excludes 0" counts intervals that miss zero on either side, min_gain aside."""
    print(
        f"  {'condition':<20} {'trials':>6} {'accepted':>9} {'rate':>7} {'median gain':>12} "
        f"{'CI excludes 0':>14} {'regression':>11} {'naive rule':>11}"
    )
    for name, tally in tallies.items():
        median_gain = statistics.median(tally.gains) if tally.gains else math.nan
        print(
            f"  {name:<20} {tally.trials:>6} {tally.accepted:>9} {tally.rate:>7.1%} {median_gain:>12.2%} "
            f"{tally.interval_excludes_zero:>14} {tally.regressions_flagged:>11} {tally.naive_rate:>11.1%}"
        )


def verdict_on_targets(false_positive_rate: float, detection_rate: float) -> str:
    false_positives = "met" if false_positive_rate <= TARGET_FALSE_POSITIVE_RATE else "MISSED"
    detection = "met" if detection_rate > TARGET_DETECTION_RATE else "MISSED"
    return (
        f"false positives ≤ {TARGET_FALSE_POSITIVE_RATE:.0%}: {false_positives}; detection in most trials: {detection}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=100, help="synthetic trials per condition (at least 20)")
    parser.add_argument("--real-trials", type=int, default=20, help="trials per variant on the real workload")
    parser.add_argument("--pairs", type=int, default=30, help="A/B pairs per trial (after warm-ups)")
    parser.add_argument("--seed", type=int, default=0)
    arguments = parser.parse_args()
    trials = max(20, arguments.trials)
    started = time.perf_counter()
    figures: dict[str, object] = {"pairs": arguments.pairs, "resamples": BOOTSTRAP_RESAMPLES}

    judge_s = time_judge()
    print(
        f"judge, {JUDGE_TIMING_PAIRS} pairs, {BOOTSTRAP_RESAMPLES} resamples: {judge_s * 1000:.1f} ms "
        f"({judge_s / JUDGE_BUDGET_S:.2f} times the {JUDGE_BUDGET_S} s budget)"
    )
    figures["judge_ms_50_pairs"] = round(judge_s * 1000, 1)
    figures["judge_budget_ratio"] = round(judge_s / JUDGE_BUDGET_S, 3)

    print(
        f"\nsynthetic: {arguments.pairs} pairs per trial, lognormal CV {SYNTHETIC_CV:.0%}, "
        f"{SYNTHETIC_OUTLIER_RATE:.0%} outliers, shared random-walk drift; naive rule = median gain ≥ 3 % alone"
    )
    tallies = run_synthetic(trials, arguments.pairs, arguments.seed)
    print_tallies(tallies)
    aa = tallies["a/a"]
    four = tallies["gain 4%"]
    print("  " + verdict_on_targets(aa.rate, four.rate) + " (detection judged at a planted 4 %)")
    figures["synthetic_trials"] = aa.trials
    figures["synthetic_false_positive_rate"] = round(aa.rate, 4)
    figures["synthetic_naive_false_positive_rate"] = round(aa.naive_rate, 4)
    figures["synthetic_aa_interval_excludes_zero_rate"] = round(aa.interval_excludes_zero / aa.trials, 4)
    small = tallies[f"a/a, {SMALL_SAMPLE_PAIRS} pairs"]
    figures[f"synthetic_false_positive_rate_{SMALL_SAMPLE_PAIRS}_pairs"] = round(small.rate, 4)
    figures[f"synthetic_naive_false_positive_rate_{SMALL_SAMPLE_PAIRS}_pairs"] = round(small.naive_rate, 4)
    for gain in PLANTED_GAINS:
        tally = tallies[f"gain {gain:.0%}"]
        figures[f"synthetic_detection_rate_{round(gain * 100)}pct"] = round(tally.rate, 4)
        figures[f"synthetic_naive_detection_rate_{round(gain * 100)}pct"] = round(tally.naive_rate, 4)

    languages = {"python": ["python3", "-c", PYTHON_WORKER], "node": ["node", "-e", NODE_WORKER]}
    available = {name: command for name, command in languages.items() if shutil.which(command[0])}
    if len(available) < len(languages):
        missing = sorted(set(languages) - set(available))
        print(f"\nreal workload: {', '.join(missing)} not on PATH, skipped")
    figures["real_languages"] = sorted(available)
    for name, command in available.items():
        print(
            f"\nreal workload, {name}: spin loop timed in a worker process, {arguments.pairs} pairs per trial "
            f"after {WARMUP_PAIRS} warm-up pairs"
        )
        result = run_real(command, arguments.real_trials, arguments.pairs)
        print(f"  {result.iterations} iterations ≈ {result.run_ms:.2f} ms per run; {result.elapsed_s:.1f} s in all")
        print_tallies(result.tallies)
        aa_real = result.tallies["a/a"]
        faster = result.tallies[f"faster {REAL_PLANTED_CHANGE:.0%}"]
        slower = result.tallies[f"slower {REAL_PLANTED_CHANGE:.0%}"]
        print(f"  planted faster variant measured at a {result.measured_planted_gain:.2%} gain (median of trials)")
        print(f"  slower variant accepted in {slower.accepted} of {slower.trials} trials (must be 0)")
        print("  " + verdict_on_targets(aa_real.rate, faster.rate))
        figures[f"{name}_trials"] = aa_real.trials
        figures[f"{name}_run_ms"] = round(result.run_ms, 3)
        figures[f"{name}_false_positive_rate"] = round(aa_real.rate, 4)
        figures[f"{name}_naive_false_positive_rate"] = round(aa_real.naive_rate, 4)
        figures[f"{name}_aa_interval_excludes_zero_rate"] = round(aa_real.interval_excludes_zero / aa_real.trials, 4)
        figures[f"{name}_aa_regression_flagged"] = aa_real.regressions_flagged
        figures[f"{name}_detection_rate_4pct"] = round(faster.rate, 4)
        figures[f"{name}_measured_planted_gain"] = round(result.measured_planted_gain, 4)
        figures[f"{name}_slower_accepted"] = slower.accepted
        figures[f"{name}_slower_flagged_regression"] = slower.regressions_flagged

    elapsed = time.perf_counter() - started
    print(f"\ntargets: A/A accepted ≤ {TARGET_FALSE_POSITIVE_RATE:.0%}, planted 3 to 5 % accepted in most trials")
    print(f"elapsed {elapsed:.1f} s")
    figures["elapsed_s"] = round(elapsed, 1)
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
