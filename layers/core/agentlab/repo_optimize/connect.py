"""Which repository URLs may be connected, and the check that one answers before it is stored.

https URLs must resolve to public addresses only (agentlab.netguard), with no credentials, query or fragment in them:
a token is given apart and kept in Secrets Manager. A `file://` path to a repository on this machine is accepted only
where the stack allows it (`AGENTLAB_ALLOW_LOCAL_REPOS=1` on the local stack, for tests and demos); AWS never does.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote, urlsplit

from agentlab.errors import Unprocessable
from agentlab.netguard import check_public_https_url

CONNECT_TIMEOUT_S = 10.0


class RepoUnreachable(Unprocessable):
    code = "repo_unreachable"


def local_repos_allowed(allow_local_repos: bool, environment: str) -> bool:
    return allow_local_repos and environment != "aws"


def check_repo_url(url: str, *, allow_local: bool) -> str:
    """The URL as it is stored; Unprocessable (`url_not_allowed`) for one that may not be connected."""
    url = url.strip()
    parts = urlsplit(url)
    if parts.scheme == "file":
        if not allow_local:
            raise Unprocessable("file:// repositories are not accepted here", code="url_not_allowed")
        path = Path(unquote(parts.path))
        if parts.netloc not in ("", "localhost") or not path.is_absolute():
            raise Unprocessable("a file:// URL must name an absolute path on this machine", code="url_not_allowed")
        if not ((path / "HEAD").is_file() or (path / ".git").exists()):
            raise Unprocessable(f"{path} is not a Git repository", code="url_not_allowed")
        return f"file://{path}"
    if parts.query or parts.fragment:
        raise Unprocessable(
            "this URL is not allowed: a repository URL has no query or fragment", code="url_not_allowed"
        )
    check_public_https_url(url)
    return url


def name_from_url(url: str) -> str:
    """`https://github.com/acme/fastmath.git` -> `fastmath`."""
    tail = urlsplit(url).path.rstrip("/").rsplit("/", 1)[-1]
    return tail.removesuffix(".git") or "repository"


def remote_default_branch(url: str, token: str | None, *, allow_local: bool) -> str:
    """The branch the remote's HEAD names, which also proves the repository answers (with the token, if any)."""
    from agentlab.repo_optimize.checkout import CheckoutError, default_branch

    try:
        return default_branch(url, token=token, allow_local=allow_local, timeout_s=CONNECT_TIMEOUT_S)
    except CheckoutError as exc:
        raise RepoUnreachable(f"the repository could not be reached: {exc.message}") from exc
