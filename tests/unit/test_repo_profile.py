"""The benchmark's profile, read as the share of time each repository file takes: real cProfile and V8 profiles made
here from small programs, and hostile or broken ones refused."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from agentlab.repo_optimize.profile import (
    SUMMARY_SCRIPT,
    ProfileUnreadable,
    profiled_command,
    shares_from_cpuprofiles,
    shares_from_python_summary,
)

SLOW_PY = """
def slow(n):
    seen = list(range(2000))
    return sum(1 for i in range(n) if i in seen)

def fast(n):
    return sum(range(n))

if __name__ == "__main__":
    slow(3000)
    fast(3000)
"""
SLOW_JS = """
function slow(n) { const seen = Array.from({length: 3000}, (_, i) => i); let c = 0;
  for (let i = 0; i < n; i++) { if (seen.includes(i)) c++; } return c; }
let total = 0; const end = Date.now() + 300; while (Date.now() < end) { total += slow(2000); }
console.log(total);
"""


def test_a_python_benchmark_under_cprofile_shows_its_hot_file(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    (repo / "src").mkdir(parents=True)
    (repo / "src" / "work.py").write_text(SLOW_PY)
    script = tmp_path / "summary.py"
    script.write_text(SUMMARY_SCRIPT)
    dump, summary = tmp_path / "p.pstats", tmp_path / "summary.json"
    subprocess.run([sys.executable, "-m", "cProfile", "-o", str(dump), "src/work.py"], cwd=repo, check=True)
    subprocess.run([sys.executable, str(script), str(dump), str(summary), "."], cwd=repo, check=True)

    shares = shares_from_python_summary(summary.read_bytes())

    assert shares.source == "cProfile" and shares.total_s > 0
    assert set(shares.files) == {"src/work.py"} and 0 < shares.files["src/work.py"] <= 1
    names = [f.name for f in shares.functions]
    assert "slow" in names[:3] or "<genexpr>" in names[:3]


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_a_node_benchmark_under_cpu_prof_shows_its_hot_file(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "bench.js").write_text(SLOW_JS)
    out = tmp_path / "profiles"
    subprocess.run(["node", "--cpu-prof", f"--cpu-prof-dir={out}", "bench.js"], cwd=repo, check=True, timeout=60)

    shares = shares_from_cpuprofiles([p.read_bytes() for p in out.glob("*.cpuprofile")], str(repo))

    assert shares.source == "v8-cpu-profile" and shares.total_s > 0
    assert set(shares.files) == {"bench.js"} and shares.files["bench.js"] > 0.5
    assert shares.functions[0].name == "slow" and shares.functions[0].file == "bench.js"


def test_paths_leaving_the_repository_and_bad_numbers_are_not_taken() -> None:
    summary = {
        "total_s": 2.0,
        "files": {"../../etc/passwd": 1.0, "src/a.py": 1.0},
        "functions": [{"file": "/abs/x.py", "line": 3, "name": "f", "self_s": 1.0}],
    }
    shares = shares_from_python_summary(json.dumps(summary).encode())
    assert shares.files == {"src/a.py": 0.5}
    assert [f.file for f in shares.functions] == ["abs/x.py"]
    for bad in ({"total_s": "NaN", "files": {}}, {"total_s": 1, "files": {"a.py": -1}}, {"files": []}):
        with pytest.raises(ProfileUnreadable):
            shares_from_python_summary(json.dumps(bad).encode())
    with pytest.raises(ProfileUnreadable):
        shares_from_python_summary(b"\x80not json")
    with pytest.raises(ProfileUnreadable):
        shares_from_cpuprofiles([b'{"nodes": 3}'], "/workspace/repo")


@pytest.mark.parametrize(
    ("language", "command", "expected"),
    [
        ("python", "pytest --benchmark-only", 'python -m cProfile -o "R/profile.pstats" -m pytest --benchmark-only'),
        ("python", "python bench/run.py --n 5", 'python -m cProfile -o "R/profile.pstats" bench/run.py --n 5'),
        ("python", "python -m mybench", 'python -m cProfile -o "R/profile.pstats" -m mybench'),
        ("node", "npm run bench", 'mkdir -p "R/profiling-bin" && real="$(command -v node)"'),
    ],
)
def test_the_benchmark_runs_once_more_under_its_languages_profiler(language: str, command: str, expected: str) -> None:
    assert profiled_command(language, command, "R", "S.py").startswith(expected)


@pytest.mark.skipif(shutil.which("npm") is None, reason="npm is not installed")
def test_every_node_an_npm_script_starts_writes_a_profile(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "package.json").write_text(
        json.dumps({"name": "x", "version": "1.0.0", "scripts": {"bench": "node bench.js"}})
    )
    (repo / "bench.js").write_text(SLOW_JS)
    reports = tmp_path / "reports"
    command = profiled_command("node", "npm run bench", str(reports), "unused")
    subprocess.run(["/bin/sh", "-c", command], cwd=repo, check=True, timeout=120, capture_output=True)
    profiles = [p.read_bytes() for p in (reports / "cpuprofile").glob("*.cpuprofile")]
    assert len(profiles) >= 2  # npm's own node, and the script's
    shares = shares_from_cpuprofiles(profiles, [str(tmp_path / "elsewhere"), str(repo)])
    assert set(shares.files) == {"bench.js"}


def test_a_command_with_no_profiler_is_refused() -> None:
    with pytest.raises(ProfileUnreadable):
        profiled_command("python", "make bench", "R", "S.py")
    with pytest.raises(ProfileUnreadable):
        profiled_command("unknown", "./bench", "R", "S.py")
