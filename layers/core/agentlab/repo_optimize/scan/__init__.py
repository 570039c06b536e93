"""The static scan for performance opportunities: Python via `ast`, JavaScript and TypeScript via tree-sitter."""

from agentlab.repo_optimize.scan.models import Opportunity
from agentlab.repo_optimize.scan.scanner import scan_file, scan_javascript, scan_python, scan_repository

__all__ = ["Opportunity", "scan_file", "scan_javascript", "scan_python", "scan_repository"]
