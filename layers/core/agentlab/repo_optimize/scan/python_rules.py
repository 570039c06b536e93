"""The Python rules of the static scan: each one a small function from a parsed module to the findings it recognises.

The rules read the syntax tree only; scanned code is never imported or run. Each errs on the side of silence: a
finding the validation step later rejects costs a sandbox run, so a rule fires only when what it needs is visible in
the code (a list it can see being built, a pattern that is a literal, a name the loop never touches).
"""

from __future__ import annotations

import ast
from collections.abc import Callable
from dataclasses import dataclass, field

from agentlab.repo_optimize.scan.models import Finding, Level
from agentlab.repo_optimize.scan.python_bindings import (
    ScopeBindings,
    collect_bindings,
    is_str_value,
    names_a_list,
    names_a_str,
)
from agentlab.repo_optimize.scan.python_loops import (
    PURE_BUILTINS,
    FunctionNode,
    LoopNode,
    LoopScope,
    loop_expressions,
    root_name,
    touched_names,
)

_DESCRIBED_CHARS = 80
_LARGE_LITERAL_ITEMS = 8
_RE_FUNCTIONS = frozenset({"compile", "match", "search", "fullmatch", "findall", "finditer", "sub", "subn", "split"})
# The position of the `flags` argument of each `re` function, which must be as invariant as the pattern.
_RE_FLAGS_POSITION = {"compile": 1, "match": 2, "search": 2, "fullmatch": 2, "findall": 2, "finditer": 2, "split": 3}
_ROUTE_DECORATORS = frozenset(
    {"route", "get", "post", "put", "patch", "delete", "head", "options", "websocket", "api_route"}
)
_PATH_IO_METHODS = frozenset({"read_text", "read_bytes", "write_text", "write_bytes"})
_HOISTABLE_BUILTINS = frozenset(
    {"sorted", "set", "frozenset", "list", "tuple", "dict", "sum", "min", "max", "any", "all"}
)
_BUILTINS_WITH_FRESH_MUTABLE_RESULT = frozenset({"sorted", "set", "list", "dict"})
_CACHE_DECORATORS = frozenset({"lru_cache", "cache", "cached_property", "cached"})


@dataclass
class PythonModule:
    """One parsed module with what several rules need: bindings per scope and the per-iteration expressions."""

    tree: ast.Module
    expressions: list[tuple[ast.AST, LoopScope]]
    module_bindings: ScopeBindings
    parents: dict[int, ast.AST]
    _function_bindings: dict[int, ScopeBindings] = field(default_factory=dict)

    @classmethod
    def parse(cls, source: str) -> PythonModule:
        """Parse `source`; raises SyntaxError, ValueError or RecursionError for what `ast` cannot read."""
        tree = ast.parse(source)
        parents = {id(child): node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
        return cls(tree, list(loop_expressions(tree)), collect_bindings(tree), parents)

    def bindings_of(self, name: str, function: FunctionNode | None) -> ScopeBindings:
        """The scope where `name` is bound as seen from `function`: its own when it binds the name, else the module."""
        if function is not None:
            local = self._function_bindings.get(id(function))
            if local is None:
                local = self._function_bindings[id(function)] = collect_bindings(function)
            if name in local.values or name in local.annotations:
                return local
        return self.module_bindings

    def imports_module(self, name: str) -> bool:
        """True when `name` is bound at module level by `import name` and nothing else."""
        values = self.module_bindings.values.get(name, [])
        imported = any(
            isinstance(node, ast.Import) and any(alias.name == name and alias.asname is None for alias in node.names)
            for node in self.tree.body
        )
        return imported and all(value is None for value in values)


def describe(node: ast.AST) -> str:
    """The code of `node`, shortened for a sentence."""
    text = " ".join(ast.unparse(node).split())
    return text if len(text) <= _DESCRIBED_CHARS else text[: _DESCRIBED_CHARS - 1] + "…"


def describe_loop(loop: LoopNode) -> str:
    kind = {ast.For: "`for` loop", ast.AsyncFor: "`async for` loop", ast.While: "`while` loop"}.get(
        type(loop), "comprehension"
    )
    return f"the {kind} at line {loop.lineno}"


def _finding(rule: str, node: ast.AST, rationale: str, *, risk: Level, impact: Level, template: str | None) -> Finding:
    start = getattr(node, "lineno", 1)
    return Finding(
        type=rule,
        start_line=start,
        end_line=getattr(node, "end_lineno", None) or start,
        rationale=rationale,
        risk=risk,
        expected_impact=impact,
        template=template,
    )


def _only_literal_binding(bindings: ScopeBindings, name: str) -> ast.List | None:
    """The list display `name` is bound to, when that is its one and only binding (its size is then known)."""
    values = bindings.values.get(name, [])
    return values[0] if len(values) == 1 and isinstance(values[0], ast.List) else None


def list_membership_in_loop(module: PythonModule) -> list[Finding]:
    """`x in [..]` or `x in names` (a list) inside a loop: a linear scan per iteration where a set is constant time."""
    findings: list[Finding] = []
    for node, scope in module.expressions:
        if not isinstance(node, ast.Compare):
            continue
        for operator, container in zip(node.ops, node.comparators, strict=True):
            if not isinstance(operator, ast.In | ast.NotIn):
                continue
            # The template rewrites a list display: in the test itself, or the one binding of the tested name.
            template: str | None = "list-to-set-membership"
            if isinstance(container, ast.List) and container.elts:
                hashable = all(isinstance(item, ast.Constant) for item in container.elts)
                large = len(container.elts) >= _LARGE_LITERAL_ITEMS
                what = f"the list literal of {len(container.elts)} items"
                risk: Level = "low" if hashable else "medium"
                impact: Level = "medium" if large else "low"
            elif (
                isinstance(container, ast.Name)
                and container.id not in scope.touched
                and names_a_list(module.bindings_of(container.id, scope.function), container.id)
            ):
                what, risk, impact = f"the list `{container.id}`", "medium", "high"
                literal = _only_literal_binding(module.bindings_of(container.id, scope.function), container.id)
                if literal is not None:
                    risk = "low" if all(isinstance(item, ast.Constant) for item in literal.elts) else "medium"
                    impact = "medium" if len(literal.elts) >= _LARGE_LITERAL_ITEMS else "low"
                else:
                    template = None
            else:
                continue
            rationale = (
                f"`{describe(node)}` scans {what} one element at a time on each iteration of "
                f"{describe_loop(scope.loop)}; a set built once answers the same question in constant time."
            )
            findings.append(
                _finding(
                    "list-membership-in-loop",
                    node,
                    rationale,
                    risk=risk,
                    impact=impact,
                    template=template,
                )
            )
    return findings


def _argument(call: ast.Call, position: int, keyword: str) -> ast.expr | None:
    if len(call.args) > position:
        return call.args[position]
    return next((item.value for item in call.keywords if item.arg == keyword), None)


def _is_invariant_operand(node: ast.expr, scope: LoopScope) -> bool:
    """A literal, or a name or attribute chain the loop does not touch."""
    if isinstance(node, ast.Constant):
        return True
    return isinstance(node, ast.Name | ast.Attribute) and scope.is_invariant(node)


def _module_call(node: ast.AST, module_name: str, functions: frozenset[str]) -> str | None:
    """The function name when `node` is `module_name.<one of functions>(...)`."""
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in functions:
        target = node.func.value
        if isinstance(target, ast.Name) and target.id == module_name:
            return node.func.attr
    return None


def regex_in_loop(module: PythonModule) -> list[Finding]:
    """`re.compile(p)` or `re.match(p, …)` with an invariant pattern inside a loop."""
    if not module.imports_module("re"):
        return []
    findings: list[Finding] = []
    for node, scope in module.expressions:
        function = _module_call(node, "re", _RE_FUNCTIONS)
        if function is None or "re" in scope.touched or not isinstance(node, ast.Call):
            continue
        pattern = _argument(node, 0, "pattern")
        flags = _argument(node, _RE_FLAGS_POSITION.get(function, 4), "flags")
        if pattern is None or not _is_invariant_operand(pattern, scope):
            continue
        if isinstance(pattern, ast.Constant) and not isinstance(pattern.value, str | bytes):
            continue
        if flags is not None and not scope.is_invariant(flags):
            continue
        rationale = (
            f"`{describe(node)}` looks its pattern up in `re`'s cache (and compiles it again once more than 512 "
            f"patterns are in use) on every iteration of {describe_loop(scope.loop)}; the pattern does not change, "
            "so it can be compiled once before the loop."
        )
        findings.append(
            _finding(
                "regex-compile-in-loop",
                node,
                rationale,
                risk="low",
                impact="low",
                # The template compiles a literal pattern; a pattern held by a name is left to a model's patch.
                template="hoist-regex-compile" if isinstance(pattern, ast.Constant) else None,
            )
        )
    return findings


def json_parse_in_loop(module: PythonModule) -> list[Finding]:
    """`json.loads(v)` of a value the loop never changes: the same text is parsed again on every iteration."""
    if not module.imports_module("json"):
        return []
    findings: list[Finding] = []
    for node, scope in module.expressions:
        if _module_call(node, "json", frozenset({"loads"})) is None or "json" in scope.touched:
            continue
        assert isinstance(node, ast.Call)
        text = _argument(node, 0, "s")
        if text is None or not _is_invariant_operand(text, scope) or len(node.args) + len(node.keywords) != 1:
            continue
        rationale = (
            f"`{describe(node)}` parses the same text on every iteration of {describe_loop(scope.loop)}; parsing "
            "once before the loop is enough, provided the loop does not change the parsed object."
        )
        findings.append(
            _finding("json-parse-in-loop", node, rationale, risk="medium", impact="medium", template="hoist-json-parse")
        )
    return findings


def string_concat_in_loop(module: PythonModule) -> list[Finding]:
    """`s += …` on a str inside a `for` or `while` loop: each step may copy everything built so far."""
    findings: list[Finding] = []
    for node, scope in module.expressions:
        if not isinstance(node, ast.AugAssign) or not isinstance(node.op, ast.Add):
            continue
        if not isinstance(scope.loop, ast.For | ast.AsyncFor | ast.While):
            continue
        target = node.target
        if isinstance(target, ast.Name):
            is_str = is_str_value(node.value) or names_a_str(module.bindings_of(target.id, scope.function), target.id)
            impact: Level = "medium"
            why = "CPython can sometimes grow a local str in place, but not when another reference to it exists"
        else:
            is_str = is_str_value(node.value)
            impact = "high"
            why = "an attribute or item is never grown in place"
        if not is_str:
            continue
        rationale = (
            f"`{describe(node)}` builds a str piece by piece in {describe_loop(scope.loop)}, copying the text so far "
            f"at each step ({why}); collecting the pieces in a list and joining them once is linear."
        )
        findings.append(
            _finding(
                "string-concat-in-loop",
                node,
                rationale,
                risk="low",
                impact=impact,
                # The template collects the pieces of a local name; an attribute or item outlives the function.
                template="join-string-concat" if isinstance(target, ast.Name) else None,
            )
        )
    return findings


def _own_walk(statements: list[ast.stmt]) -> list[ast.AST]:
    """The nodes of `statements`, leaving out the bodies of nested functions, lambdas and classes."""
    nodes: list[ast.AST] = []
    pending: list[ast.AST] = list(statements)
    while pending:
        node = pending.pop()
        nodes.append(node)
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef | ast.Lambda):
            pending.extend(ast.iter_child_nodes(node))
    return nodes


def _names_read(node: ast.AST) -> set[str]:
    return {child.id for child in ast.walk(node) if isinstance(child, ast.Name)}


def _await_is_independent(loop: ast.For) -> bool:
    """True when the loop's only `await` is a call that reads nothing an earlier iteration could have changed."""
    nodes = _own_walk(loop.body)
    awaits = [node for node in nodes if isinstance(node, ast.Await)]
    if len(awaits) != 1 or not isinstance(awaits[0].value, ast.Call):
        return False
    stops = ast.Break | ast.Continue | ast.Return | ast.Yield | ast.YieldFrom | ast.AsyncFor | ast.AsyncWith | ast.Try
    if any(isinstance(node, stops) for node in nodes):
        return False
    awaited = awaits[0].value
    targets = {name.id for name in ast.walk(loop.target) if isinstance(name, ast.Name)}
    if root_name(awaited.func) in targets:
        # Awaiting each item itself (hooks, cleanups) is usually ordered on purpose.
        return False
    changed = touched_names(iter(nodes)) - targets
    for node in nodes:
        if isinstance(node, ast.Call) and node is not awaited and isinstance(node.func, ast.Attribute):
            receiver = root_name(node.func.value)
            if receiver is not None:
                changed.add(receiver)
    allowed_changed: set[str] = set()
    for statement in loop.body:
        if any(child is awaited for child in ast.walk(statement)):
            break
        if (
            isinstance(statement, ast.Assign)
            and all(isinstance(target, ast.Name) for target in statement.targets)
            and not (_names_read(statement.value) & (changed - allowed_changed))
        ):
            allowed_changed.update(target.id for target in statement.targets if isinstance(target, ast.Name))
    return not (_names_read(awaited) & (changed - allowed_changed))


def independent_awaits_in_loop(module: PythonModule) -> list[Finding]:
    """A `for` loop in a coroutine that awaits one call per item, where no call needs the previous one's result."""
    findings: list[Finding] = []
    for function in ast.walk(module.tree):
        if not isinstance(function, ast.AsyncFunctionDef):
            continue
        for loop in _own_walk(function.body):
            if not isinstance(loop, ast.For) or not _await_is_independent(loop):
                continue
            awaited = next(node for node in _own_walk(loop.body) if isinstance(node, ast.Await))
            rationale = (
                f"{describe_loop(loop)} in `{function.name}` waits for `{describe(awaited.value)}` one item at a time, "
                "though no call needs the previous one's result; `asyncio.gather` runs them concurrently, so the loop "
                "takes about as long as its slowest call."
            )
            findings.append(
                _finding(
                    "independent-awaits-in-loop",
                    loop,
                    rationale,
                    risk="medium",
                    impact="high",
                    template="gather-independent-awaits",
                )
            )
    return findings


def _method_receivers(nodes: list[ast.AST]) -> set[str]:
    receivers: set[str] = set()
    for node in nodes:
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            name = root_name(node.func.value)
            if name is not None:
                receivers.add(name)
    return receivers


def lookups_in_loop_condition(module: PythonModule) -> list[Finding]:
    """`while i < len(x)` (or `a.b.c`) where the loop leaves `x` alone: the same lookup on every test."""
    findings: list[Finding] = []
    for loop in ast.walk(module.tree):
        if not isinstance(loop, ast.While):
            continue
        body = _own_walk(loop.body)
        touched = touched_names(iter([*body, *ast.walk(loop.test)]))
        receivers = _method_receivers(body)
        for node in ast.walk(loop.test):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id == "len"
                and len(node.args) == 1
                and not node.keywords
                and isinstance(node.args[0], ast.Name | ast.Attribute)
            ):
                measured = node.args[0]
                name = root_name(measured)
                if name is None or name in touched or "len" in touched:
                    continue
                if isinstance(measured, ast.Attribute) and name in receivers:
                    continue
                rationale = (
                    f"the condition of {describe_loop(loop)} calls `{describe(node)}` before every iteration, yet the "
                    f"loop never changes `{describe(measured)}`; reading the length once before the loop saves a call "
                    "per test."
                )
                findings.append(
                    _finding("len-in-loop-condition", node, rationale, risk="low", impact="low", template="hoist-len")
                )
            elif (
                isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Attribute)
                and isinstance(node.ctx, ast.Load)
            ):
                name = root_name(node)
                parent = module.parents.get(id(node))
                if name is None or name in touched or name in receivers:
                    continue
                if isinstance(parent, ast.Attribute) or (isinstance(parent, ast.Call) and parent.func is node):
                    continue
                rationale = (
                    f"the condition of {describe_loop(loop)} follows the chain `{describe(node)}` before every "
                    "iteration, though the loop never changes it; a local read once before the loop is a single lookup."
                )
                findings.append(
                    _finding(
                        "attribute-chain-in-loop-condition", node, rationale, risk="medium", impact="low", template=None
                    )
                )
    return findings


def _is_cached(function: ast.FunctionDef) -> bool:
    for decorator in function.decorator_list:
        target = decorator.func if isinstance(decorator, ast.Call) else decorator
        name = target.attr if isinstance(target, ast.Attribute) else getattr(target, "id", None)
        if name in _CACHE_DECORATORS:
            return True
    return False


def _constant_module_names(module: PythonModule) -> set[str]:
    return {
        name
        for name, values in module.module_bindings.values.items()
        if values and all(isinstance(value, ast.Constant) for value in values)
    }


def _looks_pure(function: ast.FunctionDef, pure: set[str], constants: set[str]) -> bool:
    """No side effect visible in the body: it reads only its locals, constants, builtins and other pure functions."""
    nodes = _own_walk(function.body)
    impure = (
        ast.Global | ast.Nonlocal | ast.Yield | ast.YieldFrom | ast.Await | ast.Lambda | ast.FunctionDef | ast.ClassDef
    )
    if any(isinstance(node, impure) for node in nodes):
        return False
    local = {argument.arg for argument in [*function.args.posonlyargs, *function.args.args, *function.args.kwonlyargs]}
    local |= {node.id for node in nodes if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store)}
    parameters = local - {node.id for node in nodes if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store)}
    for node in nodes:
        if isinstance(node, ast.Attribute | ast.Subscript) and isinstance(node.ctx, ast.Store | ast.Del):
            name = root_name(node)
            if name is None or name not in local or name in parameters:
                return False
        if isinstance(node, ast.Call):
            callee = node.func
            if isinstance(callee, ast.Name):
                if callee.id not in PURE_BUILTINS and callee.id not in pure:
                    return False
            elif not (
                isinstance(callee, ast.Attribute) and isinstance(callee.value, ast.Name) and callee.value.id == "math"
            ):
                return False
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
            allowed = local | pure | constants | PURE_BUILTINS | {"math", "True", "False", "None"}
            if node.id not in allowed:
                return False
    return any(isinstance(node, ast.Call | ast.For | ast.While | ast.comprehension) for node in nodes)


def _pure_functions(module: PythonModule) -> set[str]:
    """Module-level functions that look pure, found by removing the impure ones until nothing changes."""
    candidates = {
        node.name: node
        for node in module.tree.body
        if isinstance(node, ast.FunctionDef)
        and not node.decorator_list
        and len(module.module_bindings.values.get(node.name, [])) == 1
    }
    pure = set(candidates)
    constants = _constant_module_names(module)
    changed = True
    while changed:
        changed = False
        for name in sorted(pure):
            if not _looks_pure(candidates[name], pure, constants):
                pure.discard(name)
                changed = True
    return pure


def pure_call_with_constants_in_loop(module: PythonModule) -> list[Finding]:
    """A pure-looking function of this module called with the same literal arguments on every iteration."""
    pure = _pure_functions(module)
    cached = {node.name for node in module.tree.body if isinstance(node, ast.FunctionDef) and _is_cached(node)}
    findings: list[Finding] = []
    for node, scope in module.expressions:
        if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Name):
            continue
        name = node.func.id
        if name not in pure or name in cached or name in scope.touched:
            continue
        if scope.function is not None and module.bindings_of(name, scope.function) is not module.module_bindings:
            continue
        arguments = [*node.args, *(keyword.value for keyword in node.keywords)]
        if not all(isinstance(argument, ast.Constant) for argument in arguments):
            continue
        if any(keyword.arg is None for keyword in node.keywords):
            continue
        rationale = (
            f"`{describe(node)}` computes the same result on every iteration of {describe_loop(scope.loop)}: `{name}` "
            "reads only its arguments and the arguments are literals; computing it once (or memoizing it) saves the "
            "work."
        )
        findings.append(
            _finding("pure-call-in-loop", node, rationale, risk="medium", impact="medium", template="memoize-pure-call")
        )
    return findings


def _route_of(function: FunctionNode) -> str | None:
    """The decorator text when `function` is registered as a web route (`@app.get("/")`, `@bp.route(...)`)."""
    for decorator in function.decorator_list:
        if not isinstance(decorator, ast.Call) or not isinstance(decorator.func, ast.Attribute):
            continue
        if decorator.func.attr in _ROUTE_DECORATORS and root_name(decorator.func.value) is not None:
            return describe(decorator)
    return None


def sync_file_io_in_route(module: PythonModule) -> list[Finding]:
    """`open(...)` or `Path.read_text()` inside a Flask or FastAPI route: disk I/O on every request."""
    findings: list[Finding] = []
    for function in ast.walk(module.tree):
        if not isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        route = _route_of(function)
        if route is None:
            continue
        blocks_loop = isinstance(function, ast.AsyncFunctionDef)
        for node in _own_walk(function.body):
            if not isinstance(node, ast.Call):
                continue
            is_open = isinstance(node.func, ast.Name) and node.func.id == "open"
            is_path_io = isinstance(node.func, ast.Attribute) and node.func.attr in _PATH_IO_METHODS
            if not (is_open or is_path_io):
                continue
            consequence = (
                "it blocks the event loop, so every other request waits for the disk"
                if blocks_loop
                else "every request waits for the disk; content that does not change can be read once and kept"
            )
            rationale = (
                f"`{describe(node)}` runs synchronously inside the route `{function.name}` (@{route}): {consequence}."
            )
            impact: Level = "high" if blocks_loop else "medium"
            findings.append(
                _finding("sync-file-io-in-handler", node, rationale, risk="medium", impact=impact, template=None)
            )
    return findings


def _keeps_result_private(module: PythonModule, call: ast.Call) -> bool:
    """True when a fresh mutable result is only read where it is made (a test, an iteration, a pure builtin)."""
    parent = module.parents.get(id(call))
    if isinstance(parent, ast.Compare | ast.comprehension | ast.For | ast.Subscript):
        return not (isinstance(parent, ast.Subscript) and isinstance(parent.ctx, ast.Store | ast.Del))
    return (
        isinstance(parent, ast.Call)
        and isinstance(parent.func, ast.Name)
        and parent.func.id in PURE_BUILTINS
        and call in parent.args
    )


def _hoistable_callee(node: ast.Call, scope: LoopScope, module: PythonModule) -> str | None:
    callee = node.func
    if isinstance(callee, ast.Name) and callee.id in _HOISTABLE_BUILTINS:
        if callee.id in scope.touched or callee.id in module.module_bindings.values:
            return None
        if scope.function is not None and module.bindings_of(callee.id, scope.function) is not module.module_bindings:
            return None
        return callee.id
    if isinstance(callee, ast.Attribute) and callee.attr == "join":
        separator = callee.value
        if isinstance(separator, ast.Constant) and isinstance(separator.value, str):
            return "str.join"
    return None


def _is_hoistable_assignment(node: ast.Call, scope: LoopScope, callee: str) -> bool:
    """Whether the call is the shape the template moves: `name = builtin(names or literals)` in the loop's body."""
    if callee == "str.join":
        return False
    if not all(isinstance(argument, ast.Name | ast.Constant) for argument in node.args) or node.keywords:
        return False
    body = scope.loop.body if isinstance(scope.loop, ast.For | ast.AsyncFor | ast.While) else []
    return any(
        isinstance(statement, ast.Assign)
        and statement.value is node
        and len(statement.targets) == 1
        and isinstance(statement.targets[0], ast.Name)
        for statement in body
    )


def invariant_call_in_loop(module: PythonModule) -> list[Finding]:
    """`sorted(x)`, `set(x)`, `",".join(x)`… of names the loop never touches: the same result rebuilt per iteration."""
    findings: list[Finding] = []
    for node, scope in module.expressions:
        if not isinstance(node, ast.Call):
            continue
        callee = _hoistable_callee(node, scope, module)
        arguments = [*node.args, *(keyword.value for keyword in node.keywords)]
        if callee is None or not arguments or any(keyword.arg is None for keyword in node.keywords):
            continue
        if not all(scope.is_invariant(argument) and not isinstance(argument, ast.Starred) for argument in arguments):
            continue
        if not any(isinstance(child, ast.Name) for argument in arguments for child in ast.walk(argument)):
            continue
        mutable = callee in _BUILTINS_WITH_FRESH_MUTABLE_RESULT
        if mutable and not _keeps_result_private(module, node):
            continue
        rationale = (
            f"`{describe(node)}` depends only on names that {describe_loop(scope.loop)} never changes, yet it is "
            "computed again on every iteration; computing it once before the loop gives the same value."
        )
        findings.append(
            _finding(
                "invariant-call-in-loop",
                node,
                rationale,
                risk="low",
                impact="medium",
                template="hoist-invariant-call" if _is_hoistable_assignment(node, scope, callee) else None,
            )
        )
    return findings


PYTHON_RULES: tuple[Callable[[PythonModule], list[Finding]], ...] = (
    list_membership_in_loop,
    regex_in_loop,
    json_parse_in_loop,
    string_concat_in_loop,
    independent_awaits_in_loop,
    lookups_in_loop_condition,
    pure_call_with_constants_in_loop,
    sync_file_io_in_route,
    invariant_call_in_loop,
)
