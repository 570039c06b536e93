"""What a browser on the dashboard may do with the platform's bucket, as data: the CDK stack deploys this rule on the
bucket and the local stack puts it on its own, so a rule that breaks the dashboard breaks it locally too.

The dashboard uploads input files with a presigned POST and reads artifacts and full outputs with presigned GETs;
the bucket is on another origin than the dashboard, so each of those is a cross-origin request that S3 answers only
when a rule allows its origin and method. The origins are a deployment's (the dashboard's URL), not part of the rule.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

CorsMethod = Literal["GET", "PUT", "HEAD", "POST", "DELETE"]


@dataclass(frozen=True)
class CorsRule:
    """One S3 CORS rule without its origins."""

    allowed_methods: tuple[CorsMethod, ...]
    allowed_headers: tuple[str, ...]
    exposed_headers: tuple[str, ...]
    max_age_s: int

    def for_origins(self, origins: Sequence[str]) -> dict[str, Any]:
        """The rule for these origins, in the shape of the S3 API's CORSRule (PutBucketCors, GetBucketCors)."""
        return {
            "AllowedOrigins": list(origins),
            "AllowedMethods": list(self.allowed_methods),
            "AllowedHeaders": list(self.allowed_headers),
            "ExposeHeaders": list(self.exposed_headers),
            "MaxAgeSeconds": self.max_age_s,
        }


BROWSER_CORS_RULE = CorsRule(
    # POST: the presigned POST of an upload. GET and HEAD: artifacts and full outputs through presigned GETs.
    allowed_methods=("GET", "HEAD", "POST"),
    # These requests carry no custom header; a content type is the one a client may reasonably set.
    allowed_headers=("content-type",),
    exposed_headers=("ETag",),
    max_age_s=3_000,
)
