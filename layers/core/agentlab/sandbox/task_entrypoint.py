"""The sandbox task's main program (python -m agentlab.sandbox.task_entrypoint): PID 1 of the Fargate container.

First it makes itself non-dumpable: the kernel runs as the same uid, and without that it could read this process's
memory and /proc/1/environ. The task has no task role, so there is no credential to find there, and the token the
host authenticates with never reaches the task (only its SHA-256 does), but nothing of the task's own is for the
kernel to see. The flag is inherited by fork, so the server below carries it too.

As PID 1 (the task definition keeps ECS's init out) it is the container's init: it forks the kernel server
(agentlab.sandbox.task_server) and then only reaps, which collects the zombies of whatever the kernel left behind
when it died, while the kernel processes themselves stay children of the server that waits for them (and reads their
exit status: what killed a kernel is how a limit is reported). SIGTERM and SIGINT are forwarded to the server, which
ends the session; the container exits with the server's status. Started any other way (a local process in tests and
benches) it runs the server in this process.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import signal
from collections.abc import Callable

logger = logging.getLogger(__name__)

PR_SET_DUMPABLE = 4
PR_SET_CHILD_SUBREAPER = 36
FORWARDED_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGQUIT)


def forbid_same_uid_inspection() -> None:
    """Make this process non-dumpable, so that processes of the same uid can neither trace it nor read its memory,
    environment or maps under /proc (the files become root's)."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_DUMPABLE, 0) failed")


def exit_status(wait_status: int) -> int:
    code = os.waitstatus_to_exitcode(wait_status)
    return 128 - code if code < 0 else code


def run_as_init(serve: Callable[[], int]) -> int:
    """Fork serve() into a child, forward signals to it and reap every child until it ends; its exit status.

    Orphans come here (PID 1 gets them anyway; as a subreaper so would any other init). Signals stay blocked from
    before the fork until they are forwarded, so that one arriving meanwhile is handed on rather than lost.
    """
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    signal.pthread_sigmask(signal.SIG_BLOCK, FORWARDED_SIGNALS)
    child = os.fork()
    if child == 0:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, FORWARDED_SIGNALS)
        status = 1
        try:
            status = serve()
        except BaseException:
            logger.exception("the sandbox task server failed")
        finally:
            logging.shutdown()
            os._exit(status)

    def forward(number: int, _frame: object) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(child, number)

    for number in FORWARDED_SIGNALS:
        signal.signal(number, forward)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, FORWARDED_SIGNALS)
    while True:
        try:
            pid, status = os.wait()
        except ChildProcessError:
            return 1
        if pid == child:
            return exit_status(status)


def serve_task(*, freeze_own_uid: bool) -> int:
    # Imported here: init itself needs nothing beyond the standard library.
    from agentlab.sandbox.task_server import SandboxTask, SandboxTaskServer, TaskSettings

    settings = TaskSettings()  # run id, limits and the token's digest come from the environment
    settings.root.mkdir(parents=True, exist_ok=True)
    server = SandboxTaskServer(SandboxTask(settings, freeze_own_uid=freeze_own_uid))
    for number in (signal.SIGTERM, signal.SIGINT):
        signal.signal(number, lambda *_: server.request_stop())
    logger.info("sandbox task of run %s listening on port %d", settings.run_id, server.port)
    server.serve()
    return 0


def main() -> int:
    forbid_same_uid_inspection()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    if os.getpid() == 1:
        # Inside the container the uid belongs to the sandbox alone: the server may freeze all of it for a check.
        return run_as_init(lambda: serve_task(freeze_own_uid=os.geteuid() != 0))
    return serve_task(freeze_own_uid=False)


if __name__ == "__main__":
    raise SystemExit(main())
