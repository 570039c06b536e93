"""Sandbox kernel latency: session start and warm cell round trip, beside a Jupyter kernel doing the same cells.

Run from the repository root: .venv/bin/python bench/sandbox.py
The last line printed is one JSON object with every figure.
"""

from __future__ import annotations

import json
import logging
import statistics
import tempfile
import time
from pathlib import Path

from agentlab.sandbox.local import LocalSandboxBackend
from agentlab.sandbox.models import SandboxLimits

CELLS = 200
SESSION_STARTS = 10
JUPYTER_TIMEOUT_S = 30


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def bench_sandbox(root: Path) -> dict[str, float | str]:
    backend = LocalSandboxBackend(root)
    limits = SandboxLimits()
    try:
        starts = []
        for index in range(SESSION_STARTS):
            began = time.perf_counter()
            backend.session(f"bench-start-{index}", limits, {})
            starts.append(time.perf_counter() - began)
            backend.end(f"bench-start-{index}")
        session = backend.session("bench-cells", limits, {})
        session.execute("x = 0")
        round_trips = []
        for _ in range(CELLS):
            began = time.perf_counter()
            session.execute("x = x + 1")
            round_trips.append(time.perf_counter() - began)
        final = session.execute("print(x)").stdout.strip()
        if final != str(CELLS):
            raise RuntimeError(f"sandbox kernel lost state: x = {final}")
        return {
            "isolation": session.isolation,
            "start_p50_ms": statistics.median(starts) * 1000,
            "cell_p50_ms": percentile(round_trips, 0.5) * 1000,
            "cell_p99_ms": percentile(round_trips, 0.99) * 1000,
        }
    finally:
        backend.close()


def bench_jupyter() -> dict[str, float]:
    from jupyter_client.manager import start_new_kernel

    began = time.perf_counter()
    manager, client = start_new_kernel(kernel_name="python3")
    start = time.perf_counter() - began
    try:
        client.execute_interactive("x = 0", timeout=JUPYTER_TIMEOUT_S)
        round_trips = []
        for _ in range(CELLS):
            began = time.perf_counter()
            # execute_interactive returns once the shell reply came and iopub reported the kernel idle again.
            client.execute_interactive("x = x + 1", timeout=JUPYTER_TIMEOUT_S)
            round_trips.append(time.perf_counter() - began)
        return {
            "start_ms": start * 1000,
            "cell_p50_ms": percentile(round_trips, 0.5) * 1000,
            "cell_p99_ms": percentile(round_trips, 0.99) * 1000,
        }
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)


def round_trip_line(name: str, p50_ms: float, p99_ms: float) -> str:
    return f"{name} cell round trip over {CELLS} cells: p50 {p50_ms:.3f} ms, p99 {p99_ms:.3f} ms"


def main() -> None:
    logging.getLogger("traitlets").setLevel(logging.ERROR)
    with tempfile.TemporaryDirectory(prefix="agentlab-bench-") as root:
        sandbox = bench_sandbox(Path(root))
    jupyter = bench_jupyter()
    ratio = float(sandbox["cell_p50_ms"]) / jupyter["cell_p50_ms"]
    print(f"sandbox ({sandbox['isolation']}): start p50 {float(sandbox['start_p50_ms']):.1f} ms")
    print(round_trip_line("sandbox", float(sandbox["cell_p50_ms"]), float(sandbox["cell_p99_ms"])))
    print(f"jupyter (ipykernel): start {jupyter['start_ms']:.1f} ms")
    print(round_trip_line("jupyter", jupyter["cell_p50_ms"], jupyter["cell_p99_ms"]))
    print(f"ratio sandbox/jupyter cell p50: {ratio:.3f} (target <= 0.5)")
    figures = {
        "cells": CELLS,
        "sandbox_isolation": sandbox["isolation"],
        "sandbox_start_p50_ms": round(float(sandbox["start_p50_ms"]), 2),
        "sandbox_cell_p50_ms": round(float(sandbox["cell_p50_ms"]), 3),
        "sandbox_cell_p99_ms": round(float(sandbox["cell_p99_ms"]), 3),
        "jupyter_start_ms": round(jupyter["start_ms"], 2),
        "jupyter_cell_p50_ms": round(jupyter["cell_p50_ms"], 3),
        "jupyter_cell_p99_ms": round(jupyter["cell_p99_ms"], 3),
        "cell_p50_ratio_vs_jupyter": round(ratio, 4),
    }
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
