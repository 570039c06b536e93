"""The Fargate backend's host side against fakes of ECS, the session store and the task's kernel server (no AWS, no
network: the channel goes through httpx's MockTransport)."""

from __future__ import annotations

import hashlib
import json
import signal
import subprocess
import sys
import textwrap
import tomllib
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from agentlab.errors import ConcurrentUpdate, InvalidRequest
from agentlab.models.agent import MAX_CELL_TIMEOUT_S
from agentlab.sandbox import channel
from agentlab.sandbox.errors import SandboxPathRefused, SandboxUnavailable
from agentlab.sandbox.fargate import (
    CELL_RESULT_MARGIN_S,
    SANDBOX_START_TIMEOUT_S,
    STEP_MARGIN_S,
    TASK_PORT,
    FargateSandboxBackend,
    FargateSandboxSettings,
    ecs_phases,
    limits_task_size,
    task_size,
)
from agentlab.sandbox.models import CellResult, SandboxLimits
from agentlab.store.sandbox_sessions import SandboxSessionRecord

ROOT = Path(__file__).resolve().parents[2]
RUN_ID = "01JRUNAAAAAAAAAAAAAAAAAAAA"
LAMBDA_MAX_TIMEOUT_S = 900  # the longest a Lambda function may run: the timeout of the functions that run cells


class FakeTask:
    """The kernel server of one task: the real routes and token check, cells answered without a kernel."""

    def __init__(self, run_id: str, token_sha256: str, kernel_id: str) -> None:
        self.run_id = run_id
        self.token_sha256 = token_sha256
        self.kernel_id = kernel_id
        self.started_with: dict[str, str] | None = None
        self.files: dict[str, bytes] = {}
        self.cells: list[dict[str, Any]] = []
        self.paths: list[str] = []
        # A transport error raised at the next request of this path (the task dying under it).
        self.breaks: dict[str, Exception] = {}

    def answer(self, request: httpx.Request) -> httpx.Response:
        self.paths.append(request.url.path)
        if not channel.authorized(request.headers.get("Authorization"), self.token_sha256):
            return httpx.Response(401, json={"error": "unauthorized", "message": "no"})
        if request.url.path in self.breaks:
            raise self.breaks.pop(request.url.path)
        route = (request.method, request.url.path)
        health = {"run_id": self.run_id, "started": self.started_with is not None, "kernel_id": self.kernel_id}
        if route == ("GET", channel.HEALTH):
            return httpx.Response(200, json={**health, "workspace": "/scratch/sandbox/ws"})
        if route == ("POST", channel.SESSION):
            self.started_with = json.loads(request.content)["env"]
            return httpx.Response(200, json={**health, "started": True, "workspace": "/scratch/sandbox/ws"})
        if self.started_with is None:
            return httpx.Response(409, json={"error": channel.NOT_STARTED, "message": "not started"})
        path = request.url.params.get("path", "")
        if route in {("POST", channel.EXECUTE), ("POST", channel.CHECK)}:
            cell = json.loads(request.content)
            self.cells.append({"endpoint": request.url.path, **cell})
            result = CellResult(stdout=f"ran {cell['code']}\n", stderr="", exit_code=0, duration_ms=1)
            return httpx.Response(
                200, content=result.model_copy(update={"kernel_id": self.kernel_id}).model_dump_json()
            )
        if route == ("PUT", channel.FILE):
            self.files[path] = request.content
            return httpx.Response(204)
        if route == ("GET", channel.FILE):
            if ".." in path.split("/"):
                return httpx.Response(400, json={"error": "sandbox_path_refused", "message": "refused"})
            if path not in self.files:
                return httpx.Response(404, json={"error": "file_not_found", "message": f"{path} not found"})
            return httpx.Response(200, content=self.files[path])
        if route == ("GET", channel.FILES):
            listing = [
                {"path": name, "size": len(data), "sha256": hashlib.sha256(data).hexdigest(), "content_type": "x/y"}
                for name, data in sorted(self.files.items())
            ]
            return httpx.Response(200, json=listing)
        return httpx.Response(404, json={"error": "not_found", "message": "no route"})


class FakeEcs:
    """Tasks start PROVISIONING and are RUNNING (with an address and a kernel server) at the next describe."""

    def __init__(self, *, capacity: bool = True, starts: bool = True, stops_while_starting: bool = False) -> None:
        self.capacity = capacity
        self.starts = starts
        self.stops_while_starting = stops_while_starting
        self.tasks: dict[str, dict[str, Any]] = {}
        self.servers: dict[str, FakeTask] = {}  # by address
        self.run_calls: list[dict[str, Any]] = []
        self.stopped: list[str] = []

    def run_task(self, **kwargs: Any) -> dict[str, Any]:
        self.run_calls.append(kwargs)
        if not self.capacity:
            return {"tasks": [], "failures": [{"arn": "", "reason": "RESOURCE:CAPACITY"}]}
        number = len(self.run_calls)
        arn = f"arn:task/{number}"
        environment = {e["name"]: e["value"] for e in kwargs["overrides"]["containerOverrides"][0]["environment"]}
        address = f"10.0.0.{number}"
        self.servers[address] = FakeTask(
            environment[channel.ENV_RUN_ID], environment[channel.ENV_TOKEN_SHA256], kernel_id=f"kernel-{number}"
        )
        self.tasks[arn] = {
            "taskArn": arn,
            "lastStatus": "PROVISIONING",
            "startedBy": kwargs["startedBy"],
            "ip": address,
        }
        return {"tasks": [dict(self.tasks[arn])], "failures": []}

    def describe_tasks(self, *, cluster: str, tasks: list[str]) -> dict[str, Any]:
        described = []
        for arn in tasks:
            task = self.tasks[arn]
            if task["lastStatus"] == "PROVISIONING" and self.stops_while_starting:
                task.update(lastStatus="STOPPED", stoppedReason="CannotPullContainerError: no image")
                task["containers"] = [{"name": "sandbox", "exitCode": 1}]
            elif task["lastStatus"] == "PROVISIONING" and self.starts:
                task["lastStatus"] = "RUNNING"
            described.append(
                {
                    **task,
                    "attachments": [
                        {
                            "type": "ElasticNetworkInterface",
                            "details": [
                                {"name": "subnetId", "value": "subnet-a"},
                                {"name": "privateIPv4Address", "value": task["ip"]},
                            ],
                        }
                    ],
                }
            )
        return {"tasks": described}

    def list_tasks(self, *, cluster: str, startedBy: str, desiredStatus: str) -> dict[str, Any]:
        return {
            "taskArns": [
                arn
                for arn, task in self.tasks.items()
                if task["startedBy"] == startedBy and task["lastStatus"] != "STOPPED"
            ]
        }

    def stop_task(self, *, cluster: str, task: str, reason: str) -> dict[str, Any]:
        self.stopped.append(task)
        self.tasks[task]["lastStatus"] = "STOPPED"
        self.servers.pop(self.tasks[task]["ip"], None)
        return {}

    def server(self, number: int) -> FakeTask:
        return self.servers[f"10.0.0.{number}"]

    def transport(self) -> httpx.MockTransport:
        def route(request: httpx.Request) -> httpx.Response:
            assert request.url.port == TASK_PORT
            server = self.servers.get(request.url.host)
            if server is None:
                raise httpx.ConnectError("[Errno 111] Connection refused", request=request)
            return server.answer(request)

        return httpx.MockTransport(route)


class FakeSessions:
    """SandboxSessionStore's semantics in memory: every write after the first is conditional on the task ARN."""

    def __init__(self) -> None:
        self.records: dict[str, SandboxSessionRecord] = {}
        self.uses: list[str] = []

    def get(self, run_id: str) -> SandboxSessionRecord | None:
        return self.records.get(run_id)

    def claim(self, record: SandboxSessionRecord, *, replacing: str | None) -> None:
        current = self.records.get(record.run_id)
        if current is not None and current.task_arn != replacing:
            raise ConcurrentUpdate("the item already exists")
        self.records[record.run_id] = record

    def record_use(self, run_id: str, task_arn: str, *, address: str | None = None) -> bool:
        current = self.records.get(run_id)
        if current is None or current.task_arn != task_arn:
            return False
        if address is not None:
            self.records[run_id] = current.model_copy(update={"address": address})
        self.uses.append(task_arn)
        return True

    def forget(self, run_id: str, task_arn: str) -> None:
        current = self.records.get(run_id)
        if current is not None and current.task_arn == task_arn:
            del self.records[run_id]


def settings(**changes: Any) -> FargateSandboxSettings:
    values: dict[str, Any] = {
        "cluster_arn": "arn:cluster",
        "task_definition_arn": "arn:taskdef:3",
        "subnets": ["subnet-a", "subnet-b"],
        "security_groups": ["sg-task"],
        **changes,
    }
    return FargateSandboxSettings(**values)


def backend(
    ecs: FakeEcs, sessions: FakeSessions | None = None, *, clock: Callable[[], float] = lambda: 0.0, **changes: Any
) -> FargateSandboxBackend:
    return FargateSandboxBackend(
        lambda: ecs,
        sessions or FakeSessions(),  # type: ignore[arg-type]
        settings(**changes),
        http=httpx.Client(transport=ecs.transport()),
        clock=clock,
        sleep=lambda _: None,
    )


def ticking(step: float) -> Callable[[], float]:
    now = [0.0]

    def clock() -> float:
        now[0] += step
        return now[0]

    return clock


def test_settings_read_lists_as_cloudformation_joins_them(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {
        "AGENTLAB_CLUSTER_ARN": "arn:cluster",
        "AGENTLAB_TASK_DEFINITION_ARN": "arn:td",
        "AGENTLAB_SUBNETS": "subnet-a, subnet-b",
        "AGENTLAB_SECURITY_GROUPS": '["sg-1"]',
        "AGENTLAB_TABLE_NAME": "agentlab-prod",
    }.items():
        monkeypatch.setenv(name, value)
    loaded = FargateSandboxSettings()
    assert loaded.subnets == ["subnet-a", "subnet-b"]
    assert loaded.security_groups == ["sg-1"]
    assert loaded.table_name == "agentlab-prod"
    assert loaded.task_port == TASK_PORT == 8700


def test_a_new_run_gets_a_private_task_that_knows_only_its_tokens_digest() -> None:
    ecs, sessions = FakeEcs(), FakeSessions()
    limits = SandboxLimits(cpu=2, memory_mb=3000, cell_timeout_s=30)

    session = backend(ecs, sessions).session(RUN_ID, limits, {"API_TOKEN": "secret-value"})

    assert session.isolation == "fargate"
    (call,) = ecs.run_calls
    assert call["launchType"] == "FARGATE"
    assert call["startedBy"] == RUN_ID
    assert call["taskDefinition"] == "arn:taskdef:3"
    assert call["enableExecuteCommand"] is False
    assert call["networkConfiguration"]["awsvpcConfiguration"] == {
        "subnets": ["subnet-a", "subnet-b"],
        "securityGroups": ["sg-task"],
        "assignPublicIp": "DISABLED",
    }
    (container,) = call["overrides"]["containerOverrides"]
    assert container["name"] == "sandbox"
    environment = {item["name"]: item["value"] for item in container["environment"]}
    assert set(environment) == {"AGENTLAB_SANDBOX_RUN_ID", "AGENTLAB_SANDBOX_LIMITS", "AGENTLAB_SANDBOX_TOKEN_SHA256"}
    assert environment["AGENTLAB_SANDBOX_RUN_ID"] == RUN_ID
    assert SandboxLimits.model_validate_json(environment["AGENTLAB_SANDBOX_LIMITS"]) == limits
    record = sessions.get(RUN_ID)
    assert record is not None and record.task_arn == "arn:task/1" and record.address == "10.0.0.1"
    assert environment["AGENTLAB_SANDBOX_TOKEN_SHA256"] == hashlib.sha256(record.token.encode()).hexdigest()
    # RunTask is recorded by CloudTrail: neither the token nor the run's variables go there.
    assert record.token not in json.dumps(call) and "secret-value" not in json.dumps(call)
    assert ecs.server(1).started_with == {"API_TOKEN": "secret-value"}
    assert (call["overrides"]["cpu"], call["overrides"]["memory"]) == ("2048", "4096")


def test_task_sizes_follow_the_limits_and_are_valid_fargate_sizes() -> None:
    assert limits_task_size(SandboxLimits(cpu=0.25, memory_mb=256)) == (256, 1024)
    assert limits_task_size(SandboxLimits(cpu=0.5, memory_mb=1024)) == (512, 2048)
    assert limits_task_size(SandboxLimits()) == (1024, 2048)
    assert limits_task_size(SandboxLimits(cpu=1.5, memory_mb=1024)) == (2048, 4096)
    assert limits_task_size(SandboxLimits(cpu=4, memory_mb=8192)) == (4096, 9216)
    assert task_size(1024, 8000) == (2048, 9216)
    with pytest.raises(SandboxUnavailable):
        task_size(1024, 64_000)


def test_the_longest_cell_a_task_start_and_the_margin_fit_the_function_timeout() -> None:
    assert MAX_CELL_TIMEOUT_S + SANDBOX_START_TIMEOUT_S + STEP_MARGIN_S <= LAMBDA_MAX_TIMEOUT_S
    # The host waits for a cell's answer up to its timeout and the result margin, which the step margin holds.
    assert CELL_RESULT_MARGIN_S < STEP_MARGIN_S


def test_the_next_invocation_picks_the_recorded_task_up_and_every_request_carries_the_token() -> None:
    ecs, sessions = FakeEcs(), FakeSessions()
    backend(ecs, sessions).session(RUN_ID, SandboxLimits(), {}).execute("x = 1")

    again = backend(ecs, sessions).session(RUN_ID, SandboxLimits(), {})
    result = again.execute("print(x)", timeout_s=5)

    assert len(ecs.run_calls) == 1
    assert again.task_arn == "arn:task/1"
    assert result.stdout == "ran print(x)\n" and result.kernel_id == "kernel-1"
    assert ecs.server(1).cells[-1] == {"endpoint": "/execute", "code": "print(x)", "timeout_s": 5}
    assert ecs.server(1).paths == ["/health", "/session", "/execute", "/health", "/execute"]


def test_a_check_goes_to_the_fresh_process_endpoint() -> None:
    ecs = FakeEcs()
    session = backend(ecs).session(RUN_ID, SandboxLimits(cell_timeout_s=12), {})

    session.check("assert True")

    assert ecs.server(1).cells == [{"endpoint": "/check", "code": "assert True", "timeout_s": 12}]


def test_a_task_whose_address_answers_to_another_token_is_replaced() -> None:
    ecs, sessions = FakeEcs(), FakeSessions()
    backend(ecs, sessions).session(RUN_ID, SandboxLimits(), {})
    # The task went away and its address went to another run's task, which knows another token.
    other = ecs.servers["10.0.0.1"] = FakeTask("01JOTHERRUNAAAAAAAAAAAAAAA", "0" * 64, "kernel-other")

    session = backend(ecs, sessions).session(RUN_ID, SandboxLimits(), {})

    assert ecs.stopped == ["arn:task/1"]
    assert session.task_arn == "arn:task/2"
    assert other.paths == ["/health"], "nothing but the probe reached the other run's task"


def test_an_unreachable_task_is_replaced_at_the_next_session() -> None:
    ecs, sessions = FakeEcs(), FakeSessions()
    backend(ecs, sessions).session(RUN_ID, SandboxLimits(), {})
    del ecs.servers["10.0.0.1"]

    session = backend(ecs, sessions).session(RUN_ID, SandboxLimits(), {})

    assert ecs.stopped == ["arn:task/1"]
    assert session.task_arn == "arn:task/2"
    assert session.execute("1").kernel_id == "kernel-2"


def test_a_probe_lost_on_the_way_does_not_cost_a_running_task_its_kernel() -> None:
    ecs, sessions = FakeEcs(), FakeSessions()
    backend(ecs, sessions).session(RUN_ID, SandboxLimits(), {})
    ecs.server(1).breaks[channel.HEALTH] = httpx.ConnectTimeout("timed out")

    session = backend(ecs, sessions).session(RUN_ID, SandboxLimits(), {})

    assert session.task_arn == "arn:task/1"
    assert ecs.stopped == [] and len(ecs.run_calls) == 1


def test_a_cell_whose_task_dies_under_it_reports_a_restarted_kernel_and_is_never_replayed() -> None:
    ecs, sessions = FakeEcs(), FakeSessions()
    session = backend(ecs, sessions).session(RUN_ID, SandboxLimits(), {})
    session.execute("x = 1")
    ecs.server(1).breaks[channel.EXECUTE] = httpx.RemoteProtocolError("Server disconnected without sending a response.")

    lost = session.execute("y = x + 1")

    assert lost.kernel_restarted and lost.exit_code == 137 and lost.limit is None
    assert "the sandbox task ended while the cell ran" in lost.stderr
    assert "state is lost" in lost.stderr
    assert lost.kernel_id == "kernel-1"
    assert ecs.stopped == ["arn:task/1"]
    assert sessions.get(RUN_ID) is None

    fresh = backend(ecs, sessions).session(RUN_ID, SandboxLimits(), {})
    after = fresh.execute("print(x)")

    assert after.kernel_id == "kernel-2"
    assert [cell["code"] for cell in ecs.server(2).cells] == ["print(x)"], "no earlier cell was replayed"


def test_a_cell_sent_to_a_task_that_is_already_gone_says_it_did_not_run() -> None:
    ecs = FakeEcs()
    session = backend(ecs).session(RUN_ID, SandboxLimits(), {})
    del ecs.servers["10.0.0.1"]

    lost = session.execute("x = 1")

    assert lost.kernel_restarted
    assert "gone before the cell could run" in lost.stderr
    assert ecs.stopped == ["arn:task/1"]


def test_a_task_that_does_not_answer_a_cell_in_time_is_stopped() -> None:
    ecs = FakeEcs()
    session = backend(ecs).session(RUN_ID, SandboxLimits(cell_timeout_s=5), {})
    ecs.server(1).breaks[channel.EXECUTE] = httpx.ReadTimeout("timed out")

    lost = session.execute("while True: pass")

    assert lost.limit == "timeout" and lost.kernel_restarted
    assert "did not answer within 35s" in lost.stderr
    assert ecs.stopped == ["arn:task/1"]


def test_a_task_that_never_runs_is_stopped_when_the_start_times_out() -> None:
    ecs, sessions = FakeEcs(starts=False), FakeSessions()

    with pytest.raises(SandboxUnavailable, match="not running after 180s"):
        backend(ecs, sessions, clock=ticking(30)).session(RUN_ID, SandboxLimits(), {})

    assert ecs.stopped == ["arn:task/1"]
    assert sessions.get(RUN_ID) is None


def test_a_task_whose_server_never_answers_is_stopped_when_the_start_times_out() -> None:
    ecs, sessions = FakeEcs(), FakeSessions()
    original = ecs.run_task

    def start_without_server(**kwargs: Any) -> dict[str, Any]:
        answer = original(**kwargs)
        ecs.servers.clear()
        return answer

    ecs.run_task = start_without_server  # type: ignore[method-assign]

    with pytest.raises(SandboxUnavailable, match="did not answer within 180s"):
        backend(ecs, sessions, clock=ticking(7)).session(RUN_ID, SandboxLimits(), {})

    assert ecs.stopped == ["arn:task/1"]
    assert sessions.get(RUN_ID) is None


def test_a_task_that_stops_while_starting_fails_at_once_with_its_reason() -> None:
    ecs = FakeEcs(stops_while_starting=True)

    with pytest.raises(SandboxUnavailable, match="CannotPullContainerError: no image; sandbox exited 1"):
        backend(ecs).session(RUN_ID, SandboxLimits(), {})


def test_no_capacity_is_unavailable() -> None:
    with pytest.raises(SandboxUnavailable, match="RESOURCE:CAPACITY"):
        backend(FakeEcs(capacity=False)).session(RUN_ID, SandboxLimits(), {})


def test_a_start_that_loses_the_race_for_the_record_stops_its_own_task() -> None:
    ecs, sessions = FakeEcs(), FakeSessions()
    original = ecs.run_task

    def meanwhile_another_start(**kwargs: Any) -> dict[str, Any]:
        answer = original(**kwargs)
        now = datetime.now(UTC)
        sessions.records[RUN_ID] = SandboxSessionRecord(
            run_id=RUN_ID, task_arn="arn:task/other", token="t", started_at=now, last_used_at=now
        )
        return answer

    ecs.run_task = meanwhile_another_start  # type: ignore[method-assign]

    with pytest.raises(SandboxUnavailable, match="at the same time"):
        backend(ecs, sessions).session(RUN_ID, SandboxLimits(), {})

    assert ecs.stopped == ["arn:task/1"]
    record = sessions.get(RUN_ID)
    assert record is not None and record.task_arn == "arn:task/other"


def test_end_stops_the_task_through_ecs_only_and_forgets_it() -> None:
    ecs, sessions = FakeEcs(), FakeSessions()
    sandbox = backend(ecs, sessions)
    sandbox.session(RUN_ID, SandboxLimits(), {})
    requests_before = list(ecs.server(1).paths)
    server = ecs.server(1)

    sandbox.end(RUN_ID)

    assert ecs.stopped == ["arn:task/1"]
    assert server.paths == requests_before, "ending a run never reaches into the VPC"
    assert sessions.get(RUN_ID) is None


def test_end_also_stops_a_task_the_record_lost() -> None:
    ecs = FakeEcs()
    sandbox = backend(ecs)
    # A task started by an invocation that died before it could write the session record.
    environment = [{"name": channel.ENV_RUN_ID, "value": RUN_ID}, {"name": channel.ENV_TOKEN_SHA256, "value": "0"}]
    ecs.run_task(startedBy=RUN_ID, overrides={"containerOverrides": [{"environment": environment}]})

    sandbox.end(RUN_ID)

    assert ecs.stopped == ["arn:task/1"]


def test_files_go_to_the_task_and_refused_paths_or_sizes_never_leave_the_host() -> None:
    ecs = FakeEcs()
    session = backend(ecs).session(RUN_ID, SandboxLimits(max_file_mb=1), {})

    session.put_file("inputs/data.csv", b"a,b\n")

    assert session.read_file("inputs/data.csv") == b"a,b\n"
    assert [file.path for file in session.list_files()] == ["inputs/data.csv"]
    with pytest.raises(FileNotFoundError):
        session.read_file("missing.txt")
    sent = len(ecs.server(1).paths)
    with pytest.raises(SandboxPathRefused):
        session.read_file("../other-run/secret")
    with pytest.raises(SandboxPathRefused):
        session.put_file("/etc/passwd", b"x")
    with pytest.raises(InvalidRequest, match="file size limit"):
        session.put_file("inputs/big.bin", b"x" * (1024 * 1024 + 1))
    assert len(ecs.server(1).paths) == sent


def test_a_file_request_to_a_dead_task_is_unavailable_and_retires_it() -> None:
    ecs, sessions = FakeEcs(), FakeSessions()
    session = backend(ecs, sessions).session(RUN_ID, SandboxLimits(), {})
    del ecs.servers["10.0.0.1"]

    with pytest.raises(SandboxUnavailable, match="is gone"):
        session.list_files()

    assert ecs.stopped == ["arn:task/1"]
    assert sessions.get(RUN_ID) is None


def test_only_the_tasks_own_token_is_authorized() -> None:
    token = channel.new_token()
    digest = channel.token_digest(token)

    assert channel.authorized(f"Bearer {token}", digest)
    assert channel.authorized(f"bearer {token}", digest)
    assert not channel.authorized(None, digest)
    assert not channel.authorized("", digest)
    assert not channel.authorized(token, digest)
    assert not channel.authorized(f"Basic {token}", digest)
    assert not channel.authorized(f"Bearer {token}x", digest)
    assert not channel.authorized("Bearer ", digest)
    assert not channel.authorized(f"Bearer {token}", "")


# The task's process ------------------------------------------------------------------------------------------------
def run_python(code: str, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=60, **kwargs
    )


def test_the_task_process_and_what_it_forks_cannot_be_inspected_by_their_own_uid() -> None:
    completed = run_python(
        """
        import ctypes, os
        from agentlab.sandbox.task_entrypoint import forbid_same_uid_inspection
        forbid_same_uid_inspection()
        libc = ctypes.CDLL(None)
        child = os.fork()
        if child == 0:
            os._exit(libc.prctl(3, 0, 0, 0, 0))
        print(libc.prctl(3, 0, 0, 0, 0), os.waitstatus_to_exitcode(os.waitpid(child, 0)[1]))
        """
    )
    assert completed.stdout.split() == ["0", "0"], completed.stderr


def test_init_forwards_sigterm_to_the_server_and_exits_with_its_status() -> None:
    completed = run_python(
        """
        import os, signal, sys, time
        from agentlab.sandbox.task_entrypoint import run_as_init

        def serve():
            stopping = []
            signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))
            if os.fork() == 0:  # a process that leaves an orphan behind, as a dying kernel's children are left
                if os.fork() == 0:
                    time.sleep(0.2)
                    os._exit(0)
                os._exit(0)
            os.kill(os.getppid(), signal.SIGTERM)  # ECS stopping the task: init must hand it on
            while not stopping:
                time.sleep(0.01)
            return 7

        sys.exit(run_as_init(serve))
        """
    )
    assert completed.returncode == 7, completed.stderr


def test_a_server_killed_by_a_signal_is_reported_as_a_shell_would() -> None:
    completed = run_python(
        """
        import os, signal, sys
        from agentlab.sandbox.task_entrypoint import run_as_init
        sys.exit(run_as_init(lambda: os.kill(os.getpid(), signal.SIGKILL) or 0))
        """
    )
    assert completed.returncode == 128 + signal.SIGKILL


# The image -------------------------------------------------------------------------------------------------------
def dockerfile_instructions() -> list[tuple[str, str]]:
    text = (ROOT / "sandbox-task" / "Dockerfile").read_text().replace("\\\n", " ")
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.strip().startswith("#")]
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1]) for line in lines]


def test_image_base_is_pinned_python_3_12_slim() -> None:
    # The build and runtime stages on the same Python base; Node.js (for repositories' commands) comes from a stage
    # of its own, pinned by tag.
    bases = [argument.split()[0] for name, argument in dockerfile_instructions() if name == "FROM"]
    python = {base for base in bases if base.startswith("python:")}
    (base,) = python
    image, _, tag = base.partition(":")
    assert image == "python"
    assert tag.startswith("3.12.") and "slim" in tag
    others = [base for base in bases if base not in python]
    assert all(":" in base and not base.endswith(":latest") for base in others), others


def test_image_runs_the_task_entrypoint_as_a_non_root_user() -> None:
    instructions = dockerfile_instructions()
    users = [argument for name, argument in instructions if name == "USER"]
    assert users, "the image must set a USER"
    uid = users[-1].split(":")[0]
    assert uid.isdigit() and int(uid) >= 1000
    (entrypoint,) = [json.loads(argument) for name, argument in instructions if name == "ENTRYPOINT"]
    assert entrypoint == ["python", "-m", "agentlab.sandbox.task_entrypoint"]
    assert (ROOT / "layers/core/agentlab/sandbox/task_entrypoint.py").is_file()


def test_image_leaves_no_package_manager_behind() -> None:
    runs = " ".join(argument for name, argument in dockerfile_instructions() if name == "RUN")
    assert "pip uninstall -y pip" in runs
    assert "/var/lib/apt/lists/*" in runs
    assert "--no-cache-dir" in runs


def test_image_pins_the_sandbox_libraries_of_pyproject() -> None:
    extra = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]["sandbox"]
    lines = (ROOT / "sandbox-task" / "requirements.txt").read_text().splitlines()
    pins = [line.strip() for line in lines if line.strip() and not line.startswith("#")]
    assert all("==" in pin for pin in pins)
    assert set(extra) <= set(pins)


def test_ecs_phases_split_a_cold_start_at_the_timestamps_describe_tasks_gives() -> None:
    # Given a task as DescribeTasks reports it once it runs
    created = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
    task = {
        "createdAt": created,
        "pullStartedAt": created.replace(second=8),
        "pullStoppedAt": created.replace(second=20),
        "startedAt": created.replace(second=21),
    }

    # Then provisioning, pull and container start are the gaps between them
    assert ecs_phases(task) == {"provisioning": 8.0, "pull": 12.0, "container_start": 1.0}
    # and a task without pull timestamps (moto, a stand-in) reports only what it can
    assert ecs_phases({"createdAt": created}) == {}
