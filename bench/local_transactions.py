"""Local DynamoDB transactions: the cost of one `append_step`-shaped transaction as the table grows, with moto's own
backup (a deep copy of the whole table per operation) against the local stack's (only the items named).

Run from the repository root: .venv/bin/python bench/local_transactions.py
"""

from __future__ import annotations

import json
import os
import statistics
import time

os.environ.update({"AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x", "AWS_DEFAULT_REGION": "us-east-1"})

SIZES = (200, 2_000, 8_000)
ROUNDS = 15


def measure(size: int, *, patched: bool) -> float:
    from moto import mock_aws

    from agentlab.aws import AwsClients
    from agentlab.local import aws as local_aws
    from agentlab.settings import CoreSettings
    from agentlab.store.schema import create_table_request
    from agentlab.store.table import Table

    with mock_aws():
        undo = local_aws._roll_back_only_touched_items() if patched else (lambda: None)
        try:
            clients = AwsClients(CoreSettings())
            clients.dynamodb.create_table(**create_table_request("bench"))
            table = Table(lambda: clients.dynamodb, "bench")
            requests = [
                {"PutRequest": {"Item": {"PK": {"S": f"P#{i % 50}"}, "SK": {"S": f"S#{i}"}}}} for i in range(size)
            ]
            for start in range(0, size, 25):
                clients.dynamodb.batch_write_item(RequestItems={"bench": requests[start : start + 25]})
            table.put_new({"PK": "RUN", "SK": "R", "revision": 0})
            timings = []
            for round_ in range(ROUNDS):
                started = time.perf_counter()
                table.transact(
                    [
                        table.op_put({"PK": "RUN", "SK": "R", "revision": round_ + 1}),
                        table.op_put({"PK": "RUN#STEPS", "SK": f"STEP#{round_:08d}"}),
                        table.op_add("QUOTA", "tokens", {"count": 10}),
                    ]
                )
                timings.append((time.perf_counter() - started) * 1000)
            return statistics.median(timings)
        finally:
            undo()


def main() -> None:
    figures: dict[str, float] = {}
    print(f"{'items':>8} {'moto backup ms':>15} {'touched-items ms':>17} {'ratio':>7}")
    for size in SIZES:
        baseline = measure(size, patched=False)
        local = measure(size, patched=True)
        ratio = local / baseline
        print(f"{size:>8} {baseline:>15.1f} {local:>17.1f} {ratio:>7.3f}")
        figures[f"moto_ms_{size}"] = round(baseline, 2)
        figures[f"local_ms_{size}"] = round(local, 2)
        figures[f"ratio_{size}"] = round(ratio, 3)
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
