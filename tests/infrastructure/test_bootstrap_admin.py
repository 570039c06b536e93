"""cdk/bootstrap_admin.py against moto: the first org, its platform-admin key (hash only stored), the demo agents."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import boto3
import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "cdk"))


def test_bootstrap_creates_an_org_a_platform_admin_key_and_the_demo_agents(capsys: pytest.CaptureFixture[str]) -> None:
    from bootstrap_admin import main
    from moto import mock_aws

    from agentlab.aws import AwsClients
    from agentlab.settings import CoreSettings
    from agentlab.store.agents import AgentStore
    from agentlab.store.orgs import OrgStore
    from agentlab.store.schema import create_table_request
    from agentlab.store.table import Table

    with mock_aws():
        boto3.client("dynamodb", region_name="us-east-1").create_table(**create_table_request("agentlab-bootstrap"))

        assert main(["--org", "Acme", "--table", "agentlab-bootstrap", "--region", "us-east-1"]) == 0

        out = capsys.readouterr().out
        key = re.search(r"API key \(shown once, store it now\): (al_\S+)", out)
        org_id = re.search(r"org (\S+) created with 1 demo agent", out)
        assert key and org_id
        clients = AwsClients(CoreSettings(table_name="agentlab-bootstrap"))
        table = Table(lambda: clients.dynamodb, "agentlab-bootstrap")
        record = OrgStore(table).find_api_key(key.group(1))
        assert record is not None
        assert (record.org_id, record.role, record.platform_admin) == (org_id.group(1), "admin", True)
        assert key.group(1) not in str(table.client.scan(TableName="agentlab-bootstrap")["Items"])
        assert AgentStore(table).find_by_name(org_id.group(1), "demo-analyst") is not None
