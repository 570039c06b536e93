"""The Data construct: the table, the bucket and the provider secret."""

from __future__ import annotations

from typing import Any

from aws_cdk import App, Stack
from aws_cdk.assertions import Match, Template
from infra_helpers import Synthesized, as_list, flat, policy_statements, role_of_function

from agentlab.store.blobs import EXPORT_EXPIRY_TAG
from agentlab.store.schema import GLOBAL_INDEXES, TTL_ATTRIBUTE


def test_table_is_on_demand_with_recovery_ttl_and_the_store_indexes(template: Any) -> None:
    template.has_resource_properties(
        "AWS::DynamoDB::Table",
        {
            "BillingMode": "PAY_PER_REQUEST",
            "KeySchema": [{"AttributeName": "PK", "KeyType": "HASH"}, {"AttributeName": "SK", "KeyType": "RANGE"}],
            "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
            "TimeToLiveSpecification": {"AttributeName": TTL_ATTRIBUTE, "Enabled": True},
            "SSESpecification": {"SSEEnabled": True},
        },
    )


def test_table_indexes_match_the_store_schema(synth: Synthesized) -> None:
    table = synth.one("AWS::DynamoDB::Table")["Properties"]
    indexes = {
        index["IndexName"]: (index["KeySchema"][0]["AttributeName"], index["KeySchema"][1]["AttributeName"])
        for index in table["GlobalSecondaryIndexes"]
    }
    assert indexes == {name: (pk, sk) for name, pk, sk in GLOBAL_INDEXES}
    assert all(index["Projection"] == {"ProjectionType": "ALL"} for index in table["GlobalSecondaryIndexes"])


def test_dev_table_can_be_deleted_and_prod_table_cannot() -> None:
    from agentlab_cdk.data import Data

    def table_of(is_prod: bool) -> dict[str, Any]:
        stack = Stack(App(), "DataOnly")
        Data(stack, "Data", is_prod=is_prod)
        tables = Template.from_stack(stack).find_resources("AWS::DynamoDB::Table")
        return next(iter(tables.values()))

    dev, prod = table_of(False), table_of(True)
    assert dev["Properties"]["DeletionProtectionEnabled"] is False
    assert prod["Properties"]["DeletionProtectionEnabled"] is True
    assert prod["DeletionPolicy"] == "Retain"


def test_data_bucket_is_encrypted_private_ssl_only_logged_and_expires_what_is_left_over(synth: Synthesized) -> None:
    bucket_id = synth.logical_id(synth.stack.data.bucket)
    logs_id = synth.logical_id(synth.stack.data.access_logs)
    props = synth.resources[bucket_id]["Properties"]
    assert props["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]["ServerSideEncryptionByDefault"] == {
        "SSEAlgorithm": "AES256"
    }
    assert props["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    assert props["LoggingConfiguration"]["DestinationBucketName"] == {"Ref": logs_id}
    rules = {rule["Id"]: rule for rule in props["LifecycleConfiguration"]["Rules"]}
    assert set(rules) == {"expire-old-versions", "abort-incomplete-uploads", "expire-exports"}, (
        "the sandbox no longer uses the bucket"
    )
    assert rules["abort-incomplete-uploads"]["AbortIncompleteMultipartUpload"] == {"DaysAfterInitiation": 1}
    # Org exports handed out through the bucket (too large to answer inline) are kept a day, found by their tag.
    assert rules["expire-exports"]["Status"] == "Enabled"
    assert rules["expire-exports"]["ExpirationInDays"] == 1
    assert rules["expire-exports"]["TagFilters"] == [{"Key": k, "Value": v} for k, v in EXPORT_EXPIRY_TAG.items()]
    assert "Prefix" not in rules["expire-exports"], "the tag alone selects the exports, wherever their org's prefix is"
    # Presigned uploads come from the dashboard's origin only.
    cors = props["CorsConfiguration"]["CorsRules"]
    assert [rule["AllowedOrigins"] for rule in cors] == [
        [
            {
                "Fn::Join": [
                    "",
                    ["https://", {"Fn::GetAtt": [synth.logical_id(synth.stack.hosting.distribution), "DomainName"]}],
                ]
            }
        ]
    ]


def test_cors_allows_the_presigned_post_the_dashboard_uploads_with_and_presigned_reads(synth: Synthesized) -> None:
    props = synth.resources[synth.logical_id(synth.stack.data.bucket)]["Properties"]
    (rule,) = props["CorsConfiguration"]["CorsRules"]
    # The dashboard posts a form to the bucket (agentlab.store.blobs.presigned_upload) and reads through presigned
    # GETs; nothing presigns a PUT or a DELETE.
    assert sorted(rule["AllowedMethods"]) == ["GET", "HEAD", "POST"]
    # The very rule the local stack deploys on its bucket, where the dashboard's browser tests upload cross-origin.
    from agentlab.store.cors import BROWSER_CORS_RULE

    expected = BROWSER_CORS_RULE.for_origins(["origin"])
    assert rule["AllowedHeaders"] == expected["AllowedHeaders"] and rule["ExposedHeaders"] == expected["ExposeHeaders"]
    assert rule["MaxAge"] == expected["MaxAgeSeconds"]


def test_every_bucket_refuses_plain_http(synth: Synthesized) -> None:
    buckets = set(synth.of_type("AWS::S3::Bucket"))
    guarded = set()
    for policy in synth.of_type("AWS::S3::BucketPolicy").values():
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            if statement["Effect"] == "Deny" and statement.get("Condition") == {
                "Bool": {"aws:SecureTransport": "false"}
            }:
                guarded.add(policy["Properties"]["Bucket"]["Ref"])
    assert buckets and guarded == buckets


def test_provider_credentials_live_in_secrets_manager(template: Any) -> None:
    template.has_resource_properties(
        "AWS::SecretsManager::Secret", {"Description": Match.string_like_regexp("provider credentials")}
    )


def test_only_the_api_may_tag_objects_and_only_org_exports(synth: Synthesized) -> None:
    """The API writes a large export with its expiry tag, and S3 asks s3:PutObjectTagging of a PutObject that carries
    tags; nothing else tags objects of the data bucket, and the API only under the org exports' keys."""
    bucket = synth.logical_id(synth.stack.data.bucket)
    api_role = role_of_function(synth.resources[synth.logical_id(synth.stack.api.function)])
    tagging = [
        (roles, statement)
        for _, roles, statement in policy_statements(synth.resources)
        if "s3:PutObjectTagging" in as_list(statement["Action"])
        and any(f"<{bucket}." in flat(resource) for resource in as_list(statement["Resource"]))
    ]
    assert [roles for roles, _ in tagging] == [[api_role]]
    statement = tagging[0][1]
    assert as_list(statement["Action"]) == ["s3:PutObjectTagging"]
    assert [flat(resource) for resource in as_list(statement["Resource"])] == [f"<{bucket}.Arn>/orgs/*/exports/*"]
