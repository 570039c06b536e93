"""What the critic reports, and the policy it judges code against."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Severity = Literal["info", "warning", "error"]
Verdict = Literal["pass", "warn", "block"]
Tool = Literal["ruff", "bandit", "policy", "syntax"]

# A module is forbidden together with everything under it ("ctypes" also covers "ctypes.util").
DEFAULT_FORBIDDEN_IMPORTS: tuple[str, ...] = (
    # processes and the kernel's own signal handling (timeouts rely on it)
    "subprocess",
    "_posixsubprocess",
    "multiprocessing",
    "_multiprocessing",
    "concurrent.futures.process",
    "asyncio.subprocess",
    "pty",
    "signal",
    "_signal",
    "posix",
    "nt",
    # native code
    "ctypes",
    "_ctypes",
    "cffi",
    "numpy.ctypeslib",
    # network: the sandbox has none, so these only hide intent
    "socket",
    "_socket",
    "ssl",
    "socketserver",
    "http.client",
    "http.server",
    "urllib.request",
    "urllib3",
    "requests",
    "httpx",
    "aiohttp",
    "ftplib",
    "telnetlib",
    "smtplib",
    "poplib",
    "imaplib",
    "nntplib",
    "xmlrpc",
    "paramiko",
    "webbrowser",
    # ways to run code that the critic never saw
    "builtins",
    "__builtin__",
    "marshal",
    "runpy",
    "code",
    "codeop",
    "zipimport",
    # the kernel's own machinery: its shell runs `!commands` and magics
    "ipykernel",
    "jupyter_client",
    "IPython.core.interactiveshell",
    "IPython.utils.process",
    "IPython.terminal",
)

# Dotted names (fnmatch patterns) that may not be referenced at all, called or not: `f = os.system` is as bad
# as calling it. Bare names ("eval") are the builtins.
DEFAULT_FORBIDDEN_CALLS: tuple[str, ...] = (
    "eval",
    "exec",
    "compile",
    "__import__",
    "get_ipython",
    "IPython.get_ipython",
    "IPython.core.getipython",
    "IPython.embed",
    "IPython.start_ipython",
    "IPython.start_kernel",
    "IPython.InteractiveShell",
    "os.system",
    "os.popen",
    "os.exec*",
    "os.spawn*",
    "os.posix_spawn*",
    "os.fork*",
    "os.kill*",
    "os.set*uid",
    "os.set*gid",
    "os.setgroups",
    "os.initgroups",
    "os.chroot",
    "os.unshare",
    "os.setns",
    "os.plock",
    "os.startfile",
    "pty.spawn",
    "pty.fork",
    "asyncio.create_subprocess_*",
    "asyncio.open_connection",
    "asyncio.open_unix_connection",
    "asyncio.start_server",
    "asyncio.start_unix_server",
    "concurrent.futures.ProcessPoolExecutor",
    "importlib.import_module",
    "importlib.__import__",
    "importlib.util.spec_from_file_location",
    "importlib.util.spec_from_loader",
    "importlib.util.module_from_spec",
    "importlib.machinery.*",
    # interpreter hooks and introspection that reach modules or frames the code never imported
    "sys.modules",
    "sys.meta_path",
    "sys.path_hooks",
    "sys.path_importer_cache",
    "sys.settrace",
    "sys.setprofile",
    "sys.addaudithook",
    "sys.monitoring",
    "sys.remote_exec",
    "sys._getframe",
    "sys._current_frames",
    "threading.settrace*",
    "threading.setprofile*",
    "gc.get_objects",
    "gc.get_referrers",
    "gc.get_referents",
    "inspect.currentframe",
    "inspect.stack",
    "inspect.trace",
    "inspect.getouterframes",
    "inspect.getinnerframes",
    "resource.setrlimit",
    "resource.prlimit",
    "logging.config.listen",
)

# Attribute names (and bare names, and string constants) that only sandbox escapes need.
DEFAULT_FORBIDDEN_ATTRIBUTES: tuple[str, ...] = (
    "__subclasses__",
    "__globals__",
    "__code__",
    "__builtins__",
    "__closure__",
    "__self__",
    "__loader__",
    "__import__",
    "__getattribute__",
    "f_globals",
    "f_locals",
    "f_builtins",
    "f_back",
    "f_code",
    "tb_frame",
    "gi_frame",
    "gi_code",
    "cr_frame",
    "cr_code",
    "ag_frame",
    "ag_code",
    "subprocess_exec",
    "subprocess_shell",
    "enable_load_extension",
    "load_extension",
)

# Reading these is allowed but worth telling the model about.
DEFAULT_SENSITIVE_PATH_PREFIXES: tuple[str, ...] = ("/proc", "/etc", "/dev", "/sys", "/root", "/var/run", "/run")

# Noise in an analysis cell: asserts, pseudo-random numbers and /tmp (private per sandbox) are fine there.
DEFAULT_IGNORED_CODES: tuple[str, ...] = ("B101", "S101", "B311", "S311", "B108", "S108")

# Reported, but never blocking: weak hashes are how analysis code checksums and deduplicates data.
DEFAULT_WARN_ONLY_CODES: tuple[str, ...] = ("B324", "S324")


class Finding(BaseModel):
    model_config = ConfigDict(frozen=True)

    tool: Tool
    code: str
    message: str
    line: int | None = None
    severity: Severity


class CriticPolicy(BaseModel):
    """What agent code may use. The defaults are the platform's policy; an agent may adjust the imports."""

    model_config = ConfigDict(extra="forbid")

    forbidden_imports: list[str] = Field(default_factory=lambda: list(DEFAULT_FORBIDDEN_IMPORTS))
    forbidden_calls: list[str] = Field(default_factory=lambda: list(DEFAULT_FORBIDDEN_CALLS))
    forbidden_attributes: list[str] = Field(default_factory=lambda: list(DEFAULT_FORBIDDEN_ATTRIBUTES))
    sensitive_path_prefixes: list[str] = Field(default_factory=lambda: list(DEFAULT_SENSITIVE_PATH_PREFIXES))
    ignored_codes: list[str] = Field(default_factory=lambda: list(DEFAULT_IGNORED_CODES))
    warn_only_codes: list[str] = Field(default_factory=lambda: list(DEFAULT_WARN_ONLY_CODES))
    block_severities: list[Severity] = ["error"]
    max_code_chars: int = Field(default=100_000, ge=1)

    def with_imports(self, *, allow: Iterable[str] = (), forbid: Iterable[str] = ()) -> CriticPolicy:
        """A copy where `allow` (and the modules under it) may be imported and `forbid` may not."""
        allowed = [name.strip() for name in allow if name.strip()]
        kept = [
            module
            for module in self.forbidden_imports
            if not any(module == parent or module.startswith(parent + ".") for parent in allowed)
        ]
        added = [name.strip() for name in forbid if name.strip() and name.strip() not in kept]
        return self.model_copy(update={"forbidden_imports": kept + added})

    def with_calls(self, *, allow: Iterable[str] = ()) -> CriticPolicy:
        """A copy where the calls (patterns) named in `allow` may be referenced."""
        allowed = {name.strip() for name in allow if name.strip()}
        return self.model_copy(update={"forbidden_calls": [c for c in self.forbidden_calls if c not in allowed]})


_FEEDBACK_LIMIT = 8


class Critique(BaseModel):
    verdict: Verdict
    findings: list[Finding]
    duration_ms: int

    def as_feedback(self) -> str:
        """A short note for the model: why the code was blocked or what to look at."""
        if self.verdict == "pass":
            return "Static check passed."
        relevant = [finding for finding in self.findings if finding.severity != "info"]
        relevant.sort(key=lambda finding: (finding.severity != "error", finding.line or 0))
        if self.verdict == "block":
            head = "Blocked by the static check, so not executed. Rewrite the code without these:"
        else:
            head = "The code may run, but the static check warns about:"
        lines = [head, *(_describe(finding) for finding in relevant[:_FEEDBACK_LIMIT])]
        if len(relevant) > _FEEDBACK_LIMIT:
            lines.append(f"- … and {len(relevant) - _FEEDBACK_LIMIT} more")
        return "\n".join(lines)


def _describe(finding: Finding) -> str:
    where = f"line {finding.line}" if finding.line is not None else "cell"
    return f"- {where}: [{finding.severity} {finding.tool} {finding.code}] {finding.message}"
