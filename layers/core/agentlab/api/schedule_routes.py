"""The schedule routes of the API."""

from __future__ import annotations

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver

from agentlab.api.deps import ApiDeps
from agentlab.api.docs import FeatureDocs

DOCS = FeatureDocs()


def register(app: APIGatewayHttpResolver, deps: ApiDeps) -> None:
    """No routes yet."""
