"""Where a repository's benchmark spends its time: the benchmark run once under a profiler in the sandbox (cProfile for
Python, V8's `--cpu-prof` for Node.js), read back as the share of time each of the repository's files takes.

What the sandbox writes is untrusted. A cProfile dump is a marshal file, which must never be loaded on the trusted
side, so the sandbox itself turns it into JSON (`SUMMARY_SCRIPT`, run there after the benchmark); a V8 `.cpuprofile`
is JSON already. Both are read here with size caps and every number checked.
"""

from __future__ import annotations

import json
import math
import shlex
from typing import Any
from urllib.parse import unquote, urlsplit

from pydantic import BaseModel, Field

MAX_PROFILE_BYTES = 64 * 1024 * 1024
TOP_FUNCTIONS = 50
SUMMARY_FILE = "profile-summary.json"
CPU_PROFILE_DIR = "cpuprofile"

# Run in the sandbox as `python <this script> <pstats dump> <summary json> <repository root>`: self time per file of
# the repository (other files, the standard library's and the test runner's, are summed apart) and the top functions.
SUMMARY_SCRIPT = r"""
import json, os, pstats, sys
dump, out, root = sys.argv[1], sys.argv[2], os.path.realpath(sys.argv[3])
stats = pstats.Stats(dump).stats
files, functions, total, outside = {}, [], 0.0, 0.0
for (filename, line, name), (cc, nc, tt, ct, callers) in stats.items():
    total += tt
    path = os.path.realpath(filename) if filename and os.path.isfile(filename) else ""  # "~": a builtin
    if path.startswith(root + os.sep):
        relative = os.path.relpath(path, root)
        files[relative] = files.get(relative, 0.0) + tt
        functions.append({"file": relative, "line": line, "name": name, "self_s": tt, "cumulative_s": ct, "calls": nc})
    else:
        outside += tt
functions.sort(key=lambda f: -f["self_s"])
with open(out, "w") as handle:
    json.dump({"total_s": total, "outside_s": outside, "files": files, "functions": functions[:50]}, handle)
"""


class HotFunction(BaseModel):
    file: str
    line: int
    name: str
    self_s: float = Field(ge=0)


class ProfileShares(BaseModel):
    """The share (0..1) of the profiled time that each file of the repository took, and its hottest functions."""

    source: str
    total_s: float
    files: dict[str, float]
    functions: list[HotFunction]


class ProfileUnreadable(ValueError):
    pass


def profiled_command(language: str, bench_command: str, reports_dir: str, summary_script: str) -> str:
    """The benchmark command once more, under the language's profiler, writing into `reports_dir` (a path the shell
    expands, under the workspace). Python: the command's interpreter runs it under cProfile, then the summary script
    turns the dump into JSON; Node.js: every node process it starts writes a V8 CPU profile."""
    if language == "python":
        dump = f"{reports_dir}/profile.pstats"
        words = shlex.split(bench_command)
        if words and words[0] in ("pytest", "py.test"):
            target = ["-m", "pytest", *words[1:]]
        elif len(words) >= 2 and words[0].startswith("python"):
            target = words[1:]  # a script, or `-m module`
        else:
            raise ProfileUnreadable(f"no Python profiler for the command {bench_command!r}")
        run = " ".join(["python", "-m", "cProfile", "-o", f'"{dump}"', *(shlex.quote(w) for w in target)])
        summary = f'python "{summary_script}" "{dump}" "{reports_dir}/{SUMMARY_FILE}" .'
        return f"{run} && {summary}"
    if language == "node":
        # Node.js refuses --cpu-prof in NODE_OPTIONS: a `node` first on PATH adds it to every node the command starts
        # (npm's scripts included).
        profiles, wrappers = f"{reports_dir}/{CPU_PROFILE_DIR}", f"{reports_dir}/profiling-bin"
        wrapper = (
            f'mkdir -p "{wrappers}" && real="$(command -v node)" && '
            f'printf \'#!/bin/sh\\nexec "%s" --cpu-prof --cpu-prof-dir="%s" "$@"\\n\' "$real" "{profiles}" '
            f'> "{wrappers}/node" && chmod +x "{wrappers}/node"'
        )
        return f'{wrapper} && PATH="{wrappers}:$PATH" {bench_command}'
    raise ProfileUnreadable(f"no profiler for {language} repositories")


def _finite(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
        raise ProfileUnreadable(f"not a time: {value!r}")
    return float(value)


def _load(data: bytes) -> Any:
    if len(data) > MAX_PROFILE_BYTES:
        raise ProfileUnreadable(f"the profile is {len(data)} bytes, over {MAX_PROFILE_BYTES}")
    try:
        return json.loads(data)
    except ValueError as exc:
        raise ProfileUnreadable(f"the profile is not JSON: {exc}") from None


def _safe_relative(path: str) -> str | None:
    parts = [part for part in path.replace("\\", "/").split("/") if part not in ("", ".")]
    if not parts or ".." in parts:
        return None
    return "/".join(parts)


def shares_from_python_summary(data: bytes) -> ProfileShares:
    """What SUMMARY_SCRIPT wrote in the sandbox."""
    document = _load(data)
    if not isinstance(document, dict) or not isinstance(document.get("files"), dict):
        raise ProfileUnreadable("the profile summary has no files")
    total = _finite(document.get("total_s", 0))
    files: dict[str, float] = {}
    for name, seconds in document["files"].items():
        relative = _safe_relative(str(name))
        if relative is not None:
            files[relative] = files.get(relative, 0.0) + _finite(seconds)
    functions = []
    for entry in document.get("functions", [])[:TOP_FUNCTIONS]:
        relative = _safe_relative(str(entry.get("file", ""))) if isinstance(entry, dict) else None
        if relative is None:
            continue
        line = entry.get("line")
        functions.append(
            HotFunction(
                file=relative,
                line=line if isinstance(line, int) and line >= 0 else 0,
                name=str(entry.get("name", ""))[:200],
                self_s=_finite(entry.get("self_s", 0)),
            )
        )
    return ProfileShares(
        source="cProfile",
        total_s=total,
        files={name: (seconds / total if total > 0 else 0.0) for name, seconds in sorted(files.items())},
        functions=functions,
    )


def shares_from_cpuprofiles(profiles: list[bytes], repo_root: str | list[str]) -> ProfileShares:
    """V8 CPU profiles (`.cpuprofile`, one per node process): self time per node is its hit count times the sampling
    interval, summed per file of the repository (`repo_root`: where the sandbox saw it, or each place it may have)."""
    roots = [root.rstrip("/") + "/" for root in ([repo_root] if isinstance(repo_root, str) else repo_root)]
    files: dict[str, float] = {}
    hot: dict[tuple[str, int, str], float] = {}
    total = 0.0
    for data in profiles:
        document = _load(data)
        if not isinstance(document, dict) or not isinstance(document.get("nodes"), list):
            raise ProfileUnreadable("a CPU profile has no nodes")
        samples = document.get("samples") or []
        duration_us = _finite(document.get("endTime", 0)) - _finite(document.get("startTime", 0))
        interval_s = (duration_us / 1e6) / len(samples) if samples and duration_us > 0 else 0.0
        for node in document["nodes"]:
            if not isinstance(node, dict):
                continue
            seconds = _finite(node.get("hitCount", 0)) * interval_s
            total += seconds
            frame = node.get("callFrame") or {}
            url = str(frame.get("url") or "")
            path = unquote(urlsplit(url).path) if url.startswith("file://") else url
            root = next((root for root in roots if path.startswith(root)), None)
            if root is None:
                continue
            relative = _safe_relative(path[len(root) :])
            if relative is None or relative.startswith("node_modules/"):
                continue
            files[relative] = files.get(relative, 0.0) + seconds
            line = frame.get("lineNumber")
            key = (
                relative,
                (line + 1) if isinstance(line, int) and line >= 0 else 0,
                str(frame.get("functionName") or ""),
            )
            hot[key] = hot.get(key, 0.0) + seconds
    ranked = sorted(hot.items(), key=lambda item: -item[1])[:TOP_FUNCTIONS]
    return ProfileShares(
        source="v8-cpu-profile",
        total_s=total,
        files={name: (seconds / total if total > 0 else 0.0) for name, seconds in sorted(files.items())},
        functions=[HotFunction(file=f, line=line, name=name[:200], self_s=s) for (f, line, name), s in ranked],
    )
