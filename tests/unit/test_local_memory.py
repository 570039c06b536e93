"""The local stack's memory follows what it stores: moto's record of every model object it ever made is not kept."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws
from moto.dynamodb.models.dynamo_type import Item
from moto.s3.models import FakeKey

from agentlab.local.aws import install_lambda_dispatch
from agentlab.local.functions import HandlerRegistry

ROOT = Path(__file__).resolve().parents[2]
TABLE = "memory"
BUCKET = "memory-data"
WRITES = 200


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    with mock_aws():
        undo = install_lambda_dispatch(HandlerRegistry(ROOT / "functions"))
        try:
            yield boto3.client("dynamodb"), boto3.client("s3")
        finally:
            undo()


def alive(kind: type) -> int:
    gc.collect()
    return sum(1 for obj in gc.get_objects() if type(obj) is kind)


def test_items_and_objects_rewritten_many_times_are_kept_once(aws: Any) -> None:
    dynamodb, s3 = aws
    dynamodb.create_table(
        TableName=TABLE,
        KeySchema=[{"AttributeName": "PK", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "PK", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    s3.create_bucket(Bucket=BUCKET)
    items_before, keys_before = alive(Item), alive(FakeKey)
    # Given one counter item updated, and one object overwritten, many times over
    for n in range(WRITES):
        dynamodb.update_item(
            TableName=TABLE,
            Key={"PK": {"S": "counter"}},
            UpdateExpression="ADD hits :one",
            ExpressionAttributeValues={":one": {"N": "1"}},
        )
        s3.put_object(Bucket=BUCKET, Key="report.txt", Body=b"x" * 1_000 + str(n).encode())
    # Then what is alive is what is stored: one item and one object, not one per write
    assert dynamodb.get_item(TableName=TABLE, Key={"PK": {"S": "counter"}})["Item"]["hits"] == {"N": str(WRITES)}
    assert alive(Item) - items_before == 1
    assert alive(FakeKey) - keys_before == 1
    assert Item.instances_tracked == []  # type: ignore[attr-defined]


def test_undone_moto_tracks_its_models_again(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    with mock_aws():
        # Given the dispatch installed and undone
        install_lambda_dispatch(HandlerRegistry(ROOT / "functions"))()
        s3 = boto3.client("s3")
        s3.create_bucket(Bucket=BUCKET)
        tracked = len(FakeKey.instances_tracked)  # type: ignore[attr-defined]
        # When an object is written
        s3.put_object(Bucket=BUCKET, Key="report.txt", Body=b"x")
        # Then moto keeps its record of it, as it does without the local stack
        assert len(FakeKey.instances_tracked) == tracked + 1  # type: ignore[attr-defined]
