"""The repository routes of the API: connect, list, show, update and disconnect repositories, their command config,
and repo runs (the repo_optimize workflow) with their baseline.

A repository's token goes to Secrets Manager and is never answered or logged. Annotations are evaluated where the
routes are defined, as in api/routes.py."""

import json
from typing import Annotated

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response

from agentlab.api.common import (
    Cursor,
    Deleted,
    Id,
    IdempotencyKey,
    Limit,
    current_caller,
    json_response,
    optional_header,
    page_size,
)
from agentlab.api.deps import ApiDeps
from agentlab.api.docs import CONCURRENT, FeatureDocs, Operation
from agentlab.api.outputs import sign_run_output
from agentlab.errors import NotFound
from agentlab.models import Caller, Page, Run
from agentlab.models.repo import (
    Baseline,
    Repo,
    RepoConfig,
    RepoConfigUpdate,
    RepoConfigView,
    RepoCreate,
    RepoRunCreate,
    RepoUpdate,
)
from agentlab.repo_optimize.connect import check_repo_url, local_repos_allowed, name_from_url, remote_default_branch
from agentlab.repo_optimize.outputs import BASELINE_ARTIFACT, baseline_key
from agentlab.store.repos import RepoStore

_BASE = "/v1/repos"
_ONE = "/v1/repos/{repo_id}"
_URL_ERRORS = {
    "url_not_allowed": "the URL is not https to a public address (or, on a local stack that allows it, a file:// "
    "path to a Git repository), or it holds credentials, a query or a fragment",
    "repo_unreachable": "the repository did not answer: it does not exist, the token was refused, or the branch is "
    "not there",
}

DOCS = FeatureDocs(
    operations={
        ("POST", _BASE): Operation(
            "Connect a repository",
            "Connects a Git repository by its https URL. An optional token (`credentials.token`) is stored in "
            "Secrets Manager and never answered. Unset, `default_branch` is the branch the remote's HEAD names. The "
            "repository must answer before it is stored.",
            errors={422: _URL_ERRORS},
        ),
        ("GET", _BASE): Operation("List repositories", "The org's connected repositories, newest first."),
        ("GET", _ONE): Operation(
            "Show a repository", "The repository; `has_credentials` says whether a token is kept."
        ),
        ("PATCH", _ONE): Operation(
            "Update a repository",
            "Changes the name or default branch, replaces the token, or (`credentials: null`) removes it. With "
            "`expected_revision`, a repository at another revision answers 409.",
            errors={409: CONCURRENT, 422: {"repo_unreachable": _URL_ERRORS["repo_unreachable"]}},
        ),
        ("DELETE", _ONE): Operation(
            "Disconnect a repository",
            "Removes the repository, its config and its token; its runs stay.",
        ),
        ("GET", f"{_ONE}/config"): Operation(
            "Show a repository's commands",
            "What the last Detect step found (each command with its confidence and evidence), the overrides a "
            "person set (which win), the names confirmed, and the commands a run would use (`effective`); a "
            "detected command of low confidence that nobody confirmed says `needs_confirmation`.",
        ),
        ("PUT", f"{_ONE}/config"): Operation(
            "Set a repository's commands",
            "Replaces the overrides (a command left out or null follows the detection) and, when given, the "
            "confirmed names and the number of benchmark runs of a baseline.",
            errors={409: CONCURRENT},
        ),
        ("POST", f"{_ONE}/runs"): Operation(
            "Start a repo run",
            "Starts a `repo_optimize` run on the head of `branch` (default: the repository's default branch) or on "
            "the commit `sha`: checkout, detection of the commands, and a baseline in the sandbox. An "
            "`Idempotency-Key` makes a retry return the first run.",
            errors={404: {"not_found": "the repository does not exist in the caller's org"}},
        ),
        ("GET", f"{_ONE}/runs"): Operation("List a repository's runs", "The repository's runs, newest first."),
        ("GET", "/v1/runs/{run_id}/baseline"): Operation(
            "Show a repo run's baseline",
            "baseline.json of a repo run: every phase with its command, exit code, duration and limit hit, the "
            "tests' counts and failures (flaky ones apart), and the benchmark's raw samples with their summary.",
            errors={404: {"no_baseline": "the run has no baseline (yet, or it is not a repo run)"}},
        ),
    },
    examples={
        "RepoCreate": {"url": "https://github.com/acme/fastmath.git", "credentials": {"token": "github_pat_..."}},
        "RepoUpdate": {"default_branch": "develop", "expected_revision": 1},
        "RepoConfigUpdate": {"overrides": {"bench": "python bench/run.py"}, "confirmed": ["test"], "bench_runs": 5},
        "RepoRunCreate": {"branch": "main"},
        "Repo": {
            "id": "01J9Z8Q3V4W5X6Y7Z8A9B0C1P1",
            "org_id": "01J9Z8Q3V4W5X6Y7Z8A9B0C1O1",
            "name": "fastmath",
            "url": "https://github.com/acme/fastmath.git",
            "default_branch": "main",
            "has_credentials": True,
            "created_at": "2026-12-01T10:00:00Z",
            "updated_at": "2026-12-01T10:00:00Z",
            "created_by": "apikey:01J9Z8Q3V4W5X6Y7Z8A9B0C1K1",
            "revision": 1,
            "last_run_id": None,
        },
        "RepoConfigView": {
            "repo_id": "01J9Z8Q3V4W5X6Y7Z8A9B0C1P1",
            "detected": {
                "commit_sha": "4b825dc642cb6eb9a060e54bf8d69288fbee4904",
                "detected_at": "2026-12-01T10:01:00Z",
                "language": "python",
                "package_manager": "pip",
                "framework": "python",
                "commands": {
                    "test": {
                        "command": "pytest",
                        "confidence": 0.9,
                        "evidence": [{"file": "pyproject.toml", "line": 17, "detail": "[tool.pytest.ini_options]"}],
                        "working_directory": ".",
                        "source": "pyproject.toml",
                    }
                },
                "workspaces": [],
                "notes": [],
                "needs_confirmation": [],
            },
            "overrides": {"bench": "python bench/run.py"},
            "confirmed": [],
            "bench_runs": 5,
            "revision": 2,
            "updated_at": "2026-12-01T10:02:00Z",
            "effective": {
                "test": {
                    "command": "pytest",
                    "origin": "detected",
                    "confidence": 0.9,
                    "evidence": [{"file": "pyproject.toml", "line": 17, "detail": "[tool.pytest.ini_options]"}],
                    "working_directory": ".",
                    "needs_confirmation": False,
                },
                "bench": {
                    "command": "python bench/run.py",
                    "origin": "override",
                    "confidence": None,
                    "evidence": [],
                    "working_directory": ".",
                    "needs_confirmation": False,
                },
            },
        },
        "Baseline": {
            "run_id": "01J9Z8Q3V4W5X6Y7Z8A9B0C1R1",
            "repo_id": "01J9Z8Q3V4W5X6Y7Z8A9B0C1P1",
            "commit_sha": "4b825dc642cb6eb9a060e54bf8d69288fbee4904",
            "status": "succeeded",
            "failure": None,
            "commands": {"install": "pip install -e '.[test]'", "test": "pytest", "bench": "pytest --benchmark-only"},
            "phases": [
                {
                    "phase": "test",
                    "command": "pytest",
                    "exit_code": 0,
                    "duration_s": 1.8,
                    "limit": None,
                    "network": False,
                    "output_tail": "5 passed in 0.42s",
                    "log_key": None,
                    "run": None,
                }
            ],
            "tests": {
                "source": "junit",
                "total": 5,
                "passed": 5,
                "failed": 0,
                "errors": 0,
                "skipped": 0,
                "failures": [],
                "flaky": [],
                "duration_s": 0.42,
            },
            "benchmark": {
                "source": "pytest-benchmark",
                "runs": 1,
                "series": [
                    {
                        "name": "test_count_primes",
                        "unit": "s",
                        "samples": [0.0101, 0.0099, 0.0102, 0.01, 0.0098, 0.0103],
                        "summary": {
                            "n": 6,
                            "min": 0.0098,
                            "max": 0.0103,
                            "mean": 0.01005,
                            "median": 0.01005,
                            "stdev": 0.000187,
                            "mad": 0.00015,
                            "p05": 0.0098,
                            "p95": 0.0103,
                            "cv": 0.0186,
                            "ci95_median": [0.0098, 0.0103],
                        },
                        "summary_only": False,
                    }
                ],
            },
            "notes": [],
            "created_at": "2026-12-01T10:05:00Z",
        },
    },
    tags={"repos": "Repositories: connected Git repositories, their detected commands, and repo runs."},
)


def register(app: APIGatewayHttpResolver, deps: ApiDeps) -> None:
    repos = RepoStore(deps.orgs.table, deps.clients)
    settings = deps.settings
    allow_local = local_repos_allowed(settings.allow_local_repos, settings.environment)

    def caller() -> Caller:
        return current_caller(app)

    @app.post(_BASE, tags=["repos"], responses={201: {"description": "Created"}})
    def connect_repo(body: RepoCreate) -> Response[Repo]:
        who = caller()
        url = check_repo_url(body.url, allow_local=allow_local)
        token = body.credentials.token if body.credentials else None
        branch = body.default_branch or remote_default_branch(url, token, allow_local=allow_local)
        repo = repos.create(
            who.org_id,
            url=url,
            name=body.name or name_from_url(url),
            default_branch=branch,
            token=token,
            created_by=who.identity,
        )
        return json_response(repo, 201)

    @app.get(_BASE, tags=["repos"])
    def list_repos(limit: Limit = None, cursor: Cursor = None) -> Page[Repo]:
        page = repos.list(caller().org_id, limit=page_size(deps, limit), cursor=cursor)
        return Page[Repo](items=page.items, next_cursor=page.next_cursor)

    @app.get("/v1/repos/<repo_id>", tags=["repos"])
    def get_repo(repo_id: Id) -> Repo:
        return repos.get(caller().org_id, repo_id)

    @app.patch("/v1/repos/<repo_id>", tags=["repos"])
    def update_repo(repo_id: Id, body: RepoUpdate) -> Repo:
        org_id = caller().org_id
        current = repos.get(org_id, repo_id)
        changed = body.model_fields_set
        if "credentials" in changed:
            token = body.credentials.token if body.credentials else None
            if token is not None:
                remote_default_branch(current.url, token, allow_local=allow_local)
            repos.set_token(org_id, repo_id, token)

        def change(repo: Repo) -> Repo:
            if body.name is not None:
                repo.name = body.name
            if body.default_branch is not None:
                repo.default_branch = body.default_branch
            if "credentials" in changed:
                repo.has_credentials = body.credentials is not None
            return repo

        return repos.update(org_id, repo_id, change, expected_revision=body.expected_revision)

    @app.delete("/v1/repos/<repo_id>", tags=["repos"])
    def delete_repo(repo_id: Id) -> Deleted:
        repos.delete(caller().org_id, repo_id)
        return Deleted(id=repo_id)

    @app.get("/v1/repos/<repo_id>/config", tags=["repos"])
    def get_repo_config(repo_id: Id) -> RepoConfigView:
        return repos.config(caller().org_id, repo_id).view()

    @app.put("/v1/repos/<repo_id>/config", tags=["repos"])
    def put_repo_config(repo_id: Id, body: RepoConfigUpdate) -> RepoConfigView:
        def change(config: RepoConfig) -> RepoConfig:
            config.overrides = {name: command for name, command in body.overrides.items() if command}
            if body.confirmed is not None:
                config.confirmed = body.confirmed
            if body.bench_runs is not None:
                config.bench_runs = body.bench_runs
            return config

        org_id = caller().org_id
        return repos.update_config(org_id, repo_id, change, expected_revision=body.expected_revision).view()

    @app.post("/v1/repos/<repo_id>/runs", tags=["repos"], responses={201: {"description": "Created"}})
    def start_repo_run(
        repo_id: Id,
        body: RepoRunCreate | None = None,
        idempotency_key: Annotated[IdempotencyKey | None, optional_header("idempotency-key")] = None,
    ) -> Response[Run]:
        who = caller()
        repo = repos.get(who.org_id, repo_id)
        run, created = deps.start_repo_run(who, repo, body or RepoRunCreate(), idempotency_key)
        if created:
            repos.update(who.org_id, repo_id, lambda current: current.model_copy(update={"last_run_id": run.id}))
        return json_response(sign_run_output(deps.blobs, run), 201 if created else 200)

    @app.get("/v1/repos/<repo_id>/runs", tags=["repos"])
    def list_repo_runs(repo_id: Id, limit: Limit = None, cursor: Cursor = None) -> Page[Run]:
        org_id = caller().org_id
        repos.get(org_id, repo_id)
        page = deps.runs.list(org_id, limit=page_size(deps, limit), cursor=cursor, thread_id=repo_id)
        items = [sign_run_output(deps.blobs, run) for run in page.items if run.workflow == "repo_optimize"]
        return Page[Run](items=items, next_cursor=page.next_cursor)

    @app.get("/v1/runs/<run_id>/baseline", tags=["repos"])
    def get_baseline(run_id: Id) -> Baseline:
        org_id = caller().org_id
        run = deps.runs.get(org_id, run_id)
        if run.workflow != "repo_optimize":
            raise NotFound(f"run {run_id} is not a repo run", code="no_baseline")
        size = deps.blobs.size(baseline_key(org_id, run_id))
        if size is None:
            raise NotFound(f"run {run_id} has no {BASELINE_ARTIFACT} yet", code="no_baseline")
        return Baseline.model_validate(json.loads(deps.blobs.read(baseline_key(org_id, run_id))))
