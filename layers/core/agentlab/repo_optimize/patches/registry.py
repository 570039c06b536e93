"""The named templates, and the one entry point that runs a template on a place in a repository."""

from __future__ import annotations

from pathlib import Path

from agentlab.repo_optimize.patches import templates_js, templates_python
from agentlab.repo_optimize.patches.diffs import path_escape_reason, unified_diff
from agentlab.repo_optimize.patches.models import Patch, SourceSpan, Template, TemplateNotApplicable
from agentlab.repo_optimize.patches.templates_js import language_for_path

TEMPLATES: dict[str, Template] = {
    template.name: template
    for template in (
        Template(
            name="list-to-set-membership",
            summary="Membership tests against list or array literals (or list constants) become set lookups.",
            python=templates_python.rewrite_list_to_set,
            javascript=templates_js.rewrite_includes_to_set,
        ),
        Template(
            name="hoist-regex-compile",
            summary="A regular expression built from a literal inside a loop is compiled once outside it.",
            python=templates_python.rewrite_hoist_regex_compile,
            javascript=templates_js.rewrite_hoist_regexp,
        ),
        Template(
            name="hoist-json-parse",
            summary="Parsing the same constant JSON inside a loop is done once before it.",
            python=templates_python.rewrite_hoist_json_loads,
            javascript=templates_js.rewrite_hoist_json_parse,
        ),
        Template(
            name="join-string-concat",
            summary="Building a string with += in a loop becomes list appends and one join.",
            python=templates_python.rewrite_join_string_concat,
        ),
        Template(
            name="gather-independent-awaits",
            summary="Sequential independent awaits in a loop run concurrently with asyncio.gather.",
            python=templates_python.rewrite_gather_awaits,
        ),
        Template(
            name="promise-all-independent-awaits",
            summary="Sequential independent awaits in a for...of loop run concurrently with Promise.all.",
            javascript=templates_js.rewrite_promise_all,
        ),
        Template(
            name="fuse-map-filter",
            summary="A map followed by a filter becomes one flatMap pass without an intermediate array.",
            javascript=templates_js.rewrite_fuse_map_filter,
        ),
        Template(
            name="hoist-len",
            summary="len() of a sequence the loop does not change is taken once before a while loop.",
            python=templates_python.rewrite_hoist_len,
        ),
        Template(
            name="hoist-invariant-call",
            summary="A pure call of loop-invariant arguments assigned in a loop body is computed once before it.",
            python=templates_python.rewrite_hoist_invariant_call,
        ),
        Template(
            name="memoize-pure-call",
            summary="A module-level pure function of hashable arguments is cached with functools.lru_cache.",
            python=templates_python.rewrite_memoize_pure_function,
        ),
        Template(
            name="async-fs-in-handler",
            summary="Synchronous file reads in an Express handler become awaited fs.promises reads.",
            javascript=templates_js.rewrite_async_fs_in_handler,
        ),
    )
}


def apply_template(name: str, root: Path, file: str, start_line: int, end_line: int) -> Patch:
    """Rewrite the code at file:start_line-end_line with a template and return the patch, without writing anything.

    Raises KeyError for an unknown template and TemplateNotApplicable when the file's language is not one the
    template rewrites or the code there is not exactly the shape it knows.
    """
    template = TEMPLATES.get(name)
    if template is None:
        raise KeyError(f"no template named {name!r}; known: {', '.join(sorted(TEMPLATES))}")
    escape = path_escape_reason(file)
    if escape:
        raise TemplateNotApplicable(escape)
    language = language_for_path(file)
    rewriter = template.rewriter_for(language) if language is not None else None
    if language is None or rewriter is None:
        raise TemplateNotApplicable(f"the template {name} does not rewrite files like {file}.")
    if start_line < 1 or end_line < start_line:
        raise TemplateNotApplicable(f"lines {start_line}-{end_line} are not a range of lines.")
    file_path = root / file
    try:
        text = file_path.read_bytes().decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise TemplateNotApplicable(f"{file} cannot be read as UTF-8 text: {exc}") from exc
    rewrite = rewriter(
        SourceSpan(path=file, text=text, start_line=start_line, end_line=end_line, language=language, root=root)
    )
    if rewrite.text == text:
        raise TemplateNotApplicable(f"the template {name} changed nothing in {file}.")
    return Patch(
        template=name, diff=unified_diff(file, text, rewrite.text), explanation=rewrite.explanation, files=[file]
    )
