"""Create the first org of a deployment and its platform-admin API key (shown once), and seed the demo agents.

Run once after `make deploy`, with credentials for the account:

    .venv/bin/python cdk/bootstrap_admin.py --org "Acme"           # reads the table from the stack's outputs
    .venv/bin/python cdk/bootstrap_admin.py --org "Acme" --table NAME

The key goes to the CLI (`agentlab configure`), which then creates people's dashboard logins (`agentlab users
create --email ... --role admin`). Only the key's hash is stored.
"""

from __future__ import annotations

import argparse
import os
import sys

STACK_NAME = "Agentlab"


def table_from_stack(stack_name: str, region: str | None) -> str:
    import boto3

    stack = boto3.client("cloudformation", region_name=region).describe_stacks(StackName=stack_name)["Stacks"][0]
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
    return outputs["TableName"]


def bootstrap(table_name: str, org_name: str, region: str | None = None) -> tuple[str, str, list[str]]:
    """(org id, the admin API key, ids of the demo agents created)."""
    from agentlab.aws import AwsClients
    from agentlab.seed import seed_demo_agents
    from agentlab.settings import CoreSettings
    from agentlab.store.orgs import OrgStore
    from agentlab.store.table import Table

    settings = CoreSettings(table_name=table_name, **({"AWS_REGION": region} if region else {}))
    clients = AwsClients(settings)
    orgs = OrgStore(Table(lambda: clients.dynamodb, table_name))
    org = orgs.create_org(org_name)
    _, key = orgs.create_api_key(org.id, name="first admin", role="admin", platform_admin=True)
    return org.id, key, seed_demo_agents(org.id, settings)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--org", required=True, help="the first org's name")
    parser.add_argument("--table", help=f"the DynamoDB table (default: the {STACK_NAME} stack's TableName output)")
    parser.add_argument("--stack", default=STACK_NAME)
    parser.add_argument("--region", default=os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION"))
    args = parser.parse_args(argv)
    table = args.table or table_from_stack(args.stack, args.region)
    org_id, key, agents = bootstrap(table, args.org, args.region)
    print(f"org {org_id} created with {len(agents)} demo agent(s)")
    print(f"platform-admin API key (shown once, store it now): {key}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
