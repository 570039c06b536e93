"""How a kernel process is started at each isolation level, strongest first.

bubblewrap: new pid, network, ipc and uts namespaces (no network at all), a root filesystem holding only the system,
the Python install (read-only) and the session's own workspace, home and /tmp. Started as root, bubblewrap keeps no
user namespace so that the kernel can drop to the session's dedicated host uid, the one RLIMIT_NPROC counts against;
started by anyone else it runs with --unshare-all as the caller. Below it: the dedicated uid alone, then the rlimits
alone. The kernel applies the rlimits itself in every case, before it runs any user code.

A goal check gets a kernel of its own over the same session: under bubblewrap its workspace is bound read-only and its
home and /tmp are fresh directories of its own, never the ones the agent's cells could have planted files in.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass, replace
from enum import Enum
from pathlib import Path, PurePosixPath

WORKSPACE_IN_SANDBOX = "/workspace"
HOME_IN_SANDBOX = "/home/sandbox"
TMP_IN_SANDBOX = "/tmp"  # noqa: S108 - a private directory bound over /tmp inside the sandbox
KERNEL_IN_SANDBOX = "/opt/agentlab/kernel.py"
SHM_BYTES = 64 * 1024 * 1024
SHM_IN_SANDBOX = "/dev/shm"  # noqa: S108 - a size-capped tmpfs private to the sandbox
NAMESPACES_WITHOUT_USER = ("--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts", "--unshare-cgroup-try")
KERNEL_SWITCHES_UID = ("--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID")
SYSTEM_DIRECTORIES = ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
# Only what programs need to start and to resolve the sandbox user: no shadow, no host keys, no host config.
ETC_FILES = (
    "/etc/alternatives",
    "/etc/ld.so.cache",
    "/etc/ld.so.conf",
    "/etc/ld.so.conf.d",
    "/etc/localtime",
    "/etc/mime.types",
    "/etc/fonts",
    "/etc/nsswitch.conf",
)
# What programs that use the network need to find names and check certificates; bound only for a phase given the
# network (a repository's install), never for an agent's kernel.
NETWORK_ETC_FILES = (
    "/etc/resolv.conf",
    "/etc/hosts",
    "/etc/host.conf",
    "/etc/gai.conf",
    "/etc/ssl",
    "/etc/ca-certificates",
)
LAUNCH_PATH = "/usr/local/bin:/usr/bin:/bin"
CHECK_SCRATCH_PREFIX = "check-"
PROBE_PYTHON = (
    "import json, sys; print(json.dumps([sys.executable, sys.prefix, sys.base_prefix, sys.exec_prefix,"
    " sys.base_exec_prefix]))"
)


class IsolationLevel(Enum):
    BUBBLEWRAP = "bubblewrap"
    UID = "uid"
    RLIMITS = "rlimits"


@dataclass(frozen=True)
class PythonInstall:
    """The interpreter that runs kernels, and the directories it needs to see (bound read-only under bubblewrap)."""

    executable: str
    prefixes: tuple[str, ...]

    @classmethod
    def inspect(cls, python: str | None) -> PythonInstall:
        if python is None:
            found = [sys.executable, sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix]
            return cls.from_paths(python=sys.executable, found=found)
        completed = subprocess.run(  # noqa: S603 - the operator-chosen interpreter, no shell
            [python, "-I", "-c", PROBE_PYTHON], capture_output=True, text=True, check=True, timeout=30
        )
        return cls.from_paths(python=python, found=json.loads(completed.stdout))

    @classmethod
    def from_paths(cls, python: str, found: list[str]) -> PythonInstall:
        executable = os.path.abspath(python)
        candidates = [str(Path(executable).resolve().parent.parent), *found[1:]]
        prefixes: list[str] = []
        for candidate in candidates:
            path = os.path.realpath(candidate)
            if path in ("/", "/usr") or path.startswith("/usr/") or path in prefixes:
                continue
            prefixes.append(path)
        return cls(executable=executable, prefixes=tuple(prefixes))


@dataclass(frozen=True)
class SessionPaths:
    """Host paths of one session: its directory, the workspace and the private home and tmp beside it.

    scratch prefixes the names of home and tmp: a goal check's kernel gets its own pair (see for_check).
    """

    root: Path
    scratch: str = ""

    def for_check(self) -> SessionPaths:
        """The same session with the home and tmp of a goal check, apart from the agent's."""
        return replace(self, scratch=CHECK_SCRATCH_PREFIX)

    @property
    def workspace(self) -> Path:
        return self.root / "workspace"

    @property
    def home(self) -> Path:
        return self.root / f"{self.scratch}home"

    @property
    def tmp(self) -> Path:
        return self.root / f"{self.scratch}tmp"

    @property
    def passwd(self) -> Path:
        return self.root / "passwd"

    @property
    def group(self) -> Path:
        return self.root / "group"


def isolation_label(level: IsolationLevel, dedicated_uid: bool) -> str:
    if level is IsolationLevel.BUBBLEWRAP:
        return "bubblewrap+uid+rlimits" if dedicated_uid else "bubblewrap+rlimits"
    if level is IsolationLevel.UID:
        return "uid+rlimits"
    return "rlimits-only"


def sandbox_environment(level: IsolationLevel, paths: SessionPaths, run_env: dict[str, str]) -> dict[str, str]:
    """The run's variables and a few neutral defaults; home, tmp and matplotlib's config always stay private."""
    inside = level is IsolationLevel.BUBBLEWRAP
    home = HOME_IN_SANDBOX if inside else str(paths.home)
    tmp = TMP_IN_SANDBOX if inside else str(paths.tmp)
    return {
        "PATH": LAUNCH_PATH,
        "LANG": "C.UTF-8",
        "MPLBACKEND": "Agg",
        **run_env,
        "HOME": home,
        "TMPDIR": tmp,
        "MPLCONFIGDIR": f"{home}/.config/matplotlib",
    }


def kernel_command(python: str, kernel_path: str, stdout_fd: int) -> list[str]:
    return [python, "-I", kernel_path, "--stdout-fd", str(stdout_fd)]


def bubblewrap_command(
    bwrap: str,
    install: PythonInstall,
    paths: SessionPaths,
    kernel_file: Path,
    stdout_fd: int,
    *,
    as_root: bool,
    read_only_workspace: bool = False,
    network: bool = False,
) -> list[str]:
    """`network` keeps the host's network namespace (a repository's install phase reaches package registries)."""
    # As root, a user namespace would map the kernel's uid back to host root, whom RLIMIT_NPROC never limits.
    if as_root:
        namespaces = [n for n in NAMESPACES_WITHOUT_USER if not (network and n == "--unshare-net")]
        unshare = [*namespaces, *KERNEL_SWITCHES_UID]
    else:
        unshare = ["--unshare-all", "--share-net"] if network else ["--unshare-all"]
    command = [bwrap, *unshare, "--die-with-parent", "--new-session", "--ro-bind", "/usr", "/usr"]
    command += _system_directory_arguments()
    created: set[str] = {"/", "/usr", "/proc", "/dev", TMP_IN_SANDBOX}
    command += _directories_above("/etc/passwd", created)
    for etc_path in (*ETC_FILES, *(NETWORK_ETC_FILES if network else ())):
        command += ["--ro-bind-try", etc_path, etc_path]
    command += ["--ro-bind", str(paths.passwd), "/etc/passwd", "--ro-bind", str(paths.group), "/etc/group"]
    command += ["--proc", "/proc", "--dev", "/dev"]
    command += ["--perms", "1777", "--size", str(SHM_BYTES), "--tmpfs", SHM_IN_SANDBOX]
    command += _directories_above(HOME_IN_SANDBOX, created)
    command += ["--bind", str(paths.tmp), TMP_IN_SANDBOX, "--bind", str(paths.home), HOME_IN_SANDBOX]
    command += ["--ro-bind" if read_only_workspace else "--bind", str(paths.workspace), WORKSPACE_IN_SANDBOX]
    for prefix in install.prefixes:
        command += [*_directories_above(prefix, created), "--ro-bind", prefix, prefix]
    command += [*_directories_above(KERNEL_IN_SANDBOX, created), "--ro-bind", str(kernel_file), KERNEL_IN_SANDBOX]
    command += ["--chdir", WORKSPACE_IN_SANDBOX, "--clearenv", "--setenv", "PATH", LAUNCH_PATH]
    command += ["--setenv", "LANG", "C.UTF-8", "--", *kernel_command(install.executable, KERNEL_IN_SANDBOX, stdout_fd)]
    return command


def _system_directory_arguments() -> list[str]:
    arguments: list[str] = []
    for directory in SYSTEM_DIRECTORIES:
        path = Path(directory)
        if path.is_symlink():
            arguments += ["--symlink", os.readlink(path), directory]
        elif path.is_dir():
            arguments += ["--ro-bind", directory, directory]
    return arguments


def _directories_above(path: str, created: set[str]) -> list[str]:
    """--dir for each missing ancestor: bubblewrap would otherwise create them mode 0700, closed to the sandbox uid."""
    arguments: list[str] = []
    for ancestor in reversed(PurePosixPath(path).parents):
        name = str(ancestor)
        if name not in created:
            created.add(name)
            arguments += ["--dir", name]
    return arguments
