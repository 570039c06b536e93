"""The API function's SnapStart hooks: registered when the runtime offers them, and the before-snapshot hook leaves a
warm environment (dependencies, route table, one public route resolved)."""

from __future__ import annotations

import importlib.util
import json
import random
import sys
import types
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from moto import mock_aws

HANDLER = Path(__file__).resolve().parents[2] / "functions" / "api" / "handler.py"


class FakeRuntimeHooks:
    """Stands in for the Lambda runtime's `snapshot_restore_py`: it records the hooks it is given."""

    def __init__(self) -> None:
        self.before: list[Callable[..., Any]] = []
        self.after: list[Callable[..., Any]] = []

    def module(self) -> types.ModuleType:
        module = types.ModuleType("snapshot_restore_py")
        module.register_before_snapshot = lambda func, *a, **k: self.before.append(func)  # type: ignore[attr-defined]
        module.register_after_restore = lambda func, *a, **k: self.after.append(func)  # type: ignore[attr-defined]
        return module


def load_handler(name: str) -> types.ModuleType:
    spec = importlib.util.spec_from_file_location(name, HANDLER)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def api_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name, value in {
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AGENTLAB_ENVIRONMENT": "local",
        "AGENTLAB_TABLE_NAME": "agentlab-snapstart",
        "AGENTLAB_BUCKET_NAME": "agentlab-snapstart-data",
    }.items():
        monkeypatch.setenv(name, value)
    yield
    for name in [n for n in sys.modules if n.startswith("agentlab_test_api_handler")]:
        del sys.modules[name]


def test_hooks_are_registered_when_the_runtime_offers_them(monkeypatch: pytest.MonkeyPatch, api_env: None) -> None:
    # Given the runtime's hook module
    hooks = FakeRuntimeHooks()
    monkeypatch.setitem(sys.modules, "snapshot_restore_py", hooks.module())
    # When the handler module is imported
    handler = load_handler("agentlab_test_api_handler_registered")
    # Then one hook of each kind is registered, and importing built nothing yet
    assert hooks.before == [handler.prime_before_snapshot]
    assert hooks.after == [handler.refresh_after_restore]
    assert handler._deps is None and handler._app is None


def test_without_the_runtime_module_nothing_is_registered(monkeypatch: pytest.MonkeyPatch, api_env: None) -> None:
    monkeypatch.setitem(sys.modules, "snapshot_restore_py", None)  # an import of it raises ImportError
    handler = load_handler("agentlab_test_api_handler_local")
    assert callable(handler.handler) and handler._deps is None


def test_before_snapshot_hook_builds_the_app_and_resolves_a_route(
    monkeypatch: pytest.MonkeyPatch, api_env: None
) -> None:
    hooks = FakeRuntimeHooks()
    monkeypatch.setitem(sys.modules, "snapshot_restore_py", hooks.module())
    handler = load_handler("agentlab_test_api_handler_primed")
    resolved: list[str] = []
    with mock_aws():
        import boto3

        from agentlab.api import app as api_app

        original = api_app.handle_event

        def spying(app: Any, deps: Any, event: dict[str, Any], context: Any) -> dict[str, Any]:
            resolved.append(event["rawPath"])
            return original(app, deps, event, context)

        monkeypatch.setattr(handler, "handle_event", spying)
        # When the runtime runs the before-snapshot hook
        answer = hooks.before[0]()
        # Then the dependencies, the clients and the route table are built, and /v1/health was resolved
        assert handler._deps is not None and handler._app is not None
        assert handler._deps.clients._clients, "the boto3 clients are built before the snapshot"
        assert resolved == ["/v1/health"]
        assert answer["statusCode"] == 200
        assert json.loads(answer["body"])["status"] == "ok"
        # and no table was needed: the priming made no AWS call that creates or reads anything
        assert boto3.client("dynamodb", region_name="us-east-1").list_tables()["TableNames"] == []
        primed_app = handler._app

        # A request after restore reuses what the snapshot holds
        event = dict(handler.PRIMING_EVENT, headers={"x-request-id": "after-restore"})
        assert handler.handler(event, _Context())["statusCode"] == 200
        assert handler._app is primed_app


def test_after_restore_hook_reseeds_random(monkeypatch: pytest.MonkeyPatch, api_env: None) -> None:
    hooks = FakeRuntimeHooks()
    monkeypatch.setitem(sys.modules, "snapshot_restore_py", hooks.module())
    load_handler("agentlab_test_api_handler_restored")
    # Two environments restored from one snapshot start from the same `random` state ...
    random.seed(1234)
    state = random.getstate()
    hooks.after[0]()
    first = random.random()
    random.setstate(state)
    hooks.after[0]()
    second = random.random()
    # ... and the hook gives each its own sequence
    assert first != second


class _Context:
    function_name = "agentlab-api"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:agentlab-api"
    aws_request_id = "after-restore"
