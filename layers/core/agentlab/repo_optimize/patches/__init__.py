"""Patches for repo_optimize: syntax-tree templates, model edits turned into diffs, and the constraints on both."""

from agentlab.repo_optimize.patches.constraints import check_patch
from agentlab.repo_optimize.patches.diffs import apply_diff, diff_from_edits, parse_search_replace, unified_diff
from agentlab.repo_optimize.patches.models import Patch, PatchRejected, Template, TemplateNotApplicable
from agentlab.repo_optimize.patches.registry import TEMPLATES, apply_template

__all__ = [
    "TEMPLATES",
    "Patch",
    "PatchRejected",
    "Template",
    "TemplateNotApplicable",
    "apply_diff",
    "apply_template",
    "check_patch",
    "diff_from_edits",
    "parse_search_replace",
    "unified_diff",
]
