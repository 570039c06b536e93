"""What the static scan reports: one opportunity per place in the code where a known slow pattern was found.

An opportunity is a lead, not a verdict: the validation step measures whether fixing it pays. The id is derived from
the finding itself (rule, file, first line, code) so that the same finding keeps its id from one scan to the next and
a recorded attempt can be matched with it again.
"""

from __future__ import annotations

import hashlib
from typing import Literal

from pydantic import BaseModel

ScanLanguage = Literal["python", "javascript", "typescript"]
Level = Literal["low", "medium", "high"]
MAX_SNIPPET_LINES = 20
_ID_LENGTH = 12


class Opportunity(BaseModel):
    """A place where a rule of the scan recognised a slow pattern; lines are 1-based and inclusive."""

    id: str
    type: str
    language: ScanLanguage
    file: str
    start_line: int
    end_line: int
    rationale: str
    risk: Level
    expected_impact: Level
    snippet: str
    template: str | None


def opportunity_id(rule: str, file: str, start_line: int, snippet: str) -> str:
    """A stable id: the same finding in the same place gets the same id in every scan."""
    digest = hashlib.sha1("\x1f".join((rule, file, str(start_line), snippet)).encode(), usedforsecurity=False)
    return digest.hexdigest()[:_ID_LENGTH]


def snippet_of(lines: list[str], start_line: int, end_line: int) -> str:
    """The finding's lines, cut to the first `MAX_SNIPPET_LINES` so that a long loop does not flood a report."""
    last = min(end_line, start_line + MAX_SNIPPET_LINES - 1)
    return "\n".join(lines[start_line - 1 : last])


class Finding(BaseModel):
    """What a rule knows about a match; the scanner turns it into an `Opportunity` once it knows file and source."""

    type: str
    start_line: int
    end_line: int
    rationale: str
    risk: Level
    expected_impact: Level
    template: str | None


def to_opportunity(finding: Finding, *, language: ScanLanguage, file: str, lines: list[str]) -> Opportunity:
    """Attach location, snippet and id to a rule's finding."""
    snippet = snippet_of(lines, finding.start_line, finding.end_line)
    return Opportunity(
        id=opportunity_id(finding.type, file, finding.start_line, snippet),
        type=finding.type,
        language=language,
        file=file,
        start_line=finding.start_line,
        end_line=finding.end_line,
        rationale=finding.rationale,
        risk=finding.risk,
        expected_impact=finding.expected_impact,
        snippet=snippet,
        template=finding.template,
    )
