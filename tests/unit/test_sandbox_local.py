"""The local backend's life cycle (get-or-create, end, idle reaping, restarts), its fallbacks when bubblewrap is
missing or broken, and how a kernel's death is turned into a result."""

import os
import shutil
import signal
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from agentlab.sandbox.base import SandboxBackend, SandboxSession
from agentlab.sandbox.errors import SandboxEnvRefused, SandboxSessionClosed, SandboxUnavailable
from agentlab.sandbox.isolation import IsolationLevel, PythonInstall, SessionPaths
from agentlab.sandbox.kernel_process import CellOutcome
from agentlab.sandbox.launcher import KernelLauncher, KernelRequest
from agentlab.sandbox.local import LocalSandboxBackend, cell_result, session_dir_name
from agentlab.sandbox.models import CellResult, SandboxLimits
from agentlab.sandbox.uids import processes_of_uid

LIMITS = SandboxLimits(cpu_s=30, memory_mb=1024, cell_timeout_s=30, idle_timeout_s=60)
SYSTEM_PYTHON = "/usr/bin/python3"


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def backend(tmp_path: Path, clock: FakeClock) -> Iterator[LocalSandboxBackend]:
    sandbox_backend = LocalSandboxBackend(tmp_path / "sandbox", clock=clock)
    yield sandbox_backend
    sandbox_backend.close()


@pytest.fixture
def reachable_root() -> Iterator[Path]:
    """A root directory the sandbox uid can reach (pytest's own tmp tree is closed to other users)."""
    root = Path(tempfile.mkdtemp(prefix="agentlab-sandbox-test-", dir="/tmp"))
    yield root
    shutil.rmtree(root, ignore_errors=True)


def test_the_same_run_gets_the_same_live_session_across_calls(backend: LocalSandboxBackend) -> None:
    as_protocol: SandboxBackend = backend
    first: SandboxSession = as_protocol.session("run-a", LIMITS, {})
    first.execute("counter = 1")

    again = backend.session("run-a", LIMITS, {})
    result = again.execute("counter += 1\nprint(counter)")

    assert again is first
    assert result.stdout == "2\n"


def test_runs_have_separate_workspaces_and_state(backend: LocalSandboxBackend) -> None:
    one = backend.session("run-one", LIMITS, {})
    two = backend.session("run-two", LIMITS, {})
    one.execute("secret = 'one'\nopen('mine.txt', 'w').write('one')")

    result = two.execute("import os\nprint('secret' in globals(), os.path.exists('mine.txt'))")

    assert one.workspace != two.workspace
    assert result.stdout == "False False\n"


def test_end_stops_the_kernel_and_its_children_and_removes_the_workspace(backend: LocalSandboxBackend) -> None:
    session = backend.session("run-end", LIMITS, {})
    session.execute("import subprocess\nchild = subprocess.Popen(['sleep', '1000'])")
    uid = int(session.execute("import os\nprint(os.getuid())").stdout)
    workspace = session.workspace

    backend.end("run-end")

    assert not workspace.exists()
    if uid != 0:
        assert processes_of_uid(uid) == []
    with pytest.raises(SandboxSessionClosed):
        session.execute("print(1)")


def test_idle_sessions_are_reaped_and_a_later_call_starts_afresh(
    backend: LocalSandboxBackend, clock: FakeClock
) -> None:
    idle = backend.session("run-idle", LIMITS, {})
    idle.execute("value = 'lost when reaped'")
    busy = backend.session("run-busy", LIMITS, {})
    clock.now += 50
    busy.execute("print('still working')")

    clock.now += 20
    reaped = backend.reap_idle()
    fresh = backend.session("run-idle", LIMITS, {})
    result = fresh.execute("print('value' in globals())")

    assert reaped == ["run-idle"]
    assert idle.closed
    assert not busy.closed
    assert fresh is not idle
    assert result.stdout == "False\n"


def test_a_dead_kernel_is_restarted_transparently_and_its_state_is_gone(backend: LocalSandboxBackend) -> None:
    session = backend.session("run-dies", LIMITS, {})
    session.execute("before = 1")

    died = session.execute("import os\nos._exit(0)")
    after = session.execute("print('before' in globals())")

    assert died.kernel_restarted
    assert died.exit_code not in (0, 1)
    assert "kernel died" in died.stderr
    assert after.stdout == "False\n"
    assert after.exit_code == 0


def test_every_cell_carries_the_id_of_the_kernel_that_ran_it(backend: LocalSandboxBackend) -> None:
    session = backend.session("run-kernel-ids", LIMITS, {})
    first = session.execute("value = 1")
    second = session.execute("value += 1")

    died = session.execute("import os\nos._exit(0)")
    restarted = session.execute("print('value' in globals())")
    after_restart = session.execute("print(1)")

    assert first.kernel_id
    assert second.kernel_id == first.kernel_id
    # The cell that killed its kernel ran in that kernel; the next one runs in a new kernel with a new id.
    assert died.kernel_id == first.kernel_id
    assert restarted.stdout == "False\n"
    assert restarted.kernel_id not in ("", first.kernel_id)
    assert after_restart.kernel_id == restarted.kernel_id


def test_a_session_recreated_after_it_ended_or_was_reaped_has_a_new_kernel_id(
    backend: LocalSandboxBackend, clock: FakeClock
) -> None:
    original = backend.session("run-recreated", LIMITS, {}).execute("print(1)").kernel_id
    backend.end("run-recreated")
    after_end = backend.session("run-recreated", LIMITS, {}).execute("print(1)").kernel_id
    clock.now += LIMITS.idle_timeout_s + 1
    reaped = backend.reap_idle()
    after_reap = backend.session("run-recreated", LIMITS, {}).execute("print(1)").kernel_id

    assert reaped == ["run-recreated"]
    assert len({original, after_end, after_reap}) == 3


def test_a_cell_over_its_wall_clock_is_stopped_and_the_next_cell_runs(backend: LocalSandboxBackend) -> None:
    session = backend.session("run-slow", LIMITS, {})

    slow = session.execute("import time\nprint('started', flush=True)\ntime.sleep(60)", timeout_s=0.5)
    after = session.execute("print(1 + 1)")

    assert slow.limit == "timeout"
    assert slow.kernel_restarted
    assert slow.exit_code == 128 + signal.SIGKILL
    assert slow.stdout == "started\n"
    assert "timed out" in slow.stderr
    assert after.stdout == "2\n"


def test_ending_a_run_stops_the_cell_it_is_running(backend: LocalSandboxBackend) -> None:
    session = backend.session("run-cancelled", LIMITS, {})
    session.execute("import time")
    results: list[CellResult] = []
    runner = threading.Thread(target=lambda: results.append(session.execute("time.sleep(600)", timeout_s=600)))
    runner.start()
    time.sleep(0.5)

    backend.end("run-cancelled")
    runner.join(timeout=30)

    assert not runner.is_alive()
    assert results[0].kernel_restarted
    assert results[0].limit is None
    assert "the sandbox session was ended" in results[0].stderr


@pytest.mark.parametrize("env", [{"BAD-NAME": "x"}, {"1ST": "x"}, {"NUL": "a\x00b"}])
def test_env_vars_that_cannot_be_passed_are_refused(backend: LocalSandboxBackend, env: dict[str, str]) -> None:
    with pytest.raises(SandboxEnvRefused):
        backend.session("run-bad-env", LIMITS, env)


def test_session_directories_are_named_safely() -> None:
    name = session_dir_name("../../etc/passwd")

    assert "/" not in name
    assert not name.startswith(".")
    assert session_dir_name("run-1") != session_dir_name("run_1")


def observed_uid(backend: LocalSandboxBackend, run_id: str) -> tuple[str, int, str]:
    session = backend.session(run_id, LIMITS, {"VISIBLE": "yes"})
    result = session.execute("import os\nprint(os.getuid())\nprint(os.environ['VISIBLE'])")
    return session.isolation, int(result.stdout.split()[0]), result.stdout.split()[1]


@pytest.mark.skipif(os.geteuid() != 0, reason="a dedicated sandbox uid needs the backend to run as root")
@pytest.mark.skipif(not os.access(SYSTEM_PYTHON, os.X_OK), reason=f"{SYSTEM_PYTHON} is not installed")
def test_without_bubblewrap_the_kernel_still_runs_under_its_own_uid(reachable_root: Path) -> None:
    backend = LocalSandboxBackend(reachable_root, python=SYSTEM_PYTHON, use_bubblewrap=False)
    try:
        isolation, uid, visible = observed_uid(backend, "run-no-bwrap")
        session = backend.session("run-no-bwrap", LIMITS, {})
        denied = session.execute("open('/etc/agentlab-escape', 'w')")
    finally:
        backend.close()

    assert isolation == "uid+rlimits"
    assert uid != 0
    assert visible == "yes"
    assert "PermissionError" in denied.stderr
    assert not Path("/etc/agentlab-escape").exists()


def test_a_bubblewrap_that_fails_to_start_falls_back_and_says_so(reachable_root: Path) -> None:
    backend = LocalSandboxBackend(reachable_root, bwrap_path="/bin/false")
    try:
        isolation, uid, visible = observed_uid(backend, "run-broken-bwrap")
    finally:
        backend.close()

    assert not isolation.startswith("bubblewrap")
    assert isolation in {"uid+rlimits", "rlimits-only"}
    assert visible == "yes"
    if isolation == "uid+rlimits":
        assert uid != 0
    elif os.geteuid() == 0:
        assert uid == 0, "rlimits-only must be what it says: the kernel kept the host uid"


@pytest.mark.skipif(os.geteuid() != 0, reason="a dedicated sandbox uid needs the backend to run as root")
@pytest.mark.skipif(not os.access(SYSTEM_PYTHON, os.X_OK), reason=f"{SYSTEM_PYTHON} is not installed")
def test_a_cell_that_locks_its_workspace_and_kills_its_kernel_gets_no_weaker_kernel(reachable_root: Path) -> None:
    backend = LocalSandboxBackend(reachable_root, python=SYSTEM_PYTHON, use_bubblewrap=False)
    try:
        session = backend.session("run-locks-workspace", LIMITS, {})
        uid = int(session.execute("import os\nprint(os.getuid())").stdout)
        locked = session.execute("import os\nos.chmod('.', 0)\nos.chmod(os.environ['HOME'], 0)\nos._exit(0)")
        after = session.execute("import os\nprint(os.getuid(), os.listdir('.'))")
        isolation = session.isolation
    finally:
        backend.close()

    assert locked.kernel_restarted
    assert after.stdout == f"{uid} []\n", after.stderr
    assert uid != 0
    assert isolation == "uid+rlimits"


def test_a_later_kernel_never_falls_below_the_level_of_the_sessions_first(reachable_root: Path) -> None:
    launcher = KernelLauncher(PythonInstall.inspect(None), reachable_root / "missing-kernel.py", "/bin/false", 5.0)
    paths = SessionPaths(reachable_root / "session")
    try:
        with pytest.raises(SandboxUnavailable) as refused:
            launcher.launch(KernelRequest(paths, LIMITS, {}, None, floor=IsolationLevel.BUBBLEWRAP))
    finally:
        launcher.shutdown()

    assert "bubblewrap" in str(refused.value)
    assert "rlimits" not in str(refused.value)


def outcome(**overrides: object) -> CellOutcome:
    fields: dict[str, object] = {
        "reply": None,
        "stdout": (b"partial", 0),
        "stderr": (b"", 0),
        "timed_out": False,
        "stop_reason": None,
        "returncode": None,
        "duration_s": 0.5,
    }
    fields.update(overrides)
    return CellOutcome(**fields)  # type: ignore[arg-type]


LIMITS_FOR_DEATH = SandboxLimits(cpu_s=10, memory_mb=512)


@pytest.mark.parametrize(
    ("returncode", "level", "cpu_before", "exit_code", "limit"),
    [
        (128 + signal.SIGXCPU, IsolationLevel.BUBBLEWRAP, 0.0, 152, "cpu"),
        (-signal.SIGXCPU, IsolationLevel.UID, 0.0, 152, "cpu"),
        (-signal.SIGKILL, IsolationLevel.UID, 9.8, 137, "cpu"),
        (-signal.SIGKILL, IsolationLevel.UID, 1.0, 137, "memory"),
        (128 + signal.SIGSEGV, IsolationLevel.BUBBLEWRAP, 0.0, 139, None),
        (3, IsolationLevel.BUBBLEWRAP, 0.0, 3, None),
        (0, IsolationLevel.RLIMITS, 0.0, 2, None),
    ],
)
def test_a_kernel_death_is_reported_with_its_cause(
    returncode: int, level: IsolationLevel, cpu_before: float, exit_code: int, limit: str | None
) -> None:
    result = cell_result(outcome(returncode=returncode), [], LIMITS_FOR_DEATH, level, cpu_before)

    assert result.exit_code == exit_code
    assert result.limit == limit
    assert result.kernel_restarted
    assert result.stdout == "partial"
    assert "kernel died" in result.stderr


def test_a_kernel_the_host_had_to_stop_is_not_blamed_on_a_limit() -> None:
    result = cell_result(
        outcome(returncode=-signal.SIGKILL, stop_reason="the cell broke the kernel's private channel", duration_s=30.0),
        [],
        LIMITS_FOR_DEATH,
        IsolationLevel.UID,
        9.9,
    )

    assert result.limit is None
    assert result.exit_code == 137
    assert "private channel" in result.stderr


def test_a_finished_cell_maps_status_limit_and_truncation() -> None:
    ok = cell_result(outcome(reply={"status": "ok"}), [], LIMITS_FOR_DEATH, IsolationLevel.UID, 0)
    raised = cell_result(
        outcome(reply={"status": "error", "limit": "memory"}), [], LIMITS_FOR_DEATH, IsolationLevel.UID, 0
    )
    forged = cell_result(
        outcome(reply={"status": "error", "limit": "root"}), [], LIMITS_FOR_DEATH, IsolationLevel.UID, 0
    )
    truncated = cell_result(
        outcome(reply={"status": "ok"}, stdout=(b"x" * 5, 95)), [], LIMITS_FOR_DEATH, IsolationLevel.UID, 0
    )

    assert (ok.exit_code, ok.limit, ok.kernel_restarted) == (0, None, False)
    assert (raised.exit_code, raised.limit) == (1, "memory")
    assert forged.limit is None
    assert truncated.limit == "output"
    assert truncated.stdout == "xxxxx\n[output truncated: 95 bytes omitted]"


def test_a_checks_result_carries_its_kernel_id_and_its_death_restarts_nothing() -> None:
    died = cell_result(
        outcome(returncode=-signal.SIGKILL), [], LIMITS_FOR_DEATH, IsolationLevel.UID, 0, kernel_id="abc", lasting=False
    )
    timed_out = cell_result(
        outcome(timed_out=True), [], LIMITS_FOR_DEATH, IsolationLevel.UID, 0, kernel_id="abc", lasting=False
    )
    cell = cell_result(outcome(timed_out=True), [], LIMITS_FOR_DEATH, IsolationLevel.UID, 0, kernel_id="def")

    assert (died.kernel_id, died.kernel_restarted, died.exit_code) == ("abc", False, 137)
    assert "kernel died" in died.stderr
    assert "state was lost" not in died.stderr
    assert (timed_out.limit, timed_out.kernel_restarted) == ("timeout", False)
    assert "state was lost" not in timed_out.stderr
    assert (cell.kernel_id, cell.kernel_restarted) == ("def", True)
    assert "state was lost" in cell.stderr
