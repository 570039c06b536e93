"""Confidence scoring, package managers and install commands, and the Python, tox, nox and Makefile readers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agentlab.repo_optimize.detect import CONFIRM_BELOW, detect_repository, merge_candidates
from agentlab.repo_optimize.detect_models import CommandCandidate, Evidence


def write_tree(root: Path, files: dict[str, str]) -> Path:
    for relative, content in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)
    return root


def package_json(**fields: object) -> str:
    return json.dumps(fields, indent=2)


def ci_running(*lines: str) -> str:
    steps = "".join(f"      - run: {line}\n" for line in lines)
    return f"on: push\njobs:\n  t:\n    steps:\n{steps}"


def candidate(name: str, command: str, confidence: float, source: str = "ci", **extra: object) -> CommandCandidate:
    evidence = [Evidence(file=f"{source}-{command}", line=1, detail=command)]
    return CommandCandidate(name, command, confidence, evidence, source, **extra)  # type: ignore[arg-type]


# --- confidence scoring -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("files", "name", "command", "confidence", "source"),
    [
        ({"package.json": package_json(scripts={"test": "jest"})}, "test", "npm test", 0.9, "package.json"),
        (
            {"package.json": package_json(scripts={"test:unit": "jest"})},
            "test",
            "npm run test:unit",
            0.8,
            "package.json",
        ),
        ({"package.json": package_json(scripts={"perf": "node p.js"})}, "bench", "npm run perf", 0.8, "package.json"),
        ({"Makefile": "test:\n\tpytest\n"}, "test", "make test", 0.75, "Makefile"),
        ({".github/workflows/ci.yml": ci_running("pytest")}, "test", "pytest", 0.7, "ci"),
        (
            {".github/workflows/ci.yml": ci_running("pytest -k ${{ matrix.k }}")},
            "test",
            "pytest -k ${{ matrix.k }}",
            0.5,
            "ci",
        ),
        ({"requirements.txt": "pytest==9.2.0\n", "tests/test_a.py": ""}, "test", "pytest", 0.5, "convention"),
        (
            {"requirements.txt": "requests\n", "tests/test_a.py": ""},
            "test",
            "python -m unittest discover -s tests",
            0.4,
            "convention",
        ),
        (
            {"pyproject.toml": "[tool.pytest.ini_options]\n", "tests/test_a.py": ""},
            "test",
            "pytest",
            0.85,
            "pyproject.toml",
        ),
        ({"Makefile": "check:\n\truff check .\n"}, "lint", "make check", 0.55, "Makefile"),
    ],
)
def test_each_kind_of_signal_earns_its_documented_confidence(
    tmp_path: Path, files: dict[str, str], name: str, command: str, confidence: float, source: str
) -> None:
    detection = detect_repository(write_tree(tmp_path, files))
    detected = detection.commands[name]
    assert (detected.command, detected.confidence, detected.source) == (command, confidence, source)
    assert (name in detection.needs_confirmation) == (confidence < CONFIRM_BELOW)


def test_seen_in_ci_adds_a_bonus_capped_below_one() -> None:
    merged = merge_candidates(
        [candidate("test", "npm test", 0.95, "package.json"), candidate("test", "npm run test", 0.7, from_ci=True)]
    )
    assert merged["test"].confidence == 0.98
    assert merged["test"].source == "package.json"
    assert len(merged["test"].evidence) == 2


def test_several_ci_sightings_of_a_ci_only_command_add_evidence_not_confidence() -> None:
    merged = merge_candidates(
        [candidate("lint", "ruff check .", 0.7, from_ci=True), candidate("lint", "ruff  check .", 0.7, from_ci=True)]
    )
    assert merged["lint"].confidence == 0.7
    assert len(merged["lint"].evidence) == 2


def test_a_different_command_for_the_same_name_adds_nothing() -> None:
    merged = merge_candidates([candidate("test", "make test", 0.75, "Makefile"), candidate("test", "pytest", 0.7)])
    assert merged["test"].command == "make test"
    assert merged["test"].confidence == 0.75
    assert [item.detail for item in merged["test"].evidence] == ["make test"]


def test_on_equal_confidence_the_more_specific_source_wins() -> None:
    merged = merge_candidates(
        [candidate("test", "tox -e py", 0.8, "tox.ini"), candidate("test", "pytest", 0.8, "pyproject.toml")]
    )
    assert merged["test"].source == "pyproject.toml"


def test_the_script_beats_make_and_ci_and_make_beats_ci(tmp_path: Path) -> None:
    write_tree(
        tmp_path,
        {
            "package.json": package_json(scripts={"lint": "eslint ."}),
            "Makefile": "lint:\n\tnpm run lint\nbuild:\n\tnpm run build\n",
            ".github/workflows/ci.yml": ci_running("npm run build", "npx tsc --noEmit"),
        },
    )
    commands = detect_repository(tmp_path).commands
    assert (commands["lint"].command, commands["lint"].source) == ("npm run lint", "package.json")
    assert (commands["build"].command, commands["build"].source) == ("make build", "Makefile")
    assert (commands["typecheck"].command, commands["typecheck"].source) == ("npx tsc --noEmit", "ci")


def test_placeholder_test_script_is_not_a_test_command(tmp_path: Path) -> None:
    placeholder = 'echo "Error: no test specified" && exit 1'
    detection = detect_repository(write_tree(tmp_path, {"package.json": package_json(scripts={"test": placeholder})}))
    assert "test" not in detection.commands
    assert any("scripts.test is a placeholder" in note for note in detection.notes)


# --- package managers and install commands ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("files", "manager", "install", "confidence"),
    [
        ({"package.json": "{}", "package-lock.json": "{}"}, "npm", "npm ci", 0.9),
        ({"package.json": "{}"}, "npm", "npm install", 0.7),
        ({"package.json": "{}", "pnpm-lock.yaml": ""}, "pnpm", "pnpm install --frozen-lockfile", 0.9),
        ({"package.json": "{}", "yarn.lock": ""}, "yarn", "yarn install --frozen-lockfile", 0.9),
        ({"package.json": "{}", "yarn.lock": "", ".yarnrc.yml": ""}, "yarn", "yarn install --immutable", 0.9),
        (
            {"package.json": package_json(packageManager="yarn@4.2.2"), "yarn.lock": ""},
            "yarn",
            "yarn install --immutable",
            0.9,
        ),
        (
            {"package.json": package_json(packageManager="yarn@1.22.22"), "yarn.lock": ""},
            "yarn",
            "yarn install --frozen-lockfile",
            0.9,
        ),
        ({"package.json": package_json(packageManager="pnpm@9.1.0")}, "pnpm", "pnpm install", 0.8),
        ({"pyproject.toml": "[project]\nname='a'\n", "uv.lock": ""}, "uv", "uv sync", 0.9),
        ({"pyproject.toml": "[tool.poetry]\nname='a'\n", "poetry.lock": ""}, "poetry", "poetry install", 0.9),
        ({"pyproject.toml": "[tool.poetry]\nname='a'\n"}, "poetry", "poetry install", 0.7),
        ({"pyproject.toml": "[project]\nname='a'\n"}, "pip", "pip install -e .", 0.8),
        ({"setup.py": "from setuptools import setup\nsetup()\n"}, "pip", "pip install -e .", 0.8),
        (
            {"pyproject.toml": "[project]\nname='a'\n[project.optional-dependencies]\ndev=['ruff']\ntest=['pytest']\n"},
            "pip",
            "pip install -e '.[test,dev]'",
            0.8,
        ),
        (
            {"requirements.txt": "requests\n", "requirements-dev.txt": "pytest\n", "requirements-test.txt": ""},
            "pip",
            "pip install -r requirements.txt -r requirements-dev.txt -r requirements-test.txt",
            0.8,
        ),
    ],
)
def test_package_manager_and_install_command(
    tmp_path: Path, files: dict[str, str], manager: str, install: str, confidence: float
) -> None:
    detection = detect_repository(write_tree(tmp_path, files))
    assert detection.package_manager == manager
    assert detection.package_manager_evidence
    assert (detection.commands["install"].command, detection.commands["install"].confidence) == (install, confidence)


def test_package_manager_field_wins_over_a_lockfile_and_the_conflict_costs_confidence(tmp_path: Path) -> None:
    files = {"package.json": package_json(packageManager="pnpm@9.1.0"), "package-lock.json": "{}"}
    detection = detect_repository(write_tree(tmp_path, files))
    assert detection.package_manager == "pnpm"
    assert [item.detail for item in detection.package_manager_evidence] == [
        'packageManager = "pnpm@9.1.0"',
        "lockfile package-lock.json",
    ]
    assert detection.package_manager_evidence[0].line == 2
    assert detection.commands["install"].command == "pnpm install"
    assert detection.commands["install"].confidence == 0.6
    assert any("package manager signals disagree" in note for note in detection.notes)


def test_an_unsupported_package_manager_is_a_note(tmp_path: Path) -> None:
    files = {"package.json": package_json(packageManager="bun@1.2.0"), "yarn.lock": ""}
    detection = detect_repository(write_tree(tmp_path, files))
    assert detection.package_manager == "yarn"
    assert any('packageManager "bun@1.2.0", which is not supported' in note for note in detection.notes)


def test_scripts_run_through_the_manager(tmp_path: Path) -> None:
    scripts = {"build": "tsc", "test": "jest", "lint": "eslint .", "type-check": "tsc --noEmit", "benchmark": "x"}
    for manager, lock, expected in (
        ("npm", "package-lock.json", {"build": "npm run build", "test": "npm test", "typecheck": "npm run type-check"}),
        ("pnpm", "pnpm-lock.yaml", {"build": "pnpm run build", "test": "pnpm test", "bench": "pnpm run benchmark"}),
        ("yarn", "yarn.lock", {"build": "yarn build", "test": "yarn test", "lint": "yarn lint"}),
    ):
        repo = write_tree(tmp_path / manager, {"package.json": package_json(scripts=scripts), lock: ""})
        commands = detect_repository(repo).commands
        assert {name: commands[name].command for name in expected} == expected


def test_script_evidence_points_at_the_script_line(tmp_path: Path) -> None:
    text = '{\n  "name": "x",\n  "test": "not a script",\n  "scripts": {\n    "test": "vitest run"\n  }\n}\n'
    test = detect_repository(write_tree(tmp_path, {"package.json": text})).commands["test"]
    assert test.evidence == [Evidence(file="package.json", line=5, detail='scripts.test = "vitest run"')]


@pytest.mark.parametrize(
    ("dependencies", "framework"),
    [
        ({"next": "15", "react": "19"}, "nextjs"),
        ({"@nestjs/core": "11", "express": "5"}, "nestjs"),
        ({"express": "5"}, "express"),
        ({"vite": "6", "react": "19"}, "react-vite"),
        ({"vite": "6"}, "node"),
        ({}, "node"),
    ],
)
def test_framework_from_dependencies(tmp_path: Path, dependencies: dict[str, str], framework: str) -> None:
    detection = detect_repository(write_tree(tmp_path, {"package.json": package_json(dependencies=dependencies)}))
    assert detection.framework == framework
    assert detection.framework_evidence


def test_workspaces_from_package_json_and_pnpm_workspace_yaml(tmp_path: Path) -> None:
    npm = write_tree(tmp_path / "npm", {"package.json": package_json(workspaces=["apps/*", "packages/*"])})
    assert detect_repository(npm).workspaces == ["apps/*", "packages/*"]
    pnpm = write_tree(tmp_path / "pnpm", {"package.json": "{}", "pnpm-workspace.yaml": "packages:\n  - 'libs/*'\n"})
    detection = detect_repository(pnpm)
    assert detection.workspaces == ["libs/*"]
    assert any("monorepo with workspaces libs/*" in note for note in detection.notes)


# --- conventions: typecheck, lint, test and bench without a script ----------------------------------------------------


def test_node_conventions_without_scripts(tmp_path: Path) -> None:
    dependencies = {"typescript": "5", "eslint": "9", "jest": "29", "tinybench": "4"}
    files = {
        "package.json": package_json(devDependencies=dependencies),
        "pnpm-lock.yaml": "",
        "tsconfig.json": "{}",
        "eslint.config.mjs": "",
        "bench/run.mjs": "",
    }
    commands = detect_repository(write_tree(tmp_path, files)).commands
    assert {name: (c.command, c.confidence) for name, c in commands.items() if name != "install"} == {
        "typecheck": ("pnpm exec tsc --noEmit", 0.5),
        "lint": ("pnpm exec eslint .", 0.5),
        "test": ("pnpm exec jest", 0.5),
        "bench": ("node bench/run.mjs", 0.5),
    }
    assert [item.detail for item in commands["bench"].evidence][1] == 'devDependencies.tinybench = "4"'


def test_vitest_bench_needs_both_vitest_and_bench_files(tmp_path: Path) -> None:
    only_files = write_tree(tmp_path / "a", {"package.json": "{}", "src/x.bench.ts": ""})
    assert "bench" not in detect_repository(only_files).commands
    both = write_tree(
        tmp_path / "b", {"package.json": package_json(devDependencies={"vitest": "3"}), "x.bench.mts": ""}
    )
    bench = detect_repository(both).commands["bench"]
    assert (bench.command, bench.confidence, bench.source) == ("npm exec -- vitest bench --run", 0.7, "convention")


def test_a_bench_script_with_tinybench_cites_both(tmp_path: Path) -> None:
    files = {"package.json": package_json(scripts={"bench": "node bench.mjs"}, dependencies={"tinybench": "4.0.1"})}
    bench = detect_repository(write_tree(tmp_path, files)).commands["bench"]
    assert [item.detail for item in bench.evidence] == [
        'scripts.bench = "node bench.mjs"',
        'dependencies.tinybench = "4.0.1"',
    ]


def test_a_bench_script_wins_over_vitest_bench_files(tmp_path: Path) -> None:
    files = {"package.json": package_json(scripts={"bench": "vitest bench"}, devDependencies={"vitest": "3"})}
    files["a.bench.ts"] = ""
    assert detect_repository(write_tree(tmp_path, files)).commands["bench"].command == "npm run bench"


# --- Python: pyproject, tox, nox --------------------------------------------------------------------------------------


def test_pytest_benchmark_and_tool_sections_under_uv(tmp_path: Path) -> None:
    pyproject = """[project]
name = "a"
dependencies = []

[dependency-groups]
dev = ["pytest>=8", "Pytest_Benchmark>=5"]

[tool.ruff]
line-length = 100

[tool.mypy]
files = ["src"]

[tool.pytest.ini_options]
addopts = "-q"
"""
    commands = detect_repository(write_tree(tmp_path, {"pyproject.toml": pyproject, "uv.lock": ""})).commands
    assert {name: (c.command, c.confidence) for name, c in commands.items()} == {
        "install": ("uv sync", 0.9),
        "typecheck": ("uv run mypy", 0.8),
        "test": ("uv run pytest", 0.85),
        "lint": ("uv run ruff check .", 0.8),
        "bench": ("uv run pytest --benchmark-only", 0.8),
    }
    assert commands["bench"].evidence[0].line == 6
    assert commands["test"].evidence[0] == Evidence(file="pyproject.toml", line=14, detail="[tool.pytest.ini_options]")


def test_pytest_benchmark_in_requirements_is_a_bench(tmp_path: Path) -> None:
    repo = write_tree(tmp_path, {"requirements-dev.txt": "# tools\npytest-benchmark==5.3.1\n"})
    bench = detect_repository(repo).commands["bench"]
    assert (bench.command, bench.source) == ("pytest --benchmark-only", "convention")
    assert bench.evidence[0] == Evidence(
        file="requirements-dev.txt", line=2, detail='requirement "pytest-benchmark==5.3.1"'
    )


def test_tox_environments(tmp_path: Path) -> None:
    tox = """[tox]
envlist = py311, lint, {py312,py313}-django

[testenv]
commands = pytest {posargs}

[testenv:lint]
commands = ruff check .

[testenv:mypy]
commands = mypy src

[testenv:bench]
commands = pytest --benchmark-only

[testenv:docs]
commands = sphinx-build docs out
"""
    commands = detect_repository(write_tree(tmp_path, {"tox.ini": tox})).commands
    assert {name: (c.command, c.source) for name, c in commands.items()} == {
        "typecheck": ("tox -e mypy", "tox.ini"),
        "test": ("tox -e py", "tox.ini"),
        "lint": ("tox -e lint", "tox.ini"),
        "bench": ("tox -e bench", "tox.ini"),
    }
    assert commands["test"].evidence[0] == Evidence(
        file="tox.ini", line=4, detail="[testenv] commands = pytest {posargs}"
    )


def test_nox_sessions_are_found_with_ast(tmp_path: Path) -> None:
    noxfile = """import nox
from nox import session


@nox.session(python=["3.11", "3.12"])
def tests(session):
    session.run("pytest")


@session(name="type-check")
def mypy_session(session):
    session.run("mypy")


@nox.session
def lint(session):
    session.run("ruff", "check")


def helper():
    pass
"""
    commands = detect_repository(write_tree(tmp_path, {"noxfile.py": noxfile})).commands
    assert {name: (c.command, c.evidence[0].line) for name, c in commands.items()} == {
        "typecheck": ("nox -s type-check", 11),
        "test": ("nox -s tests", 6),
        "lint": ("nox -s lint", 16),
    }


def test_makefile_targets(tmp_path: Path) -> None:
    makefile = """.PHONY: test lint
VAR := 1
build dist: deps
\tpython -m build
test:
\tpytest -q
lint::
\truff check .
benchmark:
\tpython bench/run.py
check: lint test
"""
    detection = detect_repository(write_tree(tmp_path, {"Makefile": makefile}))
    assert {name: (c.command, c.evidence[0].line) for name, c in detection.commands.items()} == {
        "build": ("make build", 3),
        "test": ("make test", 5),
        "lint": ("make lint", 7),
        "bench": ("make benchmark", 9),
    }
    assert detection.commands["test"].evidence[0].detail == "target test: pytest -q"
    assert not any("check" in note for note in detection.notes)


def test_both_manifests_pick_the_richer_language_and_say_so(tmp_path: Path) -> None:
    files = {
        "package.json": package_json(devDependencies={"prettier": "3"}),
        "pyproject.toml": "[project]\nname='a'\n[tool.pytest.ini_options]\n[tool.ruff]\n",
    }
    detection = detect_repository(write_tree(tmp_path, files))
    assert (detection.language, detection.package_manager, detection.framework) == ("python", "pip", "python")
    assert any("treated as a python repository" in note for note in detection.notes)
