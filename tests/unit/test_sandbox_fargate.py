"""The Fargate backend's side of the protocol, against small fakes of ECS and S3 (no AWS)."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from agentlab.sandbox.errors import SandboxPathRefused, SandboxUnavailable
from agentlab.sandbox.fargate import FargateSandboxBackend, FargateSandboxSettings, task_size
from agentlab.sandbox.models import CellResult, SandboxLimits

ROOT = Path(__file__).resolve().parents[2]
RUN_ID = "01JRUNAAAAAAAAAAAAAAAAAAAA"


class FakeEcs:
    def __init__(self, *, running: list[dict[str, Any]] | None = None, capacity: bool = True) -> None:
        self.tasks = {task["taskArn"]: task for task in running or []}
        self.capacity = capacity
        self.run_calls: list[dict[str, Any]] = []
        self.stopped: list[str] = []

    def list_tasks(self, *, cluster: str, startedBy: str, desiredStatus: str) -> dict[str, Any]:
        return {"taskArns": [arn for arn, task in self.tasks.items() if task["startedBy"] == startedBy]}

    def describe_tasks(self, *, cluster: str, tasks: list[str]) -> dict[str, Any]:
        return {"tasks": [self.tasks[arn] for arn in tasks if arn in self.tasks]}

    def run_task(self, **kwargs: Any) -> dict[str, Any]:
        self.run_calls.append(kwargs)
        if not self.capacity:
            return {"tasks": [], "failures": [{"arn": "", "reason": "RESOURCE:CAPACITY"}]}
        task = {"taskArn": f"arn:task/{len(self.run_calls)}", "lastStatus": "RUNNING", "startedBy": kwargs["startedBy"]}
        self.tasks[task["taskArn"]] = task
        return {"tasks": [task], "failures": []}

    def stop_task(self, *, cluster: str, task: str, reason: str) -> dict[str, Any]:
        self.stopped.append(task)
        return {}


class FakePaginator:
    def __init__(self, s3: FakeS3) -> None:
        self.s3 = s3

    def paginate(self, *, Bucket: str, Prefix: str) -> list[dict[str, Any]]:
        keys = sorted(key for key in self.s3.objects if key.startswith(Prefix))
        return [{"Contents": [{"Key": key, "ETag": str(hash(self.s3.objects[key]))} for key in keys]}]


class FakeS3:
    """Objects by key; a cell written is answered at once with the result set in `answers`."""

    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}
        self.answers: dict[str, CellResult] = {}

    def put_object(self, *, Bucket: str, Key: str, Body: bytes) -> dict[str, Any]:
        self.objects[Key] = Body
        if Key in self.answers:
            self.objects[Key.replace("/cells/", "/results/")] = self.answers[Key].model_dump_json().encode()
        return {}

    def get_object(self, *, Bucket: str, Key: str) -> dict[str, Any]:
        if Key not in self.objects:
            raise ClientError({"Error": {"Code": "NoSuchKey", "Message": "missing"}}, "GetObject")
        return {"Body": io.BytesIO(self.objects[Key])}

    def delete_object(self, *, Bucket: str, Key: str) -> dict[str, Any]:
        self.objects.pop(Key, None)
        return {}

    def get_paginator(self, name: str) -> FakePaginator:
        return FakePaginator(self)


def settings() -> FargateSandboxSettings:
    return FargateSandboxSettings(
        cluster_arn="arn:cluster",
        task_definition_arn="arn:taskdef:3",
        subnets=["subnet-a", "subnet-b"],
        security_groups=["sg-1"],
        bucket_name="data",
    )


def backend(ecs: FakeEcs, s3: FakeS3) -> FargateSandboxBackend:
    return FargateSandboxBackend(lambda: ecs, lambda: s3, settings(), clock=lambda: 0.0, sleep=lambda _: None)


def test_settings_read_lists_as_cloudformation_joins_them(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {
        "AGENTLAB_CLUSTER_ARN": "arn:cluster",
        "AGENTLAB_TASK_DEFINITION_ARN": "arn:td",
        "AGENTLAB_SUBNETS": "subnet-a, subnet-b",
        "AGENTLAB_SECURITY_GROUPS": '["sg-1"]',
        "AGENTLAB_BUCKET_NAME": "data",
    }.items():
        monkeypatch.setenv(name, value)
    loaded = FargateSandboxSettings()
    assert loaded.subnets == ["subnet-a", "subnet-b"]
    assert loaded.security_groups == ["sg-1"]


def test_a_new_run_gets_a_private_hardened_task() -> None:
    ecs, s3 = FakeEcs(), FakeS3()
    limits = SandboxLimits(memory_mb=1024, cell_timeout_s=30)

    session = backend(ecs, s3).session(RUN_ID, limits, {"API_TOKEN": "secret-value"})

    assert session.isolation == "fargate"
    (call,) = ecs.run_calls
    assert call["launchType"] == "FARGATE"
    assert call["startedBy"] == RUN_ID
    assert call["taskDefinition"] == "arn:taskdef:3"
    assert call["enableExecuteCommand"] is False
    assert call["networkConfiguration"]["awsvpcConfiguration"] == {
        "subnets": ["subnet-a", "subnet-b"],
        "securityGroups": ["sg-1"],
        "assignPublicIp": "DISABLED",
    }
    (container,) = call["overrides"]["containerOverrides"]
    assert container["name"] == "sandbox"
    environment = {item["name"]: item["value"] for item in container["environment"]}
    assert environment["AGENTLAB_SANDBOX_RUN_ID"] == RUN_ID
    assert environment["AGENTLAB_SANDBOX_BUCKET"] == "data"
    assert SandboxLimits.model_validate_json(environment["AGENTLAB_SANDBOX_LIMITS"]) == limits
    # The run's variables may hold secrets: they go to S3, never into the RunTask request.
    assert "secret-value" not in json.dumps(call)
    assert json.loads(s3.objects[f"sandbox/{RUN_ID}/env.json"]) == {"API_TOKEN": "secret-value"}
    assert (call["overrides"]["cpu"], call["overrides"]["memory"]) == ("1024", "2048")


def test_a_live_task_of_the_run_is_reused() -> None:
    ecs = FakeEcs(running=[{"taskArn": "arn:task/live", "lastStatus": "RUNNING", "startedBy": RUN_ID}])

    session = backend(ecs, FakeS3()).session(RUN_ID, SandboxLimits(), {})

    assert session.task_arn == "arn:task/live"
    assert ecs.run_calls == []


def test_a_stopped_task_is_replaced() -> None:
    ecs = FakeEcs(running=[{"taskArn": "arn:task/old", "lastStatus": "STOPPED", "startedBy": RUN_ID}])

    session = backend(ecs, FakeS3()).session(RUN_ID, SandboxLimits(), {})

    assert session.task_arn == "arn:task/1"
    assert len(ecs.run_calls) == 1


def test_no_capacity_is_unavailable() -> None:
    with pytest.raises(SandboxUnavailable, match="RESOURCE:CAPACITY"):
        backend(FakeEcs(capacity=False), FakeS3()).session(RUN_ID, SandboxLimits(), {})


def test_a_task_that_never_runs_is_stopped_and_unavailable() -> None:
    ecs = FakeEcs()
    ecs.run_task = lambda **kwargs: {  # type: ignore[method-assign]
        "tasks": [{"taskArn": "arn:task/slow", "lastStatus": "PROVISIONING", "startedBy": RUN_ID}]
    }
    ticks = iter(range(0, 10_000, 60))
    slow = FargateSandboxBackend(
        lambda: ecs, FakeS3, settings(), clock=lambda: float(next(ticks)), sleep=lambda _: None
    )
    ecs.tasks["arn:task/slow"] = {"taskArn": "arn:task/slow", "lastStatus": "PENDING", "startedBy": RUN_ID}

    with pytest.raises(SandboxUnavailable, match="not running"):
        slow.session(RUN_ID, SandboxLimits(), {})
    assert ecs.stopped == ["arn:task/slow"]


def test_cells_are_numbered_and_answered_through_s3() -> None:
    ecs, s3 = FakeEcs(), FakeS3()
    prefix = f"sandbox/{RUN_ID}/"
    s3.answers[prefix + "cells/1.json"] = CellResult(stdout="", stderr="", exit_code=0, duration_ms=3)
    s3.answers[prefix + "cells/2.json"] = CellResult(stdout="42\n", stderr="", exit_code=0, duration_ms=4)
    session = backend(ecs, s3).session(RUN_ID, SandboxLimits(cell_timeout_s=10), {})

    first = session.execute("x = 2")
    second = session.execute("print(x * 21)", timeout_s=5)

    assert (first.stdout, second.stdout) == ("", "42\n")
    assert json.loads(s3.objects[prefix + "cells/1.json"]) == {"code": "x = 2", "timeout_s": 10}
    assert json.loads(s3.objects[prefix + "cells/2.json"]) == {"code": "print(x * 21)", "timeout_s": 5}


def test_a_cell_without_result_times_out() -> None:
    ticks = iter(range(0, 10_000, 10))
    lost = FargateSandboxBackend(FakeEcs, FakeS3, settings(), clock=lambda: float(next(ticks)), sleep=lambda _: None)
    session = lost.session(RUN_ID, SandboxLimits(cell_timeout_s=5), {})

    result = session.execute("while True: pass")

    assert result.limit == "timeout"
    assert result.exit_code == 137
    assert "no result" in result.stderr


def test_files_go_to_inputs_and_come_back_from_the_workspace() -> None:
    s3 = FakeS3()
    session = backend(FakeEcs(), s3).session(RUN_ID, SandboxLimits(), {})
    prefix = f"sandbox/{RUN_ID}/"

    session.put_file("inputs/data.csv", b"a,b\n")
    s3.objects[prefix + "workspace/out/plot.png"] = b"png"

    assert s3.objects[prefix + "inputs/inputs/data.csv"] == b"a,b\n"
    assert session.read_file("out/plot.png") == b"png"
    assert session.read_file("inputs/data.csv") == b"a,b\n"
    assert session.list_files() == []
    with pytest.raises(FileNotFoundError):
        session.read_file("missing.txt")
    with pytest.raises(SandboxPathRefused):
        session.read_file("../other-run/workspace/secret")


def test_end_leaves_a_stop_marker_and_stops_the_task() -> None:
    ecs, s3 = FakeEcs(), FakeS3()
    sandbox = backend(ecs, s3)
    session = sandbox.session(RUN_ID, SandboxLimits(), {})

    sandbox.end(RUN_ID)

    assert f"sandbox/{RUN_ID}/stop" in s3.objects
    assert ecs.stopped == [session.task_arn]


def test_task_sizes_are_valid_fargate_sizes() -> None:
    assert task_size(256, 256) == (256, 1024)
    assert task_size(1024, 1024) == (1024, 2048)
    assert task_size(1024, 8000) == (2048, 9216)
    with pytest.raises(SandboxUnavailable):
        task_size(1024, 64_000)


def test_the_task_process_cannot_be_inspected_by_its_own_uid() -> None:
    probe = (
        "import ctypes; from agentlab.sandbox.task_entrypoint import forbid_same_uid_inspection;"
        "forbid_same_uid_inspection(); print(ctypes.CDLL(None).prctl(3, 0, 0, 0, 0))"
    )
    completed = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60)
    assert completed.stdout.strip() == "0"


# The image -------------------------------------------------------------------------------------------------------
def dockerfile_instructions() -> list[tuple[str, str]]:
    text = (ROOT / "sandbox-task" / "Dockerfile").read_text().replace("\\\n", " ")
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.strip().startswith("#")]
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1]) for line in lines]


def test_image_base_is_pinned_python_3_12_slim() -> None:
    (base,) = [argument for name, argument in dockerfile_instructions() if name == "FROM"]
    image, _, tag = base.partition(":")
    assert image == "python"
    assert tag.startswith("3.12.") and "slim" in tag


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
