"""Python templates: rewrites found and made through libcst concrete syntax trees, which keep every comment and space.

Each rewriter looks for the exact node shape it knows inside the requested lines, proves what it needs for the
rewrite to keep behaviour (a name not changed in a loop, a function that reads nothing mutable, a value not used
after the loop), and otherwise raises TemplateNotApplicable saying which check failed. The analysis is deliberately
syntactic and conservative: a rewrite that is refused costs an opportunity, one that is wrong costs trust.
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Callable, Iterator, Sequence
from functools import partial
from pathlib import Path
from typing import TypeVar, cast

import libcst as cst
from libcst.metadata import (
    ExpressionContext,
    ExpressionContextProvider,
    MetadataWrapper,
    ParentNodeProvider,
    PositionProvider,
)

from agentlab.repo_optimize.patches.models import Rewrite, SourceSpan, TemplateNotApplicable

LOOP_TYPES = (cst.For, cst.While)
SCOPE_TYPES = (cst.FunctionDef, cst.Lambda, cst.ClassDef)
RE_FUNCTIONS = {"match": 1, "search": 1, "fullmatch": 1, "findall": 1, "finditer": 1, "split": 2, "sub": 3, "subn": 3}
# Builtins that compute a value from their arguments and touch nothing else; rebinding one disqualifies it.
PURE_BUILTINS = frozenset(
    {
        "abs", "all", "any", "bin", "bool", "bytes", "chr", "complex", "dict", "divmod", "enumerate", "filter",
        "float", "format", "frozenset", "hex", "int", "isinstance", "len", "list", "map", "max", "min", "oct",
        "ord", "pow", "range", "repr", "reversed", "round", "set", "sorted", "str", "sum", "tuple", "zip",
    }
)  # fmt: skip
PURE_MODULES = frozenset({"math"})
HASHABLE_TYPES = frozenset({"int", "float", "str", "bool", "bytes", "complex", "None"})
HASHABLE_GENERICS = frozenset({"tuple", "frozenset"})
NodeT = TypeVar("NodeT", bound=cst.CSTNode)
Replacement = Callable[[cst.CSTNode], cst.CSTNode | cst.FlattenSentinel[cst.CSTNode] | cst.RemovalSentinel]


class _Document:
    """A parsed module with its metadata and the edits a rewriter collects, applied in one transform."""

    def __init__(self, span: SourceSpan) -> None:
        self.span = span
        try:
            wrapper = MetadataWrapper(cst.parse_module(span.text))
        except cst.ParserSyntaxError as exc:
            raise TemplateNotApplicable(f"{span.path} does not parse as Python: {exc.message}") from exc
        self.module = wrapper.module
        self.positions = wrapper.resolve(PositionProvider)
        self.parents = wrapper.resolve(ParentNodeProvider)
        self.contexts = wrapper.resolve(ExpressionContextProvider)
        self.replacements: dict[cst.CSTNode, Replacement] = {}
        self.module_statements: list[cst.SimpleStatementLine] = []
        self.new_imports: list[str] = []

    def code(self, node: cst.CSTNode) -> str:
        return self.module.code_for_node(node)

    def line(self, node: cst.CSTNode) -> int:
        return int(self.positions[node].start.line)

    def in_span(self, node: cst.CSTNode) -> bool:
        position = self.positions[node]
        return self.span.overlaps(position.start.line, position.end.line)

    def nodes_in_span(self, node_type: type[NodeT]) -> Iterator[NodeT]:
        for node in _walk(self.module):
            if isinstance(node, node_type) and self.in_span(node):
                yield node

    def parent(self, node: cst.CSTNode) -> cst.CSTNode | None:
        return self.parents.get(node)

    def ancestors(self, node: cst.CSTNode) -> Iterator[cst.CSTNode]:
        parent = self.parent(node)
        while parent is not None:
            yield parent
            parent = self.parent(parent)

    def enclosing_loops(self, node: cst.CSTNode) -> list[cst.For | cst.While]:
        """The loops around node, innermost first, up to the function or class that holds it."""
        loops: list[cst.For | cst.While] = []
        for ancestor in self.ancestors(node):
            if isinstance(ancestor, SCOPE_TYPES):
                break
            if isinstance(ancestor, LOOP_TYPES):
                loops.append(ancestor)
        return loops

    def scope_of(self, node: cst.CSTNode) -> cst.CSTNode:
        """The function (or the module) whose locals node's names are."""
        for ancestor in self.ancestors(node):
            if isinstance(ancestor, cst.FunctionDef):
                return ancestor
        return self.module

    def enclosing_function_name(self, node: cst.CSTNode) -> str | None:
        scope = self.scope_of(node)
        return scope.name.value if isinstance(scope, cst.FunctionDef) else None

    def fresh_name(self, base: str) -> str:
        """A name the module does not use anywhere, so a hoisted binding can shadow nothing."""
        used = {node.value for node in _walk(self.module) if isinstance(node, cst.Name)}
        candidate, suffix = base, 2
        while candidate in used:
            candidate, suffix = f"{base}_{suffix}", suffix + 1
        return candidate

    def replace(self, node: cst.CSTNode, replacement: Replacement) -> None:
        if node in self.replacements:
            raise TemplateNotApplicable("two rewrites of the same code overlap.")
        self.replacements[node] = replacement

    def insert_before(self, statement: cst.BaseStatement, new_statement: cst.BaseStatement) -> None:
        """Put a statement right before another, taking over the comments and blank lines above it."""

        def with_statement_before(updated: cst.CSTNode) -> cst.FlattenSentinel[cst.CSTNode]:
            assert isinstance(updated, cst.SimpleStatementLine | cst.BaseCompoundStatement)
            leading = updated.leading_lines
            moved = new_statement.with_changes(leading_lines=leading)
            return cst.FlattenSentinel([moved, updated.with_changes(leading_lines=())])

        self.replace(statement, with_statement_before)

    def has_module_import(self, module_name: str) -> bool:
        """Whether the module does a plain top-level `import module_name` (no alias), the name templates write."""
        for statement in self.module.body:
            if not isinstance(statement, cst.SimpleStatementLine):
                continue
            for small in statement.body:
                if isinstance(small, cst.Import) and any(
                    alias.asname is None and self.code(alias.name) == module_name for alias in small.names
                ):
                    return True
        return False

    def require_import(self, module_name: str) -> None:
        """Import a standard-library module at the top when the module does not already."""
        if not self.has_module_import(module_name) and module_name not in self.new_imports:
            if module_name in _bound_names(self.module):
                raise TemplateNotApplicable(f"the name {module_name!r} is already bound to something else.")
            self.new_imports.append(module_name)

    def result(self, explanation: str) -> Rewrite:
        module = self.module.visit(_Replacer(self.replacements))
        assert isinstance(module, cst.Module)
        body: list[cst.SimpleStatementLine | cst.BaseCompoundStatement] = list(module.body)
        imports_end = _leading_imports_end(body)
        has_imports = imports_end > _docstring_end(body)
        added: list[cst.SimpleStatementLine | cst.BaseCompoundStatement] = []
        for name in self.new_imports:
            statement: cst.SimpleStatementLine | cst.BaseCompoundStatement = cst.parse_statement(f"import {name}\n")
            if not added and not has_imports and imports_end > 0:
                statement = statement.with_changes(leading_lines=[cst.EmptyLine()])
            added.append(statement)
        for statement in self.module_statements:
            added.append(statement.with_changes(leading_lines=[cst.EmptyLine()] if added or imports_end else []))
        following = body[imports_end] if imports_end < len(body) else None
        if added and following is not None and not following.leading_lines:
            blank_lines = 2 if isinstance(following, cst.FunctionDef | cst.ClassDef) else 1
            body[imports_end] = following.with_changes(leading_lines=[cst.EmptyLine()] * blank_lines)
        body[imports_end:imports_end] = added
        return Rewrite(text=module.with_changes(body=body).code, explanation=explanation)


class _Replacer(cst.CSTTransformer):
    """Applies replacements keyed by original node, to the node as already updated by its children's edits."""

    def __init__(self, replacements: dict[cst.CSTNode, Replacement]) -> None:
        super().__init__()
        self.replacements = replacements

    def on_leave(
        self, original_node: NodeT, updated_node: NodeT
    ) -> NodeT | cst.RemovalSentinel | cst.FlattenSentinel[NodeT]:
        replacement = self.replacements.get(original_node)
        if replacement is None:
            return updated_node
        # A replacement may change a node's type (a List becomes a Set); libcst checks the result fits its parent.
        return cast("NodeT | cst.RemovalSentinel | cst.FlattenSentinel[NodeT]", replacement(updated_node))


def rewrite_list_to_set(span: SourceSpan) -> Rewrite:
    """`x in [literals]` in a loop → `x in {literals}`; a list constant only tested for membership → a set."""
    document = _Document(span)
    reasons: list[str] = []
    for comparison in document.nodes_in_span(cst.Comparison):
        for target in comparison.comparisons:
            if not isinstance(target.operator, cst.In | cst.NotIn) or not isinstance(target.comparator, cst.List):
                continue
            literal_list = target.comparator
            if not _is_literal_list(literal_list):
                reasons.append(f"line {document.line(comparison)}: the list holds something other than literals.")
                continue
            if not document.enclosing_loops(comparison):
                reasons.append(f"line {document.line(comparison)}: the membership test is not inside a loop.")
                continue
            document.replace(literal_list, _list_to_set)
            return document.result(
                "Testing membership in a list literal scans it element by element on every iteration; a set literal "
                "of constants is built once by the compiler and answers in constant time, with the same equality."
            )
    for assign in [*_lists_tested_in_span(document), *document.nodes_in_span(cst.Assign)]:
        name = _single_name_target(assign)
        if name is None or not isinstance(assign.value, cst.List):
            continue
        problem = _membership_only_problem(document, assign, name)
        if problem:
            reasons.append(f"line {document.line(assign)}: {problem}")
            continue
        module_level = document.scope_of(assign) is document.module
        document.replace(assign.value, _list_to_frozenset if module_level else _list_to_set)
        kind = "frozenset" if module_level else "set"
        return document.result(
            f"`{name}` is only ever used to test membership, which scans a list element by element; as a {kind} "
            "each test takes constant time, with the same equality."
        )
    raise _not_applicable(span, "a membership test against a list of literals", reasons)


def rewrite_hoist_regex_compile(span: SourceSpan) -> Rewrite:
    """`re.match(r"literal", s)` in a loop → a pattern compiled once at module level and `PATTERN.match(s)`;
    `name = re.compile(r"literal")` in a loop's body → the same statement once before the loop."""
    document = _Document(span)
    reasons: list[str] = []
    hoisted = _hoist_compile_statement(document, reasons)
    if hoisted is not None:
        return hoisted
    for call in document.nodes_in_span(cst.Call):
        function = call.func
        if not (isinstance(function, cst.Attribute) and isinstance(function.value, cst.Name)):
            continue
        if function.value.value != "re" or function.attr.value not in RE_FUNCTIONS:
            continue
        line = document.line(call)
        if not document.has_module_import("re") or "re" in _assigned_names(document.module):
            reasons.append(f"line {line}: `re` is not the standard module imported at the top.")
            continue
        problem = _regex_call_problem(document, call, RE_FUNCTIONS[function.attr.value])
        if problem:
            reasons.append(f"line {line}: {problem}")
            continue
        if not document.enclosing_loops(call):
            reasons.append(f"line {line}: the call is not inside a loop.")
            continue
        owner = document.enclosing_function_name(call)
        name = document.fresh_name(f"_{owner.upper()}_PATTERN" if owner else "_PATTERN")
        pattern_args = [call.args[0].with_changes(comma=cst.MaybeSentinel.DEFAULT)]
        flags = [arg for arg in call.args if arg.keyword is not None and arg.keyword.value == "flags"]
        if flags:
            pattern_args.append(cst.Arg(value=flags[0].value))
        compiled = cst.Call(func=cst.parse_expression("re.compile"), args=_joined_args(pattern_args))
        document.module_statements.append(
            cst.SimpleStatementLine(
                body=[cst.Assign(targets=[cst.AssignTarget(target=cst.Name(name))], value=compiled)]
            )
        )
        method = function.attr.value

        def use_compiled(updated: cst.CSTNode, name: str = name, method: str = method) -> cst.CSTNode:
            assert isinstance(updated, cst.Call)
            rest = [arg for arg in updated.args[1:] if arg.keyword is None or arg.keyword.value != "flags"]
            return updated.with_changes(
                func=cst.Attribute(value=cst.Name(name), attr=cst.Name(method)), args=_joined_args(rest)
            )

        document.replace(call, use_compiled)
        return document.result(
            f"`re.{method}` looked the pattern up in re's cache on every iteration (and recompiles once the cache of "
            f"512 patterns overflows); `{name}` is compiled once at import and used directly."
        )
    raise _not_applicable(span, "an `re` call with a literal pattern inside a loop", reasons)


def _hoist_compile_statement(document: _Document, reasons: list[str]) -> Rewrite | None:
    """Move the first `name = re.compile(literal[, flags])` of the lines out of the loop whose body holds it.

    The statement is moved as written, before the innermost loop: the pattern is a literal, so the compiled object
    is the same on every iteration, and `_hoistable_target_problem` proves no code sees the name bound earlier.
    """
    for statement in document.nodes_in_span(cst.SimpleStatementLine):
        if len(statement.body) != 1 or not isinstance(statement.body[0], cst.Assign):
            continue
        assign = statement.body[0]
        name = _single_name_target(assign)
        call = assign.value
        if name is None or not isinstance(call, cst.Call) or document.code(call.func) != "re.compile":
            continue
        line = document.line(statement)
        if not document.has_module_import("re") or "re" in _assigned_names(document.module):
            reasons.append(f"line {line}: `re` is not the standard module imported at the top.")
            continue
        loop = _loop_whose_body_holds(document, statement)
        if loop is None:
            reasons.append(f"line {line}: the compile is not directly in the body of a loop that does more.")
            continue
        problem = _compile_call_problem(document, call) or _hoistable_target_problem(document, statement, loop, name)
        if problem:
            reasons.append(f"line {line}: {problem}")
            continue
        document.replace(statement, _removed)
        document.insert_before(loop, statement)
        return document.result(
            f"`{name}` was compiled from the same literal pattern on every iteration (a lookup in re's cache at best, "
            "a full compile once the cache of 512 patterns overflows); it is compiled once before the loop."
        )
    return None


def _compile_call_problem(document: _Document, call: cst.Call) -> str | None:
    """Why `re.compile(...)` cannot be done ahead: a pattern that is not a literal, flags that are not constants."""
    if len(call.args) > 2 or any(arg.star for arg in call.args):
        return "re.compile takes more than a pattern and flags here."
    # Flags passed positionally are checked as the keyword they stand for, so one check covers both spellings.
    as_keywords = [
        arg.with_changes(keyword=cst.Name("flags"), equal=cst.AssignEqual())
        if index == 1 and arg.keyword is None
        else arg
        for index, arg in enumerate(call.args)
    ]
    return _regex_call_problem(document, call.with_changes(args=as_keywords), 0)


def rewrite_hoist_json_loads(span: SourceSpan) -> Rewrite:
    """`cfg = json.loads(CONSTANT)` in a loop whose body only reads scalars of it → parsed once before the loop."""
    document = _Document(span)
    reasons: list[str] = []
    constants = _module_string_constants(document)
    for statement in document.nodes_in_span(cst.SimpleStatementLine):
        if len(statement.body) != 1 or not isinstance(statement.body[0], cst.Assign):
            continue
        assign = statement.body[0]
        name = _single_name_target(assign)
        call = assign.value
        if name is None or not isinstance(call, cst.Call) or document.code(call.func) != "json.loads":
            continue
        line = document.line(statement)
        if not document.has_module_import("json"):
            reasons.append(f"line {line}: `json` is not the standard module imported at the top.")
            continue
        parsed = _constant_json(call, constants)
        if parsed is None:
            reasons.append(f"line {line}: json.loads's argument is not a string constant holding valid JSON.")
            continue
        loop = _loop_whose_body_holds(document, statement)
        if loop is None:
            reasons.append(f"line {line}: the statement is not directly in a loop's body.")
            continue
        problem = _json_use_problem(document, name, assign, loop, parsed)
        if problem:
            reasons.append(f"line {line}: {problem}")
            continue
        document.replace(statement, _removed)
        document.insert_before(loop, statement)
        return document.result(
            f"`{name}` was parsed from the same constant JSON on every iteration; it is parsed once before the loop. "
            "The loop only reads scalar values from it, so sharing one object changes nothing."
        )
    raise _not_applicable(span, "a `name = json.loads(CONSTANT)` inside a loop", reasons)


def rewrite_join_string_concat(span: SourceSpan) -> Rewrite:
    """`s = ""` then `s += expr` in a loop → parts appended to a list and `s = "".join(parts)` after the loop."""
    document = _Document(span)
    reasons: list[str] = []
    for loop in document.nodes_in_span(cst.For):
        line = document.line(loop)
        initializer = _previous_statement(document, loop)
        name = _empty_string_initializer(initializer)
        if initializer is None or name is None:
            reasons.append(f'line {line}: the statement before the loop is not `name = ""`.')
            continue
        scope = document.scope_of(loop)
        if not isinstance(scope, cst.FunctionDef):
            reasons.append(f"line {line}: the loop is at module level, where other code may read `{name}` midway.")
            continue
        appends = [
            node
            for node in _walk(loop)
            if isinstance(node, cst.AugAssign)
            and isinstance(node.operator, cst.AddAssign)
            and isinstance(node.target, cst.Name)
            and node.target.value == name
        ]
        other_uses = [
            node
            for node in _walk(loop)
            if isinstance(node, cst.Name) and node.value == name and not any(node is a.target for a in appends)
        ]
        if not appends or other_uses:
            reasons.append(f"line {line}: the loop reads `{name}` or changes it other than by `{name} += ...`.")
            continue
        if any(document.scope_of(append) is not scope for append in appends) or _used_in_nested_scope(scope, name):
            reasons.append(f"line {line}: a nested function uses `{name}`.")
            continue
        statements = [document.parent(append) for append in appends]
        if any(not isinstance(owner, cst.SimpleStatementLine) or len(owner.body) != 1 for owner in statements):
            reasons.append(f"line {line}: a `{name} += ...` shares its line with other statements.")
            continue
        parts = document.fresh_name(f"{name}_parts")
        literal = document.code(initializer.body[0].value) if isinstance(initializer.body[0], cst.Assign) else '""'
        document.replace(initializer, partial(_replace_small, code=f"{parts} = []"))
        for append in appends:
            document.replace(append, partial(_append_instead, parts=parts))

        def join_after(
            updated: cst.CSTNode, name: str = name, parts: str = parts, literal: str = literal
        ) -> cst.FlattenSentinel[cst.CSTNode]:
            joined = cst.parse_statement(f"{name} = {literal}.join({parts})\n")
            return cst.FlattenSentinel([updated, joined])

        document.replace(loop, join_after)
        return document.result(
            f"`{name} += ...` copies the whole string on every iteration where CPython cannot extend it in place, "
            f"which is quadratic; the parts are collected in `{parts}` and joined once after the loop."
        )
    raise _not_applicable(span, 'a `s = ""` followed by a loop doing `s += ...`', reasons)


def rewrite_gather_awaits(span: SourceSpan) -> Rewrite:
    """`for x in xs: r.append(await f(x))` → `r.extend(await asyncio.gather(*(f(x) for x in xs)))`."""
    document = _Document(span)
    reasons: list[str] = []
    for loop in document.nodes_in_span(cst.For):
        line = document.line(loop)
        shape = _for_append_await(document, loop)
        if isinstance(shape, str):
            reasons.append(f"line {line}: {shape}")
            continue
        variable, output, awaited = shape
        scope = document.scope_of(loop)
        if not (isinstance(scope, cst.FunctionDef) and scope.asynchronous is not None):
            reasons.append(f"line {line}: the loop is not inside an async function.")
            continue
        if _referenced_outside(scope, loop, variable):
            reasons.append(f"line {line}: `{variable}` is used after the loop, where the loop left it bound.")
            continue
        document.require_import("asyncio")
        iterable = document.code(loop.iter)
        statement = cst.parse_statement(
            f"{output}.extend(await asyncio.gather(*({document.code(awaited)} for {variable} in {iterable})))\n"
        )
        document.replace(loop, partial(_keep_leading_lines, statement=statement))
        return document.result(
            f"Each `await` waited for the previous call before starting the next; asyncio.gather runs the calls "
            f"concurrently and returns their results in order, which extend `{output}` as before. The calls must not "
            "depend on each other."
        )
    raise _not_applicable(span, "a `for x in xs: r.append(await f(x))` loop", reasons)


def rewrite_hoist_len(span: SourceSpan) -> Rewrite:
    """`while i < len(xs):` with xs unchanged in the loop → `xs_length = len(xs)` before it."""
    document = _Document(span)
    reasons: list[str] = []
    for loop in document.nodes_in_span(cst.While):
        line = document.line(loop)
        calls = [node for node in _walk(loop.test) if _is_len_of_name(node)]
        if not isinstance(loop.test, cst.Comparison) or not calls:
            reasons.append(f"line {line}: the loop's condition does not compare with `len(name)`.")
            continue
        if "len" in _assigned_names(document.module):
            reasons.append(f"line {line}: `len` is rebound in this module.")
            continue
        call = calls[0]
        assert isinstance(call, cst.Call) and isinstance(call.args[0].value, cst.Name)
        sequence = call.args[0].value.value
        problem = _may_change_problem(document, loop, sequence)
        if problem:
            reasons.append(f"line {line}: {problem}")
            continue
        length = document.fresh_name(f"{sequence}_length")
        document.insert_before(loop, cst.parse_statement(f"{length} = len({sequence})\n"))
        document.replace(call, partial(_name_instead, name=length))
        return document.result(
            f"`len({sequence})` was called again before every iteration although `{sequence}` does not change in the "
            f"loop; its length is taken once into `{length}`."
        )
    raise _not_applicable(span, "a `while ... len(name):` loop", reasons)


def rewrite_hoist_invariant_call(span: SourceSpan) -> Rewrite:
    """`name = pure_call(invariants)` in a loop body → computed once before the loop."""
    document = _Document(span)
    reasons: list[str] = []
    pure_functions = _pure_module_functions(document)
    for statement in document.nodes_in_span(cst.SimpleStatementLine):
        if len(statement.body) != 1 or not isinstance(statement.body[0], cst.Assign):
            continue
        assign = statement.body[0]
        name = _single_name_target(assign)
        call = assign.value
        if name is None or not isinstance(call, cst.Call):
            continue
        loop = _loop_whose_body_holds(document, statement)
        if loop is None:
            continue
        line = document.line(statement)
        problem = _invariant_call_problem(document, call, loop, pure_functions) or _hoistable_target_problem(
            document, statement, loop, name
        )
        if problem:
            reasons.append(f"line {line}: {problem}")
            continue
        document.replace(statement, _removed)
        document.insert_before(loop, statement)
        return document.result(
            f"`{document.code(call)}` computed the same value on every iteration: the function is pure and its "
            f"arguments do not change in the loop, so `{name}` is computed once before it."
        )
    raise _not_applicable(span, "a `name = pure_call(...)` of loop-invariant arguments in a loop body", reasons)


def rewrite_memoize_pure_function(span: SourceSpan) -> Rewrite:
    """A module-level pure function of hashable arguments → `@functools.lru_cache(maxsize=None)`.

    The lines may hold a call of the function (what the scan reports: the call repeated in a loop) or its
    definition. A call names the function to cache, the one being called; the function around the call is the
    caller, and caching it would be a different, usually wrong, change.
    """
    document = _Document(span)
    reasons: list[str] = []
    pure_functions = _pure_module_functions(document)
    for function in _memoize_candidates(document):
        name = function.name.value
        if name not in pure_functions:
            reasons.append(f"{name}: {_purity_problem(document, function, set()) or 'not a pure function'}")
            continue
        problem = _memoizable_problem(document, function)
        if problem:
            reasons.append(f"{name}: {problem}")
            continue
        document.require_import("functools")
        decorator = cst.Decorator(decorator=cst.parse_expression("functools.lru_cache(maxsize=None)"))
        document.replace(
            function,
            partial(_with_decorator, decorator=decorator),
        )
        return document.result(
            f"`{name}` is pure (it reads only its hashable arguments, constants and other pure functions), so its "
            "results are cached by argument with functools.lru_cache and repeated calls are answered from the cache."
        )
    raise _not_applicable(span, "a module-level pure function of hashable arguments", reasons)


def _memoize_candidates(document: _Document) -> list[cst.FunctionDef]:
    """The module-level functions called by name in the lines, then those whose `def` line is in them, each once."""
    functions: dict[str, cst.FunctionDef] = {}
    for statement in document.module.body:
        if isinstance(statement, cst.FunctionDef):
            functions.setdefault(statement.name.value, statement)
    candidates: list[cst.FunctionDef] = []
    for call in document.nodes_in_span(cst.Call):
        callee = functions.get(call.func.value) if isinstance(call.func, cst.Name) else None
        if callee is not None and callee not in candidates and _calls_module_function(document, call):
            candidates.append(callee)
    for function in functions.values():
        header_line = document.positions[function.name].start.line
        if _span_holds_line(document.span, header_line) and function not in candidates:
            candidates.append(function)
    return candidates


def _span_holds_line(span: SourceSpan, line: int) -> bool:
    """Whether a single line is one of the span's lines."""
    return span.start_line <= line <= span.end_line


def _calls_module_function(document: _Document, call: cst.Call) -> bool:
    """Whether a call's name means the module-level function, not a local or parameter of the same name."""
    assert isinstance(call.func, cst.Name)
    scope = document.scope_of(call)
    if scope is document.module or not isinstance(scope, cst.FunctionDef):
        return True
    local_names = _assigned_names(scope.body) | {param.name.value for param in _all_params(scope.params)}
    return call.func.value not in local_names


def _walk(node: cst.CSTNode) -> Iterator[cst.CSTNode]:
    """node and every node under it, in source order."""
    stack: list[cst.CSTNode] = [node]
    while stack:
        current = stack.pop()
        yield current
        stack.extend(reversed(current.children))


def _not_applicable(span: SourceSpan, shape: str, reasons: list[str]) -> TemplateNotApplicable:
    where = f"{span.path} lines {span.start_line}-{span.end_line}"
    if reasons:
        return TemplateNotApplicable(f"{where}: found {shape}, but " + "; ".join(reasons))
    return TemplateNotApplicable(f"{where} hold no {shape}.")


def _is_literal(node: cst.BaseExpression) -> bool:
    if isinstance(node, cst.SimpleString | cst.Integer | cst.Float | cst.Imaginary):
        return True
    if isinstance(node, cst.Name):
        return node.value in ("True", "False", "None")
    if isinstance(node, cst.UnaryOperation) and isinstance(node.operator, cst.Minus):
        return isinstance(node.expression, cst.Integer | cst.Float)
    if isinstance(node, cst.Tuple):
        return all(isinstance(element, cst.Element) and _is_literal(element.value) for element in node.elements)
    return False


def _is_literal_list(node: cst.List) -> bool:
    return bool(node.elements) and all(
        isinstance(element, cst.Element) and _is_literal(element.value) for element in node.elements
    )


def _list_to_set(updated: cst.CSTNode) -> cst.CSTNode:
    assert isinstance(updated, cst.List)
    return cst.Set(
        elements=updated.elements,
        lbrace=cst.LeftCurlyBrace(whitespace_after=updated.lbracket.whitespace_after),
        rbrace=cst.RightCurlyBrace(whitespace_before=updated.rbracket.whitespace_before),
        lpar=updated.lpar,
        rpar=updated.rpar,
    )


def _list_to_frozenset(updated: cst.CSTNode) -> cst.CSTNode:
    literal = _list_to_set(updated)
    assert isinstance(literal, cst.Set)
    return cst.Call(func=cst.Name("frozenset"), args=[cst.Arg(value=literal.with_changes(lpar=(), rpar=()))])


def _single_name_target(assign: cst.Assign) -> str | None:
    if len(assign.targets) == 1 and isinstance(assign.targets[0].target, cst.Name):
        return assign.targets[0].target.value
    return None


def _bound_names(node: cst.CSTNode) -> set[str]:
    """Every name bound anywhere under node, imports included."""
    names = _assigned_names(node)
    for child in _walk(node):
        if isinstance(child, cst.Import | cst.ImportFrom) and not isinstance(child.names, cst.ImportStar):
            for alias in child.names:
                bound = alias.asname.name if alias.asname is not None else alias.name
                if isinstance(bound, cst.Name):
                    names.add(bound.value)
                elif isinstance(bound, cst.Attribute):
                    names.add(_root_name(bound) or "")
    return names


def _assigned_names(node: cst.CSTNode) -> set[str]:
    """Names bound under node by assignment, loops, with, walrus, del, def, class, global and nonlocal."""
    names: set[str] = set()
    targets: list[cst.CSTNode] = []
    for child in _walk(node):
        if isinstance(child, cst.AssignTarget | cst.AugAssign | cst.AnnAssign | cst.For | cst.CompFor):
            targets.append(child.target)
        elif isinstance(child, cst.AsName):
            targets.append(child.name)
        elif isinstance(child, cst.NamedExpr | cst.Del):
            targets.append(child.target)
        elif isinstance(child, cst.FunctionDef | cst.ClassDef):
            names.add(child.name.value)
        elif isinstance(child, cst.Global | cst.Nonlocal):
            names.update(item.name.value for item in child.names)
    for target in targets:
        if isinstance(target, cst.Name):
            names.add(target.value)
        elif isinstance(target, cst.Tuple | cst.List):
            for element in target.elements:
                names |= _assigned_names_of_target(element.value)
        elif isinstance(target, cst.StarredElement):
            names |= _assigned_names_of_target(target.value)
    return names


def _assigned_names_of_target(target: cst.BaseExpression) -> set[str]:
    if isinstance(target, cst.Name):
        return {target.value}
    if isinstance(target, cst.Tuple | cst.List):
        return {name for element in target.elements for name in _assigned_names_of_target(element.value)}
    if isinstance(target, cst.StarredElement):
        return _assigned_names_of_target(target.value)
    return set()


def _root_name(node: cst.BaseExpression) -> str | None:
    while isinstance(node, cst.Attribute):
        node = node.value
    return node.value if isinstance(node, cst.Name) else None


def _name_references(document: _Document, scope: cst.CSTNode, name: str) -> list[cst.Name]:
    """The Name nodes under scope that refer to a variable called name (attributes and keywords left out)."""
    references: list[cst.Name] = []
    for node in _walk(scope):
        if not isinstance(node, cst.Name) or node.value != name:
            continue
        parent = document.parent(node)
        if isinstance(parent, cst.Attribute) and parent.attr is node:
            continue
        if isinstance(parent, cst.Arg) and parent.keyword is node:
            continue
        references.append(node)
    return references


def _lists_tested_in_span(document: _Document) -> list[cst.Assign]:
    """The `NAME = [...]` bindings behind `x in NAME` tests in the lines: the scan points at the test, in the loop.

    The name is looked up where Python would find it: the enclosing function when it binds the name, else the module.
    """
    found: list[cst.Assign] = []
    for comparison in document.nodes_in_span(cst.Comparison):
        for target in comparison.comparisons:
            if not isinstance(target.operator, cst.In | cst.NotIn) or not isinstance(target.comparator, cst.Name):
                continue
            name = target.comparator.value
            scope = document.scope_of(comparison)
            if isinstance(scope, cst.FunctionDef) and name not in _assigned_names(scope.body):
                scope = document.module
            for assign in _walk(scope):
                if (
                    isinstance(assign, cst.Assign)
                    and _single_name_target(assign) == name
                    and isinstance(assign.value, cst.List)
                    and document.scope_of(assign) is scope
                    and assign not in found
                ):
                    found.append(assign)
    return found


def _membership_only_problem(document: _Document, assign: cst.Assign, name: str) -> str | None:
    """Why a list constant cannot become a set: other uses, other bindings, or a public name others may import."""
    assert isinstance(assign.value, cst.List)
    if not _is_literal_list(assign.value):
        return f"`{name}` holds something other than literals."
    scope = document.scope_of(assign)
    target = assign.targets[0].target
    uses = [node for node in _name_references(document, scope, name) if node is not target]
    if not uses:
        return f"`{name}` is never used here."
    for use in uses:
        parent = document.parent(use)
        if not (isinstance(parent, cst.ComparisonTarget) and isinstance(parent.operator, cst.In | cst.NotIn)):
            return f"`{name}` is used other than as the right side of `in` (line {document.line(use)})."
        if parent.comparator is not use:
            return f"`{name}` is tested for being in something else (line {document.line(use)})."
    bindings = [node for node in _walk(scope) if isinstance(node, cst.Global | cst.Nonlocal)]
    if any(item.name.value == name for binding in bindings for item in binding.names):
        return f"`{name}` is declared global or nonlocal."
    if scope is document.module and not name.startswith("_"):
        exported = _imported_elsewhere(document.span, name)
        if exported:
            return exported
    return None


def _imported_elsewhere(span: SourceSpan, name: str) -> str | None:
    """Why a public module constant may be used as a list by other modules, None when the repository shows none."""
    if span.root is None:
        return f"`{name}` is public and no repository was given to check that other modules use it only with `in`."
    for file_path in _python_files(span.root):
        relative = file_path.relative_to(span.root).as_posix()
        if relative == span.path:
            continue
        try:
            tree = ast.parse(file_path.read_bytes())
        except (SyntaxError, ValueError):
            continue
        for node in ast.walk(tree):
            imported = isinstance(node, ast.ImportFrom) and any(alias.name == name for alias in node.names)
            if imported or (isinstance(node, ast.Attribute) and node.attr == name):
                return f"`{name}` is used by {relative}, which may rely on it being a list."
    return None


def _python_files(root: Path) -> Iterator[Path]:
    skipped = {".venv", "venv", "node_modules", ".git", "__pycache__"}
    for file_path in sorted(root.rglob("*.py")):
        if not skipped & set(file_path.relative_to(root).parts):
            yield file_path


def _regex_call_problem(document: _Document, call: cst.Call, string_arguments: int) -> str | None:
    """Why an re call's pattern cannot be compiled ahead: not a literal, not valid, or flags that are not constant."""
    if not call.args or call.args[0].keyword is not None or call.args[0].star:
        return "the pattern is not the first positional argument."
    pattern = call.args[0].value
    if not isinstance(pattern, cst.SimpleString):
        return "the pattern is not a plain string literal."
    positional = [arg for arg in call.args if arg.keyword is None]
    if len(positional) > 1 + string_arguments or any(arg.star for arg in call.args):
        return "flags or counts are passed positionally, which the rewrite does not reorder."
    flags: int = 0
    for arg in call.args:
        if arg.keyword is None:
            continue
        if arg.keyword.value != "flags":
            continue
        value = _constant_regex_flags(arg.value)
        if value is None:
            return "the flags are not a combination of `re.` constants."
        flags = value
    try:
        re.compile(ast.literal_eval(pattern.value), flags)
    except (re.error, ValueError, SyntaxError) as exc:
        return f"the pattern does not compile ({exc}), so compiling it at import would fail earlier."
    return None


def _constant_regex_flags(node: cst.BaseExpression) -> int | None:
    if isinstance(node, cst.Attribute) and isinstance(node.value, cst.Name) and node.value.value == "re":
        flag = getattr(re, node.attr.value, None)
        return int(flag) if isinstance(flag, re.RegexFlag) else None
    if isinstance(node, cst.BinaryOperation) and isinstance(node.operator, cst.BitOr):
        left, right = _constant_regex_flags(node.left), _constant_regex_flags(node.right)
        return None if left is None or right is None else left | right
    return None


def _joined_args(args: Sequence[cst.Arg]) -> list[cst.Arg]:
    """Arguments separated by `, `, the last without a trailing comma (the removed ones may have had it)."""
    joined: list[cst.Arg] = []
    for index, arg in enumerate(args):
        last = index == len(args) - 1
        joined.append(arg.with_changes(comma=cst.MaybeSentinel.DEFAULT if last else cst.Comma(
            whitespace_after=cst.SimpleWhitespace(" ")
        )))  # fmt: skip
    return joined


def _module_string_constants(document: _Document) -> dict[str, str]:
    """Module-level names bound exactly once, to a string literal: the constants json.loads may read."""
    counts: dict[str, int] = {}
    for node in _walk(document.module):
        for bound in _assigned_names(node) if isinstance(node, cst.SimpleStatementLine) else ():
            counts[bound] = counts.get(bound, 0) + 1
    constants: dict[str, str] = {}
    for statement in document.module.body:
        if not isinstance(statement, cst.SimpleStatementLine) or len(statement.body) != 1:
            continue
        assign = statement.body[0]
        if isinstance(assign, cst.Assign) and isinstance(assign.value, cst.SimpleString):
            name = _single_name_target(assign)
            value = ast.literal_eval(assign.value.value)
            if name is not None and counts.get(name) == 1 and isinstance(value, str):
                constants[name] = value
    return constants


def _constant_json(call: cst.Call, constants: dict[str, str]) -> object | None:
    if len(call.args) != 1 or call.args[0].keyword is not None or call.args[0].star:
        return None
    argument = call.args[0].value
    if isinstance(argument, cst.SimpleString):
        literal = ast.literal_eval(argument.value)
        text = literal if isinstance(literal, str) else None
    else:
        text = constants.get(argument.value) if isinstance(argument, cst.Name) else None
    if text is None:
        return None
    try:
        parsed: object = json.loads(text)
        return parsed
    except ValueError:
        return None


def _loop_whose_body_holds(document: _Document, statement: cst.CSTNode) -> cst.For | cst.While | None:
    block = document.parent(statement)
    loop = document.parent(block) if isinstance(block, cst.IndentedBlock) else None
    if isinstance(loop, cst.For | cst.While) and isinstance(block, cst.IndentedBlock) and loop.body is block:
        return loop if len(block.body) > 1 else None
    return None


def _json_use_problem(
    document: _Document, name: str, assign: cst.Assign, loop: cst.For | cst.While, parsed: object
) -> str | None:
    """Why a parsed value cannot be shared across iterations: used outside the loop, or a mutable part reachable."""
    scope = document.scope_of(loop)
    target = assign.targets[0].target
    for use in _name_references(document, scope, name):
        if use is target:
            continue
        if not any(ancestor is loop.body for ancestor in document.ancestors(use)):
            return f"`{name}` is also used outside the loop body, so moving it would change what that use sees."
        parent = document.parent(use)
        if isinstance(parent, cst.ComparisonTarget) and parent.comparator is use:
            continue
        if isinstance(parent, cst.Arg) and _is_len_call(document.parent(parent)):
            continue
        if not isinstance(parent, cst.Subscript) or parent.value is not use:
            return f"`{name}` is used whole (passed on or reassigned), so the loop could change the shared object."
        if document.contexts.get(parent) is not ExpressionContext.LOAD:
            return f"an item of `{name}` is assigned or deleted."
        key = _subscript_literal(parent)
        if not isinstance(parsed, dict | list) or key is None:
            return f"`{name}` is indexed by something other than a literal key."
        try:
            value = parsed[key] if isinstance(parsed, dict) else parsed[key] if isinstance(key, int) else None
        except (KeyError, IndexError, TypeError):
            return f"`{name}[{key!r}]` is not in the parsed value, so the loop would raise either way."
        if isinstance(value, dict | list):
            return f"`{name}[{key!r}]` is a dict or list the loop could change through another reference."
    return None


def _is_len_call(node: cst.CSTNode | None) -> bool:
    return isinstance(node, cst.Call) and isinstance(node.func, cst.Name) and node.func.value == "len"


def _subscript_literal(subscript: cst.Subscript) -> object | None:
    if len(subscript.slice) != 1 or not isinstance(subscript.slice[0].slice, cst.Index):
        return None
    value = subscript.slice[0].slice.value
    if isinstance(value, cst.SimpleString | cst.Integer):
        literal: object = ast.literal_eval(value.value)
        return literal
    return None


def _previous_statement(document: _Document, statement: cst.BaseStatement) -> cst.SimpleStatementLine | None:
    block = document.parent(statement)
    body = getattr(block, "body", None)
    if not isinstance(body, Sequence):
        return None
    index = next((position for position, item in enumerate(body) if item is statement), None)
    previous = body[index - 1] if index else None
    return previous if isinstance(previous, cst.SimpleStatementLine) else None


def _empty_string_initializer(statement: cst.SimpleStatementLine | None) -> str | None:
    if statement is None or len(statement.body) != 1 or not isinstance(statement.body[0], cst.Assign):
        return None
    assign = statement.body[0]
    if not isinstance(assign.value, cst.SimpleString) or ast.literal_eval(assign.value.value) not in ("", b""):
        return None
    return _single_name_target(assign)


def _used_in_nested_scope(scope: cst.FunctionDef, name: str) -> bool:
    nested = [node for node in _walk(scope.body) if isinstance(node, SCOPE_TYPES)]
    return any(isinstance(node, cst.Name) and node.value == name for inner in nested for node in _walk(inner))


def _replace_small(updated: cst.CSTNode, code: str) -> cst.CSTNode:
    assert isinstance(updated, cst.SimpleStatementLine)
    replacement = cst.parse_statement(f"{code}\n")
    assert isinstance(replacement, cst.SimpleStatementLine)
    return updated.with_changes(body=replacement.body)


def _append_instead(updated: cst.CSTNode, parts: str) -> cst.CSTNode:
    assert isinstance(updated, cst.AugAssign)
    call = cst.Call(func=cst.Attribute(value=cst.Name(parts), attr=cst.Name("append")), args=[cst.Arg(updated.value)])
    return cst.Expr(value=call, semicolon=updated.semicolon)


def _removed(updated: cst.CSTNode) -> cst.RemovalSentinel:
    return cst.RemoveFromParent()


def _name_instead(updated: cst.CSTNode, name: str) -> cst.CSTNode:
    return cst.Name(name)


def _with_decorator(updated: cst.CSTNode, decorator: cst.Decorator) -> cst.CSTNode:
    assert isinstance(updated, cst.FunctionDef)
    return updated.with_changes(decorators=[decorator])


def _keep_leading_lines(updated: cst.CSTNode, statement: cst.BaseStatement) -> cst.CSTNode:
    assert isinstance(updated, cst.BaseCompoundStatement)
    return statement.with_changes(leading_lines=updated.leading_lines)


def _for_append_await(document: _Document, loop: cst.For) -> tuple[str, str, cst.BaseExpression] | str:
    """(variable, output list, awaited call) of `for x in xs: out.append(await f(x))`, else why not."""
    if loop.asynchronous is not None or loop.orelse is not None:
        return "the loop is an `async for` or has an `else`."
    if not isinstance(loop.target, cst.Name):
        return "the loop variable is not a single name."
    body = loop.body
    statements = body.body if isinstance(body, cst.IndentedBlock) else [body]
    only = statements[0] if len(statements) == 1 else None
    if not isinstance(only, cst.SimpleStatementLine) or len(only.body) != 1 or not isinstance(only.body[0], cst.Expr):
        return "the loop body is not exactly one `out.append(await f(x))`."
    call = only.body[0].value
    if not (isinstance(call, cst.Call) and isinstance(call.func, cst.Attribute) and call.func.attr.value == "append"):
        return "the loop body is not an `.append` call."
    output = call.func.value
    if not isinstance(output, cst.Name) or len(call.args) != 1 or call.args[0].keyword or call.args[0].star:
        return "append is not called on a plain name with one argument."
    awaited = call.args[0].value
    if not isinstance(awaited, cst.Await) or not isinstance(awaited.expression, cst.Call):
        return "append does not take an awaited call."
    inner = awaited.expression
    for node in _walk(inner):
        if isinstance(node, cst.Await | cst.Yield | cst.NamedExpr):
            return "the awaited call itself awaits, yields or assigns."
        if isinstance(node, cst.Name) and node.value == output.value:
            return f"the awaited call reads `{output.value}`, so the calls are not independent."
    return loop.target.value, output.value, inner


def _referenced_outside(scope: cst.CSTNode, inside: cst.CSTNode, name: str) -> bool:
    inside_nodes = {id(node) for node in _walk(inside)}
    return any(
        isinstance(node, cst.Name) and node.value == name and id(node) not in inside_nodes for node in _walk(scope)
    )


def _is_len_of_name(node: cst.CSTNode) -> bool:
    return (
        _is_len_call(node)
        and isinstance(node, cst.Call)
        and len(node.args) == 1
        and node.args[0].keyword is None
        and not node.args[0].star
        and isinstance(node.args[0].value, cst.Name)
    )


def _may_change_problem(document: _Document, loop: cst.CSTNode, name: str) -> str | None:
    """Why name's value may change while the loop runs: rebound, mutated, or handed to code that might mutate it."""
    if name in _assigned_names(loop):
        return f"`{name}` is rebound in the loop."
    for use in _name_references(document, loop, name):
        parent = document.parent(use)
        if isinstance(parent, cst.Attribute):
            return f"`{name}.{parent.attr.value}` is used in the loop and could change it (line {document.line(use)})."
        if isinstance(parent, cst.Subscript) and document.contexts.get(parent) is not ExpressionContext.LOAD:
            return f"an item of `{name}` is assigned or deleted in the loop (line {document.line(use)})."
        if isinstance(parent, cst.Arg):
            call = document.parent(parent)
            callee = call.func if isinstance(call, cst.Call) else None
            if not (isinstance(callee, cst.Name) and callee.value in PURE_BUILTINS):
                return f"`{name}` is passed to a call that could change it (line {document.line(use)})."
    return None


def _invariant_call_problem(
    document: _Document, call: cst.Call, loop: cst.For | cst.While, pure_functions: set[str]
) -> str | None:
    """Why a call may give another value on another iteration: impure callee, or arguments the loop changes."""
    callee = document.code(call.func)
    module_bindings = _bound_names(document.module)
    pure_builtin = callee in PURE_BUILTINS and callee not in module_bindings
    pure_module = isinstance(call.func, cst.Attribute) and _root_name(call.func) in PURE_MODULES
    if not (pure_builtin or pure_module or callee in pure_functions):
        return f"`{callee}` is not known to be pure (a builtin like len or sorted, math, or a pure function here)."
    for arg in call.args:
        value = arg.value
        if _is_literal(value):
            continue
        if not isinstance(value, cst.Name):
            return f"the argument `{document.code(value)}` is neither a literal nor a plain name."
        problem = _may_change_problem(document, loop, value.value)
        if problem:
            return problem
    return None


def _hoistable_target_problem(
    document: _Document, statement: cst.SimpleStatementLine, loop: cst.For | cst.While, name: str
) -> str | None:
    """Why moving `name = ...` before the loop could change what some code reads."""
    if _count_bindings(loop, name) > 1:
        return f"`{name}` is bound more than once in the loop."
    if isinstance(loop, cst.While) and any(
        isinstance(node, cst.Name) and node.value == name for node in _walk(loop.test)
    ):
        return f"the loop's condition reads `{name}` before the body sets it."
    if isinstance(loop, cst.For) and any(
        isinstance(node, cst.Name) and node.value == name for node in _walk(loop.iter)
    ):
        return f"the loop's iterable reads `{name}`."
    body = loop.body.body if isinstance(loop.body, cst.IndentedBlock) else []
    for earlier in body:
        if earlier is statement:
            break
        if any(isinstance(node, cst.Name) and node.value == name for node in _walk(earlier)):
            return f"the loop reads `{name}` before this assignment."
    if _referenced_outside(document.scope_of(loop), loop, name):
        return f"`{name}` is also used outside the loop, which would see it set even when the loop does not run."
    return None


def _count_bindings(node: cst.CSTNode, name: str) -> int:
    count = 0
    for child in _walk(node):
        if isinstance(child, cst.AssignTarget | cst.AugAssign | cst.AnnAssign | cst.For | cst.CompFor):
            count += int(name in _assigned_names_of_target(child.target))
        elif isinstance(child, cst.NamedExpr | cst.AsName):
            bound = child.target if isinstance(child, cst.NamedExpr) else child.name
            count += int(isinstance(bound, cst.Name) and bound.value == name)
    return count


def _module_constants(document: _Document) -> set[str]:
    """Module-level names bound once to an immutable literal (numbers, strings, tuples of them)."""
    constants: set[str] = set()
    for statement in document.module.body:
        if isinstance(statement, cst.SimpleStatementLine) and len(statement.body) == 1:
            assign = statement.body[0]
            if isinstance(assign, cst.Assign) and _is_literal(assign.value):
                name = _single_name_target(assign)
                if name is not None and _count_bindings(document.module, name) == 1:
                    constants.add(name)
    return constants


def _pure_module_functions(document: _Document) -> set[str]:
    """Module-level functions that read only their arguments, immutable constants and other pure functions."""
    functions = {
        statement.name.value: statement for statement in document.module.body if isinstance(statement, cst.FunctionDef)
    }
    pure: set[str] = set()
    for name, function in functions.items():
        if _purity_problem(document, function, set()) is None:
            pure.add(name)
    return pure


def _purity_problem(document: _Document, function: cst.FunctionDef, visiting: set[str]) -> str | None:
    """Why a module-level function may not be pure, None when every name it reads is safe to read."""
    name = function.name.value
    if function.asynchronous is not None or function.decorators:
        return "it is async or already decorated."
    if (
        _count_bindings(document.module, name) > 0
        or sum(
            1
            for statement in document.module.body
            if isinstance(statement, cst.FunctionDef) and statement.name.value == name
        )
        > 1
    ):
        return "its name is rebound in the module."
    visiting = visiting | {name}
    parameters = {param.name.value for param in _all_params(function.params)}
    local_names = _assigned_names(function.body) | parameters
    module_bindings = _bound_names(document.module)
    functions = {
        statement.name.value: statement for statement in document.module.body if isinstance(statement, cst.FunctionDef)
    }
    constants = _module_constants(document)
    imported_pure = {module for module in PURE_MODULES if document.has_module_import(module)}
    for node in _walk(function.body):
        if isinstance(node, cst.Global | cst.Nonlocal | cst.Yield | cst.Await | cst.Import | cst.ImportFrom):
            return "it uses global, nonlocal, yield, await or import."
        if isinstance(node, cst.FunctionDef | cst.ClassDef | cst.Del):
            return "it defines nested functions or classes, or deletes names."
        if isinstance(node, cst.AssignTarget | cst.AugAssign | cst.AnnAssign) and not _assigns_names_only(node.target):
            return f"it assigns to an attribute or item (line {document.line(node)})."
        if not isinstance(node, cst.Name) or document.contexts.get(node) is not ExpressionContext.LOAD:
            continue
        parent = document.parent(node)
        if isinstance(parent, cst.Arg) and parent.keyword is node:
            continue
        read = node.value
        if read in ("True", "False", "None") or read in local_names or read in constants or read in imported_pure:
            continue
        if read in PURE_BUILTINS and read not in module_bindings:
            continue
        if read in functions:
            if read in visiting or _purity_problem(document, functions[read], visiting) is None:
                continue
            return f"it calls `{read}`, which is not pure."
        return f"it reads `{read}`, which is neither an argument, a local, a constant nor a pure function."
    return None


def _assigns_names_only(target: cst.BaseExpression) -> bool:
    if isinstance(target, cst.Name):
        return True
    if isinstance(target, cst.Tuple | cst.List):
        return all(_assigns_names_only(element.value) for element in target.elements)
    if isinstance(target, cst.StarredElement):
        return _assigns_names_only(target.value)
    return False


def _all_params(params: cst.Parameters) -> list[cst.Param]:
    found = [*params.posonly_params, *params.params, *params.kwonly_params]
    if isinstance(params.star_arg, cst.Param):
        found.append(params.star_arg)
    if params.star_kwarg is not None:
        found.append(params.star_kwarg)
    return found


def _memoizable_problem(document: _Document, function: cst.FunctionDef) -> str | None:
    """Why caching a pure function could change behaviour: unhashable or mutable arguments or result."""
    params = function.params
    if isinstance(params.star_arg, cst.Param) or params.star_kwarg is not None:
        return "it takes *args or **kwargs."
    for param in _all_params(params):
        if param.annotation is None or not _is_hashable_annotation(param.annotation.annotation):
            return f"its parameter `{param.name.value}` is not annotated with a hashable, immutable type."
        if param.default is not None and not _is_literal(param.default):
            return f"its parameter `{param.name.value}` has a default that is not a literal."
    if function.returns is None or not _is_hashable_annotation(function.returns.annotation):
        return "its result is not annotated with an immutable type, and a cached mutable result would be shared."
    if not _all_params(params):
        return "it takes no arguments, so there is nothing to cache by."
    return None


def _is_hashable_annotation(annotation: cst.BaseExpression) -> bool:
    if isinstance(annotation, cst.Name):
        return annotation.value in HASHABLE_TYPES
    if isinstance(annotation, cst.BinaryOperation) and isinstance(annotation.operator, cst.BitOr):
        return _is_hashable_annotation(annotation.left) and _is_hashable_annotation(annotation.right)
    if isinstance(annotation, cst.Subscript) and isinstance(annotation.value, cst.Name):
        if annotation.value.value not in HASHABLE_GENERICS:
            return False
        for element in annotation.slice:
            inner = element.slice
            if not isinstance(inner, cst.Index):
                return False
            if not (_is_hashable_annotation(inner.value) or _is_ellipsis(inner.value)):
                return False
        return True
    return False


def _is_ellipsis(node: cst.BaseExpression) -> bool:
    """Whether an annotation element is `...`, as in `tuple[int, ...]`."""
    return isinstance(node, cst.Ellipsis)


def _leading_imports_end(body: Sequence[cst.BaseStatement]) -> int:
    """The index after the module docstring and the imports that open the module."""
    index = _docstring_end(body)
    last = index
    while index < len(body):
        statement = body[index]
        if isinstance(statement, cst.SimpleStatementLine) and all(
            isinstance(small, cst.Import | cst.ImportFrom) for small in statement.body
        ):
            index += 1
            last = index
            continue
        break
    return last


def _docstring_end(body: Sequence[cst.BaseStatement]) -> int:
    first = body[0] if body else None
    if isinstance(first, cst.SimpleStatementLine) and len(first.body) == 1:
        expression = first.body[0]
        if isinstance(expression, cst.Expr) and isinstance(expression.value, cst.SimpleString | cst.ConcatenatedString):
            return 1
    return 0
