"""A local sandbox session as the workflow uses it: cells that keep state, their output, files and environment.

These start real kernel processes (under bubblewrap where it is installed) but touch no network and no AWS.
"""

import math
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from agentlab.sandbox.errors import SandboxPathRefused
from agentlab.sandbox.local import LocalSandboxBackend, LocalSandboxSession
from agentlab.sandbox.models import SandboxLimits

LIMITS = SandboxLimits(cpu_s=30, memory_mb=1024, cell_timeout_s=60)
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def backend(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalSandboxBackend]:
    sandbox_backend = LocalSandboxBackend(tmp_path_factory.mktemp("sandbox"))
    yield sandbox_backend
    sandbox_backend.close()


@pytest.fixture
def session(backend: LocalSandboxBackend, request: pytest.FixtureRequest) -> Iterator[LocalSandboxSession]:
    run_id = f"run-{request.node.name}"
    yield backend.session(run_id, LIMITS, {"RUN_SETTING": "blue", "EMPTY": ""})
    backend.end(run_id)


def test_state_is_kept_between_cells(session: LocalSandboxSession) -> None:
    session.execute("import math\ndef area(r):\n    return math.pi * r * r\ntotal = 40")
    session.execute("total += 2")

    result = session.execute("print(total, round(area(1), 2))")

    assert result.stdout == "42 3.14\n"
    assert result.exit_code == 0
    assert result.limit is None


def test_a_trailing_expression_is_shown_like_a_notebook(session: LocalSandboxSession) -> None:
    assert session.execute("x = [1, 2]\nx + [3]").stdout == "[1, 2, 3]\n"
    assert session.execute("None").stdout == ""


def test_stdout_and_stderr_are_captured_apart_including_subprocesses(session: LocalSandboxSession) -> None:
    code = (
        "import sys, subprocess\n"
        "print('to stdout')\n"
        "print('to stderr', file=sys.stderr)\n"
        "completed = subprocess.run(['sh', '-c', 'echo from child; echo child error >&2'])\n"
    )

    result = session.execute(code)

    assert result.stdout == "to stdout\nfrom child\n"
    assert result.stderr == "to stderr\nchild error\n"


def test_an_exception_gives_a_traceback_and_exit_code_1_and_the_session_goes_on(session: LocalSandboxSession) -> None:
    session.execute("kept = 'still here'")

    failed = session.execute("def broken():\n    return {}['missing']\nbroken()")
    after = session.execute("print(kept)")

    assert failed.exit_code == 1
    assert failed.limit is None
    assert "Traceback" in failed.stderr
    assert "KeyError: 'missing'" in failed.stderr
    assert "return {}['missing']" in failed.stderr
    assert "kernel.py" not in failed.stderr
    assert not failed.kernel_restarted
    assert after.stdout == "still here\n"


def test_a_syntax_error_is_reported_as_an_exception(session: LocalSandboxSession) -> None:
    result = session.execute("def (:\n")

    assert result.exit_code == 1
    assert "SyntaxError" in result.stderr


def test_the_runs_env_vars_are_visible_and_the_hosts_are_not(
    backend: LocalSandboxBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "host-secret-value")
    monkeypatch.setenv("AGENTLAB_HOST_ONLY", "host-only-value")
    session = backend.session("run-env", LIMITS, {"API_TOKEN": "run-token"})
    try:
        result = session.execute(
            "import os\n"
            "print(sorted(os.environ))\n"
            "print(os.environ['API_TOKEN'])\n"
            "import subprocess\n"
            "print(subprocess.run(['env'], capture_output=True, text=True, check=True).stdout)"
        )
    finally:
        backend.end("run-env")

    assert result.exit_code == 0, result.stderr
    assert "run-token" in result.stdout
    assert "host-secret-value" not in result.stdout
    assert "host-only-value" not in result.stdout
    assert "AWS_SECRET_ACCESS_KEY" not in result.stdout
    assert "MPLBACKEND" in result.stdout


def test_home_and_tmp_are_private_and_writable(session: LocalSandboxSession) -> None:
    code = (
        "import os, tempfile, pathlib\n"
        "pathlib.Path(os.environ['HOME'], 'note').write_text('h')\n"
        "with tempfile.NamedTemporaryFile(delete=False) as f: f.write(b't')\n"
        "print(os.environ['MPLCONFIGDIR'].startswith(os.environ['HOME']), f.name.startswith(os.environ['TMPDIR']))"
    )

    result = session.execute(code)

    assert result.stdout == "True True\n", result.stderr
    assert result.files == []


def test_new_and_changed_files_are_reported_but_not_inputs(session: LocalSandboxSession) -> None:
    session.put_file("inputs/data.csv", b"a,b\n1,2\n3,4\n")
    session.execute("open('unchanged.txt', 'w').write('same')")

    result = session.execute(
        "import csv, os\n"
        "rows = list(csv.DictReader(open('inputs/data.csv')))\n"
        "os.makedirs('out')\n"
        "with open('out/summary.txt', 'w') as summary:\n"
        "    summary.write(str(len(rows)))\n"
        "with open('inputs/scratch.txt', 'w') as scratch:\n"
        "    scratch.write('not an artifact')\n"
    )

    assert result.exit_code == 0, result.stderr
    assert [file.path for file in result.files] == ["out/summary.txt"]
    assert result.files[0].size == 1
    assert session.read_file("out/summary.txt") == b"2"
    assert {file.path for file in session.list_files()} >= {
        "inputs/data.csv",
        "inputs/scratch.txt",
        "out/summary.txt",
        "unchanged.txt",
    }


def test_unsaved_figures_become_png_files_and_saved_ones_are_not_duplicated(session: LocalSandboxSession) -> None:
    unsaved = session.execute("import matplotlib.pyplot as plt\nplt.plot([1, 2, 3])\nplt.figure()\nplt.bar([1], [2])")
    saved = session.execute("plt.plot([3, 2, 1])\nplt.savefig('chart.png')")
    nothing = session.execute("print(len(plt.get_fignums()))")

    assert unsaved.exit_code == 0, unsaved.stderr
    assert [file.path for file in unsaved.files] == ["figure-1.png", "figure-2.png"]
    assert all(file.content_type == "image/png" for file in unsaved.files)
    assert session.read_file("figure-1.png").startswith(PNG_MAGIC)
    assert [file.path for file in saved.files] == ["chart.png"]
    assert nothing.stdout == "0\n"


def test_a_figure_saved_in_the_cell_that_imports_matplotlib_is_not_duplicated(session: LocalSandboxSession) -> None:
    result = session.execute("import matplotlib.pyplot as plt\nplt.plot([1, 2])\nplt.savefig('first.png')")

    assert [file.path for file in result.files] == ["first.png"]


def test_put_file_then_read_file_round_trips(session: LocalSandboxSession) -> None:
    session.put_file("inputs/notes.txt", "héllo".encode())

    result = session.execute("print(open('inputs/notes.txt', encoding='utf-8').read())")

    assert result.stdout == "héllo\n"
    assert session.read_file("inputs/notes.txt") == "héllo".encode()


@pytest.mark.parametrize("path", ["../escape.txt", "/etc/passwd", "inputs/../../x"])
def test_read_file_refuses_paths_out_of_the_workspace(session: LocalSandboxSession, path: str) -> None:
    with pytest.raises(SandboxPathRefused):
        session.read_file(path)


def test_read_file_refuses_symlinks_the_cell_planted(session: LocalSandboxSession, tmp_path: Path) -> None:
    session.execute("import os\nos.symlink('/etc/hostname', 'hostname')\nos.symlink('/', 'rootfs')\nos.mkfifo('fifo')")

    for path in ("hostname", "rootfs/etc/hostname", "fifo"):
        with pytest.raises(SandboxPathRefused):
            session.read_file(path)


def test_put_file_refuses_to_follow_a_planted_directory_symlink(session: LocalSandboxSession, tmp_path: Path) -> None:
    target = tmp_path / "host-dir"
    target.mkdir(mode=0o777)
    target.chmod(0o777)
    session.execute(f"import os\nos.symlink({str(target)!r}, 'inputs')")

    with pytest.raises(SandboxPathRefused):
        session.put_file("inputs/data.csv", b"x")
    assert list(target.iterdir()) == []


def test_the_workspace_is_the_working_directory(session: LocalSandboxSession) -> None:
    session.execute("open('here.txt', 'w').write('in the workspace')")

    assert (session.workspace / "here.txt").read_text() == "in the workspace"


@pytest.mark.parametrize("cpu", [0.25, 1, 1.5, 4])
def test_the_cpu_and_memory_limits_reach_the_kernel_and_its_processes(backend: LocalSandboxBackend, cpu: float) -> None:
    """cpu=1 on a machine of two cores or more gives the kernel (and what it starts) exactly one."""
    limits = SandboxLimits(cpu=cpu, memory_mb=768, cpu_s=30, cell_timeout_s=60)
    host_cores = len(os.sched_getaffinity(0))
    session = backend.session(f"run-cpu-{cpu}", limits, {})
    try:
        result = session.execute(
            "import os, resource, subprocess\n"
            "nproc = subprocess.run(['nproc'], capture_output=True, text=True).stdout.strip()\n"
            "print(len(os.sched_getaffinity(0)), nproc)\n"
            "print(*resource.getrlimit(resource.RLIMIT_AS))"
        )
    finally:
        backend.end(f"run-cpu-{cpu}")

    cores = min(math.ceil(cpu), host_cores)
    assert result.stdout == f"{cores} {cores}\n{768 * 1024 * 1024} {768 * 1024 * 1024}\n", result.stderr
