"""The phases of a repository's baseline as they run in the sandbox: each one a cell written here (never by the
repository) that runs one shell command of the repository in its checkout, under the phase's limits, and prints one
line of JSON that says how it went.

The command's output goes to a log file in the workspace, capped (the rest is counted, not kept), with its tail in
the answer; the command runs in a session of its own, killed whole at its timeout, and the workspace's size is
measured after it against the disk limit. The limits are applied twice: by the phase's kernel (the local backend
starts one per phase) and by the cell to the command itself (where a backend's kernel outlives phases).

Workspace layout: `repo/` is the checkout; `.agentlab/` holds the source tarball, the logs, the reports a command
writes (JUnit XML, benchmark JSON) and, for a Python repository, the virtual environment the commands run in.
"""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import BaseModel, Field

from agentlab.models.repo import PhaseLimit
from agentlab.sandbox.models import CellResult

REPO_DIR = "repo"
STATE_DIR = ".agentlab"
SOURCE_TARBALL = f"{STATE_DIR}/source.tar.gz"
VENV_DIR = f"{STATE_DIR}/venv"
LOGS_DIR = f"{STATE_DIR}/logs"
REPORTS_DIR = f"{STATE_DIR}/reports"
RESULT_MARKER = "@@agentlab-phase-result@@ "
MAX_LOG_BYTES = 20 * 1024 * 1024
TAIL_BYTES = 16 * 1024


class PhaseSpec(BaseModel):
    """One command to run and the limits it runs under."""

    name: str
    command: str
    working_directory: str = "."
    timeout_s: float = Field(gt=0)
    cpu_s: int = Field(ge=1)
    memory_mb: int = Field(ge=64)
    max_file_mb: int = Field(ge=1)
    disk_mb: int = Field(ge=1)
    env: dict[str, str] = Field(default_factory=dict)
    log_name: str
    # Which checkout and virtual environment of the workspace the command runs in (a candidate has its own).
    checkout: str = REPO_DIR
    venv: str = VENV_DIR


class PhaseOutcome(BaseModel):
    exit_code: int | None
    duration_s: float
    limit: PhaseLimit | None = None
    output_tail: str = ""
    log_path: str = ""
    log_bytes: int = 0
    dropped_bytes: int = 0
    disk_mb: float = 0.0
    # What went wrong with the phase itself (its cell died, or printed no result), apart from the command.
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.exit_code == 0 and self.limit is None and self.error is None


# What every cell that runs a repository's commands starts with: its spec (a JSON literal), the command's
# environment, limits and a `run` that runs one command and says how it went.
COMMAND_PREAMBLE = r"""
import json, os, resource, select, signal, subprocess, sys, time
spec = json.loads(__SPEC__)
workspace = os.getcwd()
logs = os.path.join(workspace, "__LOGS__")
os.makedirs(logs, exist_ok=True)
os.makedirs(os.path.join(workspace, "__REPORTS__"), exist_ok=True)

def checkout_dir(checkout, working_directory):
    base = os.path.realpath(os.path.join(workspace, checkout))
    repo = os.path.realpath(os.path.join(base, working_directory))
    return repo if repo == base or repo.startswith(base + os.sep) else base  # nothing outside the checkout

def environment(checkout, venv):
    # Last, the folder of the interpreter that runs this cell: where the platform's own tools (uv) are, read-only.
    path = [os.path.join(workspace, venv, "bin"), os.path.join(workspace, checkout, "node_modules", ".bin"),
            "/usr/local/bin", "/usr/bin", "/bin", os.path.dirname(sys.executable)]
    env = {k: v for k, v in os.environ.items() if k in ("HOME", "TMPDIR", "LANG", "MPLCONFIGDIR")}
    env.update({"PATH": os.pathsep.join(path), "CI": "true", "AGENTLAB_WORKSPACE": workspace,
                "AGENTLAB_REPORTS": os.path.join(workspace, "__REPORTS__"), "NO_COLOR": "1", "FORCE_COLOR": "0",
                "PYTHONDONTWRITEBYTECODE": "1", "COREPACK_ENABLE_DOWNLOAD_PROMPT": "0"})
    # The machine's certificate store, where it has one, is the one installers trust (pip and npm bring their own
    # otherwise, which knows nothing of a registry mirror's or a proxy's authority).
    for bundle in ("/etc/ssl/certs/ca-certificates.crt", "/etc/pki/tls/certs/ca-bundle.crt"):
        if os.path.isfile(bundle):
            env.update({"PIP_CERT": bundle, "REQUESTS_CA_BUNDLE": bundle, "SSL_CERT_FILE": bundle,
                        "NODE_EXTRA_CA_CERTS": bundle, "UV_NATIVE_TLS": "1"})
            break
    if os.path.isdir(os.path.join(workspace, venv)):
        env["VIRTUAL_ENV"] = os.path.join(workspace, venv)
    env.update(spec["env"])
    return env

def lower(kind, value):
    soft, hard = resource.getrlimit(kind)
    if hard != resource.RLIM_INFINITY:
        value = min(value, hard)
    resource.setrlimit(kind, (value, value if hard == resource.RLIM_INFINITY else min(value, hard)))

def limits():
    lower(resource.RLIMIT_CPU, spec["cpu_s"])
    lower(resource.RLIMIT_FSIZE, spec["max_file_mb"] * 1024 * 1024)

PAGE = os.sysconf("SC_PAGE_SIZE")

# The resident memory of the command's processes (its session): address-space limits would stop Node.js, whose
# WebAssembly reserves tens of GB it never uses, so memory is measured as it is used.
def resident_bytes(session):
    total = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % entry) as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
            if int(fields[3]) == session:
                total += int(fields[21]) * PAGE
        except (OSError, IndexError, ValueError):
            continue
    return total

def run(command, cwd, env, log_path, timeout_s):
    started = time.monotonic()
    deadline = started + timeout_s
    tail = bytearray()
    written = dropped = 0
    timed_out = over_memory = False
    with open(log_path, "ab") as log:
        log.write(("$ " + command + "\n").encode())
        process = subprocess.Popen(["/bin/sh", "-c", command], cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True,
                                   preexec_fn=limits)
        fd = process.stdout.fileno()
        exited_at = None
        while True:
            now = time.monotonic()
            if now >= deadline:
                timed_out = True
                break
            if exited_at is None and process.poll() is not None:
                exited_at = now
            if exited_at is not None and now - exited_at > 2:
                break  # what the command left running still holds the pipe; it is killed below
            if resident_bytes(process.pid) > spec["memory_mb"] * 1024 * 1024:
                over_memory = True
                break
            ready, _, _ = select.select([fd], [], [], min(0.5, deadline - now))
            if not ready:
                continue
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            keep = max(0, min(len(chunk), __MAX_LOG__ - written))
            log.write(chunk[:keep])
            written += keep
            dropped += len(chunk) - keep
            tail += chunk
            del tail[:-__TAIL__]
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        code = process.wait()
        if dropped:
            log.write(("\n[%d bytes of output not kept]\n" % dropped).encode())
    limit = None
    signum = -code if code < 0 else (code - 128 if code > 128 else 0)
    if timed_out:
        limit = "timeout"
    elif over_memory:
        limit = "memory"
    elif signum == signal.SIGXCPU:
        limit = "cpu"
    elif signum == signal.SIGXFSZ:
        limit = "file_size"
    return {"exit_code": code, "duration_s": round(time.monotonic() - started, 6), "limit": limit,
            "output_tail": tail.decode("utf-8", "replace"), "log_path": os.path.relpath(log_path, workspace),
            "log_bytes": written, "dropped_bytes": dropped}

def workspace_mb():
    size = 0
    for root, dirs, files in os.walk(workspace):
        for name in files:
            try:
                size += os.lstat(os.path.join(root, name)).st_size
            except OSError:
                pass
    return size / 1048576
"""

# The cell that runs a phase: one command, then the workspace's size against the disk limit.
_RUNNER = (
    COMMAND_PREAMBLE
    + r"""
env = environment(spec["checkout"], spec["venv"])
npmrc = env.pop("AGENTLAB_NPMRC", None)
npmrc_path = os.path.join(env.get("HOME") or workspace, ".npmrc")
if npmrc:
    with open(os.open(npmrc_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as handle:
        handle.write(npmrc)
result = run(spec["command"], checkout_dir(spec["checkout"], spec["working_directory"]), env,
             os.path.join(logs, spec["log_name"]), spec["timeout_s"])
if npmrc:
    os.remove(npmrc_path)  # the registry token is the install's only
size = workspace_mb()
if result["limit"] is None and size > spec["disk_mb"]:
    result["limit"] = "disk"
result["disk_mb"] = round(size, 3)
print("__MARKER__" + json.dumps(result))
"""
)


def _fill(template: str, values: dict[str, Any]) -> str:
    for name, value in values.items():
        template = template.replace(f"__{name}__", str(value))
    return template


def runner_code(spec: PhaseSpec) -> str:
    """The cell that runs `spec`; its spec travels as a JSON string literal, never as code."""
    return _fill(
        _RUNNER,
        {
            "SPEC": json.dumps(spec.model_dump_json()),
            "REPO": REPO_DIR,
            "LOGS": LOGS_DIR,
            "REPORTS": REPORTS_DIR,
            "VENV": VENV_DIR,
            "MAX_LOG": MAX_LOG_BYTES,
            "TAIL": TAIL_BYTES,
            "MARKER": RESULT_MARKER,
        },
    )


_PREPARE = r"""
import json, os, subprocess, sys, tarfile
workspace = os.getcwd()
repo = os.path.join(workspace, "__REPO__")
os.makedirs(repo, exist_ok=True)
files = 0
with tarfile.open(os.path.join(workspace, "__TARBALL__"), "r:gz") as archive:
    for member in archive:
        if member.isdir() or member.isfile() or member.issym():
            archive.extract(member, repo, filter="data")
            files += member.isfile()
os.remove(os.path.join(workspace, "__TARBALL__"))
venv = None
if spec_python:
    venv = os.path.join(workspace, "__VENV__")
    done = subprocess.run([sys.executable, "-m", "venv", venv], capture_output=True, text=True, timeout=300)
    if done.returncode != 0:
        raise SystemExit("the virtual environment could not be made: " + done.stderr[-2000:])
print("__MARKER__" + json.dumps({"exit_code": 0, "duration_s": 0, "limit": None, "output_tail": "%d files" % files,
      "log_path": "", "log_bytes": 0, "dropped_bytes": 0, "disk_mb": 0}))
"""


def prepare_code(*, python: bool) -> str:
    """The cell that unpacks the checkout into `repo/` (tarfile's `data` filter: no absolute paths, no escaping
    links, no devices) and, for a Python repository, makes the virtual environment its commands run in."""
    code = _fill(
        _PREPARE,
        {
            "REPO": REPO_DIR,
            "TARBALL": SOURCE_TARBALL,
            "VENV": VENV_DIR,
            "MARKER": RESULT_MARKER,
        },
    )
    return f"spec_python = {python!r}\n{code}"


def parse_outcome(cell: CellResult) -> PhaseOutcome:
    """The phase's result from its cell's output; a cell that died or printed none is an outcome with `error`."""
    for line in reversed(cell.stdout.splitlines()):
        if line.startswith(RESULT_MARKER):
            try:
                return PhaseOutcome.model_validate(json.loads(line[len(RESULT_MARKER) :]))
            except ValueError:
                break
    limit: Literal["timeout", "cpu", "memory", "file_size", "output"] | None = None
    if cell.limit in ("timeout", "cpu", "memory", "file_size", "output"):
        limit = cell.limit
    reason = (cell.stderr or cell.stdout)[-TAIL_BYTES:]
    return PhaseOutcome(
        exit_code=None,
        duration_s=cell.duration_ms / 1000,
        limit=limit,
        output_tail=reason,
        error=f"the phase's cell ended without a result (exit {cell.exit_code})",
    )
