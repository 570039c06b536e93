"""Repository detection: the fixture repositories against their goldens, and reading an untrusted tree safely.

`AGENTLAB_UPDATE_GOLDENS=1 .venv/bin/pytest tests/unit/test_repo_detect.py` rewrites the goldens
(`tests/fixtures/repos/<name>.expected.json`) from the current detector; review the diff before keeping it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from agentlab.repo_optimize.detect import (
    COMMAND_NAMES,
    DetectedCommand,
    Evidence,
    RepoDetection,
    detect_repository,
)
from agentlab.repo_optimize.detect_files import MAX_FILE_BYTES

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "repos"
FIXTURE_NAMES = (
    "nextjs-ts",
    "nestjs-ts",
    "express-ts",
    "react-vite-ts",
    "python-pytest",
    "monorepo-workspaces",
    "ci-only",
    "empty-repo",
)


def write_tree(root: Path, files: dict[str, str]) -> Path:
    for relative, content in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)
    return root


@pytest.mark.parametrize("name", FIXTURE_NAMES)
def test_fixture_matches_its_golden(name: str) -> None:
    golden = FIXTURES / f"{name}.expected.json"
    detected = detect_repository(FIXTURES / name).model_dump(mode="json")
    if os.environ.get("AGENTLAB_UPDATE_GOLDENS") == "1":
        golden.write_text(json.dumps(detected, indent=2) + "\n")
    assert detected == json.loads(golden.read_text())


def test_every_fixture_has_a_golden_and_no_golden_is_orphaned() -> None:
    goldens = {path.name.removesuffix(".expected.json") for path in FIXTURES.glob("*.expected.json")}
    folders = {path.name for path in FIXTURES.iterdir() if path.is_dir() and not path.name.startswith("__")}
    assert goldens == folders == set(FIXTURE_NAMES)


def test_goldens_are_valid_detections() -> None:
    for name in FIXTURE_NAMES:
        detection = RepoDetection.model_validate_json((FIXTURES / f"{name}.expected.json").read_text())
        assert set(detection.commands) <= set(COMMAND_NAMES)
        for command in detection.commands.values():
            assert command.evidence, f"{name}: {command.command} has no evidence"
            assert all(not item.file.startswith("/") and "\\" not in item.file for item in command.evidence)


def test_the_two_runnable_fixtures_are_detected_as_their_tests_expect() -> None:
    python = detect_repository(FIXTURES / "python-pytest")
    assert (python.language, python.package_manager, python.framework) == ("python", "pip", "python")
    assert python.commands["install"].command == "pip install -e '.[test]'"
    assert python.commands["test"].command == "pytest"
    assert python.commands["bench"].command == "pytest --benchmark-only"
    assert python.commands["bench"].confidence == 0.8

    express = detect_repository(FIXTURES / "express-ts")
    assert (express.language, express.package_manager, express.framework) == ("node", "npm", "express")
    assert express.commands["install"].command == "npm ci"
    assert express.commands["test"].command == "npm test"
    assert express.commands["bench"].command == "npm run bench"
    assert express.needs_confirmation == []


def test_express_fixture_installs_without_a_compiler() -> None:
    manifest = json.loads((FIXTURES / "express-ts" / "package.json").read_text())
    lock = json.loads((FIXTURES / "express-ts" / "package-lock.json").read_text())
    assert manifest["dependencies"] == {"express": "5.1.0"}
    assert "devDependencies" not in manifest
    assert lock["lockfileVersion"] == 3
    assert lock["packages"][""]["dependencies"] == {"express": "5.1.0"}


def test_empty_repository_detects_nothing_and_says_so(tmp_path: Path) -> None:
    detection = detect_repository(write_tree(tmp_path, {"README.md": "# hello\n"}))
    assert detection.language == "unknown"
    assert detection.package_manager is None
    assert detection.commands == {}
    assert any("nothing was detected" in note for note in detection.notes)


def test_a_missing_root_is_a_note_not_a_crash(tmp_path: Path) -> None:
    detection = detect_repository(tmp_path / "absent")
    assert detection.commands == {}
    assert any("is not a folder" in note for note in detection.notes)


def test_public_models_are_the_documented_ones() -> None:
    evidence = Evidence(file="package.json", line=3, detail='scripts.test = "vitest run"')
    with pytest.raises(ValueError, match="frozen"):
        evidence.line = 4  # type: ignore[misc]
    command = DetectedCommand(command="npm test", confidence=0.9, evidence=[evidence], source="package.json")
    assert command.working_directory == "."
    with pytest.raises(ValueError):
        DetectedCommand.model_validate({"command": "npm test", "confidence": 0.9, "evidence": [], "source": "x"})
    with pytest.raises(ValueError):
        DetectedCommand.model_validate({"command": "npm test", "confidence": 1.5, "evidence": [], "source": "ci"})
    assert COMMAND_NAMES == ("install", "build", "typecheck", "test", "lint", "bench")


def test_symlinks_out_of_the_root_are_not_followed(tmp_path: Path) -> None:
    # Given a package.json outside the repository, linked into it, with a script that would be detected
    outside = write_tree(tmp_path / "outside", {"package.json": '{"scripts": {"test": "jest"}}'})
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "package.json").symlink_to(outside / "package.json")
    # When the repository is detected
    detection = detect_repository(repo)
    # Then the linked file was not read, and a note says why
    assert "test" not in detection.commands
    assert any("points outside the repository" in note for note in detection.notes)


def test_a_symlink_inside_the_root_is_read(tmp_path: Path) -> None:
    repo = write_tree(tmp_path, {"config/package.json": '{"scripts": {"test": "jest"}}'})
    (repo / "package.json").symlink_to(repo / "config" / "package.json")
    assert detect_repository(repo).commands["test"].command == "npm test"


def test_files_over_one_mebibyte_are_cut_and_noted(tmp_path: Path) -> None:
    padding = " " * MAX_FILE_BYTES
    repo = write_tree(tmp_path, {"package.json": '{"scripts": {"test": "jest"}' + padding + "}"})
    detection = detect_repository(repo)
    assert "test" not in detection.commands
    assert any("larger than 1 MiB" in note for note in detection.notes)
    assert any("not valid JSON" in note for note in detection.notes)


def test_ignored_folders_are_not_searched(tmp_path: Path) -> None:
    repo = write_tree(
        tmp_path,
        {
            "package.json": '{"devDependencies": {"vitest": "3.1.3"}}',
            "node_modules/lib/src/a.bench.ts": "",
            "dist/b.bench.ts": "",
            ".git/c.bench.ts": "",
        },
    )
    assert "bench" not in detect_repository(repo).commands
    write_tree(repo, {"src/d.bench.ts": ""})
    bench = detect_repository(repo).commands["bench"]
    assert bench.command == "npm exec -- vitest bench --run"
    assert [item.file for item in bench.evidence] == ["package.json", "src/d.bench.ts"]


@pytest.mark.parametrize(
    ("name", "content", "expected_note"),
    [
        ("package.json", "{not json", "package.json is not valid JSON"),
        ("package.json", "[1, 2]", "package.json is not a JSON object"),
        ("pyproject.toml", "[project\nname=", "pyproject.toml is not valid TOML"),
        ("noxfile.py", "def broken(:\n", "noxfile.py could not be parsed"),
        ("tox.ini", "[testenv\ncommands = pytest", "tox.ini could not be parsed"),
        ("pnpm-workspace.yaml", "packages: [a\n", "pnpm-workspace.yaml is not valid YAML"),
    ],
)
def test_invalid_manifests_are_notes(tmp_path: Path, name: str, content: str, expected_note: str) -> None:
    files = {name: content}
    if name == "pnpm-workspace.yaml":
        files["package.json"] = "{}"
    detection = detect_repository(write_tree(tmp_path, files))
    assert any(expected_note in note for note in detection.notes), detection.notes


def test_nothing_in_the_tree_is_executed(tmp_path: Path) -> None:
    marker = tmp_path / "executed"
    repo = write_tree(
        tmp_path / "repo",
        {
            "noxfile.py": f"import pathlib\npathlib.Path({str(marker)!r}).write_text('x')\n"
            "import nox\n\n@nox.session\ndef tests(session):\n    session.run('pytest')\n",
            "setup.py": f"import pathlib\npathlib.Path({str(marker)!r}).write_text('x')\n",
        },
    )
    detection = detect_repository(repo)
    assert detection.commands["test"].command == "nox -s tests"
    assert not marker.exists()


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("package.json", "[" * 100_000 + "]" * 100_000),
        ("pyproject.toml", "a = " + "[" * 100_000 + "]" * 100_000),
        (".github/workflows/ci.yml", "on: " + "[" * 100_000 + "]" * 100_000),
        ("noxfile.py", "x = " + "(" * 100_000 + ")" * 100_000),
    ],
)
def test_deeply_nested_files_are_notes_not_crashes(tmp_path: Path, name: str, content: str) -> None:
    detection = detect_repository(write_tree(tmp_path, {name: content}))
    assert any(name in note for note in detection.notes), detection.notes
