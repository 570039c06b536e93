"""The sandbox task's main program (python -m agentlab.sandbox.task_entrypoint), run inside the Fargate container.

It starts the local backend's kernel without bubblewrap (the container is the isolation boundary), then serves the
run's cells from S3 one at a time, as described in agentlab.sandbox.fargate, until the host writes the stop marker
or no cell came for the run's idle timeout.
"""

from __future__ import annotations

import ctypes
import json
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from agentlab.sandbox.fargate import RunObjects, client_factory
from agentlab.sandbox.local import LocalSandboxBackend, LocalSandboxSession
from agentlab.sandbox.models import CellResult, SandboxLimits

logger = logging.getLogger(__name__)

PR_SET_DUMPABLE = 4
INPUTS = "inputs/"


class TaskSettings(BaseSettings):
    """What the host put in the container's environment (see FargateSandboxBackend._start_task)."""

    model_config = SettingsConfigDict(env_prefix="AGENTLAB_SANDBOX_", extra="ignore")

    run_id: str
    bucket: str
    limits: SandboxLimits = Field(default_factory=SandboxLimits)
    root: Path = Path("/scratch/sandbox")
    poll_interval_s: float = Field(default=0.5, gt=0)
    region: str = Field(default="us-east-1", validation_alias="AWS_REGION")


def forbid_same_uid_inspection() -> None:
    """Make this process non-dumpable: the kernel runs as the same uid and must not read this process's memory or
    /proc/<pid>/environ, which hold the task role's credentials and the address to fetch more."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_DUMPABLE, 0) failed")


class SandboxTask:
    """Serves one run's cells: S3 in, the local kernel, S3 out."""

    def __init__(
        self,
        settings: TaskSettings,
        s3: Any,
        *,
        backend_factory: Callable[[Path], LocalSandboxBackend] | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.settings = settings
        self.objects = RunObjects(s3, settings.bucket, settings.run_id)
        self._backend_factory = backend_factory or (lambda root: LocalSandboxBackend(root, use_bubblewrap=False))
        self._clock = clock
        self._sleep = sleep
        self._input_etags: dict[str, str] = {}

    def run(self) -> int:
        """Serve cells until stopped or idle; the number of cells run."""
        settings = self.settings
        env_body = self.objects.get("env.json")
        env: dict[str, str] = json.loads(env_body) if env_body else {}
        backend = self._backend_factory(settings.root)
        served = 0
        try:
            session = backend.session(settings.run_id, settings.limits, env)
            self._publish_listing(session)
            last_cell = self._clock()
            while self.objects.get("stop") is None:
                cell = self.objects.get(f"cells/{served + 1}.json")
                if cell is None:
                    if self._clock() - last_cell > settings.limits.idle_timeout_s:
                        logger.info("no cell for %.0fs, the sandbox task ends", settings.limits.idle_timeout_s)
                        break
                    self._sleep(settings.poll_interval_s)
                    continue
                served += 1
                self._serve(session, served, json.loads(cell))
                last_cell = self._clock()
        finally:
            backend.close()
        return served

    def _serve(self, session: LocalSandboxSession, number: int, cell: dict[str, Any]) -> None:
        self._copy_inputs(session)
        result = session.execute(str(cell["code"]), float(cell.get("timeout_s") or self.settings.limits.cell_timeout_s))
        stored = self._upload_files(session, result)
        # The result goes last: once the host sees it, the files it names are there to read.
        self._publish_listing(session)
        self.objects.put(f"results/{number}.json", stored.model_dump_json().encode())

    def _copy_inputs(self, session: LocalSandboxSession) -> None:
        """Files the host put since the last cell, written into the workspace at the same path."""
        paginator = self.objects.s3.get_paginator("list_objects_v2")
        prefix = self.objects.prefix + INPUTS
        for page in paginator.paginate(Bucket=self.objects.bucket, Prefix=prefix):
            for item in page.get("Contents", []):
                path, etag = item["Key"][len(prefix) :], item["ETag"]
                if self._input_etags.get(path) == etag:
                    continue
                body = self.objects.get(INPUTS + path)
                if body is not None:
                    session.put_file(path, body)
                    self._input_etags[path] = etag

    def _upload_files(self, session: LocalSandboxSession, result: CellResult) -> CellResult:
        """Upload what the cell wrote; a file that vanished or was refused is left out of the result."""
        kept = []
        for file in result.files:
            try:
                data = session.read_file(file.path)
            except (OSError, ValueError) as exc:
                logger.warning("workspace file %s not uploaded: %s", file.path, exc)
                continue
            self.objects.put(f"workspace/{file.path}", data)
            kept.append(file)
        return result.model_copy(update={"files": kept})

    def _publish_listing(self, session: LocalSandboxSession) -> None:
        listing = [file.model_dump(mode="json") for file in session.list_files()]
        self.objects.put("files.json", json.dumps(listing).encode())


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    forbid_same_uid_inspection()
    settings = TaskSettings()  # run_id and bucket come from the environment
    settings.root.mkdir(parents=True, exist_ok=True)
    served = SandboxTask(settings, client_factory("s3", settings.region)()).run()
    logger.info("sandbox task of run %s served %d cells", settings.run_id, served)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
