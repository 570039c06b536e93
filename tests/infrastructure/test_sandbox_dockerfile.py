"""Static checks of the sandbox image: slim pinned Python, pinned libraries, non-root, no package manager and no AWS
SDK left, and the start-cost measures (a build stage that leaves test suites and pip behind, hash-based pycs, the
libraries' layer before the platform's code)."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "sandbox-task" / "Dockerfile"
REQUIREMENTS = ROOT / "sandbox-task" / "requirements.txt"


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    found = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            found.append((keyword.upper(), rest.strip()))
    return found


def stages() -> list[list[tuple[str, str]]]:
    """The instructions of each stage, FROM first."""
    found: list[list[tuple[str, str]]] = []
    for keyword, args in instructions():
        if keyword == "FROM":
            found.append([])
        found[-1].append((keyword, args))
    return found


def runtime_stage() -> list[tuple[str, str]]:
    return stages()[-1]


def test_base_image_is_slim_python_with_an_exact_version() -> None:
    bases = [args.split()[0] for keyword, args in instructions() if keyword == "FROM"]
    assert len(bases) == 2, "a build stage and the runtime stage"
    assert len(set(bases)) == 1, "both stages share one base, so the libraries built in one run in the other"
    assert re.fullmatch(r"python:\d+\.\d+\.\d+-slim-[a-z]+(@sha256:[0-9a-f]{64})?", bases[0]), bases[0]
    # The build script pulls the first FROM's image from a mirror: the stage name must not be taken for it.
    first = next(args for keyword, args in instructions() if keyword == "FROM").split()
    assert first[1:] == ["AS", "build"]


def test_the_runtime_stage_installs_nothing_and_takes_the_built_libraries_and_code_in_that_order() -> None:
    runtime = runtime_stage()
    assert not [args for keyword, args in runtime if keyword == "RUN" and "pip install" in args]
    copies = [args for keyword, args in runtime if keyword == "COPY"]
    # The libraries change rarely, the platform's code often: its layer comes last, so a code change pulls one small
    # layer anew.
    assert copies == [
        "--from=build /usr/local/lib/python3.12/site-packages /usr/local/lib/python3.12/site-packages",
        "--from=build /opt/agentlab /opt/agentlab",
    ]
    base = runtime[0][1].split()[0]
    assert "python:3.12." in base, "the site-packages path is the base's Python version"


def test_the_build_stage_drops_test_suites_and_compiles_hash_checked_bytecode() -> None:
    build = " ".join(args for keyword, args in stages()[0] if keyword == "RUN")
    assert re.search(r"find /usr/local/lib/python3\.12/site-packages .*-name tests -prune -exec rm -rf", build)
    assert build.count("--invalidation-mode unchecked-hash") == 2, "the libraries and the platform's code"
    assert "pip uninstall -y pip" in build, "pip stays out of the copied site-packages"


def test_every_requirement_is_pinned_and_the_libraries_match_the_sandbox_extra() -> None:
    lines = [
        line.strip() for line in REQUIREMENTS.read_text().splitlines() if line.strip() and not line.startswith("#")
    ]
    assert lines and all(re.fullmatch(r"[A-Za-z0-9_.\-\[\]]+==[0-9][0-9A-Za-z.\-+]*", line) for line in lines), lines
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    sandbox = set(pyproject["project"]["optional-dependencies"]["sandbox"])
    assert {"numpy", "pandas", "matplotlib", "scipy"} == {req.split("==")[0] for req in sandbox}
    assert sandbox <= set(lines)


def test_runs_as_a_numeric_non_root_user() -> None:
    users = [args for keyword, args in instructions() if keyword == "USER"]
    assert users, "no USER: the container would run as root"
    user = users[-1]
    uid, _, gid = user.partition(":")
    assert uid.isdigit() and int(uid) != 0, user
    assert not gid or (gid.isdigit() and int(gid) != 0), user
    keywords = [keyword for keyword, _ in instructions()]
    assert keywords.index("USER") > max(i for i, k in enumerate(keywords) if k == "RUN")


def test_no_package_manager_is_left_in_the_image() -> None:
    run = " ".join(args for keyword, args in runtime_stage() if keyword == "RUN")
    assert re.search(r"pip uninstall -y pip\b", run)
    for tool in ("apt", "apt-get", "dpkg"):
        assert f"/usr/bin/{tool}" in run, f"{tool} is not removed"
    assert "ensurepip" in run, "ensurepip could bring pip back"
    installs = [args for keyword, args in instructions() if keyword == "RUN" and "pip install" in args]
    assert installs
    assert all("--no-cache-dir" in args and "--only-binary=:all:" in args for args in installs)


def test_nothing_is_fetched_or_exposed_and_the_entrypoint_is_exec_form() -> None:
    found = instructions()
    assert not [args for keyword, args in found if keyword == "ADD"], "COPY only: ADD fetches URLs and unpacks"
    assert not [args for keyword, args in found if keyword == "EXPOSE"]
    entrypoints = [args for keyword, args in found if keyword == "ENTRYPOINT"]
    assert entrypoints == ['["python", "-m", "agentlab.sandbox.task_entrypoint"]']
    env = " ".join(args for keyword, args in found if keyword == "ENV")
    assert not re.search(r"(SECRET|TOKEN|PASSWORD|AWS_ACCESS)", env)


def test_the_image_holds_no_aws_sdk() -> None:
    """The task has no task role and talks only to the host: nothing in it needs an AWS client, so none is there for
    user code to pick up either."""
    names = {
        line.split("==")[0].strip().lower()
        for line in REQUIREMENTS.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    assert not names & {"boto3", "botocore", "aiobotocore", "awscli", "s3transfer"}, names
    run = " ".join(args for keyword, args in instructions() if keyword == "RUN")
    assert "boto" not in run
