"""bandit over a cell, in process. Its plugins take ~150 ms to load, so they load once, on first use."""

from __future__ import annotations

import io
import logging
import warnings
from functools import cache
from typing import Any

from agentlab.critic.models import Finding, Severity

# "./cell.py" gives bandit a module name without touching the file system (and without a warning per cell).
_CELL_PATH = "./cell.py"


@cache
def _test_set() -> Any:
    # bandit passes stevedore an argument it deprecated; that warning is bandit's to fix, not the caller's.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        from bandit.core import config, test_set

        logging.getLogger("bandit").setLevel(logging.ERROR)
        return test_set.BanditTestSet(config.BanditConfig())


def load_bandit() -> None:
    """Load bandit's plugins now (for example while a Lambda function initialises) rather than on first use."""
    _test_set()


def bandit_findings(code: str) -> list[Finding]:
    tests = _test_set()
    from bandit.core import meta_ast, metrics, node_visitor

    visitor = node_visitor.BanditNodeVisitor(
        _CELL_PATH,
        io.BytesIO(code.encode("utf-8")),
        meta_ast.BanditMetaAst(),
        tests,
        False,
        {},  # no `# nosec` lines: the code under review may not silence its reviewer
        metrics.Metrics(),
    )
    try:
        visitor.process(code)
    except SyntaxError:
        # Valid only as a notebook cell (top-level await); the policy walk has already covered it.
        return []
    except (RecursionError, MemoryError, ValueError) as error:
        # The policy walk, which decides what blocks, has checked the cell; bandit only adds warnings.
        return [
            Finding(
                tool="bandit", code="bandit-failed", message=f"bandit could not scan the cell: {error}", severity="info"
            )
        ]
    return [_to_finding(issue) for issue in visitor.tester.results]


def _to_finding(issue: Any) -> Finding:
    severity: Severity = "error" if issue.severity == "HIGH" and issue.confidence == "HIGH" else "warning"
    message = f"{issue.text} (severity {issue.severity.lower()}, confidence {issue.confidence.lower()})"
    return Finding(tool="bandit", code=issue.test_id, message=message, line=issue.lineno, severity=severity)
