"""The Fargate session and the sandbox task's main loop talking through S3 (moto), the task in a thread."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from agentlab.sandbox.fargate import FargateSandboxBackend, FargateSandboxSettings
from agentlab.sandbox.models import SandboxLimits
from agentlab.sandbox.task_entrypoint import SandboxTask, TaskSettings

BUCKET = "agentlab-data"
RUN_ID = "01JTASKAAAAAAAAAAAAAAAAAAA"


class RunningTaskEcs:
    """ECS as the backend sees it: run_task starts the entrypoint's loop in a thread, as Fargate starts the task."""

    def __init__(self, start: Any) -> None:
        self.start = start
        self.tasks: dict[str, dict[str, Any]] = {}

    def list_tasks(self, **kwargs: Any) -> dict[str, Any]:
        return {"taskArns": [arn for arn, task in self.tasks.items() if task["startedBy"] == kwargs["startedBy"]]}

    def describe_tasks(self, *, cluster: str, tasks: list[str]) -> dict[str, Any]:
        return {"tasks": [self.tasks[arn] for arn in tasks]}

    def run_task(self, **kwargs: Any) -> dict[str, Any]:
        environment = {e["name"]: e["value"] for e in kwargs["overrides"]["containerOverrides"][0]["environment"]}
        task = {"taskArn": "arn:task/1", "lastStatus": "RUNNING", "startedBy": kwargs["startedBy"]}
        self.tasks[task["taskArn"]] = task
        self.start(environment, task)
        return {"tasks": [task], "failures": []}

    def stop_task(self, **kwargs: Any) -> dict[str, Any]:
        return {}


@pytest.fixture
def s3() -> Iterator[Any]:
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket=BUCKET)
        yield client


def test_cells_keep_state_files_come_back_and_end_stops_the_task(s3: Any, tmp_path: Path) -> None:
    threads: list[threading.Thread] = []
    served: list[int] = []

    def start(environment: dict[str, str], task: dict[str, Any]) -> None:
        settings = TaskSettings(
            run_id=environment["AGENTLAB_SANDBOX_RUN_ID"],
            bucket=environment["AGENTLAB_SANDBOX_BUCKET"],
            limits=SandboxLimits.model_validate_json(environment["AGENTLAB_SANDBOX_LIMITS"]),
            root=tmp_path / "task",
            poll_interval_s=0.05,
        )

        def serve() -> None:
            served.append(SandboxTask(settings, s3).run())
            task["lastStatus"] = "STOPPED"

        thread = threading.Thread(target=serve, daemon=True)
        thread.start()
        threads.append(thread)

    ecs = RunningTaskEcs(start)
    settings = FargateSandboxSettings(
        cluster_arn="arn:cluster",
        task_definition_arn="arn:td",
        subnets=["subnet-a"],
        security_groups=["sg-1"],
        bucket_name=BUCKET,
        poll_interval_s=0.05,
    )
    backend = FargateSandboxBackend(lambda: ecs, lambda: s3, settings)
    limits = SandboxLimits(cell_timeout_s=30, idle_timeout_s=120)

    session = backend.session(RUN_ID, limits, {"GREETING": "hello"})
    session.put_file("inputs/numbers.txt", b"20 22\n")
    first = session.execute("x = 2")
    again = backend.session(RUN_ID, limits, {"GREETING": "hello"})
    second = again.execute(
        "import os\n"
        "print(x * 21)\n"
        "total = sum(int(n) for n in open('inputs/numbers.txt').read().split())\n"
        "_ = open('out.txt', 'w').write(os.environ['GREETING'] + ' ' + str(total))\n"
    )

    assert first.exit_code == 0, first.stderr
    assert second.exit_code == 0, second.stderr
    assert second.stdout == "42\n"
    assert [file.path for file in second.files] == ["out.txt"]
    assert again.read_file("out.txt") == b"hello 42"
    assert {file.path for file in again.list_files()} == {"inputs/numbers.txt", "out.txt"}
    assert len(ecs.tasks) == 1

    backend.end(RUN_ID)
    threads[0].join(timeout=30)

    assert not threads[0].is_alive()
    assert served == [2]
    assert ecs.tasks["arn:task/1"]["lastStatus"] == "STOPPED"


def test_a_task_without_cells_ends_after_its_idle_timeout(s3: Any, tmp_path: Path) -> None:
    settings = TaskSettings(
        run_id=RUN_ID,
        bucket=BUCKET,
        limits=SandboxLimits(idle_timeout_s=0.2),
        root=tmp_path / "task",
        poll_interval_s=0.05,
    )

    served = SandboxTask(settings, s3).run()

    assert served == 0
    listing = s3.get_object(Bucket=BUCKET, Key=f"sandbox/{RUN_ID}/files.json")["Body"].read()
    assert listing == b"[]"
