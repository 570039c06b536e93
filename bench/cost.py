"""Platform cost of a 10-step run (9 python cells, then finish) at AWS prices, model tokens excluded.

Real local runs: the real agent_run ASL on moto, the real handlers, the local sandbox, the scripted model. Each
handler call is counted and timed; the cost is priced from the transitions per step (derived from the ASL), each
invocation's duration times the step functions' memory, and the run's sandbox seconds on the default Fargate task
size. Storage requests are not counted here.

Run from the repository root: .venv/bin/python bench/cost.py
"""

from __future__ import annotations

import json
import statistics
import tempfile
import threading
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from workflow import RUN_TIMEOUT_S, TERMINAL, BenchPlatform, TimedRegistry

from agentlab.local.functions import Handler
from agentlab.usage.costs import MeasuredUsage, cost_breakdown, lambda_gb_seconds, sandbox_seconds
from agentlab.usage.prices import prices_for
from agentlab.usage.sizes import SANDBOX_TASK_MEMORY_MB, SANDBOX_TASK_VCPUS, STEP_MEMORY_MB
from agentlab.usage.transitions import AGENT_RUN_TRANSITIONS

TARGET_USD = 0.003
RUNS = 3
CELLS = 9
POLL_S = 0.1


class CountingRegistry(TimedRegistry):
    """The timed handlers, with each invocation's duration kept."""

    def __init__(self, functions_dir: Path) -> None:
        super().__init__(functions_dir)
        self.durations_ms: dict[str, list[float]] = defaultdict(list)
        self._lock = threading.Lock()

    def handler(self, function_name: str) -> Handler:
        inner = super().handler(function_name)

        def counted(event: dict[str, Any], context: Any) -> Any:
            began = time.perf_counter()
            try:
                return inner(event, context)
            finally:
                with self._lock:
                    self.durations_ms[function_name].append((time.perf_counter() - began) * 1000)

        return counted

    def take(self) -> dict[str, list[float]]:
        with self._lock:
            taken, self.durations_ms = dict(self.durations_ms), defaultdict(list)
        return taken


def run_once(platform: BenchPlatform, registry: CountingRegistry, agent_id: str) -> dict[str, Any]:
    script = [{"tool": "python", "code": f"x = {i}"} for i in range(CELLS)] + [{"tool": "finish", "answer": "done"}]
    registry.take()
    status, created = platform.api.call("POST", "/v1/runs", {"agent_id": agent_id, "prompt": "cost", "script": script})
    if status != 201:
        raise RuntimeError(f"POST /v1/runs answered {status}: {created}")
    deadline = time.monotonic() + RUN_TIMEOUT_S
    while platform.runs.get(platform.org_id, created["id"]).status not in TERMINAL and time.monotonic() < deadline:
        time.sleep(POLL_S)
    time.sleep(0.5)  # the Finalize handler returns after the status is terminal
    durations = {name: ms for name, ms in registry.take().items() if name != "api"}
    run = platform.runs.get(platform.org_id, created["id"])
    return {"status": run.status, "sandbox_s": run.usage.sandbox_s, "durations": durations}


def price(record: dict[str, Any]) -> dict[str, Any]:
    durations: dict[str, list[float]] = record["durations"]
    invocations = Counter({name: len(ms) for name, ms in durations.items()})
    vcpu_s, gb_s = sandbox_seconds(record["sandbox_s"], SANDBOX_TASK_VCPUS, SANDBOX_TASK_MEMORY_MB)
    used = MeasuredUsage(
        sandbox_vcpu_s=vcpu_s,
        sandbox_gb_s=gb_s,
        state_transitions=sum(AGENT_RUN_TRANSITIONS.get(name, 1) * n for name, n in invocations.items()),
        lambda_gb_s=sum(lambda_gb_seconds(ms, STEP_MEMORY_MB) for all_ms in durations.values() for ms in all_ms),
        lambda_requests=sum(invocations.values()),
    )
    cost = cost_breakdown(used, prices_for("us-east-1"))
    return {
        "status": record["status"],
        "invocations": dict(invocations),
        "used": used.model_dump(),
        "cost": cost.model_dump(mode="json"),
    }


def main() -> None:
    import workflow
    from moto import mock_aws

    from agentlab.local.aws import MOTO_CONFIG

    with tempfile.TemporaryDirectory(prefix="agentlab-cost-") as scratch, mock_aws(config=MOTO_CONFIG):  # type: ignore[call-overload]
        workflow.TimedRegistry = CountingRegistry  # type: ignore[misc]
        platform = BenchPlatform(Path(scratch) / "sandbox")
        registry = platform.registry
        assert isinstance(registry, CountingRegistry)
        try:
            agent_id = platform.create_agent()
            run_once(platform, registry, agent_id)  # loads every handler and client first
            priced = [price(run_once(platform, registry, agent_id)) for _ in range(RUNS)]
        finally:
            platform.undo_dispatch()
    for number, p in enumerate(priced, 1):
        c = p["cost"]
        print(
            f"run {number} {p['status']}: total ${c['total']:.6f} = sandbox ${c['sandbox']:.6f} + orchestration "
            f"${c['orchestration']:.6f} + lambda ${c['lambda']:.6f} (transitions {p['used']['state_transitions']}, "
            f"{p['used']['lambda_requests']} invocations, {p['used']['lambda_gb_s']:.3f} GB-s, "
            f"sandbox {p['used']['sandbox_vcpu_s']:.3f} vCPU-s)"
        )
    median = statistics.median(p["cost"]["total"] for p in priced)
    verdict = "within" if median <= TARGET_USD else "above"
    print(f"platform cost of a {CELLS + 1}-step run: median ${median:.6f}, {verdict} the target of ${TARGET_USD}")
    figures = {
        "runs": len(priced),
        "steps_per_run": CELLS + 1,
        "platform_cost_usd_p50": round(median, 8),
        "target_usd": TARGET_USD,
        "within_target": median <= TARGET_USD,
        "breakdown_usd": priced[-1]["cost"],
        "state_transitions": priced[-1]["used"]["state_transitions"],
        "lambda_gb_s": round(priced[-1]["used"]["lambda_gb_s"], 4),
        "sandbox_vcpu_s": round(priced[-1]["used"]["sandbox_vcpu_s"], 4),
        "storage_counted": False,
    }
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
