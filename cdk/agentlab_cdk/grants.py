"""Data-service grants with their actions spelled out: no `*` in an action on DynamoDB, S3 or Secrets Manager."""

from __future__ import annotations

from aws_cdk import ArnFormat, Stack
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_secretsmanager as secretsmanager

from agentlab_cdk.nag import acknowledge, arn, ref

TABLE_ACTIONS = (
    "dynamodb:GetItem",
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
    "dynamodb:DeleteItem",
    "dynamodb:Query",
    "dynamodb:ConditionCheckItem",
)
# Whole-tenant operations (an org's deletion) scan and batch-delete; only the API does those.
TABLE_BULK_ACTIONS = ("dynamodb:Scan", "dynamodb:BatchWriteItem")
OBJECT_ACTIONS = ("s3:GetObject", "s3:PutObject")
# Secrets Manager ends every secret's ARN with a hyphen and six random characters.
RANDOM_ARN_SUFFIX = "-??????"


def grant_table(role: iam.IRole, table: dynamodb.ITable, *, bulk: bool = False) -> None:
    actions = [*TABLE_ACTIONS, *(TABLE_BULK_ACTIONS if bulk else ())]
    # TransactWriteItems is authorised per item by the actions above; the call itself needs no grant of its own.
    role.add_to_principal_policy(
        iam.PolicyStatement(actions=actions, resources=[table.table_arn, f"{table.table_arn}/index/*"])
    )
    acknowledge(
        role,
        "IAM5",
        "The single-table design queries its GSI1-3 indexes; the grant names the table's indexes, nothing else.",
        f"Resource::{ref(table)}/index/*",
    )


def grant_objects(
    role: iam.IRole, bucket: s3.IBucket, prefix: str, *, delete: bool = False, list_: bool = False
) -> None:
    """Read and write objects under one prefix of the bucket (e.g. "orgs/")."""
    actions = [*OBJECT_ACTIONS, *(["s3:DeleteObject"] if delete else [])]
    role.add_to_principal_policy(iam.PolicyStatement(actions=actions, resources=[bucket.arn_for_objects(f"{prefix}*")]))
    if list_:
        grant_not_found(role, bucket)
    acknowledge(
        role,
        "IAM5",
        f"Object keys under {prefix} carry org and run ids made at run time; the grant is limited to that prefix.",
        f"Resource::{ref(bucket)}/{prefix}*",
    )


def grant_object_reads(role: iam.IRole, bucket: s3.IBucket, prefix: str) -> None:
    """Read objects under one prefix of the bucket, write none."""
    role.add_to_principal_policy(
        iam.PolicyStatement(actions=["s3:GetObject"], resources=[bucket.arn_for_objects(f"{prefix}*")])
    )
    acknowledge(
        role,
        "IAM5",
        f"Object keys under {prefix} carry org and run ids made at run time; the read grant is limited to that prefix.",
        f"Resource::{ref(bucket)}/{prefix}*",
    )


def secret_names_arn(scope: Stack, pattern: str) -> str:
    """The ARN of every secret of this account and Region whose name matches `pattern` (e.g. "agentlab/*/repos/*"),
    with Secrets Manager's suffix spelled out, so that a grant also covers secrets not made yet."""
    return scope.format_arn(
        service="secretsmanager",
        resource="secret",
        resource_name=f"{pattern}{RANDOM_ARN_SUFFIX}",
        arn_format=ArnFormat.COLON_RESOURCE_NAME,
    )


def grant_named_secrets(role: iam.IRole, pattern: str, actions: tuple[str, ...], *, reason: str) -> None:
    """`actions` on the secrets whose names match `pattern`, and no other secret of the stack."""
    role.add_to_principal_policy(
        iam.PolicyStatement(actions=list(actions), resources=[secret_names_arn(Stack.of(role), pattern)])
    )
    acknowledge(
        role, "IAM5", reason, f"Resource::{arn(role, 'secretsmanager', f'secret:{pattern}{RANDOM_ARN_SUFFIX}')}"
    )


def grant_secret_read(role: iam.IRole, secret: secretsmanager.ISecret) -> None:
    role.add_to_principal_policy(
        iam.PolicyStatement(
            actions=["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"], resources=[secret.secret_arn]
        )
    )


def grant_not_found(role: iam.IRole, bucket: s3.IBucket) -> None:
    """s3:ListBucket on the bucket, without an s3:prefix condition: S3 answers a GET of a missing key with 404
    (NoSuchKey) only to callers allowed to list the bucket, and 403 to others, and the API tells a missing file from a
    refused one by that 404; a GET carries no s3:prefix, so a prefix-conditioned grant would not count. It reveals key
    names, never contents."""
    role.add_to_principal_policy(iam.PolicyStatement(actions=["s3:ListBucket"], resources=[bucket.bucket_arn]))
