"""Business metrics: kept in memory locally, published as CloudWatch EMF through Powertools in AWS."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from agentlab import metrics


@pytest.fixture(autouse=True)
def fresh_metrics() -> Iterator[None]:
    metrics.flush()
    metrics.configure(publish=False)
    yield
    metrics.flush()
    metrics.configure(publish=False)


def emf_documents(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{") and '"_aws"' in line]


def test_locally_nothing_is_printed_and_values_wait_for_the_flush(capsys: pytest.CaptureFixture[str]) -> None:
    metrics.count("RunsStarted")
    metrics.run_ended("budget_exceeded")
    metrics.step_latency("think", 12.5)

    assert [(d.name, d.value, d.dimensions) for d in metrics.pending()] == [
        ("RunsStarted", 1.0, ()),
        ("RunsBudgetExceeded", 1.0, ()),
        ("StepLatency", 12.5, (("step", "think"),)),
    ]
    assert metrics.flush() == 3
    assert metrics.pending() == []
    assert capsys.readouterr().out == ""


def test_in_aws_a_flush_prints_one_emf_document_per_set_of_dimensions(capsys: pytest.CaptureFixture[str]) -> None:
    metrics.configure(publish=True)
    metrics.count("RunsStarted")
    metrics.model_usage(input_tokens=100, output_tokens=20, cost_usd=0.0042)
    metrics.record("SandboxSeconds", 1.5)
    metrics.step_latency("execute", 250)

    assert metrics.flush() == 5
    documents = emf_documents(capsys.readouterr().out)

    assert len(documents) == 2
    plain = next(d for d in documents if "step" not in d)
    assert plain["service"] == "agentlab"
    # Powertools writes each metric's values as a list.
    assert (plain["RunsStarted"], plain["ModelTokens"], plain["ModelCost"], plain["SandboxSeconds"]) == (
        [1.0],
        [120.0],
        [0.0042],
        [1.5],
    )
    directive = plain["_aws"]["CloudWatchMetrics"][0]
    assert directive["Namespace"] == metrics.NAMESPACE
    assert directive["Dimensions"] == [["service"]]
    units = {m["Name"]: m["Unit"] for m in directive["Metrics"]}
    assert units == {"RunsStarted": "Count", "ModelTokens": "Count", "ModelCost": "None", "SandboxSeconds": "Seconds"}
    latency = next(d for d in documents if "step" in d)
    assert (latency["step"], latency["StepLatency"]) == ("execute", [250.0])
    assert sorted(latency["_aws"]["CloudWatchMetrics"][0]["Dimensions"][0]) == ["service", "step"]


def test_nothing_recorded_prints_nothing_even_in_aws(capsys: pytest.CaptureFixture[str]) -> None:
    metrics.configure(publish=True)
    assert metrics.flush() == 0
    assert capsys.readouterr().out == ""


def test_free_model_calls_add_no_cost_metric() -> None:
    metrics.model_usage(input_tokens=10, output_tokens=5, cost_usd=0.0)
    assert [d.name for d in metrics.pending()] == ["ModelTokens"]


def test_every_run_outcome_has_a_metric_and_other_statuses_are_refused() -> None:
    from agentlab.models import TERMINAL_STATUSES

    assert set(metrics.RUN_OUTCOMES) == set(TERMINAL_STATUSES)
    with pytest.raises(ValueError, match="not a terminal"):
        metrics.run_ended("running")
    with pytest.raises(ValueError, match="negative"):
        metrics.record("SandboxSeconds", -1)
