"""The table's key schema, shared by the CDK stack and the local stack so both build the same table."""

from __future__ import annotations

from typing import Any

PARTITION_KEY = "PK"
SORT_KEY = "SK"
TTL_ATTRIBUTE = "expires_at"
GLOBAL_INDEXES: tuple[tuple[str, str, str], ...] = (
    ("GSI1", "GSI1PK", "GSI1SK"),
    ("GSI2", "GSI2PK", "GSI2SK"),
    ("GSI3", "GSI3PK", "GSI3SK"),
)


def create_table_request(name: str) -> dict[str, Any]:
    """The CreateTable request for the table (on-demand capacity, all attributes projected into the indexes)."""
    attributes = [PARTITION_KEY, SORT_KEY] + [k for _, pk, sk in GLOBAL_INDEXES for k in (pk, sk)]
    return {
        "TableName": name,
        "BillingMode": "PAY_PER_REQUEST",
        "AttributeDefinitions": [{"AttributeName": a, "AttributeType": "S"} for a in attributes],
        "KeySchema": [
            {"AttributeName": PARTITION_KEY, "KeyType": "HASH"},
            {"AttributeName": SORT_KEY, "KeyType": "RANGE"},
        ],
        "GlobalSecondaryIndexes": [
            {
                "IndexName": index,
                "KeySchema": [{"AttributeName": pk, "KeyType": "HASH"}, {"AttributeName": sk, "KeyType": "RANGE"}],
                "Projection": {"ProjectionType": "ALL"},
            }
            for index, pk, sk in GLOBAL_INDEXES
        ],
    }
