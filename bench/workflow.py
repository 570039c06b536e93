"""Local engine overhead per loop iteration: the real agent_run ASL on moto, the real handlers, the scripted model.

Each run plays a script of CELLS python cells (`x = 1`) then finish. Its wall time (created_at to ended_at, stamped
by the platform, so the polling period does not count) minus sandbox time (execute steps) and model time (think
steps), divided by its iterations (think steps), is the overhead the platform adds per iteration. The breakdown
splits the wall time into: time inside the step handlers (sandbox, model, critique, and the rest: step logic, DynamoDB
and S3 calls on moto, kernel start) and time outside them (moto's Step Functions engine and the Lambda dispatch,
queueing before the execution starts). The steady-state figure leaves out the once-per-run parts (prepare, kernel
start, evaluate, finalize): it is the gap between consecutive think steps minus that iteration's sandbox and model
time.

All runs share one table, as runs on one local stack do, so later runs see a larger table.

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
from collections import defaultdict
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


def seconds_between(start: str, end: str) -> float:
    def parse(stamp: str) -> datetime:
        return datetime.fromisoformat(stamp.replace("Z", "+00:00"))

    return (parse(end) - parse(start)).total_seconds()


class TimedRegistry(HandlerRegistry):
    """The real handlers, each call timed, so the time spent inside step handlers can be told from the engine's."""

    def __init__(self, functions_dir: Path) -> None:
        super().__init__(functions_dir)
        self.spent_ms: dict[str, float] = defaultdict(float)
        self._spent_lock = threading.Lock()

    def handler(self, function_name: str) -> Handler:
        inner = super().handler(function_name)

        def timed(event: dict[str, Any], context: Any) -> Any:
            began = time.perf_counter()
            try:
                return inner(event, context)
            finally:
                with self._spent_lock:
                    self.spent_ms[function_name] += (time.perf_counter() - began) * 1000

        return timed

    def take_step_time_ms(self) -> float:
        """Time spent in step handlers (not the API) since the last call."""
        with self._spent_lock:
            total = sum(ms for name, ms in self.spent_ms.items() if name != "api")
            self.spent_ms.clear()
        return total


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

    def __init__(self, sandbox_root: Path) -> None:
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
        self.undo_dispatch = install_lambda_dispatch(self.registry)
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
        self.registry.take_step_time_ms()
        status, created = self.api.call("POST", "/v1/runs", {"agent_id": agent_id, "prompt": "bench", "script": script})
        if status != 201:
            raise RuntimeError(f"POST /v1/runs answered {status}: {created}")
        # A direct read of the run record between polls keeps the poller's own cost low.
        deadline = time.monotonic() + RUN_TIMEOUT_S
        while self.runs.get(self.org_id, created["id"]).status not in TERMINAL and time.monotonic() < deadline:
            time.sleep(POLL_S)
        handlers_ms = self.registry.take_step_time_ms()
        _, final = self.api.call("GET", f"/v1/runs/{created['id']}")
        _, page = self.api.call("GET", f"/v1/runs/{created['id']}/steps?limit=200")
        return {
            "run": final,
            "steps": page["items"],
            "handlers_ms": handlers_ms,
            "transitions": self.state_transitions(created["id"]),
        }

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
    handlers_ms = min(record["handlers_ms"], wall_ms)
    return {
        "status": run["status"],
        "complete": True,
        "iterations": iterations,
        "wall_ms": wall_ms,
        "sandbox_ms": sandbox_ms,
        "model_ms": model_ms,
        "critique_ms": critique_ms,
        "step_logic_ms": handlers_ms - sandbox_ms - model_ms - critique_ms,
        "engine_ms": wall_ms - handlers_ms,
        "queued_ms": seconds_between(run["created_at"], run["started_at"]) * 1000 if run["started_at"] else 0.0,
        "overhead_per_iteration_ms": (wall_ms - sandbox_ms - model_ms) / iterations,
        "steady_iterations_ms": steady_iteration_overheads(steps),
        "transitions": record["transitions"],
        "transitions_per_cell_iteration": (record["transitions"] - ONCE_PER_RUN_TRANSITIONS) / CELLS,
    }


def run_bench() -> tuple[list[dict[str, Any]], int]:
    from moto import mock_aws

    from agentlab.local.aws import MOTO_CONFIG

    with tempfile.TemporaryDirectory(prefix="agentlab-bench-") as scratch, mock_aws(config=MOTO_CONFIG):  # type: ignore[call-overload]
        platform = BenchPlatform(Path(scratch) / "sandbox")
        try:
            agent_id = platform.create_agent()
            # One run first so every handler module is loaded and every client built: cold starts are not overhead.
            platform.run_once(agent_id)
            measured = [measure_run(platform.run_once(agent_id)) for _ in range(RUNS)]
            return measured, platform.table_items()
        finally:
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
            "engine_per_iteration_ms": per_iteration_mean("engine_ms"),
            "queued_p50_ms": round(statistics.median(m["queued_ms"] for m in complete), 1),
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
        f" + other step work (logic, moto calls, kernel start) {figures['step_logic_per_iteration_ms']}"
        f" + engine and dispatch {figures['engine_per_iteration_ms']}"
    )
    print(
        f"state transitions: {figures['transitions_per_run']} per run, "
        f"{figures['transitions_per_cell_iteration']} per think -> critique -> execute iteration counted from the "
        f"execution histories (before critique ran inside Execute: {PREVIOUS_TRANSITIONS_PER_ITERATION}; "
        f"target <= {TARGET_TRANSITIONS_PER_ITERATION})"
    )
    print(
        f"queued before prepare p50 {figures['queued_p50_ms']} ms; "
        f"{figures['table_items_at_end']} items in the table at the end"
    )


def main() -> None:
    measured, table_items = run_bench()
    figures = summarise(measured, table_items)
    report(measured, figures)
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
