"""The local stack started as a user starts it (`agentlab dev`), in a subprocess on a free port."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
AGENTLAB = Path(sys.executable).parent / "agentlab"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class LocalStackProcess:
    def __init__(self, data_dir: Path, port: int, extra_env: dict[str, str] | None = None) -> None:
        self.extra_env = extra_env or {}
        self.data_dir = data_dir
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.process: subprocess.Popen[str] | None = None
        self.output: list[str] = []

    def start(self, timeout_s: float = 90) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("AGENTLAB_")}
        env.pop("AWS_ACCESS_KEY_ID", None)
        env.pop("AWS_SECRET_ACCESS_KEY", None)
        env.pop("AWS_SESSION_TOKEN", None)
        env.update(self.extra_env)
        self.process = subprocess.Popen(
            [
                str(AGENTLAB),
                "dev",
                "--port",
                str(self.port),
                "--data-dir",
                str(self.data_dir),
                "--snapshot-interval",
                "1",
            ],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        deadline = time.monotonic() + timeout_s
        assert self.process.stdout is not None
        while time.monotonic() < deadline:
            line = self.process.stdout.readline()
            if not line:
                raise AssertionError("agentlab dev exited early:\n" + "".join(self.output))
            self.output.append(line)
            if line.strip() == "ready":
                # Keep reading: a pipe nobody drains fills up, and the stack would block on its next log line.
                threading.Thread(target=self._drain, args=(self.process.stdout,), daemon=True).start()
                return
        raise AssertionError("agentlab dev did not get ready:\n" + "".join(self.output))

    def _drain(self, stream: Any) -> None:
        for line in stream:
            self.output.append(line)

    @property
    def admin_key(self) -> str:
        return (self.data_dir / "admin-key").read_text().strip()

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, headers={"Authorization": f"Bearer {self.admin_key}"}, timeout=30)

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
