"""Freezing and thawing the processes of a uid, which keeps an agent's processes out of a goal check's way, and killing
all of a uid's processes but a few (a check's leftovers, never the agent's).

These start real processes under a uid of their own, which needs root.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Callable, Collection, Iterator

import pytest

from agentlab.sandbox.uids import (
    SandboxUidPool,
    freeze_processes_of_uid,
    kill_processes_of_uid,
    process_state,
    processes_of_uid,
    thaw,
)

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="processes under another uid need the tests to run as root"),
    pytest.mark.timeout(60),
]

TEST_UIDS = range(629_000, 629_100)
WAIT_S = 10.0
# Forks a short-lived child again and again, so that freezing has to catch processes born while it works.
FORKING_LOOP = "while true; do sleep 0.01; done"


def wait_for(predicate: Callable[[], bool], timeout_s: float = WAIT_S) -> bool:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def live_states(uid: int, but: Collection[int] = ()) -> dict[int, str]:
    """The state of every process of uid still there (zombies included), but those in but."""
    states = {pid: process_state(pid) for pid in processes_of_uid(uid) if pid not in but}
    return {pid: state for pid, state in states.items() if state is not None}


def stopped(state: str) -> bool:
    return state in ("T", "t", "Z", "X")


@pytest.fixture
def uid() -> Iterator[int]:
    pool = SandboxUidPool(TEST_UIDS)
    chosen = pool.acquire()
    yield chosen
    kill_processes_of_uid(chosen)
    pool.release(chosen)


def start_as(uid: int, *command: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(command, user=uid, group=uid, extra_groups=[], start_new_session=True)


def test_every_process_of_the_uid_is_stopped_and_thaw_continues_them(uid: int) -> None:
    sleeper = start_as(uid, "sleep", "300")
    forker = start_as(uid, "sh", "-c", FORKING_LOOP)
    assert wait_for(lambda: len(processes_of_uid(uid)) >= 3), "the forking loop should have a child running"

    frozen = freeze_processes_of_uid(uid)
    states_while_frozen = live_states(uid)
    thaw(frozen)

    assert {sleeper.pid, forker.pid} <= set(frozen)
    assert states_while_frozen, "the processes should still be there while frozen"
    assert all(stopped(state) for state in states_while_frozen.values()), states_while_frozen
    assert wait_for(lambda: not any(stopped(state) for state in live_states(uid).values() if state != "Z"))
    # Continued, the sleeper goes back to sleep (it may be seen running for a moment on its way there).
    assert wait_for(lambda: process_state(sleeper.pid) == "S"), process_state(sleeper.pid)
    assert forker.poll() is None


def test_processes_to_keep_are_left_running(uid: int) -> None:
    kept = start_as(uid, "sleep", "300")
    other = start_as(uid, "sleep", "300")

    frozen = freeze_processes_of_uid(uid, keep={kept.pid})
    try:
        kept_state, other_state = process_state(kept.pid), process_state(other.pid)
    finally:
        thaw(frozen)

    assert frozen == [other.pid]
    assert kept_state == "S"
    assert other_state == "T"


def test_a_process_can_freeze_the_rest_of_its_own_uid(uid: int) -> None:
    """As a server running under the same uid as its kernel does: "my own uid, keep my pid"."""
    sleepers = [start_as(uid, "sleep", "300") for _ in range(2)]
    report_read, report_write = os.pipe()
    go_read, go_write = os.pipe()
    server = os.fork()
    if server == 0:  # pragma: no cover - the child process, which reports through the pipe
        status = 1
        try:
            os.close(report_read)
            os.close(go_write)
            os.setgroups([])
            os.setgid(uid)
            os.setuid(uid)
            frozen = freeze_processes_of_uid(os.getuid(), keep={os.getpid()})
            os.write(report_write, json.dumps(frozen).encode() + b"\n")
            os.read(go_read, 1)
            thaw(frozen)
            status = 0
        finally:
            os._exit(status)
    os.close(report_write)
    os.close(go_read)
    with os.fdopen(report_read, "rb") as report:
        frozen = json.loads(report.readline())
    states_while_frozen = {pid: process_state(pid) for pid in (server, *(sleeper.pid for sleeper in sleepers))}
    os.write(go_write, b"x")
    os.close(go_write)
    _, status = os.waitpid(server, 0)

    assert sorted(frozen) == sorted(sleeper.pid for sleeper in sleepers)
    assert states_while_frozen[server] in ("R", "S"), "the freezing process must keep running"
    assert all(states_while_frozen[sleeper.pid] == "T" for sleeper in sleepers)
    assert os.waitstatus_to_exitcode(status) == 0
    assert wait_for(lambda: all(process_state(sleeper.pid) == "S" for sleeper in sleepers))


def test_root_is_never_frozen() -> None:
    with pytest.raises(ValueError, match="root"):
        freeze_processes_of_uid(0, keep={os.getpid()})


def test_thaw_skips_processes_that_ended(uid: int) -> None:
    ended = start_as(uid, "true")
    ended.wait()

    thaw([ended.pid])

    assert process_state(ended.pid) is None


def test_killing_a_uid_but_some_processes_spares_them_and_stops_a_forking_loop(uid: int) -> None:
    kept = start_as(uid, "sleep", "300")
    frozen = freeze_processes_of_uid(uid)
    doomed = [start_as(uid, "sleep", "300"), start_as(uid, "sh", "-c", FORKING_LOOP)]

    kill_processes_of_uid(uid, keep=set(frozen))
    left = live_states(uid, but={kept.pid})
    kept_state = process_state(kept.pid)
    for process in doomed:
        process.wait(timeout=WAIT_S)
    thaw(frozen)

    assert frozen == [kept.pid]
    assert kept_state == "T"
    assert all(process.returncode == -9 for process in doomed)
    # What is left of the others is at most zombies that their parents have not reaped yet.
    assert all(state in ("Z", "X") for state in left.values()), left
    assert wait_for(lambda: process_state(kept.pid) == "S")
