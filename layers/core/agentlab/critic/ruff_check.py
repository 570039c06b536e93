"""ruff over a cell, fed on stdin. The process starts before the in-process checks so its start-up overlaps them."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from functools import cache
from pathlib import Path
from typing import Any

from agentlab.critic.models import Finding, Severity

_TIMEOUT_S = 10
_RULES = "E9,F,B,S"
# Normal in a notebook cell: names come from earlier cells, imports serve later ones, top-level await works.
_INFO_CODES = frozenset({"F401", "F811", "F821", "F704"})
_ARGUMENTS = (
    "check",
    "--stdin-filename",
    "cell.py",
    "--output-format",
    "json",
    "--select",
    _RULES,
    "--target-version",
    "py312",
    "--no-cache",
    "--isolated",
    "--ignore-noqa",
    "--exit-zero",
    "-",
)


@cache
def find_ruff_executable() -> str | None:
    beside_interpreter = Path(sys.executable).parent / "ruff"
    if beside_interpreter.is_file():
        return str(beside_interpreter)
    try:
        from ruff import find_ruff_bin

        return find_ruff_bin()
    except (ImportError, FileNotFoundError):
        return shutil.which("ruff")


class RuffRun:
    """One ruff process checking one cell: start it, do other work, then collect its findings."""

    def __init__(self, code: str) -> None:
        self._code = code
        executable = find_ruff_executable()
        self._process: subprocess.Popen[str] | None = None
        self._start_error: str | None = None
        if executable is None:
            self._start_error = "the ruff executable was not found"
            return
        try:
            self._process = subprocess.Popen(  # noqa: S603 - fixed arguments; the cell only goes to stdin
                [executable, *_ARGUMENTS],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                encoding="utf-8",
            )
        except OSError as error:
            self._start_error = f"ruff could not start: {error}"

    def findings(self) -> list[Finding]:
        if self._process is None:
            return [_unavailable(self._start_error or "ruff did not run")]
        try:
            stdout, stderr = self._process.communicate(self._code, timeout=_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.communicate()
            return [_unavailable(f"ruff took longer than {_TIMEOUT_S} s")]
        try:
            diagnostics = json.loads(stdout)
        except json.JSONDecodeError:
            return [_unavailable(f"ruff failed: {stderr.strip()[:200]}")]
        return [_to_finding(diagnostic) for diagnostic in diagnostics]

    def cancel(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.kill()
            self._process.communicate()


def _to_finding(diagnostic: dict[str, Any]) -> Finding:
    code = diagnostic.get("code") or "invalid-syntax"
    severity: Severity = "info" if code in _INFO_CODES else "warning"
    location = diagnostic.get("location") or {}
    return Finding(
        tool="ruff", code=code, message=diagnostic.get("message", ""), line=location.get("row"), severity=severity
    )


def _unavailable(reason: str) -> Finding:
    return Finding(tool="ruff", code="ruff-unavailable", message=reason, severity="info")
