"""The dashboard: frontend/dist in a private bucket behind CloudFront (origin access control), with a generated
config.json that tells the dashboard where the API and the user pool are."""

from __future__ import annotations

from pathlib import Path

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_cloudfront as cloudfront
from aws_cdk import aws_cloudfront_origins as origins
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_s3_deployment as s3deploy
from constructs import Construct

from agentlab_cdk.config import CONFIG_JSON, FrontendNotBuilt
from agentlab_cdk.nag import acknowledge

INDEX = "index.html"
# Both deployments share one aws-cdk-lib function only when their memory is the same.
DEPLOYMENT_MEMORY_MB = 512


def check_dist(dist: Path) -> None:
    if not (dist / INDEX).is_file():
        raise FrontendNotBuilt(
            f"the dashboard is not built ({dist / INDEX} is missing): run `cd frontend && npm ci && npm run build` "
            "(or `make synth`, which builds it) before synthesizing"
        )


class Hosting(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        dist: Path,
        access_logs: s3.IBucket,
        is_prod: bool,
    ) -> None:
        super().__init__(scope, construct_id)
        check_dist(dist)
        self._dist = dist
        self.bucket = s3.Bucket(
            self,
            "Bucket",
            encryption=s3.BucketEncryption.S3_MANAGED,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            server_access_logs_bucket=access_logs,
            server_access_logs_prefix="dashboard-bucket/",
            removal_policy=RemovalPolicy.RETAIN,
        )
        self.distribution = self._add_distribution(access_logs)

    @property
    def origin(self) -> str:
        """The dashboard's origin, as browsers send it (CORS)."""
        return f"https://{self.distribution.distribution_domain_name}"

    def _add_distribution(self, access_logs: s3.IBucket) -> cloudfront.Distribution:
        distribution = cloudfront.Distribution(
            self,
            "Distribution",
            comment="agentlab dashboard",
            default_root_object=INDEX,
            default_behavior=cloudfront.BehaviorOptions(
                origin=origins.S3BucketOrigin.with_origin_access_control(self.bucket),
                viewer_protocol_policy=cloudfront.ViewerProtocolPolicy.REDIRECT_TO_HTTPS,
                cache_policy=cloudfront.CachePolicy.CACHING_OPTIMIZED,
                response_headers_policy=self._add_headers_policy(),
                compress=True,
            ),
            # The dashboard routes in the browser: unknown paths get the app, which shows its own 404.
            error_responses=[
                cloudfront.ErrorResponse(
                    http_status=status,
                    response_http_status=200,
                    response_page_path=f"/{INDEX}",
                    ttl=Duration.seconds(0),
                )
                for status in (403, 404)
            ],
            http_version=cloudfront.HttpVersion.HTTP2_AND_3,
            price_class=cloudfront.PriceClass.PRICE_CLASS_100,
            enable_logging=True,
            log_bucket=access_logs,
            log_file_prefix="dashboard-cdn/",
        )
        acknowledge(
            distribution,
            "CFR1",
            "The dashboard serves static files to signed-in people wherever they are; the API enforces access.",
        )
        acknowledge(
            distribution,
            "CFR2",
            "A WAF web ACL costs money when idle; the distribution serves only static files, and the API has its "
            "own throttling and rate limits. Attach a web ACL per deployment when wanted.",
        )
        acknowledge(
            distribution,
            "CFR4",
            "The default *.cloudfront.net certificate decides the TLS policy; a custom domain with its own "
            "certificate (TLSv1.2_2021) is a per-deployment choice.",
        )
        return distribution

    def _add_headers_policy(self) -> cloudfront.ResponseHeadersPolicy:
        """The dashboard's security headers, with a CSP that allows scripts and styles from the dashboard only, API
        calls to API Gateway in this region, and uploads and artifact images to and from S3 in this region."""
        region = Stack.of(self).region
        # S3 by host pattern: naming the data bucket itself would make a cycle (its CORS rule names this
        # distribution's origin). Presigned URLs are virtual-hosted, in either the global or the regional form.
        bucket_hosts = f"https://*.s3.amazonaws.com https://*.s3.{region}.amazonaws.com"
        csp = (
            "default-src 'self'; script-src 'self'; style-src 'self'; font-src 'self'; object-src 'none'; "
            f"img-src 'self' data: blob: {bucket_hosts}; "
            f"connect-src 'self' https://*.execute-api.{region}.amazonaws.com {bucket_hosts}; "
            "base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
        )
        return cloudfront.ResponseHeadersPolicy(
            self,
            "Headers",
            comment="agentlab dashboard security headers",
            security_headers_behavior=cloudfront.ResponseSecurityHeadersBehavior(
                content_security_policy=cloudfront.ResponseHeadersContentSecurityPolicy(
                    content_security_policy=csp, override=True
                ),
                content_type_options=cloudfront.ResponseHeadersContentTypeOptions(override=True),
                frame_options=cloudfront.ResponseHeadersFrameOptions(
                    frame_option=cloudfront.HeadersFrameOption.DENY, override=True
                ),
                referrer_policy=cloudfront.ResponseHeadersReferrerPolicy(
                    referrer_policy=cloudfront.HeadersReferrerPolicy.NO_REFERRER, override=True
                ),
                strict_transport_security=cloudfront.ResponseHeadersStrictTransportSecurity(
                    access_control_max_age=Duration.days(730), include_subdomains=True, override=True
                ),
            ),
        )

    def deploy(self, config: dict[str, str]) -> None:
        """Upload the built dashboard and its config.json (deploy-time values), then invalidate the cache."""
        assets = s3deploy.BucketDeployment(
            self,
            "Assets",
            sources=[s3deploy.Source.asset(str(self._dist), exclude=[CONFIG_JSON])],
            destination_bucket=self.bucket,
            exclude=[CONFIG_JSON],
            prune=True,
            memory_limit=DEPLOYMENT_MEMORY_MB,
        )
        config_deployment = s3deploy.BucketDeployment(
            self,
            "Config",
            sources=[s3deploy.Source.json_data(CONFIG_JSON, config)],
            destination_bucket=self.bucket,
            prune=False,
            memory_limit=DEPLOYMENT_MEMORY_MB,
            cache_control=[s3deploy.CacheControl.no_cache()],
            distribution=self.distribution,
            distribution_paths=["/*"],
        )
        # The invalidation comes after both uploads.
        config_deployment.node.add_dependency(assets)
