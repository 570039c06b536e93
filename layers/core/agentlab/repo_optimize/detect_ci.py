"""GitHub Actions workflows: the `run:` steps CI executes, classified into command names, with their lines.

Workflows are composed with PyYAML's safe loader (`yaml.compose(..., Loader=yaml.SafeLoader)`), which keeps each
node's position and constructs no Python objects, so tags cannot run code. Walking the node tree by hand means:
merge keys (`<<: *defaults`) are applied here; aliases are shared nodes and cost nothing; and the trigger key is
matched by its text, because YAML 1.1 reads a bare `on` as the boolean True (`safe_load` would give `{True: ...}`).

A `run:` script is one shell script, so a bare `cd web` moves every later line, and `&&`, `||`, `;` and `|` separate
commands. The step's `working-directory`, else the job's `defaults.run.working-directory`, else the workflow's, is
where a script starts; a composite action's steps start at the repository root, as on a runner.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import yaml

from agentlab.repo_optimize.detect_commands import (
    classify_command_line,
    is_static_directory,
    join_directory,
    shell_words,
)
from agentlab.repo_optimize.detect_files import RepoFiles, describe_yaml_error
from agentlab.repo_optimize.detect_models import (
    CI_CONFIDENCE,
    CI_MATRIX_CONFIDENCE,
    CommandCandidate,
    Evidence,
    Language,
    PackageManager,
)

WORKFLOWS_DIRECTORY = ".github/workflows"
_MERGE_TAG = "tag:yaml.org,2002:merge"
_CI_TRIGGERS = frozenset({"push", "pull_request", "pull_request_target", "merge_group", "workflow_call"})
_NOT_CI_PENALTY = 0.1
_MAX_ACTION_DEPTH = 3
_MAX_MERGE_DEPTH = 8
_MATRIX_EXPRESSION = re.compile(r"\$\{\{\s*matrix\.")
_SEGMENT_SEPARATOR = re.compile(r"&&|\|\||;|\|")
_INSTALLERS: dict[str, PackageManager] = {
    "npm": "npm",
    "pnpm": "pnpm",
    "yarn": "yarn",
    "pip": "pip",
    "pip3": "pip",
    "uv": "uv",
    "poetry": "poetry",
}
_NODE_PROGRAMS = frozenset({"npm", "npx", "pnpm", "yarn", "node", "tsc", "eslint", "vitest", "jest"})
_PYTHON_PROGRAMS = frozenset(
    {"pip", "pip3", "python", "python3", "pytest", "uv", "poetry", "tox", "nox", "ruff", "mypy"}
)


@dataclass
class CiFindings:
    """Command candidates from CI, and what CI hints about the language and package manager."""

    candidates: list[CommandCandidate] = field(default_factory=list)
    language_hints: list[Language] = field(default_factory=list)
    manager_hints: list[tuple[PackageManager, Evidence]] = field(default_factory=list)


def mapping_get(node: yaml.Node | None, key: str, depth: int = 0) -> yaml.Node | None:
    """The value of `key` in a mapping node (keys compared as written), merge keys (`<<`) included."""
    if not isinstance(node, yaml.MappingNode) or depth > _MAX_MERGE_DEPTH:
        return None
    merged: list[yaml.Node] = []
    for key_node, value_node in node.value:
        if key_node.tag == _MERGE_TAG:
            merged.extend(value_node.value if isinstance(value_node, yaml.SequenceNode) else [value_node])
        elif isinstance(key_node, yaml.ScalarNode) and key_node.value == key:
            return value_node
    for source in merged:
        found = mapping_get(source, key, depth + 1)
        if found is not None:
            return found
    return None


def mapping_items(node: yaml.Node | None, depth: int = 0) -> list[tuple[str, yaml.Node]]:
    """A mapping node's (key, value) pairs in order, merge keys applied (an explicit key wins over a merged one)."""
    if not isinstance(node, yaml.MappingNode) or depth > _MAX_MERGE_DEPTH:
        return []
    items: list[tuple[str, yaml.Node]] = []
    merged: list[tuple[str, yaml.Node]] = []
    for key_node, value_node in node.value:
        if key_node.tag == _MERGE_TAG:
            for source in value_node.value if isinstance(value_node, yaml.SequenceNode) else [value_node]:
                merged.extend(mapping_items(source, depth + 1))
        elif isinstance(key_node, yaml.ScalarNode):
            items.append((str(key_node.value), value_node))
    explicit = {key for key, _ in items}
    items.extend((key, value) for key, value in merged if key not in explicit)
    return items


def scalar_text(node: yaml.Node | None) -> str | None:
    return str(node.value) if isinstance(node, yaml.ScalarNode) else None


def _sequence(node: yaml.Node | None) -> list[yaml.Node]:
    return list(node.value) if isinstance(node, yaml.SequenceNode) else []


def compose_yaml(files: RepoFiles, path: str) -> yaml.Node | None:
    """The composed document at `path`, or None (with a note) when it is missing or not valid YAML."""
    text = files.read_text(path)
    if text is None:
        return None
    try:
        return yaml.compose(text, Loader=yaml.SafeLoader)
    except RecursionError:
        files.note(f"{path} is nested too deeply to read; it was skipped")
        return None
    except yaml.YAMLError as exc:
        files.note(f"{path} is not valid YAML ({describe_yaml_error(exc)}); it was skipped")
        return None


def script_lines(node: yaml.ScalarNode) -> list[tuple[int, str]]:
    """The logical lines of a `run:` script with their 1-based lines in the file (continuations joined)."""
    first_line = node.start_mark.line + 1
    if node.style == "|":
        first_line += 1
    elif node.style == ">" or "\n" not in node.value:
        return [(first_line + (1 if node.style == ">" else 0), " ".join(node.value.split()))]
    lines: list[tuple[int, str]] = []
    pending: tuple[int, str] | None = None
    for offset, raw in enumerate(node.value.split("\n")):
        text = raw.strip()
        if pending is not None:
            line, text = pending[0], f"{pending[1]} {text}".strip()
            pending = None
        else:
            line = first_line + offset
        if text.endswith("\\"):
            pending = (line, text[:-1].strip())
            continue
        if text and not text.startswith("#"):
            lines.append((line, text))
    if pending is not None and pending[1]:
        lines.append(pending)
    return lines


def _segments(text: str) -> list[str]:
    """The commands of one shell line; a separator inside quotes is left alone."""
    segments: list[str] = []
    current: list[str] = []
    quote = ""
    index = 0
    while index < len(text):
        character = text[index]
        if quote:
            quote = "" if character == quote else quote
        elif character in "\"'":
            quote = character
        else:
            match = _SEGMENT_SEPARATOR.match(text, index)
            if match is not None:
                segments.append("".join(current).strip())
                current = []
                index = match.end()
                continue
        current.append(character)
        index += 1
    segments.append("".join(current).strip())
    return [segment for segment in segments if segment]


def _cd_target(segment: str) -> str | None:
    words = shell_words(segment)
    if len(words) == 2 and words[0] == "cd":
        return words[1]
    return None


@dataclass
class _StepContext:
    """Where a step's script is, for evidence, and where it starts running."""

    file: str
    where: str
    working_directory: str
    lower_confidence: float = 0.0


class _WorkflowReader:
    """Reads every workflow (and the composite actions they use) of one repository into `CiFindings`."""

    def __init__(self, files: RepoFiles) -> None:
        self.files = files
        self.findings = CiFindings()

    def read_script(self, run: yaml.Node, context: _StepContext) -> None:
        if not isinstance(run, yaml.ScalarNode):
            return
        directory = context.working_directory
        for line, text in script_lines(run):
            for segment in _segments(text):
                target = _cd_target(segment)
                if target is not None:
                    if is_static_directory(target):
                        directory = join_directory(directory, target)
                    continue
                self._classify(segment, line, directory, context)

    def _classify(self, segment: str, line: int, directory: str, context: _StepContext) -> None:
        program = (shell_words(segment) or [""])[0]
        if program in _NODE_PROGRAMS:
            self.findings.language_hints.append("node")
        elif program in _PYTHON_PROGRAMS:
            self.findings.language_hints.append("python")
        name = classify_command_line(segment)
        if name is None:
            return
        evidence = Evidence(file=context.file, line=line, detail=f"{context.where}: {segment}")
        confidence = CI_CONFIDENCE
        if _MATRIX_EXPRESSION.search(segment) or _MATRIX_EXPRESSION.search(directory):
            confidence = CI_MATRIX_CONFIDENCE
            self.files.note(f"{context.file} line {line}: `{segment}` depends on the matrix; confidence lowered")
        confidence = round(confidence - context.lower_confidence, 2)
        self.findings.candidates.append(
            CommandCandidate(name, segment, confidence, [evidence], "ci", directory, from_ci=True)
        )
        manager = _INSTALLERS.get(program)
        if name == "install" and manager is not None:
            self.findings.manager_hints.append((manager, evidence))

    def read_steps(self, steps: yaml.Node | None, file: str, where: str, start: str, lower: float, depth: int) -> None:
        for index, step in enumerate(_sequence(steps)):
            step_where = f"{where}[{index}]"
            uses = scalar_text(mapping_get(step, "uses"))
            if uses is not None:
                self._read_uses(uses, file, step_where, lower, depth)
            directory = scalar_text(mapping_get(step, "working-directory"))
            run = mapping_get(step, "run")
            if run is not None:
                working_directory = join_directory(".", directory) if directory else start
                self.read_script(run, _StepContext(file, f"{step_where}.run", working_directory, lower))

    def _read_uses(self, uses: str, file: str, where: str, lower: float, depth: int) -> None:
        if uses.startswith("actions/setup-node") or uses.startswith("pnpm/action-setup"):
            self.findings.language_hints.append("node")
        elif uses.startswith("actions/setup-python") or uses.startswith("astral-sh/setup-uv"):
            self.findings.language_hints.append("python")
        if not uses.startswith("./"):
            return
        folder = uses[2:].rstrip("/")
        action_file = next(
            (f"{folder}/{name}" for name in ("action.yml", "action.yaml") if self.files.is_file(f"{folder}/{name}")),
            None,
        )
        if action_file is None:
            self.files.note(f"{file} {where} uses {uses}, which has no action.yml in the repository")
            return
        if depth >= _MAX_ACTION_DEPTH:
            self.files.note(f"{action_file} is nested too deeply in local actions; not read")
            return
        document = compose_yaml(self.files, action_file)
        runs = mapping_get(document, "runs")
        using = scalar_text(mapping_get(runs, "using"))
        if using != "composite":
            self.files.note(f"{file} {where} uses local action {uses} (runs using {using}); its code was not read")
            return
        self.files.note(f"{file} {where} uses composite action {uses}; the run steps of {action_file} were read")
        self.read_steps(mapping_get(runs, "steps"), action_file, "runs.steps", ".", lower, depth + 1)

    def _triggers(self, document: yaml.Node) -> set[str]:
        # a bare `on` is the boolean True in YAML 1.1; it is matched here by its text, as GitHub does
        triggers = mapping_get(document, "on")
        if triggers is None:
            triggers = mapping_get(document, "true") or mapping_get(document, "True")
        if isinstance(triggers, yaml.ScalarNode):
            return {str(triggers.value)}
        if isinstance(triggers, yaml.SequenceNode):
            return {str(item.value) for item in triggers.value if isinstance(item, yaml.ScalarNode)}
        return {key for key, _ in mapping_items(triggers)}

    def _matrix_note(self, file: str, job: str, matrix: yaml.Node) -> None:
        if isinstance(matrix, yaml.ScalarNode):
            self.files.note(f"{file} job {job} runs a matrix computed at run time ({matrix.value})")
            return
        axes = []
        for key, value in mapping_items(matrix):
            values = [str(item.value) for item in _sequence(value) if isinstance(item, yaml.ScalarNode)]
            axes.append(f"{key} ({', '.join(values)})" if values else key)
        self.files.note(f"{file} job {job} runs a matrix over {'; '.join(axes)}; its commands were read once")

    def read_workflow(self, file: str) -> None:
        document = compose_yaml(self.files, file)
        if document is None:
            return
        if not isinstance(document, yaml.MappingNode):
            self.files.note(f"{file} is not a mapping of workflow keys; it was skipped")
            return
        triggers = self._triggers(document)
        lower = 0.0
        if triggers and not triggers & _CI_TRIGGERS:
            lower = _NOT_CI_PENALTY
            self.files.note(f"{file} runs only on {', '.join(sorted(triggers))}; its commands count for less")
        workflow_directory = scalar_text(
            mapping_get(mapping_get(mapping_get(document, "defaults"), "run"), "working-directory")
        )
        for job, body in mapping_items(mapping_get(document, "jobs")):
            uses = scalar_text(mapping_get(body, "uses"))
            if uses is not None:
                place = "in this repository" if uses.startswith("./") else "in another repository; not read"
                self.files.note(f"{file} job {job} calls the reusable workflow {uses} ({place})")
                continue
            matrix = mapping_get(mapping_get(body, "strategy"), "matrix")
            if matrix is not None:
                self._matrix_note(file, job, matrix)
            job_directory = scalar_text(
                mapping_get(mapping_get(mapping_get(body, "defaults"), "run"), "working-directory")
            )
            start = join_directory(".", job_directory or workflow_directory or ".")
            self.read_steps(mapping_get(body, "steps"), file, f"jobs.{job}.steps", start, lower, 0)


def detect_ci(files: RepoFiles) -> CiFindings:
    """Candidates from every `.github/workflows/*.yml|yaml` file, in file-name order."""
    reader = _WorkflowReader(files)
    for name in files.list_dir(WORKFLOWS_DIRECTORY):
        if name.endswith((".yml", ".yaml")):
            reader.read_workflow(f"{WORKFLOWS_DIRECTORY}/{name}")
    return reader.findings
