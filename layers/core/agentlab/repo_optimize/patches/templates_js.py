"""JavaScript and TypeScript templates: rewrites found and made through tree-sitter syntax trees, by byte ranges.

Each rewriter finds the node shape it knows inside the requested lines, checks everything that would make the
rewrite change behaviour, and splices new text over the node's bytes, so the rest of the file keeps its formatting
byte for byte. Anything unexpected raises TemplateNotApplicable with the reason instead of guessing.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import PurePosixPath

import tree_sitter_javascript
import tree_sitter_typescript
from tree_sitter import Language as GrammarLanguage
from tree_sitter import Node, Parser

from agentlab.repo_optimize.patches.models import Language, Rewrite, SourceSpan, TemplateNotApplicable

EXTENSION_LANGUAGES = {
    ".py": Language.PYTHON,
    ".js": Language.JAVASCRIPT,
    ".mjs": Language.JAVASCRIPT,
    ".cjs": Language.JAVASCRIPT,
    ".jsx": Language.JAVASCRIPT,
    ".ts": Language.TYPESCRIPT,
    ".mts": Language.TYPESCRIPT,
    ".cts": Language.TYPESCRIPT,
    ".tsx": Language.TSX,
}
LOOP_TYPES = frozenset({"for_statement", "for_in_statement", "while_statement", "do_statement"})
FUNCTION_TYPES = frozenset(
    {
        "function_declaration",
        "function_expression",
        "function",
        "arrow_function",
        "method_definition",
        "generator_function_declaration",
        "generator_function",
    }
)
STATEMENT_CONTAINERS = frozenset({"statement_block", "program"})
LITERAL_TYPES = frozenset({"string", "number", "true", "false", "null"})
ROUTE_METHODS = frozenset({"get", "post", "put", "patch", "delete", "all", "use", "options", "head"})
FS_MODULES = frozenset({"fs", "node:fs"})
# Flags that make a RegExp stateful through lastIndex: one shared object would carry state across iterations.
STATEFUL_REGEX_FLAGS = frozenset("gy")
# Where an `await` expression needs parentheses: as the object of a member access or the callee of a call.
AWAIT_NEEDS_PARENS = frozenset({"member_expression", "subscript_expression", "call_expression"})


def language_for_path(path: str) -> Language | None:
    """The language a file's extension names, None for files no template or import check reads."""
    return EXTENSION_LANGUAGES.get(PurePosixPath(path).suffix.lower())


@cache
def _grammar(language: Language) -> GrammarLanguage:
    """The tree-sitter grammar of a language, loaded once."""
    if language is Language.TYPESCRIPT:
        return GrammarLanguage(tree_sitter_typescript.language_typescript())
    if language is Language.TSX:
        return GrammarLanguage(tree_sitter_typescript.language_tsx())
    return GrammarLanguage(tree_sitter_javascript.language())


def parse_javascript(source: bytes, language: Language) -> Node:
    """The root node of a JavaScript or TypeScript source's syntax tree."""
    return Parser(_grammar(language)).parse(source).root_node


def imported_packages(text: str, language: Language) -> set[str]:
    """The bare specifiers a module imports (`import`, `require`, dynamic `import()`), relative paths left out."""
    root = parse_javascript(text.encode("utf-8"), language)
    specifiers: set[str] = set()
    for node in _walk(root):
        source: Node | None = None
        if node.type in ("import_statement", "export_statement"):
            source = node.child_by_field_name("source")
        elif node.type == "call_expression":
            function = node.child_by_field_name("function")
            arguments = node.child_by_field_name("arguments")
            loads_module = function is not None and (function.type == "import" or _node_text(function) == "require")
            if loads_module and arguments is not None:
                named = arguments.named_children
                source = named[0] if len(named) == 1 and named[0].type == "string" else None
        if source is not None and source.type == "string":
            specifier = _string_value(source)
            if specifier and not specifier.startswith((".", "/")) and ("://" not in specifier):
                specifiers.add(specifier)
    return specifiers


@dataclass(frozen=True)
class _Edit:
    """Bytes start..end of the source replaced by text."""

    start: int
    end: int
    text: str


class _Document:
    """A parsed source with the edits a rewriter collects, applied from the end so byte offsets stay valid."""

    def __init__(self, span: SourceSpan) -> None:
        self.span = span
        self.source = span.text.encode("utf-8")
        self.root = parse_javascript(self.source, span.language)
        if self.root.has_error:
            raise TemplateNotApplicable(f"{span.path} does not parse as {span.language.value}.")
        self.edits: list[_Edit] = []

    def text(self, node: Node) -> str:
        return self.source[node.start_byte : node.end_byte].decode("utf-8")

    def in_span(self, node: Node) -> bool:
        return self.span.overlaps(node.start_point[0] + 1, node.end_point[0] + 1)

    def nodes_in_span(self, node_type: str) -> Iterator[Node]:
        return (node for node in _walk(self.root) if node.type == node_type and self.in_span(node))

    def replace(self, node: Node, text: str) -> None:
        self.edits.append(_Edit(node.start_byte, node.end_byte, text))

    def insert_statement_before(self, statement: Node, text: str) -> None:
        """Insert a statement on its own line before another, at that statement's indentation."""
        line_start = self.source.rfind(b"\n", 0, statement.start_byte) + 1
        indent = self.source[line_start : statement.start_byte].decode("utf-8")
        if indent.strip():
            raise TemplateNotApplicable("the loop does not start its own line, so there is no place to hoist to.")
        self.edits.append(_Edit(line_start, line_start, f"{indent}{text}\n"))

    def remove_statement(self, statement: Node) -> None:
        """Remove a statement, and its whole line when it is alone on it."""
        line_start = self.source.rfind(b"\n", 0, statement.start_byte) + 1
        line_end = self.source.find(b"\n", statement.end_byte)
        line_end = len(self.source) if line_end < 0 else line_end + 1
        before = self.source[line_start : statement.start_byte]
        after = self.source[statement.end_byte : line_end]
        if before.strip() or after.strip():
            self.edits.append(_Edit(statement.start_byte, statement.end_byte, ""))
        else:
            self.edits.append(_Edit(line_start, line_end, ""))

    def fresh_name(self, base: str) -> str:
        """An identifier the file does not use anywhere, so hoisting it can shadow nothing."""
        used = {self.text(node) for node in _walk(self.root) if "identifier" in node.type}
        candidate, suffix = base, 2
        while candidate in used:
            candidate, suffix = f"{base}{suffix}", suffix + 1
        return candidate

    def result(self, explanation: str) -> Rewrite:
        output = self.source
        previous_start = len(output) + 1
        for edit in sorted(self.edits, key=lambda edit: (edit.start, edit.end), reverse=True):
            if edit.end > previous_start:
                raise TemplateNotApplicable("two rewrites of the same code overlap.")
            output = output[: edit.start] + edit.text.encode("utf-8") + output[edit.end :]
            previous_start = edit.start
        return Rewrite(text=output.decode("utf-8"), explanation=explanation)


def rewrite_includes_to_set(span: SourceSpan) -> Rewrite:
    """`[a, b].includes(x)` in a loop → a `new Set([a, b])` built once before the loop and `.has(x)`."""
    document = _Document(span)
    reasons: list[str] = []
    for call in document.nodes_in_span("call_expression"):
        function = call.child_by_field_name("function")
        if function is None or function.type != "member_expression":
            continue
        array = function.child_by_field_name("object")
        prop = function.child_by_field_name("property")
        if array is None or prop is None or array.type != "array" or document.text(prop) != "includes":
            continue
        arguments = _arguments(call)
        if len(arguments) != 1 or arguments[0].type == "spread_element":
            reasons.append(f"line {call.start_point[0] + 1}: `.includes` takes exactly one plain argument here.")
            continue
        if not array.named_children or not all(_is_literal(element) for element in array.named_children):
            reasons.append(f"line {call.start_point[0] + 1}: the array holds something other than literals.")
            continue
        loop = _outermost_hoistable_loop(call)
        if loop is None:
            reasons.append(f"line {call.start_point[0] + 1}: the membership test is not inside a loop.")
            continue
        name = document.fresh_name("knownValues")
        document.insert_statement_before(loop, f"const {name} = new Set({document.text(array)});")
        document.replace(call, f"{name}.has({document.text(arguments[0])})")
        return document.result(
            f"The array literal in `.includes` was rebuilt and scanned on every iteration; the Set `{name}` is "
            "built once before the loop and `.has` uses the same SameValueZero equality in constant time."
        )
    raise _not_applicable(span, "an array literal's `.includes(x)` inside a loop", reasons)


def rewrite_hoist_regexp(span: SourceSpan) -> Rewrite:
    """`new RegExp("literal")` in a loop → one RegExp built before the loop."""
    document = _Document(span)
    reasons: list[str] = []
    for new in document.nodes_in_span("new_expression"):
        constructor = new.child_by_field_name("constructor")
        if constructor is None or document.text(constructor) != "RegExp":
            continue
        arguments = _arguments(new)
        line = new.start_point[0] + 1
        if not 1 <= len(arguments) <= 2 or not all(argument.type == "string" for argument in arguments):
            reasons.append(f"line {line}: the pattern and flags are not both string literals.")
            continue
        flags = _string_value(arguments[1]) if len(arguments) == 2 else ""
        if flags is None or STATEFUL_REGEX_FLAGS & set(flags):
            reasons.append(f"line {line}: the flags make the RegExp stateful (lastIndex), so it cannot be shared.")
            continue
        loop = _outermost_hoistable_loop(new)
        if loop is None:
            reasons.append(f"line {line}: the RegExp is not built inside a loop.")
            continue
        name = document.fresh_name("pattern")
        document.insert_statement_before(loop, f"const {name} = {document.text(new)};")
        document.replace(new, name)
        return document.result(
            f"The RegExp was compiled again on every iteration; `{name}` is compiled once before the loop. Its flags "
            "have neither g nor y, so it keeps no state between uses."
        )
    raise _not_applicable(span, "a `new RegExp` of string literals inside a loop", reasons)


def rewrite_hoist_json_parse(span: SourceSpan) -> Rewrite:
    """`const c = JSON.parse(CONSTANT)` in a loop, read only → parsed once before the loop."""
    document = _Document(span)
    reasons: list[str] = []
    constants = _top_level_string_constants(document)
    for declaration in document.nodes_in_span("lexical_declaration"):
        declarators = [child for child in declaration.named_children if child.type == "variable_declarator"]
        if len(declarators) != 1:
            continue
        name_node = declarators[0].child_by_field_name("name")
        value = declarators[0].child_by_field_name("value")
        if name_node is None or value is None or name_node.type != "identifier" or value.type != "call_expression":
            continue
        function = value.child_by_field_name("function")
        if function is None or document.text(function) != "JSON.parse":
            continue
        line = declaration.start_point[0] + 1
        arguments = _arguments(value)
        parsed = _constant_json(document, arguments, constants)
        if parsed is None:
            reasons.append(f"line {line}: JSON.parse's argument is not a string constant holding valid JSON.")
            continue
        block = declaration.parent
        loop = block.parent if block is not None and block.type == "statement_block" else None
        if (
            block is None
            or loop is None
            or loop.type not in LOOP_TYPES
            or _outermost_hoistable_loop(declaration) is None
        ):
            reasons.append(f"line {line}: the declaration is not directly in a loop's body.")
            continue
        name = document.text(name_node)
        problem = _read_only_use_problem(document, name, name_node, block, parsed)
        if problem:
            reasons.append(f"line {line}: {problem}")
            continue
        hoist_before = _outermost_hoistable_loop(declaration)
        assert hoist_before is not None
        document.remove_statement(declaration)
        document.insert_statement_before(hoist_before, f"const {name} = {document.text(value)};")
        return document.result(
            f"`{name}` was parsed from the same constant JSON on every iteration; it is parsed once before the loop. "
            "The loop only reads scalar fields of it, so sharing one object changes nothing."
        )
    raise _not_applicable(span, "a `const x = JSON.parse(CONSTANT)` inside a loop", reasons)


def rewrite_promise_all(span: SourceSpan) -> Rewrite:
    """`for (const x of xs) { out.push(await f(x)); }` → `out.push(...(await Promise.all(xs.map((x) => f(x)))));`."""
    document = _Document(span)
    reasons: list[str] = []
    for loop in document.nodes_in_span("for_in_statement"):
        line = loop.start_point[0] + 1
        shape = _for_of_push_await(document, loop)
        if isinstance(shape, str):
            reasons.append(f"line {line}: {shape}")
            continue
        variable, iterable, output, awaited = shape
        document.replace(
            loop,
            f"{output}.push(...(await Promise.all({iterable}.map(({variable}) => {awaited}))));",
        )
        return document.result(
            f"Each `await` waited for the previous call before starting the next; the calls now run concurrently "
            f"with Promise.all and their results are pushed onto `{output}` in the same order. The calls must not "
            "depend on each other, and a rejection still rejects the whole loop."
        )
    raise _not_applicable(span, "a `for (const x of xs) { out.push(await f(x)); }` loop", reasons)


def rewrite_fuse_map_filter(span: SourceSpan) -> Rewrite:
    """`a.map(f).filter(g)` with one-parameter arrows → one `flatMap` pass without the intermediate array."""
    document = _Document(span)
    reasons: list[str] = []
    for outer in document.nodes_in_span("call_expression"):
        filter_member = outer.child_by_field_name("function")
        if filter_member is None or filter_member.type != "member_expression":
            continue
        filter_prop = filter_member.child_by_field_name("property")
        inner = filter_member.child_by_field_name("object")
        if filter_prop is None or document.text(filter_prop) != "filter" or inner is None:
            continue
        if inner.type != "call_expression":
            continue
        map_member = inner.child_by_field_name("function")
        if map_member is None or map_member.type != "member_expression":
            continue
        map_prop = map_member.child_by_field_name("property")
        receiver = map_member.child_by_field_name("object")
        if map_prop is None or document.text(map_prop) != "map" or receiver is None:
            continue
        line = outer.start_point[0] + 1
        if _has_optional_chain(filter_member) or _has_optional_chain(map_member):
            reasons.append(f"line {line}: optional chaining (`?.`) is involved.")
            continue
        mapper = _single_parameter_arrow(document, _arguments(inner))
        predicate = _single_parameter_arrow(document, _arguments(outer))
        if mapper is None or predicate is None:
            reasons.append(
                f"line {line}: map and filter must each take one arrow function of one plain parameter "
                "(a named function would also receive the index)."
            )
            continue
        fused = _fused_callback(document, mapper, predicate)
        document.replace(outer, f"{document.text(receiver)}.flatMap({fused})")
        return document.result(
            "map then filter built a whole intermediate array only to drop part of it; one flatMap pass maps each "
            "element once and keeps it when the predicate holds, in the same order and with the same calls."
        )
    raise _not_applicable(span, "an `a.map((x) => ...).filter((y) => ...)` chain", reasons)


def rewrite_async_fs_in_handler(span: SourceSpan) -> Rewrite:
    """`fs.readFileSync(...)` in an Express handler → `await fs.promises.readFile(...)` in an async handler."""
    document = _Document(span)
    reasons: list[str] = []
    fs_names = _fs_module_names(document)
    for call in document.nodes_in_span("call_expression"):
        function = call.child_by_field_name("function")
        if function is None or function.type != "member_expression":
            continue
        module = function.child_by_field_name("object")
        prop = function.child_by_field_name("property")
        if module is None or prop is None or document.text(prop) != "readFileSync":
            continue
        line = call.start_point[0] + 1
        if document.text(module) not in fs_names:
            reasons.append(f"line {line}: `{document.text(module)}` is not the fs module imported whole.")
            continue
        handler = _enclosing_function(call)
        problem = _handler_problem(document, handler)
        if problem or handler is None:
            reasons.append(f"line {line}: {problem}")
            continue
        fs_name = document.text(module)
        for other in _walk(handler):
            if other.type != "call_expression" or _enclosing_function(other) != handler:
                continue
            other_function = other.child_by_field_name("function")
            if other_function is None or document.text(other_function) != f"{fs_name}.readFileSync":
                continue
            arguments = other.child_by_field_name("arguments")
            assert arguments is not None
            replacement = f"await {fs_name}.promises.readFile{document.text(arguments)}"
            parent = other.parent
            if (
                parent is not None
                and parent.type in AWAIT_NEEDS_PARENS
                and parent.child_by_field_name("arguments") != other
            ):
                replacement = f"({replacement})"
            document.replace(other, replacement)
        document.edits.append(_Edit(handler.start_byte, handler.start_byte, "async "))
        return document.result(
            "readFileSync blocked the event loop for every request while the file was read; the handler is now "
            "async and awaits fs.promises.readFile, so other requests are served meanwhile. Express 5 routes a "
            "rejected promise to the error handler; on Express 4 a read error would need a try/catch."
        )
    raise _not_applicable(span, "an `fs.readFileSync` call inside an Express route handler", reasons)


def _walk(node: Node) -> Iterator[Node]:
    """Every node under node, in source order."""
    stack = [node]
    while stack:
        current = stack.pop()
        yield current
        stack.extend(reversed(current.children))


def _node_text(node: Node) -> str:
    return (node.text or b"").decode("utf-8")


def _string_value(node: Node) -> str | None:
    """A string literal's value when it has no escapes (escapes would need JavaScript's own decoding rules)."""
    if node.type != "string" or any(child.type == "escape_sequence" for child in node.named_children):
        return None
    return "".join(_node_text(child) for child in node.named_children if child.type == "string_fragment")


def _arguments(call: Node) -> list[Node]:
    arguments = call.child_by_field_name("arguments")
    return list(arguments.named_children) if arguments is not None else []


def _is_literal(node: Node) -> bool:
    if node.type == "string":
        return _string_value(node) is not None
    if node.type == "unary_expression" and len(node.named_children) == 1:
        return _node_text(node).startswith("-") and node.named_children[0].type == "number"
    return node.type in LITERAL_TYPES


def _enclosing_function(node: Node) -> Node | None:
    parent = node.parent
    while parent is not None and parent.type not in FUNCTION_TYPES:
        parent = parent.parent
    return parent


def _outermost_hoistable_loop(node: Node) -> Node | None:
    """The outermost loop around node within its function, when it is a statement of a block (somewhere to hoist)."""
    outermost: Node | None = None
    parent = node.parent
    while parent is not None and parent.type not in FUNCTION_TYPES:
        if parent.type in LOOP_TYPES and parent.parent is not None and parent.parent.type in STATEMENT_CONTAINERS:
            outermost = parent
        parent = parent.parent
    return outermost


def _not_applicable(span: SourceSpan, shape: str, reasons: list[str]) -> TemplateNotApplicable:
    where = f"{span.path} lines {span.start_line}-{span.end_line}"
    if reasons:
        return TemplateNotApplicable(f"{where}: found {shape}, but " + "; ".join(reasons))
    return TemplateNotApplicable(f"{where} hold no {shape}.")


def _top_level_string_constants(document: _Document) -> dict[str, str]:
    """`const NAME = "text"` declarations at the top of the module, the constants JSON.parse may read."""
    constants: dict[str, str] = {}
    for statement in document.root.named_children:
        declaration = statement
        if statement.type == "export_statement":
            declaration = statement.child_by_field_name("declaration") or statement
        if declaration.type != "lexical_declaration" or not _node_text(declaration).startswith("const"):
            continue
        for declarator in declaration.named_children:
            name = declarator.child_by_field_name("name")
            value = declarator.child_by_field_name("value")
            if name is not None and value is not None and name.type == "identifier" and value.type == "string":
                text = _string_value(value)
                if text is not None:
                    constants[document.text(name)] = text
    return constants


def _constant_json(document: _Document, arguments: list[Node], constants: dict[str, str]) -> object | None:
    """The value JSON.parse would return for a constant argument, None when it is not constant or not JSON."""
    if len(arguments) != 1:
        return None
    argument = arguments[0]
    text = _string_value(argument) if argument.type == "string" else constants.get(document.text(argument))
    if text is None:
        return None
    try:
        parsed: object = json.loads(text)
        return parsed
    except ValueError:
        return None


def _read_only_use_problem(document: _Document, name: str, declared: Node, block: Node, parsed: object) -> str | None:
    """Why hoisting `name` could change behaviour: a use outside its block, a write, or a read of a mutable part."""
    scope = _enclosing_function(block) or document.root
    for node in _walk(scope):
        if node.type not in ("identifier", "shorthand_property_identifier") or document.text(node) != name:
            continue
        if node == declared:
            continue
        if not (block.start_byte <= node.start_byte < block.end_byte):
            return f"`{name}` is also used outside the loop body, so moving it would change what that use sees."
        parent = node.parent
        if parent is None or parent.type not in ("member_expression", "subscript_expression"):
            return f"`{name}` is used whole (passed on or reassigned), so the loop could change the shared object."
        if parent.child_by_field_name("object") != node:
            return f"`{name}` is used as a key."
        key_node = parent.child_by_field_name("property") or parent.child_by_field_name("index")
        key = None
        if key_node is not None:
            key = document.text(key_node) if key_node.type == "property_identifier" else _string_value(key_node)
        grand = parent.parent
        written = grand is not None and (
            grand.type in ("update_expression", "call_expression", "member_expression", "subscript_expression")
            or (grand.type in ("assignment_expression", "augmented_assignment_expression")
                and grand.child_by_field_name("left") == parent)
        )  # fmt: skip
        if written:
            return f"`{name}.{key}` is called, written or reached into, so the shared object could change."
        if not isinstance(parsed, dict) or key is None or key not in parsed:
            return f"a field of `{name}` is read by a key that is not a constant of the parsed object."
        if isinstance(parsed[key], dict | list):
            return f"`{name}.{key}` is an object or array the loop could change through another reference."
    return None


def _for_of_push_await(document: _Document, loop: Node) -> tuple[str, str, str, str] | str:
    """(variable, iterable, output, awaited call) of `for (const x of xs) { out.push(await f(x)); }`, else why not."""
    tokens = [document.text(child) for child in loop.children if not child.is_named]
    if "of" not in tokens or "await" in tokens:
        return "the loop is not a plain `for...of` (a `for await` or `for...in`)."
    if not {"const", "let"} & set(tokens):
        return "the loop variable is not declared with const or let."
    left = loop.child_by_field_name("left")
    right = loop.child_by_field_name("right")
    body = loop.child_by_field_name("body")
    if left is None or right is None or body is None or left.type != "identifier":
        return "the loop variable is not a single name."
    if right.type not in ("identifier", "member_expression"):
        return "the iterable is not a plain name or property."
    statements = body.named_children if body.type == "statement_block" else [body]
    if len(statements) != 1 or statements[0].type != "expression_statement":
        return "the loop body is not exactly one `out.push(await f(x));` statement."
    call = statements[0].named_children[0] if statements[0].named_children else None
    function = call.child_by_field_name("function") if call is not None else None
    if call is None or function is None or function.type != "member_expression":
        return "the loop body is not a `.push` call."
    output = function.child_by_field_name("object")
    prop = function.child_by_field_name("property")
    arguments = _arguments(call)
    if output is None or prop is None or document.text(prop) != "push" or output.type != "identifier":
        return "the loop body is not `out.push(...)` on a plain name."
    if len(arguments) != 1 or arguments[0].type != "await_expression" or not arguments[0].named_children:
        return "push does not take exactly one awaited value."
    awaited = arguments[0].named_children[0]
    output_name = document.text(output)
    for node in _walk(awaited):
        if node.type == "await_expression":
            return "the awaited expression awaits something else too."
        if node.type == "identifier" and document.text(node) == output_name:
            return f"the awaited call reads `{output_name}`, so the calls are not independent."
    return document.text(left), document.text(right), output_name, document.text(awaited)


def _has_optional_chain(member: Node) -> bool:
    return any(child.type == "optional_chain" for child in member.children)


@dataclass(frozen=True)
class _Arrow:
    """A one-parameter arrow function: its node, parameter and body."""

    node: Node
    parameter: str
    body: Node


def _single_parameter_arrow(document: _Document, arguments: list[Node]) -> _Arrow | None:
    if len(arguments) != 1 or arguments[0].type != "arrow_function":
        return None
    arrow = arguments[0]
    if any(document.text(child) == "async" for child in arrow.children if not child.is_named):
        return None
    body = arrow.child_by_field_name("body")
    parameter = arrow.child_by_field_name("parameter")
    if parameter is None:
        parameters = arrow.child_by_field_name("parameters")
        named = parameters.named_children if parameters is not None else []
        if len(named) == 1 and named[0].type in ("identifier", "required_parameter"):
            candidate = named[0]
            if candidate.type == "required_parameter":
                pattern = candidate.child_by_field_name("pattern")
                if pattern is None or pattern.type != "identifier" or candidate.child_by_field_name("value"):
                    return None
                candidate = pattern
            parameter = candidate
    if parameter is None or parameter.type != "identifier" or body is None:
        return None
    return _Arrow(node=arrow, parameter=document.text(parameter), body=body)


def _identifier_names(document: _Document, node: Node) -> set[str]:
    return {
        document.text(child) for child in _walk(node) if child.type in ("identifier", "shorthand_property_identifier")
    }


def _fused_callback(document: _Document, mapper: _Arrow, predicate: _Arrow) -> str:
    """The flatMap callback: inlined bodies when the names cannot clash, otherwise both arrows called as they are."""
    inline = (
        mapper.body.type != "statement_block"
        and predicate.body.type != "statement_block"
        and mapper.parameter != predicate.parameter
        and mapper.parameter not in _identifier_names(document, predicate.body)
        and predicate.parameter not in _identifier_names(document, mapper.body)
        and not _contains_function(mapper.body)
        and not _contains_function(predicate.body)
    )
    if inline:
        value, kept = mapper.parameter, predicate.parameter
        return (
            f"({value}) => {{ const {kept} = {document.text(mapper.body)}; "
            f"return {document.text(predicate.body)} ? [{kept}] : []; }}"
        )
    item = document.fresh_name("item")
    mapped = document.fresh_name("mapped")
    return (
        f"({item}) => {{ const {mapped} = ({document.text(mapper.node)})({item}); "
        f"return ({document.text(predicate.node)})({mapped}) ? [{mapped}] : []; }}"
    )


def _contains_function(node: Node) -> bool:
    return any(child.type in FUNCTION_TYPES for child in _walk(node))


def _fs_module_names(document: _Document) -> set[str]:
    """Names bound to the whole fs module: `import fs from "fs"`, `import * as fs`, `const fs = require("fs")`."""
    names: set[str] = set()
    for node in _walk(document.root):
        if node.type == "import_statement":
            source = node.child_by_field_name("source")
            if source is None or _string_value(source) not in FS_MODULES:
                continue
            for clause in node.named_children:
                if clause.type != "import_clause":
                    continue
                for binding in clause.named_children:
                    if binding.type == "identifier":
                        names.add(document.text(binding))
                    elif binding.type == "namespace_import":
                        names.update(document.text(child) for child in binding.named_children)
        elif node.type == "variable_declarator":
            name = node.child_by_field_name("name")
            value = node.child_by_field_name("value")
            if name is None or value is None or name.type != "identifier" or value.type != "call_expression":
                continue
            function = value.child_by_field_name("function")
            arguments = _arguments(value)
            is_require = function is not None and document.text(function) == "require" and len(arguments) == 1
            if is_require and _string_value(arguments[0]) in FS_MODULES:
                names.add(document.text(name))
    return names


def _handler_problem(document: _Document, handler: Node | None) -> str | None:
    """Why a function is not an Express route handler that can be made async, None when it is."""
    if handler is None or handler.type not in ("arrow_function", "function_expression", "function"):
        return "the call is not inside a function passed to a route."
    if any(document.text(child) in ("async", "*") for child in handler.children if not child.is_named):
        return "the handler is already async (or a generator)."
    arguments = handler.parent
    route_call = arguments.parent if arguments is not None and arguments.type == "arguments" else None
    function = route_call.child_by_field_name("function") if route_call is not None else None
    if function is None or function.type != "member_expression":
        return "the function is not an argument of `app.<method>(...)` or `router.<method>(...)`."
    prop = function.child_by_field_name("property")
    if prop is None or document.text(prop) not in ROUTE_METHODS:
        return "the function is not passed to a route method (get, post, put, patch, delete, all, use)."
    parameters = handler.child_by_field_name("parameters")
    if parameters is None or len(parameters.named_children) < 2:
        return "the function does not take (request, response), so it is not a route handler."
    return None
