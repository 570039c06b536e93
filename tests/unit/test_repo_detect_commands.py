"""Shell lines classified into command names, and spellings of one command recognised as the same."""

from __future__ import annotations

import pytest

from agentlab.repo_optimize.detect_commands import (
    classify_command_line,
    command_key,
    is_static_directory,
    join_directory,
    task_name_command,
)


@pytest.mark.parametrize(
    ("line", "name"),
    [
        ("npm ci", "install"),
        ("npm install", "install"),
        ("npm install -g pnpm", None),
        ("npm i left-pad", None),
        ("pnpm install --frozen-lockfile", "install"),
        ("yarn", "install"),
        ("yarn install --immutable", "install"),
        ("pip install -e '.[test]'", "install"),
        ("python -m pip install -r requirements.txt", "install"),
        ("pip install --upgrade pip tox", None),
        ("uv sync --all-extras", "install"),
        ("uv pip install -e .", "install"),
        ("poetry install --with dev", "install"),
        ("npm test", "test"),
        ("npm t", "test"),
        ("npm run test:unit -- --coverage", "test"),
        ("CI=true pnpm test", "test"),
        ("env FORCE_COLOR=1 yarn test", "test"),
        ("pytest -q tests/", "test"),
        ("python -m pytest", "test"),
        ("uv run pytest", "test"),
        ("poetry run pytest -x", "test"),
        ("tox", "test"),
        ("tox -e py312", "test"),
        ("tox -e lint", "lint"),
        ("nox --session mypy", "typecheck"),
        ("npx vitest run", "test"),
        ("npx jest --ci", "test"),
        ("node --test test/", "test"),
        ("python -m unittest discover", "test"),
        ("pytest --benchmark-only", "bench"),
        ("npx vitest bench --run", "bench"),
        ("npm run bench", "bench"),
        ("node bench/run.mjs", "bench"),
        ("python benchmarks/suite.py", "bench"),
        ("node server.js", None),
        ("npx tsc --noEmit", "typecheck"),
        ("tsc -p tsconfig.build.json", "build"),
        ("npm run typecheck", "typecheck"),
        ("pnpm type-check", "typecheck"),
        ("mypy src", "typecheck"),
        ("uv run pyright", "typecheck"),
        ("npx eslint . --max-warnings 0", "lint"),
        ("ruff check .", "lint"),
        ("ruff format --check .", "lint"),
        ("prettier --check .", "lint"),
        ("prettier --write .", None),
        ("black --check src", "lint"),
        ("npm run lint", "lint"),
        ("npx next lint", "lint"),
        ("npm run build", "build"),
        ("yarn build", "build"),
        ("pnpm run build", "build"),
        ("npx next build", "build"),
        ("python -m build", "build"),
        ("uv build", "build"),
        ("make test", "test"),
        ("make", None),
        ("npm publish", None),
        ("pnpm add -D vitest", None),
        ("echo done", None),
        ("", None),
        ("# a comment", None),
        ("npm run test:${{ matrix.suite }}", "test"),
        ("tox -e py${{ matrix.python }}", "test"),
        ("echo 'unbalanced", None),
    ],
)
def test_classify_command_line(line: str, name: str | None) -> None:
    assert classify_command_line(line) == name


@pytest.mark.parametrize(
    ("task", "name"),
    [
        ("py", "test"),
        ("py312", "test"),
        ("tests", "test"),
        ("mypy", "typecheck"),
        ("flake8", "lint"),
        ("benchmark", "bench"),
        ("docs", None),
        ("build-docs", None),
        ("docs:build", None),
        ("build:prod", "build"),
    ],
)
def test_task_names(task: str, name: str | None) -> None:
    assert task_name_command(task) == name


@pytest.mark.parametrize(
    ("name", "first", "second"),
    [
        ("test", "npm test", "npm run test"),
        ("test", "npm test", "npm t"),
        ("lint", "pnpm run lint", "pnpm lint"),
        ("build", "yarn build", "yarn run build"),
        ("install", "npm ci", "npm install"),
        ("install", "pnpm install --frozen-lockfile", "pnpm install"),
        ("install", "pip install -e .", "python -m pip install -e ."),
        ("test", "CI=1 npm test", "npm test"),
        ("test", "npm test --", "npm test"),
    ],
)
def test_spellings_of_one_command_share_a_key(name: str, first: str, second: str) -> None:
    assert command_key(name, first, ".") == command_key(name, second, ".")


@pytest.mark.parametrize(
    ("name", "first", "second", "first_directory", "second_directory"),
    [
        ("test", "npm test", "npm test", ".", "web"),
        ("test", "pytest", "pytest -x", ".", "."),
        ("install", "npm ci", "pnpm install", ".", "."),
        ("install", "pip install -e .", "pip install -r requirements.txt", ".", "."),
    ],
)
def test_different_commands_have_different_keys(
    name: str, first: str, second: str, first_directory: str, second_directory: str
) -> None:
    assert command_key(name, first, first_directory) != command_key(name, second, second_directory)


def test_directory_joining() -> None:
    assert join_directory("app", "../web") == "web"
    assert join_directory(".", "./") == "."
    assert join_directory("app", ".") == "app"
    assert join_directory("app", "${{ github.workspace }}/web") == "web"
    assert join_directory(".", "../../etc") == "."
    assert join_directory(".", "/etc") == "."


@pytest.mark.parametrize(
    ("path", "static"),
    [("web", True), ("$GITHUB_WORKSPACE/web", True), ("${{ github.workspace }}", True), ("$HOME", False), ("~", False)],
)
def test_static_directories(path: str, static: bool) -> None:
    assert is_static_directory(path) is static
