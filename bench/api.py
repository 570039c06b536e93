"""API throughput and latency over real HTTP against the local stack, as a user starts it (`agentlab dev`).

Measures `GET /v1/runs/{id}` and `POST /v1/runs` (a script of one finish action, so each run ends quickly) from one
client, then from CLIENTS concurrent clients (threads, one keep-alive connection each): requests per second over the
phase's wall time, and p50/p99 latency of single requests. Runs created by the POST phases keep the engine busy in the
stack's process while later requests are served, as they would in use; the POST phases therefore come last.

Run from the repository root: .venv/bin/python bench/api.py
"""

from __future__ import annotations

import json
import os
import queue
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
GET_REQUESTS = 300
POST_REQUESTS = 60
CLIENTS = 4
# A phase stops early at its time cap (figures then cover the requests done), so a slow machine cannot stretch the run.
GET_PHASE_CAP_S = 10.0
POST_PHASE_CAP_S = 12.0
READY_TIMEOUT_S = 60
STOP_TIMEOUT_S = 15
FINISH_SCRIPT = [{"tool": "finish", "answer": "done"}]


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class RunningStack:
    url: str
    admin_key: str
    process: subprocess.Popen[str]
    output: queue.Queue[str]


def drain_lines(stream: Any, lines: queue.Queue[str]) -> None:
    """Read the stack's output to its end, so a full pipe never blocks it."""
    for line in stream:
        lines.put(line)


def wait_until_ready(process: subprocess.Popen[str], lines: queue.Queue[str]) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        try:
            line = lines.get(timeout=0.2)
        except queue.Empty:
            if process.poll() is not None:
                raise RuntimeError(f"agentlab dev exited with {process.returncode} before it was ready") from None
            continue
        if line.strip() == "ready":
            return
    raise RuntimeError(f"agentlab dev did not print 'ready' within {READY_TIMEOUT_S} s")


def stop(process: subprocess.Popen[str]) -> None:
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@contextmanager
def local_stack(data_dir: Path, extra_env: dict[str, str] | None = None) -> Iterator[RunningStack]:
    port = free_port()
    command = [str(Path(sys.executable).parent / "agentlab"), "dev", "--port", str(port), "--data-dir", str(data_dir)]
    env = {
        **os.environ,
        "POWERTOOLS_LOG_LEVEL": "WARNING",
        # One key sends every request here; the per-identity limits (600 requests, 20 runs a minute) would measure
        # the limiter, not the API. The limiter's own cost (one counter write per request) is still paid.
        "AGENTLAB_RATE_LIMIT_REQUESTS_PER_MINUTE": "1000000",
        "AGENTLAB_RATE_LIMIT_RUNS_PER_MINUTE": "1000000",
        "AGENTLAB_QUOTA_RUNS_PER_DAY": "1000000",
        **(extra_env or {}),
    }
    with tempfile.TemporaryFile(mode="w+") as errors:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=errors, text=True)
        try:
            lines: queue.Queue[str] = queue.Queue()
            drain = threading.Thread(target=drain_lines, args=(process.stdout, lines), daemon=True)
            drain.start()
            try:
                wait_until_ready(process, lines)
            except RuntimeError:
                errors.seek(0)
                print(errors.read()[-3_000:], file=sys.stderr)
                raise
            key = (data_dir / "admin-key").read_text().strip()
            yield RunningStack(f"http://127.0.0.1:{port}", key, process, lines)
        finally:
            stop(process)
            drain.join(timeout=5)


def logged_errors(output: queue.Queue[str]) -> list[str]:
    """The last line of each exception the stack logged (its logs are JSON lines on stdout)."""
    found = []
    while not output.empty():
        line = output.get_nowait()
        if '"level":"ERROR"' not in line:
            continue
        try:
            record = json.loads(line)
        except ValueError:
            continue
        trace = str(record.get("exception") or record.get("message") or "").strip()
        found.append(trace.splitlines()[-1] if trace else "error without detail")
    return found


def client(stack: RunningStack) -> httpx.Client:
    return httpx.Client(base_url=stack.url, headers={"authorization": f"Bearer {stack.admin_key}"}, timeout=30)


def expect(response: httpx.Response, status: int) -> Any:
    if response.status_code != status:
        raise RuntimeError(
            f"{response.request.method} {response.request.url.path}: {response.status_code} {response.text}"
        )
    return response.json()


@dataclass
class Phase:
    name: str
    clients: int
    requests: int
    wall_s: float
    latencies_ms: list[float]
    errors: int
    first_error: str

    @property
    def rps(self) -> float:
        return self.requests / self.wall_s

    def figures(self, prefix: str) -> dict[str, float | int]:
        return {
            f"{prefix}_rps": round(self.rps, 1),
            f"{prefix}_p50_ms": round(percentile(self.latencies_ms, 0.5), 1),
            f"{prefix}_p99_ms": round(percentile(self.latencies_ms, 0.99), 1),
            f"{prefix}_requests": self.requests,
            f"{prefix}_errors": self.errors,
        }


def run_phase(
    name: str,
    stack: RunningStack,
    send: Callable[[httpx.Client], httpx.Response],
    expected: int,
    total: int,
    clients: int,
    cap_s: float,
) -> Phase:
    """`total` requests split across `clients` threads, each with its own connection, released together; each thread
    stops early once the phase has run for `cap_s`."""
    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    start = threading.Barrier(clients + 1)

    def work(count: int) -> None:
        with client(stack) as http:
            try:
                http.get("/v1/health")  # opens the connection before the clock starts
            finally:
                start.wait()
            deadline = time.perf_counter() + cap_s
            for _ in range(count):
                if time.perf_counter() > deadline:
                    break
                begin = time.perf_counter()
                try:
                    response = send(http)
                    error = "" if response.status_code == expected else f"{response.status_code} {response.text[:300]}"
                except httpx.HTTPError as exc:
                    error = f"{type(exc).__name__}: {exc}"
                elapsed = (time.perf_counter() - begin) * 1000
                with lock:
                    latencies.append(elapsed)
                    if error:
                        errors.append(error)

    shares = [total // clients + (1 if i < total % clients else 0) for i in range(clients)]
    threads = [threading.Thread(target=work, args=(share,)) for share in shares]
    for thread in threads:
        thread.start()
    start.wait()
    began = time.perf_counter()
    for thread in threads:
        thread.join()
    wall_s = time.perf_counter() - began
    return Phase(name, clients, len(latencies), wall_s, latencies, len(errors), errors[0] if errors else "")


def measure(stack: RunningStack) -> list[Phase]:
    with client(stack) as http:
        agent = expect(
            http.post("/v1/agents", json={"name": "bench-agent", "models": {"reasoning": ["scripted"]}}), 201
        )
        run_body = {"agent_id": agent["id"], "prompt": "bench", "script": FINISH_SCRIPT}
        run = expect(http.post("/v1/runs", json=run_body), 201)

    def get_run(http: httpx.Client) -> httpx.Response:
        return http.get(f"/v1/runs/{run['id']}")

    def create_run(http: httpx.Client) -> httpx.Response:
        return http.post("/v1/runs", json=run_body)

    phases = []
    for clients in (1, CLIENTS):
        phases.append(run_phase("GET /v1/runs/{id}", stack, get_run, 200, GET_REQUESTS, clients, GET_PHASE_CAP_S))
    for clients in (1, CLIENTS):
        phases.append(run_phase("POST /v1/runs", stack, create_run, 201, POST_REQUESTS, clients, POST_PHASE_CAP_S))
    return phases


def main() -> None:
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="agentlab-bench-") as data_dir:
        with local_stack(Path(data_dir)) as stack:
            ready_s = time.perf_counter() - started
            phases = measure(stack)
            stopping = time.perf_counter()
        stop_s = time.perf_counter() - stopping
        errors = logged_errors(stack.output)
    print(f"local stack ready in {ready_s:.1f} s, stopped (SIGTERM, snapshot) in {stop_s:.1f} s")
    print(f"{'request':<20} {'clients':>7} {'requests':>8} {'req/s':>7} {'p50 ms':>8} {'p99 ms':>8} {'errors':>6}")
    for phase in phases:
        p50, p99 = percentile(phase.latencies_ms, 0.5), percentile(phase.latencies_ms, 0.99)
        print(
            f"{phase.name:<20} {phase.clients:>7} {phase.requests:>8} {phase.rps:>7.1f} "
            f"{p50:>8.1f} {p99:>8.1f} {phase.errors:>6}"
        )
    get_one, get_many, post_one, post_many = phases
    figures = {
        **get_one.figures("get_run"),
        **get_many.figures(f"get_run_{CLIENTS}c"),
        **post_one.figures("create_run"),
        **post_many.figures(f"create_run_{CLIENTS}c"),
        "stack_ready_s": round(ready_s, 1),
        "stack_stop_s": round(stop_s, 1),
        "stack_logged_errors": len(errors),
    }
    for phase in phases:
        if phase.first_error:
            print(f"{phase.name} x{phase.clients}: first error answer: {phase.first_error}")
    if errors:
        print(f"the stack logged {len(errors)} errors:")
        for message, count in Counter(errors).most_common(5):
            print(f"  {count} x {message}")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
