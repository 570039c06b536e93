"""Opaque paging cursors: they round-trip, and anything forged, foreign or garbled is a bad request (never a 500)."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from agentlab.errors import InvalidRequest
from agentlab.store.table import Table, decode_cursor, encode_cursor, serialize

RUN_KEY = {"PK": {"S": "ORG#A"}, "SK": {"S": "RUN#01ARZ3NDEKTSV4RRFFQ69G5FAV"}}
GSI_KEY = {
    **RUN_KEY,
    "GSI1PK": {"S": "ORG#A#AGENT#X"},
    "GSI1SK": {"S": "RUN#01ARZ3NDEKTSV4RRFFQ69G5FAV"},
}


def forge(plain: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(plain).encode()).decode().rstrip("=")


def test_cursor_round_trips_and_is_url_safe() -> None:
    cursor = encode_cursor(RUN_KEY)
    assert set(cursor) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
    assert decode_cursor(cursor, {"PK": "ORG#A"}) == RUN_KEY
    assert decode_cursor(cursor, {"PK": "ORG#A"}, key_names=("PK", "SK"), sort_prefix=("SK", "RUN#")) == RUN_KEY


def test_index_cursor_round_trips() -> None:
    cursor = encode_cursor(GSI_KEY)
    names = ("PK", "SK", "GSI1PK", "GSI1SK")
    assert decode_cursor(cursor, {"GSI1PK": "ORG#A#AGENT#X"}, key_names=names) == GSI_KEY


def test_cursor_of_another_partition_is_refused() -> None:
    cursor = encode_cursor(RUN_KEY)
    with pytest.raises(InvalidRequest) as caught:
        decode_cursor(cursor, {"PK": "ORG#B"})
    assert caught.value.code == "invalid_cursor" and caught.value.status == 400


def test_cursor_of_another_index_is_refused() -> None:
    with pytest.raises(InvalidRequest):
        decode_cursor(encode_cursor(GSI_KEY), {"GSI2PK": "ORG#A#THREAD#T"})
    with pytest.raises(InvalidRequest):
        decode_cursor(encode_cursor(GSI_KEY), {"GSI1PK": "ORG#A#AGENT#Y"})


def test_tampered_cursor_pointing_at_another_org_is_refused() -> None:
    plain = json.loads(base64.urlsafe_b64decode(encode_cursor(RUN_KEY) + "=="))
    plain["PK"] = "ORG#B"
    with pytest.raises(InvalidRequest):
        decode_cursor(forge(plain), {"PK": "ORG#A"})


@pytest.mark.parametrize(
    "plain",
    [
        {"PK": "ORG#A"},  # a start key without its sort key
        {"PK": "ORG#A", "SK": "RUN#1", "GSI1PK": "ORG#A#AGENT#X"},  # an extra key attribute
        {"GSI1PK": "ORG#A#AGENT#X"},
    ],
)
def test_cursor_without_exactly_the_query_keys_is_refused(plain: dict[str, str]) -> None:
    with pytest.raises(InvalidRequest):
        decode_cursor(forge(plain), {"PK": "ORG#A"}, key_names=("PK", "SK"))


def test_cursor_outside_the_queried_prefix_is_refused() -> None:
    agent_key = forge({"PK": "ORG#A", "SK": "AGENT#01ARZ3NDEKTSV4RRFFQ69G5FAV"})
    with pytest.raises(InvalidRequest):
        decode_cursor(agent_key, {"PK": "ORG#A"}, key_names=("PK", "SK"), sort_prefix=("SK", "RUN#"))


@pytest.mark.parametrize(
    "cursor",
    [
        "",
        "!!!",
        "not base64 at all ~~~",
        "%%%%",
        base64.urlsafe_b64encode(b"\xff\xfe\xfd\xfc").decode(),
        forge([1, 2, 3]),
        forge("ORG#A"),
        forge(None),
        forge({"PK": 5, "SK": "RUN#1"}),
        forge({"PK": "ORG#A", "SK": {"S": "RUN#1"}}),
        forge({"PK": "ORG#A", "SK": "RUN#1", "org_id": "B"}),
        forge({"PK": "ORG#A", "SK": "RUN#1"})[:-3],
    ],
)
def test_garbage_cursors_are_invalid_requests(cursor: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        decode_cursor(cursor, {"PK": "ORG#A"}, key_names=("PK", "SK"), sort_prefix=("SK", "RUN#"))
    assert caught.value.code == "invalid_cursor"


# Paging through Table.query with a fake DynamoDB client ------------------------------------------------------------
class FakeDynamo:
    """Just enough of DynamoDB's Query for one partition: key order, Limit, ExclusiveStartKey, begins_with."""

    def __init__(self, items: list[dict[str, Any]]) -> None:
        self.items = sorted((serialize(item) for item in items), key=lambda item: item["SK"]["S"])
        self.requests: list[dict[str, Any]] = []

    def query(self, **request: Any) -> dict[str, Any]:
        self.requests.append(request)
        prefix = request["ExpressionAttributeValues"][":prefix"]["S"]
        rows = [item for item in self.items if item["SK"]["S"].startswith(prefix)]
        if not request["ScanIndexForward"]:
            rows.reverse()
        start = request.get("ExclusiveStartKey")
        if start:
            position = next(n for n, item in enumerate(rows) if item["SK"] == start["SK"])
            rows = rows[position + 1 :]
        page = rows[: request["Limit"]]
        response: dict[str, Any] = {"Items": page}
        if len(rows) > request["Limit"]:
            response["LastEvaluatedKey"] = {"PK": page[-1]["PK"], "SK": page[-1]["SK"]}
        return response


def fake_table(count: int) -> tuple[Table, FakeDynamo]:
    items = [{"PK": "ORG#A", "SK": f"RUN#{n:04d}", "n": n, "even": n % 2 == 0} for n in range(count)]
    items.append({"PK": "ORG#A", "SK": "AGENT#0001", "n": -1, "even": True})
    fake = FakeDynamo(items)
    return Table(lambda: fake, "fake"), fake


def read_all(table: Table, *, limit: int, newest_first: bool, keep: Any = None) -> list[list[int]]:
    pages: list[list[int]] = []
    cursor = None
    while True:
        page = table.query(
            partition=("PK", "ORG#A"),
            sort_prefix="RUN#",
            limit=limit,
            cursor=cursor,
            newest_first=newest_first,
            keep=keep,
        )
        pages.append([item["n"] for item in page.items])
        if page.next_cursor is None:
            return pages
        cursor = page.next_cursor
        assert len(pages) < 100, "paging does not end"


def test_paging_returns_every_item_once_in_order() -> None:
    table, _ = fake_table(10)
    pages = read_all(table, limit=3, newest_first=True)
    assert pages == [[9, 8, 7], [6, 5, 4], [3, 2, 1], [0]]


def test_paging_with_a_filter_keeps_pages_full() -> None:
    table, fake = fake_table(40)
    pages = read_all(table, limit=4, newest_first=False, keep=lambda item: item["even"])
    flat = [n for page in pages for n in page]
    assert flat == list(range(0, 40, 2))
    assert all(len(page) == 4 for page in pages[:-1])
    assert all(request["ExpressionAttributeValues"][":prefix"] == {"S": "RUN#"} for request in fake.requests)


def test_a_cursor_from_one_listing_is_refused_by_another() -> None:
    table, _ = fake_table(5)
    cursor = table.query(partition=("PK", "ORG#A"), sort_prefix="RUN#", limit=2).next_cursor
    assert cursor is not None
    with pytest.raises(InvalidRequest):
        table.query(partition=("PK", "ORG#B"), sort_prefix="RUN#", limit=2, cursor=cursor)
    with pytest.raises(InvalidRequest):
        table.query(partition=("PK", "ORG#A"), sort_prefix="AGENT#", limit=2, cursor=cursor)
