"""Where a Python expression runs once per iteration, and which names a loop may change.

Every loop rule asks the same two questions: is this expression evaluated on every iteration (a `for` body, a
`while` condition, the element of a comprehension, but not a `for`'s iterable nor the body of a function defined in
the loop), and does it depend only on names the loop leaves alone? `loop_expressions` answers the first with the
innermost loop of each expression; `LoopScope.touched` answers the second conservatively: a name counts as changed
when the loop rebinds it, stores into it, calls a mutating method on it or hands it to a call that might.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass

FunctionNode = ast.FunctionDef | ast.AsyncFunctionDef
LoopNode = ast.For | ast.AsyncFor | ast.While | ast.ListComp | ast.SetComp | ast.DictComp | ast.GeneratorExp

MUTATING_METHODS = frozenset(
    {
        "append", "extend", "insert", "remove", "pop", "clear", "sort", "reverse", "add", "discard", "update",
        "setdefault", "popitem", "difference_update", "intersection_update", "symmetric_difference_update",
        "__setitem__", "__delitem__", "write", "seek",
    }
)  # fmt: skip
# Builtins that neither keep nor change their arguments, so passing a name to them leaves it as it was.
PURE_BUILTINS = frozenset(
    {
        "len", "sorted", "set", "frozenset", "list", "tuple", "dict", "str", "int", "float", "bool", "min", "max",
        "sum", "any", "all", "abs", "round", "isinstance", "issubclass", "repr", "hash", "range", "enumerate", "zip",
        "reversed", "ord", "chr", "type", "id", "format", "divmod", "pow", "bytes",
    }
)  # fmt: skip


@dataclass(frozen=True)
class LoopScope:
    """One loop as seen from an expression inside it, with the names it (or a loop around it) may change."""

    loop: LoopNode
    touched: frozenset[str]
    targets: frozenset[str]
    function: FunctionNode | None

    def is_invariant(self, node: ast.AST) -> bool:
        """True when every name `node` reads is left alone by the loop and `node` makes no call of its own."""
        for child in ast.walk(node):
            if isinstance(child, ast.Call | ast.Await | ast.Yield | ast.YieldFrom | ast.NamedExpr | ast.Lambda):
                return False
            if isinstance(child, ast.Name) and child.id in self.touched:
                return False
        return True


def bound_names(target: ast.AST) -> set[str]:
    """The names an assignment target (a name, a tuple of names, a starred name) binds."""
    return {node.id for node in ast.walk(target) if isinstance(node, ast.Name)}


def _own_nodes(statements: list[ast.stmt]) -> Iterator[ast.AST]:
    """Every node of `statements` except the bodies of functions and classes defined among them."""
    pending: list[ast.AST] = list(statements)
    while pending:
        node = pending.pop()
        yield node
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            pending.extend(node.decorator_list)
            if not isinstance(node, ast.ClassDef):
                pending.extend(node.args.defaults + [d for d in node.args.kw_defaults if d is not None])
            pending.extend(_declared_outside(node))
            continue
        if isinstance(node, ast.Lambda):
            continue
        pending.extend(ast.iter_child_nodes(node))


def _declared_outside(function: ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) -> list[ast.Name]:
    """Names a nested function declares `global` or `nonlocal`: calling it may rebind them in the loop's scope."""
    names: list[ast.Name] = []
    for node in ast.walk(function):
        if isinstance(node, ast.Global | ast.Nonlocal):
            names.extend(ast.Name(id=name, ctx=ast.Store()) for name in node.names)
    return names


# Module functions that only read their arguments, by dotted name.
PURE_MODULE_FUNCTIONS = frozenset(
    {
        "json.loads", "json.dumps", "re.compile", "re.match", "re.search", "re.fullmatch", "re.findall",
        "re.finditer", "re.sub", "re.subn", "re.split", "re.escape", "copy.copy", "copy.deepcopy",
    }
)  # fmt: skip


def _leaves_arguments_alone(call: ast.Call) -> bool:
    """True for calls known only to read their arguments: pure builtins, a few module functions, `"sep".join`."""
    callee = call.func
    if isinstance(callee, ast.Name):
        return callee.id in PURE_BUILTINS
    if isinstance(callee, ast.Attribute):
        if isinstance(callee.value, ast.Constant) and isinstance(callee.value.value, str):
            return True
        if isinstance(callee.value, ast.Name):
            return f"{callee.value.id}.{callee.attr}" in PURE_MODULE_FUNCTIONS or callee.value.id == "math"
    return False


def root_name(node: ast.AST) -> str | None:
    """`a` for `a`, `a.b.c`, `a[i].b`: the name whose object an attribute chain or subscript reads."""
    while isinstance(node, ast.Attribute | ast.Subscript):
        node = node.value
    return node.id if isinstance(node, ast.Name) else None


def touched_names(nodes: Iterator[ast.AST]) -> set[str]:
    """The names the given nodes may rebind or change, erring on the side of "changed"."""
    touched: set[str] = set()
    for node in nodes:
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store | ast.Del):
            touched.add(node.id)
        elif isinstance(node, ast.Attribute | ast.Subscript) and isinstance(node.ctx, ast.Store | ast.Del):
            name = root_name(node)
            if name is not None:
                touched.add(name)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            touched.add(node.name)
        elif isinstance(node, ast.Import | ast.ImportFrom):
            touched.update((alias.asname or alias.name).split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ExceptHandler | ast.MatchAs | ast.MatchStar) and node.name:
            touched.add(node.name)
        elif isinstance(node, ast.Call):
            touched.update(_names_a_call_may_change(node))
    return touched


def _names_a_call_may_change(call: ast.Call) -> set[str]:
    names: set[str] = set()
    if isinstance(call.func, ast.Attribute) and call.func.attr in MUTATING_METHODS:
        name = root_name(call.func.value)
        if name is not None:
            names.add(name)
    if not _leaves_arguments_alone(call):
        for argument in [*call.args, *(keyword.value for keyword in call.keywords)]:
            value = argument.value if isinstance(argument, ast.Starred) else argument
            name = root_name(value)
            if name is not None:
                names.add(name)
    return names


def _loop_bound(loop: LoopNode) -> tuple[set[str], set[str]]:
    """(targets, touched) of one loop: its own targets, and everything its per-iteration part may change."""
    if isinstance(loop, ast.For | ast.AsyncFor):
        targets = bound_names(loop.target)
        return targets, targets | touched_names(_own_nodes(loop.body))
    if isinstance(loop, ast.While):
        return set(), touched_names(_own_nodes([*loop.body, ast.Expr(value=loop.test)]))
    targets = set().union(*(bound_names(generator.target) for generator in loop.generators))
    parts: list[ast.AST] = [generator for generator in loop.generators]
    parts.extend([loop.key, loop.value] if isinstance(loop, ast.DictComp) else [loop.elt])
    touched = targets | touched_names(node for part in parts for node in ast.walk(part))
    return targets, touched


def loop_expressions(tree: ast.AST) -> Iterator[tuple[ast.AST, LoopScope]]:
    """Each node that runs once per iteration of some loop, with its innermost loop."""
    yield from _visit(tree, None, None)


def _visit(
    node: ast.AST, scope: LoopScope | None, function: FunctionNode | None
) -> Iterator[tuple[ast.AST, LoopScope]]:
    if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda | ast.ClassDef):
        yield from _visit_definition(node, scope, function)
        return
    if isinstance(
        node, ast.For | ast.AsyncFor | ast.While | ast.ListComp | ast.SetComp | ast.DictComp | ast.GeneratorExp
    ):
        yield from _visit_loop(node, scope, function)
        return
    if isinstance(node, ast.Return | ast.Raise):
        # Runs at most once per call of the function however many iterations came before: not per-iteration work.
        scope = None
    if scope is not None:
        yield node, scope
    for child in ast.iter_child_nodes(node):
        yield from _visit(child, scope, function)


def _visit_definition(
    node: ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda | ast.ClassDef,
    scope: LoopScope | None,
    function: FunctionNode | None,
) -> Iterator[tuple[ast.AST, LoopScope]]:
    """Decorators and defaults run where the definition stands; the body runs later, on its own."""
    if not isinstance(node, ast.Lambda):
        for decorator in node.decorator_list:
            yield from _visit(decorator, scope, function)
    if isinstance(node, ast.ClassDef):
        for class_statement in node.body:
            yield from _visit(class_statement, None, function)
        return
    for default in [*node.args.defaults, *(d for d in node.args.kw_defaults if d is not None)]:
        yield from _visit(default, scope, function)
    inner_function = node if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) else function
    body: list[ast.AST] = [node.body] if isinstance(node, ast.Lambda) else list(node.body)
    for statement in body:
        yield from _visit(statement, None, inner_function)


def _visit_loop(
    node: LoopNode, scope: LoopScope | None, function: FunctionNode | None
) -> Iterator[tuple[ast.AST, LoopScope]]:
    targets, touched = _loop_bound(node)
    outer_touched = scope.touched if scope is not None else frozenset()
    inner = LoopScope(node, frozenset(touched | outer_touched), frozenset(targets), function)
    if scope is not None:
        yield node, scope
    if isinstance(node, ast.For | ast.AsyncFor):
        yield from _visit(node.target, inner, function)
        yield from _visit(node.iter, scope, function)
        per_iteration: list[ast.AST] = list(node.body)
        once_after: list[ast.AST] = list(node.orelse)
    elif isinstance(node, ast.While):
        per_iteration = [node.test, *node.body]
        once_after = list(node.orelse)
    else:
        first, *others = node.generators
        yield from _visit(first.iter, scope, function)
        per_iteration = [first.target, *first.ifs]
        for generator in others:
            per_iteration.extend([generator.target, generator.iter, *generator.ifs])
        per_iteration.extend([node.key, node.value] if isinstance(node, ast.DictComp) else [node.elt])
        once_after = []
    for part in per_iteration:
        yield from _visit(part, inner, function)
    for after in once_after:
        yield from _visit(after, scope, function)
