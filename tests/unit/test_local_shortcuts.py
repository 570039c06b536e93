"""The local engine's speed shortcuts over moto give the answers moto gives without them: the same items, the same
errors (with the items they return), for the writes the store makes and for the ones moto refuses."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from moto_answers import answer_of, moto_table

from agentlab.local.aws import install_shortcuts

TABLE = "shortcuts"
RUN_KEY = {"PK": {"S": "ORG#1"}, "SK": {"S": "RUN#1"}}
RUN = {
    **RUN_KEY,
    "revision": {"N": "1"},
    "status": {"S": "running"},
    "usage": {"M": {"steps": {"N": "0"}, "cost_usd": {"N": "0.25"}}},
    "tags": {"SS": ["a", "b"]},
    "script": {"L": [{"M": {"tool": {"S": "python"}, "code": {"S": "x = 1"}}}]},
}
METER_KEY = {"PK": {"S": "ORG#1#RUN#1"}, "SK": {"S": "METER"}}
ADD_TO_METER = "ADD lambda_ms :ms, invocations :one SET entity = :entity"


def put_if_revision(client: Any, revision: str, expected: str) -> dict[str, Any]:
    return {
        "Put": {
            "TableName": TABLE,
            "Item": {**RUN, "revision": {"N": revision}},
            "ConditionExpression": "revision = :expected",
            "ExpressionAttributeValues": {":expected": {"N": expected}},
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }
    }


def meter(ms: str) -> dict[str, Any]:
    return {
        "Update": {
            "TableName": TABLE,
            "Key": METER_KEY,
            "UpdateExpression": ADD_TO_METER,
            "ExpressionAttributeValues": {":ms": {"N": ms}, ":one": {"N": "1"}, ":entity": {"S": "run_meter"}},
        }
    }


def operations(client: Any) -> Iterator[tuple[str, Callable[[], dict[str, Any]]]]:
    yield "put run", lambda: client.put_item(TableName=TABLE, Item=RUN)
    # The same update expression twice (parsed once with the shortcuts), then the counters it added up.
    yield "meter", lambda: client.transact_write_items(TransactItems=[meter("12")])
    yield "meter again", lambda: client.transact_write_items(TransactItems=[meter("30")])
    yield "read meter", lambda: client.get_item(TableName=TABLE, Key=METER_KEY)
    yield (
        "step appended",
        lambda: client.transact_write_items(
            TransactItems=[
                put_if_revision(client, "2", "1"),
                {
                    "Put": {
                        "TableName": TABLE,
                        "Item": {"PK": {"S": "ORG#1#RUN#1#STEPS"}, "SK": {"S": "STEP#00000001"}, "seq": {"N": "1"}},
                        "ConditionExpression": "attribute_not_exists(PK)",
                    }
                },
            ]
        ),
    )
    # A stale revision: the whole transaction is refused, the run's item comes back, nothing of it is written.
    yield (
        "stale revision",
        lambda: client.transact_write_items(TransactItems=[put_if_revision(client, "3", "1"), meter("5")]),
    )
    yield "read run", lambda: client.get_item(TableName=TABLE, Key=RUN_KEY)
    yield "read meter after", lambda: client.get_item(TableName=TABLE, Key=METER_KEY)
    yield (
        "update returning new",
        lambda: client.update_item(
            TableName=TABLE,
            Key=RUN_KEY,
            UpdateExpression="SET #s = :s, #u.steps = #u.steps + :one ADD tags :more",
            ExpressionAttributeNames={"#s": "status", "#u": "usage"},
            ExpressionAttributeValues={":s": {"S": "succeeded"}, ":one": {"N": "1"}, ":more": {"SS": ["c"]}},
            ReturnValues="ALL_NEW",
        ),
    )
    yield (
        "reserved word in an update",
        lambda: client.update_item(
            TableName=TABLE,
            Key=RUN_KEY,
            UpdateExpression="SET usage.steps = :one",
            ExpressionAttributeValues={":one": {"N": "1"}},
        ),
    )
    yield (
        "conditional update refused",
        lambda: client.update_item(
            TableName=TABLE,
            Key=RUN_KEY,
            UpdateExpression="SET #s = :s",
            ConditionExpression="#s = :running",
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues={":s": {"S": "failed"}, ":running": {"S": "running"}},
            ReturnValuesOnConditionCheckFailure="ALL_OLD",
        ),
    )
    # An expression moto cannot parse is refused every time, not only the first.
    for attempt in ("first", "second"):
        yield (
            f"unparsable update, {attempt} time",
            lambda: client.update_item(
                TableName=TABLE, Key=RUN_KEY, UpdateExpression="SET = :x", ExpressionAttributeValues={":x": {"N": "1"}}
            ),
        )
    # Over DynamoDB's item size: refused whole, whichever attribute crosses the limit.
    yield (
        "item too large",
        lambda: client.put_item(
            TableName=TABLE, Item={**RUN_KEY, "a": {"S": "x" * 250_000}, "b": {"S": "y" * 250_000}}
        ),
    )
    yield (
        "item just under the limit",
        lambda: client.put_item(TableName=TABLE, Item={**RUN_KEY, "a": {"S": "x" * 200_000}}),
    )
    yield "read the large item", lambda: client.get_item(TableName=TABLE, Key=RUN_KEY)
    # A request with a binary value is read by moto's own reader: the bytes arrive as bytes.
    yield (
        "put binary",
        lambda: client.put_item(
            TableName=TABLE, Item={**METER_KEY, "blob": {"B": b"\x00\xff"}, "blobs": {"BS": [b"\x01"]}}
        ),
    )
    yield "read binary", lambda: client.get_item(TableName=TABLE, Key=METER_KEY)


def answers(shortcuts: bool) -> list[tuple[str, Any]]:
    with moto_table(TABLE) as client:
        undo = install_shortcuts() if shortcuts else (lambda: None)
        try:
            seen: list[tuple[str, Any]] = [(name, answer_of(call)) for name, call in operations(client)]
            # What moto keeps of a binary value: its bytes, however the request was read.
            from moto.core import DEFAULT_ACCOUNT_ID
            from moto.dynamodb.models import dynamodb_backends

            stored = dynamodb_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].get_item(TABLE, METER_KEY)
            seen.append(("binary as kept", stored.attrs["blob"].value))
            return seen
        finally:
            undo()


def test_the_shortcuts_answer_as_moto_does() -> None:
    # Given the same writes and reads, made once on moto as it comes and once with the shortcuts
    plain, fast = answers(shortcuts=False), answers(shortcuts=True)

    # Then every answer and every error reads the same
    assert [name for name, _ in fast] == [name for name, _ in plain]
    for (name, expected), (_, got) in zip(plain, fast, strict=True):
        assert got == expected, name
    # And the answers held what they should: the counters added up, the refusals with their reasons and items
    seen = dict(plain)
    assert seen["read meter"]["Item"]["lambda_ms"] == {"N": "42"}
    assert seen["read meter after"]["Item"]["lambda_ms"] == {"N": "42"}
    assert seen["stale revision"]["Error"]["Code"] == "TransactionCanceledException"
    reasons = seen["stale revision"]["CancellationReasons"]
    assert reasons[0]["Code"] == "ConditionalCheckFailed" and reasons[0]["Item"]["revision"] == {"N": "2"}
    assert seen["read run"]["Item"]["revision"] == {"N": "2"}
    assert seen["update returning new"]["Attributes"]["usage"]["M"]["steps"] == {"N": "1"}
    assert seen["reserved word in an update"]["Error"]["Code"] == "ValidationException"
    assert seen["conditional update refused"]["Error"]["Code"] == "ConditionalCheckFailedException"
    assert seen["conditional update refused"]["Item"]["status"] == {"S": "succeeded"}
    assert seen["unparsable update, second time"]["Error"]["Code"] == "ValidationException"
    assert "size" in seen["item too large"]["Error"]["Message"].lower()
    assert len(seen["read the large item"]["Item"]["a"]["S"]) == 200_000
    assert seen["read binary"]["Item"]["blob"] == {"B": b"\x00\xff"}
    assert seen["binary as kept"] == b"\x00\xff"


def test_json_paths_read_the_same_and_missing_paths_still_fail() -> None:
    from moto.stepfunctions.parser.asl.utils.json_path import NoSuchJsonPathError, extract_json

    state = {"run_id": "r1", "org_id": "o1", "output": {"next": "think", "calls": [{"id": 1}, {"id": 2}]}}
    paths = ("$.run_id", "$.output.next", "$.output.calls[*].id", "$", "$.run_id")

    def read_all() -> list[Any]:
        values = [extract_json(path, state) for path in paths]
        with pytest.raises(NoSuchJsonPathError):
            extract_json("$.missing", state)
        return values

    plain = read_all()
    undo = install_shortcuts()
    try:
        fast = read_all()
    finally:
        undo()

    assert fast == plain == ["r1", "think", [1, 2], state, "r1"]


def test_the_shortcuts_are_undone() -> None:
    from moto.core import responses
    from moto.dynamodb.models.dynamo_type import Item
    from moto.dynamodb.parsing.expressions import UpdateExpressionParser
    from moto.dynamodb.responses import DynamoHandler, DynamoResult
    from moto.stepfunctions.parser.asl.utils import json_path

    def patched_points() -> list[Any]:
        return [
            Item.__init__,
            UpdateExpressionParser.__dict__["make"],
            DynamoHandler.transact_write_items,
            DynamoHandler.parse_parameters,
            DynamoResult.execute_result,
            json_path.parse,
            responses.method_names_from_class,
        ]

    before = patched_points()
    undo = install_shortcuts()
    during = patched_points()
    undo()

    assert all(now is not then for now, then in zip(during, before, strict=True))
    assert patched_points() == before


def test_the_dispatch_installs_the_shortcuts_only_when_asked() -> None:
    from pathlib import Path

    from moto.dynamodb.models.dynamo_type import Item

    from agentlab.local.aws import install_lambda_dispatch
    from agentlab.local.functions import HandlerRegistry

    registry = HandlerRegistry(Path(__file__).resolve().parents[2] / "functions")
    plain_init = Item.__init__

    # Without the shortcuts moto's own item stays; with them it is replaced, until the dispatch is undone
    undo = install_lambda_dispatch(registry, shortcuts=False)
    without = Item.__init__
    undo()
    undo = install_lambda_dispatch(registry)
    with_them = Item.__init__
    undo()

    assert without is plain_init
    assert with_them is not plain_init
    assert Item.__init__ is plain_init
