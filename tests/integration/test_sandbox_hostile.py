"""Hostile cells against the local sandbox under bubblewrap: each is contained, says what happened, and the session
still runs the next cell.

Limits are small so the suite stays quick. Nothing here sends traffic off this machine: the network probe targets a
server this test starts on the host's loopback, which the sandbox's own network namespace cannot reach.
"""

from __future__ import annotations

import errno
import os
import shutil
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from agentlab.sandbox.local import LocalSandboxBackend, LocalSandboxSession
from agentlab.sandbox.models import CellResult, SandboxLimits

pytestmark = [
    pytest.mark.skipif(
        shutil.which("bwrap") is None, reason="bubblewrap (bwrap) is not installed: apt-get install bubblewrap"
    ),
    pytest.mark.timeout(60),
]

HOSTILE_LIMITS = SandboxLimits(
    cpu_s=2,
    memory_mb=512,
    cell_timeout_s=10,
    max_processes=32,
    max_file_mb=8,
    max_output_bytes=100_000,
)
HOST_SECRET = "hostile-test-secret-value"
REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def backend(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalSandboxBackend]:
    sandbox_backend = LocalSandboxBackend(tmp_path_factory.mktemp("hostile"))
    yield sandbox_backend
    sandbox_backend.close()


@pytest.fixture
def session(
    backend: LocalSandboxBackend, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> Iterator[LocalSandboxSession]:
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", HOST_SECRET)
    run_id = f"hostile-{request.node.name}"
    sandbox_session = backend.session(run_id, HOSTILE_LIMITS, {"RUN_VAR": "run-value"})
    if not sandbox_session.isolation.startswith("bubblewrap"):
        pytest.fail(f"bubblewrap is installed but the session runs with {sandbox_session.isolation}")
    yield sandbox_session
    backend.end(run_id)


def assert_still_usable(session: LocalSandboxSession) -> None:
    after = session.execute("print(1+1)")
    assert after.stdout == "2\n", after.stderr
    assert after.exit_code == 0


def needs_dedicated_uid() -> None:
    if os.geteuid() != 0:
        pytest.skip("RLIMIT_NPROC needs a dedicated sandbox uid, which the backend only has when it runs as root")


def test_a_server_on_the_hosts_loopback_is_unreachable(session: LocalSandboxSession) -> None:
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    accepted: list[socket.socket] = []
    listener.settimeout(3)
    waiter = threading.Thread(target=lambda: accepted.extend(_accept_once(listener)))
    waiter.start()
    try:
        result = session.execute(
            "import socket\n"
            "print(sorted(name for _, name in socket.if_nameindex()))\n"
            f"socket.create_connection(('127.0.0.1', {port}), timeout=2)"
        )
    finally:
        waiter.join()
        listener.close()

    assert accepted == []
    assert result.exit_code == 1
    assert "ConnectionRefusedError" in result.stderr or "OSError" in result.stderr
    assert result.stdout == "['lo']\n"
    assert_still_usable(session)


def test_the_cloud_metadata_endpoint_and_the_internet_are_unreachable(session: LocalSandboxSession) -> None:
    """SSRF from model-written code: no route leaves the sandbox, to the metadata endpoint or anywhere else."""
    result = session.execute(
        "import socket\n"
        "print('interfaces', *sorted(name for _, name in socket.if_nameindex()))\n"
        "for address in [('169.254.169.254', 80), ('10.0.0.1', 443), ('1.1.1.1', 443)]:\n"
        "    try:\n"
        "        socket.create_connection(address, timeout=2)\n"
        "        print('reached', address[0])\n"
        "    except OSError as error:\n"
        "        print('unreachable', address[0], error.errno)\n"
    )
    lines = result.stdout.splitlines()
    # Only loopback exists, so there is no route at all: the kernel answers at once, without a timeout.
    assert lines == [
        "interfaces lo",
        f"unreachable 169.254.169.254 {errno.ENETUNREACH}",
        f"unreachable 10.0.0.1 {errno.ENETUNREACH}",
        f"unreachable 1.1.1.1 {errno.ENETUNREACH}",
    ], result.stdout + result.stderr
    assert_still_usable(session)


def _accept_once(listener: socket.socket) -> list[socket.socket]:
    try:
        connection, _ = listener.accept()
    except TimeoutError:
        return []
    connection.close()
    return [connection]


def test_a_fork_bomb_hits_the_process_limit(session: LocalSandboxSession) -> None:
    needs_dedicated_uid()

    result = session.execute("import os\nwhile True:\n    os.fork()")

    assert result.limit == "processes"
    assert result.exit_code == 1
    assert "BlockingIOError" in result.stderr
    assert_still_usable(session)


def test_a_shell_fork_bomb_left_running_is_stopped_at_the_end_of_its_cell(session: LocalSandboxSession) -> None:
    needs_dedicated_uid()

    result = session.execute(
        "import subprocess, time\nsubprocess.run(['bash', '-c', 'bomb() { bomb | bomb & }; bomb'])\ntime.sleep(1)"
    )
    after = session.execute("import subprocess\nprint(subprocess.run(['echo', 'forked'], capture_output=True).stdout)")

    assert result.limit == "processes"
    assert "process limit reached" in result.stderr
    assert after.stdout == "b'forked\\n'\n", after.stderr


def test_allocating_8_gb_hits_the_memory_limit_and_keeps_the_kernel(session: LocalSandboxSession) -> None:
    session.execute("kept = 'state survives'")

    result = session.execute("hog = bytearray(8 * 1024**3)")

    assert result.limit == "memory"
    assert result.exit_code == 1
    assert "MemoryError" in result.stderr
    assert not result.kernel_restarted
    assert session.execute("print(kept)").stdout == "state survives\n"


def test_a_cpu_spin_hits_the_cpu_limit(session: LocalSandboxSession) -> None:
    result = session.execute("while True:\n    pass")

    assert result.limit in ("cpu", "timeout")
    assert result.kernel_restarted
    assert "kernel died" in result.stderr or "timed out" in result.stderr
    assert_still_usable(session)


def test_a_cell_that_never_ends_is_stopped_by_the_wall_clock(session: LocalSandboxSession) -> None:
    result = session.execute("import time\nwhile True:\n    time.sleep(1)", timeout_s=1)

    assert result.limit == "timeout"
    assert result.kernel_restarted
    assert_still_usable(session)


def test_filling_the_disk_hits_the_file_size_limit(session: LocalSandboxSession) -> None:
    result = session.execute("with open('fill.bin', 'wb') as f:\n    while True:\n        f.write(b'0' * 1048576)")

    assert result.limit == "file_size"
    assert result.exit_code == 1
    assert "File too large" in result.stderr
    assert (session.workspace / "fill.bin").stat().st_size <= HOSTILE_LIMITS.max_file_mb * 1024 * 1024
    assert_still_usable(session)


def test_host_files_outside_the_workspace_cannot_be_read(session: LocalSandboxSession) -> None:
    host_root_entries = (
        sorted(entry for entry in os.listdir("/root") if entry != ".pyenv") if os.access("/root", os.R_OK) else []
    )
    code = (
        "import os\n"
        "for path in ['/root', '/work', '/work/main']:\n"
        "    try:\n"
        "        print(path, sorted(os.listdir(path)))\n"
        "    except OSError as exc:\n"
        "        print(path, 'DENIED', type(exc).__name__)\n"
        f"for path in ['/etc/shadow', {str(REPO_ROOT / 'pyproject.toml')!r}, '/proc/1/environ']:\n"
        "    try:\n"
        "        print(path, open(path, 'rb').read()[:200])\n"
        "    except OSError as exc:\n"
        "        print(path, 'DENIED', type(exc).__name__)\n"
    )

    result = session.execute(code)

    assert result.exit_code == 0, result.stderr
    lines = dict(line.split(" ", 1) for line in result.stdout.splitlines())
    assert all(entry not in lines["/root"] for entry in host_root_entries)
    assert "pyproject.toml" not in lines.get("/work/main", "")
    assert lines["/etc/shadow"].startswith("DENIED")
    assert lines[str(REPO_ROOT / "pyproject.toml")].startswith("DENIED")
    assert lines["/proc/1/environ"].startswith("DENIED")
    assert_still_usable(session)


def test_the_hosts_secrets_are_not_in_the_environment(session: LocalSandboxSession) -> None:
    result = session.execute(
        "import os, subprocess\n"
        "print(dict(os.environ))\n"
        "try:\n"
        "    print(open('/proc/self/environ', 'rb').read())\n"
        "except PermissionError:\n"
        "    print('kernel environ not readable')\n"
        "print(subprocess.run(['cat', '/proc/self/environ'], capture_output=True, check=True).stdout)\n"
    )

    assert result.exit_code == 0, result.stderr
    assert HOST_SECRET not in result.stdout
    assert "AWS_SECRET_ACCESS_KEY" not in result.stdout
    assert "run-value" in result.stdout
    assert os.environ["AWS_SECRET_ACCESS_KEY"] == HOST_SECRET


def test_writing_outside_the_workspace_fails(session: LocalSandboxSession, tmp_path: Path) -> None:
    host_tmp_target = tmp_path / "escaped.txt"
    targets = ["/etc/escaped", "/usr/escaped", "/root/escaped", str(REPO_ROOT / "escaped.txt"), str(host_tmp_target)]
    code = (
        f"for path in {targets!r}:\n"
        "    try:\n"
        "        open(path, 'w').write('escaped')\n"
        "        print(path, 'WRITTEN')\n"
        "    except OSError as exc:\n"
        "        print(path, 'DENIED', type(exc).__name__)\n"
    )

    result = session.execute(code)

    assert result.exit_code == 0, result.stderr
    assert "WRITTEN" not in result.stdout
    assert result.stdout.count("DENIED") == len(targets)
    for target in targets:
        assert not Path(target).exists(), f"{target} was written on the host"
    assert_still_usable(session)


def test_printing_100_mb_is_truncated(session: LocalSandboxSession) -> None:
    result: CellResult = session.execute("print('x' * 100_000_000)\nprint('tail', flush=True)")

    assert result.limit == "output"
    assert result.exit_code == 0
    assert len(result.stdout) < HOSTILE_LIMITS.max_output_bytes + 100
    assert result.stdout.endswith(" bytes omitted]")
    assert "[output truncated: 99900006 bytes omitted]" in result.stdout
    assert_still_usable(session)


def test_flooding_stderr_is_truncated_too(session: LocalSandboxSession) -> None:
    result = session.execute("import sys\nfor _ in range(2000):\n    sys.stderr.write('e' * 1000 + '\\n')")

    assert result.limit == "output"
    assert "[output truncated:" in result.stderr
    assert_still_usable(session)


def test_a_background_process_does_not_outlive_the_session(backend: LocalSandboxBackend) -> None:
    needs_dedicated_uid()
    from agentlab.sandbox.uids import processes_of_uid

    session = backend.session("hostile-background", HOSTILE_LIMITS, {})
    session.execute(
        "import subprocess\n"
        "subprocess.Popen(['setsid', 'sh', '-c', 'while true; do sleep 1; done'], start_new_session=True)"
    )
    uid = int(session.execute("import os\nprint(os.getuid())").stdout)
    assert processes_of_uid(uid), "the background process should be running before the session ends"

    backend.end("hostile-background")

    assert processes_of_uid(uid) == []


def test_locking_the_workspace_and_killing_the_kernel_gets_no_weaker_kernel(session: LocalSandboxSession) -> None:
    """A kernel that cannot enter its workspace fails to start: the next one must not fall back to a weaker level."""
    uid = session.execute("import os\nprint(os.getuid())").stdout
    isolation = session.isolation

    locked = session.execute("import os\nos.chmod('.', 0)\nos.chmod(os.environ['HOME'], 0)\nos._exit(0)")
    after = session.execute("import os\nprint(os.getuid())\nprint(os.listdir('.'))")

    assert locked.kernel_restarted
    assert after.stdout == f"{uid}[]\n", after.stderr
    assert session.isolation == isolation
    assert_still_usable(session)
