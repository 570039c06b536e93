"""The Checkout state: the trusted side fetches the repository (with the token from Secrets Manager) at the branch
head or the asked commit, shallow and capped, into S3 as a tarball, and records the commit. No repository code runs
here; the sandbox unpacks the tarball in the Baseline state."""

from __future__ import annotations

import contextlib
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from agentlab.errors import AgentlabError
from agentlab.models import TERMINAL_STATUSES, Run
from agentlab.repo_optimize.connect import check_repo_url, local_repos_allowed
from agentlab.repo_optimize.outputs import source_key
from agentlab.store.repos import RepoStore
from agentlab.workflow.base import StepRef, fail_run, step_output

if TYPE_CHECKING:
    from agentlab.repo_optimize.settings import RepoSettings
    from agentlab.workflow.deps import StepDeps


def repo_settings(deps: StepDeps) -> RepoSettings:
    """The repo steps' settings (a millisecond to read; read at each invocation so that they follow the environment)."""
    from agentlab.repo_optimize.settings import RepoSettings

    return deps.settings if isinstance(deps.settings, RepoSettings) else RepoSettings()


@contextlib.contextmanager
def checked_out_tree(deps: StepDeps, ref: StepRef, settings: RepoSettings) -> Iterator[Path]:
    """The run's checkout unpacked into a private temporary folder of the trusted side, to be read (never run) and
    removed afterwards."""
    from agentlab.repo_optimize.tarball import unpack_tarball

    data = deps.blobs.read(source_key(ref.org_id, ref.run_id))
    with tempfile.TemporaryDirectory(prefix="agentlab-checkout-") as folder:
        tree = Path(folder) / "repo"
        tree.mkdir()
        unpack_tarball(
            data, tree, max_bytes=settings.repo_max_checkout_mb * 1024 * 1024, max_files=settings.repo_max_files
        )
        yield tree


def checked_out_run(deps: StepDeps, ref: StepRef) -> tuple[Run | None, dict[str, str] | None]:
    """The run for a step after Checkout, or the step's answer when there is nothing to do (the run ended, or it has
    no checkout: then it is failed with the reason)."""
    run = deps.runs.get(ref.org_id, ref.run_id)
    if run.status in TERMINAL_STATUSES:
        return None, step_output(ref, "end")
    if run.repo is None or run.repo.commit_sha is None:
        return None, fail_run(deps, ref, "not_checked_out", "the repository was not checked out")
    return run, None


def checkout(deps: StepDeps, ref: StepRef) -> dict[str, str]:
    from agentlab.repo_optimize.checkout import CheckoutError, CheckoutLimits, fetch_repository

    run = deps.runs.get(ref.org_id, ref.run_id)
    if run.status in TERMINAL_STATUSES:
        return step_output(ref, "end")
    if run.repo is None:
        return fail_run(deps, ref, "not_a_repo_run", "the run names no repository")
    deps.runs.transition(ref.org_id, ref.run_id, "running")
    settings = repo_settings(deps)
    repos = RepoStore(deps.runs.table, deps.clients)
    repo = repos.find(ref.org_id, run.repo.repo_id)
    if repo is None:
        return fail_run(deps, ref, "repo_not_found", "the repository was disconnected before its run started")
    allow_local = local_repos_allowed(settings.allow_local_repos, settings.environment)
    started = time.monotonic()
    try:
        # Checked again here: a name that resolved to a public address when it was connected may not now.
        url = check_repo_url(run.repo.url, allow_local=allow_local)
        checked = fetch_repository(
            url,
            ref=None if run.repo.sha else run.repo.branch,
            sha=run.repo.sha,
            token=repos.token(ref.org_id, repo.id),
            limits=CheckoutLimits(
                max_bytes=settings.repo_max_checkout_mb * 1024 * 1024,
                max_files=settings.repo_max_files,
                timeout_s=settings.repo_checkout_timeout_s,
            ),
            allow_local=allow_local,
        )
    except (CheckoutError, AgentlabError) as exc:
        duration_ms = round((time.monotonic() - started) * 1000)
        deps.runs.append_step(
            ref.org_id,
            ref.run_id,
            "checkout",
            duration_ms=duration_ms,
            detail={"ok": False, "code": exc.code, "message": exc.message, "branch": run.repo.branch},
        )
        return fail_run(deps, ref, exc.code, exc.message)
    deps.blobs.put(source_key(ref.org_id, ref.run_id), checked.tarball, content_type="application/gzip")

    def record_commit(current: Run) -> None:
        assert current.repo is not None
        current.repo.commit_sha = checked.commit_sha

    deps.runs.append_step(
        ref.org_id,
        ref.run_id,
        "checkout",
        duration_ms=round((time.monotonic() - started) * 1000),
        detail={
            "ok": True,
            "commit_sha": checked.commit_sha,
            "branch": checked.branch or run.repo.branch,
            "files": checked.files,
            "bytes": checked.bytes,
            "skipped": checked.skipped[:200],
        },
        update_run=record_commit,
    )
    return step_output(ref, "detect")
