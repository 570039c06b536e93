"""The platform's business metrics, published to CloudWatch with Powertools Metrics (embedded metric format).

Code records metrics as it goes (`count`, `record`, `step_latency`); the function's entry point calls `flush` once
per invocation. Publishing is on in AWS only (`configure(publish=True)` when AGENTLAB_ENVIRONMENT is `aws`): EMF
goes to stdout, which Lambda ships to CloudWatch Logs and CloudWatch turns into metrics. Locally nothing is printed;
the values are kept until the next flush so tests can look at them (`pending`).

The CDK app reads the names and dimensions below to build the operators' dashboard and alarms.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Literal

NAMESPACE = "agentlab"
SERVICE = "agentlab"
# Every metric carries these dimensions (Powertools adds `service`); StepLatency adds the step's name.
METRIC_DIMENSIONS = {"service": SERVICE}
STEP_DIMENSION = "step"

Metric = Literal[
    "RunsStarted",
    "RunsSucceeded",
    "RunsFailed",
    "RunsBudgetExceeded",
    "RunsCancelled",
    "RunsStuck",
    "StepLatency",
    "ModelTokens",
    "ModelCost",
    "SandboxSeconds",
    "SandboxFailures",
    "SandboxTasksStopped",
    "UsageThresholds",
]
Unit = Literal["Count", "Milliseconds", "Seconds", "None"]

# The terminal status of a run -> the metric that counts runs ending that way.
RUN_OUTCOMES: dict[str, Metric] = {
    "succeeded": "RunsSucceeded",
    "failed": "RunsFailed",
    "budget_exceeded": "RunsBudgetExceeded",
    "cancelled": "RunsCancelled",
}
UNITS: dict[Metric, Unit] = {
    "RunsStarted": "Count",
    "RunsSucceeded": "Count",
    "RunsFailed": "Count",
    "RunsBudgetExceeded": "Count",
    "RunsCancelled": "Count",
    "RunsStuck": "Count",
    "StepLatency": "Milliseconds",
    "ModelTokens": "Count",
    "ModelCost": "None",  # US dollars; CloudWatch has no currency unit
    "SandboxSeconds": "Seconds",
    "SandboxFailures": "Count",
    "SandboxTasksStopped": "Count",
    "UsageThresholds": "Count",
}
# The dimension of UsageThresholds: the percent of the monthly budget an org's spend reached.
PERCENT_DIMENSION = "percent"


@dataclass(frozen=True)
class Datum:
    name: Metric
    value: float
    dimensions: tuple[tuple[str, str], ...] = ()


@dataclass
class _State:
    publish: bool = False
    pending: list[Datum] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


_state = _State()


def configure(*, publish: bool) -> None:
    """Publish on flush (AWS) or keep values in memory only (local mode and tests)."""
    _state.publish = publish


def record(name: Metric, value: float, **dimensions: str) -> None:
    if value < 0:
        raise ValueError(f"{name} cannot be negative ({value})")
    with _state.lock:
        _state.pending.append(Datum(name, float(value), tuple(sorted(dimensions.items()))))


def count(name: Metric, value: int = 1) -> None:
    record(name, value)


def run_ended(status: str) -> None:
    """Count a run that reached a terminal status."""
    metric = RUN_OUTCOMES.get(status)
    if metric is None:
        raise ValueError(f"{status} is not a terminal run status")
    count(metric)


def model_usage(input_tokens: int, output_tokens: int, cost_usd: float) -> None:
    if input_tokens or output_tokens:
        record("ModelTokens", input_tokens + output_tokens)
    if cost_usd:
        record("ModelCost", cost_usd)


def usage_threshold(percent: int) -> None:
    """Count an org's monthly spend reaching `percent` of its budget (each threshold once a month)."""
    record("UsageThresholds", 1, **{PERCENT_DIMENSION: str(percent)})


def step_latency(step: str, milliseconds: float) -> None:
    record("StepLatency", milliseconds, **{STEP_DIMENSION: step})


def pending() -> list[Datum]:
    with _state.lock:
        return list(_state.pending)


def flush() -> int:
    """Publish what was recorded since the last flush (when publishing) and forget it; the number of values."""
    with _state.lock:
        data, _state.pending = _state.pending, []
    if data and _state.publish:
        _publish(data)
    return len(data)


def _publish(data: list[Datum]) -> None:
    # Imported here: functions that never record a metric do not pay for Powertools' metrics module.
    from aws_lambda_powertools.metrics import EphemeralMetrics

    groups: dict[tuple[tuple[str, str], ...], list[Datum]] = {}
    for datum in data:
        groups.setdefault(datum.dimensions, []).append(datum)
    for dimensions, items in groups.items():
        # One EMF document per set of dimensions: a document's dimensions apply to all of its metrics.
        metrics = EphemeralMetrics(namespace=NAMESPACE, service=SERVICE)
        for key, value in dimensions:
            metrics.add_dimension(name=key, value=value)
        for item in items:
            metrics.add_metric(name=item.name, unit=UNITS[item.name], value=item.value)
        metrics.flush_metrics()
