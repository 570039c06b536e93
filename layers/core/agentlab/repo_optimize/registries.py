"""What an install phase is handed to reach package registries.

In AWS the sandbox has no internet route: it installs through the stack's CodeArtifact repositories (PyPI and npm
upstreams) behind VPC endpoints. The trusted side assumes a role that may only read those repositories, gets a
CodeArtifact token with it (the shortest lifetime CodeArtifact allows, 15 minutes) and hands the install phase the
registry URLs with that token in its environment. The token reads packages and nothing else, and it is redacted
from every log kept. Locally no registry is configured: the install phase shares the host's network instead.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from agentlab.repo_optimize.settings import RepoSettings

TOKEN_LIFETIME_S = 900
SESSION_NAME = "agentlab-repo-install"


def registries_configured(settings: RepoSettings) -> bool:
    return bool(settings.codeartifact_domain and settings.repo_install_role_arn)


def registry_env(
    settings: RepoSettings, clients: Any, *, sts: Any = None, codeartifact: Any = None
) -> tuple[dict[str, str], list[str]]:
    """The install phase's environment and the secrets in it (to redact): nothing where no registry is configured."""
    if not registries_configured(settings):
        return {}, []
    if codeartifact is None:
        import boto3

        sts = sts or boto3.client("sts", region_name=settings.region)
        assumed = sts.assume_role(
            RoleArn=settings.repo_install_role_arn, RoleSessionName=SESSION_NAME, DurationSeconds=TOKEN_LIFETIME_S
        )["Credentials"]
        codeartifact = boto3.client(
            "codeartifact",
            region_name=settings.region,
            aws_access_key_id=assumed["AccessKeyId"],
            aws_secret_access_key=assumed["SecretAccessKey"],
            aws_session_token=assumed["SessionToken"],
        )
    owner = {"domainOwner": settings.codeartifact_domain_owner} if settings.codeartifact_domain_owner else {}
    token = codeartifact.get_authorization_token(
        domain=settings.codeartifact_domain, durationSeconds=TOKEN_LIFETIME_S, **owner
    )["authorizationToken"]
    env: dict[str, str] = {}
    if settings.codeartifact_pypi_repository:
        pypi = codeartifact.get_repository_endpoint(
            domain=settings.codeartifact_domain,
            repository=settings.codeartifact_pypi_repository,
            format="pypi",
            **owner,
        )["repositoryEndpoint"]
        parts = urlsplit(pypi)
        index = f"{parts.scheme}://aws:{token}@{parts.netloc}{parts.path.rstrip('/')}/simple/"
        env.update({"PIP_INDEX_URL": index, "UV_DEFAULT_INDEX": index, "POETRY_REPOSITORIES_CODEARTIFACT_URL": index})
    if settings.codeartifact_npm_repository:
        npm = codeartifact.get_repository_endpoint(
            domain=settings.codeartifact_domain, repository=settings.codeartifact_npm_repository, format="npm", **owner
        )["repositoryEndpoint"]
        registry = npm if npm.endswith("/") else f"{npm}/"
        scoped = registry.split("://", 1)[-1]
        env.update(
            {
                "NPM_CONFIG_REGISTRY": registry,
                # npm and pnpm read the registry's token from a userconfig; the phase's runner writes it to HOME.
                "AGENTLAB_NPMRC": f"registry={registry}\n//{scoped}:_authToken={token}\nalways-auth=true\n",
                "YARN_NPM_REGISTRY_SERVER": registry,
                "YARN_NPM_AUTH_TOKEN": token,
                "YARN_REGISTRY": registry,
            }
        )
    return env, [token]
