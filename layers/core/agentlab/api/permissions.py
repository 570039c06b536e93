"""Who may do what: every route names one action, every role a set of actions. The router consults this table
before any route runs; a route missing from it cannot be reached (a test checks every route has an entry)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from agentlab.errors import Forbidden
from agentlab.models import Caller, Role

_VIEWER = frozenset({"me.read", "agents.read", "runs.read", "files.read", "schedules.read", "usage.read", "repos.read"})
_MEMBER = _VIEWER | {"runs.create", "runs.cancel", "files.write"}
_OPERATOR = _MEMBER | {"agents.write", "runs.approve", "schedules.write", "repos.write"}
_ADMIN = _OPERATOR | {
    "members.read",
    "members.write",
    "api_keys.read",
    "api_keys.write",
    "audit.read",
    "providers.read",
    "org.export",
    "org.delete",
    "webhooks.read",
    "webhooks.write",
    "usage.budget",
}
ROLE_ACTIONS: dict[Role, frozenset[str]] = {
    "viewer": _VIEWER,
    "member": frozenset(_MEMBER),
    "operator": frozenset(_OPERATOR),
    "admin": frozenset(_ADMIN),
}
# Actions only a platform admin (the local stack's bootstrap identity, or an operator of the deployment) may take.
PLATFORM_ACTIONS = frozenset({"orgs.create"})
# Routes anyone may call; `None` marks them in the table below.
PUBLIC = None

ROUTES: dict[tuple[str, str], str | None] = {
    ("GET", "/v1/health"): PUBLIC,
    ("GET", "/v1/openapi.json"): PUBLIC,
    ("GET", "/v1/docs"): PUBLIC,
    ("POST", "/v1/auth/login"): PUBLIC,
    ("POST", "/v1/auth/refresh"): PUBLIC,
    ("GET", "/v1/me"): "me.read",
    # agents
    ("POST", "/v1/agents"): "agents.write",
    ("GET", "/v1/agents"): "agents.read",
    ("GET", "/v1/agents/{agent_id}"): "agents.read",
    ("PUT", "/v1/agents/{agent_id}"): "agents.write",
    ("DELETE", "/v1/agents/{agent_id}"): "agents.write",
    ("GET", "/v1/agents/{agent_id}/versions"): "agents.read",
    # runs
    ("POST", "/v1/runs"): "runs.create",
    ("GET", "/v1/runs"): "runs.read",
    ("GET", "/v1/runs/{run_id}"): "runs.read",
    ("GET", "/v1/runs/{run_id}/steps"): "runs.read",
    ("GET", "/v1/runs/{run_id}/artifacts"): "runs.read",
    ("POST", "/v1/runs/{run_id}/cancel"): "runs.cancel",
    ("POST", "/v1/runs/{run_id}/approve"): "runs.approve",
    ("POST", "/v1/runs/{run_id}/reject"): "runs.approve",
    # files
    ("POST", "/v1/files"): "files.write",
    ("POST", "/v1/files/{file_id}/complete"): "files.write",
    ("GET", "/v1/files/{file_id}"): "files.read",
    # people and keys
    ("POST", "/v1/members"): "members.write",
    ("GET", "/v1/members"): "members.read",
    ("PATCH", "/v1/members/{member_id}"): "members.write",
    ("DELETE", "/v1/members/{member_id}"): "members.write",
    ("POST", "/v1/api-keys"): "api_keys.write",
    ("GET", "/v1/api-keys"): "api_keys.read",
    ("POST", "/v1/api-keys/{key_id}/rotate"): "api_keys.write",
    ("DELETE", "/v1/api-keys/{key_id}"): "api_keys.write",
    # org administration
    ("GET", "/v1/audit"): "audit.read",
    ("GET", "/v1/providers"): "providers.read",
    ("POST", "/v1/orgs"): "orgs.create",
    ("GET", "/v1/orgs/{org_id}/export"): "org.export",
    ("DELETE", "/v1/orgs/{org_id}"): "org.delete",
    # schedules (api/schedule_routes.py)
    ("POST", "/v1/schedules"): "schedules.write",
    ("GET", "/v1/schedules"): "schedules.read",
    ("POST", "/v1/schedules/preview"): "schedules.read",
    ("GET", "/v1/schedules/{schedule_id}"): "schedules.read",
    ("PATCH", "/v1/schedules/{schedule_id}"): "schedules.write",
    ("DELETE", "/v1/schedules/{schedule_id}"): "schedules.write",
    ("POST", "/v1/schedules/{schedule_id}/pause"): "schedules.write",
    ("POST", "/v1/schedules/{schedule_id}/resume"): "schedules.write",
    ("POST", "/v1/schedules/{schedule_id}/run-now"): "schedules.write",
    ("GET", "/v1/schedules/{schedule_id}/fires"): "schedules.read",
    # webhooks (api/webhook_routes.py)
    ("POST", "/v1/webhooks"): "webhooks.write",
    ("GET", "/v1/webhooks"): "webhooks.read",
    ("GET", "/v1/webhooks/{webhook_id}"): "webhooks.read",
    ("PATCH", "/v1/webhooks/{webhook_id}"): "webhooks.write",
    ("DELETE", "/v1/webhooks/{webhook_id}"): "webhooks.write",
    ("POST", "/v1/webhooks/{webhook_id}/rotate-secret"): "webhooks.write",
    ("GET", "/v1/webhooks/{webhook_id}/deliveries"): "webhooks.read",
    ("POST", "/v1/webhooks/{webhook_id}/deliveries/{delivery_id}/redeliver"): "webhooks.write",
    # usage and the org's monthly budget (api/usage_routes.py)
    # repositories (api/repo_routes.py)
    ("POST", "/v1/repos"): "repos.write",
    ("GET", "/v1/repos"): "repos.read",
    ("GET", "/v1/repos/{repo_id}"): "repos.read",
    ("PATCH", "/v1/repos/{repo_id}"): "repos.write",
    ("DELETE", "/v1/repos/{repo_id}"): "repos.write",
    ("GET", "/v1/repos/{repo_id}/config"): "repos.read",
    ("PUT", "/v1/repos/{repo_id}/config"): "repos.write",
    ("POST", "/v1/repos/{repo_id}/runs"): "repos.write",
    ("GET", "/v1/repos/{repo_id}/runs"): "repos.read",
    ("GET", "/v1/runs/{run_id}/baseline"): "runs.read",
    ("GET", "/v1/usage"): "usage.read",
    ("GET", "/v1/usage/budget"): "usage.read",
    ("PUT", "/v1/usage/budget"): "usage.budget",
}


@dataclass(frozen=True)
class RouteMatch:
    template: str
    action: str | None
    params: dict[str, str]

    @property
    def public(self) -> bool:
        return self.action is None


def _compile(template: str) -> re.Pattern[str]:
    pattern = re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(template))
    return re.compile(f"^{pattern}$")


_COMPILED = [(method, template, _compile(template), action) for (method, template), action in ROUTES.items()]
# A path that is a route of its own (POST /v1/schedules/preview) is never the value of another route's parameter.
_LITERAL_PATHS = frozenset(template for _, template in ROUTES if "{" not in template)


def _shadowed(template: str, path: str) -> bool:
    return "{" in template and path in _LITERAL_PATHS


def match(method: str, path: str) -> RouteMatch | None:
    method, path = method.upper(), (path.rstrip("/") or "/")
    if method == "HEAD":
        method = "GET"
    for route_method, template, pattern, action in _COMPILED:
        if route_method == method and (found := pattern.match(path)) and not _shadowed(template, path):
            return RouteMatch(template, action, found.groupdict())
    return None


# The order `Allow` lists methods in.
_METHOD_ORDER = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def _routes_of(path: str) -> list[tuple[str, str | None]]:
    path = path.rstrip("/") or "/"
    return [
        (method, action)
        for method, template, pattern, action in _COMPILED
        if pattern.match(path) and not _shadowed(template, path)
    ]


def path_exists(path: str) -> bool:
    return bool(_routes_of(path))


def allowed_methods(path: str) -> list[str]:
    """The methods a path answers, as `Allow` lists them: its routes' methods, HEAD wherever GET is, and OPTIONS;
    none for a path that is no route."""
    methods = {method for method, _ in _routes_of(path)}
    if not methods:
        return []
    if "GET" in methods:
        methods.add("HEAD")
    methods.add("OPTIONS")
    return sorted(methods, key=lambda m: (_METHOD_ORDER.index(m) if m in _METHOD_ORDER else len(_METHOD_ORDER), m))


def has_public_route(path: str) -> bool:
    """Whether anyone may call some method of the path, so that asking which methods it has reveals nothing."""
    return any(action is PUBLIC for _, action in _routes_of(path))


def actions_for(caller: Caller) -> list[str]:
    allowed = set(ROLE_ACTIONS[caller.role])
    if caller.platform_admin:
        allowed |= PLATFORM_ACTIONS
    return sorted(allowed)


def authorize(caller: Caller, action: str) -> None:
    if action in PLATFORM_ACTIONS:
        if not caller.platform_admin:
            raise Forbidden("only a platform admin may do this")
        return
    if action not in ROLE_ACTIONS[caller.role]:
        needed = next(
            (role for role in ("viewer", "member", "operator", "admin") if action in ROLE_ACTIONS[role]), "admin"
        )
        raise Forbidden(f"'{action}' needs the {needed} role or higher; you are {caller.role}")
