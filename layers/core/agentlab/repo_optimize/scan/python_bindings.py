"""What a Python name is bound to in its function or module, so a rule can tell a list or a str from anything else.

Without types the scan only trusts what it can see: a name counts as a list (or a str) when every binding of it in
its scope says so (a list display, a comprehension, `list(...)`, an annotation), and as unknown the moment one
binding does not (a parameter without annotation, a loop target, an import).
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from agentlab.repo_optimize.scan.python_loops import FunctionNode, bound_names

Binding = ast.expr | None


@dataclass
class ScopeBindings:
    """Every binding of each name in one function (or the module), its value or annotation, None when unknown."""

    values: dict[str, list[Binding]] = field(default_factory=dict)
    annotations: dict[str, list[ast.expr]] = field(default_factory=dict)

    def bind(self, name: str, value: Binding) -> None:
        self.values.setdefault(name, []).append(value)


def _scope_statements(statements: list[ast.stmt]) -> Iterator[ast.AST]:
    pending: list[ast.AST] = list(statements)
    while pending:
        node = pending.pop()
        yield node
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef | ast.Lambda):
            continue
        pending.extend(ast.iter_child_nodes(node))


def collect_bindings(scope: ast.Module | FunctionNode) -> ScopeBindings:
    """The bindings of one scope; nested functions and classes keep theirs to themselves."""
    bindings = ScopeBindings()
    if not isinstance(scope, ast.Module):
        arguments = scope.args
        for argument in [*arguments.posonlyargs, *arguments.args, *arguments.kwonlyargs]:
            bindings.bind(argument.arg, None)
            if argument.annotation is not None:
                bindings.annotations.setdefault(argument.arg, []).append(argument.annotation)
        for extra in (arguments.vararg, arguments.kwarg):
            if extra is not None:
                bindings.bind(extra.arg, None)
    for node in _scope_statements(list(scope.body)):
        _bind_statement(bindings, node)
    return bindings


def _bind_statement(bindings: ScopeBindings, node: ast.AST) -> None:
    if isinstance(node, ast.Assign):
        for target in node.targets:
            value: Binding = node.value if isinstance(target, ast.Name) else None
            for name in bound_names(target):
                bindings.bind(name, value)
    elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
        bindings.annotations.setdefault(node.target.id, []).append(node.annotation)
        if node.value is not None:
            bindings.bind(node.target.id, node.value)
    elif isinstance(node, ast.For | ast.AsyncFor | ast.comprehension):
        for name in bound_names(node.target):
            bindings.bind(name, None)
    elif isinstance(node, ast.withitem) and node.optional_vars is not None:
        for name in bound_names(node.optional_vars):
            bindings.bind(name, None)
    elif isinstance(node, ast.NamedExpr):
        bindings.bind(node.target.id, node.value)
    elif isinstance(node, ast.Import | ast.ImportFrom):
        for alias in node.names:
            bindings.bind((alias.asname or alias.name).split(".")[0], None)
    elif (
        isinstance(
            node,
            ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef | ast.ExceptHandler | ast.MatchAs | ast.MatchStar,
        )
        and node.name
    ):
        bindings.bind(node.name, None)
    elif isinstance(node, ast.Global | ast.Nonlocal):
        for name in node.names:
            bindings.bind(name, None)


def _annotation_is(annotation: ast.expr, names: frozenset[str]) -> bool:
    base = annotation.value if isinstance(annotation, ast.Subscript) else annotation
    if isinstance(base, ast.Attribute):
        return base.attr in names
    return isinstance(base, ast.Name) and base.id in names


_LIST_ANNOTATIONS = frozenset({"list", "List"})
_STR_ANNOTATIONS = frozenset({"str"})


def is_list_value(value: ast.expr) -> bool:
    """A list display, a list comprehension or a call that always returns a new list."""
    if isinstance(value, ast.List | ast.ListComp):
        return True
    if isinstance(value, ast.BinOp) and isinstance(value.op, ast.Add):
        return is_list_value(value.left) or is_list_value(value.right)
    return isinstance(value, ast.Call) and isinstance(value.func, ast.Name) and value.func.id in {"list", "sorted"}


def is_str_value(value: ast.expr) -> bool:
    """A str literal, an f-string, `str(...)`, `"sep".join(...)` or a sum of str."""
    if isinstance(value, ast.Constant):
        return isinstance(value.value, str)
    if isinstance(value, ast.JoinedStr):
        return True
    if isinstance(value, ast.BinOp) and isinstance(value.op, ast.Add | ast.Mod):
        return is_str_value(value.left)
    if isinstance(value, ast.Call):
        if isinstance(value.func, ast.Name):
            return value.func.id == "str"
        return (
            isinstance(value.func, ast.Attribute)
            and value.func.attr in {"join", "format"}
            and (is_str_value(value.func.value))
        )
    return False


def _every_binding(
    bindings: ScopeBindings, name: str, check: Callable[[ast.expr], bool], annotations: frozenset[str]
) -> bool:
    annotated = bindings.annotations.get(name, [])
    if annotated:
        return all(_annotation_is(annotation, annotations) for annotation in annotated)
    values = bindings.values.get(name, [])
    return bool(values) and all(value is not None and check(value) for value in values)


def names_a_list(bindings: ScopeBindings, name: str) -> bool:
    """True when every binding of `name` in the scope is a list."""
    return _every_binding(bindings, name, is_list_value, _LIST_ANNOTATIONS)


def names_a_str(bindings: ScopeBindings, name: str) -> bool:
    """True when every binding of `name` in the scope is a str."""
    return _every_binding(bindings, name, is_str_value, _STR_ANNOTATIONS)
