"""What a shell command line is for (install, test, lint, ...) and when two spellings are the same command.

CI scripts and Makefile recipes are free-form shell. They are never run; their words are read: runner prefixes
(`npx`, `uv run`, `python -m`, `VAR=1`) are peeled off to reach the tool, and the tool and its arguments say what the
line does (`tsc --noEmit` checks types, `tsc -p .` builds). Package-manager spellings are normalised
(`npm run test` is `npm test`, `pnpm run lint` is `pnpm lint`) so that a script also seen in CI is recognised.
"""

from __future__ import annotations

import posixpath
import re
import shlex

_EXPRESSION = re.compile(r"\$\{\{.*?\}\}")
_WORKSPACE = re.compile(r"\$\{\{\s*github\.workspace\s*\}\}|\$GITHUB_WORKSPACE|\$\{GITHUB_WORKSPACE\}")
_ENV_ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")
_NODE_MANAGERS = frozenset({"npm", "pnpm", "yarn", "bun"})
# Subcommands of pnpm/yarn that are not `run <script>` shorthands.
_MANAGER_BUILTINS = frozenset(
    {"add", "remove", "why", "info", "outdated", "upgrade", "update", "publish", "pack", "link", "config", "cache"}
)
_TEST_TOOLS = frozenset({"jest", "mocha", "ava", "tap", "playwright", "cypress", "unittest", "nose2", "ward"})
_TYPECHECK_TOOLS = frozenset({"mypy", "pyright", "basedpyright", "pytype", "vue-tsc"})
_LINT_TOOLS = frozenset({"eslint", "ruff", "flake8", "pylint", "biome", "oxlint", "stylelint", "xo", "standard"})
_CHECK_MODE_LINTERS = frozenset({"prettier", "black", "isort"})
_BUILD_TOOLS = frozenset({"webpack", "rollup", "esbuild", "tsup", "parcel", "build"})
_FRAMEWORK_CLIS = frozenset({"next", "vite", "nest", "nuxt", "astro", "remix"})
_PYTHON_PROGRAMS = frozenset({"python", "python3", "py"})
# `build:docs` and `test-storybook` build or test something else than the project's code.
_NOT_A_COMMAND_PART = frozenset({"doc", "docs", "storybook", "docker", "image"})
_SCRIPT_PREFIXES: tuple[tuple[str, str], ...] = (
    ("typecheck", "typecheck"),
    ("type-check", "typecheck"),
    ("check-types", "typecheck"),
    ("tsc", "typecheck"),
    ("bench", "bench"),
    ("perf", "bench"),
    ("test", "test"),
    ("lint", "lint"),
    ("build", "build"),
)


def shell_words(line: str) -> list[str]:
    """The words of a command line as a POSIX shell splits them; a plain split when the quoting is unbalanced."""
    try:
        return shlex.split(line, comments=True)
    except ValueError:
        return line.split()


def _without_env_assignments(words: list[str]) -> list[str]:
    index = 0
    while index < len(words) and _ENV_ASSIGNMENT.match(words[index]):
        index += 1
    if words[index : index + 1] == ["env"]:
        return _without_env_assignments(words[index + 1 :])
    return words[index:]


def _unwrap_runner(words: list[str]) -> list[str]:
    """The tool's words once `npx`, `pnpm exec`, `uv run`, `poetry run`, `python -m` and the like are removed."""
    while words:
        program = posixpath.basename(words[0])
        rest = words[1:]
        if program in {"npx", "bunx", "pnpx"}:
            words = [word for word in rest if word not in {"--yes", "-y", "--no-install", "--no"}]
        elif program == "npm" and rest[:1] == ["exec"]:
            words = [word for word in rest[1:] if word != "--"]
        elif (
            (program in {"pnpm", "yarn", "bun"} and rest[:1] in (["exec"], ["dlx"], ["x"]))
            or (program in {"uv", "poetry", "pipenv", "pdm", "hatch", "rye"} and rest[:1] == ["run"])
            or (program in _PYTHON_PROGRAMS and rest[:1] == ["-m"] and len(rest) > 1)
        ):
            words = rest[1:]
        else:
            return words
    return words


def script_name_command(script: str) -> str | None:
    """The command name a package.json script (or make target) called `script` serves, judged by its prefix."""
    lowered = script.lower()
    if _NOT_A_COMMAND_PART & set(re.split(r"[:_-]", lowered)):
        return None
    for prefix, name in _SCRIPT_PREFIXES:
        if lowered == prefix or lowered.startswith((f"{prefix}:", f"{prefix}-", f"{prefix}_")):
            return name
    if lowered in {"benchmark", "benchmarks", "tests", "unit"}:
        return "bench" if lowered.startswith("bench") else "test"
    return None


_TASK_NAMES = {
    "py": "test",
    "pytest": "test",
    "mypy": "typecheck",
    "pyright": "typecheck",
    "type": "typecheck",
    "types": "typecheck",
    "flake8": "lint",
    "ruff": "lint",
    "style": "lint",
    "pre-commit": "lint",
}


def task_name_command(task: str) -> str | None:
    """The command name a tox env, nox session or make target called `task` serves (`py312` and `mypy` included)."""
    lowered = task.lower()
    if re.fullmatch(r"py3?\d*", lowered):
        return "test"
    return _TASK_NAMES.get(lowered) or script_name_command(lowered)


def _positional(words: list[str]) -> list[str]:
    return [word for word in words if not word.startswith("-")]


def _classify_node_manager(program: str, rest: list[str]) -> str | None:
    positional = _positional(rest)
    if not positional:
        return "install" if program == "yarn" else None
    subcommand = positional[0]
    if subcommand == "ci" or (subcommand in {"install", "i"} and len(positional) == 1):
        return "install"
    if subcommand in {"test", "t"}:
        return "test"
    if subcommand in {"run", "run-script"} and len(positional) > 1:
        return script_name_command(positional[1])
    if program != "npm" and subcommand not in _MANAGER_BUILTINS:
        return script_name_command(subcommand)
    return None


def _classify_python_manager(program: str, rest: list[str]) -> str | None:
    positional = _positional(rest)
    if program in {"pip", "pip3"} and positional[:1] == ["install"]:
        # `pip install tox` prepares a tool; only installing the project itself is the install command
        project_markers = {"-e", "--editable", "-r", "--requirement"}
        if project_markers & set(rest) or any(word == "." or word.startswith((".[", "./")) for word in positional):
            return "install"
        return None
    if program == "uv" and positional[:1] == ["sync"]:
        return "install"
    if program == "uv" and positional[:2] == ["pip", "install"]:
        return _classify_python_manager("pip", rest[1:])
    if program == "poetry" and positional[:1] == ["install"]:
        return "install"
    if program in {"uv", "poetry", "hatch", "pdm"} and positional[:1] == ["build"]:
        return "build"
    return None


def _classify_tool(tool: str, rest: list[str]) -> str | None:
    if tool in {"pytest", "py.test"}:
        return "bench" if "--benchmark-only" in rest else "test"
    if tool in {"tox", "nox"}:
        environment = _option_value(rest, ("-e", "-s", "--session", "--sessions"))
        return task_name_command(environment) if environment else "test"
    if tool == "vitest":
        return "bench" if rest[:1] == ["bench"] else "test"
    if tool == "node" and "--test" in rest:
        return "test"
    if tool in _TEST_TOOLS:
        return "test"
    if tool == "tsc":
        return "typecheck" if "--noEmit" in rest else "build"
    if tool in _TYPECHECK_TOOLS:
        return "typecheck"
    if tool in _LINT_TOOLS or (tool in _CHECK_MODE_LINTERS and ("--check" in rest or "-c" in rest)):
        return "lint"
    if tool in _FRAMEWORK_CLIS:
        subcommand = (_positional(rest) or [""])[0]
        return {"build": "build", "lint": "lint"}.get(subcommand)
    if tool in _BUILD_TOOLS:
        return "build"
    if tool == "make":
        target = (_positional(rest) or [""])[0]
        return task_name_command(target) if target else None
    if tool in {"node", *_PYTHON_PROGRAMS}:
        script = (_positional(rest) or [""])[0]
        return "bench" if re.search(r"bench|perf", script, re.IGNORECASE) else None
    return None


def _option_value(words: list[str], options: tuple[str, ...]) -> str | None:
    for index, word in enumerate(words):
        if word in options and index + 1 < len(words):
            return words[index + 1]
        for option in options:
            if option.startswith("--") and word.startswith(f"{option}="):
                return word.split("=", 1)[1]
    return None


def classify_command_line(line: str) -> str | None:
    """The command name (one of COMMAND_NAMES) a shell line serves, or None when it serves none of them."""
    # `tox -e py${{ matrix.python }}` is still a test run: expressions are dropped before the words are read
    words = _without_env_assignments(shell_words(_EXPRESSION.sub("", line)))
    if not words:
        return None
    program = posixpath.basename(words[0])
    if program in _NODE_MANAGERS and words[1:2] not in (["exec"], ["dlx"], ["x"]):
        return _classify_node_manager(program, words[1:])
    if program in {"pip", "pip3", "uv", "poetry", "hatch", "pdm"} and words[1:2] != ["run"]:
        return _classify_python_manager(program, words[1:])
    if program in _PYTHON_PROGRAMS and words[1:3] == ["-m", "pip"]:
        return _classify_python_manager("pip", words[3:])
    tool_words = _unwrap_runner(words)
    if not tool_words:
        return None
    return _classify_tool(posixpath.basename(tool_words[0]), tool_words[1:])


def join_directory(base: str, relative: str) -> str:
    """A working directory relative to the repository root, normalised (`./app/../web` → `web`).

    CI spells the root `${{ github.workspace }}`; an absolute path, or one that would leave the root, is clamped to
    the root, since the commands are run from inside the tree and nowhere else.
    """
    relative = relative.strip()
    if _WORKSPACE.match(relative):
        base, relative = ".", _WORKSPACE.sub(".", relative, count=1)
    joined = posixpath.normpath(posixpath.join(base, relative))
    if joined in {"", "."} or joined.startswith(("/", "..")):
        return "."
    return joined


def is_static_directory(path: str) -> bool:
    """Whether a `cd` target or working directory is known before running (no variables other than the root)."""
    return "$" not in _WORKSPACE.sub(".", path) and not path.startswith("~")


def command_key(name: str, command: str, working_directory: str) -> tuple[str, ...]:
    """A key equal for two spellings of the same command, so that sightings in several places are merged."""
    words = _without_env_assignments(shell_words(command))
    if words[:3] in (["python", "-m", "pip"], ["python3", "-m", "pip"]):
        words = ["pip", *words[3:]]
    if words and words[0] in _NODE_MANAGERS:
        program, rest = words[0], words[1:]
        positional = _positional(rest)
        if name == "install":
            # `npm ci` and `npm install`, with or without --frozen-lockfile, install the same tree from the lockfile
            return (working_directory, program, "install")
        if positional[:1] in (["run"], ["run-script"]) and len(positional) > 1:
            script = positional[1]
            extra = rest[rest.index(script) + 1 :]
            words = [program, script, *extra]
        if words[1:2] == ["t"]:
            words = [program, "test", *words[2:]]
    if words and words[-1] == "--":
        words = words[:-1]
    return (working_directory, *words)
