"""First-cell latency of a run on the Fargate backend: a cold task against a warm one from the pool.

A run's first cell waits for everything its sandbox needs before the cell itself. Cold, that is RunTask, Fargate's
provisioning (capacity, the task's network interface), the image pull, the container's start, the entrypoint and
kernel server coming up (the first health answer), the start request that starts the run's kernel, and then the
cell. Warm, the task was started ahead by the janitor: the run claims it (one conditional write, one DescribeTasks),
probes it, sends the start request, and runs the cell.

Measured here, on this machine:
- the entrypoint and kernel server starting as a local process (agentlab.sandbox.task_entrypoint, started by the
  stand-in ECS of bench/sandbox.py), its first health answer, the start request and the first cell, through the real
  backend, channel and bearer token (the phases the backend itself records: FargateSandboxBackend.last_start_phases);
- the claim against DynamoDB and the pool records on moto;
- the gzip size of the image's library layer as the Dockerfile builds it (the installed sandbox libraries of this
  environment, without and with their test suites).

Not measurable here, and taken from the figures below (each says where it comes from; pass your own, e.g. the
`ecs_provisioning_s` and `ecs_pull_s` the backend logs from DescribeTasks in AWS):
- PROVISIONING_S: Fargate's provisioning of a task with an awsvpc network interface;
- PULL_MB_PER_S: the rate Fargate pulls and unpacks image layers from ECR inside the VPC;
- BASE_IMAGE_MB: the compressed size of the python slim base image.

Run from the repository root: .venv/bin/python bench/first_cell.py [--provisioning-s S] [--pull-mb-per-s R]
The last line printed is one JSON object with every figure. Targets are printed, never asserted.
"""

from __future__ import annotations

import argparse
import gzip
import json
import logging
import re
import socket
import statistics
import sys
import tarfile
import tempfile
import time
from importlib import metadata
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

# bench/sandbox.py: the stand-in ECS that starts the task's entrypoint as a local process.
from sandbox import LocalTaskEcs, free_port, stand_in_settings

from agentlab.sandbox.models import SandboxLimits

ROOT = Path(__file__).resolve().parents[1]
REQUIREMENTS = ROOT / "sandbox-task" / "requirements.txt"
TABLE = "agentlab-bench-first-cell"
ROUNDS = 3
FIRST_CELL = "import pandas as pd\nprint(pd.DataFrame({'x': [1, 2, 3]}).x.sum())"
TARGET_WARM_S = 2.0
HEALTH_WAIT_S = 30.0

# Fargate's provisioning before the pull (placement on a single-use instance, the awsvpc network interface created
# and attached). AWS documents only that the interface "adds an overhead of several seconds" (Amazon ECS Developer
# Guide, "Optimize Amazon ECS task launch time"); 10 s is the figure assumed here for the whole provisioning.
PROVISIONING_S = 10.0
# Pull and unpack rate of an image from ECR through the VPC's endpoints. AWS publishes no rate (the zstd post,
# "Reducing AWS Fargate Startup Times with zstd Compressed Container Images", says unpacking depends on the task's
# vCPUs); 50 MB/s of compressed layers is the figure assumed here for a 1 vCPU task.
PULL_MB_PER_S = 50.0
# The compressed python:3.12-slim-bookworm image for linux/arm64 is in the 40-50 MB range on Docker Hub; assumed 45.
BASE_IMAGE_MB = 45.0


class CountingSink:
    """A write-only file that only counts what it was given."""

    def __init__(self) -> None:
        self.size = 0

    def write(self, data: bytes) -> int:
        self.size += len(data)
        return len(data)

    def flush(self) -> None:
        return None


def requirement_names() -> list[str]:
    lines = [line.strip() for line in REQUIREMENTS.read_text().splitlines()]
    return [line.split("==")[0] for line in lines if line and not line.startswith("#")]


def installed_files(names: list[str]) -> list[Path]:
    """Every installed file of these distributions and of what they require (extras left out)."""
    seen: set[str] = set()
    files: list[Path] = []
    pending = list(names)
    while pending:
        name = re.split(r"[\s;<>=!~\[(]", pending.pop(), maxsplit=1)[0].lower().replace("_", "-")
        if name in seen:
            continue
        seen.add(name)
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue
        for entry in dist.files or []:
            path = Path(str(dist.locate_file(entry)))
            if path.is_file() and "__pycache__" not in path.parts:
                files.append(path)
        pending += [req for req in dist.requires or [] if "extra ==" not in req]
    return files


def gzip_mb(files: list[Path]) -> float:
    sink = CountingSink()
    with (
        gzip.GzipFile(fileobj=sink, mode="wb", compresslevel=6) as zipped,
        tarfile.open(fileobj=zipped, mode="w") as tar,
    ):
        for path in files:
            tar.add(path, arcname=str(path), recursive=False)
    return sink.size / 1e6


def library_layer_mb() -> dict[str, float]:
    """The gzip size of the libraries' layer: without their test suites (as built) and of the suites alone."""
    files = installed_files(requirement_names())
    tests = [path for path in files if "tests" in path.parts]
    kept = [path for path in files if "tests" not in path.parts]
    return {"layer_mb": gzip_mb(kept), "tests_mb": gzip_mb(tests)}


def wait_for_port(address: str, port: int) -> None:
    deadline = time.monotonic() + HEALTH_WAIT_S
    while time.monotonic() < deadline:
        with socket.socket() as probe:
            probe.settimeout(0.2)
            if probe.connect_ex((address, port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"the warm task at {address}:{port} did not come up")


def run_rounds(root: Path, *, warm: bool) -> list[dict[str, float]]:
    """ROUNDS first cells, each of a new run on a new task; the backend's phases and the cell's own time."""
    import boto3
    from moto import mock_aws

    from agentlab.sandbox.fargate import FargateSandboxBackend
    from agentlab.sandbox.pool import SandboxPool
    from agentlab.store.sandbox_pool import SandboxPoolStore
    from agentlab.store.sandbox_sessions import SandboxSessionStore
    from agentlab.store.schema import create_table_request
    from agentlab.store.table import Table

    ecs = LocalTaskEcs(root, free_port())
    settings = stand_in_settings(ecs)
    rounds: list[dict[str, float]] = []
    with mock_aws():
        dynamodb = boto3.client("dynamodb", region_name="us-east-1")
        dynamodb.create_table(**create_table_request(TABLE))
        table = Table(lambda: dynamodb, TABLE)
        pool = SandboxPool(lambda: ecs, SandboxPoolStore(table), settings) if warm else None
        backend = FargateSandboxBackend(lambda: ecs, SandboxSessionStore(table), settings, pool=pool)
        try:
            for index in range(ROUNDS):
                run_id = f"bench-first-cell-{'warm' if warm else 'cold'}-{index}"
                if pool is not None:
                    # The janitor's work, long before the run: untimed.
                    task_arn = pool.start_one()
                    wait_for_port(ecs.addresses[task_arn], ecs.port)
                began = time.perf_counter()
                session = backend.session(run_id, SandboxLimits(), {})
                started = time.perf_counter()
                result = session.execute(FIRST_CELL)
                done = time.perf_counter()
                if result.stdout.strip() != "6":
                    raise RuntimeError(f"the first cell failed: {result.stderr[-500:]}")
                if warm and session.task_arn != task_arn:
                    raise RuntimeError("the run did not get the warm task")
                rounds.append({**backend.last_start_phases, "session": started - began, "cell": done - started})
                backend.end(run_id)
        finally:
            ecs.close()
    return rounds


def medians(rounds: list[dict[str, float]]) -> dict[str, float]:
    return {name: statistics.median(r[name] for r in rounds) for name in rounds[0]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--provisioning-s", type=float, default=PROVISIONING_S)
    parser.add_argument("--pull-mb-per-s", type=float, default=PULL_MB_PER_S)
    parser.add_argument("--base-image-mb", type=float, default=BASE_IMAGE_MB)
    args = parser.parse_args()
    logging.disable(logging.INFO)

    layer = library_layer_mb()
    with tempfile.TemporaryDirectory(prefix="agentlab-bench-cold-") as root:
        cold = medians(run_rounds(Path(root), warm=False))
    with tempfile.TemporaryDirectory(prefix="agentlab-bench-warm-") as root:
        warm = medians(run_rounds(Path(root), warm=True))

    image_mb = args.base_image_mb + layer["layer_mb"]
    image_with_tests_mb = image_mb + layer["tests_mb"]
    pull_s = image_mb / args.pull_mb_per_s
    pull_with_tests_s = image_with_tests_mb / args.pull_mb_per_s
    # Locally RunTask and RUNNING are a stand-in's (no provisioning, no pull): those come from the figures above.
    local_cold = cold["run_task"] + cold["health"] + cold["start"] + cold["cell"]
    cold_s = args.provisioning_s + pull_s + local_cold
    cold_with_tests_s = args.provisioning_s + pull_with_tests_s + local_cold
    warm_s = warm["claim"] + warm["health"] + warm["start"] + warm["cell"]
    ratio = cold_s / warm_s

    print(f"first cell: {FIRST_CELL!r}; {ROUNDS} rounds each, medians")
    print(
        f"image: base {args.base_image_mb:.0f} MB (assumed) + library layer {layer['layer_mb']:.1f} MB gzip "
        f"(measured; their test suites, dropped by the build, would add {layer['tests_mb']:.1f} MB)"
    )
    print(
        f"cold: provisioning {args.provisioning_s:.1f} s (assumed) + pull {pull_s:.1f} s "
        f"({image_mb:.0f} MB at {args.pull_mb_per_s:.0f} MB/s, assumed) + RunTask {cold['run_task'] * 1000:.1f} ms "
        f"+ entrypoint to first health {cold['health'] * 1000:.0f} ms + start {cold['start'] * 1000:.0f} ms "
        f"+ cell {cold['cell'] * 1000:.0f} ms (measured) = {cold_s:.2f} s "
        f"({cold_with_tests_s:.2f} s with the test suites in the image)"
    )
    print(
        f"warm: claim {warm['claim'] * 1000:.1f} ms + health {warm['health'] * 1000:.1f} ms "
        f"+ start {warm['start'] * 1000:.0f} ms + cell {warm['cell'] * 1000:.0f} ms (measured) = {warm_s:.2f} s "
        f"(target <= {TARGET_WARM_S:.0f} s)"
    )
    print(f"ratio cold/warm: {ratio:.1f}")
    figures: dict[str, Any] = {
        "rounds": ROUNDS,
        "assumed_provisioning_s": args.provisioning_s,
        "assumed_pull_mb_per_s": args.pull_mb_per_s,
        "assumed_base_image_mb": args.base_image_mb,
        "library_layer_gzip_mb": round(layer["layer_mb"], 2),
        "library_tests_gzip_mb": round(layer["tests_mb"], 2),
        "cold_pull_s": round(pull_s, 3),
        "cold_pull_with_tests_s": round(pull_with_tests_s, 3),
        "cold_run_task_ms": round(cold["run_task"] * 1000, 2),
        "cold_health_ms": round(cold["health"] * 1000, 2),
        "cold_start_ms": round(cold["start"] * 1000, 2),
        "cold_cell_ms": round(cold["cell"] * 1000, 2),
        "cold_first_cell_s": round(cold_s, 3),
        "cold_first_cell_with_tests_s": round(cold_with_tests_s, 3),
        "warm_claim_ms": round(warm["claim"] * 1000, 2),
        "warm_health_ms": round(warm["health"] * 1000, 2),
        "warm_start_ms": round(warm["start"] * 1000, 2),
        "warm_cell_ms": round(warm["cell"] * 1000, 2),
        "warm_first_cell_s": round(warm_s, 3),
        "first_cell_ratio_cold_vs_warm": round(ratio, 2),
        "target_warm_first_cell_s": TARGET_WARM_S,
    }
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
