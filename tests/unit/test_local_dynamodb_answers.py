"""The local engine dumps DynamoDB item answers as plain JSON instead of walking botocore's output shapes: what a
client reads must be exactly what moto's own serialiser gives, for every attribute type and every item operation."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from moto_answers import answer_of, moto_table

from agentlab.local.aws import _item_responses_as_plain_json

TABLE = "answers"
ITEM = {
    "PK": {"S": "ORG#1"},
    "SK": {"S": "RUN#1"},
    "text": {"S": 'héllo \u2028 "quoted"'},
    "number": {"N": "-12.500"},
    "big": {"N": "12345678901234567890123456789012345678"},
    "blob": {"B": b"\x00\xff binary"},
    "flag": {"BOOL": False},
    "nothing": {"NULL": True},
    "strings": {"SS": ["a", "b"]},
    "numbers": {"NS": ["1", "2.5"]},
    "blobs": {"BS": [b"\x01", b"\x02"]},
    "nested": {"M": {"list": {"L": [{"S": "x"}, {"N": "3"}, {"B": b"\x03"}, {"M": {"deep": {"NULL": True}}}]}}},
    "empty_map": {"M": {}},
    "empty_list": {"L": []},
}
KEY = {"PK": ITEM["PK"], "SK": ITEM["SK"]}


def operations(client: Any) -> Iterator[tuple[str, Callable[[], dict[str, Any]]]]:
    yield "put", lambda: client.put_item(TableName=TABLE, Item=ITEM, ReturnValues="ALL_OLD")
    yield "get", lambda: client.get_item(TableName=TABLE, Key=KEY)
    yield "get missing", lambda: client.get_item(TableName=TABLE, Key={"PK": {"S": "x"}, "SK": {"S": "y"}})
    yield (
        "query",
        lambda: client.query(
            TableName=TABLE,
            KeyConditionExpression="PK = :p",
            ExpressionAttributeValues={":p": ITEM["PK"]},
            Limit=1,
            ReturnConsumedCapacity="TOTAL",
        ),
    )
    yield "scan", lambda: client.scan(TableName=TABLE, Select="COUNT")
    yield (
        "update",
        lambda: client.update_item(
            TableName=TABLE,
            Key=KEY,
            UpdateExpression="SET #n = :n ADD numbers :more",
            ExpressionAttributeNames={"#n": "extra"},
            ExpressionAttributeValues={":n": {"B": b"\x10"}, ":more": {"NS": ["9"]}},
            ReturnValues="ALL_NEW",
        ),
    )
    yield "batch get", lambda: client.batch_get_item(RequestItems={TABLE: {"Keys": [KEY]}})
    yield "transact get", lambda: client.transact_get_items(TransactItems=[{"Get": {"TableName": TABLE, "Key": KEY}}])
    yield (
        "transact write",
        lambda: client.transact_write_items(
            TransactItems=[
                {"ConditionCheck": {"TableName": TABLE, "Key": KEY, "ConditionExpression": "attribute_exists(PK)"}}
            ]
        ),
    )
    yield (
        "batch write",
        lambda: client.batch_write_item(
            RequestItems={TABLE: [{"PutRequest": {"Item": {**ITEM, "SK": {"S": "RUN#2"}}}}]}
        ),
    )
    yield "delete", lambda: client.delete_item(TableName=TABLE, Key=KEY, ReturnValues="ALL_OLD")


def answers(plain: bool) -> list[tuple[str, Any]]:
    with moto_table(TABLE) as client:
        undo = _item_responses_as_plain_json() if plain else (lambda: None)
        try:
            seen = [(name, answer_of(call)) for name, call in operations(client)]
            with pytest.raises(client.exceptions.ConditionalCheckFailedException) as refused:
                client.put_item(
                    TableName=TABLE,
                    Item=ITEM,
                    ConditionExpression="attribute_not_exists(nope)  AND PK = :x",
                    ExpressionAttributeValues={":x": {"S": "other"}},
                )
            seen.append(("refused", refused.value.response["Error"]))
            return seen
        finally:
            undo()


def test_item_answers_read_the_same_as_through_motos_serialiser() -> None:
    shaped, plain = answers(plain=False), answers(plain=True)

    assert [name for name, _ in plain] == [name for name, _ in shaped]
    for (name, expected), (_, got) in zip(shaped, plain, strict=True):
        assert got == expected, name
    # And the answers held what they should: the item with every type, read back as written
    assert dict(shaped)["get"]["Item"] == ITEM
    assert dict(shaped)["query"]["Count"] == 1 and "ConsumedCapacity" in dict(shaped)["query"]


def test_the_plain_answers_are_undone() -> None:
    from moto.dynamodb.responses import DynamoResult

    before = DynamoResult.execute_result
    undo = _item_responses_as_plain_json()
    assert DynamoResult.execute_result is not before
    undo()
    assert DynamoResult.execute_result is before
