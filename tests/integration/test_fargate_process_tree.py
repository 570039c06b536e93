"""The Fargate task's process tree, reproduced on this machine, holds no credential that user code can reach.

As in the container: the entrypoint is PID 1 of a pid namespace of its own with its own /proc (the task definition
keeps ECS's init out), running as an unprivileged uid like the image's 10001, and its environment holds what a task
with a task role would be given: AWS_CONTAINER_CREDENTIALS_RELATIVE_URI, a FULL_URI with its authorization token
pointing at a stand-in credentials endpoint (served here on 127.0.0.1, answering only the secret path), and access
keys. The host side drives it through the real channel (ECS is a stand-in that hands out 127.0.0.1 as the task's
address). Hostile cells then look everywhere a same-uid process can: every /proc/<pid>/environ, PID 1's environ,
cmdline, mem, maps, status and more, the memory of every process whose maps they can read, ptrace and pidfd_getfd,
the endpoint at its root and at every path they found, botocore's and boto3's credential chains, and the task's port.
None of the secret values, nor the secret path, may show up anywhere, the endpoint must never have served
credentials, and the chains must find nothing.

Needs root (a pid namespace and a uid switch; CI runs as root): skipped otherwise, with the reason.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import site
import socket
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from agentlab.sandbox.fargate import FargateSandboxBackend, FargateSandboxSession, FargateSandboxSettings
from agentlab.sandbox.models import CellResult, SandboxLimits
from agentlab.sandbox.uids import processes_of_uid
from agentlab.store.sandbox_sessions import SandboxSessionStore
from agentlab.store.schema import create_table_request
from agentlab.store.table import Table

ROOT = Path(__file__).resolve().parents[2]
TABLE = "agentlab-process-tree"
RUN_ID = "01JTREEAAAAAAAAAAAAAAAAAAA"
CONTAINER_UIDS = range(10001, 10100)  # the image's uid first
SYSTEM_PATH = "/usr/local/bin:/usr/bin:/bin"
PYTHONPATH = os.pathsep.join([*site.getsitepackages(), str(ROOT / "layers" / "core")])
STOP_WAIT_S = 30
LIMITS = SandboxLimits(cell_timeout_s=90, idle_timeout_s=300)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def as_uid(uid: int) -> list[str]:
    return ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups"]


def python_for(uid: int) -> str | None:
    """An interpreter the uid itself can start (the probe execs it from env, without root's capabilities) that
    imports the task server: this one's when its install is readable to everyone, else the system's same version."""
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    candidates = dict.fromkeys([sys.executable, os.path.realpath(sys.executable), f"/usr/bin/python{version}"])
    for candidate in candidates:
        probe = subprocess.run(
            [
                *as_uid(uid),
                "/usr/bin/env",
                f"PYTHONPATH={PYTHONPATH}",
                candidate,
                "-c",
                "import agentlab.sandbox.task_server",
            ],
            env={"PATH": SYSTEM_PATH},
            capture_output=True,
            timeout=120,
            check=False,
        )
        if probe.returncode == 0:
            return candidate
    return None


def unused_uid() -> int | None:
    return next((uid for uid in CONTAINER_UIDS if not processes_of_uid(uid)), None)


class TaskEnvironment:
    """The secrets a task with a task role would hold, and the stand-in endpoint that would hand out more."""

    def __init__(self) -> None:
        self.relative_uri = f"/v2/credentials/{secrets.token_hex(16)}"
        self.access_key_id = "ASIA" + secrets.token_hex(8).upper()
        self.secret_access_key = secrets.token_urlsafe(30)
        self.session_token = secrets.token_urlsafe(60)
        self.authorization_token = secrets.token_urlsafe(24)
        # What the endpoint would serve: yet other credentials.
        self.served_key_id = "ASIA" + secrets.token_hex(8).upper()
        self.served_secret = secrets.token_urlsafe(30)
        self.served_token = secrets.token_urlsafe(60)
        self.requests: list[str] = []
        self.served = 0
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.port = int(self._server.server_address[1])
        self.full_uri = f"http://127.0.0.1:{self.port}{self.relative_uri}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def secret_values(self) -> dict[str, str]:
        return {
            "secret path": self.relative_uri,
            "full uri": self.full_uri,
            "access key id": self.access_key_id,
            "secret access key": self.secret_access_key,
            "session token": self.session_token,
            "authorization token": self.authorization_token,
            "served key id": self.served_key_id,
            "served secret": self.served_secret,
            "served token": self.served_token,
        }

    def variables(self) -> dict[str, str]:
        return {
            "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI": self.relative_uri,
            "AWS_CONTAINER_CREDENTIALS_FULL_URI": self.full_uri,
            "AWS_CONTAINER_AUTHORIZATION_TOKEN": self.authorization_token,
            "AWS_ACCESS_KEY_ID": self.access_key_id,
            "AWS_SECRET_ACCESS_KEY": self.secret_access_key,
            "AWS_SESSION_TOKEN": self.session_token,
            "AWS_REGION": "us-east-1",
        }

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        environment = self

        class CredentialsEndpoint(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                environment.requests.append(self.path)
                if self.path != environment.relative_uri:
                    self.send_error(404)
                    return
                environment.served += 1
                body = json.dumps(
                    {
                        "AccessKeyId": environment.served_key_id,
                        "SecretAccessKey": environment.served_secret,
                        "Token": environment.served_token,
                        "Expiration": "2099-01-01T00:00:00Z",
                    }
                ).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                return

        return CredentialsEndpoint


class NamespaceEcs:
    """RunTask starts the entrypoint as PID 1 of a new pid namespace, as the container's uid; StopTask sends SIGTERM
    to that PID 1, as ECS does to a container."""

    def __init__(self, *, uid: int, python: str, root: Path, port: int, task_env: dict[str, str]) -> None:
        self.uid = uid
        self.python = python
        self.root = root
        self.port = port
        self.task_env = task_env
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self.logs: dict[str, Path] = {}

    def run_task(self, **kwargs: Any) -> dict[str, Any]:
        arn = f"arn:aws:ecs:us-east-1:123456789012:task/sandbox/{len(self.processes) + 1}"
        overrides = kwargs["overrides"]["containerOverrides"][0]["environment"]
        env = {
            "PATH": SYSTEM_PATH,
            "PYTHONPATH": PYTHONPATH,
            **self.task_env,
            **{item["name"]: item["value"] for item in overrides},
            "AGENTLAB_SANDBOX_ROOT": str(self.root / "sandbox"),
            "AGENTLAB_SANDBOX_HOST": "127.0.0.1",
            "AGENTLAB_SANDBOX_PORT": str(self.port),
        }
        command = [
            "unshare",
            "--pid",
            "--fork",
            "--mount-proc",
            "--kill-child",
            *as_uid(self.uid),
            self.python,
            "-m",
            "agentlab.sandbox.task_entrypoint",
        ]
        log = self.root.parent / f"task-{len(self.processes) + 1}.log"
        with log.open("wb") as output:
            self.processes[arn] = subprocess.Popen(command, env=env, stdout=output, stderr=subprocess.STDOUT)
        self.logs[arn] = log
        return {"tasks": [{"taskArn": arn, "lastStatus": "PROVISIONING"}], "failures": []}

    def describe_tasks(self, *, cluster: str, tasks: list[str]) -> dict[str, Any]:
        return {"tasks": [self._describe(arn) for arn in tasks if arn in self.processes]}

    def list_tasks(self, *, cluster: str, startedBy: str, desiredStatus: str) -> dict[str, Any]:
        return {"taskArns": [arn for arn, process in self.processes.items() if process.poll() is None]}

    def stop_task(self, *, cluster: str, task: str, reason: str) -> dict[str, Any]:
        process = self.processes[task]
        init = self.init_pid(task)
        if init is not None:
            os.kill(init, signal.SIGTERM)
        try:
            process.wait(STOP_WAIT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        return {"task": self._describe(task)}

    def init_pid(self, arn: str) -> int | None:
        """The host pid of the namespace's PID 1: the child unshare forked."""
        unshare = self.processes[arn].pid
        try:
            children = Path(f"/proc/{unshare}/task/{unshare}/children").read_text().split()
        except OSError:
            return None
        return int(children[0]) if children else None

    def close(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.kill()
                process.wait()

    def _describe(self, arn: str) -> dict[str, Any]:
        running = self.processes[arn].poll() is None
        return {
            "taskArn": arn,
            "lastStatus": "RUNNING" if running else "STOPPED",
            "attachments": [
                {"type": "ElasticNetworkInterface", "details": [{"name": "privateIPv4Address", "value": "127.0.0.1"}]}
            ],
        }


class Tree:
    def __init__(self, ecs: NamespaceEcs, backend: FargateSandboxBackend, environment: TaskEnvironment) -> None:
        self.ecs = ecs
        self.backend = backend
        self.environment = environment

    def session(self) -> FargateSandboxSession:
        return self.backend.session(RUN_ID, LIMITS, {"RUN_VARIABLE": "the run's own, for its cells"})


@pytest.fixture
def tree() -> Iterator[Tree]:
    if os.geteuid() != 0:
        pytest.skip("reproducing the container's process tree needs root (a pid namespace and a uid switch)")
    for tool in ("unshare", "setpriv"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} (util-linux) is not installed")
    probe = subprocess.run(
        ["unshare", "--pid", "--fork", "--mount-proc", "true"], capture_output=True, text=True, check=False
    )
    if probe.returncode != 0:
        pytest.skip(f"this machine cannot make a pid namespace: {probe.stderr.strip()}")
    uid = unused_uid()
    if uid is None:
        pytest.skip(f"no unused uid in {CONTAINER_UIDS.start}..{CONTAINER_UIDS.stop - 1}")
    python = python_for(uid)
    if python is None:
        pytest.skip(f"no Python {sys.version_info.major}.{sys.version_info.minor} that uid {uid} may run")
    # The task's scratch volume, owned by the container's uid (pytest's own directories are closed to other uids).
    root = Path(tempfile.mkdtemp(prefix="agentlab-tree-"))
    root.chmod(0o755)
    scratch = root / "scratch"
    scratch.mkdir(mode=0o700)
    os.chown(scratch, uid, uid)
    environment = TaskEnvironment()
    ecs = NamespaceEcs(uid=uid, python=python, root=scratch, port=free_port(), task_env=environment.variables())
    settings = FargateSandboxSettings(
        cluster_arn="arn:cluster",
        task_definition_arn="arn:td:1",
        subnets=["subnet-a"],
        security_groups=["sg-task"],
        task_port=ecs.port,
        start_timeout_s=120,
        start_poll_s=0.05,
    )
    with mock_aws():
        dynamodb = boto3.client("dynamodb", region_name="us-east-1")
        dynamodb.create_table(**create_table_request(TABLE))
        sessions = SandboxSessionStore(Table(lambda: dynamodb, TABLE))
        try:
            yield Tree(ecs, FargateSandboxBackend(lambda: ecs, sessions, settings), environment)
        finally:
            ecs.close()
            environment.close()
            for pid in processes_of_uid(uid):
                os.kill(pid, signal.SIGKILL)
            shutil.rmtree(root, ignore_errors=True)


PROC_WALK = r"""
import os, re
LOOT = 'loot'
os.makedirs(LOOT, exist_ok=True)
FILES = ('environ', 'cmdline', 'status', 'stat', 'maps', 'smaps', 'mem', 'auxv', 'stack', 'syscall', 'io',
         'limits', 'mountinfo', 'personality', 'sched', 'wchan', 'cwd/.', 'root/proc/1/environ')
LINKS = ('exe', 'cwd', 'root')
loot = open(os.path.join(LOOT, 'proc.bin'), 'wb')
def attempt(path):
    try:
        with open(path, 'rb') as file:
            return file.read(1 << 20)
    except OSError as exc:
        return exc
pids = sorted(int(name) for name in os.listdir('/proc') if name.isdigit())
print('PIDS', pids, 'SELF', os.getpid(), 'PARENT', os.getppid())
for pid in pids:
    places = [f'/proc/{pid}/{name}' for name in FILES]
    try:
        places += [f'/proc/{pid}/task/{tid}/environ' for tid in os.listdir(f'/proc/{pid}/task')]
    except OSError as exc:
        print('DENIED', pid, 'task', type(exc).__name__)
    for place in places:
        got = attempt(place)
        if isinstance(got, bytes):
            loot.write(place.encode() + b'\n' + got + b'\n')
            print('READ', place, len(got))
        else:
            print('DENIED', place, type(got).__name__)
    for name in LINKS:
        try:
            print('LINK', pid, name, os.readlink(f'/proc/{pid}/{name}'))
        except OSError as exc:
            print('DENIED', f'/proc/{pid}/{name}', type(exc).__name__)
    try:
        print('FDS', pid, os.listdir(f'/proc/{pid}/fd'))
    except OSError as exc:
        print('DENIED', f'/proc/{pid}/fd', type(exc).__name__)
    # Every process whose maps are readable: its writable memory, where an environment and a heap live.
    maps = attempt(f'/proc/{pid}/maps')
    if isinstance(maps, bytes):
        try:
            memory = open(f'/proc/{pid}/mem', 'rb')
        except OSError as exc:
            print('DENIED', f'/proc/{pid}/mem', type(exc).__name__)
            continue
        taken = 0
        for line in maps.decode().splitlines():
            span, perms = line.split()[:2]
            if 'r' not in perms or 'w' not in perms or taken > 256 << 20:
                continue
            start, end = (int(part, 16) for part in span.split('-'))
            for offset in range(start, end, 4 << 20):
                try:
                    memory.seek(offset)
                    chunk = memory.read(min(4 << 20, end - offset))
                except (OSError, OverflowError, ValueError):
                    break
                taken += len(chunk)
                for match in re.findall(rb'(?:AWS|AGENTLAB|ECS)_[A-Z_]+=[^\x00]{0,400}|credentials/[\w-]+', chunk):
                    loot.write(match + b'\n')
        print('MEMORY', pid, taken)
# PID 1's environment region, by the addresses /proc/1/stat gives (zeros unless it may be traced).
fields = open('/proc/1/stat').read().rpartition(')')[2].split()
print('PID1 ENV SPAN', fields[-5:-3])
loot.close()
"""

TRACE_AND_STEAL = r"""
import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
PTRACE_ATTACH, PTRACE_SEIZE, PTRACE_DETACH = 16, 0x4206, 17
SYS_PIDFD_OPEN, SYS_PIDFD_GETFD = 434, 438
class IoVec(ctypes.Structure):
    _fields_ = [('base', ctypes.c_void_p), ('length', ctypes.c_size_t)]
buffer = ctypes.create_string_buffer(4096)
for pid in sorted({1, os.getppid()}):
    for request in (PTRACE_ATTACH, PTRACE_SEIZE):
        result = libc.ptrace(request, pid, None, None)
        print('PTRACE', pid, request, result, ctypes.get_errno())
        if result == 0:
            libc.ptrace(PTRACE_DETACH, pid, None, None)
    local, remote = IoVec(ctypes.addressof(buffer), 4096), IoVec(0x400000, 4096)
    print('VM_READV', pid, libc.process_vm_readv(pid, ctypes.byref(local), 1, ctypes.byref(remote), 1, 0),
          ctypes.get_errno())
    pidfd = libc.syscall(SYS_PIDFD_OPEN, pid, 0)
    stolen = [fd for fd in range(64) if pidfd >= 0 and libc.syscall(SYS_PIDFD_GETFD, pidfd, fd, 0) >= 0]
    print('PIDFD', pid, pidfd >= 0, 'STOLEN FDS', stolen)
"""

ENDPOINT_AND_CHAINS = r"""
import json, os, re, sys, urllib.request, urllib.error
print('KERNEL ENVIRONMENT', json.dumps(dict(os.environ), sort_keys=True))
found = set()
for name in os.listdir('/proc'):
    for part in ('environ', 'cmdline', 'status'):
        try:
            found.update(re.findall(rb'/v2/credentials/[\w-]+', open(f'/proc/{name}/{part}', 'rb').read()))
        except OSError:
            pass
try:
    found.update(re.findall(rb'/v2/credentials/[\w-]+', open('loot/proc.bin', 'rb').read()))
except OSError:
    pass
guesses = ['/', '/v2/credentials', '/v2/credentials/', '/v2/metadata', '/v3', '/v4', '/creds',
           '/latest/meta-data/iam/security-credentials/', *sorted(path.decode() for path in found)]
for path in guesses:
    try:
        with urllib.request.urlopen(f'http://127.0.0.1:ENDPOINT_PORT{path}', timeout=5) as answer:
            print('ENDPOINT', path, answer.status, answer.read()[:2000])
    except urllib.error.HTTPError as exc:
        print('ENDPOINT', path, exc.code)
    except OSError as exc:
        print('ENDPOINT', path, type(exc).__name__)
# Fargate has no instance metadata service; the probe keeps to the chains' other providers.
os.environ['AWS_EC2_METADATA_DISABLED'] = 'true'
try:
    import botocore.session
except ImportError:
    sys.path.extend(SITE_PACKAGES)
    import botocore.session
credentials = botocore.session.get_session().get_credentials()
print('CHAIN', None if credentials is None else credentials.get_frozen_credentials())
try:
    import boto3
except ImportError:
    sys.path.extend(SITE_PACKAGES)
    import boto3
print('BOTO3 CHAIN', boto3.Session().get_credentials())
"""

TAKE_THE_PORT = r"""
import socket, urllib.request, urllib.error
for host in ('127.0.0.1', '0.0.0.0'):
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    try:
        listener.bind((host, TASK_PORT))
        listener.listen()
        print('BOUND', host)
    except OSError as exc:
        print('BIND REFUSED', host, exc.errno)
    listener.close()
for path in ('/health', '/files'):
    try:
        urllib.request.urlopen(f'http://127.0.0.1:TASK_PORT{path}', timeout=5)
        print('SERVER ANSWERED', path)
    except urllib.error.HTTPError as exc:
        print('SERVER', path, exc.code)
"""

ORPHAN_A_ZOMBIE = r"""
import os, time
child = os.fork()
if child == 0:
    if os.fork() == 0:
        time.sleep(0.3)
        os._exit(0)
    os._exit(0)
os.waitpid(child, 0)
time.sleep(1.5)
def state(pid):
    return open(f'/proc/{pid}/stat').read().rpartition(')')[2].split()[0]
print('ZOMBIES', [name for name in os.listdir('/proc') if name.isdigit() and state(name) == 'Z'])
"""


def outputs(results: list[CellResult], session: FargateSandboxSession) -> str:
    """Everything the cells produced: their output and every file they left in the workspace."""
    text = [result.stdout + "\n" + result.stderr for result in results]
    for file in session.list_files():
        text.append(file.path + "\n" + session.read_file(file.path).decode(errors="replace"))
    return "\n".join(text)


def test_hostile_cells_find_no_credential_in_the_task(tree: Tree) -> None:
    session = tree.session()
    (arn,) = tree.ecs.processes
    init = tree.ecs.init_pid(arn)
    assert init is not None
    # The secrets are really there, in PID 1's environment, for anyone allowed to read it (root, outside).
    pid1_environment = Path(f"/proc/{init}/environ").read_bytes()
    assert tree.environment.session_token.encode() in pid1_environment

    cells = [
        PROC_WALK,
        TRACE_AND_STEAL,
        ENDPOINT_AND_CHAINS.replace("ENDPOINT_PORT", str(tree.environment.port)).replace(
            "SITE_PACKAGES", repr(site.getsitepackages())
        ),
        TAKE_THE_PORT.replace("TASK_PORT", str(tree.ecs.port)),
    ]
    results = [session.execute(cell) for cell in cells]
    results.append(session.check(PROC_WALK))
    seen = outputs(results, session)

    for result in results:
        assert result.exit_code == 0, result.stderr
    for name, value in tree.environment.secret_values().items():
        assert value not in seen, f"the {name} reached user code"
    record = tree.backend.sessions.get(RUN_ID)
    assert record is not None and record.token not in seen, "the task's bearer token reached user code"
    assert tree.environment.served == 0, "the credentials endpoint served credentials"
    assert tree.environment.relative_uri not in tree.environment.requests
    assert "ENDPOINT / 404" in seen, "the endpoint was called, and answered nothing"
    assert "CHAIN None" in seen and "BOTO3 CHAIN None" in seen, "a credential chain found something"
    # The probes ran and were refused where it matters, not skipped.
    walk = results[0].stdout
    assert "PIDS [1," in walk
    assert "DENIED /proc/1/environ PermissionError" in walk
    assert "DENIED /proc/1/mem PermissionError" in walk
    assert "DENIED /proc/1/maps PermissionError" in walk
    assert "READ /proc/1/status" in walk and "READ /proc/1/cmdline" in walk
    server = int(walk.split("PARENT ", 1)[1].split()[0])
    assert f"DENIED /proc/{server}/environ PermissionError" in walk, "the kernel server is inspectable"
    assert "PTRACE 1 16 -1 1" in results[1].stdout, "PID 1 can be traced"
    assert f"PTRACE {server} 16 -1 1" in results[1].stdout, "the kernel server can be traced"
    for pid in (1, server):
        assert f"PIDFD {pid} True STOLEN FDS []" in results[1].stdout, f"file descriptors of {pid} can be taken"
    assert "BOUND" not in results[3].stdout, "another process of the uid took the task's port"
    assert "SERVER /health 401" in results[3].stdout


def test_init_reaps_orphans_keeps_kernel_deaths_exact_and_the_check_runs_frozen_away_from_strays(tree: Tree) -> None:
    session = tree.session()

    orphans = session.execute(ORPHAN_A_ZOMBIE)
    crash = session.execute("import os, signal\nos.kill(os.getpid(), signal.SIGSEGV)\n")
    stray = session.execute(
        "import subprocess, sys\n"
        "writer = subprocess.Popen([sys.executable, '-c', 'import time\\nn = 0\\nwhile True:\\n"
        '    n += 1\\n    open("counter.txt", "w").write(str(n))\\n    time.sleep(0.005)\\n\'],'
        " start_new_session=True)\n"
        "import time\ntime.sleep(0.5)\n"
    )
    still = session.check(
        "import sys, time\nfirst = open('counter.txt').read()\ntime.sleep(0.5)\n"
        "sys.exit(0 if first == open('counter.txt').read() else 1)\n"
    )
    moving = session.execute(
        "import time\nfirst = open('counter.txt').read()\ntime.sleep(0.5)\nprint(first != open('counter.txt').read())\n"
    )

    assert orphans.exit_code == 0, orphans.stderr
    assert "ZOMBIES []" in orphans.stdout, "an orphan was left a zombie: PID 1 does not reap"
    # The server, not init, collects its kernel's status: what killed the kernel is reported as it was.
    assert crash.kernel_restarted
    assert "killed by SIGSEGV" in crash.stderr
    assert stray.exit_code == 0, stray.stderr
    assert still.exit_code == 0, "a stray process of the agent ran during the goal check"
    assert moving.stdout == "True\n", "the agent's processes were not thawed after the check"

    (arn,) = tree.ecs.processes
    tree.backend.end(RUN_ID)

    assert tree.ecs.processes[arn].returncode == 0, tree.ecs.logs[arn].read_text()[-3000:]
    assert not processes_of_uid(tree.ecs.uid), "processes of the task outlived it"
