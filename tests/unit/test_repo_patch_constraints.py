"""The hard constraints on every patch: size, the files it may touch, and no new dependencies."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agentlab.repo_optimize.patches import check_patch
from agentlab.repo_optimize.patches.diffs import unified_diff


def _change(path: str, old: str = "a = 1\n", new: str = "a = 2\n") -> str:
    return unified_diff(path, old, new)


def _repo(tmp_path: Path, files: dict[str, str]) -> Path:
    for path, text in files.items():
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text(text, encoding="utf-8")
    return tmp_path


def test_a_small_source_patch_keeps_every_constraint() -> None:
    assert check_patch(_change("src/app.py") + _change("lib/index.ts")) == []


def test_more_than_five_files_is_too_many() -> None:
    diff = "".join(_change(f"src/module_{index}.py") for index in range(6))
    reasons = check_patch(diff)
    assert len(reasons) == 1
    assert "changes 6 files" in reasons[0] and "src/module_5.py" in reasons[0] and "at most 5" in reasons[0]


def test_more_than_two_hundred_changed_lines_is_too_many() -> None:
    old = "".join(f"a{index} = {index}\n" for index in range(101))
    new = "".join(f"a{index} = {index + 1}\n" for index in range(101))
    assert check_patch(unified_diff("src/big.py", old, new)) == [
        "The patch changes 202 lines; at most 200 added and removed are allowed."
    ]
    assert check_patch(unified_diff("src/big.py", old[: old.index("a100")], new[: new.index("a100")])) == []


@pytest.mark.parametrize(
    ("path", "kind"),
    [
        ("package-lock.json", "lockfile"),
        ("web/pnpm-lock.yaml", "lockfile"),
        ("yarn.lock", "lockfile"),
        ("uv.lock", "lockfile"),
        ("poetry.lock", "lockfile"),
        ("Pipfile.lock", "lockfile"),
        ("package.json", "dependency manifest"),
        ("pyproject.toml", "dependency manifest"),
        ("requirements-dev.txt", "dependency manifest"),
        ("setup.py", "dependency manifest"),
        ("setup.cfg", "dependency manifest"),
        ("Pipfile", "dependency manifest"),
        ("tests/test_app.py", "test file"),
        ("src/app_test.py", "test file"),
        ("src/test_app.py", "test file"),
        ("src/__tests__/app.js", "test file"),
        ("src/app.test.ts", "test file"),
        ("src/app.spec.js", "test file"),
        ("test/app.mjs", "test file"),
        (".github/workflows/ci.yml", "CI file"),
        (".gitlab-ci.yml", "CI file"),
        (".eslintrc", "dotfile"),
        ("src/.env", "dotfile"),
        ("tsconfig.json", "configuration file"),
        ("config/app.yaml", "configuration file"),
        ("tox.ini", "configuration file"),
        ("ruff.toml", "configuration file"),
    ],
)
def test_files_a_performance_patch_may_not_touch_are_named_with_the_reason(path: str, kind: str) -> None:
    reasons = check_patch(_change(path))
    assert len(reasons) == 1
    assert f"the {kind} {path};" in reasons[0]


def test_unsafe_binary_and_renamed_files_are_reported() -> None:
    escaping = "--- a/../outside.py\n+++ b/../outside.py\n@@ -1 +1 @@\n-a\n+b\n"
    binary = "diff --git a/logo.png b/logo.png\nindex 1..2 100644\nBinary files a/logo.png and b/logo.png differ\n"
    renamed = "diff --git a/old.py b/new.py\nsimilarity index 100%\nrename from old.py\nrename to new.py\n"
    assert "escapes the repository root" in check_patch(escaping)[0]
    assert check_patch(binary) == ["The patch changes logo.png as a binary file; only text patches are allowed."]
    assert check_patch(renamed) == ["The patch renames new.py; renames are not allowed."]


def test_text_that_is_not_a_diff_is_reported() -> None:
    assert check_patch("please make it faster") == ["does not apply: the diff changes no file."]


def test_a_new_third_party_python_import_is_a_new_dependency(tmp_path: Path) -> None:
    root = _repo(tmp_path, {"src/app.py": "import json\n\nVALUE = 1\n", "src/other.py": "import yaml\n"})
    new = "import json\nimport orjson\nimport yaml\nimport functools\nfrom src import other\n\nVALUE = 1\n"
    diff = unified_diff("src/app.py", "import json\n\nVALUE = 1\n", new)
    assert check_patch(diff, root=root) == ["The patch makes src/app.py import 'orjson', a new dependency."]


def test_a_multiline_python_import_is_read_whole(tmp_path: Path) -> None:
    root = _repo(tmp_path, {"app.py": "VALUE = 1\n"})
    diff = unified_diff("app.py", "VALUE = 1\n", "from numpy import (\n    array,\n    zeros,\n)\n\nVALUE = 1\n")
    assert check_patch(diff, root=root) == ["The patch makes app.py import 'numpy', a new dependency."]


def test_without_the_repository_only_the_standard_library_and_the_diff_vouch_for_an_import() -> None:
    diff = unified_diff("app.py", "import yaml\n\nVALUE = 1\n", "import yaml\nimport re\nimport attrs\n\nVALUE = 1\n")
    assert check_patch(diff) == ["The patch makes app.py import 'attrs', a new dependency."]


def test_a_javascript_import_of_an_undeclared_package_is_a_new_dependency(tmp_path: Path) -> None:
    manifest = {"dependencies": {"express": "5.1.0"}, "devDependencies": {"@types/node": "22.0.0"}}
    old = 'import express from "express";\n\nexport const app = express();\n'
    root = _repo(tmp_path, {"package.json": json.dumps(manifest), "src/app.mjs": old})
    new = (
        'import express from "express";\nimport fs from "node:fs";\nimport path from "path";\n'
        'import "@types/node/globals";\nimport { helper } from "./helper.mjs";\nimport _ from "lodash/fp";\n'
        'const fastJson = require("fast-json-stringify");\n\nexport const app = express();\n'
    )
    assert check_patch(unified_diff("src/app.mjs", old, new), root=root) == [
        "The patch makes src/app.mjs import 'fast-json-stringify', a package not in package.json.",
        "The patch makes src/app.mjs import 'lodash/fp', a package not in package.json.",
    ]


def test_a_package_declared_by_a_workspace_manifest_is_not_new(tmp_path: Path) -> None:
    old = "export const x = 1;\n"
    root = _repo(
        tmp_path,
        {
            "package.json": json.dumps({"workspaces": ["packages/*"]}),
            "packages/web/package.json": json.dumps({"dependencies": {"react": "19.0.0"}}),
            "packages/web/src/app.tsx": old,
        },
    )
    new = 'import { useMemo } from "react";\nexport const x = 1;\n'
    assert check_patch(unified_diff("packages/web/src/app.tsx", old, new), root=root) == []
