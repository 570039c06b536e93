"""JavaScript and TypeScript read through tree-sitter: the parse, and where an expression runs once per iteration.

The grammars come as wheels (`tree-sitter-javascript`, `tree-sitter-typescript`), so nothing is compiled or
downloaded at run time. A loop here is a `for`, `for…of`/`for…in`, `while` or `do` statement, and also the callback
handed to an iterating array method (`items.forEach(item => …)`), whose body runs once per element just the same.
As in the Python scan, a name counts as changed by a loop when the loop assigns it, declares it, stores into it, calls
a mutating method on it or passes it to a call; functions nested in the loop count too, since they share its names.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache

import tree_sitter_javascript
import tree_sitter_typescript
from tree_sitter import Language, Node, Parser

FUNCTION_TYPES = frozenset(
    {
        "function_declaration", "function_expression", "arrow_function", "method_definition",
        "generator_function_declaration", "generator_function", "function",
    }
)  # fmt: skip
LOOP_TYPES = frozenset({"for_statement", "for_in_statement", "while_statement", "do_statement"})
ITERATING_METHODS = frozenset({"forEach", "map", "filter", "reduce", "reduceRight", "some", "every", "find", "flatMap"})
MUTATING_METHODS = frozenset(
    {
        "push",
        "pop",
        "shift",
        "unshift",
        "splice",
        "sort",
        "reverse",
        "fill",
        "copyWithin",
        "set",
        "add",
        "delete",
        "clear",
    }
)
# Calls known to leave their arguments alone, so passing a name to them does not count as changing it.
_NON_MUTATING_CALLEES = frozenset({"JSON.stringify", "JSON.parse", "String", "Number", "Boolean", "console.log"})


@cache
def _parser(grammar: str) -> Parser:
    if grammar == "typescript":
        language = Language(tree_sitter_typescript.language_typescript())
    elif grammar == "tsx":
        language = Language(tree_sitter_typescript.language_tsx())
    else:
        language = Language(tree_sitter_javascript.language())
    return Parser(language)


def parse_tree(source: bytes, grammar: str) -> Node | None:
    """The root node, or None when the source has a syntax error: a half-understood file gives wrong findings."""
    root = _parser(grammar).parse(source).root_node
    return None if root.has_error else root


def text(node: Node | None) -> str:
    return "" if node is None or node.text is None else node.text.decode("utf-8", errors="replace")


def field(node: Node, name: str) -> Node | None:
    return node.child_by_field_name(name)


def walk(node: Node) -> Iterator[Node]:
    """`node` and every node below it, depth first."""
    pending = [node]
    while pending:
        current = pending.pop()
        yield current
        pending.extend(reversed(current.named_children))


def walk_own(node: Node) -> Iterator[Node]:
    """Like `walk`, without entering the bodies of nested functions (they run when called, not here)."""
    pending = list(reversed(node.named_children))
    while pending:
        current = pending.pop()
        yield current
        if current.type not in FUNCTION_TYPES and current.type != "class_declaration":
            pending.extend(reversed(current.named_children))


def root_name(node: Node | None) -> str | None:
    """`a` for `a`, `a.b.c`, `a[i]`, `this` for `this.x`: the name whose object a chain reads."""
    while node is not None and node.type in {"member_expression", "subscript_expression", "parenthesized_expression"}:
        node = field(node, "object") if node.type != "parenthesized_expression" else node.named_children[0]
    if node is None:
        return None
    if node.type in {"identifier", "this", "shorthand_property_identifier"}:
        return text(node)
    return None


def callee_text(call: Node) -> str:
    return " ".join(text(field(call, "function")).split())


def call_arguments(call: Node) -> list[Node]:
    arguments = field(call, "arguments")
    return [] if arguments is None else [child for child in arguments.named_children if child.type != "comment"]


def method_name(call: Node) -> str | None:
    """`push` for `xs.push(…)`: the property a call invokes, or None for a plain function call."""
    function = field(call, "function")
    if function is not None and function.type == "member_expression":
        return text(field(function, "property"))
    return None


def declared_names(pattern: Node | None) -> set[str]:
    """The names a declaration or parameter pattern binds (`x`, `{a, b: c}`, `[d, ...e]`)."""
    if pattern is None:
        return set()
    if pattern.type in {"identifier", "shorthand_property_identifier_pattern"}:
        return {text(pattern)}
    names: set[str] = set()
    for child in walk(pattern):
        if child.type in {"identifier", "shorthand_property_identifier_pattern"}:
            parent = child.parent
            if parent is not None and parent.type == "pair_pattern" and field(parent, "key") == child:
                continue
            names.add(text(child))
    return names


def parameter_names(function: Node) -> list[str]:
    """Parameter names in order; a destructured parameter gives an empty name so that positions stay right."""
    parameters = field(function, "parameters") or field(function, "parameter")
    if parameters is None:
        return []
    if parameters.type == "identifier":
        return [text(parameters)]
    names: list[str] = []
    for child in parameters.named_children:
        pattern = field(child, "pattern") if child.type in {"required_parameter", "optional_parameter"} else child
        names.append(text(pattern) if pattern is not None and pattern.type == "identifier" else "")
    return names


def names_read(node: Node) -> set[str]:
    return {
        text(child) for child in walk(node) if child.type in {"identifier", "shorthand_property_identifier", "this"}
    }


def touched_names(nodes: Iterator[Node]) -> set[str]:
    """The names these nodes may rebind or change, erring on the side of "changed"."""
    touched: set[str] = set()
    for node in nodes:
        if node.type in {"assignment_expression", "augmented_assignment_expression"}:
            left = field(node, "left")
            name = root_name(left)
            touched.update({name} if name else declared_names(left))
        elif node.type == "update_expression" or (
            node.type == "unary_expression" and text(field(node, "operator")) == "delete"
        ):
            name = root_name(field(node, "argument"))
            if name:
                touched.add(name)
        elif node.type == "variable_declarator":
            touched.update(declared_names(field(node, "name")))
        elif node.type in {"function_declaration", "class_declaration", "generator_function_declaration"}:
            touched.add(text(field(node, "name")))
        elif node.type == "call_expression":
            touched.update(_names_a_call_may_change(node))
    return touched


def _names_a_call_may_change(call: Node) -> set[str]:
    names: set[str] = set()
    function = field(call, "function")
    if method_name(call) in MUTATING_METHODS and function is not None:
        name = root_name(field(function, "object"))
        if name:
            names.add(name)
    callee = callee_text(call)
    if callee not in _NON_MUTATING_CALLEES and not callee.startswith("Math."):
        for argument in call_arguments(call):
            value = argument.named_children[0] if argument.type == "spread_element" else argument
            name = root_name(value)
            if name:
                names.add(name)
    return names


@dataclass(frozen=True)
class JsLoop:
    """One loop as seen from an expression inside it: its variables and every name it may change."""

    node: Node
    description: str
    variables: frozenset[str]
    touched: frozenset[str]

    def is_invariant(self, node: Node) -> bool:
        """A literal, or a name or member chain (no call inside) the loop never changes."""
        if node.type in {"string", "number", "true", "false", "null"}:
            return True
        if node.type == "template_string":
            return not any(child.type == "template_substitution" for child in node.named_children)
        if node.type not in {"identifier", "member_expression", "this"}:
            return False
        return all(
            child.type not in {"call_expression", "subscript_expression", "new_expression"} for child in walk(node)
        ) and not (names_read(node) & self.touched)


def iterating_callback(call: Node) -> Node | None:
    """The callback of `xs.forEach(x => …)` and friends, whose body runs once per element."""
    if call.type != "call_expression" or method_name(call) not in ITERATING_METHODS:
        return None
    arguments = call_arguments(call)
    if arguments and arguments[0].type in {"arrow_function", "function_expression", "function"}:
        return arguments[0]
    return None


def _describe_loop(node: Node) -> str:
    line = node.start_point[0] + 1
    if node.type == "for_in_statement":
        kind = f"`for…{text(field(node, 'operator')) or 'of'}` loop"
    elif node.type in FUNCTION_TYPES:
        parent = node.parent.parent if node.parent is not None else None
        kind = f"`.{method_name(parent)}` callback" if parent is not None else "callback"
    else:
        kind = {"for_statement": "`for` loop", "while_statement": "`while` loop", "do_statement": "`do` loop"}[
            node.type
        ]
    return f"the {kind} at line {line}"


def _make_loop(node: Node, outer: JsLoop | None) -> JsLoop:
    if node.type in FUNCTION_TYPES:
        variables = {name for name in parameter_names(node) if name}
    elif node.type == "for_in_statement":
        variables = declared_names(field(node, "left")) | ({root_name(field(node, "left")) or ""} - {""})
    elif node.type == "for_statement":
        initializer = field(node, "initializer")
        variables = touched_names(walk(initializer)) if initializer is not None else set()
    else:
        variables = set()
    per_iteration = [field(node, name) for name in ("condition", "increment", "body", "left")]
    touched = set(variables)
    for part in per_iteration:
        if part is not None:
            touched |= touched_names(walk(part))
    if outer is not None:
        touched |= outer.touched
    return JsLoop(node, _describe_loop(node), frozenset(variables), frozenset(touched))


def loop_expressions(root: Node) -> Iterator[tuple[Node, JsLoop]]:
    """Each node that runs once per iteration of some loop, with its innermost loop."""
    yield from _visit(root, None)


def _visit(node: Node, loop: JsLoop | None) -> Iterator[tuple[Node, JsLoop]]:
    if node.type in LOOP_TYPES:
        inner = _make_loop(node, loop)
        if loop is not None:
            yield node, loop
        for index, child in enumerate(node.children):
            name = node.field_name_for_child(index)
            once = name in {"initializer", "right"}
            yield from _visit(child, loop if once else inner)
        return
    if node.type in FUNCTION_TYPES:
        for child in node.children:
            yield from _visit(child, None)
        return
    callback = iterating_callback(node)
    if callback is not None:
        inner = _make_loop(callback, loop)
        if loop is not None:
            yield node, loop
        for child in node.children:
            if child.type == "arguments":
                for argument in child.children:
                    if argument == callback:
                        for part in argument.children:
                            yield from _visit(part, inner)
                    else:
                        yield from _visit(argument, loop)
            else:
                yield from _visit(child, loop)
        return
    if node.type in {"return_statement", "throw_statement"}:
        # Runs at most once per call of the function however many iterations came before: not per-iteration work.
        loop = None
    if loop is not None:
        yield node, loop
    for child in node.children:
        yield from _visit(child, loop)
