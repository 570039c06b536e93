"""What moto answers to DynamoDB requests, for tests that compare moto with and without the local engine's shortcuts."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import boto3
from botocore.exceptions import ClientError
from moto import mock_aws


@contextmanager
def moto_table(name: str) -> Iterator[Any]:
    """A DynamoDB client on a fresh moto, with a table keyed by PK and SK as the platform's."""
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        client.create_table(
            TableName=name,
            KeySchema=[{"AttributeName": "PK", "KeyType": "HASH"}, {"AttributeName": "SK", "KeyType": "RANGE"}],
            AttributeDefinitions=[
                {"AttributeName": "PK", "AttributeType": "S"},
                {"AttributeName": "SK", "AttributeType": "S"},
            ],
            BillingMode="PAY_PER_REQUEST",
        )
        yield client


def answer_of(call: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """The answer, or the error answer of a refused request, without its request metadata (ids, retries)."""
    try:
        answer = dict(call())
    except ClientError as refused:
        answer = dict(refused.response)
    answer.pop("ResponseMetadata", None)
    return answer
