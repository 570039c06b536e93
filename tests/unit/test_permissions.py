"""The role x route matrix: roles nest, every action belongs to a role, routes match their templates only."""

from __future__ import annotations

import pytest

from agentlab.api.permissions import (
    PLATFORM_ACTIONS,
    ROLE_ACTIONS,
    ROUTES,
    actions_for,
    allowed_methods,
    authorize,
    has_public_route,
    match,
)
from agentlab.errors import Forbidden
from agentlab.models import Caller

ID = "01ARZ3NDEKTSV4RRFFQ69G5FAV"


def caller(role: str, platform_admin: bool = False) -> Caller:
    return Caller(org_id="o", identity="apikey:x", role=role, platform_admin=platform_admin)  # type: ignore[arg-type]


def test_roles_nest_viewer_member_operator_admin() -> None:
    assert ROLE_ACTIONS["viewer"] < ROLE_ACTIONS["member"] < ROLE_ACTIONS["operator"] < ROLE_ACTIONS["admin"]
    assert all(not action.endswith((".write", ".create", ".cancel")) for action in ROLE_ACTIONS["viewer"])


def test_every_route_action_is_granted_to_some_role_or_the_platform() -> None:
    granted = set().union(*ROLE_ACTIONS.values()) | PLATFORM_ACTIONS
    assert {action for action in ROUTES.values() if action is not None} <= granted


@pytest.mark.parametrize(
    ("method", "path", "template", "action"),
    [
        ("GET", f"/v1/runs/{ID}", "/v1/runs/{run_id}", "runs.read"),
        ("GET", f"/v1/runs/{ID}/", "/v1/runs/{run_id}", "runs.read"),
        ("HEAD", "/v1/agents", "/v1/agents", "agents.read"),
        ("POST", f"/v1/runs/{ID}/approve", "/v1/runs/{run_id}/approve", "runs.approve"),
        ("DELETE", f"/v1/orgs/{ID}", "/v1/orgs/{org_id}", "org.delete"),
        ("POST", "/v1/auth/login", "/v1/auth/login", None),
    ],
)
def test_paths_match_their_templates(method: str, path: str, template: str, action: str | None) -> None:
    found = match(method, path)
    assert found is not None and found.template == template and found.action == action


def test_unknown_paths_and_methods_do_not_match() -> None:
    assert match("GET", f"/v1/runs/{ID}/steps/extra") is None
    assert match("PATCH", "/v1/agents") is None
    assert match("GET", "/v1/runs/a/b") is None


@pytest.mark.parametrize(
    ("path", "methods"),
    [
        ("/v1/agents", ["GET", "HEAD", "POST", "OPTIONS"]),
        (f"/v1/agents/{ID}/", ["GET", "HEAD", "PUT", "DELETE", "OPTIONS"]),
        (f"/v1/runs/{ID}/cancel", ["POST", "OPTIONS"]),
        (f"/v1/members/{ID}", ["PATCH", "DELETE", "OPTIONS"]),
        ("/v1/health", ["GET", "HEAD", "OPTIONS"]),
        ("/v1/nothing-here", []),
    ],
)
def test_a_paths_methods_are_its_routes_with_head_wherever_get_is_and_options(path: str, methods: list[str]) -> None:
    assert allowed_methods(path) == methods


def test_every_method_a_path_allows_but_options_matches_a_route() -> None:
    for _, template in ROUTES:
        path = template.replace("{", "").replace("}", "")
        assert all(match(method, path) is not None for method in allowed_methods(path) if method != "OPTIONS")


def test_only_paths_with_a_public_route_are_public() -> None:
    assert has_public_route("/v1/health") and has_public_route("/v1/auth/login")
    assert not has_public_route("/v1/agents") and not has_public_route("/v1/nothing-here")


def test_authorize_refuses_below_the_needed_role_and_names_it() -> None:
    authorize(caller("operator"), "runs.approve")
    with pytest.raises(Forbidden, match="needs the operator role"):
        authorize(caller("member"), "runs.approve")
    with pytest.raises(Forbidden, match="platform admin"):
        authorize(caller("admin"), "orgs.create")
    authorize(caller("admin", platform_admin=True), "orgs.create")
    assert "orgs.create" in actions_for(caller("viewer", platform_admin=True))
    assert "orgs.create" not in actions_for(caller("admin"))
