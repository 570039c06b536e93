"""Cold-start import time of every Lambda handler, against a baseline of what a typical Powertools handler imports.

Each sample is a fresh interpreter that times, with perf_counter, the import of one handler module by path (as the
Lambda runtime and the local registry load it) and prints the milliseconds back. The baseline, measured in the same
run, imports boto3, Powertools (Logger, Tracer, Metrics, APIGatewayHttpResolver) and pydantic's BaseModel. A first,
unmeasured pass writes the bytecode caches (a deployed layer ships compiled modules); then rounds of one sample per
module follow, interleaved so that a slow moment of the machine does not land on one module only.

The API's first request is measured too, each sample in a fresh interpreter under moto: moto is started and the
table created first (untimed; moto imports boto3 and botocore, so those are already loaded), then the import of the
API handler is timed, then an org, its API key and a run are written (untimed), then the first
`GET /v1/runs/{id}` through the handler is timed. Both phases and their sum are printed beside the baseline.

Run from the repository root: .venv/bin/python bench/cold_start.py
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = 7
MIN_SAMPLES = 3
# Sampling rounds stop after this budget (keeping at least MIN_SAMPLES), so a busy machine cannot stretch the run.
SAMPLING_BUDGET_S = 40.0
API_TARGET_MS = 350
API_TARGET_RATIO = 0.5
BASELINE = "baseline"
FIRST_REQUEST = "api_first_request"

HANDLER_IMPORT = """
import importlib.util, sys, time
path = sys.argv[1]
started = time.perf_counter()
spec = importlib.util.spec_from_file_location("agentlab_functions.bench", path)
module = importlib.util.module_from_spec(spec)
sys.modules[spec.name] = module
spec.loader.exec_module(module)
elapsed = (time.perf_counter() - started) * 1000
# A step or API handler is `handler`; the deploy-time custom resource has `on_event` and `is_complete`.
assert callable(getattr(module, "handler", None)) or callable(getattr(module, "on_event", None))
print(f"{elapsed:.3f} {len(sys.modules)}")
"""

BASELINE_IMPORT = """
import sys, time
started = time.perf_counter()
import boto3
from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver
from pydantic import BaseModel
elapsed = (time.perf_counter() - started) * 1000
print(f"{elapsed:.3f} {len(sys.modules)}")
"""


FIRST_REQUEST_SCRIPT = """
import importlib.util, json, sys, time
from datetime import UTC, datetime
from moto import mock_aws
mock = mock_aws()
mock.start()
import boto3
from agentlab.store.schema import create_table_request
boto3.client("dynamodb").create_table(**create_table_request("agentlab-local"))

started = time.perf_counter()
spec = importlib.util.spec_from_file_location("agentlab_functions.bench", sys.argv[1])
module = importlib.util.module_from_spec(spec)
sys.modules[spec.name] = module
spec.loader.exec_module(module)
import_ms = (time.perf_counter() - started) * 1000

from agentlab.ids import new_ulid
from agentlab.models import Run
from agentlab.store.orgs import OrgStore
from agentlab.store.runs import RunStore
from agentlab.store.table import Table
table = Table(lambda: boto3.client("dynamodb"), "agentlab-local")
org = OrgStore(table).create_org("bench")
_, key = OrgStore(table).create_api_key(org.id, name="bench", role="admin")
now = datetime.now(UTC)
run = Run(id=new_ulid(), org_id=org.id, agent_id=new_ulid(), agent_version=1, thread_id=new_ulid(), prompt="bench",
          created_at=now, updated_at=now)
RunStore(table).create(run)
path = f"/v1/runs/{run.id}"
event = {
    "version": "2.0", "routeKey": "$default", "rawPath": path, "rawQueryString": "",
    "headers": {"authorization": f"Bearer {key}"},
    "requestContext": {
        "requestId": "bench", "stage": "$default",
        "http": {"method": "GET", "path": path, "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1"},
    },
    "isBase64Encoded": False,
}

class Context:
    function_name, memory_limit_in_mb, aws_request_id = "agentlab-api", 512, "bench"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:agentlab-api"

started = time.perf_counter()
answer = module.handler(event, Context())
request_ms = (time.perf_counter() - started) * 1000
assert answer["statusCode"] == 200, answer
assert json.loads(answer["body"])["id"] == run.id
print(f"{import_ms:.3f} {request_ms:.3f}")
"""


def child_environment(scratch: Path) -> dict[str, str]:
    """What a deployed function has at import: the platform's settings and AWS region, fake credentials."""
    keep = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "TMPDIR")}
    return {
        **keep,
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AGENTLAB_ENVIRONMENT": "local",
        "AGENTLAB_TABLE_NAME": "agentlab-local",
        "AGENTLAB_BUCKET_NAME": "agentlab-local-data",
        "AGENTLAB_DEFAULT_MODEL_REF": "scripted",
        "AGENTLAB_SANDBOX_ROOT": str(scratch / "sandbox"),
        "AGENTLAB_AGENT_RUN_STATE_MACHINE_ARN": "arn:aws:states:us-east-1:123456789012:stateMachine:agentlab-agent_run",
        "POWERTOOLS_SERVICE_NAME": "agentlab",
        "POWERTOOLS_METRICS_NAMESPACE": "agentlab",
        "POWERTOOLS_LOG_LEVEL": "WARNING",
        "POWERTOOLS_TRACE_DISABLED": "true",
    }


def sample(command: list[str], env: dict[str, str]) -> tuple[float, int]:
    done = subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True, timeout=60, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command[-1:])} failed to import:\n{done.stderr[-2_000:]}")
    elapsed, modules = done.stdout.split()[-2:]
    return float(elapsed), int(modules)


def first_request_sample(env: dict[str, str]) -> tuple[float, float]:
    command = [sys.executable, "-c", FIRST_REQUEST_SCRIPT, str(ROOT / "functions" / "api" / "handler.py")]
    done = subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True, timeout=60, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"the API's first request failed:\n{done.stderr[-2_000:]}")
    import_ms, request_ms = done.stdout.split()[-2:]
    return float(import_ms), float(request_ms)


def commands() -> dict[str, list[str]]:
    handlers = {
        path.parent.name: [sys.executable, "-c", HANDLER_IMPORT, str(path)]
        for path in sorted((ROOT / "functions").glob("*/handler.py"))
    }
    return {BASELINE: [sys.executable, "-c", BASELINE_IMPORT], **handlers}


def measure(
    env: dict[str, str],
) -> tuple[dict[str, list[float]], dict[str, int], list[tuple[float, float]]]:
    targets = commands()
    for command in targets.values():
        sample(command, env)  # compiles the bytecode caches, so no sample pays for compilation
    first_request_sample(env)
    times: dict[str, list[float]] = {name: [] for name in targets}
    modules: dict[str, int] = {}
    first_requests: list[tuple[float, float]] = []
    budget_ends = time.monotonic() + SAMPLING_BUDGET_S
    for round_number in range(SAMPLES):
        if round_number >= MIN_SAMPLES and time.monotonic() > budget_ends:
            break
        for name, command in targets.items():
            elapsed, modules[name] = sample(command, env)
            times[name].append(elapsed)
        first_requests.append(first_request_sample(env))
    return times, modules, first_requests


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="agentlab-bench-") as scratch:
        times, modules, first_requests = measure(child_environment(Path(scratch)))
    medians = {name: statistics.median(samples) for name, samples in times.items()}
    baseline = medians[BASELINE]
    print(f"{'module':<18} {'median ms':>9} {'min ms':>8} {'max ms':>8} {'x baseline':>10} {'modules':>8}")
    for name, samples in times.items():
        print(
            f"{name:<18} {medians[name]:>9.1f} {min(samples):>8.1f} {max(samples):>8.1f} "
            f"{medians[name] / baseline:>10.2f} {modules[name]:>8}"
        )
    api_ms, api_ratio = medians["api"], medians["api"] / baseline
    print(
        f"\napi handler: {api_ms:.1f} ms median (target <= {API_TARGET_MS} ms: "
        f"{'met' if api_ms <= API_TARGET_MS else 'not met'}), {api_ratio:.2f}x baseline "
        f"(target <= {API_TARGET_RATIO}x: {'met' if api_ratio <= API_TARGET_RATIO else 'not met'}); "
        f"{len(times[BASELINE])} samples per module"
    )
    over = [name for name, median in medians.items() if name not in (BASELINE, "api") and median > baseline]
    print(f"other handlers above the baseline (target: none): {', '.join(over) or 'none'}")
    first_import = statistics.median(sample[0] for sample in first_requests)
    first_get = statistics.median(sample[1] for sample in first_requests)
    first_total = statistics.median(sum(sample) for sample in first_requests)
    print(
        f"api first request under moto (boto3 already loaded by moto): import {first_import:.1f} ms + "
        f"first GET /v1/runs/{{id}} {first_get:.1f} ms = {first_total:.1f} ms median "
        f"({first_total / baseline:.2f}x baseline); {len(first_requests)} samples"
    )
    figures: dict[str, float | int] = {
        "samples": len(times[BASELINE]),
        "baseline_ms": round(baseline, 1),
        **{f"{name}_ms": round(median, 1) for name, median in medians.items() if name != BASELINE},
        **{f"{name}_ratio": round(median / baseline, 2) for name, median in medians.items() if name != BASELINE},
        f"{FIRST_REQUEST}_import_ms": round(first_import, 1),
        f"{FIRST_REQUEST}_get_ms": round(first_get, 1),
        f"{FIRST_REQUEST}_ms": round(first_total, 1),
        f"{FIRST_REQUEST}_ratio": round(first_total / baseline, 2),
        "api_target_ms": API_TARGET_MS,
        "api_target_ratio": API_TARGET_RATIO,
    }
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
