"""Routes for identity and org administration: sign-in, the caller, members, API keys, audit, providers, orgs."""

from __future__ import annotations

import json
from typing import Annotated, Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types
from aws_lambda_powertools.event_handler.openapi.params import Path, Query
from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse
from pydantic import BaseModel

from agentlab.api.common import Cursor, Deleted, Id, Limit, current_caller, json_response, optional_query, page_size
from agentlab.api.deps import ApiDeps
from agentlab.api.permissions import actions_for
from agentlab.errors import Conflict, NotConfigured, NotFound
from agentlab.identity.cognito import Directory, generate_password
from agentlab.llm.health import ProviderStatus
from agentlab.models import (
    ApiKeyCreate,
    ApiKeyIssued,
    ApiKeyView,
    AuditOutcome,
    AuditRecord,
    Caller,
    Login,
    MemberCreate,
    MemberCreated,
    MemberUpdate,
    MemberView,
    Org,
    OrgCreate,
    Page,
    Refresh,
    Rfc3339Time,
    Role,
)

# Orgs made through the API have ULIDs; the local stack's bootstrap org is called `default`.
OrgId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]{1,64}$")]


class Tokens(BaseModel):
    access_token: str
    id_token: str | None = None
    refresh_token: str | None = None
    expires_in: int
    token_type: str = "Bearer"  # noqa: S105 - the token scheme, not a secret


class Me(BaseModel):
    identity: str
    kind: str
    org_id: str
    org_name: str
    role: Role
    platform_admin: bool
    email: str | None = None
    actions: list[str]


class ProviderList(BaseModel):
    items: list[ProviderStatus]


class OrgCreated(BaseModel):
    org: Org
    api_key: ApiKeyIssued


class OrgExportLink(BaseModel):
    """Where an export too large to answer inline can be downloaded from, for a while."""

    download_url: str
    bytes: int
    expires_in_s: int


# The export's answers: the document itself, or (when it is too large for Lambda's response) a link to it in S3.
EXPORT_RESPONSES: dict[int, OpenAPIResponse] = {
    200: {
        "description": "The org's data, as a JSON file to save (`Content-Disposition: attachment`).",
        "content": {"application/json": {"schema": {"type": "object", "additionalProperties": True}}},
    },
    303: {
        "description": "The export is too large to answer inline: it was written to storage, and `Location` (also "
        "`download_url` in the body) is a presigned URL that downloads it as a file, valid for `expires_in_s` seconds. "
        "The stored copy is removed a day later, or with the org.",
        "headers": {
            "Location": {
                "description": "The presigned URL of the export.",
                "schema": {"type": "string", "format": "uri"},
            }
        },
        "content": {"application/json": {"model": OrgExportLink}},
    },
}


class OrgDeleted(BaseModel):
    id: str
    deleted: bool = True
    items: int
    objects: int
    runs: int


def register(app: APIGatewayHttpResolver, deps: ApiDeps) -> None:
    def caller() -> Caller:
        return current_caller(app)

    def directory() -> Directory:
        if deps.directory is None:
            raise NotConfigured("sign-in is not configured on this deployment (no Cognito user pool): use API keys")
        return deps.directory

    def own_org(org_id: str) -> Org:
        """An org the caller may administer: their own (a platform admin: any). Anything else is a 404."""
        who = caller()
        if org_id != who.org_id and not who.platform_admin:
            raise NotFound(f"org {org_id} not found")
        return deps.orgs.require_org(org_id)

    # sign-in --------------------------------------------------------------------------------------------------
    @app.post("/v1/auth/login", tags=["auth"])
    def login(body: Login) -> Tokens:
        return Tokens.model_validate(directory().login(body.email.strip().lower(), body.password))

    @app.post("/v1/auth/refresh", tags=["auth"])
    def refresh(body: Refresh) -> Tokens:
        tokens = directory().refresh(body.refresh_token)
        return Tokens.model_validate({**tokens, "refresh_token": None})

    @app.get("/v1/me", tags=["auth"])
    def me() -> Me:
        who = caller()
        org = deps.orgs.require_org(who.org_id)
        return Me(
            identity=who.identity,
            kind=who.kind,
            org_id=org.id,
            org_name=org.name,
            role=who.role,
            platform_admin=who.platform_admin,
            email=who.email,
            actions=actions_for(who),
        )

    # members --------------------------------------------------------------------------------------------------
    @app.post("/v1/members", tags=["members"], responses={201: {"description": "Created"}})
    def create_member(body: MemberCreate) -> Response[MemberCreated]:
        who, users = caller(), directory()
        if deps.members.email_taken(body.email):
            raise Conflict(f"{body.email} is already a member", code="member_exists")
        password = body.password or generate_password()
        sub = users.create_user(body.email, password, body.role)
        try:
            member = deps.members.create(who.org_id, email=body.email, role=body.role, user_sub=sub)
        except Exception:
            users.delete_user(body.email)
            raise
        view = MemberView.of(member)
        return json_response(MemberCreated(**view.model_dump(), password=None if body.password else password), 201)

    @app.get("/v1/members", tags=["members"])
    def list_members(limit: Limit = None, cursor: Cursor = None) -> Page[MemberView]:
        page = deps.members.list(caller().org_id, limit=page_size(deps, limit), cursor=cursor)
        return Page[MemberView](items=[MemberView.of(m) for m in page.items], next_cursor=page.next_cursor)

    @app.patch("/v1/members/<member_id>", tags=["members"])
    def update_member(member_id: Id, body: MemberUpdate) -> MemberView:
        org_id = caller().org_id
        member = deps.members.get(org_id, member_id)
        updated = deps.members.set_role(org_id, member_id, body.role)
        directory().set_role(member.email, body.role)
        return MemberView.of(updated)

    @app.delete("/v1/members/<member_id>", tags=["members"])
    def delete_member(member_id: Id) -> Deleted:
        member = deps.members.get(caller().org_id, member_id)
        # The member item goes first: a token of theirs that is still valid stops working at once.
        deps.members.delete(member)
        directory().delete_user(member.email)
        return Deleted(id=member_id)

    # API keys -------------------------------------------------------------------------------------------------
    @app.post("/v1/api-keys", tags=["api-keys"], responses={201: {"description": "Created"}})
    def create_api_key(body: ApiKeyCreate) -> Response[ApiKeyIssued]:
        record, key = deps.orgs.create_api_key(
            caller().org_id, name=body.name, role=body.role, expires_at=body.expires_at
        )
        return json_response(ApiKeyIssued.issue(record, key), 201)

    @app.get("/v1/api-keys", tags=["api-keys"])
    def list_api_keys(limit: Limit = None, cursor: Cursor = None) -> Page[ApiKeyView]:
        page = deps.orgs.list_api_keys(caller().org_id, limit=page_size(deps, limit), cursor=cursor)
        return Page[ApiKeyView](items=[ApiKeyView.of(r) for r in page.items], next_cursor=page.next_cursor)

    @app.post("/v1/api-keys/<key_id>/rotate", tags=["api-keys"])
    def rotate_api_key(key_id: Id) -> ApiKeyIssued:
        record, key = deps.orgs.rotate_api_key(caller().org_id, key_id)
        return ApiKeyIssued.issue(record, key)

    @app.delete("/v1/api-keys/<key_id>", tags=["api-keys"])
    def delete_api_key(key_id: Id) -> Deleted:
        deps.orgs.revoke_api_key(caller().org_id, key_id)
        return Deleted(id=key_id)

    # audit, providers -----------------------------------------------------------------------------------------
    @app.get("/v1/audit", tags=["audit"])
    def list_audit(
        limit: Limit = None,
        cursor: Cursor = None,
        action: Annotated[str | None, optional_query(max_length=64)] = None,
        actor: Annotated[str | None, optional_query(max_length=64)] = None,
        outcome: Annotated[AuditOutcome | None, optional_query()] = None,
        since: Annotated[Rfc3339Time | None, optional_query()] = None,
        until: Annotated[Rfc3339Time | None, optional_query()] = None,
    ) -> Page[AuditRecord]:
        page = deps.audit.list(
            caller().org_id,
            limit=page_size(deps, limit),
            cursor=cursor,
            action=action,
            actor=actor,
            outcome=outcome,
            since=since,
            until=until,
        )
        return Page[AuditRecord](items=page.items, next_cursor=page.next_cursor)

    @app.get("/v1/providers", tags=["system"])
    def list_providers() -> ProviderList:
        from agentlab.llm.health import describe_providers
        from agentlab.llm.settings import ProviderSettings, aws_credentials_available

        settings = ProviderSettings()
        return ProviderList(
            items=describe_providers(
                settings,
                has_aws_credentials=bool(settings.bedrock_model_id) and aws_credentials_available(),
                default_ref=deps.settings.default_model_ref,
            )
        )

    # orgs -----------------------------------------------------------------------------------------------------
    @app.post("/v1/orgs", tags=["orgs"], responses={201: {"description": "Created"}})
    def create_org(body: OrgCreate) -> Response[OrgCreated]:
        org = deps.orgs.create_org(body.name, quotas=body.quotas)
        record, key = deps.orgs.create_api_key(org.id, name="first admin", role="admin")
        return json_response(OrgCreated(org=org, api_key=ApiKeyIssued.issue(record, key)), 201)

    @app.get("/v1/orgs/<org_id>/export", tags=["orgs"], responses=EXPORT_RESPONSES)
    def export_org(org_id: OrgId) -> Response[Any]:
        # The document is serialised once, here, as the resolver would (compact JSON): the body is answered as it is,
        # or, when Lambda's response could not carry it, written to S3 and handed out as a presigned link.
        from aws_lambda_powertools.shared.json_encoder import Encoder

        from agentlab.ids import new_ulid
        from agentlab.store.blobs import EXPORT_EXPIRY_TAG, export_key
        from agentlab.tenancy import export_org as export

        org = own_org(org_id)
        body = json.dumps(export(deps.orgs.table, org), separators=(",", ":"), cls=Encoder)
        filename = f"agentlab-org-{org.id}.json"
        # The body travels inside Lambda's JSON response as a string, escaped once more: that is the size to keep
        # under the limit (the document is ASCII: json.dumps escapes everything else).
        if len(json.dumps(body)) <= deps.settings.export_inline_max_bytes:
            return Response(
                status_code=200,
                content_type=content_types.APPLICATION_JSON,
                body=body,
                headers={"Content-Disposition": f'attachment; filename="{filename}"'},
            )
        key = export_key(org.id, new_ulid())
        deps.blobs.put(key, body.encode(), content_type=content_types.APPLICATION_JSON, tags=EXPORT_EXPIRY_TAG)
        url = deps.blobs.presigned_download(
            key, filename=filename, content_type=content_types.APPLICATION_JSON, disposition="attachment"
        )
        link = OrgExportLink(download_url=url, bytes=len(body), expires_in_s=deps.blobs.expiry_s)
        return Response(
            status_code=303, content_type=content_types.APPLICATION_JSON, body=link, headers={"Location": url}
        )

    @app.delete("/v1/orgs/<org_id>", tags=["orgs"])
    def delete_org(
        org_id: OrgId, confirm: Annotated[str, Query(min_length=1, max_length=100, description="the org's exact name")]
    ) -> OrgDeleted:
        from agentlab.errors import InvalidRequest
        from agentlab.tenancy import delete_org as delete

        org = own_org(org_id)
        if confirm != org.name:
            raise InvalidRequest("to delete an org, pass its exact name as `confirm`", code="confirmation_required")
        removed = delete(
            deps.orgs.table,
            deps.clients,
            deps.settings.bucket_name,
            org.id,
            directory=deps.directory,
            stop_execution=lambda run_id, workflow: deps.executions.stop(
                run_id, cause="org deleted", workflow=workflow
            ),
        )
        return OrgDeleted(id=org.id, **removed)
