"""State and blobs: the DynamoDB table, the S3 bucket for files and artifacts, provider credentials."""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from agentlab.store.blobs import EXPORT_EXPIRY_TAG
from agentlab.store.cors import BROWSER_CORS_RULE
from agentlab.store.schema import GLOBAL_INDEXES, PARTITION_KEY, SORT_KEY, TTL_ATTRIBUTE
from agentlab_cdk.nag import acknowledge

NONCURRENT_EXPIRY = Duration.days(30)
ACCESS_LOG_EXPIRY = Duration.days(90)
# Org exports too large to answer inline are handed out through the bucket; the link lasts minutes, the copy a day.
EXPORT_EXPIRY = Duration.days(1)


class Data(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, is_prod: bool) -> None:
        super().__init__(scope, construct_id)
        self._is_prod = is_prod
        self.access_logs = self._add_access_log_bucket()
        self.table = self._add_table()
        self.bucket = self._add_bucket()
        self.provider_secret = self._add_provider_secret()

    def _add_access_log_bucket(self) -> s3.Bucket:
        bucket = s3.Bucket(
            self,
            "AccessLogs",
            encryption=s3.BucketEncryption.S3_MANAGED,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            # CloudFront's standard logs are delivered with ACLs; S3 server access logs use the bucket policy.
            object_ownership=s3.ObjectOwnership.OBJECT_WRITER,
            lifecycle_rules=[s3.LifecycleRule(id="expire-logs", expiration=ACCESS_LOG_EXPIRY)],
            removal_policy=RemovalPolicy.RETAIN,
        )
        acknowledge(bucket, "S1", "This bucket receives the access logs; logging it into itself would loop.")
        return bucket

    def _add_table(self) -> dynamodb.Table:
        table = dynamodb.Table(
            self,
            "Table",
            partition_key=dynamodb.Attribute(name=PARTITION_KEY, type=dynamodb.AttributeType.STRING),
            sort_key=dynamodb.Attribute(name=SORT_KEY, type=dynamodb.AttributeType.STRING),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            time_to_live_attribute=TTL_ATTRIBUTE,
            encryption=dynamodb.TableEncryption.AWS_MANAGED,
            deletion_protection=self._is_prod,
            removal_policy=RemovalPolicy.RETAIN if self._is_prod else RemovalPolicy.DESTROY,
        )
        for index, pk, sk in GLOBAL_INDEXES:
            table.add_global_secondary_index(
                index_name=index,
                partition_key=dynamodb.Attribute(name=pk, type=dynamodb.AttributeType.STRING),
                sort_key=dynamodb.Attribute(name=sk, type=dynamodb.AttributeType.STRING),
                projection_type=dynamodb.ProjectionType.ALL,
            )
        return table

    def _add_bucket(self) -> s3.Bucket:
        return s3.Bucket(
            self,
            "Bucket",
            encryption=s3.BucketEncryption.S3_MANAGED,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            versioned=True,
            server_access_logs_bucket=self.access_logs,
            server_access_logs_prefix="data/",
            lifecycle_rules=[
                s3.LifecycleRule(id="expire-old-versions", noncurrent_version_expiration=NONCURRENT_EXPIRY),
                s3.LifecycleRule(
                    id="abort-incomplete-uploads", abort_incomplete_multipart_upload_after=Duration.days(1)
                ),
                s3.LifecycleRule(id="expire-exports", tag_filters=dict(EXPORT_EXPIRY_TAG), expiration=EXPORT_EXPIRY),
            ],
            removal_policy=RemovalPolicy.RETAIN,
        )

    def _add_provider_secret(self) -> secretsmanager.Secret:
        secret = secretsmanager.Secret(
            self,
            "ProviderCredentials",
            description=(
                "agentlab model provider credentials: a JSON object of AGENTLAB_* settings, e.g. "
                '{"AGENTLAB_OPENAI_API_KEY": "..."}'
            ),
            secret_object_value={},
        )
        acknowledge(
            secret,
            "SMG4",
            "Third-party provider keys are issued and rotated in the provider's console; there is no rotation API "
            "a Lambda could call, so rotation is manual.",
        )
        return secret

    def allow_cors(self, origin: str) -> None:
        """Browsers upload and download through presigned URLs, from the dashboard's origin only: the dashboard
        uploads with a presigned POST (a form whose policy pins the key and type and caps the size) and reads with
        presigned GETs; nothing presigns a PUT."""
        rule = BROWSER_CORS_RULE  # the same rule the local stack puts on its bucket
        self.bucket.add_cors_rule(
            allowed_methods=[s3.HttpMethods(method) for method in rule.allowed_methods],
            allowed_origins=[origin],
            allowed_headers=list(rule.allowed_headers),
            exposed_headers=list(rule.exposed_headers),
            max_age=rule.max_age_s,
        )
