"""The JavaScript and TypeScript rules of the static scan, each a small function from a parsed file to its findings.

The rules know V8: `for (…; i < arr.length; …)` on a local array and `s += …` on strings are already fast there
(the length load is hoisted, strings are ropes), so they are not reported; what is reported is work the engine cannot
drop because it cannot see that it repeats, such as a property chain re-read around calls, a `JSON.parse` of the same
text, a `new RegExp`, or a membership scan of an array that a `Set` would answer at once. A finding names a patch
template only where one rewrites that shape in JavaScript (none does yet for a hoisted length or a memoized call, nor
for a fused filter→map or map→map, nor for blocking fs calls other than `readFileSync`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from tree_sitter import Node

from agentlab.repo_optimize.scan.js_syntax import (
    FUNCTION_TYPES,
    JsLoop,
    call_arguments,
    callee_text,
    declared_names,
    loop_expressions,
    method_name,
    names_read,
    parameter_names,
    root_name,
    text,
    touched_names,
    walk,
    walk_own,
)
from agentlab.repo_optimize.scan.js_syntax import field as child_field
from agentlab.repo_optimize.scan.models import Finding, Level

_DESCRIBED_CHARS = 80
_LARGE_LITERAL_ITEMS = 8
_ROUTE_METHODS = frozenset({"get", "post", "put", "patch", "delete", "all", "use", "options", "head"})
_NEST_ROUTE_DECORATORS = frozenset({"Get", "Post", "Put", "Patch", "Delete", "All", "Options", "Head"})
_NEXT_ROUTE_EXPORTS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"})
_REQUEST_NAMES = frozenset({"req", "request"})
_RESPONSE_NAMES = frozenset({"res", "response", "reply"})
_FS_SYNC_FUNCTIONS = frozenset(
    {
        "readFileSync", "writeFileSync", "appendFileSync", "readdirSync", "statSync", "lstatSync", "existsSync",
        "mkdirSync", "unlinkSync", "copyFileSync", "renameSync", "rmSync", "rmdirSync", "accessSync", "openSync",
        "readSync", "writeSync",
    }
)  # fmt: skip
# The fs calls the "async-fs-in-handler" template rewrites; the other blocking calls are reported without one.
_ASYNC_FS_TEMPLATES = {"readFileSync": "async-fs-in-handler"}
_ARRAY_PRODUCING_METHODS = frozenset({"map", "filter", "slice", "concat", "split", "flat", "flatMap", "toSorted"})
_ARRAY_PRODUCING_CALLS = frozenset({"Array.from", "Array.of", "Object.keys", "Object.values", "Object.entries"})
_FUSABLE_CHAINS = frozenset({("map", "filter"), ("filter", "map"), ("map", "map")})
_LITERAL_TYPES = frozenset({"string", "number", "true", "false", "null", "undefined"})
_PURE_GLOBALS = frozenset({"Math", "undefined", "Infinity", "NaN"})
_ORDER_OPERATORS = frozenset({"<", "<=", ">", ">=", "!=", "!=="})
_STOPPING_STATEMENTS = frozenset(
    {"break_statement", "continue_statement", "return_statement", "throw_statement", "yield_expression"}
)


def describe(node: Node | None) -> str:
    """The code of `node` without its comments, shortened for a sentence."""
    if node is None:
        return ""
    raw = node.text or b""
    for comment in sorted((child for child in walk(node) if child.type == "comment"), key=lambda c: -c.start_byte):
        start, end = comment.start_byte - node.start_byte, comment.end_byte - node.start_byte
        raw = raw[:start] + b" " + raw[end:]
    code = " ".join(raw.decode("utf-8", errors="replace").split())
    return code if len(code) <= _DESCRIBED_CHARS else code[: _DESCRIBED_CHARS - 1] + "…"


def _finding(rule: str, node: Node, rationale: str, *, risk: Level, impact: Level, template: str | None) -> Finding:
    return Finding(
        type=rule,
        start_line=node.start_point[0] + 1,
        end_line=node.end_point[0] + 1,
        rationale=rationale,
        risk=risk,
        expected_impact=impact,
        template=template,
    )


def _scope_of(node: Node) -> Node:
    """The function (or the program) whose names `node` sees first."""
    current = node.parent
    while current is not None and current.type not in FUNCTION_TYPES and current.type != "program":
        current = current.parent
    return current if current is not None else node


def _is_literal(node: Node) -> bool:
    if node.type in _LITERAL_TYPES:
        return True
    if node.type == "template_string":
        return not any(child.type == "template_substitution" for child in node.named_children)
    if node.type == "unary_expression" and text(child_field(node, "operator")) == "-":
        argument = child_field(node, "argument")
        return argument is not None and argument.type == "number"
    return False


@dataclass
class JsModule:
    """One parsed file with what several rules need: per-iteration expressions, bindings and request handlers."""

    root: Node
    expressions: list[tuple[Node, JsLoop]]
    bindings: dict[tuple[int, str], list[Node]] = field(default_factory=dict)
    reassigned: set[str] = field(default_factory=set)
    handlers: list[tuple[Node, str]] = field(default_factory=list)

    @classmethod
    def build(cls, root: Node) -> JsModule:
        module = cls(root, list(loop_expressions(root)))
        for node in walk(root):
            if node.type == "variable_declarator":
                for name in declared_names(child_field(node, "name")):
                    module.bindings.setdefault((_scope_of(node).id, name), []).append(node)
            elif node.type in {"required_parameter", "optional_parameter", "identifier"} and (
                node.parent is not None and node.parent.type == "formal_parameters"
            ):
                function = node.parent.parent
                if function is not None:
                    for name, binding in _parameter_bindings(node):
                        module.bindings.setdefault((function.id, name), []).append(binding)
            elif node.type in {"assignment_expression", "augmented_assignment_expression", "update_expression"}:
                target = child_field(node, "left") or child_field(node, "argument")
                if target is not None and target.type == "identifier":
                    module.reassigned.add(text(target))
        module.handlers = _request_handlers(root)
        return module

    def binding_of(self, name: str, usage: Node) -> list[Node]:
        """The declarations (or parameters) of `name` in the nearest scope around `usage` that declares it."""
        scope: Node | None = usage
        while scope is not None:
            scope = _scope_of(scope) if scope.type != "program" else None
            if scope is None:
                break
            found = self.bindings.get((scope.id, name))
            if found:
                return found
            if scope.type == "program":
                break
        return []

    def names_an_array(self, name: str, usage: Node) -> bool:
        """True when `name` is never reassigned and every declaration of it makes (or is typed as) an array."""
        found = self.binding_of(name, usage)
        return bool(found) and name not in self.reassigned and all(_declares_array(binding) for binding in found)


def _parameter_bindings(parameter: Node) -> list[tuple[str, Node]]:
    """(name, binding) for each name a parameter binds; a destructured name is bound to its member of the type."""
    pattern = child_field(parameter, "pattern") if parameter.type != "identifier" else parameter
    names = declared_names(pattern)
    annotation = child_field(parameter, "type")
    if pattern is None or pattern.type != "object_pattern" or annotation is None:
        return [(name, parameter) for name in names]
    members = {
        text(child_field(member, "name")): member
        for member in walk(annotation)
        if member.type == "property_signature" and member.parent is not None and member.parent.parent == annotation
    }
    return [(name, members.get(name, pattern)) for name in names]


def _is_array_type(annotation: Node | None) -> bool:
    if annotation is None:
        return False
    for node in walk(annotation):
        if node.type == "array_type":
            return True
        if node.type == "generic_type" and text(child_field(node, "name")) in {"Array", "ReadonlyArray"}:
            return True
        if node.type in {"union_type", "function_type"} or (node.type == "object_type" and node != annotation):
            return False
    return False


def _is_array_value(value: Node | None) -> bool:
    if value is None:
        return False
    if value.type == "array":
        return True
    if value.type == "new_expression":
        return text(child_field(value, "constructor")) == "Array"
    if value.type == "call_expression":
        return callee_text(value) in _ARRAY_PRODUCING_CALLS or method_name(value) in _ARRAY_PRODUCING_METHODS
    if value.type in {"as_expression", "satisfies_expression", "parenthesized_expression"}:
        return _is_array_value(value.named_children[0])
    return False


def _declares_array(binding: Node) -> bool:
    if binding.type == "variable_declarator":
        return _is_array_type(child_field(binding, "type")) or (
            child_field(binding, "type") is None and _is_array_value(child_field(binding, "value"))
        )
    return _is_array_type(child_field(binding, "type"))


def _array_receiver(module: JsModule, receiver: Node | None, loop: JsLoop) -> tuple[str, Level, Level] | None:
    """(what, risk, impact) when `receiver` is an array literal or a name bound to an array the loop leaves alone."""
    if receiver is None:
        return None
    if receiver.type == "array":
        items = [child for child in receiver.named_children if child.type != "comment"]
        if not items:
            return None
        literal = all(_is_literal(item) for item in items)
        impact: Level = "medium" if len(items) >= _LARGE_LITERAL_ITEMS else "low"
        return f"the array literal of {len(items)} items", ("low" if literal else "medium"), impact
    if receiver.type == "identifier":
        name = text(receiver)
        if name not in loop.touched and module.names_an_array(name, receiver):
            return f"the array `{name}`", "medium", "high"
    return None


def _is_not_found_comparison(comparison: Node) -> bool:
    """`… !== -1`, `… >= 0`, `… === -1`, `… > -1`, `… < 0`: the ways an `indexOf` result is tested for membership."""
    operator = text(child_field(comparison, "operator"))
    if operator not in {"!==", "!=", "===", "==", ">", ">=", "<"}:
        return False
    other = [child_field(comparison, "left"), child_field(comparison, "right")]
    values = {text(node).replace(" ", "") for node in other if node is not None and node.type != "call_expression"}
    return bool(values & {"-1", "0"})


def array_membership_in_loop(module: JsModule) -> list[Finding]:
    """`arr.includes(x)` or `arr.indexOf(x) !== -1` on an array inside a loop: a scan where a `Set` is constant time."""
    findings: list[Finding] = []
    for node, loop in module.expressions:
        if node.type != "call_expression" or method_name(node) not in {"includes", "indexOf"}:
            continue
        reported = node
        if method_name(node) == "indexOf":
            parent = node.parent
            if parent is None or parent.type != "binary_expression" or not _is_not_found_comparison(parent):
                continue
            reported = parent
        function = child_field(node, "function")
        receiver_node = child_field(function, "object") if function else None
        receiver = _array_receiver(module, receiver_node, loop)
        if receiver is None or len(call_arguments(node)) != 1:
            continue
        what, risk, impact = receiver
        # The template rewrites `[literals].includes(x)`; other arrays are left to a model's patch.
        literal_includes = (
            method_name(node) == "includes" and receiver_node is not None and receiver_node.type == "array"
        )
        rationale = (
            f"`{describe(reported)}` scans {what} one element at a time on each iteration of {loop.description}; "
            "a `Set` built once answers `has` in constant time with the same equality (SameValueZero)."
        )
        findings.append(
            _finding(
                "list-membership-in-loop",
                reported,
                rationale,
                risk=risk,
                impact=impact,
                template="list-to-set-membership" if literal_includes else None,
            )
        )
    return findings


def regexp_in_loop(module: JsModule) -> list[Finding]:
    """`new RegExp(p)` with an invariant pattern inside a loop: a new object (and a cache lookup) per iteration."""
    findings: list[Finding] = []
    for node, loop in module.expressions:
        if node.type != "new_expression" or text(child_field(node, "constructor")) != "RegExp":
            continue
        arguments_node = child_field(node, "arguments")
        arguments = [] if arguments_node is None else list(arguments_node.named_children)
        if not arguments or len(arguments) > 2 or not all(loop.is_invariant(argument) for argument in arguments):
            continue
        flags = text(arguments[1]).strip("'\"`") if len(arguments) == 2 else ""
        stateful = len(arguments) == 2 and (not _is_literal(arguments[1]) or "g" in flags or "y" in flags)
        rationale = (
            f"`{describe(node)}` builds the same regular expression on every iteration of {loop.description}; it "
            "can be built once before the loop"
            + (" (with care: a `g` or `y` regex keeps `lastIndex` between uses)." if stateful else ".")
        )
        findings.append(
            _finding(
                "regex-compile-in-loop",
                node,
                rationale,
                risk="medium" if stateful else "low",
                impact="low",
                # The template shares one RegExp of string literals; a stateful one or a variable pattern is not.
                template=None
                if stateful or not all(item.type == "string" for item in arguments)
                else "hoist-regex-compile",
            )
        )
    return findings


def json_parse_in_loop(module: JsModule) -> list[Finding]:
    """`JSON.parse(v)` of a value the loop never changes: the same text parsed on every iteration."""
    findings: list[Finding] = []
    for node, loop in module.expressions:
        if node.type != "call_expression" or callee_text(node) != "JSON.parse" or "JSON" in loop.touched:
            continue
        arguments = call_arguments(node)
        if len(arguments) != 1 or not loop.is_invariant(arguments[0]):
            continue
        rationale = (
            f"`{describe(node)}` parses the same text on every iteration of {loop.description}; parsing once before "
            "the loop is enough, provided the loop does not change the parsed object."
        )
        findings.append(
            _finding("json-parse-in-loop", node, rationale, risk="medium", impact="medium", template="hoist-json-parse")
        )
    return findings


def _is_async(function: Node | None) -> bool:
    return function is not None and any(child.type == "async" for child in function.children)


def _await_is_independent(loop: Node) -> Node | None:
    """The awaited call when the loop's only `await` reads nothing an earlier iteration could have changed."""
    body = child_field(loop, "body")
    if body is None or any(child.type == "await" for child in loop.children):
        return None
    nodes = list(walk_own(body))
    awaits = [node for node in nodes if node.type == "await_expression"]
    if len(awaits) != 1 or any(node.type in _STOPPING_STATEMENTS for node in nodes):
        return None
    awaited = awaits[0].named_children[0] if awaits[0].named_children else None
    if awaited is None or awaited.type != "call_expression":
        return None
    variables: set[str] = set()
    header = [child_field(loop, name) for name in ("left", "initializer", "increment")]
    for part in header:
        if part is not None:
            variables |= declared_names(part) if part.type == "identifier" else touched_names(walk(part))
    if root_name(child_field(awaited, "function")) in variables:
        # Awaiting each item itself (hooks, cleanups) is usually ordered on purpose.
        return None
    changed = touched_names(walk(body)) - variables
    for node in nodes:
        if node.type == "call_expression" and node != awaited:
            function = child_field(node, "function")
            receiver = root_name(child_field(function, "object")) if function is not None else None
            if receiver:
                changed.add(receiver)
    allowed: set[str] = set()
    for statement in body.named_children:
        if statement.start_byte <= awaited.start_byte < statement.end_byte:
            break
        if statement.type == "lexical_declaration":
            for declarator in statement.named_children:
                value = child_field(declarator, "value")
                if (
                    declarator.type == "variable_declarator"
                    and value is not None
                    and not (names_read(value) & (changed - allowed))
                ):
                    allowed |= declared_names(child_field(declarator, "name"))
    return None if names_read(awaited) & (changed - allowed) else awaited


def independent_awaits_in_loop(module: JsModule) -> list[Finding]:
    """A `for` loop in an async function awaiting one call per item, where no call needs the previous result."""
    findings: list[Finding] = []
    for loop in walk(module.root):
        if loop.type not in {"for_statement", "for_in_statement"}:
            continue
        scope = _scope_of(loop)
        if scope.type != "program" and not _is_async(scope):
            continue
        awaited = _await_is_independent(loop)
        if awaited is None:
            continue
        rationale = (
            f"the loop at line {loop.start_point[0] + 1} waits for `{describe(awaited)}` one item at a time, though "
            "no call needs the previous one's result; `Promise.all` runs them concurrently, so the loop takes about "
            "as long as its slowest call."
        )
        findings.append(
            _finding(
                "independent-awaits-in-loop",
                loop,
                rationale,
                risk="medium",
                impact="high",
                template="promise-all-independent-awaits",
            )
        )
    return findings


def _is_simple_callback(node: Node) -> bool:
    if node.type == "arrow_function":
        body = child_field(node, "body")
        return body is not None and body.type != "statement_block"
    return node.type == "identifier"


def _chain_link(call: Node) -> tuple[str, Node] | None:
    """(method, receiver call) when `call` is `<call>.map(…)` or `<call>.filter(…)`."""
    name = method_name(call)
    function = child_field(call, "function")
    receiver = child_field(function, "object") if function is not None else None
    if name in {"map", "filter"} and receiver is not None and receiver.type == "call_expression":
        return name, receiver
    return None


def _continues_chain(call: Node) -> bool:
    """True when `call` is itself the receiver of a further fusable step, which is reported instead."""
    member = call.parent
    outer = member.parent if member is not None else None
    if member is None or outer is None or member.type != "member_expression" or outer.type != "call_expression":
        return False
    link = _chain_link(outer)
    first = method_name(call)
    return link is not None and link[1] == call and (first, link[0]) in _FUSABLE_CHAINS


def chained_map_filter(module: JsModule) -> list[Finding]:
    """`.map(…).filter(…)` (or filter→map, map→map) in a loop or a request handler: an array built only to be read."""
    findings: list[Finding] = []
    in_loop = {node.id: loop.description for node, loop in module.expressions}
    handler_of: dict[int, str] = {}
    for handler, description in module.handlers:
        for node in walk(handler):
            handler_of.setdefault(node.id, description)
    for node in walk(module.root):
        if node.type != "call_expression":
            continue
        link = _chain_link(node)
        if link is None or (method_name(link[1]), link[0]) not in _FUSABLE_CHAINS or _continues_chain(node):
            continue
        where = in_loop.get(node.id) or handler_of.get(node.id)
        if where is None:
            continue
        callbacks = [*call_arguments(link[1])[:1], *call_arguments(node)[:1]]
        simple = len(callbacks) == 2 and all(_is_simple_callback(callback) for callback in callbacks)
        rationale = (
            f"`{describe(node)}` in {where} builds an intermediate array with `.{method_name(link[1])}` only to walk "
            f"it again with `.{link[0]}`; one pass (a loop or a single `reduce`/`flatMap`) allocates once."
        )
        findings.append(
            _finding(
                "chained-map-filter",
                node,
                rationale,
                risk="low" if simple else "medium",
                impact="medium" if node.id in in_loop else "low",
                template="fuse-map-filter" if (method_name(link[1]), link[0]) == ("map", "filter") else None,
            )
        )
    return findings


def property_length_in_loop_condition(module: JsModule) -> list[Finding]:
    """`for (…; i < this.items.length; …)` around calls: V8 must reload the chain before every test."""
    findings: list[Finding] = []
    for loop in walk(module.root):
        if loop.type != "for_statement":
            continue
        condition, body = child_field(loop, "condition"), child_field(loop, "body")
        if condition is None or body is None:
            continue
        if condition.type == "expression_statement" and condition.named_children:
            condition = condition.named_children[0]
        if condition.type != "binary_expression" or text(child_field(condition, "operator")) not in _ORDER_OPERATORS:
            continue
        length = next(
            (
                side
                for side in (child_field(condition, "left"), child_field(condition, "right"))
                if side is not None
                and side.type == "member_expression"
                and text(child_field(side, "property")) == "length"
                and (chain := child_field(side, "object")) is not None
                and chain.type == "member_expression"
            ),
            None,
        )
        if length is None:
            continue
        name = root_name(length)
        body_nodes = list(walk(body))
        calls = [node for node in body_nodes if node.type == "call_expression"]
        if name is None or not calls or name in touched_names(iter(body_nodes)):
            continue
        receivers = {root_name(child_field(child_field(call, "function") or call, "object")) for call in calls}
        if name in receivers:
            continue
        rationale = (
            f"the condition of the `for` loop at line {loop.start_point[0] + 1} re-reads `{describe(length)}` before "
            "every iteration, and the calls in the body keep the engine from proving it unchanged; the loop never "
            "changes it, so reading it once before the loop is enough."
        )
        findings.append(_finding("len-in-loop-condition", length, rationale, risk="low", impact="low", template=None))
    return findings


def _top_level_functions(root: Node) -> dict[str, Node]:
    """Functions declared at the top of the file, by name: `function f(){}` and `const f = (…) => …`."""
    functions: dict[str, Node] = {}
    for statement in root.named_children:
        declaration = child_field(statement, "declaration") if statement.type == "export_statement" else statement
        if declaration is None:
            continue
        if declaration.type == "function_declaration":
            functions[text(child_field(declaration, "name"))] = declaration
        elif declaration.type == "lexical_declaration" and any(child.type == "const" for child in declaration.children):
            for declarator in declaration.named_children:
                value = child_field(declarator, "value")
                name = child_field(declarator, "name")
                if value is not None and name is not None and value.type in {"arrow_function", "function_expression"}:
                    functions[text(name)] = value
    return functions


def _top_level_constants(root: Node) -> set[str]:
    constants: set[str] = set()
    for statement in root.named_children:
        if statement.type == "lexical_declaration" and any(child.type == "const" for child in statement.children):
            for declarator in statement.named_children:
                value = child_field(declarator, "value")
                if value is not None and _is_literal(value):
                    constants.add(text(child_field(declarator, "name")))
    return constants


def _looks_pure(function: Node, pure: set[str], constants: set[str]) -> bool:
    """No side effect visible in the body: it reads only its locals, constants, `Math` and other pure functions."""
    body = child_field(function, "body")
    if body is None or _is_async(function):
        return False
    nodes = list(walk(body))
    forbidden = {"this", "await_expression", "yield_expression", "new_expression", "subscript_expression"}
    local = {name for name in parameter_names(function) if name}
    local |= {
        name
        for node in nodes
        if node.type == "variable_declarator"
        for name in declared_names(child_field(node, "name"))
    }
    for node in nodes:
        if node.type == "member_expression":
            if text(child_field(node, "object")) != "Math" and not _reads_local_length(node, local):
                return False
        elif node.type in forbidden:
            return False
        if node.type in {"assignment_expression", "augmented_assignment_expression", "update_expression"}:
            target = child_field(node, "left") or child_field(node, "argument")
            if target is None or target.type != "identifier" or text(target) not in local:
                return False
        if node.type == "call_expression":
            callee = child_field(node, "function")
            if callee is None or not (
                (callee.type == "identifier" and text(callee) in pure)
                or (callee.type == "member_expression" and text(child_field(callee, "object")) == "Math")
            ):
                return False
        if node.type == "identifier" and text(node) not in local | pure | constants | _PURE_GLOBALS:
            return False
    return any(
        node.type in {"call_expression", "for_statement", "while_statement", "for_in_statement"} for node in nodes
    )


def _reads_local_length(member: Node, local: set[str]) -> bool:
    """`xs.length` of a local or a parameter: a read that changes nothing."""
    return root_name(member) in local and text(child_field(member, "property")) == "length"


def _pure_functions(root: Node) -> set[str]:
    candidates = _top_level_functions(root)
    pure = set(candidates)
    constants = _top_level_constants(root)
    changed = True
    while changed:
        changed = False
        for name in sorted(pure):
            if not _looks_pure(candidates[name], pure, constants):
                pure.discard(name)
                changed = True
    return pure


def pure_call_with_constants_in_loop(module: JsModule) -> list[Finding]:
    """A pure-looking function of this file called with the same literal arguments on every iteration."""
    pure = _pure_functions(module.root)
    findings: list[Finding] = []
    for node, loop in module.expressions:
        if node.type != "call_expression":
            continue
        callee = child_field(node, "function")
        if callee is None or callee.type != "identifier" or text(callee) not in pure or text(callee) in loop.touched:
            continue
        if (
            _scope_of(module.binding_of(text(callee), node)[0]).type != "program"
            if module.binding_of(text(callee), node)
            else False
        ):
            continue
        if not all(_is_literal(argument) for argument in call_arguments(node)):
            continue
        rationale = (
            f"`{describe(node)}` computes the same result on every iteration of {loop.description}: "
            f"`{text(callee)}` reads only its arguments and the arguments are literals; computing it once (or "
            "memoizing it) saves the work."
        )
        findings.append(_finding("pure-call-in-loop", node, rationale, risk="medium", impact="medium", template=None))
    return findings


def _decorator_names(method: Node) -> set[str]:
    """The decorators right before a class member (`@Get()` → `Get`), as tree-sitter keeps them as siblings."""
    names: set[str] = set()
    sibling = method.prev_named_sibling
    while sibling is not None and sibling.type == "decorator":
        names.add(_decorator_name(sibling))
        sibling = sibling.prev_named_sibling
    names.update(_decorator_name(child) for child in method.named_children if child.type == "decorator")
    return names


def _decorator_name(decorator: Node) -> str:
    expression = decorator.named_children[0] if decorator.named_children else None
    if expression is not None and expression.type == "call_expression":
        expression = child_field(expression, "function")
    return text(expression)


def _request_handlers(root: Node) -> list[tuple[Node, str]]:
    """Functions that run per request: Express/Fastify registrations, `(req, res)` functions, Nest and Next routes."""
    functions = _top_level_functions(root)
    handlers: dict[int, tuple[Node, str]] = {}
    for node in walk(root):
        line = node.start_point[0] + 1
        if node.type == "call_expression" and method_name(node) in _ROUTE_METHODS:
            arguments = call_arguments(node)
            if not arguments or arguments[0].type not in {"string", "template_string"}:
                continue
            for argument in arguments[1:]:
                target = functions.get(text(argument)) if argument.type == "identifier" else argument
                if target is not None and target.type in FUNCTION_TYPES:
                    handlers.setdefault(target.id, (target, f"the handler of `{callee_text(node)}` at line {line}"))
        elif node.type in FUNCTION_TYPES:
            parameters = parameter_names(node)
            name = text(child_field(node, "name"))
            exported = node.parent is not None and node.parent.type == "export_statement"
            if len(parameters) >= 2 and parameters[0] in _REQUEST_NAMES and parameters[1] in _RESPONSE_NAMES:
                handlers.setdefault(node.id, (node, f"the request handler at line {line}"))
            elif node.type == "method_definition" and _decorator_names(node) & _NEST_ROUTE_DECORATORS:
                handlers.setdefault(node.id, (node, f"the route method `{name}` at line {line}"))
            elif node.type == "function_declaration" and exported and name in _NEXT_ROUTE_EXPORTS:
                handlers.setdefault(node.id, (node, f"the route handler `{name}` at line {line}"))
    return list(handlers.values())


def _is_inline_route_function(handler: Node) -> bool:
    """Whether a handler is a function written in a route registration's arguments, the one the template rewrites.

    Making a Nest method, a Next route export or a named function async changes its signature for other callers,
    so those are left to a model's patch.
    """
    return handler.type in {"arrow_function", "function_expression", "function"} and (
        handler.parent is not None and handler.parent.type == "arguments"
    )


def sync_fs_in_handler(module: JsModule) -> list[Finding]:
    """`fs.readFileSync` and friends inside a request handler: the whole server waits for the disk."""
    findings: list[Finding] = []
    reported: set[int] = set()
    for handler, description in module.handlers:
        for node in walk(handler):
            if node.type != "call_expression" or node.id in reported:
                continue
            callee = child_field(node, "function")
            if callee is None:
                continue
            name = text(child_field(callee, "property")) if callee.type == "member_expression" else text(callee)
            if name not in _FS_SYNC_FUNCTIONS:
                continue
            reported.add(node.id)
            rationale = (
                f"`{describe(node)}` in {description} blocks the event loop while the disk answers, so every other "
                "request waits; the `fs.promises` form (or reading once at start-up) keeps the server responsive."
            )
            findings.append(
                _finding(
                    "sync-file-io-in-handler",
                    node,
                    rationale,
                    risk="medium",
                    impact="high",
                    template=_ASYNC_FS_TEMPLATES.get(name) if _is_inline_route_function(handler) else None,
                )
            )
    return findings


JS_RULES: tuple[Callable[[JsModule], list[Finding]], ...] = (
    array_membership_in_loop,
    regexp_in_loop,
    json_parse_in_loop,
    independent_awaits_in_loop,
    chained_map_filter,
    property_length_in_loop_condition,
    pure_call_with_constants_in_loop,
    sync_fs_in_handler,
)
