"""A sandbox uid is given to one session on the whole machine: pools in other processes skip the uids it holds."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from agentlab.sandbox.errors import SandboxUnavailable
from agentlab.sandbox.uids import SandboxUidPool

# High uids nobody on a test machine runs processes as.
UIDS = range(655_000, 655_003)


@pytest.fixture
def claims(tmp_path: Path) -> Path:
    directory = tmp_path / "claims"
    directory.mkdir(mode=0o700)
    return directory


def test_two_pools_never_hand_out_the_same_uid_and_a_released_uid_is_free_again(claims: Path) -> None:
    first, second = SandboxUidPool(UIDS, claims), SandboxUidPool(UIDS, claims)
    # Given a uid taken by one pool
    taken = first.acquire()
    # When another pool (as another process would) takes uids until none is left
    others = [second.acquire(), second.acquire()]
    # Then it never got the taken one, and ran out rather than share it
    assert taken not in others and len({taken, *others}) == 3
    with pytest.raises(SandboxUnavailable):
        second.acquire()
    # And once released, the uid is free for the other pool
    first.release(taken)
    assert second.acquire() == taken


def test_a_claim_held_by_a_process_that_died_is_free(claims: Path) -> None:
    # Given another process that claimed the first uid and was then killed
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(
                f"""
                import sys, time
                from pathlib import Path
                from agentlab.sandbox.uids import SandboxUidPool
                pool = SandboxUidPool(range({UIDS.start}, {UIDS.stop}), Path({str(claims)!r}))
                print(pool.acquire(), flush=True)
                time.sleep(300)
                """
            ),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout is not None
    held = int(holder.stdout.readline())
    pool = SandboxUidPool(UIDS, claims)
    try:
        assert held == UIDS.start
        assert pool.acquire() != held  # held while the process lives
    finally:
        holder.kill()
        holder.wait()
    # Then the uid it held can be claimed again
    assert pool.acquire() == held


def test_a_claims_folder_others_can_write_is_refused(tmp_path: Path) -> None:
    # Given a claims folder open to every user
    directory = tmp_path / "open"
    directory.mkdir()
    os.chmod(directory, 0o777)
    # Then no uid is handed out from it
    with pytest.raises(SandboxUnavailable, match="open to nobody else"):
        SandboxUidPool(UIDS, directory).acquire()
