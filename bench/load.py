"""The local stack under load, started as a user starts it (`agentlab dev`, as bench/api.py does).

One run alone first (the baseline), then RUNS runs started together (the scripted model: CELLS python cells, then
finish). Prints throughput (runs per minute over the wall time from the first POST to the last run's end), p50/p99
run duration (created_at to ended_at, stamped by the platform) and overhead (duration minus sandbox and model time of
its steps), the stack's resident memory (VmRSS from /proc) before and after beside the data it then stores (its
snapshot on disk), and checks that no run is left active and that every run's steps are complete and in order. Then
the org export at the size that once took 30 s (19 agents; here more runs and steps than its 8 and 48), and
`GET /v1/agents` alone beside the same request sent while exports are in progress. Last, the same RUNS runs on a
second stack started with faults injected (AGENTLAB_LOCAL_FAULTS: failed step invocations, duplicated deliveries,
throttled model calls; agentlab/local/faults.py), counting what was injected and checking that nothing was lost.

Run from the repository root: .venv/bin/python bench/load.py
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
from api import RunningStack, client, expect, local_stack, percentile

RUNS = int(os.environ.get("LOAD_RUNS", "30"))
CELLS = 3
RUNS_BUDGET_S = 75.0
EXPORT_AGENTS = 19
FAULTS = "step_error=0.05,duplicate=0.05,throttle=0.1,throttle_burst=2,seed=7"
FAULT_KINDS = ("step_error", "duplicate", "throttle")
ACTIVE = {"queued", "running", "waiting_approval"}
SCRIPT = [{"tool": "python", "code": f"x = {n} * 2\nprint(x)"} for n in range(CELLS)] + [
    {"tool": "finish", "answer": "done"}
]


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def seconds_between(start: str, end: str) -> float:
    return (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds()


def steps_of(http: httpx.Client, run_id: str) -> list[dict[str, Any]]:
    """Every step of the run: pages follow the last seq seen (`after`), a short page is the last one."""
    steps: list[dict[str, Any]] = []
    while True:
        params: dict[str, Any] = {"limit": 200, **({"after": steps[-1]["seq"]} if steps else {})}
        page = expect(http.get(f"/v1/runs/{run_id}/steps", params=params), 200)
        steps.extend(page["items"])
        if len(page["items"]) < 200:
            return steps


def complete_and_in_order(steps: list[dict[str, Any]]) -> bool:
    """Seq 1..n without a gap, and every cell of the script executed."""
    seqs = [s["seq"] for s in steps]
    return seqs == list(range(1, len(seqs) + 1)) and sum(s["type"] == "execute" for s in steps) == CELLS


def run_figures(http: httpx.Client, run: dict[str, Any]) -> dict[str, Any]:
    steps = steps_of(http, run["id"])
    duration_s = seconds_between(run["created_at"], run["ended_at"])
    spent_s = sum(s.get("duration_ms") or 0 for s in steps if s["type"] in ("execute", "think")) / 1000
    return {"duration_s": duration_s, "overhead_s": duration_s - spent_s, "ordered": complete_and_in_order(steps)}


def start_runs(stack: RunningStack, agent_id: str, count: int) -> tuple[list[dict[str, Any]], float, float]:
    """Start `count` runs together and wait for them (up to the budget); the runs as last read, and the wall time."""
    with client(stack) as http:
        began = time.perf_counter()
        body = {"agent_id": agent_id, "prompt": "load", "script": SCRIPT}
        ids = [expect(http.post("/v1/runs", json=body), 201)["id"] for _ in range(count)]
        runs: dict[str, dict[str, Any]] = {}
        deadline = began + RUNS_BUDGET_S
        while time.perf_counter() < deadline:
            runs = {rid: expect(http.get(f"/v1/runs/{rid}"), 200) for rid in ids}
            if not any(r["status"] in ACTIVE for r in runs.values()):
                break
            time.sleep(0.25)
        return list(runs.values()), time.perf_counter() - began, RUNS_BUDGET_S


def agents_latency_ms(http: httpx.Client, samples: int = 5) -> float:
    times = []
    for _ in range(samples):
        begin = time.perf_counter()
        expect(http.get("/v1/agents"), 200)
        times.append((time.perf_counter() - begin) * 1000)
    return percentile(times, 0.5)


def export_phase(stack: RunningStack) -> dict[str, float]:
    with client(stack) as http:
        alone_ms = agents_latency_ms(http)
        begin = time.perf_counter()
        exported = http.get("/v1/orgs/default/export")
        export_ms = (time.perf_counter() - begin) * 1000
        size = len(exported.content)
    during: list[float] = []
    done = threading.Event()

    def export_repeatedly() -> None:
        with client(stack) as http:
            while not done.is_set():
                http.get("/v1/orgs/default/export")

    exporter = threading.Thread(target=export_repeatedly)
    exporter.start()
    try:
        with client(stack) as http:
            time.sleep(0.05)
            during.append(agents_latency_ms(http))
    finally:
        done.set()
        exporter.join()
    return {
        "export_ms": round(export_ms, 1),
        "export_bytes": size,
        "agents_alone_p50_ms": round(alone_ms, 1),
        "agents_during_export_p50_ms": round(during[0], 1),
    }


def data_mb(data_dir: Path) -> float:
    """What the stack stores, as its snapshot on disk holds it (the table as JSON lines, the objects)."""
    return sum(path.stat().st_size for path in data_dir.rglob("*") if path.is_file()) / 2**20


def injected_faults(stack: RunningStack) -> dict[str, int]:
    """The faults the stack logged injecting (one warning line each)."""
    counts = dict.fromkeys(FAULT_KINDS, 0)
    while not stack.output.empty():
        line = stack.output.get_nowait()
        for kind in FAULT_KINDS:
            if f"injected fault: {kind}" in line:
                counts[kind] += 1
    return counts


def load_phase(stack: RunningStack, agent_id: str) -> dict[str, Any]:
    """RUNS runs together; their figures and what was lost."""
    runs, wall_s, _budget = start_runs(stack, agent_id, RUNS)
    with client(stack) as http:
        ended = [r for r in runs if r["status"] not in ACTIVE and r.get("ended_at")]
        figures = [run_figures(http, r) for r in ended]
    durations = [f["duration_s"] for f in figures] or [0.0]
    overheads = [f["overhead_s"] for f in figures] or [0.0]
    statuses: dict[str, int] = {}
    for run in runs:
        statuses[run["status"]] = statuses.get(run["status"], 0) + 1
    return {
        "statuses": statuses,
        "runs_per_minute": round(len(ended) / wall_s * 60, 1),
        "wall_s": round(wall_s, 1),
        "run_p50_s": round(percentile(durations, 0.5), 2),
        "run_p99_s": round(percentile(durations, 0.99), 2),
        "overhead_p50_s": round(percentile(overheads, 0.5), 2),
        "overhead_p99_s": round(percentile(overheads, 0.99), 2),
        "left_active": sum(r["status"] in ACTIVE for r in runs),
        "not_succeeded": sum(r["status"] != "succeeded" for r in runs),
        "steps_incomplete_or_out_of_order": sum(not f["ordered"] for f in figures),
    }


def new_agent(stack: RunningStack, name: str) -> str:
    with client(stack) as http:
        body = {"name": name, "models": {"reasoning": ["scripted"]}}
        return str(expect(http.post("/v1/agents", json=body), 201)["id"])


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="agentlab-bench-") as data_dir, local_stack(Path(data_dir)) as stack:
        pid = stack.process.pid
        agent_id = new_agent(stack, "load")
        rss_before, data_before = rss_mb(pid), data_mb(Path(data_dir))
        alone, _, _ = start_runs(stack, agent_id, 1)
        with client(stack) as http:
            baseline = run_figures(http, alone[0]) if alone and alone[0].get("ended_at") else None
        plain = load_phase(stack, agent_id)
        rss_after = rss_mb(pid)
        # A second round on the warm stack: what memory it adds beside the data it adds, with no first-use costs
        # (modules loaded, API environments made) in the figure.
        time.sleep(4)  # a snapshot (every 3 s) holds what the first round wrote
        data_warm = data_mb(Path(data_dir))
        again = load_phase(stack, agent_id)
        time.sleep(4)
        rss_again, data_again = rss_mb(pid), data_mb(Path(data_dir))
        with client(stack) as http:
            agents = len(expect(http.get("/v1/agents", params={"limit": 100}), 200)["items"])
        for n in range(agents, EXPORT_AGENTS):
            new_agent(stack, f"export-{n}")
        exports = export_phase(stack)
        time.sleep(4)  # a snapshot (every 3 s) holds what the runs wrote
        rss_end, data_end = rss_mb(pid), data_mb(Path(data_dir))
    env = {"AGENTLAB_LOCAL_FAULTS": FAULTS}
    with tempfile.TemporaryDirectory(prefix="agentlab-bench-") as data_dir, local_stack(Path(data_dir), env) as stack:
        faulty = load_phase(stack, new_agent(stack, "load"))
        injected = injected_faults(stack)
    result = {
        "runs": RUNS,
        "cells_per_run": CELLS,
        **{k: v for k, v in plain.items() if k != "statuses"},
        "baseline_run_s": round(baseline["duration_s"], 2) if baseline else None,
        "baseline_overhead_s": round(baseline["overhead_s"], 2) if baseline else None,
        "rss_before_mb": round(rss_before, 1),
        "rss_after_runs_mb": round(rss_after, 1),
        "rss_end_mb": round(rss_end, 1),
        "data_before_mb": round(data_before, 2),
        "data_end_mb": round(data_end, 2),
        "rss_second_round_mb": round(rss_again, 1),
        "data_second_round_mb": round(data_again - data_warm, 2),
        "rss_growth_per_data_mb_second_round": round((rss_again - rss_after) / max(data_again - data_warm, 1e-6), 1),
        "second_round_left_active": again["left_active"],
        "second_round_not_succeeded": again["not_succeeded"],
        **exports,
        "faults": FAULTS,
        **{f"faults_injected_{kind}": count for kind, count in injected.items()},
        **{f"with_faults_{k}": v for k, v in faulty.items() if k != "statuses"},
    }
    print(f"{RUNS} runs of {CELLS} cells started together: {plain['statuses']}, wall {plain['wall_s']} s")
    print(
        f"throughput {plain['runs_per_minute']} runs/min; "
        f"duration p50 {plain['run_p50_s']} s p99 {plain['run_p99_s']} s"
    )
    print(f"overhead p50 {plain['overhead_p50_s']} s p99 {plain['overhead_p99_s']} s; one run alone: {baseline}")
    print(
        f"left active: {plain['left_active']}; not succeeded: {plain['not_succeeded']}; runs whose steps are "
        f"incomplete or out of order: {plain['steps_incomplete_or_out_of_order']}"
    )
    print(
        f"stack RSS: {rss_before:.0f} MB before, {rss_after:.0f} MB after the runs, {rss_end:.0f} MB at the end; "
        f"stored data {data_before:.2f} MB -> {data_end:.2f} MB"
    )
    print(
        f"a second round of {RUNS} runs on the warm stack ({again['statuses']}): RSS {rss_after:.0f} -> "
        f"{rss_again:.0f} MB for {data_again - data_warm:.2f} MB more data stored, "
        f"{result['rss_growth_per_data_mb_second_round']} MB of RSS per MB stored (moto keeps each item as Python "
        "objects, and each execution's history of events)"
    )
    print(
        f"export ({EXPORT_AGENTS} agents, {RUNS + 1} runs): {exports['export_ms']} ms for {exports['export_bytes']} "
        f"bytes; GET /v1/agents p50 alone {exports['agents_alone_p50_ms']} ms, during exports "
        f"{exports['agents_during_export_p50_ms']} ms"
    )
    print(
        f"with faults ({FAULTS}): injected {injected}; {faulty['statuses']}; left active {faulty['left_active']}, "
        f"not succeeded {faulty['not_succeeded']}, steps incomplete or out of order "
        f"{faulty['steps_incomplete_or_out_of_order']}; throughput {faulty['runs_per_minute']} runs/min, "
        f"duration p50 {faulty['run_p50_s']} s p99 {faulty['run_p99_s']} s"
    )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
