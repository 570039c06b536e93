"""Thin typed access to the single table: (de)serialisation, conditional writes, paging with opaque cursors."""

from __future__ import annotations

import base64
import binascii
import json
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from functools import cache
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from agentlab.errors import ConcurrentUpdate, InvalidRequest, Unprocessable

if TYPE_CHECKING:
    from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

GSI_NAMES = ("GSI1", "GSI2", "GSI3")
KEY_ATTRIBUTES = ("PK", "SK", "GSI1PK", "GSI1SK", "GSI2PK", "GSI2SK", "GSI3PK", "GSI3SK")


_RETRY_BASE_S = 0.01
_RETRY_CAP_S = 0.5


def pause_before_retry(attempt: int) -> None:
    """Exponential backoff with full jitter after a lost conditional write: writers that collided spread out instead
    of colliding again at once."""
    time.sleep(random.uniform(0, min(_RETRY_CAP_S, _RETRY_BASE_S * 2**attempt)))  # noqa: S311 - jitter, not secrecy


# DynamoDB numbers: 0, or a magnitude from 1E-130 to below 1E+126, with at most 38 significant digits.
_SMALLEST_NUMBER = Decimal("1E-130")
_NUMBER_BOUND = Decimal("1E+126")
_MAX_DIGITS = 38


def _storable(number: Decimal) -> Decimal:
    """A number DynamoDB can keep exactly; any other is refused (422), where boto3 would fail with a 500."""
    if number and not (
        _SMALLEST_NUMBER <= abs(number) < _NUMBER_BOUND and len(number.as_tuple().digits) <= _MAX_DIGITS
    ):
        raise Unprocessable(
            f"the number {number} cannot be stored: numbers must be 0, or between 1e-130 and 1e126 in magnitude "
            f"with at most {_MAX_DIGITS} significant digits",
            code="number_out_of_range",
        )
    return number


def _to_dynamo(value: Any) -> Any:
    if isinstance(value, float):
        return _storable(Decimal(repr(value)))
    if isinstance(value, int) and not isinstance(value, bool):
        _storable(Decimal(value))
        return value
    if isinstance(value, dict):
        if "" in value:
            # DynamoDB refuses an empty attribute name at any depth (a ValidationException, a 500 to the caller);
            # moto stores the item and then cannot read it back.
            raise Unprocessable("an object cannot have an empty key: it cannot be stored", code="empty_key")
        return {k: _to_dynamo(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_to_dynamo(v) for v in value]
    return value


def _from_dynamo(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() and "." not in str(value) else float(value)
    if isinstance(value, dict):
        return {k: _from_dynamo(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_from_dynamo(v) for v in value]
    if isinstance(value, set):
        return {_from_dynamo(v) for v in value}
    return value


_STORAGE_ATTRIBUTES = frozenset({*KEY_ATTRIBUTES, "entity", "deleted", "expires_at"})


def entity_fields(item: dict[str, Any]) -> dict[str, Any]:
    """An item without its storage attributes (keys, type marker, flags), ready for a domain model."""
    return {k: v for k, v in item.items() if k not in _STORAGE_ATTRIBUTES}


@cache
def _serializer() -> TypeSerializer:
    # boto3 is imported on first use: importing it takes longer than a step handler's own modules.
    from boto3.dynamodb.types import TypeSerializer

    return TypeSerializer()


@cache
def _deserializer() -> TypeDeserializer:
    from boto3.dynamodb.types import TypeDeserializer

    return TypeDeserializer()


def serialize(item: dict[str, Any]) -> dict[str, Any]:
    serializer = _serializer()
    return {k: serializer.serialize(_to_dynamo(v)) for k, v in item.items() if v is not None}


def deserialize(item: dict[str, Any]) -> dict[str, Any]:
    deserializer = _deserializer()
    return {k: _from_dynamo(deserializer.deserialize(v)) for k, v in item.items()}


def encode_cursor(key: dict[str, Any]) -> str:
    deserializer = _deserializer()
    plain = {k: deserializer.deserialize(v) for k, v in key.items()}
    return base64.urlsafe_b64encode(json.dumps(plain, separators=(",", ":")).encode()).decode().rstrip("=")


def decode_cursor(
    cursor: str,
    expected: dict[str, str],
    *,
    key_names: tuple[str, ...] | None = None,
    sort_prefix: tuple[str, str] | None = None,
) -> dict[str, Any]:
    """Decode a cursor and check that it belongs to the query it is used with (its partition and index).

    `key_names` are the attributes a start key of that query must have, exactly; `sort_prefix` is (sort key name,
    prefix) when the query reads a prefix. DynamoDB answers a start key that misses either with a ValidationException,
    so a forged cursor is refused here as a bad request instead.
    """
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        plain = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise InvalidRequest("the cursor is not valid", code="invalid_cursor") from exc
    if (
        not isinstance(plain, dict)
        or not all(isinstance(k, str) and k in KEY_ATTRIBUTES and isinstance(v, str) for k, v in plain.items())
        or any(plain.get(k) != v for k, v in expected.items())
        or (key_names is not None and set(plain) != set(key_names))
        or (sort_prefix is not None and not str(plain.get(sort_prefix[0], "")).startswith(sort_prefix[1]))
    ):
        raise InvalidRequest("the cursor is not valid for this listing", code="invalid_cursor")
    return {k: {"S": v} for k, v in plain.items()}


T = TypeVar("T")
U = TypeVar("U")


@dataclass
class QueryPage(Generic[T]):
    items: list[T]
    next_cursor: str | None

    def map(self, convert: Callable[[T], U]) -> QueryPage[U]:
        return QueryPage([convert(item) for item in self.items], self.next_cursor)


class Table:
    def __init__(self, client_factory: Callable[[], Any], name: str) -> None:
        self._client_factory = client_factory
        self.name = name

    @property
    def client(self) -> Any:
        return self._client_factory()

    def get(self, pk: str, sk: str, *, consistent: bool = True) -> dict[str, Any] | None:
        response = self.client.get_item(
            TableName=self.name, Key=serialize({"PK": pk, "SK": sk}), ConsistentRead=consistent
        )
        item = response.get("Item")
        return deserialize(item) if item else None

    def put_new(self, item: dict[str, Any]) -> None:
        """Create an item; fails with ConcurrentUpdate if it exists."""
        try:
            self.client.put_item(
                TableName=self.name, Item=serialize(item), ConditionExpression="attribute_not_exists(PK)"
            )
        except self.client.exceptions.ConditionalCheckFailedException as exc:
            raise ConcurrentUpdate("the item already exists") from exc

    def put_if_revision(self, item: dict[str, Any], *, attribute: str, expected: int) -> None:
        """Replace an item only if its stored revision is the one this writer read."""
        try:
            self.client.put_item(
                TableName=self.name,
                Item=serialize(item),
                ConditionExpression="#rev = :expected",
                ExpressionAttributeNames={"#rev": attribute},
                ExpressionAttributeValues=serialize({":expected": expected}),
            )
        except self.client.exceptions.ConditionalCheckFailedException as exc:
            raise ConcurrentUpdate("the item was changed by another request; reload and retry") from exc

    def delete(self, pk: str, sk: str) -> None:
        self.client.delete_item(TableName=self.name, Key=serialize({"PK": pk, "SK": sk}))

    def transact(self, operations: list[dict[str, Any]]) -> None:
        """Run writes atomically; any failed condition raises ConcurrentUpdate with the reasons."""
        try:
            self.client.transact_write_items(TransactItems=operations)
        except self.client.exceptions.TransactionCanceledException as exc:
            reasons = [r.get("Code") for r in exc.response.get("CancellationReasons", [])]
            raise ConcurrentUpdate(f"a conditional write failed ({', '.join(str(r) for r in reasons)})") from exc

    def op_put(
        self,
        item: dict[str, Any],
        *,
        condition: str | None = None,
        values: dict[str, Any] | None = None,
        names: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        put: dict[str, Any] = {"TableName": self.name, "Item": serialize(item)}
        if condition:
            put["ConditionExpression"] = condition
        if values:
            put["ExpressionAttributeValues"] = serialize(values)
        if names:
            put["ExpressionAttributeNames"] = names
        return {"Put": put}

    def add(self, pk: str, sk: str, attribute: str, amount: int, *, expires_at: int | None = None) -> int:
        """Atomically add to a counter attribute (created at 0) and return its new value."""
        update = self.op_add(pk, sk, {attribute: amount}, expires_at=expires_at)["Update"]
        response = self.client.update_item(**update, ReturnValues="UPDATED_NEW")
        return int(deserialize(response["Attributes"])[attribute])

    def set_fields(self, pk: str, sk: str, fields: dict[str, Any], *, must_exist: bool = True) -> None:
        """Set a few attributes of an item without reading it (no revision: for fields nobody else writes)."""
        names = {f"#f{i}": name for i, name in enumerate(fields)}
        values = {f":v{i}": value for i, value in enumerate(fields.values())}
        request: dict[str, Any] = {
            "TableName": self.name,
            "Key": serialize({"PK": pk, "SK": sk}),
            "UpdateExpression": "SET " + ", ".join(f"#f{i} = :v{i}" for i in range(len(fields))),
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": serialize(values),
        }
        if must_exist:
            request["ConditionExpression"] = "attribute_exists(PK)"
        try:
            self.client.update_item(**request)
        except self.client.exceptions.ConditionalCheckFailedException as exc:
            raise ConcurrentUpdate("the item no longer exists") from exc

    def op_add(self, pk: str, sk: str, counters: dict[str, int], *, expires_at: int | None = None) -> dict[str, Any]:
        """A transaction operation adding to counters (created at 0)."""
        names = {f"#c{i}": name for i, name in enumerate(counters)}
        values: dict[str, Any] = {f":c{i}": amount for i, amount in enumerate(counters.values())}
        expression = "ADD " + ", ".join(f"#c{i} :c{i}" for i in range(len(counters)))
        if expires_at is not None:
            expression += " SET expires_at = if_not_exists(expires_at, :ttl)"
            values[":ttl"] = expires_at
        return {
            "Update": {
                "TableName": self.name,
                "Key": serialize({"PK": pk, "SK": sk}),
                "UpdateExpression": expression,
                "ExpressionAttributeNames": names,
                "ExpressionAttributeValues": serialize(values),
            }
        }

    def delete_many(self, keys: list[tuple[str, str]]) -> int:
        """Delete items by key, 25 per batch, retrying what DynamoDB leaves unprocessed."""
        for start in range(0, len(keys), 25):
            requests = [
                {"DeleteRequest": {"Key": serialize({"PK": pk, "SK": sk})}} for pk, sk in keys[start : start + 25]
            ]
            attempt = 0
            while requests:
                response = self.client.batch_write_item(RequestItems={self.name: requests})
                requests = response.get("UnprocessedItems", {}).get(self.name, [])
                if requests:
                    pause_before_retry(attempt)
                    attempt += 1
        return len(keys)

    def op_delete(self, pk: str, sk: str, *, condition: str | None = None) -> dict[str, Any]:
        delete: dict[str, Any] = {"TableName": self.name, "Key": serialize({"PK": pk, "SK": sk})}
        if condition:
            delete["ConditionExpression"] = condition
        return {"Delete": delete}

    def query(
        self,
        *,
        partition: tuple[str, str],
        sort_prefix: str | None = None,
        sort_after: tuple[str, str] | None = None,
        index: str | None = None,
        limit: int = 50,
        cursor: str | None = None,
        newest_first: bool = False,
        keep: Callable[[dict[str, Any]], bool] | None = None,
        max_examined: int | None = None,
    ) -> QueryPage[dict[str, Any]]:
        """One page of a partition, optionally filtered in code; the cursor is the key of the last item returned.

        Filtering in code (instead of a FilterExpression) keeps pages full: the loop reads on until `limit` items
        pass or the partition ends, and the cursor points exactly after the last item returned.
        """
        pk_name, pk_value = partition
        sk_name = pk_name.replace("PK", "SK")
        names = {"#pk": pk_name}
        values: dict[str, Any] = {":pk": pk_value}
        condition = "#pk = :pk"
        if sort_prefix is not None:
            names["#sk"] = sk_name
            values[":prefix"] = sort_prefix
            condition += " AND begins_with(#sk, :prefix)"
        elif sort_after is not None:
            names["#sk"] = sk_name
            values[":lo"], values[":hi"] = sort_after
            condition += " AND #sk BETWEEN :lo AND :hi"
        request: dict[str, Any] = {
            "TableName": self.name,
            "KeyConditionExpression": condition,
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": serialize(values),
            "ScanIndexForward": not newest_first,
        }
        if index:
            request["IndexName"] = index
        else:
            request["ConsistentRead"] = True
        start_key = (
            decode_cursor(
                cursor,
                {pk_name: pk_value},
                key_names=_key_names(pk_name),
                sort_prefix=(sk_name, sort_prefix) if sort_prefix is not None else None,
            )
            if cursor
            else None
        )
        items: list[dict[str, Any]] = []
        last_key: dict[str, Any] | None = None
        examined = 0
        while True:
            if start_key:
                request["ExclusiveStartKey"] = start_key
            request["Limit"] = max(limit - len(items), 1) if keep is None else max(limit, 25)
            response = self.client.query(**request)
            raw_items = response.get("Items", [])
            for raw in raw_items:
                item = deserialize(raw)
                examined += 1
                if keep is None or keep(item):
                    items.append(item)
                    last_key = {k: raw[k] for k in _key_names(pk_name) if k in raw}
                    if len(items) == limit:
                        break
                elif max_examined is not None and examined >= max_examined:
                    # A filter that matches little would read the whole partition: the page ends short, with a
                    # cursor after the last item looked at, and the caller pages on.
                    return QueryPage(items, encode_cursor({k: raw[k] for k in _key_names(pk_name) if k in raw}))
            more = "LastEvaluatedKey" in response
            if len(items) == limit:
                # The cursor points after the last returned item; if that was the partition's very last item the
                # next page is simply empty.
                return QueryPage(items, encode_cursor(last_key) if last_key else None)
            if not more:
                return QueryPage(items, None)
            start_key = response["LastEvaluatedKey"]

    def iterate(
        self, *, partition: tuple[str, str], sort_prefix: str | None = None, index: str | None = None
    ) -> Iterator[dict[str, Any]]:
        cursor: str | None = None
        while True:
            page = self.query(partition=partition, sort_prefix=sort_prefix, index=index, limit=100, cursor=cursor)
            yield from page.items
            if not page.next_cursor:
                return
            cursor = page.next_cursor


def _key_names(pk_name: str) -> tuple[str, ...]:
    if pk_name == "PK":
        return ("PK", "SK")
    return ("PK", "SK", pk_name, pk_name.replace("PK", "SK"))
