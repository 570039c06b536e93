"""Static checks of the sandbox image: slim pinned Python, pinned libraries, non-root, no system package manager and no
AWS SDK left, the start-cost measures (a build stage that leaves test suites and pip behind, hash-based pycs, the
libraries' layer before the platform's code), and the pinned tools a repository's install phase runs (git, Node.js with
corepack, uv)."""

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


def stage_named(name: str) -> list[tuple[str, str]]:
    (found,) = [stage for stage in stages() if stage[0][1].split()[1:] == ["AS", name]]
    return found


def runtime_env() -> dict[str, str]:
    """The runtime stage's ENV as name -> value (the `NAME=value` form only)."""
    pairs = " ".join(args for keyword, args in runtime_stage() if keyword == "ENV").split()
    return dict(pair.split("=", 1) for pair in pairs)


def test_base_image_is_slim_python_with_an_exact_version() -> None:
    bases = [args.split()[0] for keyword, args in instructions() if keyword == "FROM"]
    python_bases = [stages()[0][0][1].split()[0], runtime_stage()[0][1].split()[0]]
    assert len(bases) == 3, "a build stage, the Node.js stage and the runtime stage"
    assert len(set(python_bases)) == 1, (
        "both Python stages share one base, so the libraries built in one run in the other"
    )
    assert re.fullmatch(r"python:\d+\.\d+\.\d+-slim-[a-z]+(@sha256:[0-9a-f]{64})?", python_bases[0]), python_bases[0]
    # The build script pulls the first FROM's image from a mirror: the stage name must not be taken for it.
    first = next(args for keyword, args in instructions() if keyword == "FROM").split()
    assert first[1:] == ["AS", "build"]


def test_the_runtime_stage_installs_no_python_package_and_takes_tools_libraries_and_code_in_that_order() -> None:
    runtime = runtime_stage()
    assert not [args for keyword, args in runtime if keyword == "RUN" and "pip install" in args]
    copies = [args for keyword, args in runtime if keyword == "COPY"]
    # The tools change least, the libraries rarely, the platform's code often: its layer comes last, so a code change
    # pulls one small layer anew.
    assert copies == [
        "--from=node /opt/node /opt/node",
        "--from=build /opt/uv/bin/uv /opt/uv/bin/uvx /usr/local/bin/",
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


def test_no_system_package_manager_is_left_in_the_image() -> None:
    run = " ".join(args for keyword, args in runtime_stage() if keyword == "RUN")
    assert re.search(r"pip uninstall -y pip\b", run), "the platform's interpreter keeps no pip"
    for tool in ("apt", "apt-get", "dpkg"):
        assert f"/usr/bin/{tool}" in run, f"{tool} is not removed"
    # apt is used once, for git, in the same layer that removes it.
    (apt_run,) = [args for keyword, args in runtime_stage() if keyword == "RUN" and "apt-get install" in args]
    assert apt_run.index("apt-get install") < apt_run.index("/usr/bin/apt-get")
    assert "/var/lib/apt/lists/*" in apt_run
    # A repository's environment gets its own pip from ensurepip (`python -m venv`), so it stays.
    assert "ensurepip" not in run
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


def test_git_comes_from_apt_pinned_to_its_upstream_version_without_recommends() -> None:
    (apt_run,) = [args for keyword, args in runtime_stage() if keyword == "RUN" and "apt-get install" in args]
    install = apt_run[apt_run.index("apt-get install") :].split("&&")[0]
    assert "--no-install-recommends" in install
    packages = [word.strip("'") for word in install.split() if not word.startswith("-")][2:]
    assert packages and all(re.fullmatch(r"[a-z0-9.+-]+=\d+:\d+\.\d+\.\d+-[0-9A-Za-z.+~*-]+", p) for p in packages)
    assert [p.split("=")[0] for p in packages] == ["git"]


def test_node_is_a_pinned_22_lts_image_with_npm_and_corepacks_pnpm_and_yarn() -> None:
    node = stage_named("node")
    image = node[0][1].split()[0]
    # ECR Public's mirror of the official image, pinned to a release of the 22 line.
    assert re.fullmatch(
        r"public\.ecr\.aws/docker/library/node:22\.\d+\.\d+-bookworm-slim(@sha256:[0-9a-f]{64})?", image
    )
    run = " ".join(args for keyword, args in node if keyword == "RUN")
    for shim in ("npm", "npx", "corepack"):
        assert f"/opt/node/bin/{shim}" in run, shim
    assert re.search(r"corepack enable --install-directory /opt/node/bin pnpm yarn", run)
    assert runtime_env()["PATH"].startswith("/opt/node/bin:")


def test_corepack_and_the_package_caches_write_under_the_sandbox_home() -> None:
    env = runtime_env()
    home = env["HOME"]
    assert home == "/scratch"
    for name in ("COREPACK_HOME", "UV_CACHE_DIR"):
        assert env[name].startswith(f"{home}/"), name
    # The root filesystem is read-only: the folder exists in the image's copy of the volume and is the sandbox's.
    run = " ".join(args for keyword, args in runtime_stage() if keyword == "RUN")
    assert env["COREPACK_HOME"] in run
    assert "chown -R 10001:10001 /scratch" in run


def test_uv_is_a_pinned_wheel_outside_the_platforms_site_packages() -> None:
    build = [args for keyword, args in stages()[0] if keyword == "RUN" and re.search(r"\buv==", args)]
    assert len(build) == 1
    assert re.search(r"pip install --no-cache-dir .*--target /opt/uv uv==\d+\.\d+\.\d+$", build[0]), build[0]
