"""Sandbox kernel latency: session start and warm cell round trip, beside a Jupyter kernel doing the same cells.

Also the Fargate backend against a Fargate-like local process: the sandbox task's entrypoint started as a process
of this machine by a stand-in for ECS (RunTask, DescribeTasks with the task's address, StopTask), the session record
in DynamoDB on moto, the cells over the real channel (HTTP and the bearer token) to the real kernel server. Its
task start and cell round trip are printed beside the local session's, which is the baseline of the ratio.

Run from the repository root: .venv/bin/python bench/sandbox.py
The last line printed is one JSON object with every figure.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from agentlab.sandbox.local import LocalSandboxBackend
from agentlab.sandbox.models import SandboxLimits

CELLS = 200
SESSION_STARTS = 10
TASK_STARTS = 3
JUPYTER_TIMEOUT_S = 30
TASK_STOP_WAIT_S = 15
TABLE = "agentlab-bench-sandbox"


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


class LocalTaskEcs:
    """RunTask starts the task's entrypoint as a local process listening on its own loopback address; StopTask sends
    it SIGTERM, as ECS does."""

    def __init__(self, root: Path, port: int) -> None:
        self.root = root
        self.port = port
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self.addresses: dict[str, str] = {}

    def run_task(self, **kwargs: Any) -> dict[str, Any]:
        number = len(self.processes) + 1
        arn = f"arn:aws:ecs:us-east-1:123456789012:task/bench/{number}"
        address = f"127.0.0.{10 + number}"
        overrides = kwargs["overrides"]["containerOverrides"][0]["environment"]
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            **{item["name"]: item["value"] for item in overrides},
            "AGENTLAB_SANDBOX_ROOT": str(self.root / str(number)),
            "AGENTLAB_SANDBOX_HOST": address,
            "AGENTLAB_SANDBOX_PORT": str(self.port),
        }
        self.processes[arn] = subprocess.Popen(
            [sys.executable, "-m", "agentlab.sandbox.task_entrypoint"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.addresses[arn] = address
        return {"tasks": [{"taskArn": arn, "lastStatus": "PROVISIONING"}], "failures": []}

    def describe_tasks(self, *, cluster: str, tasks: list[str]) -> dict[str, Any]:
        described = []
        for arn in tasks:
            running = self.processes[arn].poll() is None
            detail = {"name": "privateIPv4Address", "value": self.addresses[arn]}
            described.append(
                {
                    "taskArn": arn,
                    "lastStatus": "RUNNING" if running else "STOPPED",
                    "attachments": [{"type": "ElasticNetworkInterface", "details": [detail]}],
                }
            )
        return {"tasks": described}

    def list_tasks(self, **kwargs: Any) -> dict[str, Any]:
        return {"taskArns": []}

    def stop_task(self, *, cluster: str, task: str, reason: str) -> dict[str, Any]:
        process = self.processes[task]
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(TASK_STOP_WAIT_S)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        return {}

    def close(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.kill()
                process.wait()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def stand_in_settings(ecs: LocalTaskEcs) -> Any:
    """The Fargate backend's settings for tasks the stand-in ECS starts as local processes on its port."""
    from agentlab.sandbox.fargate import FargateSandboxSettings

    return FargateSandboxSettings(
        cluster_arn="arn:cluster",
        task_definition_arn="arn:td:1",
        subnets=["subnet-bench"],
        security_groups=["sg-task"],
        task_port=ecs.port,
        start_poll_s=0.01,
    )


def bench_fargate_like(root: Path) -> dict[str, float | str]:
    import boto3
    from moto import mock_aws

    from agentlab.sandbox.fargate import FargateSandboxBackend
    from agentlab.store.sandbox_sessions import SandboxSessionStore
    from agentlab.store.schema import create_table_request
    from agentlab.store.table import Table

    limits = SandboxLimits()
    ecs = LocalTaskEcs(root, free_port())
    settings = stand_in_settings(ecs)
    with mock_aws():
        dynamodb = boto3.client("dynamodb", region_name="us-east-1")
        dynamodb.create_table(**create_table_request(TABLE))
        backend = FargateSandboxBackend(lambda: ecs, SandboxSessionStore(Table(lambda: dynamodb, TABLE)), settings)
        try:
            starts = []
            for index in range(TASK_STARTS):
                began = time.perf_counter()
                backend.session(f"bench-task-{index}", limits, {}).execute("pass")
                starts.append(time.perf_counter() - began)
                backend.end(f"bench-task-{index}")
            session = backend.session("bench-task-cells", limits, {})
            session.execute("x = 0")
            round_trips = []
            for _ in range(CELLS):
                began = time.perf_counter()
                session.execute("x = x + 1")
                round_trips.append(time.perf_counter() - began)
            final = session.execute("print(x)").stdout.strip()
            if final != str(CELLS):
                raise RuntimeError(f"sandbox task lost state: x = {final}")
            backend.end("bench-task-cells")
        finally:
            ecs.close()
    return {
        "start_p50_ms": statistics.median(starts) * 1000,
        "cell_p50_ms": percentile(round_trips, 0.5) * 1000,
        "cell_p99_ms": percentile(round_trips, 0.99) * 1000,
    }


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
    with tempfile.TemporaryDirectory(prefix="agentlab-bench-task-") as root:
        fargate = bench_fargate_like(Path(root))
    jupyter = bench_jupyter()
    ratio = float(sandbox["cell_p50_ms"]) / jupyter["cell_p50_ms"]
    channel_ratio = float(fargate["cell_p50_ms"]) / float(sandbox["cell_p50_ms"])
    print(f"sandbox ({sandbox['isolation']}): start p50 {float(sandbox['start_p50_ms']):.1f} ms")
    print(round_trip_line("sandbox", float(sandbox["cell_p50_ms"]), float(sandbox["cell_p99_ms"])))
    print(f"fargate-like local process: task start p50 {float(fargate['start_p50_ms']):.1f} ms over {TASK_STARTS}")
    print(round_trip_line("fargate-like (channel)", float(fargate["cell_p50_ms"]), float(fargate["cell_p99_ms"])))
    print(f"jupyter (ipykernel): start {jupyter['start_ms']:.1f} ms")
    print(round_trip_line("jupyter", jupyter["cell_p50_ms"], jupyter["cell_p99_ms"]))
    print(f"ratio sandbox/jupyter cell p50: {ratio:.3f} (target <= 0.5)")
    print(f"ratio fargate-like/sandbox cell p50: {channel_ratio:.3f} (the local session is the baseline)")
    figures = {
        "cells": CELLS,
        "sandbox_isolation": sandbox["isolation"],
        "sandbox_start_p50_ms": round(float(sandbox["start_p50_ms"]), 2),
        "sandbox_cell_p50_ms": round(float(sandbox["cell_p50_ms"]), 3),
        "sandbox_cell_p99_ms": round(float(sandbox["cell_p99_ms"]), 3),
        "fargate_like_task_start_p50_ms": round(float(fargate["start_p50_ms"]), 2),
        "fargate_like_cell_p50_ms": round(float(fargate["cell_p50_ms"]), 3),
        "fargate_like_cell_p99_ms": round(float(fargate["cell_p99_ms"]), 3),
        "cell_p50_ratio_fargate_like_vs_sandbox": round(channel_ratio, 4),
        "jupyter_start_ms": round(jupyter["start_ms"], 2),
        "jupyter_cell_p50_ms": round(jupyter["cell_p50_ms"], 3),
        "jupyter_cell_p99_ms": round(jupyter["cell_p99_ms"], 3),
        "cell_p50_ratio_vs_jupyter": round(ratio, 4),
    }
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
