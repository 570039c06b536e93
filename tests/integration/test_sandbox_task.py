"""The Fargate backend against the real sandbox task, run as a local process ("Fargate-like local process").

ECS is a small stand-in whose RunTask starts `python -m agentlab.sandbox.task_entrypoint` with the task's overrides
and hands out a loopback address of its own per task (127.0.0.N, as the VPC gives every task its own address), so the
host side speaks the real channel to the real kernel server. The run's session record lives in DynamoDB (moto).
"""

from __future__ import annotations

import itertools
import json
import os
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest
from moto import mock_aws

from agentlab.sandbox.channel import ENV_TOKEN_SHA256, EXECUTE, bearer
from agentlab.sandbox.errors import SandboxPathRefused, SandboxUnavailable
from agentlab.sandbox.fargate import FargateSandboxBackend, FargateSandboxSettings
from agentlab.sandbox.models import SandboxLimits
from agentlab.store.sandbox_sessions import SandboxSessionStore
from agentlab.store.schema import create_table_request
from agentlab.store.table import Table

TABLE = "agentlab-sandbox-task"
RUN_ID = "01JTASKAAAAAAAAAAAAAAAAAAA"
STOP_WAIT_S = 15
addresses = itertools.count(20)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class LocalProcessEcs:
    """RunTask starts the entrypoint as a local process; StopTask sends it SIGTERM, as ECS does, then SIGKILL."""

    def __init__(self, root: Path, port: int, *, serve: bool = True) -> None:
        self.root = root
        self.port = port
        self.serve = serve
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self.addresses: dict[str, str] = {}
        self.run_calls: list[dict[str, Any]] = []
        self.stopped: list[str] = []

    def run_task(self, **kwargs: Any) -> dict[str, Any]:
        self.run_calls.append(kwargs)
        arn = f"arn:aws:ecs:us-east-1:123456789012:task/sandbox/{len(self.run_calls)}"
        address = f"127.0.0.{next(addresses)}"
        overrides = kwargs["overrides"]["containerOverrides"][0]["environment"]
        env = {
            "PATH": os.environ["PATH"],
            **{item["name"]: item["value"] for item in overrides},
            "AGENTLAB_SANDBOX_ROOT": str(self.root / arn.rsplit("/", 1)[1]),
            "AGENTLAB_SANDBOX_HOST": address,
            "AGENTLAB_SANDBOX_PORT": str(self.port),
        }
        # A task whose container never serves: the same process, told to listen where nobody looks.
        if not self.serve:
            env["AGENTLAB_SANDBOX_HOST"] = "127.0.0.2"
            env["AGENTLAB_SANDBOX_PORT"] = str(free_port())
        self.processes[arn] = subprocess.Popen(
            [sys.executable, "-m", "agentlab.sandbox.task_entrypoint"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.addresses[arn] = address
        return {"tasks": [{"taskArn": arn, "lastStatus": "PROVISIONING"}], "failures": []}

    def describe_tasks(self, *, cluster: str, tasks: list[str]) -> dict[str, Any]:
        return {"tasks": [self._describe(arn) for arn in tasks if arn in self.processes]}

    def list_tasks(self, *, cluster: str, startedBy: str, desiredStatus: str) -> dict[str, Any]:
        return {
            "taskArns": [
                arn
                for arn, call in zip(self.processes, self.run_calls, strict=True)
                if call["startedBy"] == startedBy and self.processes[arn].poll() is None
            ]
        }

    def stop_task(self, *, cluster: str, task: str, reason: str) -> dict[str, Any]:
        self.stopped.append(task)
        process = self.processes.get(task)
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(STOP_WAIT_S)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        return {"task": self._describe(task)}

    def kill(self, arn: str) -> None:
        """The task dies on its own (out of memory, a host failure): no SIGTERM, no goodbye."""
        self.processes[arn].kill()
        self.processes[arn].wait()

    def close(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.kill()
                process.wait()

    def _describe(self, arn: str) -> dict[str, Any]:
        running = self.processes[arn].poll() is None
        return {
            "taskArn": arn,
            "lastStatus": "RUNNING" if running else "STOPPED",
            "stoppedReason": "" if running else "Essential container in task exited",
            "attachments": [
                {
                    "type": "ElasticNetworkInterface",
                    "details": [{"name": "privateIPv4Address", "value": self.addresses[arn]}],
                }
            ],
        }


class World:
    def __init__(self, ecs: LocalProcessEcs, sessions: SandboxSessionStore, port: int) -> None:
        self.ecs = ecs
        self.sessions = sessions
        self.port = port

    def backend(self, **settings: Any) -> FargateSandboxBackend:
        """A backend as one Lambda invocation builds it: nothing shared with another but ECS and the table."""
        values: dict[str, Any] = {
            "cluster_arn": "arn:cluster",
            "task_definition_arn": "arn:td:1",
            "subnets": ["subnet-a"],
            "security_groups": ["sg-task"],
            "task_port": self.port,
            "start_timeout_s": 60,
            "start_poll_s": 0.05,
            **settings,
        }
        return FargateSandboxBackend(lambda: self.ecs, self.sessions, FargateSandboxSettings(**values))


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    port = free_port()
    ecs = LocalProcessEcs(tmp_path / "tasks", port)
    with mock_aws():
        dynamodb = boto3.client("dynamodb", region_name="us-east-1")
        dynamodb.create_table(**create_table_request(TABLE))
        try:
            yield World(ecs, SandboxSessionStore(Table(lambda: dynamodb, TABLE)), port)
        finally:
            ecs.close()


LIMITS = SandboxLimits(cell_timeout_s=30, idle_timeout_s=120)


def test_cells_keep_state_files_go_both_ways_and_end_stops_the_task(world: World) -> None:
    backend = world.backend()
    session = backend.session(RUN_ID, LIMITS, {"GREETING": "hello"})
    session.put_file("inputs/numbers.txt", b"20 22\n")
    session.put_file("inputs/a name+with signs.csv", b"a,b\n")
    first = session.execute("x = 2")

    # Another invocation (the next Execute step) picks the same task up from the session record.
    again = world.backend().session(RUN_ID, LIMITS, {"GREETING": "hello"})
    second = again.execute(
        "import os\n"
        "os.makedirs('out', exist_ok=True)\n"
        "print(x * 21)\n"
        "total = sum(int(n) for n in open('inputs/numbers.txt').read().split())\n"
        "_ = open('out/result.txt', 'w').write(os.environ['GREETING'] + ' ' + str(total))\n"
    )

    assert first.exit_code == 0, first.stderr
    assert second.exit_code == 0, second.stderr
    assert second.stdout == "42\n"
    assert first.kernel_id and second.kernel_id == first.kernel_id
    assert [file.path for file in second.files] == ["out/result.txt"]
    assert again.read_file("out/result.txt") == b"hello 42"
    assert again.read_file("inputs/a name+with signs.csv") == b"a,b\n"
    assert {file.path for file in again.list_files()} == {
        "inputs/numbers.txt",
        "inputs/a name+with signs.csv",
        "out/result.txt",
    }
    with pytest.raises(FileNotFoundError):
        again.read_file("missing.txt")
    with pytest.raises(SandboxPathRefused):
        again.read_file("../../etc/passwd")
    assert len(world.ecs.run_calls) == 1
    record = world.sessions.get(RUN_ID)
    assert record is not None and record.address == world.ecs.addresses[record.task_arn]

    backend.end(RUN_ID)

    (arn,) = world.ecs.processes
    assert world.ecs.stopped == [arn]
    assert world.ecs.processes[arn].poll() == 0, "the task ends its session and exits cleanly on SIGTERM"
    assert world.sessions.get(RUN_ID) is None


def test_a_goal_check_runs_in_a_fresh_process_the_cells_could_not_patch(world: World) -> None:
    session = world.backend().session(RUN_ID, LIMITS, {})
    patched = session.execute(
        "import os, builtins\nos.path.exists = lambda path: True\nbuiltins.open = None\nstate = 'kept'\n"
    )
    assert patched.exit_code == 0, patched.stderr

    check = session.check("import os, sys\nsys.exit(0 if os.path.exists('report.md') else 1)\n")
    after = session.execute("print(state, os.path.exists('report.md'))")

    assert check.exit_code == 1, "a patched os.path.exists in the kernel must not make the check pass"
    assert check.kernel_id and check.kernel_id != patched.kernel_id
    assert after.stdout == "kept True\n", "the check leaves the kernel and its state as they were"


def test_a_request_without_the_token_is_refused_and_runs_nothing(world: World) -> None:
    session = world.backend().session(RUN_ID, LIMITS, {})
    record = world.sessions.get(RUN_ID)
    assert record is not None and record.address
    url = f"http://{record.address}:{world.port}{EXECUTE}"
    planted = {"code": "open('planted.txt', 'w').write('x')"}

    answers = [
        httpx.post(url, json=planted),
        httpx.post(url, json=planted, headers=bearer("not-the-token")),
        httpx.post(url, json=planted, headers={"Authorization": record.token}),  # no scheme
        httpx.post(url, json=planted, headers={"Authorization": f"Basic {record.token}"}),
        httpx.get(f"http://{record.address}:{world.port}/health"),
    ]

    assert [answer.status_code for answer in answers] == [401] * len(answers)
    assert all(answer.json()["error"] == "unauthorized" for answer in answers)
    assert "planted.txt" not in {file.path for file in session.list_files()}
    # The task knows the token only by its digest: the record's token is what it was made from.
    (call,) = world.ecs.run_calls
    environment = {item["name"]: item["value"] for item in call["overrides"]["containerOverrides"][0]["environment"]}
    assert record.token not in json.dumps(call)
    assert len(environment[ENV_TOKEN_SHA256]) == 64


def test_a_task_killed_mid_cell_is_reported_at_once_and_the_next_cell_gets_a_new_kernel(world: World) -> None:
    backend = world.backend()
    session = backend.session(RUN_ID, LIMITS, {})
    first = session.execute("x = 1")
    (arn,) = world.ecs.processes
    threading.Timer(1.0, world.ecs.kill, args=(arn,)).start()

    lost = session.execute("import time\ntime.sleep(25)\n")

    assert lost.kernel_restarted
    assert lost.exit_code != 0
    # Noticed when the connection broke, not by waiting out the cell's timeout.
    assert lost.limit is None
    assert "sandbox task ended while the cell ran" in lost.stderr
    assert world.sessions.get(RUN_ID) is None

    fresh = world.backend().session(RUN_ID, LIMITS, {})
    after = fresh.execute("print('x' in dir())")

    assert len(world.ecs.run_calls) == 2
    assert after.stdout == "False\n", "nothing of the dead kernel's state came back: no cell was replayed"
    assert after.kernel_id and after.kernel_id != first.kernel_id


def test_a_task_that_died_between_steps_is_replaced_at_the_next_session(world: World) -> None:
    first = world.backend().session(RUN_ID, LIMITS, {}).execute("x = 1")
    (arn,) = world.ecs.processes
    world.ecs.kill(arn)

    session = world.backend().session(RUN_ID, LIMITS, {})
    after = session.execute("print('x' in dir())")

    assert len(world.ecs.run_calls) == 2
    assert arn in world.ecs.stopped
    assert after.stdout == "False\n"
    assert after.kernel_id != first.kernel_id


def test_a_task_that_never_answers_is_stopped_when_the_start_times_out(world: World) -> None:
    world.ecs.serve = False
    backend = world.backend(start_timeout_s=2)

    with pytest.raises(SandboxUnavailable, match="did not answer"):
        backend.session(RUN_ID, LIMITS, {})

    (arn,) = world.ecs.processes
    assert world.ecs.stopped == [arn]
    assert world.ecs.processes[arn].poll() is not None
    assert world.sessions.get(RUN_ID) is None


def test_the_task_ends_itself_after_its_idle_timeout(world: World) -> None:
    world.backend().session(RUN_ID, SandboxLimits(idle_timeout_s=1), {})
    (process,) = world.ecs.processes.values()

    assert process.wait(timeout=30) == 0
