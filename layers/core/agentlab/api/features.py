"""The API's feature route modules beyond the core (runs, agents, files, people): each registers its routes and
brings its own part of the document (api/docs.py)."""

from __future__ import annotations

from agentlab.api import repo_routes, schedule_routes, usage_routes, webhook_routes
from agentlab.api.docs import FeatureDocs

FEATURE_MODULES = (schedule_routes, webhook_routes, usage_routes, repo_routes)
FEATURE_DOCS: tuple[FeatureDocs, ...] = tuple(module.DOCS for module in FEATURE_MODULES)
