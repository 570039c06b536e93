"""Local engine overhead per loop iteration: the real agent_run ASL on moto, the real handlers, the scripted model.

Each run plays a script of CELLS python cells (`x = 1`) then finish. Its wall time (created_at to ended_at, stamped
by the platform, so the polling period does not count) minus sandbox time (execute steps) and model time (think
steps), divided by its iterations (think steps), is the overhead the platform adds per iteration. The breakdown
splits the wall time into: time inside the step handlers (sandbox, model, critique, the DynamoDB calls, and the rest
of the step logic: S3 calls on moto, kernel start, validation, metrics) and time outside them (moto's Step Functions
engine and the Lambda dispatch, queueing before the execution starts). A DynamoDB call's time is botocore's request
and answer and moto's work behind the stubbed endpoint, counted for the calls made inside step handlers. The
steady-state figure leaves out the once-per-run parts (prepare, kernel start, evaluate, finalize): it is the gap
between consecutive think steps minus that iteration's sandbox and model time.

All runs share one table, as runs on one local stack do, so later runs see a larger table. A run starts once the
previous run's execution has ended (Finalize goes on after stamping the run's end), so no run is measured beside
another's leftover work; that leftover is printed apart.

The same measurement runs twice, each on a fresh moto: first without the local engine's speed shortcuts
(`install_lambda_dispatch(shortcuts=False)`: moto as it comes, with only the lock and the state machine copy it needs
to run at all), then with them, so the figure they save is measured on the same machine in the same minute. The
figures without a `without_shortcuts_` prefix are the ones with the shortcuts, as the local stack runs.

Run from the repository root: .venv/bin/python bench/workflow.py
"""

from __future__ import annotations

import itertools
import json
import os
import statistics
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from agentlab.local.functions import Handler, HandlerRegistry, LambdaContext

ROOT = Path(__file__).resolve().parents[1]
TARGET_P50_MS = 50
RUNS = 5
CELLS = 6
RUN_TIMEOUT_S = 30
POLL_S = 0.1
TERMINAL = {"succeeded", "failed", "cancelled", "budget_exceeded"}
# States entered once per run: Prepare, AfterPrepare, the last Think (which chose finish) and AfterThink, Evaluate,
# AfterEvaluate, Finalize, Done. The rest are the CELLS think -> critique -> execute iterations.
ONCE_PER_RUN_TRANSITIONS = 8
# What a think -> critique -> execute iteration cost before critique ran inside the Execute state.
PREVIOUS_TRANSITIONS_PER_ITERATION = 6
TARGET_TRANSITIONS_PER_ITERATION = 4


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def bench_environment(sandbox_root: Path) -> dict[str, str]:
    """What the handlers read, as the integration tests set it; fake credentials so nothing can reach AWS."""
    return {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
        "POWERTOOLS_LOG_LEVEL": "WARNING",
        "POWERTOOLS_SERVICE_NAME": "agentlab",
        "POWERTOOLS_METRICS_NAMESPACE": "agentlab-bench",
        "AGENTLAB_TABLE_NAME": "agentlab-bench",
        "AGENTLAB_BUCKET_NAME": "agentlab-bench-data",
        "AGENTLAB_DEFAULT_MODEL_REF": "scripted",
        "AGENTLAB_SANDBOX_ROOT": str(sandbox_root),
        "AGENTLAB_S3_PRESIGN_ENDPOINT_URL": "",
    }


def parse_stamp(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00"))


def seconds_between(start: str, end: str) -> float:
    return (parse_stamp(end) - parse_stamp(start)).total_seconds()


class TimedRegistry(HandlerRegistry):
    """The real handlers, each call timed, so the time spent inside step handlers can be told from the engine's.

    Each step invocation and each DynamoDB call a step makes is kept as a wall-clock interval (epoch seconds, the
    clock the platform stamps runs with), so that only the part inside a run's created_at..ended_at counts: Finalize
    goes on after it stamps the run's end (usage roll-ups, its meter), and that work is no part of the run's wall time.
    """

    def __init__(self, functions_dir: Path) -> None:
        super().__init__(functions_dir)
        self.steps: list[tuple[float, float]] = []
        self.dynamodb_calls: list[tuple[float, float]] = []
        self._spent_lock = threading.Lock()
        self._in_step = threading.local()

    def handler(self, function_name: str) -> Handler:
        inner = super().handler(function_name)
        if function_name == "api":
            return inner

        def timed(event: dict[str, Any], context: Any) -> Any:
            began = time.time()
            self._in_step.active = True
            try:
                return inner(event, context)
            finally:
                self._in_step.active = False
                with self._spent_lock:
                    self.steps.append((began, time.time()))

        return timed

    def time_dynamodb_calls(self) -> Callable[[], None]:
        """Keep the interval of every DynamoDB call a step handler makes (botocore's side and moto's). Returns the
        undo."""
        from botocore.client import BaseClient

        original = BaseClient._make_api_call

        def make_api_call(client: Any, operation_name: str, api_params: Any) -> Any:
            if not getattr(self._in_step, "active", False) or client.meta.service_model.service_name != "dynamodb":
                return original(client, operation_name, api_params)
            began = time.time()
            try:
                return original(client, operation_name, api_params)
            finally:
                with self._spent_lock:
                    self.dynamodb_calls.append((began, time.time()))

        BaseClient._make_api_call = make_api_call  # type: ignore[method-assign]

        def undo() -> None:
            BaseClient._make_api_call = original  # type: ignore[method-assign]

        return undo

    def take_intervals(self) -> tuple[list[tuple[float, float]], list[tuple[float, float]]]:
        """The step invocations and their DynamoDB calls since the last call."""
        with self._spent_lock:
            steps, calls = self.steps, self.dynamodb_calls
            self.steps, self.dynamodb_calls = [], []
        return steps, calls


def inside_ms(intervals: list[tuple[float, float]], start: float, end: float) -> float:
    """The milliseconds covered by `intervals` between `start` and `end` (epoch seconds); overlapping intervals (two
    invocations at once) count once."""
    covered, reached = 0.0, start
    for a, b in sorted(intervals):
        a, b = max(a, reached), min(b, end)
        if b > a:
            covered += b - a
            reached = b
    return covered * 1000


class InProcessApi:
    """The real API handler called with API Gateway v2 events, as API Gateway would call it."""

    def __init__(self, handler: Handler, key: str) -> None:
        self.handler = handler
        self.key = key

    def call(self, method: str, target: str, body: Any = None) -> tuple[int, Any]:
        from agentlab.local.gateway import api_event

        headers = {"content-type": "application/json", "authorization": f"Bearer {self.key}", "user-agent": "bench"}
        data = json.dumps(body).encode() if body is not None else b""
        event = api_event(method, target, headers, data, "127.0.0.1")
        result = self.handler(event, LambdaContext("agentlab-api", event["requestContext"]["requestId"]))
        return int(result["statusCode"]), json.loads(result.get("body") or "null")


class BenchPlatform:
    """The platform on moto in this process, set up as the integration tests' Platform fixture sets it up."""

    def __init__(self, sandbox_root: Path, *, shortcuts: bool) -> None:
        from agentlab.aws import AwsClients
        from agentlab.local.aws import create_resources, install_lambda_dispatch
        from agentlab.settings import CoreSettings
        from agentlab.store.orgs import OrgStore
        from agentlab.store.runs import RunStore
        from agentlab.store.table import Table

        os.environ.update(bench_environment(sandbox_root))
        self.registry = TimedRegistry(ROOT / "functions")
        settings = CoreSettings()
        self.clients = AwsClients(settings)
        self.table_name = settings.table_name
        machines = create_resources(
            self.clients,
            table_name=settings.table_name,
            bucket_name=settings.bucket_name,
            region=settings.region,
            statemachines_dir=ROOT / "statemachines",
            registry=self.registry,
        )
        os.environ["AGENTLAB_AGENT_RUN_STATE_MACHINE_ARN"] = machines["agent_run"]
        self.undo_dispatch = install_lambda_dispatch(self.registry, shortcuts=shortcuts)
        self.undo_timing = self.registry.time_dynamodb_calls()
        table = Table(lambda: self.clients.dynamodb, settings.table_name)
        self.runs = RunStore(table)
        org = OrgStore(table).create_org("bench")
        _, key = OrgStore(table).create_api_key(org.id, name="bench", role="admin")
        self.org_id = org.id
        self.api = InProcessApi(self.registry.handler("api"), key)

    def table_items(self) -> int:
        pages = self.clients.dynamodb.get_paginator("scan").paginate(TableName=self.table_name, Select="COUNT")
        return sum(int(page["Count"]) for page in pages)

    def create_agent(self) -> str:
        status, agent = self.api.call(
            "POST",
            "/v1/agents",
            {
                "name": "bench-agent",
                "models": {"reasoning": ["scripted"]},
                "limits": {"max_steps": CELLS + 5, "cell_timeout_s": 20},
            },
        )
        if status != 201:
            raise RuntimeError(f"POST /v1/agents answered {status}: {agent}")
        return str(agent["id"])

    def run_once(self, agent_id: str) -> dict[str, Any]:
        script = [{"tool": "python", "code": "x = 1"} for _ in range(CELLS)] + [{"tool": "finish", "answer": "done"}]
        self.registry.take_intervals()
        status, created = self.api.call("POST", "/v1/runs", {"agent_id": agent_id, "prompt": "bench", "script": script})
        if status != 201:
            raise RuntimeError(f"POST /v1/runs answered {status}: {created}")
        # A direct read of the run record between polls keeps the poller's own cost low.
        deadline = time.monotonic() + RUN_TIMEOUT_S
        while self.runs.get(self.org_id, created["id"]).status not in TERMINAL and time.monotonic() < deadline:
            time.sleep(POLL_S)
        # Finalize goes on after the run's end stamp: its invocation is over (and timed) once the execution is, and
        # the next run must not start beside it.
        self.wait_for_execution_end(created["id"], deadline)
        steps, dynamodb_calls = self.registry.take_intervals()
        _, final = self.api.call("GET", f"/v1/runs/{created['id']}")
        _, page = self.api.call("GET", f"/v1/runs/{created['id']}/steps?limit=200")
        return {
            "run": final,
            "steps": page["items"],
            "step_intervals": steps,
            "dynamodb_intervals": dynamodb_calls,
            "transitions": self.state_transitions(created["id"]),
        }

    def wait_for_execution_end(self, run_id: str, deadline: float) -> None:
        from agentlab.workflow.executions import execution_arn

        arn = execution_arn(os.environ["AGENTLAB_AGENT_RUN_STATE_MACHINE_ARN"], run_id)
        while self.clients.stepfunctions.describe_execution(executionArn=arn)["status"] == "RUNNING":
            if time.monotonic() > deadline:
                return
            time.sleep(POLL_S / 10)

    def state_transitions(self, run_id: str) -> int:
        """The states the run's execution entered, from its history: what Step Functions bills as transitions."""
        from agentlab.workflow.executions import execution_arn

        arn = execution_arn(os.environ["AGENTLAB_AGENT_RUN_STATE_MACHINE_ARN"], run_id)
        pages = self.clients.stepfunctions.get_paginator("get_execution_history").paginate(executionArn=arn)
        return sum(1 for page in pages for event in page["events"] if event["type"].endswith("StateEntered"))


def steady_iteration_overheads(steps: list[dict[str, Any]]) -> list[float]:
    """Overhead of each full iteration between two think steps (think records are written at a think's end)."""
    overheads = []
    think_positions = [i for i, s in enumerate(steps) if s["type"] == "think"]
    for before, after in itertools.pairwise(think_positions):
        between = steps[before + 1 : after + 1]
        gap_ms = seconds_between(steps[before]["created_at"], steps[after]["created_at"]) * 1000
        spent_ms = sum(s["duration_ms"] for s in between if s["type"] in ("execute", "think"))
        overheads.append(gap_ms - spent_ms)
    return overheads


def measure_run(record: dict[str, Any]) -> dict[str, Any]:
    run, steps = record["run"], record["steps"]
    if run["status"] not in TERMINAL or run["ended_at"] is None:
        return {"status": run["status"], "complete": False}

    def spent(step_type: str) -> float:
        return float(sum(s["duration_ms"] for s in steps if s["type"] == step_type))

    wall_ms = seconds_between(run["created_at"], run["ended_at"]) * 1000
    sandbox_ms, model_ms, critique_ms = spent("execute"), spent("think"), spent("critique")
    iterations = max(1, sum(s["type"] == "think" for s in steps))
    start, end = (parse_stamp(run[name]).timestamp() for name in ("created_at", "ended_at"))
    handlers_ms = inside_ms(record["step_intervals"], start, end)
    dynamodb_ms = inside_ms(record["dynamodb_intervals"], start, end)
    after_end_ms = inside_ms(record["step_intervals"], end, float("inf"))
    return {
        "status": run["status"],
        "complete": True,
        "iterations": iterations,
        "wall_ms": wall_ms,
        "sandbox_ms": sandbox_ms,
        "model_ms": model_ms,
        "critique_ms": critique_ms,
        "step_logic_ms": handlers_ms - sandbox_ms - model_ms - critique_ms,
        "dynamodb_ms": dynamodb_ms,
        "step_logic_without_dynamodb_ms": handlers_ms - sandbox_ms - model_ms - critique_ms - dynamodb_ms,
        "after_end_ms": after_end_ms,
        "engine_ms": wall_ms - handlers_ms,
        "queued_ms": seconds_between(run["created_at"], run["started_at"]) * 1000 if run["started_at"] else 0.0,
        "overhead_per_iteration_ms": (wall_ms - sandbox_ms - model_ms) / iterations,
        "steady_iterations_ms": steady_iteration_overheads(steps),
        "transitions": record["transitions"],
        "transitions_per_cell_iteration": (record["transitions"] - ONCE_PER_RUN_TRANSITIONS) / CELLS,
    }


def run_bench(*, shortcuts: bool = True) -> tuple[list[dict[str, Any]], int]:
    from moto import mock_aws

    from agentlab.local.aws import MOTO_CONFIG

    with tempfile.TemporaryDirectory(prefix="agentlab-bench-") as scratch, mock_aws(config=MOTO_CONFIG):  # type: ignore[call-overload]
        platform = BenchPlatform(Path(scratch) / "sandbox", shortcuts=shortcuts)
        try:
            agent_id = platform.create_agent()
            # One run first so every handler module is loaded and every client built: cold starts are not overhead.
            platform.run_once(agent_id)
            measured = [measure_run(platform.run_once(agent_id)) for _ in range(RUNS)]
            return measured, platform.table_items()
        finally:
            platform.undo_timing()
            platform.undo_dispatch()


def summarise(measured: list[dict[str, Any]], table_items: int) -> dict[str, Any]:
    complete = [m for m in measured if m["complete"]]
    figures: dict[str, Any] = {
        "runs": len(measured),
        "runs_complete": len(complete),
        "runs_succeeded": sum(m["status"] == "succeeded" for m in measured),
        "cells_per_run": CELLS,
        "target_p50_ms": TARGET_P50_MS,
        "table_items_at_end": table_items,
    }
    if not complete:
        return figures
    per_iteration = [m["overhead_per_iteration_ms"] for m in complete]
    steady = [o for m in complete for o in m["steady_iterations_ms"]]
    iterations = sum(m["iterations"] for m in complete)

    def per_iteration_mean(field: str) -> float:
        return round(sum(m[field] for m in complete) / iterations, 1)

    figures.update(
        {
            "overhead_per_iteration_p50_ms": round(percentile(per_iteration, 0.5), 1),
            "overhead_per_iteration_p99_ms": round(percentile(per_iteration, 0.99), 1),
            "steady_overhead_per_iteration_p50_ms": round(percentile(steady, 0.5), 1) if steady else None,
            "steady_overhead_per_iteration_p99_ms": round(percentile(steady, 0.99), 1) if steady else None,
            "first_run_overhead_per_iteration_ms": round(complete[0]["overhead_per_iteration_ms"], 1),
            "last_run_overhead_per_iteration_ms": round(complete[-1]["overhead_per_iteration_ms"], 1),
            "iterations_per_run": round(iterations / len(complete), 1),
            "wall_per_iteration_ms": per_iteration_mean("wall_ms"),
            "sandbox_per_iteration_ms": per_iteration_mean("sandbox_ms"),
            "model_per_iteration_ms": per_iteration_mean("model_ms"),
            "critique_per_iteration_ms": per_iteration_mean("critique_ms"),
            "step_logic_per_iteration_ms": per_iteration_mean("step_logic_ms"),
            "step_logic_without_dynamodb_per_iteration_ms": per_iteration_mean("step_logic_without_dynamodb_ms"),
            "dynamodb_per_iteration_ms": per_iteration_mean("dynamodb_ms"),
            "engine_per_iteration_ms": per_iteration_mean("engine_ms"),
            "queued_p50_ms": round(statistics.median(m["queued_ms"] for m in complete), 1),
            "after_end_per_run_p50_ms": round(statistics.median(m["after_end_ms"] for m in complete), 1),
            "transitions_per_run": round(statistics.median(m["transitions"] for m in complete), 1),
            "transitions_per_cell_iteration": round(
                statistics.median(m["transitions_per_cell_iteration"] for m in complete), 2
            ),
            "previous_transitions_per_cell_iteration": PREVIOUS_TRANSITIONS_PER_ITERATION,
            "target_transitions_per_cell_iteration": TARGET_TRANSITIONS_PER_ITERATION,
            "run_wall_p50_ms": round(statistics.median(m["wall_ms"] for m in complete), 1),
        }
    )
    return figures


def report(measured: list[dict[str, Any]], figures: dict[str, Any]) -> None:
    header = ("run", "status", "iters", "wall", "sandbox", "model", "critique", "steps", "engine", "ovh/iter")
    print("{:>3} {:<10} {:>5} {:>7} {:>7} {:>6} {:>8} {:>7} {:>7} {:>8}   (ms)".format(*header))
    for number, m in enumerate(measured, 1):
        if not m["complete"]:
            print(f"{number:>3} {m['status']:<10} did not end within {RUN_TIMEOUT_S} s")
            continue
        print(
            f"{number:>3} {m['status']:<10} {m['iterations']:>5} {m['wall_ms']:>7.0f} {m['sandbox_ms']:>7.0f} "
            f"{m['model_ms']:>6.0f} {m['critique_ms']:>8.0f} {m['step_logic_ms']:>7.0f} {m['engine_ms']:>7.0f} "
            f"{m['overhead_per_iteration_ms']:>8.1f}"
        )
    if not figures["runs_complete"]:
        return
    print(
        f"\noverhead per iteration: p50 {figures['overhead_per_iteration_p50_ms']} ms, "
        f"p99 {figures['overhead_per_iteration_p99_ms']} ms (target p50 <= {TARGET_P50_MS} ms)"
    )
    print(
        "steady state (think to think, without prepare, kernel start, evaluate, finalize): "
        f"p50 {figures['steady_overhead_per_iteration_p50_ms']} ms, "
        f"p99 {figures['steady_overhead_per_iteration_p99_ms']} ms"
    )
    print(
        f"per iteration: wall {figures['wall_per_iteration_ms']} ms = sandbox {figures['sandbox_per_iteration_ms']}"
        f" + model {figures['model_per_iteration_ms']} + critique {figures['critique_per_iteration_ms']}"
        f" + step logic (S3 on moto, kernel start, pydantic, metrics) "
        f"{figures['step_logic_without_dynamodb_per_iteration_ms']}"
        f" + DynamoDB calls on moto (botocore and moto) {figures['dynamodb_per_iteration_ms']}"
        f" + Step Functions engine and dispatch {figures['engine_per_iteration_ms']}"
    )
    print(
        f"state transitions: {figures['transitions_per_run']} per run, "
        f"{figures['transitions_per_cell_iteration']} per think -> critique -> execute iteration counted from the "
        f"execution histories (before critique ran inside Execute: {PREVIOUS_TRANSITIONS_PER_ITERATION}; "
        f"target <= {TARGET_TRANSITIONS_PER_ITERATION})"
    )
    print(
        f"queued before prepare p50 {figures['queued_p50_ms']} ms; step work after the run's end stamp (Finalize's "
        f"roll-ups and meter, outside the wall time) p50 {figures['after_end_per_run_p50_ms']} ms per run; "
        f"{figures['table_items_at_end']} items in the table at the end"
    )


# The figures compared with and without the local engine's shortcuts.
COMPARED = (
    "overhead_per_iteration_p50_ms",
    "steady_overhead_per_iteration_p50_ms",
    "step_logic_without_dynamodb_per_iteration_ms",
    "dynamodb_per_iteration_ms",
    "engine_per_iteration_ms",
)


def main() -> None:
    print("without the local engine's shortcuts (moto as it comes):")
    measured_without, items_without = run_bench(shortcuts=False)
    without = summarise(measured_without, items_without)
    report(measured_without, without)
    print("\nwith the shortcuts (as the local stack runs):")
    measured, table_items = run_bench(shortcuts=True)
    figures = summarise(measured, table_items)
    report(measured, figures)
    if figures["runs_complete"] and without["runs_complete"]:
        print("\nthe shortcuts, same run (without -> with, ms per iteration):")
        for name in COMPARED:
            before, after = without.get(name), figures.get(name)
            print(f"  {name.removesuffix('_ms'):<46} {before!s:>7} -> {after!s:>7}")
    figures.update({f"without_shortcuts_{name}": without.get(name) for name in COMPARED})
    figures["without_shortcuts_runs_complete"] = without["runs_complete"]
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
