"""critique(): parse, run the policy walk, bandit and ruff over a cell, and decide. The cell is never executed."""

from __future__ import annotations

import ast
import time
from collections.abc import Iterable, Sequence

from agentlab.critic.bandit_scan import bandit_findings
from agentlab.critic.models import CriticPolicy, Critique, Finding, Verdict
from agentlab.critic.policy import check_policy
from agentlab.critic.ruff_check import RuffRun

# Cells run in a kernel, where top-level `await` is valid.
_PARSE_FLAGS = ast.PyCF_ONLY_AST | ast.PyCF_ALLOW_TOP_LEVEL_AWAIT


def critique(code: str, policy: CriticPolicy | None = None, *, prior_cells: Sequence[str] = ()) -> Critique:
    """Judge `code` before it runs. `prior_cells` are the session's earlier cells, so that an alias made there
    (`import os as o`) is still known here."""
    started = time.perf_counter()
    policy = policy or CriticPolicy()
    findings = _findings(code, policy, prior_cells)
    kept = _without_overlaps(_with_warn_only(_without_ignored(findings, policy.ignored_codes), policy.warn_only_codes))
    kept.sort(key=lambda finding: (finding.line or 0, finding.tool, finding.code))
    return Critique(
        verdict=_verdict(kept, policy),
        findings=kept,
        duration_ms=round((time.perf_counter() - started) * 1000),
    )


def _findings(code: str, policy: CriticPolicy, prior_cells: Sequence[str]) -> list[Finding]:
    if len(code) > policy.max_code_chars:
        message = f"the cell has {len(code)} characters; the limit is {policy.max_code_chars}"
        return [Finding(tool="policy", code="too-large", message=message, severity="error")]
    try:
        tree = _parse(code)
    except SyntaxError as error:
        return [
            Finding(
                tool="syntax",
                code=type(error).__name__,
                message=_syntax_message(error),
                line=error.lineno,
                severity="error",
            )
        ]
    except (ValueError, RecursionError, MemoryError) as error:
        return [
            Finding(tool="syntax", code="SyntaxError", message=f"the cell cannot be parsed: {error}", severity="error")
        ]
    ruff = RuffRun(code)
    try:
        checked = _policy_findings(tree, policy, prior_cells) + bandit_findings(code)
    except BaseException:
        ruff.cancel()
        raise
    return checked + ruff.findings()


def _policy_findings(tree: ast.Module, policy: CriticPolicy, prior_cells: Sequence[str]) -> list[Finding]:
    try:
        return check_policy(tree, policy, _parse_prior(prior_cells))
    except RecursionError:
        message = "the code is nested too deeply to check; split it into simpler statements"
        return [Finding(tool="policy", code="too-complex", message=message, severity="error")]


def _parse(code: str) -> ast.Module:
    tree = compile(code, "cell.py", "exec", flags=_PARSE_FLAGS, dont_inherit=True)
    assert isinstance(tree, ast.Module)
    return tree


def _parse_prior(prior_cells: Sequence[str]) -> list[ast.Module]:
    trees = []
    for cell in prior_cells:
        try:
            trees.append(_parse(cell))
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            continue
    return trees


def _syntax_message(error: SyntaxError) -> str:
    source = (error.text or "").strip()
    detail = f": {source}" if source else ""
    return f"{error.msg}{detail} (cells are plain Python: no `!shell` or `%magic` lines)"


def _without_ignored(findings: Iterable[Finding], ignored_codes: Sequence[str]) -> list[Finding]:
    ignored = set(ignored_codes)
    return [finding for finding in findings if finding.code not in ignored]


def _with_warn_only(findings: Iterable[Finding], warn_only_codes: Sequence[str]) -> list[Finding]:
    warn_only = set(warn_only_codes)
    return [
        finding.model_copy(update={"severity": "warning"})
        if finding.code in warn_only and finding.severity == "error"
        else finding
        for finding in findings
    ]


def _without_overlaps(findings: list[Finding]) -> list[Finding]:
    """Drop what says a second time what another tool already said about the same line.

    ruff's S rules mirror bandit's B rules one for one (S602 is B602), and a line the policy already blocks needs
    no further security warnings.
    """
    bandit_codes = {(finding.line, finding.code) for finding in findings if finding.tool == "bandit"}
    policy_lines = {finding.line for finding in findings if finding.tool == "policy" and finding.severity == "error"}

    def repeats(finding: Finding) -> bool:
        if finding.tool == "ruff" and finding.code.startswith("S"):
            return finding.line in policy_lines or (finding.line, "B" + finding.code[1:]) in bandit_codes
        return finding.tool == "bandit" and finding.severity != "error" and finding.line in policy_lines

    return [finding for finding in findings if not repeats(finding)]


def _verdict(findings: Sequence[Finding], policy: CriticPolicy) -> Verdict:
    blocking = set(policy.block_severities)
    if any(finding.severity in blocking for finding in findings):
        return "block"
    if any(finding.severity in {"warning", "error"} for finding in findings):
        return "warn"
    return "pass"
