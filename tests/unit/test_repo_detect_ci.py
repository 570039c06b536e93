"""GitHub Actions workflows read for commands: YAML edge cases, working directories, matrices, local actions."""

from __future__ import annotations

from pathlib import Path

import yaml

from agentlab.repo_optimize.detect import detect_repository
from agentlab.repo_optimize.detect_ci import mapping_get, script_lines


def write_tree(root: Path, files: dict[str, str]) -> Path:
    for relative, content in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)
    return root


def workflow(root: Path, text: str, name: str = "ci.yml") -> Path:
    return write_tree(root, {f".github/workflows/{name}": text})


def test_bare_on_key_is_the_trigger_even_though_yaml_1_1_reads_it_as_true(tmp_path: Path) -> None:
    text = "on: [push]\njobs:\n  t:\n    steps:\n      - run: pytest\n"
    # safe_load shows the trap: the key is the boolean True, not the string "on"
    assert True in yaml.safe_load(text)
    detection = detect_repository(workflow(tmp_path, text))
    assert detection.commands["test"].confidence == 0.7
    assert not any("runs only on" in note for note in detection.notes)


def test_a_workflow_that_never_runs_on_push_or_pull_requests_counts_for_less(tmp_path: Path) -> None:
    text = "'on':\n  schedule:\n    - cron: '0 3 * * *'\njobs:\n  t:\n    steps:\n      - run: pytest\n"
    detection = detect_repository(workflow(tmp_path, text))
    assert detection.commands["test"].confidence == 0.6
    assert any("runs only on schedule" in note for note in detection.notes)


def test_anchors_aliases_and_merge_keys_are_followed(tmp_path: Path) -> None:
    text = """
on: push
x-defaults: &run-in-web
  working-directory: web
x-lint: &lint
  run: npm run lint
jobs:
  a:
    steps:
      - <<: *run-in-web
        run: npm test
      - *lint
"""
    detection = detect_repository(workflow(tmp_path, text))
    assert detection.commands["test"].command == "cd web && npm test"
    assert detection.commands["test"].working_directory == "web"
    lint = detection.commands["lint"]
    assert lint.command == "npm run lint"
    # an alias is the anchored node: its line is where the anchor was written
    assert lint.evidence[0].line == 6


def test_an_explicit_key_wins_over_a_merged_one() -> None:
    document = yaml.compose("base: &b {dir: a}\nstep:\n  <<: *b\n  dir: b\n", Loader=yaml.SafeLoader)
    assert mapping_get(mapping_get(document, "step"), "dir").value == "b"  # type: ignore[union-attr]


def test_a_workflow_that_is_a_list_is_a_note(tmp_path: Path) -> None:
    detection = detect_repository(workflow(tmp_path, "- run: npm test\n- run: npm run lint\n"))
    assert detection.commands == {}
    assert any("is not a mapping" in note for note in detection.notes)


def test_tabs_and_invalid_yaml_are_notes(tmp_path: Path) -> None:
    workflow(tmp_path, "on: push\njobs:\n\tt:\n\t\tsteps: []\n", "tabs.yml")
    workflow(tmp_path, "on: push\njobs: [unclosed\n", "broken.yaml")
    workflow(tmp_path, "on: push\njobs:\n  t:\n    steps:\n      - run: npm test\n", "good.yml")
    detection = detect_repository(tmp_path)
    assert any("tabs.yml is not valid YAML" in note and "line 3" in note for note in detection.notes)
    assert any("broken.yaml is not valid YAML" in note for note in detection.notes)
    assert detection.commands["test"].command == "npm test"


def test_multi_line_scripts_are_split_with_their_lines(tmp_path: Path) -> None:
    text = """on: push
jobs:
  t:
    steps:
      - run: |
          # install first
          python -m pip install -e '.[test]'
          pytest -q \\
            --maxfail=1
          ruff check . && mypy src
"""
    detection = detect_repository(workflow(tmp_path, text))
    commands = {name: (command.command, command.evidence[0].line) for name, command in detection.commands.items()}
    assert commands == {
        "install": ("python -m pip install -e '.[test]'", 7),
        "test": ("pytest -q --maxfail=1", 8),
        "lint": ("ruff check .", 10),
        "typecheck": ("mypy src", 10),
    }


def test_folded_and_single_line_scripts_keep_their_first_line() -> None:
    document = yaml.compose("a: >\n  npm test\n  --ci\nb: npm run lint\n", Loader=yaml.SafeLoader)
    assert script_lines(mapping_get(document, "a")) == [(2, "npm test --ci")]
    assert script_lines(mapping_get(document, "b")) == [(4, "npm run lint")]


def test_working_directory_step_over_job_over_workflow_and_cd_lines(tmp_path: Path) -> None:
    text = """on: push
defaults:
  run:
    working-directory: workflow-dir
jobs:
  a:
    steps:
      - run: npm run build
  b:
    defaults:
      run:
        working-directory: job-dir
    steps:
      - run: npm run lint
      - run: npm test
        working-directory: step-dir
  c:
    defaults:
      run:
        working-directory: .
    steps:
      - run: |
          cd packages/api
          npx tsc --noEmit
      - run: cd tools && node bench.mjs
"""
    commands = detect_repository(workflow(tmp_path, text)).commands
    assert {name: command.working_directory for name, command in commands.items()} == {
        "build": "workflow-dir",
        "lint": "job-dir",
        "test": "step-dir",
        "typecheck": "packages/api",
        "bench": "tools",
    }
    assert commands["typecheck"].command == "cd packages/api && npx tsc --noEmit"


def test_matrix_is_noted_and_matrix_expressions_lower_confidence(tmp_path: Path) -> None:
    text = """on: push
jobs:
  t:
    strategy:
      matrix:
        python: ["3.11", "3.12"]
        include:
          - python: "3.13"
    steps:
      - run: pip install -e .
      - run: tox -e py${{ matrix.python }}
"""
    detection = detect_repository(workflow(tmp_path, text))
    assert any("matrix over python (3.11, 3.12); include" in note for note in detection.notes)
    assert detection.commands["test"].confidence == 0.5
    assert detection.commands["install"].confidence == 0.7
    assert detection.needs_confirmation == ["test"]


def test_a_matrix_computed_at_run_time_is_noted(tmp_path: Path) -> None:
    text = "on: push\njobs:\n  t:\n    strategy:\n      matrix: ${{ fromJSON(needs.plan.outputs.m) }}\n    steps: []\n"
    detection = detect_repository(workflow(tmp_path, text))
    assert any("matrix computed at run time" in note for note in detection.notes)


def test_composite_action_steps_are_read_and_noted(tmp_path: Path) -> None:
    write_tree(
        tmp_path,
        {
            ".github/actions/check/action.yaml": "runs:\n  using: composite\n  steps:\n"
            "    - run: npm run lint\n      shell: bash\n",
            ".github/actions/js/action.yml": "runs:\n  using: node20\n  main: index.js\n",
        },
    )
    text = "on: push\njobs:\n  t:\n    steps:\n      - uses: ./.github/actions/check\n"
    text += "      - uses: ./.github/actions/js\n      - uses: ./.github/actions/missing\n"
    detection = detect_repository(workflow(tmp_path, text))
    lint = detection.commands["lint"]
    assert lint.evidence[0].file == ".github/actions/check/action.yaml"
    assert lint.evidence[0].line == 4
    assert any("composite action ./.github/actions/check" in note for note in detection.notes)
    assert any("local action ./.github/actions/js (runs using node20)" in note for note in detection.notes)
    assert any("./.github/actions/missing, which has no action.yml" in note for note in detection.notes)


def test_composite_actions_that_use_themselves_stop(tmp_path: Path) -> None:
    write_tree(
        tmp_path,
        {
            ".github/actions/loop/action.yml": "runs:\n  using: composite\n  steps:\n"
            "    - uses: ./.github/actions/loop\n    - run: npm test\n      shell: bash\n",
        },
    )
    text = "on: push\njobs:\n  t:\n    steps:\n      - uses: ./.github/actions/loop\n"
    detection = detect_repository(workflow(tmp_path, text))
    assert detection.commands["test"].command == "npm test"
    assert any("nested too deeply" in note for note in detection.notes)


def test_reusable_workflows_are_noted(tmp_path: Path) -> None:
    text = """on: pull_request
jobs:
  local:
    uses: ./.github/workflows/checks.yml
  remote:
    uses: acme/shared/.github/workflows/node.yml@v3
"""
    workflow(tmp_path, text)
    workflow(tmp_path, "on: workflow_call\njobs:\n  c:\n    steps:\n      - run: npm test\n", "checks.yml")
    detection = detect_repository(tmp_path)
    assert any("reusable workflow ./.github/workflows/checks.yml (in this repository)" in n for n in detection.notes)
    assert any(
        "acme/shared/.github/workflows/node.yml@v3 (in another repository; not read)" in n for n in detection.notes
    )
    # the local reusable workflow is a workflow file of its own, triggered by workflow_call: full CI confidence
    assert detection.commands["test"].confidence == 0.7
    assert detection.commands["test"].evidence[0].file == ".github/workflows/checks.yml"


def test_ci_adds_its_sightings_to_a_script_and_raises_its_confidence(tmp_path: Path) -> None:
    write_tree(tmp_path, {"package.json": '{"scripts": {"test": "vitest run", "lint": "eslint ."}}'})
    text = "on: push\njobs:\n  t:\n    steps:\n      - run: npm run test\n      - run: npm t\n"
    commands = detect_repository(workflow(tmp_path, text)).commands
    assert commands["test"].confidence == 0.95
    assert [item.line for item in commands["test"].evidence] == [1, 5, 6]
    # a CI line run from another folder is not the same command
    assert commands["lint"].confidence == 0.9


def test_ci_in_another_folder_is_not_the_root_script(tmp_path: Path) -> None:
    write_tree(tmp_path, {"package.json": '{"scripts": {"test": "vitest run"}}'})
    text = "on: push\njobs:\n  t:\n    steps:\n      - run: npm test\n        working-directory: web\n"
    test = detect_repository(workflow(tmp_path, text)).commands["test"]
    assert (test.command, test.confidence, len(test.evidence)) == ("npm test", 0.9, 1)


def test_language_and_manager_are_guessed_from_ci_when_there_is_no_manifest(tmp_path: Path) -> None:
    text = "on: push\njobs:\n  t:\n    steps:\n      - uses: actions/setup-python@v5\n"
    text += "      - run: pip install -r requirements.txt\n      - run: python -m pytest\n"
    detection = detect_repository(workflow(tmp_path, text))
    assert (detection.language, detection.package_manager, detection.framework) == ("python", "pip", None)
    assert detection.package_manager_evidence[0].line == 6
    assert detection.commands["test"].command == "python -m pytest"


def test_steps_that_are_not_mappings_and_jobs_without_steps_are_skipped(tmp_path: Path) -> None:
    text = (
        "on: push\njobs:\n  a: just a string\n  b:\n    steps:\n      - plain\n      - [1, 2]\n      - run: npm test\n"
    )
    assert detect_repository(workflow(tmp_path, text)).commands["test"].command == "npm test"


def test_a_local_action_in_a_folder_named_like_an_ignored_one_is_still_read(tmp_path: Path) -> None:
    write_tree(
        tmp_path,
        {".github/actions/build/action.yml": "runs:\n  using: composite\n  steps:\n    - run: npm run build\n"},
    )
    text = "on: push\njobs:\n  t:\n    steps:\n      - uses: ./.github/actions/build\n"
    build = detect_repository(workflow(tmp_path, text)).commands["build"]
    assert build.evidence[0].file == ".github/actions/build/action.yml"


def test_a_local_action_outside_the_repository_is_refused(tmp_path: Path) -> None:
    outside = write_tree(
        tmp_path / "outside", {"action.yml": "runs:\n  using: composite\n  steps:\n    - run: npm test\n"}
    )
    repo = tmp_path / "repo"
    (repo / ".github" / "actions").mkdir(parents=True)
    (repo / ".github" / "actions" / "evil").symlink_to(outside)
    text = "on: push\njobs:\n  t:\n    steps:\n      - uses: ./.github/actions/evil\n      - uses: ./../outside\n"
    detection = detect_repository(workflow(repo, text))
    assert "test" not in detection.commands
    assert any("points outside the repository" in note for note in detection.notes)
