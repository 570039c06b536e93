"""The static critic: judges the Python code an agent proposes before the sandbox runs it.

Three checks: an import/call policy over the AST (aliases followed), bandit in process, and ruff. A finding whose
severity the policy blocks stops the code; the model gets `Critique.as_feedback()` back instead of a result.
"""

from agentlab.critic.bandit_scan import load_bandit
from agentlab.critic.models import (
    DEFAULT_FORBIDDEN_ATTRIBUTES,
    DEFAULT_FORBIDDEN_CALLS,
    DEFAULT_FORBIDDEN_IMPORTS,
    CriticPolicy,
    Critique,
    Finding,
    Severity,
    Verdict,
)
from agentlab.critic.review import critique

__all__ = [
    "DEFAULT_FORBIDDEN_ATTRIBUTES",
    "DEFAULT_FORBIDDEN_CALLS",
    "DEFAULT_FORBIDDEN_IMPORTS",
    "CriticPolicy",
    "Critique",
    "Finding",
    "Severity",
    "Verdict",
    "critique",
    "load_bandit",
]
