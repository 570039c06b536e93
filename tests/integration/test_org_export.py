"""An org export too large for Lambda's response is handed out through storage: written under the org's prefix with
an expiry tag and answered 303 with a presigned link; a small one is answered inline as before."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlparse

import pytest
from apiclient import ApiResponse, EventClient
from moto_platform import Platform, executions_end
from run_checks import error_of, wait_for

from agentlab.local.functions import HandlerRegistry
from agentlab.store.blobs import EXPORT_EXPIRY_TAG

FINISH = [{"tool": "finish", "answer": "done"}]
TERMINAL = {"succeeded", "failed", "cancelled", "budget_exceeded"}
# Far below any org's document: every export through a handler started with it goes through storage.
SMALL_LIMIT = "512"


def org_with_a_run(platform: Platform, name: str) -> tuple[str, EventClient]:
    org_id, key = platform.new_org(name)
    admin = platform.api(key)
    agent = admin.post("/v1/agents", {"name": f"{name}-agent", "models": {"reasoning": ["scripted"]}}).json()
    run = admin.post("/v1/runs", {"agent_id": agent["id"], "prompt": "go", "script": FINISH}).json()
    wait_for(admin, run["id"], TERMINAL)
    # A run is terminal before its last step returns, which still writes its roll-up: the exports compared below
    # would otherwise see it change between them.
    executions_end(platform, timeout_s=30)
    return org_id, admin


def api_with_small_limit(root: Path, monkeypatch: pytest.MonkeyPatch, key: str | None) -> EventClient:
    """A second API function on the same AWS whose settings (read at its cold start) keep only tiny exports inline."""
    monkeypatch.setenv("AGENTLAB_EXPORT_INLINE_MAX_BYTES", SMALL_LIMIT)
    return EventClient(HandlerRegistry(root / "functions").handler("api"), key)


def stored_key(platform: Platform, url: str) -> str:
    """The object key a presigned URL points at (path-style or virtual-hosted)."""
    path = unquote(urlparse(url).path).lstrip("/")
    bucket = platform.settings.bucket_name
    return path.removeprefix(f"{bucket}/")


def without_time(document: dict[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in document.items() if name != "exported_at"}


def downloaded(platform: Platform, response: ApiResponse) -> dict[str, Any]:
    key = stored_key(platform, response.headers["location"])
    body = platform.clients.s3.get_object(Bucket=platform.settings.bucket_name, Key=key)["Body"].read()
    return dict(json.loads(body))


def test_a_small_export_is_answered_inline_as_a_compact_json_attachment(platform: Platform) -> None:
    # Given an org with an agent and a finished run, and the default inline limit
    org_id, admin = org_with_a_run(platform, "acme")

    # When its admin exports it
    export = admin.get(f"/v1/orgs/{org_id}/export")

    # Then the document is the body itself, compact, saved as the org's file
    assert export.status == 200, export.text
    assert export.headers["content-type"] == "application/json"
    assert export.headers["content-disposition"] == f'attachment; filename="agentlab-org-{org_id}.json"'
    document = export.json()
    assert export.text == json.dumps(document, separators=(",", ":"))
    assert document["org"]["id"] == org_id and len(document["runs"]) == 1 and document["steps"]
    assert "location" not in export.headers


def test_a_large_export_is_stored_under_the_org_with_an_expiry_tag_and_answered_303(
    platform: Platform, root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given an org, exported once inline
    org_id, admin = org_with_a_run(platform, "acme")
    inline = admin.get(f"/v1/orgs/{org_id}/export")
    assert inline.status == 200

    # When the same org is exported by an API whose inline limit is below the document's size
    large = api_with_small_limit(root, monkeypatch, admin.key).get(f"/v1/orgs/{org_id}/export")

    # Then it answers 303 with a presigned link in Location and a small body describing it
    assert large.status == 303, large.text
    link = large.json()
    assert sorted(link) == ["bytes", "download_url", "expires_in_s"]
    assert link["download_url"] == large.headers["location"]
    assert link["expires_in_s"] == 900
    query = parse_qs(urlparse(large.headers["location"]).query)
    assert query["response-content-disposition"] == [f'attachment; filename="agentlab-org-{org_id}.json"']
    assert query["response-content-type"] == ["application/json"]
    assert "X-Amz-Signature" in query or "Signature" in query

    # And the link downloads the same document as the inline answer, of the size the body says
    document = downloaded(platform, large)
    assert without_time(document) == without_time(inline.json())
    key = stored_key(platform, large.headers["location"])
    stored = platform.clients.s3.get_object(Bucket=platform.settings.bucket_name, Key=key)
    assert stored["ContentLength"] == link["bytes"] > int(SMALL_LIMIT)
    assert stored["ContentType"] == "application/json"

    # And the object lies under the org's prefix, tagged for the bucket's expiry rule
    assert key.startswith(f"orgs/{org_id}/exports/") and key.endswith(".json")
    tags = platform.clients.s3.get_object_tagging(Bucket=platform.settings.bucket_name, Key=key)["TagSet"]
    assert {tag["Key"]: tag["Value"] for tag in tags} == EXPORT_EXPIRY_TAG


def test_another_orgs_caller_cannot_export_the_org_and_stores_nothing(
    platform: Platform, root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given two orgs, and an API that would hand any export out through storage
    org_id, _ = org_with_a_run(platform, "acme")
    _, globex_key = platform.new_org("globex")
    globex = api_with_small_limit(root, monkeypatch, globex_key)

    # When the other org's admin asks for the first org's export
    refused = globex.get(f"/v1/orgs/{org_id}/export")

    # Then the org does not exist for them, and no export was written
    error_of(refused, 404, "not_found")
    listing = platform.clients.s3.list_objects_v2(Bucket=platform.settings.bucket_name, Prefix=f"orgs/{org_id}/")
    assert not [o["Key"] for o in listing.get("Contents", []) if "/exports/" in o["Key"]]


def test_deleting_the_org_removes_its_stored_exports(
    platform: Platform, root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given an org whose export was handed out through storage
    org_id, admin = org_with_a_run(platform, "acme")
    large_api = api_with_small_limit(root, monkeypatch, admin.key)
    large = large_api.get(f"/v1/orgs/{org_id}/export")
    assert large.status == 303, large.text
    key = stored_key(platform, large.headers["location"])
    bucket = platform.settings.bucket_name
    assert platform.clients.s3.list_objects_v2(Bucket=bucket, Prefix=key)["KeyCount"] == 1

    # When the org is deleted
    deleted = admin.delete(f"/v1/orgs/{org_id}", params={"confirm": "acme"})

    # Then the export went with it
    assert deleted.status == 200, deleted.text
    assert platform.clients.s3.list_objects_v2(Bucket=bucket, Prefix=key)["KeyCount"] == 0
    assert platform.clients.s3.list_objects_v2(Bucket=bucket, Prefix=f"orgs/{org_id}/")["KeyCount"] == 0


def test_the_document_describes_both_answers_of_the_export(api: EventClient) -> None:
    # Given the served OpenAPI document
    operation = api.get("/v1/openapi.json").json()["paths"]["/v1/orgs/{org_id}/export"]["get"]

    # Then the export lists the inline file and the redirect to its stored copy, with the link's fields and Location
    responses = operation["responses"]
    assert {"200", "303"} <= set(responses)
    redirect = responses["303"]
    assert {"Location", "X-Request-ID"} <= set(redirect["headers"])
    example = redirect["content"]["application/json"]["example"]
    assert sorted(example) == ["bytes", "download_url", "expires_in_s"]
    assert "303 See Other" in operation["description"]
    assert "org" in responses["200"]["content"]["application/json"]["example"]
