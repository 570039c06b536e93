"""Connected repositories and their command configuration.

Keys (all strings):

entity        PK           SK
------------  -----------  ------------------
repo          ORG#<org>    REPO#<repo>
repo config   ORG#<org>    REPOCONFIG#<repo>

A repository's token lives in Secrets Manager under `agentlab/<org>/repos/<repo>`, never in the table, and is read
only by the trusted side (the Checkout step) when it fetches the repository. The config is an item of its own so that
a listing of repositories stays small, and every write to either is conditional on the revision read.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

from agentlab.errors import ConcurrentUpdate, NotFound
from agentlab.ids import new_ulid
from agentlab.models.common import utc_now
from agentlab.models.repo import Detection, Repo, RepoConfig
from agentlab.store.table import QueryPage, Table, entity_fields, pause_before_retry

_UPDATE_ATTEMPTS = 5


def token_secret_name(org_id: str, repo_id: str) -> str:
    return f"agentlab/{org_id}/repos/{repo_id}"


def repo_key(org_id: str, repo_id: str) -> tuple[str, str]:
    return f"ORG#{org_id}", f"REPO#{repo_id}"


def config_key(org_id: str, repo_id: str) -> tuple[str, str]:
    return f"ORG#{org_id}", f"REPOCONFIG#{repo_id}"


def _repo_item(repo: Repo) -> dict[str, Any]:
    pk, sk = repo_key(repo.org_id, repo.id)
    return {"PK": pk, "SK": sk, "entity": "repo", **repo.model_dump(mode="json")}


def _config_item(org_id: str, config: RepoConfig) -> dict[str, Any]:
    pk, sk = config_key(org_id, config.repo_id)
    return {"PK": pk, "SK": sk, "entity": "repo_config", "org_id": org_id, **config.model_dump(mode="json")}


def delete_token(clients: Any, org_id: str, repo_id: str) -> None:
    secrets = clients.secretsmanager
    with contextlib.suppress(secrets.exceptions.ResourceNotFoundException):
        secrets.delete_secret(SecretId=token_secret_name(org_id, repo_id), ForceDeleteWithoutRecovery=True)


class RepoStore:
    def __init__(self, table: Table, clients: Any) -> None:
        self.table = table
        self.clients = clients

    # repositories ---------------------------------------------------------------------------------------------
    def create(
        self, org_id: str, *, url: str, name: str, default_branch: str, token: str | None, created_by: str
    ) -> Repo:
        now = utc_now()
        repo = Repo(
            id=new_ulid(),
            org_id=org_id,
            name=name,
            url=url,
            default_branch=default_branch,
            has_credentials=token is not None,
            created_at=now,
            updated_at=now,
            created_by=created_by,
        )
        if token is not None:
            self._create_token(org_id, repo.id, token)
        try:
            # The config item is written at the first change of it; until then the config is the default.
            self.table.put_new(_repo_item(repo))
        except Exception:
            if token is not None:
                delete_token(self.clients, org_id, repo.id)
            raise
        return repo

    def find(self, org_id: str, repo_id: str) -> Repo | None:
        item = self.table.get(*repo_key(org_id, repo_id))
        return Repo.model_validate(entity_fields(item)) if item else None

    def get(self, org_id: str, repo_id: str) -> Repo:
        repo = self.find(org_id, repo_id)
        if repo is None:
            raise NotFound(f"repository {repo_id} not found")
        return repo

    def list(self, org_id: str, *, limit: int, cursor: str | None) -> QueryPage[Repo]:
        page = self.table.query(
            partition=("PK", f"ORG#{org_id}"), sort_prefix="REPO#", limit=limit, cursor=cursor, newest_first=True
        )
        return page.map(lambda item: Repo.model_validate(entity_fields(item)))

    def update(
        self, org_id: str, repo_id: str, change: Callable[[Repo], Repo | None], *, expected_revision: int | None = None
    ) -> Repo:
        """Apply `change` to the current repository with a conditional write, retrying a lost race a few times;
        with `expected_revision`, a repository at another revision is a conflict."""
        for attempt in range(_UPDATE_ATTEMPTS):
            current = self.get(org_id, repo_id)
            if expected_revision is not None and current.revision != expected_revision:
                raise ConcurrentUpdate(
                    f"repository {repo_id} is at revision {current.revision}, not {expected_revision}"
                )
            changed = change(current.model_copy(deep=True))
            if changed is None:
                return current
            updated = changed.model_copy(update={"updated_at": utc_now(), "revision": current.revision + 1})
            try:
                self.table.put_if_revision(_repo_item(updated), attribute="revision", expected=current.revision)
            except ConcurrentUpdate:
                if expected_revision is not None:
                    raise
                pause_before_retry(attempt)
                continue
            return updated
        raise ConcurrentUpdate(f"repository {repo_id} changed meanwhile; reload and retry")

    def delete(self, org_id: str, repo_id: str) -> None:
        self.get(org_id, repo_id)
        self.table.delete_many([repo_key(org_id, repo_id), config_key(org_id, repo_id)])
        delete_token(self.clients, org_id, repo_id)

    # the token ------------------------------------------------------------------------------------------------
    def _create_token(self, org_id: str, repo_id: str, token: str) -> None:
        self.clients.secretsmanager.create_secret(
            Name=token_secret_name(org_id, repo_id),
            SecretString=token,
            Description="agentlab repository token",
            Tags=[{"Key": "agentlab:org", "Value": org_id}],
        )

    def set_token(self, org_id: str, repo_id: str, token: str | None) -> None:
        """Store, replace or (None) remove the repository's token."""
        if token is None:
            delete_token(self.clients, org_id, repo_id)
            return
        secrets = self.clients.secretsmanager
        try:
            secrets.put_secret_value(SecretId=token_secret_name(org_id, repo_id), SecretString=token)
        except secrets.exceptions.ResourceNotFoundException:
            self._create_token(org_id, repo_id, token)

    def token(self, org_id: str, repo_id: str) -> str | None:
        secrets = self.clients.secretsmanager
        try:
            response = secrets.get_secret_value(SecretId=token_secret_name(org_id, repo_id))
        except secrets.exceptions.ResourceNotFoundException:
            return None
        return str(response["SecretString"])

    # the config -----------------------------------------------------------------------------------------------
    def config(self, org_id: str, repo_id: str) -> RepoConfig:
        self.get(org_id, repo_id)
        item = self.table.get(*config_key(org_id, repo_id))
        if item is None:
            return RepoConfig(repo_id=repo_id)
        fields = entity_fields(item)
        fields.pop("org_id", None)
        return RepoConfig.model_validate(fields)

    def update_config(
        self,
        org_id: str,
        repo_id: str,
        change: Callable[[RepoConfig], RepoConfig],
        *,
        expected_revision: int | None = None,
    ) -> RepoConfig:
        for attempt in range(_UPDATE_ATTEMPTS):
            current = self.config(org_id, repo_id)
            if expected_revision is not None and current.revision != expected_revision:
                raise ConcurrentUpdate(
                    f"the config of repository {repo_id} is at revision {current.revision}, not {expected_revision}"
                )
            updated = change(current.model_copy(deep=True)).model_copy(
                update={"revision": current.revision + 1, "updated_at": utc_now()}
            )
            try:
                if current.revision == 0:
                    self.table.put_new(_config_item(org_id, updated))
                else:
                    self.table.put_if_revision(
                        _config_item(org_id, updated), attribute="revision", expected=current.revision
                    )
            except ConcurrentUpdate:
                if expected_revision is not None:
                    raise
                pause_before_retry(attempt)
                continue
            return updated
        raise ConcurrentUpdate(f"the config of repository {repo_id} changed meanwhile; reload and retry")

    def record_detection(self, org_id: str, repo_id: str, detection: Detection) -> RepoConfig:
        """The Detect step's finding replaces the previous one; a person's overrides and confirmations stay."""

        def change(config: RepoConfig) -> RepoConfig:
            config.detected = detection
            return config

        return self.update_config(org_id, repo_id, change)
