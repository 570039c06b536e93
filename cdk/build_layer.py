"""Build the Lambda layer: agentlab and its pinned runtime dependencies, as wheels for python3.13 on arm64.

No Docker: pip installs the manylinux aarch64 wheels (binary only) into <out>/python, then the package itself is
copied beside them. Usage: python cdk/build_layer.py [out-dir]   (default build/layer)
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# Lambda's python3.13 runtime (Amazon Linux 2023, glibc 2.34) runs manylinux_2_28 wheels too; some packages
# (pillow) publish only those for aarch64.
PLATFORMS = ("manylinux_2_28_aarch64", "manylinux2014_aarch64")
PYTHON_VERSION = "3.13"
# Never imported in Lambda: the local stack and the CLI (they pull in moto and friends only when used).
LEFT_OUT = ("local", "cli")


def runtime_requirements() -> list[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    requirements = [str(r) for r in project["dependencies"]]
    unpinned = [r for r in requirements if "==" not in r]
    if unpinned:
        raise SystemExit(f"every runtime dependency must be pinned exactly: {unpinned}")
    return requirements


def build(out: Path) -> None:
    site = out / "python"
    if out.exists():
        shutil.rmtree(out)
    site.mkdir(parents=True)
    subprocess.run(  # noqa: S603 - pip with the pinned requirements of pyproject.toml
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-compile",
            *(option for platform in PLATFORMS for option in ("--platform", platform)),
            "--implementation",
            "cp",
            "--python-version",
            PYTHON_VERSION,
            "--only-binary=:all:",
            "--target",
            str(site),
            *runtime_requirements(),
        ],
        check=True,
    )
    shutil.copytree(
        ROOT / "layers" / "core" / "agentlab",
        site / "agentlab",
        ignore=shutil.ignore_patterns("__pycache__", "*.pyc", *LEFT_OUT),
    )
    for cache in site.rglob("__pycache__"):
        shutil.rmtree(cache, ignore_errors=True)


if __name__ == "__main__":
    build(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "build" / "layer")
