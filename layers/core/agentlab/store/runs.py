"""Runs, their steps and artifacts. Every run update is conditional on the revision that was read."""

from __future__ import annotations

import builtins
import hashlib
import json
import time
from collections.abc import Callable
from typing import Any

from agentlab.errors import ConcurrentUpdate, Conflict, NotFound
from agentlab.models import TERMINAL_STATUSES, Artifact, OutputRef, Run, RunError, Step, utc_now
from agentlab.models.run import ALLOWED_TRANSITIONS
from agentlab.store.invocation import recall, remember, remembering
from agentlab.store.limits import tokens_counter_op
from agentlab.store.table import QueryPage, Table, entity_fields, pause_before_retry

_MAX_WRITE_ATTEMPTS = 12
# DynamoDB refuses items over 400 KB. The workflow keeps previews far below this; a step that still comes out larger
# is cut down here rather than lost.
STEP_ITEM_BUDGET_BYTES = 300_000
_SHRUNK_STRING_CHARS = 2_000


def _json_size(value: Any) -> int:
    return len(json.dumps(value, default=str).encode())


def _shrink_strings(value: Any, chars: int) -> Any:
    if isinstance(value, str) and len(value) > chars:
        return value[:chars] + f"\n[... {len(value) - chars} characters omitted: the record was too large ...]"
    if isinstance(value, dict):
        return {key: _shrink_strings(item, chars) for key, item in value.items()}
    if isinstance(value, list):
        return [_shrink_strings(item, chars) for item in value]
    return value


def fit_detail(detail: dict[str, Any], budget: int = STEP_ITEM_BUDGET_BYTES) -> dict[str, Any]:
    """The detail itself when it fits the budget; else with every long string cut, then long lists cut too."""
    if _json_size(detail) <= budget:
        return detail
    shrunk = _shrink_strings(detail, _SHRUNK_STRING_CHARS)
    keep = 200
    while _json_size(shrunk) > budget and keep >= 1:
        shrunk = {k: (v[:keep] if isinstance(v, list) else v) for k, v in shrunk.items()}
        shrunk = _shrink_strings(shrunk, max(_SHRUNK_STRING_CHARS * keep // 200, 100))
        keep //= 2
    return {**shrunk, "shrunk": True}


def run_item(run: Run) -> dict[str, Any]:
    org = run.org_id
    return {
        "PK": f"ORG#{org}",
        "SK": f"RUN#{run.id}",
        "GSI1PK": f"ORG#{org}#AGENT#{run.agent_id}",
        "GSI1SK": f"RUN#{run.id}",
        "GSI2PK": f"ORG#{org}#THREAD#{run.thread_id}",
        "GSI2SK": f"RUN#{run.id}",
        "GSI3PK": f"ORG#{org}#STATUS#{run.status}",
        "GSI3SK": f"RUN#{run.id}",
        "entity": "run",
        **run.model_dump(mode="json"),
    }


def _steps_pk(org_id: str, run_id: str) -> str:
    return f"ORG#{org_id}#RUN#{run_id}"


def fingerprint(payload: str) -> str:
    return hashlib.sha256(payload.encode()).hexdigest()


def _known_run(org_id: str, run_id: str) -> tuple[str, ...]:
    return ("run", org_id, run_id)


class RunStore:
    def __init__(self, table: Table) -> None:
        self.table = table

    # runs -----------------------------------------------------------------------------------------------------
    def create(
        self, run: Run, *, idempotency_key: str | None = None, body_fingerprint: str = "", ttl_s: int = 86_400
    ) -> tuple[Run, bool]:
        """Store a new run. With an idempotency key, a replay of the same body returns the first run (created=False)
        and a different body under the same key is a conflict."""
        operations = [self.table.op_put(run_item(run), condition="attribute_not_exists(PK)")]
        marker_sk = None
        if idempotency_key:
            marker_sk = f"IDEMPOTENCY#{fingerprint(idempotency_key)}"
            operations.append(
                self.table.op_put(
                    {
                        "PK": f"ORG#{run.org_id}",
                        "SK": marker_sk,
                        "entity": "idempotency",
                        "run_id": run.id,
                        "body": body_fingerprint,
                        "expires_at": int(time.time()) + ttl_s,
                    },
                    condition="attribute_not_exists(PK)",
                )
            )
        try:
            self.table.transact(operations)
        except ConcurrentUpdate:
            if marker_sk is None:
                raise
            marker = self.table.get(f"ORG#{run.org_id}", marker_sk)
            if marker is None:
                raise
            if marker["body"] != body_fingerprint:
                raise Conflict(
                    "this Idempotency-Key was used with a different request body", code="idempotency_key_reused"
                ) from None
            return self.get(run.org_id, marker["run_id"]), False
        return run, True

    def get(self, org_id: str, run_id: str) -> Run:
        item = self.table.get(f"ORG#{org_id}", f"RUN#{run_id}")
        if not item:
            raise NotFound(f"run {run_id} not found")
        run = Run.model_validate(entity_fields(item))
        # A copy, made only inside a step invocation: the caller may change the run it holds, the guess must stay
        # what the table has.
        if remembering():
            remember(_known_run(org_id, run_id), run.model_copy(deep=True))
        return run

    def list(
        self,
        org_id: str,
        *,
        limit: int,
        cursor: str | None,
        status: str | None = None,
        agent_id: str | None = None,
        thread_id: str | None = None,
    ) -> QueryPage[Run]:
        """Newest first. The most selective index serves the query; remaining filters are applied while paging."""

        def keep(item: dict[str, Any]) -> bool:
            return (
                (status is None or item["status"] == status)
                and (agent_id is None or item["agent_id"] == agent_id)
                and (thread_id is None or item["thread_id"] == thread_id)
            )

        if thread_id:
            partition, index = ("GSI2PK", f"ORG#{org_id}#THREAD#{thread_id}"), "GSI2"
        elif agent_id:
            partition, index = ("GSI1PK", f"ORG#{org_id}#AGENT#{agent_id}"), "GSI1"
        elif status:
            partition, index = ("GSI3PK", f"ORG#{org_id}#STATUS#{status}"), "GSI3"
        else:
            partition, index = ("PK", f"ORG#{org_id}"), None
        page = self.table.query(
            partition=partition,
            sort_prefix="RUN#",
            index=index,
            limit=limit,
            cursor=cursor,
            newest_first=True,
            keep=keep,
        )
        return page.map(lambda item: Run.model_validate(entity_fields(item)))

    def update(self, org_id: str, run_id: str, change: Callable[[Run], Run | None]) -> Run:
        """Read, apply `change`, write conditionally; on a lost race re-read and re-apply. `change` returns None to
        leave the run as it is."""
        for attempt in range(_MAX_WRITE_ATTEMPTS):
            current = self.get(org_id, run_id)
            updated = change(current.model_copy(deep=True))
            if updated is None:
                return current
            updated.revision = current.revision + 1
            updated.updated_at = utc_now()
            try:
                self.table.put_if_revision(run_item(updated), attribute="revision", expected=current.revision)
            except ConcurrentUpdate:
                pause_before_retry(attempt)
                continue
            if remembering():
                remember(_known_run(org_id, run_id), updated.model_copy(deep=True))
            return updated
        raise ConcurrentUpdate(f"run {run_id} is being updated by too many writers; retry")

    def transition(
        self,
        org_id: str,
        run_id: str,
        to_status: str,
        *,
        error: dict[str, str] | None = None,
        result: str | None = None,
        result_full: OutputRef | None = None,
        only_from: frozenset[str] | None = None,
    ) -> Run:
        """Move a run to a new status if the lifecycle allows it; a terminal run is never changed again."""

        def change(run: Run) -> Run | None:
            if run.status == to_status:
                return None
            allowed = ALLOWED_TRANSITIONS.get(run.status, frozenset())
            if to_status not in allowed or (only_from is not None and run.status not in only_from):
                raise Conflict(f"run {run_id} is {run.status} and cannot become {to_status}", code="invalid_state")
            run.status = to_status  # type: ignore[assignment]
            now = utc_now()
            if to_status == "running" and run.started_at is None:
                run.started_at = now
            if to_status in TERMINAL_STATUSES:
                run.ended_at = now
            if error is not None:
                run.error = RunError.model_validate(error)
            if result is not None:
                run.result = result
                run.result_full = result_full
            return Run.model_validate(run.model_dump())

        return self.update(org_id, run_id, change)

    # steps ----------------------------------------------------------------------------------------------------
    def append_step(
        self,
        org_id: str,
        run_id: str,
        step_type: str,
        *,
        update_run: Callable[[Run], None] | None = None,
        **fields: Any,
    ) -> Step:
        """Append a step with the next sequence number and add its usage to the run's totals, atomically.
        `update_run` changes further fields of the run in the same write."""
        if "detail" in fields:
            fields["detail"] = fit_detail(fields["detail"])
        for attempt in range(_MAX_WRITE_ATTEMPTS):
            # The run as this invocation last read or wrote it, first (agentlab/store/invocation.py); after a lost
            # race, as the table has it.
            guess = recall(_known_run(org_id, run_id)) if attempt == 0 else None
            run = guess if guess is not None else self.get(org_id, run_id)
            step = Step(run_id=run_id, seq=run.step_count + 1, type=step_type, created_at=utc_now(), **fields)
            updated = run.model_copy(deep=True)
            updated.step_count = step.seq
            updated.usage.input_tokens += step.input_tokens
            updated.usage.output_tokens += step.output_tokens
            updated.usage.cost_usd = round(updated.usage.cost_usd + step.cost_usd, 8)
            updated.usage.cost_known = updated.usage.cost_known and step.cost_known
            updated.usage.sandbox_s = round(updated.usage.sandbox_s + step.sandbox_s, 3)
            if update_run is not None:
                update_run(updated)
            if step_type == "think":
                updated.usage.steps += 1
            updated.revision = run.revision + 1
            updated.updated_at = step.created_at
            try:
                self.table.transact(
                    [
                        self.table.op_put(
                            run_item(updated), condition="revision = :expected", values={":expected": run.revision}
                        ),
                        self.table.op_put(
                            {
                                "PK": _steps_pk(org_id, run_id),
                                "SK": f"STEP#{step.seq:08d}",
                                "entity": "step",
                                **step.model_dump(mode="json"),
                            },
                            condition="attribute_not_exists(PK)",
                        ),
                        # The org's monthly token total, for its quota, moves with the run's.
                        *(
                            [tokens_counter_op(self.table, org_id, tokens)]
                            if (tokens := step.input_tokens + step.output_tokens)
                            else []
                        ),
                    ]
                )
            except ConcurrentUpdate:
                if guess is None:
                    pause_before_retry(attempt)
                continue
            if remembering():
                remember(_known_run(org_id, run_id), updated.model_copy(deep=True))
            return step
        raise ConcurrentUpdate(f"could not append a step to run {run_id}; retry")

    def list_steps(self, org_id: str, run_id: str, *, after: int = 0, limit: int = 100) -> QueryPage[Step]:
        self.get(org_id, run_id)
        page = self.table.query(
            partition=("PK", _steps_pk(org_id, run_id)),
            sort_after=(f"STEP#{after + 1:08d}", "STEP#99999999"),
            limit=limit,
        )
        steps = page.map(lambda item: Step.model_validate(entity_fields(item)))
        steps.next_cursor = str(steps.items[-1].seq) if steps.items else (str(after) if after else None)
        return steps

    # step invocations -----------------------------------------------------------------------------------------
    def step_answer(self, org_id: str, run_id: str, invocation: str) -> dict[str, str] | None:
        """What the step invocation `invocation` answered, if it already ran to the end: a second delivery of it
        (Lambda and Step Functions deliver at least once) gives that answer instead of doing the work again. Only
        the run's last invocation is kept: the workflow moves on only once an invocation answered, so a second
        delivery is always of the last one."""
        item = self.table.get(_steps_pk(org_id, run_id), "INVOCATION")
        if item is None or item.get("invocation") != invocation:
            return None
        answer: dict[str, str] = json.loads(item["answer"])
        return answer

    def op_record_step_answer(
        self, org_id: str, run_id: str, invocation: str, answer: dict[str, str]
    ) -> dict[str, Any]:
        """The write that records what `invocation` answered, for a transaction that checks the run still exists
        (agentlab.store.usage.UsageStore.meter_invocation): an answer written after the run's org was deleted would
        be left behind."""
        return self.table.op_put(
            {
                "PK": _steps_pk(org_id, run_id),
                "SK": "INVOCATION",
                "entity": "step_invocation",
                "invocation": invocation,
                "answer": json.dumps(answer),
            }
        )

    # artifacts ------------------------------------------------------------------------------------------------
    def add_artifact(self, artifact: Artifact) -> None:
        self.table.put_new(
            {
                "PK": _steps_pk(artifact.org_id, artifact.run_id),
                "SK": f"ARTIFACT#{artifact.id}",
                "entity": "artifact",
                **artifact.model_dump(mode="json", exclude={"url"}),
            }
        )

    def list_artifacts(self, org_id: str, run_id: str) -> builtins.list[Artifact]:
        self.get(org_id, run_id)
        return [
            Artifact.model_validate(entity_fields(item))
            for item in self.table.iterate(partition=("PK", _steps_pk(org_id, run_id)), sort_prefix="ARTIFACT#")
        ]
