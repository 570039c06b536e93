"""The sandbox session records on DynamoDB (moto): one per run, and no writer holding an old task undoes a newer one."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import boto3
import pytest
from moto import mock_aws

from agentlab.errors import ConcurrentUpdate
from agentlab.store.sandbox_sessions import RECORD_TTL_S, SandboxSessionRecord, SandboxSessionStore
from agentlab.store.schema import create_table_request
from agentlab.store.table import Table

TABLE = "agentlab-sandbox-sessions"
RUN_ID = "01JSTOREAAAAAAAAAAAAAAAAAA"
STARTED = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def table() -> Iterator[Table]:
    with mock_aws():
        dynamodb = boto3.client("dynamodb", region_name="us-east-1")
        dynamodb.create_table(**create_table_request(TABLE))
        yield Table(lambda: dynamodb, TABLE)


def record(task_arn: str) -> SandboxSessionRecord:
    return SandboxSessionRecord(
        run_id=RUN_ID, task_arn=task_arn, token=f"token-of-{task_arn}", started_at=STARTED, last_used_at=STARTED
    )


def test_a_record_is_kept_under_the_run_with_its_ttl(table: Table) -> None:
    store = SandboxSessionStore(table)

    store.claim(record("arn:task/1"), replacing=None)

    item = table.get(f"SANDBOX#{RUN_ID}", "SESSION")
    assert item is not None and item["entity"] == "sandbox_session"
    assert item["expires_at"] == int(STARTED.timestamp()) + RECORD_TTL_S
    assert store.get(RUN_ID) == record("arn:task/1")
    assert store.get("01JOTHERAAAAAAAAAAAAAAAAAA") is None


def test_only_one_start_wins_and_a_replacement_must_name_the_task_it_replaces(table: Table) -> None:
    store = SandboxSessionStore(table)
    store.claim(record("arn:task/1"), replacing=None)

    with pytest.raises(ConcurrentUpdate):
        store.claim(record("arn:task/2"), replacing=None)
    with pytest.raises(ConcurrentUpdate):
        store.claim(record("arn:task/2"), replacing="arn:task/0")
    store.claim(record("arn:task/2"), replacing="arn:task/1")

    current = store.get(RUN_ID)
    assert current is not None and current.task_arn == "arn:task/2" and current.token == "token-of-arn:task/2"


def test_uses_and_removals_apply_only_to_the_task_that_holds_the_record(table: Table) -> None:
    later = STARTED + timedelta(minutes=5)
    store = SandboxSessionStore(table, clock=lambda: later)
    store.claim(record("arn:task/2"), replacing=None)

    assert store.record_use(RUN_ID, "arn:task/1", address="10.0.0.9") is False
    store.forget(RUN_ID, "arn:task/1")
    assert store.record_use(RUN_ID, "arn:task/2", address="10.0.0.2") is True

    current = store.get(RUN_ID)
    assert current is not None
    assert (current.address, current.last_used_at) == ("10.0.0.2", later)
    item = table.get(f"SANDBOX#{RUN_ID}", "SESSION")
    assert item is not None and item["expires_at"] == int(later.timestamp()) + RECORD_TTL_S

    store.forget(RUN_ID, "arn:task/2")
    assert store.get(RUN_ID) is None
    assert store.record_use(RUN_ID, "arn:task/2") is False
