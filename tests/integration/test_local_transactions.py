"""Local transactions back up only the items they name: a failed one puts exactly those back, and leaves the rest."""

from __future__ import annotations

import pytest
from moto_platform import Platform

from agentlab.errors import ConcurrentUpdate


def test_a_failed_transaction_restores_the_items_it_touched_and_only_those(platform: Platform) -> None:
    table = platform.table
    table.put_new({"PK": "T#1", "SK": "A", "n": 1})
    table.put_new({"PK": "T#1", "SK": "B", "n": 1})
    table.put_new({"PK": "T#2", "SK": "other", "n": 7})
    with pytest.raises(ConcurrentUpdate):
        table.transact(
            [
                table.op_put({"PK": "T#1", "SK": "A", "n": 2}),  # replaced, then restored
                table.op_add("T#1", "B", {"n": 5}),  # updated in place, then restored
                table.op_put({"PK": "T#1", "SK": "C", "n": 3}),  # created, then removed
                table.op_delete("T#1", "missing", condition="attribute_exists(PK)"),  # fails
            ]
        )
    assert table.get("T#1", "A") == {"PK": "T#1", "SK": "A", "n": 1}
    assert table.get("T#1", "B") == {"PK": "T#1", "SK": "B", "n": 1}
    assert table.get("T#1", "C") is None
    assert table.get("T#2", "other") == {"PK": "T#2", "SK": "other", "n": 7}


def test_a_successful_transaction_writes_everything(platform: Platform) -> None:
    table = platform.table
    table.put_new({"PK": "T#3", "SK": "A", "n": 1})
    table.transact([table.op_add("T#3", "A", {"n": 4}), table.op_put({"PK": "T#3", "SK": "B", "n": 2})])
    assert table.get("T#3", "A")["n"] == 5 and table.get("T#3", "B")["n"] == 2  # type: ignore[index]


def test_a_transaction_naming_one_item_twice_is_refused_and_changes_nothing(platform: Platform) -> None:
    table = platform.table
    table.put_new({"PK": "T#4", "SK": "A", "n": 1})
    with pytest.raises(Exception, match=r"[Tt]ransaction|multiple|same"):
        table.transact([table.op_add("T#4", "A", {"n": 1}), table.op_add("T#4", "A", {"n": 1})])
    assert table.get("T#4", "A") == {"PK": "T#4", "SK": "A", "n": 1}
