"""Route definitions under /v1. Each route is a few lines: the logic lives in agentlab's stores and services.

Annotations are evaluated where the routes are defined (no `from __future__ import annotations`): a body model made
from the deployment's settings (the upload cap) is a local name, which Powertools could not resolve from text."""

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types
from pydantic import BaseModel

from agentlab.api.common import (
    Cursor,
    Deleted,
    Id,
    IdempotencyKey,
    Limit,
    QueryId,
    StepSeq,
    current_caller,
    json_response,
    optional_header,
    optional_query,
    page_size,
)
from agentlab.api.deps import ApiDeps
from agentlab.api.openapi import DOCUMENT_PATH, served_document
from agentlab.api.outputs import sign_run_output, sign_step_outputs
from agentlab.errors import InvalidRequest
from agentlab.ids import is_ulid
from agentlab.models import (
    Agent,
    AgentCreate,
    AgentUpdate,
    AgentVersion,
    Artifact,
    Caller,
    Decision,
    FileRecord,
    Page,
    Run,
    RunCreate,
    RunStatus,
    Step,
)
from agentlab.models.file import FileCreated, file_create_with_cap
from agentlab.store.blobs import artifact_key
from agentlab.uploads import complete_upload, create_upload
from agentlab.workflow.lifecycle import cancel_run


class Health(BaseModel):
    status: str
    version: str


class ArtifactPage(BaseModel):
    items: list[Artifact]
    next_cursor: str | None = None


def register(app: APIGatewayHttpResolver, deps: ApiDeps) -> None:
    def caller() -> Caller:
        return current_caller(app)

    # system ---------------------------------------------------------------------------------------------------
    @app.get("/v1/health", tags=["system"])
    def health() -> Health:
        from agentlab import __version__

        return Health(status="ok", version=__version__)

    @app.get(DOCUMENT_PATH, tags=["system"], include_in_schema=False)
    def openapi() -> Response[dict[str, Any]]:
        return Response(
            status_code=200, content_type=content_types.APPLICATION_JSON, body=served_document(app, deps.settings)
        )

    # agents ---------------------------------------------------------------------------------------------------
    @app.post("/v1/agents", tags=["agents"], responses={201: {"description": "Created"}})
    def create_agent(body: AgentCreate) -> Response[Agent]:
        deps.check_cost_budget(body)
        agent = deps.agents.create(caller().org_id, body)
        return json_response(agent, 201)

    @app.get("/v1/agents", tags=["agents"])
    def list_agents(
        limit: Limit = None, cursor: Cursor = None, name: Annotated[str | None, optional_query(max_length=64)] = None
    ) -> Page[Agent]:
        org_id = caller().org_id
        if name is not None:
            found = deps.agents.find_by_name(org_id, name)
            return Page[Agent](items=[found] if found else [])
        page = deps.agents.list(org_id, limit=page_size(deps, limit), cursor=cursor)
        return Page[Agent](items=page.items, next_cursor=page.next_cursor)

    @app.get("/v1/agents/<agent_id>", tags=["agents"])
    def get_agent(agent_id: Id) -> Agent:
        return deps.agents.get(caller().org_id, agent_id)

    @app.put("/v1/agents/<agent_id>", tags=["agents"])
    def update_agent(agent_id: Id, body: AgentUpdate) -> Agent:
        return deps.agents.update(caller().org_id, agent_id, body, check=deps.check_cost_budget)

    @app.delete("/v1/agents/<agent_id>", tags=["agents"])
    def delete_agent(agent_id: Id) -> Deleted:
        deps.agents.delete(caller().org_id, agent_id)
        return Deleted(id=agent_id)

    @app.get("/v1/agents/<agent_id>/versions", tags=["agents"])
    def list_agent_versions(agent_id: Id, limit: Limit = None, cursor: Cursor = None) -> Page[AgentVersion]:
        page = deps.agents.list_versions(caller().org_id, agent_id, limit=page_size(deps, limit), cursor=cursor)
        return Page[AgentVersion](items=page.items, next_cursor=page.next_cursor)

    # runs -----------------------------------------------------------------------------------------------------
    @app.post("/v1/runs", tags=["runs"], responses={201: {"description": "Created"}})
    def post_run(
        body: RunCreate,
        idempotency_key: Annotated[IdempotencyKey | None, optional_header("idempotency-key")] = None,
    ) -> Response[Run]:
        run, created = deps.start_run(caller(), body, idempotency_key)
        return json_response(run, 201 if created else 200)

    @app.get("/v1/runs", tags=["runs"])
    def list_runs(
        limit: Limit = None,
        cursor: Cursor = None,
        status: Annotated[RunStatus | None, optional_query()] = None,
        agent_id: Annotated[QueryId | None, optional_query()] = None,
        thread_id: Annotated[QueryId | None, optional_query()] = None,
    ) -> Page[Run]:
        for name, value in (("agent_id", agent_id), ("thread_id", thread_id)):
            if value is not None and not is_ulid(value):
                raise InvalidRequest(f"{name} is not a valid id")
        page = deps.runs.list(
            caller().org_id,
            limit=page_size(deps, limit),
            cursor=cursor,
            status=status,
            agent_id=agent_id,
            thread_id=thread_id,
        )
        items = [sign_run_output(deps.blobs, run) for run in page.items]
        return Page[Run](items=items, next_cursor=page.next_cursor)

    @app.get("/v1/runs/<run_id>", tags=["runs"])
    def get_run(run_id: Id) -> Run:
        return sign_run_output(deps.blobs, deps.runs.get(caller().org_id, run_id))

    @app.get("/v1/runs/<run_id>/steps", tags=["runs"])
    def list_steps(
        run_id: Id, after: Annotated[StepSeq | None, optional_query()] = None, limit: Limit = None
    ) -> Page[Step]:
        org_id = caller().org_id
        page = deps.runs.list_steps(org_id, run_id, after=after or 0, limit=min(limit or 100, 200))
        items = [sign_step_outputs(deps.blobs, org_id, step) for step in page.items]
        return Page[Step](items=items, next_cursor=page.next_cursor)

    @app.post("/v1/runs/<run_id>/cancel", tags=["runs"])
    def post_cancel(run_id: Id) -> Run:
        return cancel_run(caller(), run_id, deps.run_services)

    @app.post("/v1/runs/<run_id>/approve", tags=["runs"])
    def post_approve(run_id: Id, body: Decision | None = None) -> Run:
        who = caller()
        return deps.approvals.decide(
            who.org_id, run_id, approved=True, comment=body.comment if body else None, identity=who.identity
        )

    @app.post("/v1/runs/<run_id>/reject", tags=["runs"])
    def post_reject(run_id: Id, body: Decision | None = None) -> Run:
        who = caller()
        return deps.approvals.decide(
            who.org_id, run_id, approved=False, comment=body.comment if body else None, identity=who.identity
        )

    @app.get("/v1/runs/<run_id>/artifacts", tags=["runs"])
    def list_artifacts(run_id: Id) -> ArtifactPage:
        org_id = caller().org_id
        artifacts = deps.runs.list_artifacts(org_id, run_id)
        for artifact in artifacts:
            artifact.url = deps.blobs.presigned_download(
                artifact_key(org_id, run_id, artifact.id, artifact.name),
                filename=artifact.name,
                content_type=artifact.content_type,
            )
        return ArtifactPage(items=artifacts)

    # files ----------------------------------------------------------------------------------------------------
    file_create = file_create_with_cap(deps.settings.max_upload_bytes)

    @app.post("/v1/files", tags=["files"], responses={201: {"description": "Created"}})
    def post_file(body: file_create) -> Response[FileCreated]:  # type: ignore[valid-type]
        created = create_upload(
            caller(), body, files=deps.files, blobs=deps.blobs, max_bytes=deps.settings.max_upload_bytes
        )
        return json_response(created, 201)

    @app.post("/v1/files/<file_id>/complete", tags=["files"])
    def post_file_complete(file_id: Id) -> FileRecord:
        return complete_upload(
            caller(), file_id, files=deps.files, blobs=deps.blobs, max_bytes=deps.settings.max_upload_bytes
        )

    @app.get("/v1/files/<file_id>", tags=["files"])
    def get_file(file_id: Id) -> FileRecord:
        return deps.files.get(caller().org_id, file_id)
