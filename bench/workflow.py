"""Local engine overhead per loop iteration: the real agent_run ASL on moto, the real handlers, the scripted model.

Each run plays a script of CELLS python cells (`x = 1`) then finish. Its wall time (created_at to ended_at, stamped
by the platform, so the polling period does not count) minus sandbox time (execute steps) and model time (think
steps), divided by its iterations (think steps), is the overhead the engine adds per iteration: state transitions,
Lambda dispatch, DynamoDB and S3 calls, critique, kernel start. The steady-state figure leaves out the once-per-run
parts (prepare, kernel start, evaluate, finalize): it is the gap between consecutive think steps minus that
iteration's sandbox and model time.

Run from the repository root: .venv/bin/python bench/workflow.py
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
TARGET_P50_MS = 50
RUNS = 5
CELLS = 6
RUN_TIMEOUT_S = 30
POLL_S = 0.1
TERMINAL = {"succeeded", "failed", "cancelled", "budget_exceeded"}


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


def parse_time(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00"))


def seconds_between(start: str, end: str) -> float:
    return (parse_time(end) - parse_time(start)).total_seconds()


class InProcessApi:
    """The real API handler called with API Gateway v2 events, as API Gateway would call it."""

    def __init__(self, handler: Any, key: str) -> None:
        self.handler = handler
        self.key = key

    def call(self, method: str, target: str, body: Any = None) -> tuple[int, Any]:
        from agentlab.local.functions import LambdaContext
        from agentlab.local.gateway import api_event

        headers = {"content-type": "application/json", "authorization": f"Bearer {self.key}", "user-agent": "bench"}
        data = json.dumps(body).encode() if body is not None else b""
        event = api_event(method, target, headers, data, "127.0.0.1")
        result = self.handler(event, LambdaContext("agentlab-api", event["requestContext"]["requestId"]))
        return int(result["statusCode"]), json.loads(result.get("body") or "null")


def run_once(api: InProcessApi, runs: Any, org_id: str, agent_id: str) -> dict[str, Any]:
    script = [{"tool": "python", "code": "x = 1"} for _ in range(CELLS)] + [{"tool": "finish", "answer": "done"}]
    status, created = api.call("POST", "/v1/runs", {"agent_id": agent_id, "prompt": "bench", "script": script})
    if status != 201:
        raise RuntimeError(f"POST /v1/runs answered {status}: {created}")
    # A direct read of the run record between polls keeps the poller's own cost off the engine's thread.
    deadline = time.monotonic() + RUN_TIMEOUT_S
    while True:
        run = runs.get(org_id, created["id"])
        if run.status in TERMINAL or time.monotonic() > deadline:
            break
        time.sleep(POLL_S)
    _, final = api.call("GET", f"/v1/runs/{created['id']}")
    _, page = api.call("GET", f"/v1/runs/{created['id']}/steps?limit=200")
    return {"run": final, "steps": page["items"]}


def measure_run(record: dict[str, Any]) -> dict[str, Any]:
    run, steps = record["run"], record["steps"]
    if run["status"] not in TERMINAL or run["ended_at"] is None:
        return {"status": run["status"], "complete": False}
    thinks = [s for s in steps if s["type"] == "think"]
    wall_ms = seconds_between(run["created_at"], run["ended_at"]) * 1000
    sandbox_ms = sum(s["duration_ms"] for s in steps if s["type"] == "execute")
    model_ms = sum(s["duration_ms"] for s in thinks)
    critique_ms = sum(s["duration_ms"] for s in steps if s["type"] == "critique")
    iterations = max(1, len(thinks))
    overhead_ms = wall_ms - sandbox_ms - model_ms
    return {
        "status": run["status"],
        "complete": True,
        "iterations": iterations,
        "wall_ms": wall_ms,
        "sandbox_ms": sandbox_ms,
        "model_ms": model_ms,
        "critique_ms": critique_ms,
        "queued_ms": seconds_between(run["created_at"], run["started_at"]) * 1000 if run["started_at"] else 0.0,
        "overhead_per_iteration_ms": overhead_ms / iterations,
        "steady_iterations_ms": steady_iteration_overheads(steps),
    }


def steady_iteration_overheads(steps: list[dict[str, Any]]) -> list[float]:
    """Overhead of each full iteration between two think steps (think records are written at a think's end)."""
    overheads = []
    think_positions = [i for i, s in enumerate(steps) if s["type"] == "think"]
    for before, after in zip(think_positions, think_positions[1:], strict=False):
        between = steps[before + 1 : after + 1]
        gap_ms = seconds_between(steps[before]["created_at"], steps[after]["created_at"]) * 1000
        spent_ms = sum(s["duration_ms"] for s in between if s["type"] in ("execute", "think"))
        overheads.append(gap_ms - spent_ms)
    return overheads


def start_platform(sandbox_root: Path) -> tuple[InProcessApi, Any, str, Any]:
    from agentlab.aws import AwsClients
    from agentlab.local.aws import create_resources, install_lambda_dispatch
    from agentlab.local.functions import HandlerRegistry
    from agentlab.settings import CoreSettings
    from agentlab.store.orgs import OrgStore
    from agentlab.store.runs import RunStore
    from agentlab.store.table import Table

    os.environ.update(bench_environment(sandbox_root))
    registry = HandlerRegistry(ROOT / "functions")
    settings = CoreSettings()
    clients = AwsClients(settings)
    machines = create_resources(
        clients,
        table_name=settings.table_name,
        bucket_name=settings.bucket_name,
        region=settings.region,
        statemachines_dir=ROOT / "statemachines",
        registry=registry,
    )
    os.environ["AGENTLAB_AGENT_RUN_STATE_MACHINE_ARN"] = machines["agent_run"]
    undo_dispatch = install_lambda_dispatch(registry)
    table = Table(lambda: clients.dynamodb, settings.table_name)
    orgs = OrgStore(table)
    org = orgs.create_org("bench")
    _, key = orgs.create_api_key(org.id, name="bench", role="admin")
    return InProcessApi(registry.handler("api"), key), RunStore(table), org.id, undo_dispatch


def run_bench() -> list[dict[str, Any]]:
    from moto import mock_aws

    from agentlab.local.aws import MOTO_CONFIG

    with tempfile.TemporaryDirectory(prefix="agentlab-bench-") as scratch, mock_aws(config=MOTO_CONFIG):  # type: ignore[arg-type]
        api, runs, org_id, undo_dispatch = start_platform(Path(scratch) / "sandbox")
        try:
            status, agent = api.call(
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
            # One run first so every handler module is loaded and every client built: cold starts are not overhead.
            run_once(api, runs, org_id, agent["id"])
            return [measure_run(run_once(api, runs, org_id, agent["id"])) for _ in range(RUNS)]
        finally:
            undo_dispatch()


def summarise(measured: list[dict[str, Any]]) -> dict[str, Any]:
    complete = [m for m in measured if m["complete"]]
    figures: dict[str, Any] = {
        "runs": len(measured),
        "runs_complete": len(complete),
        "runs_succeeded": sum(m["status"] == "succeeded" for m in measured),
        "cells_per_run": CELLS,
        "target_p50_ms": TARGET_P50_MS,
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
            "iterations_per_run": round(iterations / len(complete), 1),
            "wall_per_iteration_ms": per_iteration_mean("wall_ms"),
            "sandbox_per_iteration_ms": per_iteration_mean("sandbox_ms"),
            "model_per_iteration_ms": per_iteration_mean("model_ms"),
            "critique_per_iteration_ms": per_iteration_mean("critique_ms"),
            "queued_ms_p50": round(statistics.median(m["queued_ms"] for m in complete), 1),
            "run_wall_ms_p50": round(statistics.median(m["wall_ms"] for m in complete), 1),
        }
    )
    return figures


def report(measured: list[dict[str, Any]], figures: dict[str, Any]) -> None:
    print(f"{'run':>3} {'status':<10} {'iters':>5} {'wall ms':>8} {'sandbox':>8} {'model':>7} {'critique':>8} {'ovh/iter':>8}")
    for number, m in enumerate(measured, 1):
        if not m["complete"]:
            print(f"{number:>3} {m['status']:<10} did not end within {RUN_TIMEOUT_S} s")
            continue
        print(
            f"{number:>3} {m['status']:<10} {m['iterations']:>5} {m['wall_ms']:>8.0f} {m['sandbox_ms']:>8.0f} "
            f"{m['model_ms']:>7.0f} {m['critique_ms']:>8.0f} {m['overhead_per_iteration_ms']:>8.1f}"
        )
    if figures["runs_complete"]:
        print(
            f"\noverhead per iteration: p50 {figures['overhead_per_iteration_p50_ms']} ms, "
            f"p99 {figures['overhead_per_iteration_p99_ms']} ms (target p50 <= {TARGET_P50_MS} ms)"
        )
        print(
            f"steady-state (think to think, without prepare/kernel start/finalize): "
            f"p50 {figures['steady_overhead_per_iteration_p50_ms']} ms, "
            f"p99 {figures['steady_overhead_per_iteration_p99_ms']} ms"
        )
        print(
            f"per iteration: wall {figures['wall_per_iteration_ms']} ms = sandbox {figures['sandbox_per_iteration_ms']}"
            f" + model {figures['model_per_iteration_ms']} + overhead (of which critique "
            f"{figures['critique_per_iteration_ms']}); queued before prepare p50 {figures['queued_ms_p50']} ms"
        )


def main() -> None:
    measured = run_bench()
    figures = summarise(measured)
    report(measured, figures)
    sys.stdout.flush()
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
