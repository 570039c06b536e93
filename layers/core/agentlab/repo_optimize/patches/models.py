"""What a patch is, and the two ways one is refused: a template that does not fit, a patch that breaks the rules."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from pydantic import BaseModel

from agentlab.errors import AgentlabError


class Patch(BaseModel):
    """A change proposed for a repository, as a git-style unified diff with the reason it should be faster.

    `template` names the template that wrote it, None when a model wrote it: a template's patch is mechanical and
    reviewed once, a model's patch deserves more suspicion downstream.
    """

    template: str | None
    diff: str
    explanation: str
    files: list[str]


class PatchRejected(AgentlabError):
    """A patch that cannot be applied or breaks a hard constraint; the message says which and why."""

    status = 422
    code = "patch_rejected"


class TemplateNotApplicable(ValueError):
    """The code at the given place is not exactly the shape a template knows how to rewrite safely."""


class Language(StrEnum):
    """The languages templates rewrite; a file's extension decides which rewriter of a template runs."""

    PYTHON = "python"
    JAVASCRIPT = "javascript"
    TYPESCRIPT = "typescript"
    TSX = "tsx"


@dataclass(frozen=True)
class SourceSpan:
    """One file's text and the lines (1-based, inclusive) an opportunity points at.

    `root` is the checked-out repository when there is one: some checks (is a public constant used elsewhere?)
    need to see the other files, and refuse the rewrite when they cannot.
    """

    path: str
    text: str
    start_line: int
    end_line: int
    language: Language
    root: Path | None = None

    def overlaps(self, first_line: int, last_line: int) -> bool:
        """Whether a node spanning first_line..last_line touches the span's lines."""
        return first_line <= self.end_line and last_line >= self.start_line


@dataclass(frozen=True)
class Rewrite:
    """A rewriter's answer: the file's new text and a sentence on why it is faster and why it keeps behaviour."""

    text: str
    explanation: str


Rewriter = Callable[[SourceSpan], Rewrite]


@dataclass(frozen=True)
class Template:
    """A named rewrite with one rewriter per language it supports (JavaScript rewriters also take TypeScript)."""

    name: str
    summary: str
    python: Rewriter | None = None
    javascript: Rewriter | None = None

    def rewriter_for(self, language: Language) -> Rewriter | None:
        """The rewriter for a language, None when the template has nothing to say about it."""
        if language is Language.PYTHON:
            return self.python
        return self.javascript
