"""Git repositories for tests, made with the git CLI in a temporary folder: from a dict of files or from a fixture
under tests/fixtures/repos/."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

FIXTURES = Path(__file__).parent / "fixtures" / "repos"
_GIT_ENV = {
    "GIT_AUTHOR_NAME": "agentlab tests",
    "GIT_AUTHOR_EMAIL": "tests@agentlab.invalid",
    "GIT_COMMITTER_NAME": "agentlab tests",
    "GIT_COMMITTER_EMAIL": "tests@agentlab.invalid",
    "GIT_CONFIG_NOSYSTEM": "1",
    "HOME": "/nonexistent",
}


def git(repo: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-C", str(repo), *args],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, **_GIT_ENV},
    )
    return done.stdout.strip()


def make_repo(
    path: Path, files: dict[str, str | bytes], *, branch: str = "main", executable: tuple[str, ...] = ()
) -> Path:
    """A repository at `path` with one commit holding `files`; returns its path."""
    path.mkdir(parents=True, exist_ok=True)
    git(path, "init", "-q", "-b", branch)
    for name, content in files.items():
        target = path / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            target.write_bytes(content)
        else:
            target.write_text(content)
        if name in executable:
            target.chmod(0o755)
    git(path, "add", "-A")
    git(path, "commit", "-q", "-m", "initial")
    return path


def commit(path: Path, files: dict[str, str], message: str = "change") -> str:
    for name, content in files.items():
        (path / name).parent.mkdir(parents=True, exist_ok=True)
        (path / name).write_text(content)
    git(path, "add", "-A")
    git(path, "commit", "-q", "-m", message)
    return git(path, "rev-parse", "HEAD")


def fixture_repo(name: str, destination: Path) -> Path:
    """A copy of tests/fixtures/repos/<name> turned into a repository."""
    target = destination / name
    shutil.copytree(FIXTURES / name, target)
    git(target, "init", "-q", "-b", "main")
    git(target, "add", "-A")
    git(target, "commit", "-q", "-m", "fixture")
    return target


def head(path: Path) -> str:
    return git(path, "rev-parse", "HEAD")
