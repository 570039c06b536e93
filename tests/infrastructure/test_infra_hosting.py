"""The Hosting construct: the dashboard behind CloudFront with origin access control, and its config.json."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from aws_cdk import App, Stack
from aws_cdk import aws_s3 as s3
from infra_helpers import Synthesized


def test_distribution_reads_a_private_bucket_through_origin_access_control(synth: Synthesized) -> None:
    distribution = synth.one("AWS::CloudFront::Distribution")["Properties"]["DistributionConfig"]
    oac = synth.one("AWS::CloudFront::OriginAccessControl")["Properties"]["OriginAccessControlConfig"]
    assert oac["OriginAccessControlOriginType"] == "s3"
    origin = distribution["Origins"][0]
    assert origin["OriginAccessControlId"]["Fn::GetAtt"][1] == "Id"
    assert origin["S3OriginConfig"] == {"OriginAccessIdentity": ""}
    assert distribution["DefaultRootObject"] == "index.html"
    assert distribution["DefaultCacheBehavior"]["ViewerProtocolPolicy"] == "redirect-to-https"
    assert distribution["Logging"]["Bucket"]["Fn::GetAtt"][0] == synth.logical_id(synth.stack.data.access_logs)
    bucket = synth.resources[synth.logical_id(synth.stack.hosting.bucket)]["Properties"]
    assert bucket["PublicAccessBlockConfiguration"]["RestrictPublicBuckets"] is True
    assert "WebsiteConfiguration" not in bucket


def test_the_dashboard_is_served_with_a_restrictive_content_security_policy(synth: Synthesized) -> None:
    distribution = synth.one("AWS::CloudFront::Distribution")["Properties"]["DistributionConfig"]
    policy_ref = distribution["DefaultCacheBehavior"]["ResponseHeadersPolicyId"]["Ref"]
    headers = synth.resources[policy_ref]["Properties"]["ResponseHeadersPolicyConfig"]["SecurityHeadersConfig"]
    csp = json.dumps(headers["ContentSecurityPolicy"]["ContentSecurityPolicy"])
    for directive in ("default-src 'self'", "script-src 'self'", "object-src 'none'", "frame-ancestors 'none'"):
        assert directive in csp
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp and "*;" not in csp
    assert "execute-api" in csp  # the API, for connect-src
    assert "https://*.s3." in csp  # uploads to, and artifact images from, the data bucket (presigned URLs)
    assert headers["FrameOptions"]["FrameOption"] == "DENY"
    assert headers["StrictTransportSecurity"]["AccessControlMaxAgeSec"] >= 31_536_000
    assert headers["ContentTypeOptions"]["Override"] is True


def test_config_json_tells_the_dashboard_where_the_api_and_user_pool_are(synth: Synthesized) -> None:
    stack = synth.stack
    deployment = next(
        d["Properties"]
        for d in synth.of_type("Custom::CDKBucketDeployment").values()
        if "SourceMarkers" in d["Properties"]
    )
    asset = synth.outdir / f"asset.{deployment['SourceObjectKeys'][0].removesuffix('.zip')}"
    # Deploy-time values stand in the file as markers (each replaced by a quoted JSON string at deployment).
    raw = (asset / "config.json").read_text()
    config = json.loads(re.sub(r"<<marker:0xbaba:\d+>>", lambda m: json.dumps(m.group(0)), raw))
    assert set(config) == {"apiUrl", "environment", "region", "userPoolId", "userPoolClientId"}
    assert config["environment"] == "aws"
    markers = {marker: value for entry in deployment["SourceMarkers"] for marker, value in entry.items()}

    def deploy_time_value(key: str) -> object:
        value = markers[config[key]]
        return value["Fn::Join"][1][1]

    assert deploy_time_value("apiUrl") == {"Fn::GetAtt": [synth.logical_id(stack.api.http_api), "ApiEndpoint"]}
    assert deploy_time_value("region") == {"Ref": "AWS::Region"}
    assert deploy_time_value("userPoolId") == {"Ref": synth.logical_id(stack.identity.user_pool)}
    assert deploy_time_value("userPoolClientId") == {"Ref": synth.logical_id(stack.identity.client)}
    assert deployment["DistributionPaths"] == ["/*"]


def test_synth_fails_with_a_clear_message_when_the_dashboard_is_not_built(tmp_path: Path) -> None:
    from agentlab_cdk.config import FrontendNotBuilt
    from agentlab_cdk.hosting import Hosting

    stack = Stack(App(), "HostingOnly")
    logs = s3.Bucket(stack, "Logs")
    with pytest.raises(FrontendNotBuilt, match=r"npm ci && npm run build"):
        Hosting(stack, "Hosting", dist=tmp_path / "dist", access_logs=logs, is_prod=False)


def test_synth_fails_with_a_clear_message_when_the_layer_is_not_built(tmp_path: Path) -> None:
    from agentlab_cdk.config import LayerNotBuilt
    from agentlab_cdk.functions import LambdaFunctions

    with pytest.raises(LayerNotBuilt, match=r"make layer"):
        LambdaFunctions(Stack(App(), "FunctionsOnly"), "Functions", layer_dir=tmp_path / "layer", is_prod=False)
