"""Goal checks on the local sandbox: a fresh kernel over the run's workspace that nothing the agent's cells did can
reach (patched modules and builtins, files planted in home or tmp, processes left running), which leaves the agent's
kernel and its state as they were.

Each test runs under bubblewrap and, when the tests run as root, under the dedicated uid alone (no bubblewrap), where
the agent's processes are frozen for the duration of the check.
"""

from __future__ import annotations

import ast
import errno
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from agentlab.sandbox.errors import SandboxSessionClosed
from agentlab.sandbox.isolation import SessionPaths
from agentlab.sandbox.local import LocalSandboxBackend, LocalSandboxSession
from agentlab.sandbox.models import CellResult, SandboxLimits
from agentlab.sandbox.uids import STOPPED_STATES, process_state, processes_of_uid
from agentlab.sandbox.workspace import snapshot_workspace

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.timeout(120)

LIMITS = SandboxLimits(cpu_s=30, memory_mb=1024, cell_timeout_s=30, max_processes=64)
SYSTEM_PYTHON = "/usr/bin/python3"
WAIT_S = 20.0
AGENT_MARKER = "agentlab-agent-background"
CHECK_MARKER = "agentlab-check-background"
BACKGROUND_LOOP = "while true; do sleep 1; done # {marker}"
LEVELS = ["bubblewrap", "uid"]
# Ranges of their own, apart from the default one that other suites' backends may be drawing from at the same time.
BUBBLEWRAP_UIDS = range(627_000, 627_100)
UID_LEVEL_UIDS = range(627_100, 627_200)

PATCH_KERNEL = f"""
import builtins, io, os, subprocess, sys, types
background = subprocess.Popen(['sh', '-c', {BACKGROUND_LOOP.format(marker=AGENT_MARKER)!r}], start_new_session=True)
real_import = builtins.__import__
fake_os = types.ModuleType('os')
fake_os.path = types.SimpleNamespace(exists=lambda path: True)
os.path.exists = lambda path: True
builtins.open = lambda *args, **kwargs: io.StringIO('planted')
builtins.__import__ = lambda name, *args, **kwargs: fake_os if name == 'os' else real_import(name, *args, **kwargs)
sys.modules['os'] = fake_os
"""
SHOW_PATCHES = """
import os
print(os is fake_os, sys.modules['os'] is fake_os, os.path.exists('missing.txt'), open('missing.txt').read())
"""


def wait_for(predicate: Callable[[], bool], timeout_s: float = WAIT_S) -> bool:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def pids_with(marker: str) -> list[int]:
    """Host pids of the processes whose command line holds marker (zombies have none, so they do not count)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and entry.name != str(os.getpid()):
            try:
                if marker.encode() in (entry / "cmdline").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def running(pids: list[int]) -> bool:
    states = [process_state(pid) for pid in pids]
    return bool(pids) and all(state is not None and state not in STOPPED_STATES for state in states)


@pytest.fixture(scope="module")
def reachable_root() -> Iterator[Path]:
    """A root directory the sandbox uid can reach without bubblewrap (pytest's tmp tree is closed to other users)."""
    root = Path(tempfile.mkdtemp(prefix="agentlab-check-test-", dir="/tmp"))
    yield root
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def backends(
    tmp_path_factory: pytest.TempPathFactory, reachable_root: Path
) -> Iterator[dict[str, LocalSandboxBackend]]:
    built: dict[str, LocalSandboxBackend] = {}
    if shutil.which("bwrap") is not None:
        built["bubblewrap"] = LocalSandboxBackend(tmp_path_factory.mktemp("check"), sandbox_uids=BUBBLEWRAP_UIDS)
    if os.geteuid() == 0 and os.access(SYSTEM_PYTHON, os.X_OK):
        built["uid"] = LocalSandboxBackend(
            reachable_root, python=SYSTEM_PYTHON, use_bubblewrap=False, sandbox_uids=UID_LEVEL_UIDS
        )
    yield built
    for backend in built.values():
        backend.close()


def open_session(backends: dict[str, LocalSandboxBackend], level: str, run_id: str) -> LocalSandboxSession:
    if level not in backends:
        needs = "bubblewrap (bwrap)" if level == "bubblewrap" else f"root and {SYSTEM_PYTHON}"
        pytest.skip(f"the {level} level needs {needs}")
    session = backends[level].session(run_id, LIMITS, {"RUN_VAR": "run-value"})
    expected = "bubblewrap+" if level == "bubblewrap" else "uid+rlimits"
    if not session.isolation.startswith(expected):
        pytest.fail(f"the session runs with {session.isolation}, not at the {level} level")
    return session


@pytest.fixture(params=LEVELS)
def level(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def session(
    backends: dict[str, LocalSandboxBackend], level: str, request: pytest.FixtureRequest
) -> Iterator[LocalSandboxSession]:
    run_id = f"check-{request.node.name}"
    yield open_session(backends, level, run_id)
    backends[level].end(run_id)


@pytest.fixture
def bubblewrap_session(
    backends: dict[str, LocalSandboxBackend], request: pytest.FixtureRequest
) -> Iterator[LocalSandboxSession]:
    run_id = f"check-{request.node.name}"
    yield open_session(backends, "bubblewrap", run_id)
    backends["bubblewrap"].end(run_id)


def check_paths(session: LocalSandboxSession) -> SessionPaths:
    return SessionPaths(session.workspace.parent).for_check()


def test_a_check_is_not_fooled_by_what_the_agent_did_to_its_kernel(session: LocalSandboxSession) -> None:
    patched = session.execute(PATCH_KERNEL)
    before = session.execute(SHOW_PATCHES)

    failing = session.check("import os\nassert os.path.exists('missing.txt')")
    passing = session.check("import os, builtins\nassert not os.path.exists('missing.txt')\nprint(builtins.open)")
    after = session.execute(SHOW_PATCHES)

    assert patched.exit_code == 0, patched.stderr
    assert before.stdout == "True True True planted\n", before.stderr
    assert failing.exit_code == 1
    assert "AssertionError" in failing.stderr
    assert passing.exit_code == 0, passing.stderr
    assert passing.stdout == "<built-in function open>\n"
    assert (failing.files, passing.files) == ([], [])
    # The agent's kernel kept its patched state, and its background process still runs.
    assert after.stdout == "True True True planted\n", after.stderr
    assert not after.kernel_restarted
    assert running(pids_with(AGENT_MARKER))


def test_a_check_runs_in_a_kernel_of_its_own(session: LocalSandboxSession) -> None:
    first = session.execute("kept = 'agent state'")

    check = session.check("print('kept' in globals())")
    again = session.check("print('kept' in globals())")
    after = session.execute("print(kept)")

    assert check.stdout == "False\n"
    assert first.kernel_id
    assert check.kernel_id and again.kernel_id
    assert len({first.kernel_id, check.kernel_id, again.kernel_id}) == 3
    assert after.kernel_id == first.kernel_id
    assert after.stdout == "agent state\n"


def test_a_check_reads_the_workspace_as_the_agent_left_it(session: LocalSandboxSession) -> None:
    session.put_file("inputs/data.csv", b"a\n1\n2\n")
    session.execute(
        "import csv\nrows = list(csv.DictReader(open('inputs/data.csv')))\nopen('total.txt', 'w').write(str(len(rows)))"
    )

    result = session.check("import os\nassert open('total.txt').read() == '2'\nprint(os.environ['RUN_VAR'])")

    assert result.exit_code == 0, result.stderr
    assert result.stdout == "run-value\n"
    assert result.files == []


def under_tmp_mount(name: str) -> bool:
    """Whether a name in a sandbox's /tmp is the mount point of the checkout's read-only bind (a checkout in /tmp)."""
    return ROOT.as_posix().startswith(f"/tmp/{name}/") or ROOT.as_posix() == f"/tmp/{name}"


def test_a_check_gets_a_fresh_home_and_tmp_of_its_own(session: LocalSandboxSession) -> None:
    planted = session.execute(
        "import os, pathlib\n"
        "pathlib.Path(os.environ['HOME'], 'planted-home').write_text('agent')\n"
        "pathlib.Path(os.environ['TMPDIR'], 'planted-tmp').write_text('agent')\n"
    )

    check = session.check(
        "import os, pathlib\n"
        "print((sorted(os.listdir(os.environ['HOME'])), sorted(os.listdir(os.environ['TMPDIR']))))\n"
        "pathlib.Path(os.environ['HOME'], 'from-check').write_text('check')\n"
        "written = pathlib.Path(os.environ['TMPDIR'], 'from-check').write_text('check')\n"
    )
    after = session.execute(
        "print((sorted(os.listdir(os.environ['HOME'])), sorted(os.listdir(os.environ['TMPDIR']))))\n"
    )

    assert planted.exit_code == 0, planted.stderr
    assert check.exit_code == 0, check.stderr
    home, tmp = ast.literal_eval(check.stdout)
    assert home == []
    # A fresh /tmp may show the mount point of a read-only bind that lies under /tmp (a checkout in /tmp, say), never
    # what the run wrote.
    assert "planted-tmp" not in tmp and not [name for name in tmp if not under_tmp_mount(name)], tmp
    home_after, tmp_after = ast.literal_eval(after.stdout)
    assert home_after == ["planted-home"], after.stderr
    assert [name for name in tmp_after if not under_tmp_mount(name)] == ["planted-tmp"], after.stderr
    assert not check_paths(session).home.exists()
    assert not check_paths(session).tmp.exists()


def test_the_agents_processes_are_frozen_during_a_check_and_run_again_after(session: LocalSandboxSession) -> None:
    session.execute(
        f"import subprocess\nsubprocess.Popen(['sh', '-c', {BACKGROUND_LOOP.format(marker=AGENT_MARKER)!r}])"
    )
    uid = int(session.execute("import os\nprint(os.getuid())").stdout)
    if uid == 0:
        pytest.skip("without a dedicated uid there is nothing the check could freeze")
    background = pids_with(AGENT_MARKER)
    agents = processes_of_uid(uid)
    go = check_paths(session).tmp / "go"
    results: list[CellResult] = []
    waits_for_go = (
        "import os, time\n"
        "go = os.path.join(os.environ['TMPDIR'], 'go')\n"
        "while not os.path.exists(go):\n"
        "    time.sleep(0.02)\n"
        "print('went')"
    )
    checker = threading.Thread(target=lambda: results.append(session.check(waits_for_go, timeout_s=60)))
    checker.start()

    # The check's tmp is made after the agent's processes were frozen, and the check waits for the go file in it.
    assert wait_for(go.parent.is_dir)
    states_during = {pid: process_state(pid) for pid in agents}
    go.write_text("go")
    checker.join(timeout=WAIT_S * 2)
    after = session.execute("print('thawed')")

    assert len(background) == 1
    assert background[0] in agents
    assert all(state in (*STOPPED_STATES, "Z", None) for state in states_during.values()), states_during
    assert states_during[background[0]] in STOPPED_STATES
    assert results[0].stdout == "went\n", results[0].stderr
    assert after.stdout == "thawed\n"
    assert wait_for(lambda: running(background))


def test_without_bubblewrap_the_check_sees_the_agents_processes_stopped(
    backends: dict[str, LocalSandboxBackend],
) -> None:
    session = open_session(backends, "uid", "check-uid-sees-frozen")
    try:
        started = session.execute(
            "import os, subprocess\n"
            f"background = subprocess.Popen(['sh', '-c', {BACKGROUND_LOOP.format(marker=AGENT_MARKER)!r}])\n"
            "print(os.getpid(), background.pid)"
        )
        kernel_pid, background_pid = (int(pid) for pid in started.stdout.split())
        seen = session.check(
            f"for pid in ({kernel_pid}, {background_pid}):\n"
            "    print(open(f'/proc/{pid}/stat').read().rpartition(')')[2].split()[0])"
        )
        after = session.execute(
            "print(open(f'/proc/{background.pid}/stat').read().rpartition(')')[2].split()[0] != 'T')"
        )
    finally:
        backends["uid"].end("check-uid-sees-frozen")

    assert seen.stdout == "T\nT\n", seen.stderr
    assert after.stdout == "True\n", after.stderr


def test_a_process_the_check_leaves_running_is_stopped_and_the_agents_is_not(session: LocalSandboxSession) -> None:
    session.execute(
        f"import subprocess\nsubprocess.Popen(['sh', '-c', {BACKGROUND_LOOP.format(marker=AGENT_MARKER)!r}])"
    )

    result = session.check(
        "import subprocess\n"
        f"subprocess.Popen(['sh', '-c', {BACKGROUND_LOOP.format(marker=CHECK_MARKER)!r}], start_new_session=True)"
    )

    assert result.exit_code == 0, result.stderr
    assert wait_for(lambda: pids_with(CHECK_MARKER) == [])
    assert wait_for(lambda: running(pids_with(AGENT_MARKER)))
    assert session.execute("print(1 + 1)").stdout == "2\n"


def test_a_check_that_never_ends_is_stopped_and_the_agents_kernel_goes_on(session: LocalSandboxSession) -> None:
    first = session.execute("kept = 'still here'")

    result = session.check("import time\nwhile True:\n    time.sleep(1)", timeout_s=1)
    after = session.execute("print(kept)")

    assert result.limit == "timeout"
    assert result.exit_code == 137
    assert "timed out" in result.stderr
    assert "a new kernel starts" not in result.stderr
    assert not result.kernel_restarted
    assert after.stdout == "still here\n"
    assert after.kernel_id == first.kernel_id


def test_a_check_whose_kernel_dies_restarts_nothing(session: LocalSandboxSession) -> None:
    first = session.execute("kept = 'still here'")

    result = session.check("import os\nos._exit(3)")
    after = session.execute("print(kept)")

    assert result.exit_code == 3
    assert "kernel died" in result.stderr
    assert "a new kernel starts" not in result.stderr
    assert not result.kernel_restarted
    assert (after.stdout, after.kernel_id) == ("still here\n", first.kernel_id)


def test_under_bubblewrap_a_check_cannot_change_the_workspace(bubblewrap_session: LocalSandboxSession) -> None:
    session = bubblewrap_session
    session.execute(
        "import os\nos.makedirs('out')\nopen('out/a.txt', 'w').write('a')\nopen('result.txt', 'w').write('agent')"
    )
    stamps = snapshot_workspace(session.workspace, skip_inputs=False)
    contents = {path: session.read_file(path) for path in stamps}
    attempts = (
        "import os, shutil\n"
        "attempts = {\n"
        "    'create': lambda: open('new.txt', 'w'),\n"
        "    'overwrite': lambda: open('result.txt', 'w'),\n"
        "    'append': lambda: open('result.txt', 'a'),\n"
        "    'delete': lambda: os.remove('result.txt'),\n"
        "    'rename': lambda: os.rename('result.txt', 'moved.txt'),\n"
        "    'mkdir': lambda: os.mkdir('made'),\n"
        "    'chmod': lambda: os.chmod('result.txt', 0o777),\n"
        "    'rmtree': lambda: shutil.rmtree('out'),\n"
        "}\n"
        "for name, attempt in attempts.items():\n"
        "    try:\n"
        "        attempt()\n"
        "        print(name, 'DONE')\n"
        "    except OSError as exc:\n"
        "        print(name, 'DENIED', exc.errno)\n"
    )

    tried = session.check(attempts)
    plain = session.check("open('result.txt', 'w').write('check')")

    assert tried.exit_code == 0, tried.stderr
    assert tried.stdout.splitlines() == [
        f"{name} DENIED {errno.EROFS}"
        for name in ("create", "overwrite", "append", "delete", "rename", "mkdir", "chmod", "rmtree")
    ]
    assert plain.exit_code == 1
    assert "Read-only file system" in plain.stderr
    assert snapshot_workspace(session.workspace, skip_inputs=False) == stamps
    assert {path: session.read_file(path) for path in stamps} == contents


def test_a_checks_figures_are_not_saved(bubblewrap_session: LocalSandboxSession) -> None:
    result = bubblewrap_session.check("import matplotlib.pyplot as plt\nplt.plot([1, 2])")

    assert result.exit_code == 0, result.stderr
    assert result.stderr == ""
    assert result.files == []
    assert bubblewrap_session.list_files() == []


def test_ending_the_run_stops_a_check_in_progress(backends: dict[str, LocalSandboxBackend]) -> None:
    session = open_session(backends, "bubblewrap", "check-ended")
    results: list[CellResult] = []
    checker = threading.Thread(target=lambda: results.append(session.check("import time\ntime.sleep(600)", 600)))
    checker.start()
    assert wait_for(check_paths(session).tmp.is_dir)
    time.sleep(0.5)

    backends["bubblewrap"].end("check-ended")
    checker.join(timeout=WAIT_S * 2)

    assert not checker.is_alive()
    assert results[0].exit_code == 137
    assert results[0].limit is None
    assert "the sandbox session was ended" in results[0].stderr
    with pytest.raises(SandboxSessionClosed):
        session.check("print(1)")
