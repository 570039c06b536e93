"""The API's contract: the OpenAPI document served at /v1/openapi.json and shown at /v1/docs.

Powertools generates the paths, parameters and schemas from the routes' signatures. `build_document` completes that
document from the tables of this module, keyed by (method, path template) as in api/permissions.py:

- what every route can answer follows from its shape and the permissions matrix: credentials (401, 429, 405), a role
  some callers lack (403), path ids (404), a body (400, 413, 415, 422), parameters (422), a cursor (400), all with the
  one error body of the API; security, and who may call the route, come from the matrix too;
- links follow from the paths: a create route (201) links to every route under its collection's `{id}`;
- what only a route knows (its summary and description, its conflicts and other statuses of its own, links to other
  collections) comes from OPERATIONS and FOLLOW_UPS below; examples are per schema, in EXAMPLES.

A new route therefore gets its generic statuses, security, role and links without anyone editing this module, and the
tests (tests/integration/test_openapi_document.py) ask for its summary, description and examples.
"""

from __future__ import annotations

import copy
import json
import re
import weakref
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types

from agentlab.api.docs import CONCURRENT, UNSTORABLE, FeatureDocs, Operation
from agentlab.api.features import FEATURE_DOCS
from agentlab.api.permissions import PLATFORM_ACTIONS, ROLE_ACTIONS, ROUTES
from agentlab.models import ROLES
from agentlab.settings import EXPORT_INLINE_MAX_BYTES, CoreSettings

API_TITLE = "agentlab API"
API_VERSION = "1.0.0"
DOCUMENT_PATH = "/v1/openapi.json"
DOCS_PATH = "/v1/docs"

ERROR_SCHEMA = "Error"
SECURITY_SCHEMES: dict[str, dict[str, str]] = {
    "ApiKey": {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "al_…",
        "description": "An API key of an org (`al_…`), sent as `Authorization: Bearer al_…`. An org admin creates "
        "keys (`POST /v1/api-keys`); a key is shown once, carries one role and can be rotated or revoked.",
    },
    "CognitoAccessToken": {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": "A Cognito access token of a member, from `POST /v1/auth/login` or `POST /v1/auth/refresh`, "
        "sent as `Authorization: Bearer <access token>`. The member's current role in their org applies.",
    },
}
SECURITY: list[dict[str, list[str]]] = [{name: []} for name in SECURITY_SCHEMES]

# Lowest first: the first role whose actions include a route's action is the role the route requires.
ROLES_ASCENDING = tuple(reversed(ROLES))

_ULID = "01JD3Z8K5QW7N2V4X6Y8A0B1C2"
_AGENT_ID = "01JD3Z9A2B3C4D5E6F7G8H9J0K"
_RUN_ID = "01JD3ZB7M8N9P0Q1R2S3T4V5W6"
_FILE_ID = "01JD3ZC1X2Y3Z4A5B6C7D8E9F0"
_MEMBER_ID = "01JD3ZD4G5H6J7K8M9N0P1Q2R3"
_KEY_ID = "01JD3ZE6S7T8V9W0X1Y2Z3A4B5"
_ORG_ID = "01JD3ZF8C9D0E1F2G3H4J5K6M7"
_REQUEST_ID = "01JD3ZG2N3P4Q5R6S7T8V9W0X1"
_TIME = "2026-03-02T09:30:00Z"


_AGENT = {
    "id": _AGENT_ID,
    "org_id": _ORG_ID,
    "name": "analyst",
    "description": "Answers questions about uploaded spreadsheets with charts.",
    "system_prompt": "You are a careful data analyst.",
    "models": {"reasoning": ["default"], "code": [], "vision": []},
    "tools": ["python", "list_files", "read_file", "finish"],
    "limits": {
        "max_steps": 20,
        "max_tokens": 200000,
        "max_cost_usd": None,
        "max_wall_s": 1800,
        "cell_timeout_s": 120,
        "sandbox_cpu": 1.0,
        "sandbox_memory_mb": 1024,
        "max_output_tokens": None,
    },
    "critic": {"mode": "enforce", "allow_imports": [], "forbid_imports": [], "allow_calls": []},
    "version": 2,
    "created_at": _TIME,
    "updated_at": _TIME,
}
_RUN = {
    "id": _RUN_ID,
    "org_id": _ORG_ID,
    "agent_id": _AGENT_ID,
    "agent_version": 2,
    "thread_id": _RUN_ID,
    "prompt": "Plot the monthly totals in sales.csv.",
    "file_ids": [],
    "env": {"CURRENCY": {"type": "str", "value": "EUR"}},
    "goal": {"criterion": "a chart of the monthly totals is saved", "check": None},
    "budget": {"max_steps": 10, "max_tokens": None, "max_cost_usd": None, "max_wall_s": None},
    "script": None,
    "status": "succeeded",
    "created_at": _TIME,
    "updated_at": _TIME,
    "started_at": _TIME,
    "ended_at": _TIME,
    "usage": {
        "steps": 5,
        "input_tokens": 4210,
        "output_tokens": 612,
        "cost_usd": 0.0213,
        "cost_known": True,
        "sandbox_s": 2.4,
    },
    "error": None,
    "result": "The chart is in monthly_totals.png; March had the highest total.",
    "result_full": None,
    "isolation": "bubblewrap",
    "kernel_id": "k-1",
    "created_by": f"apikey:{_KEY_ID}",
    "revision": 7,
    "step_count": 5,
}
_STEP = {
    "run_id": _RUN_ID,
    "seq": 3,
    "type": "execute",
    "created_at": _TIME,
    "duration_ms": 840,
    "model_id": None,
    "provider": None,
    "input_tokens": 0,
    "output_tokens": 0,
    "cost_usd": 0.0,
    "cost_known": True,
    "sandbox_s": 0.8,
    "detail": {"code": "print(df.groupby('month').total.sum())", "stdout": "month\n1    120\n", "exit_code": 0},
    "full_output": {},
}
_ARTIFACT = {
    "id": _ULID,
    "run_id": _RUN_ID,
    "org_id": _ORG_ID,
    "name": "monthly_totals.png",
    "content_type": "image/png",
    "size": 18234,
    "sha256": "9f2c3b1e5a7d4c6b8e0f1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1c2d",
    "step_seq": 3,
    "created_at": _TIME,
    "url": "https://agentlab-data.s3.amazonaws.com/orgs/…/monthly_totals.png?X-Amz-Signature=…",
}
_FILE = {
    "id": _FILE_ID,
    "org_id": _ORG_ID,
    "name": "sales.csv",
    "content_type": "text/csv",
    "size": 2048,
    "status": "ready",
    "created_at": _TIME,
    "error": None,
}
_MEMBER = {
    "id": _MEMBER_ID,
    "email": "dana@example.com",
    "role": "member",
    "created_at": _TIME,
    "updated_at": _TIME,
}
_KEY_VIEW = {
    "id": _KEY_ID,
    "name": "ci",
    "role": "member",
    "prefix": "al_3kq9Zx7",
    "created_at": _TIME,
    "expires_at": None,
    "last_used_at": _TIME,
    "revoked": False,
}
_KEY_ISSUED = {**_KEY_VIEW, "last_used_at": None, "key": "al_3kq9Zx7Lw0pR5tV8yB2nC4mD6fG1hJ"}
_ORG = {"id": _ORG_ID, "name": "acme", "created_at": _TIME, "quotas": {"runs_per_day": 500, "tokens_per_month": None}}


_CONCURRENT = CONCURRENT
_RUN_STATE = {"invalid_state": "the run is not in a state that allows this", **_CONCURRENT}
_UNSTORABLE = UNSTORABLE
_NEEDS_DIRECTORY = {
    501: {"not_configured": "this deployment has no Cognito user pool (sign-in and members are unavailable)"}
}

OPERATIONS: dict[tuple[str, str], Operation] = {
    ("GET", "/v1/health"): Operation("Check the API", "Answers while the API is up, with the platform's version."),
    ("POST", "/v1/auth/login"): Operation(
        "Sign in",
        "Exchanges a member's email and password for Cognito tokens. Send the access token as a bearer token.",
        errors={
            401: {
                "invalid_credentials": "the email or password is wrong",
                "challenge_required": "the account needs a sign-in step the API does not support (a new password)",
            },
            429: {"rate_limited": "too many sign-in attempts from this address in a minute"},
            **_NEEDS_DIRECTORY,
        },
    ),
    ("POST", "/v1/auth/refresh"): Operation(
        "Refresh an access token",
        "Exchanges the refresh token from a sign-in for a new access token.",
        errors={401: {"invalid_refresh": "the refresh token is invalid, expired or revoked"}, **_NEEDS_DIRECTORY},
    ),
    ("GET", "/v1/me"): Operation(
        "Describe the caller",
        "Who is calling: identity, org, role and every action the caller may take.",
    ),
    # agents
    ("POST", "/v1/agents"): Operation(
        "Create an agent",
        "Creates version 1 of an agent: its models per role, tools, limits and critic settings.",
        errors={
            409: {"agent_name_taken": "another agent of the org has this name"},
            422: {"unpriced_model": "a cost budget is set but a model of the agent has no price", **_UNSTORABLE},
        },
    ),
    ("GET", "/v1/agents"): Operation(
        "List agents",
        "The org's agents, a page at a time; `name` finds one agent by its exact name.",
        parameters={"name": "An agent's exact name: the page holds that agent, or nothing."},
    ),
    ("GET", "/v1/agents/{agent_id}"): Operation("Get an agent", "The agent's current version."),
    ("PUT", "/v1/agents/{agent_id}"): Operation(
        "Update an agent",
        "Changes the fields sent and makes a new version; fields left out keep their value. Runs keep the version "
        "they started with. Send `expected_version` to refuse the update if someone else changed the agent first.",
        errors={
            409: {
                "agent_name_taken": "another agent of the org has the new name",
                "concurrent_update": "the agent is not at `expected_version`, or changed meanwhile; reload and retry",
            },
            422: {"unpriced_model": "a cost budget is set but a model of the agent has no price", **_UNSTORABLE},
        },
    ),
    ("DELETE", "/v1/agents/{agent_id}"): Operation(
        "Delete an agent",
        "Removes the agent and frees its name; runs keep the versions they pinned.",
        errors={409: _CONCURRENT},
    ),
    ("GET", "/v1/agents/{agent_id}/versions"): Operation(
        "List an agent's versions", "Every version of the agent, newest first."
    ),
    # runs
    ("POST", "/v1/runs"): Operation(
        "Start a run",
        "Queues a run of an agent on a prompt, with optional files, typed environment variables, a goal and a "
        "budget, and starts its workflow. A run on an existing `thread_id` continues that conversation. With an "
        "`Idempotency-Key`, a retry with the same key and body returns the run already created (200) instead of "
        "starting another.",
        errors={
            404: {"not_found": "the agent, a file or the thread does not exist in the caller's org"},
            409: {"idempotency_key_reused": "the Idempotency-Key was used before with a different body"},
            422: {
                "script_not_allowed": "a script is given but the agent's reasoning model is not 'scripted'",
                "file_not_ready": "a file is not uploaded and checked yet",
                "unpriced_model": "a cost budget is set but a model of the agent has no price",
                **_UNSTORABLE,
            },
            429: {
                "rate_limited": "more run creations per minute than the caller's limit",
                "quota_exceeded": "the org's daily run quota or monthly token quota is spent",
            },
        },
        also={200: "A replay: this Idempotency-Key and body already created this run, returned as it is now."},
    ),
    ("GET", "/v1/runs"): Operation(
        "List runs",
        "The org's runs, newest first, a page at a time; filter by status, agent or thread.",
        parameters={
            "status": "Only runs in this status.",
            "agent_id": "Only runs of this agent.",
            "thread_id": "Only runs of this thread (a conversation).",
        },
    ),
    ("GET", "/v1/runs/{run_id}"): Operation(
        "Get a run",
        "The run's status, usage, result and error. A long result is a preview; `result_full.url` downloads it.",
    ),
    ("GET", "/v1/runs/{run_id}/steps"): Operation(
        "List a run's steps",
        "The run's steps in order (think, critique, execute, evaluate, approval, error); `after` resumes after a "
        "step's `seq`. Long outputs are previews with a download URL in `full_output`.",
        parameters={"after": "Only steps whose `seq` is greater than this (the last `seq` already seen)."},
    ),
    ("GET", "/v1/runs/{run_id}/artifacts"): Operation(
        "List a run's artifacts", "Charts and files the run wrote, each with a short-lived download URL."
    ),
    ("POST", "/v1/runs/{run_id}/cancel"): Operation(
        "Cancel a run", "Stops a run that has not ended; its steps end at once.", errors={409: _RUN_STATE}
    ),
    ("POST", "/v1/runs/{run_id}/approve"): Operation(
        "Approve a waiting run",
        "Lets a run that is waiting for approval go on, with an optional comment the agent sees.",
        errors={409: _RUN_STATE},
    ),
    ("POST", "/v1/runs/{run_id}/reject"): Operation(
        "Reject a waiting run",
        "Refuses what a run that is waiting for approval asked for, with an optional comment the agent sees.",
        errors={409: _RUN_STATE},
    ),
    # files
    ("POST", "/v1/files"): Operation(
        "Start a file upload",
        "Records a file and returns a presigned POST for its content (send `upload.fields` and the file to "
        "`upload.url`), then call `POST /v1/files/{file_id}/complete`.",
        errors={413: {"payload_too_large": "the declared `size` is above the deployment's file size limit"}},
    ),
    ("POST", "/v1/files/{file_id}/complete"): Operation(
        "Complete a file upload",
        "Checks what was uploaded (size, and the type sniffed from the content, not the name); a file that passes "
        "becomes `ready` for runs, anything else is deleted and the record says why.",
        errors={
            409: {
                "upload_missing": "nothing has been uploaded for this file yet",
                "file_rejected": "the file was checked before and rejected",
                **_CONCURRENT,
            },
            422: {"unsupported_file_type": "the content is not what was declared, is empty or is too large"},
        },
    ),
    ("GET", "/v1/files/{file_id}"): Operation("Get a file", "The file's record: name, type, size and status."),
    # people and keys
    ("POST", "/v1/members"): Operation(
        "Add a member",
        "Creates a person's account in the org's user pool with a role. Without a password, one is generated and "
        "returned once.",
        errors={
            409: {"member_exists": "the email already belongs to a member"},
            422: {
                "validation_error": "the password does not meet the policy (its character classes), or the user "
                "pool refused the email address",
                "weak_password": "the user pool refused the password (its policy changed since this check was made)",
            },
            **_NEEDS_DIRECTORY,
        },
    ),
    ("GET", "/v1/members"): Operation("List members", "The org's members, a page at a time."),
    ("PATCH", "/v1/members/{member_id}"): Operation(
        "Change a member's role",
        "Sets the member's role; it applies to their next request, even with a token issued before.",
        errors={409: _CONCURRENT, **_NEEDS_DIRECTORY},
    ),
    ("DELETE", "/v1/members/{member_id}"): Operation(
        "Remove a member",
        "Removes the member and their account; their tokens stop working at once.",
        errors=_NEEDS_DIRECTORY,
    ),
    ("POST", "/v1/api-keys"): Operation(
        "Create an API key",
        "Issues a key with a role and an optional expiry. The key is in this response only; it is stored as a hash.",
    ),
    ("GET", "/v1/api-keys"): Operation(
        "List API keys", "The org's keys, without the keys themselves: name, role, prefix, expiry, last use."
    ),
    ("POST", "/v1/api-keys/{key_id}/rotate"): Operation(
        "Rotate an API key",
        "Issues a new secret for the key (same id, name, role and expiry); the old secret stops working at once.",
        errors={409: _CONCURRENT},
    ),
    ("DELETE", "/v1/api-keys/{key_id}"): Operation(
        "Revoke an API key", "The key stops working at its next request.", errors={409: _CONCURRENT}
    ),
    # org administration
    ("GET", "/v1/audit"): Operation(
        "List audit records",
        "Every mutation in the org (who, what, when, outcome), newest first, a page at a time, with filters.",
        parameters={
            "action": "Only records of this action (`agents.write`, say), or of this `METHOD /path`.",
            "actor": "Only records of this identity (`apikey:<id>` or `user:<id>`).",
            "outcome": "Only records with this outcome.",
            "since": "Only records at or after this time (RFC 3339).",
            "until": "Only records before this time (RFC 3339).",
        },
    ),
    ("GET", "/v1/providers"): Operation(
        "List model providers", "The model providers of this deployment: configured, healthy, their models."
    ),
    ("POST", "/v1/orgs"): Operation(
        "Create an org",
        "Creates an org, with optional quotas, and its first admin API key (in this response only).",
    ),
    ("GET", "/v1/orgs/{org_id}/export"): Operation(
        "Export an org",
        "Everything the platform stores about the org, as one JSON file (the caller's own org; a platform admin: any). "
        f"A file too large to answer inline (over {EXPORT_INLINE_MAX_BYTES // 1_048_576} MiB unless the deployment "
        "says otherwise) answers 303 See Other instead: it is written to storage and "
        "`Location` is a presigned URL that downloads it, valid for `expires_in_s` seconds (a client that follows "
        "the redirect without forwarding `Authorization` receives the file either way).",
        response_example={
            "org": _ORG,
            "exported_at": _TIME,
            **{section: [] for section in ("agents", "agent_versions", "runs", "steps", "artifacts", "files")},
            "members": [{**_MEMBER, "org_id": _ORG_ID}],
            "api_keys": [{**_KEY_VIEW, "org_id": _ORG_ID}],
        },
    ),
    ("DELETE", "/v1/orgs/{org_id}"): Operation(
        "Delete an org",
        "Deletes the org and everything in it: runs are stopped, items, objects and accounts removed. `confirm` "
        "must be the org's exact name.",
        errors={400: {"confirmation_required": "`confirm` is not the org's exact name"}},
    ),
}

# Links from a route's success response to routes of another collection, for clients and stateful tests; a create
# route's links to the routes under its own `{id}` are derived (see `_derived_links`).
FOLLOW_UPS: dict[tuple[str, str], list[tuple[tuple[str, str], dict[str, Any]]]] = {
    ("POST", "/v1/agents"): [
        # A first run of the new agent, as it is: the whole body, in a thread of its own (schemathesis' stateful
        # phase sends it instead of merging it into a generated one, so it reaches the run routes).
        (
            ("POST", "/v1/runs"),
            {
                "requestBody": {"agent_id": "$response.body#/id", "prompt": "Say what you can do."},
                "x-schemathesis": {"merge_body": False},
            },
        ),
        (("GET", "/v1/runs"), {"parameters": {"query.agent_id": "$response.body#/id"}}),
        (("GET", "/v1/agents"), {"parameters": {"query.name": "$response.body#/name"}}),
    ],
    ("POST", "/v1/orgs"): [
        (("DELETE", "/v1/orgs/{org_id}"), {"parameters": {"query.confirm": "$response.body#/org/name"}}),
    ],
    ("POST", "/v1/runs"): [
        (("GET", "/v1/runs"), {"parameters": {"query.thread_id": "$response.body#/thread_id"}}),
        (
            ("POST", "/v1/runs"),
            {"requestBody": {"agent_id": "$response.body#/agent_id", "thread_id": "$response.body#/thread_id"}},
        ),
    ],
}

# Examples by component schema: request bodies and responses alike. A page of X takes its item from X's example.
EXAMPLES: dict[str, Any] = {
    # requests
    "AgentCreate": {
        "name": "analyst",
        "description": "Answers questions about uploaded spreadsheets with charts.",
        "system_prompt": "You are a careful data analyst.",
        "models": {"reasoning": ["default"]},
        "tools": ["python", "list_files", "read_file", "finish"],
        "limits": {"max_steps": 20, "cell_timeout_s": 120},
    },
    "AgentUpdate": {"description": "Answers questions about spreadsheets.", "expected_version": 1},
    # A first run of an agent: no thread to continue, no files (each would have to exist and be ready).
    "RunCreate": {
        "agent_id": _AGENT_ID,
        "prompt": "Plot the monthly totals of the last quarter.",
        "env": {"CURRENCY": {"type": "str", "value": "EUR"}},
        "goal": {"criterion": "a chart of the monthly totals is saved"},
        "budget": {"max_steps": 10},
    },
    "Decision": {"comment": "Reading the shared drive is fine for this run."},
    "FileCreate": {"name": "sales.csv", "content_type": "text/csv", "size": 2048},
    "MemberCreate": {"email": "dana@example.com", "role": "member"},
    "MemberUpdate": {"role": "operator"},
    "ApiKeyCreate": {"name": "ci", "role": "member", "expires_at": "2099-01-01T00:00:00Z"},
    "OrgCreate": {"name": "globex", "quotas": {"runs_per_day": 500}},
    "Login": {"email": "dana@example.com", "password": "correct horse battery staple"},
    "Refresh": {"refresh_token": "eyJjdHkiOiJKV1QiLCJlbmMiOiJBMjU2R0NNIn0.…"},
    # responses
    "Health": {"status": "ok", "version": "0.1.0"},
    "Tokens": {
        "access_token": "eyJraWQiOiJrMSIsImFsZyI6IlJTMjU2In0.…",
        "id_token": "eyJraWQiOiJrMiIsImFsZyI6IlJTMjU2In0.…",
        "refresh_token": "eyJjdHkiOiJKV1QiLCJlbmMiOiJBMjU2R0NNIn0.…",
        "expires_in": 3600,
        "token_type": "Bearer",
    },
    "Me": {
        "identity": f"user:{_MEMBER_ID}",
        "kind": "user",
        "org_id": _ORG_ID,
        "org_name": "acme",
        "role": "member",
        "platform_admin": False,
        "email": "dana@example.com",
        "actions": sorted(ROLE_ACTIONS["member"]),
    },
    "Agent": _AGENT,
    "AgentVersion": _AGENT,
    "Run": _RUN,
    "Step": _STEP,
    "Artifact": _ARTIFACT,
    "ArtifactPage": {"items": [_ARTIFACT], "next_cursor": None},
    "FileRecord": _FILE,
    "FileCreated": {
        "file": {**_FILE, "status": "pending"},
        "upload": {
            "url": "https://agentlab-data.s3.amazonaws.com/",
            "fields": {"key": f"orgs/{_ORG_ID}/files/{_FILE_ID}", "Content-Type": "text/csv", "policy": "…"},
            "expires_in_s": 900,
        },
    },
    "Deleted": {"id": _AGENT_ID, "deleted": True},
    "MemberView": _MEMBER,
    "MemberCreated": {**_MEMBER, "password": "q7-Vx2!mR9#tLp4s"},
    "ApiKeyView": _KEY_VIEW,
    "ApiKeyIssued": _KEY_ISSUED,
    "AuditRecord": {
        "id": _ULID,
        "org_id": _ORG_ID,
        "time": _TIME,
        "actor": f"apikey:{_KEY_ID}",
        "role": "admin",
        "action": "agents.write",
        "method": "POST",
        "path": "/v1/agents",
        "target": f"id={_AGENT_ID}",
        "status": 201,
        "outcome": "success",
        "request_id": _REQUEST_ID,
        "source_ip": "203.0.113.7",
    },
    "ProviderList": {
        "items": [
            {
                "name": "bedrock",
                "configured": True,
                "healthy": True,
                "detail": "credentials found; region us-east-1",
                "models": ["bedrock:anthropic.claude-3-5-sonnet-20240620-v1:0"],
                "default": True,
            }
        ]
    },
    "Org": _ORG,
    "OrgCreated": {"org": _ORG, "api_key": {**_KEY_ISSUED, "name": "first admin", "role": "admin"}},
    "OrgDeleted": {"id": _ORG_ID, "deleted": True, "items": 412, "objects": 37, "runs": 18},
    "OrgExportLink": {
        "download_url": f"https://agentlab-data.s3.amazonaws.com/orgs/{_ORG_ID}/exports/{_ULID}.json?X-Amz-Signature=…",
        "bytes": 7340032,
        "expires_in_s": 900,
    },
}

_TAGS = {
    "system": "The API itself: health, model providers.",
    "auth": "Signing in and who is calling.",
    "agents": "Agents: models, tools, limits and critic settings, versioned.",
    "runs": "Runs of agents: start, follow their steps and artifacts, approve, cancel.",
    "files": "Files for runs: uploaded through a presigned POST, checked before use.",
    "members": "People of the org and their roles.",
    "api-keys": "API keys of the org.",
    "audit": "The org's audit trail.",
    "orgs": "Orgs: creation (platform admins), export and deletion.",
}

_PARAMETERS = {
    "cursor": "Where the page starts: the `next_cursor` of the previous page.",
    "limit": "How many items per page at most.",
    "idempotency-key": "A key of the caller's choosing: a retry with the same key and body returns the run "
    "already created instead of starting another.",
}


def _merge_features(features: tuple[FeatureDocs, ...]) -> None:
    """Each feature's routes bring their own text (api/docs.py); a route or schema named twice is a mistake."""
    for feature in features:
        tables: list[tuple[dict[Any, Any], Mapping[Any, Any]]] = [
            (OPERATIONS, feature.operations),
            (FOLLOW_UPS, feature.follow_ups),
            (EXAMPLES, feature.examples),
            (_TAGS, feature.tags),
        ]
        for table, part in tables:
            clash = set(table) & set(part)
            if clash:
                raise ValueError(f"documented twice: {sorted(clash)}")
            table.update(part)


_merge_features(FEATURE_DOCS)

_INFO = """Run AI agents that write and execute code.

**Credentials.** Every route except health, sign-in and these docs needs `Authorization: Bearer <credential>`: an
org's API key (`al_…`) or a member's Cognito access token. Each operation says which role it requires (roles, lowest
first: viewer, member, operator, admin).

**Errors.** Every error answers with one body, `{"error": {"code", "message", "request_id"}}` (schema `Error`); the
code is stable, the message is for people. Each operation lists its statuses and codes. A path that is no route
answers 404 `route_not_found`, a method a path does not have answers 405 with `Allow`; both only to a caller with
valid credentials (anyone else gets 401).

**Lists** are pages: pass the `next_cursor` of a page as `cursor` to get the next one.

**Limits.** Requests per minute per identity, run creations per minute, and per-org daily run and monthly token
quotas answer 429 with `Retry-After`. Every response carries `X-Request-ID`."""


def _status_title(status: int) -> str:
    return {
        400: "Bad request",
        401: "Missing or invalid credentials",
        403: "The caller's role does not allow this",
        404: "Not found",
        405: "Method not allowed",
        409: "Conflict",
        413: "Payload too large",
        415: "Unsupported media type",
        422: "Validation error",
        429: "Too many requests",
        501: "Not configured",
    }.get(status, "Error")


def required_role(action: str | None) -> str | None:
    """The lowest role whose actions include `action`: "platform admin" for platform actions, None for public."""
    if action is None:
        return None
    if action in PLATFORM_ACTIONS:
        return "platform admin"
    return next((role for role in ROLES_ASCENDING if action in ROLE_ACTIONS[role]), "platform admin")


def _who_may_call(action: str | None) -> str:
    role = required_role(action)
    if role is None:
        return "Public: no credentials are needed."
    if role == "platform admin":
        return "Only a platform admin may call this (the deployment's bootstrap identity); no org role is enough."
    allowed = [name for name in ROLES_ASCENDING if action in ROLE_ACTIONS[name]]
    return f"Requires the {role} role or higher ({', '.join(allowed)}), through an API key or a member's token."


def _generic_errors(operation: dict[str, Any], action: str | None, settings: CoreSettings) -> dict[int, dict[str, str]]:
    """The statuses a route answers because of its shape and its place in the permissions matrix."""
    parameters = operation.get("parameters", [])
    errors: dict[int, dict[str, str]] = {}

    def add(status: int, code: str, when: str) -> None:
        errors.setdefault(status, {})[code] = when

    # Answered for the path rather than the operation, so every operation of every path lists it (public paths
    # too: a caller with credentials hears 405 there, anyone else 401).
    add(405, "method_not_allowed", "the path does not have the method used; `Allow` lists the ones it has")
    if action is not None:
        add(401, "unauthorized", "no credentials, or an API key or token that is invalid, expired or revoked")
        add(401, "token_expired", "a member's access token has expired: refresh it or sign in again")
        add(429, "rate_limited", "more requests per minute than the caller's limit")
        if required_role(action) != ROLES_ASCENDING[0]:
            add(403, "forbidden", _refusal(action))
    if any(p["in"] == "path" for p in parameters):
        add(404, "not_found", "no such object in the caller's org (another org's ids answer the same)")
    if any(p["in"] == "query" and p["name"] == "cursor" for p in parameters):
        add(400, "invalid_cursor", "`cursor` is not a `next_cursor` of this listing")
    if parameters:
        add(422, "validation_error", "a parameter does not match its schema")
    if "requestBody" in operation:
        add(400, "invalid_json", "the body is not valid JSON")
        add(413, "payload_too_large", f"the body is larger than {settings.max_body_bytes} bytes")
        add(415, "unsupported_media_type", "the body is declared as something other than application/json")
        add(422, "validation_error", "the body does not match its schema")
    return errors


def _refusal(action: str) -> str:
    if action in PLATFORM_ACTIONS:
        return "the caller is not a platform admin"
    return f"the caller's role is below {required_role(action)}"


def _ref(name: str, kind: str = "schemas") -> dict[str, str]:
    return {"$ref": f"#/components/{kind}/{name}"}


def _error_response(status: int, codes: Mapping[str, str]) -> dict[str, Any]:
    listed = "; ".join(f"`{code}`: {when}" for code, when in codes.items())
    response: dict[str, Any] = {
        "description": f"{_status_title(status)}. {listed}.",
        "headers": {"X-Request-ID": _ref("X-Request-ID", "headers")},
        "content": {
            "application/json": {
                "schema": _ref(ERROR_SCHEMA),
                "examples": {
                    code: {
                        "summary": when,
                        "value": {"error": {"code": code, "message": when, "request_id": _REQUEST_ID}},
                    }
                    for code, when in codes.items()
                },
            }
        },
    }
    extra = {401: "WWW-Authenticate", 405: "Allow", 429: "Retry-After"}.get(status)
    if extra:
        response["headers"][extra] = _ref(extra, "headers")
    return response


def _schema_name(schema: Mapping[str, Any] | None) -> str | None:
    """The component a body schema names, also through `anyOf: [$ref, null]` (an optional body)."""
    if not schema:
        return None
    if "$ref" in schema:
        return str(schema["$ref"]).rsplit("/", 1)[-1]
    for option in schema.get("anyOf", []):
        if "$ref" in option:
            return str(option["$ref"]).rsplit("/", 1)[-1]
    return None


def example_for(name: str | None) -> Any:
    """The example of a component schema: from EXAMPLES, a page from its item's example."""
    if name is None:
        return None
    if name in EXAMPLES:
        return copy.deepcopy(EXAMPLES[name])
    page = re.fullmatch(r"Page_(\w+)_", name)
    if page and page.group(1) in EXAMPLES:
        return {"items": [copy.deepcopy(EXAMPLES[page.group(1)])], "next_cursor": None}
    return None


def _complete_operation(method: str, path: str, operation: dict[str, Any], settings: CoreSettings) -> None:
    key = (method.upper(), path)
    action = ROUTES[key]
    own = OPERATIONS.get(key)
    role_sentence = _who_may_call(action)
    if own is not None:
        operation["summary"] = own.summary
        operation["description"] = f"{own.description}\n\n{role_sentence}"
    else:
        operation["description"] = f"{operation.get('description') or ''}\n\n{role_sentence}".strip()
    operation["security"] = [] if action is None else copy.deepcopy(SECURITY)

    for parameter in operation.get("parameters", []):
        described = (own.parameters if own else {}).get(parameter["name"]) or _PARAMETERS.get(parameter["name"].lower())
        if parameter["in"] == "path":
            described = f"The {parameter['name'].removesuffix('_id').replace('_', ' ')}'s id."
        if described and not parameter.get("description"):
            parameter["description"] = described

    body = operation.get("requestBody", {}).get("content", {}).get("application/json")
    if body is not None and (example := example_for(_schema_name(body.get("schema")))) is not None:
        body["example"] = example

    responses: dict[str, Any] = operation["responses"]
    # A redirect a route declares (the export's 303 to its stored copy) is documented with the successes.
    successes = {status: response for status, response in responses.items() if status.startswith(("2", "3"))}
    for status, description in (own.also if own else {}).items():
        template = next(iter(successes.values()))
        successes[str(status)] = {**copy.deepcopy(template), "description": description}
    for response in successes.values():
        response.setdefault("headers", {})["X-Request-ID"] = _ref("X-Request-ID", "headers")
        media = response.get("content", {}).get("application/json")
        if media is not None:
            example = example_for(_schema_name(media.get("schema")))
            if example is None and own is not None:
                example = own.response_example
            if example is not None:
                media["example"] = example

    errors = _generic_errors(operation, action, settings)
    for status, codes in (own.errors if own else {}).items():
        errors.setdefault(status, {}).update(codes)
    operation["responses"] = {
        **dict(sorted(successes.items())),
        **{str(status): _error_response(status, errors[status]) for status in sorted(errors)},
    }


def _operations(document: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in document["paths"].items():
        for method, operation in item.items():
            yield method.upper(), path, operation


def _id_pointer(document: dict[str, Any], schema: Mapping[str, Any], parameter: str) -> str:
    """Where a create route's answer holds the new object's id: `/<name>/id` when the answer wraps the object in a
    property named after the parameter (`file` for `file_id`), else `/id`."""
    name = _schema_name(schema)
    properties = document["components"]["schemas"].get(name, {}).get("properties", {}) if name else {}
    wrapper = parameter.removesuffix("_id")
    if wrapper != parameter and "$ref" in properties.get(wrapper, {}):
        return f"/{wrapper}/id"
    return "/id"


def _link_name(target: dict[str, Any]) -> str:
    """`List a run's steps` -> `ListARunsSteps`."""
    return re.sub(r"[^A-Za-z0-9]+", "", str(target["summary"]).replace("'", "").title())


# Routes under a created object's `{id}` that do not hold for every object the route creates: a run's baseline exists
# for repo runs only, which POST /v1/runs never makes.
NOT_LINKED: dict[tuple[str, str], frozenset[tuple[str, str]]] = {
    ("POST", "/v1/runs"): frozenset({("GET", "/v1/runs/{run_id}/baseline")}),
}


def _add_links(document: dict[str, Any]) -> None:
    by_route = {(method, path): operation for method, path, operation in _operations(document)}
    for (method, path), operation in by_route.items():
        if method != "POST" or "201" not in operation["responses"]:
            continue
        successes = [status for status in ("201", "200") if status in operation["responses"]]
        links: dict[str, Any] = {}
        prefix = f"{path}/{{"
        for (target_method, target_path), target in by_route.items():
            if not target_path.startswith(prefix) or (target_method, target_path) in NOT_LINKED.get((method, path), ()):
                continue
            parameter = target_path[len(prefix) :].split("}", 1)[0]
            if target_path.count("{") > path.count("{") + 1:
                continue  # a route under another object of its own (a webhook's delivery): not reached from here
            schema = operation["responses"]["201"]["content"]["application/json"]["schema"]
            links[_link_name(target)] = {
                "operationId": target["operationId"],
                "parameters": {f"path.{parameter}": f"$response.body#{_id_pointer(document, schema, parameter)}"},
                "description": f"{target_method} {target_path} on the object just created.",
            }
        for (follow_method, follow_path), spec in FOLLOW_UPS.get((method, path), []):
            follow = by_route.get((follow_method, follow_path))
            if follow is None:
                continue
            # A follow-up of a derived link adds to it (a query parameter the target also needs, say).
            link = links.setdefault(
                _link_name(follow),
                {
                    "operationId": follow["operationId"],
                    "description": f"{follow_method} {follow_path} with what was just created.",
                },
            )
            link.setdefault("parameters", {}).update(spec.get("parameters", {}))
            link.update({key: copy.deepcopy(value) for key, value in spec.items() if key != "parameters"})
            if not link["parameters"]:
                del link["parameters"]
        for status in successes:
            if links:
                operation["responses"][status]["links"] = copy.deepcopy(links)


def _referenced(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "$ref" and isinstance(item, str):
                yield item
            else:
                yield from _referenced(item)
    elif isinstance(value, list):
        for item in value:
            yield from _referenced(item)


def _drop_unused_schemas(document: dict[str, Any]) -> None:
    """Powertools' own validation-error schemas describe answers this API never gives; keep what is reachable."""
    schemas = document["components"]["schemas"]
    reachable: set[str] = set()
    pending = [ref for ref in _referenced(document["paths"]) if ref.startswith("#/components/schemas/")]
    pending += [ref for ref in _referenced(document["components"].get("headers", {}))]
    while pending:
        name = pending.pop().rsplit("/", 1)[-1]
        if name in reachable or name not in schemas:
            continue
        reachable.add(name)
        pending.extend(_referenced(schemas[name]))
    document["components"]["schemas"] = {name: schema for name, schema in schemas.items() if name in reachable}


def _shared_components(document: dict[str, Any]) -> None:
    components = document.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    schemas[ERROR_SCHEMA] = {
        "title": ERROR_SCHEMA,
        "description": "The body of every error answer.",
        "type": "object",
        "required": ["error"],
        "properties": {
            "error": {
                "type": "object",
                "required": ["code", "message", "request_id"],
                "properties": {
                    "code": {"type": "string", "description": "Stable, machine-readable: what went wrong."},
                    "message": {"type": "string", "description": "For people: what went wrong and what to do."},
                    "request_id": {"type": "string", "description": "The request's id, as in `X-Request-ID`."},
                },
            }
        },
    }
    components["headers"] = {
        "X-Request-ID": {
            "description": "The request's id: the caller's `X-Request-ID` when it is well-formed, else a new one.",
            "required": True,
            "schema": {"type": "string", "minLength": 1, "maxLength": 128},
        },
        "WWW-Authenticate": {
            "description": "How to authenticate: a bearer credential (an API key or an access token).",
            "required": True,
            "schema": {"type": "string", "pattern": "^Bearer"},
        },
        "Allow": {
            "description": "The methods this path has.",
            "required": True,
            "schema": {"type": "string", "minLength": 1},
        },
        "Retry-After": {
            "description": "Seconds to wait before trying again.",
            "required": True,
            "schema": {"type": "integer", "minimum": 0},
        },
    }
    components["securitySchemes"] = copy.deepcopy(SECURITY_SCHEMES)
    # The default for an operation that does not say; every operation of this API says (public ones: `[]`).
    document["security"] = copy.deepcopy(SECURITY)


def build_document(app: APIGatewayHttpResolver, settings: CoreSettings) -> dict[str, Any]:
    """Powertools' document for the app's routes, completed from this module's tables."""
    document: dict[str, Any] = json.loads(
        app.get_openapi_json_schema(title=API_TITLE, version=API_VERSION, description=_INFO)
    )
    _shared_components(document)
    for method, path, operation in _operations(document):
        _complete_operation(method, path, operation, settings)
    _add_links(document)
    _drop_unused_schemas(document)
    used_tags = {tag for _, _, operation in _operations(document) for tag in operation.get("tags", [])}
    document["tags"] = [{"name": name, "description": text} for name, text in _TAGS.items() if name in used_tags]
    document["tags"] += [{"name": name} for name in sorted(used_tags - set(_TAGS))]
    return document


_DOCUMENTS: weakref.WeakKeyDictionary[APIGatewayHttpResolver, dict[str, Any]] = weakref.WeakKeyDictionary()


def served_document(app: APIGatewayHttpResolver, settings: CoreSettings) -> dict[str, Any]:
    """The app's document, built on first use and kept for the life of the process (the routes do not change)."""
    if app not in _DOCUMENTS:
        _DOCUMENTS[app] = build_document(app, settings)
    return _DOCUMENTS[app]


def enable_docs(app: APIGatewayHttpResolver, settings: CoreSettings, path: str = DOCS_PATH) -> None:
    """Swagger UI at `path`, showing the served document (Powertools' own swagger route builds another one)."""
    page: list[str] = []

    @app.get(path, include_in_schema=False)
    def docs() -> Response[str]:
        query = app.current_event.query_string_parameters or {}
        if query.get("format") == "json":
            body = json.dumps(served_document(app, settings))
            return Response(status_code=200, content_type=content_types.APPLICATION_JSON, body=body)
        if not page:
            page.append(_swagger_page(served_document(app, settings)))
        return Response(status_code=200, content_type="text/html; charset=utf-8", body=page[0])


def _swagger_page(document: dict[str, Any]) -> str:
    """The Swagger UI page with the document and Powertools' bundled assets inline (the API's CSP allows only
    'self' and inline for /v1/docs, so nothing is fetched from a CDN)."""
    from aws_lambda_powertools.event_handler.openapi import swagger_ui
    from aws_lambda_powertools.event_handler.openapi.swagger_ui import generate_swagger_html

    assets = Path(swagger_ui.__file__).parent
    return generate_swagger_html(
        # `</script>` inside a description must not end the page's script element.
        json.dumps(document).replace("</", "<\\/"),
        (assets / "swagger-ui-bundle.min.js").read_text(encoding="utf-8"),
        (assets / "swagger-ui.min.css").read_text(encoding="utf-8"),
        "",
        None,
    )
