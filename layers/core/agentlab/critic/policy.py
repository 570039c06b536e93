"""The import/call policy: an AST walk that names what each expression refers to, through aliases.

The critic is a first line that steers the model early and cheaply; the sandbox is the boundary. The walk is
flow-insensitive on purpose: a name bound to `os` anywhere in the cell is treated as `os` everywhere.
"""

from __future__ import annotations

import ast
import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from fnmatch import translate
from functools import lru_cache
from typing import NamedTuple

from agentlab.critic.models import CriticPolicy, Finding, Severity

_ATTRIBUTE_LOOKUPS = frozenset({"getattr", "hasattr", "setattr", "delattr"})
_DYNAMIC_IMPORTERS = frozenset({"__import__", "importlib.import_module", "importlib.__import__"})
_NAMED_BINDERS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.ExceptHandler, ast.MatchAs, ast.MatchStar)
_HARMLESS_DEVICE_PATHS = frozenset({"/dev/null", "/dev/stdout", "/dev/stderr"})

_PROCESS_ROOTS = ("subprocess", "os", "pty", "multiprocessing", "asyncio", "concurrent", "signal", "posix")
_NETWORK_ROOTS = ("socket", "ssl", "http", "urllib", "requests", "httpx", "aiohttp", "ftplib", "smtplib", "paramiko")


class Reference(NamedTuple):
    """A dotted name an expression may stand for; `imported` when its root came from an import statement."""

    name: str
    imported: bool


@dataclass
class Bindings:
    """What the names of the code (and of the cells run before it) may stand for."""

    aliases: defaultdict[str, set[Reference]] = field(default_factory=lambda: defaultdict(set))
    local: set[str] = field(default_factory=set)
    star_modules: list[str] = field(default_factory=list)

    def resolve(self, node: ast.expr) -> set[Reference]:
        """The dotted names `node` may refer to; empty when the critic cannot tell."""
        if isinstance(node, ast.Name):
            return self._resolve_name(node.id)
        if isinstance(node, ast.Attribute):
            base, attributes = _split_attribute_chain(node)
            suffix = ".".join(attributes)
            return {Reference(f"{ref.name}.{suffix}", ref.imported) for ref in self.resolve(base)}
        if isinstance(node, ast.Call):
            return self._resolve_call(node)
        if isinstance(node, ast.Subscript):
            return self._resolve_namespace_lookup(node)
        if isinstance(node, ast.NamedExpr):
            return self.resolve(node.value)
        return set()

    def _resolve_name(self, name: str) -> set[Reference]:
        if name in self.aliases:
            return set(self.aliases[name])
        if name in self.local:
            return set()
        guesses = {Reference(f"{module}.{name}", True) for module in self.star_modules}
        # Unbound names are builtins or modules imported by an earlier cell; neither counts as imported here,
        # so a variable called `signal` from an earlier cell is not mistaken for the module.
        return guesses | {Reference(name, False)}

    def _resolve_call(self, node: ast.Call) -> set[Reference]:
        callee = {ref.name for ref in self.resolve(node.func)}
        first = _string_argument(node, 0)
        if callee & _DYNAMIC_IMPORTERS and first is not None:
            return {Reference(first, True)}
        if "getattr" in callee and len(node.args) >= 2:
            attribute = _string_argument(node, 1)
            if attribute is not None:
                return {Reference(f"{ref.name}.{attribute}", ref.imported) for ref in self.resolve(node.args[0])}
        if "vars" in callee and len(node.args) == 1:
            return {Reference(f"{ref.name}.__dict__", ref.imported) for ref in self.resolve(node.args[0])}
        return set()

    def _resolve_namespace_lookup(self, node: ast.Subscript) -> set[Reference]:
        key = node.slice.value if isinstance(node.slice, ast.Constant) else None
        if not isinstance(key, str):
            return set()
        return {
            Reference(f"{ref.name.removesuffix('.__dict__')}.{key}", ref.imported)
            for ref in self.resolve(node.value)
            if ref.name.endswith(".__dict__")
        }


def _split_attribute_chain(node: ast.Attribute) -> tuple[ast.expr, list[str]]:
    """`a.b.c` as (`a`, ["b", "c"]), without recursion: chains can be long."""
    attributes: list[str] = []
    current: ast.expr = node
    while isinstance(current, ast.Attribute):
        attributes.append(current.attr)
        current = current.value
    return current, attributes[::-1]


def _is_string_constant(node: ast.expr) -> bool:
    return isinstance(node, ast.Constant) and isinstance(node.value, str)


def _string_argument(node: ast.Call, index: int) -> str | None:
    if len(node.args) <= index:
        return None
    argument = node.args[index]
    if isinstance(argument, ast.Constant) and isinstance(argument.value, str):
        return argument.value
    return None


def collect_bindings(trees: Iterable[ast.Module]) -> Bindings:
    """Bindings of all `trees`: imports first, then assignments twice, so that `b = a` after `a = os` and
    before it both make `b` stand for `os`."""
    bindings = Bindings()
    assignments: list[tuple[ast.expr, ast.expr]] = []
    for tree in trees:
        for node in ast.walk(tree):
            _collect_import(node, bindings)
            _collect_local_name(node, bindings)
            assignments.extend(_assignment_pairs(node))
    for _ in range(2):
        for target, value in assignments:
            _bind(target, value, bindings)
    return bindings


def _collect_import(node: ast.AST, bindings: Bindings) -> None:
    if isinstance(node, ast.Import):
        for alias in node.names:
            if alias.asname:
                bindings.aliases[alias.asname].add(Reference(alias.name, True))
            else:
                root = alias.name.split(".")[0]
                bindings.aliases[root].add(Reference(root, True))
    elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
        for alias in node.names:
            if alias.name == "*":
                bindings.star_modules.append(node.module)
            else:
                bindings.aliases[alias.asname or alias.name].add(Reference(f"{node.module}.{alias.name}", True))


def _collect_local_name(node: ast.AST, bindings: Bindings) -> None:
    """Names the code binds itself: these shadow builtins and modules of earlier cells."""
    if isinstance(node, ast.Name):
        if not isinstance(node.ctx, ast.Load):
            bindings.local.add(node.id)
    elif isinstance(node, ast.arg):
        bindings.local.add(node.arg)
    elif isinstance(node, _NAMED_BINDERS) and node.name:
        bindings.local.add(node.name)
    elif isinstance(node, ast.MatchMapping) and node.rest:
        bindings.local.add(node.rest)


def _assignment_pairs(node: ast.AST) -> list[tuple[ast.expr, ast.expr]]:
    if isinstance(node, ast.Assign):
        return [(target, node.value) for target in node.targets]
    if isinstance(node, ast.AnnAssign | ast.NamedExpr) and node.value is not None:
        return [(node.target, node.value)]
    return []


def _bind(target: ast.expr, value: ast.expr, bindings: Bindings) -> None:
    if isinstance(target, ast.Tuple | ast.List) and isinstance(value, ast.Tuple | ast.List):
        if len(target.elts) == len(value.elts):
            for sub_target, sub_value in zip(target.elts, value.elts, strict=True):
                _bind(sub_target, sub_value, bindings)
        return
    if isinstance(target, ast.Name):
        references = bindings.resolve(value)
        if references:
            bindings.aliases[target.id] |= references


@dataclass(frozen=True)
class CompiledPolicy:
    """A CriticPolicy in the form the walk checks against quickly."""

    forbidden_imports: frozenset[str]
    forbidden_calls: re.Pattern[str]
    forbidden_bare_calls: frozenset[str]
    forbidden_attributes: frozenset[str]
    sensitive_path_prefixes: tuple[str, ...]

    def forbidden_import_in(self, name: str) -> str | None:
        """The forbidden module `name` is (or lies under), if any."""
        for prefix in _prefixes(name):
            if prefix in self.forbidden_imports:
                return prefix
        return None

    def forbidden_call_in(self, name: str) -> str | None:
        """The forbidden dotted name `name` is (or reaches through), if any."""
        for prefix in _prefixes(name):
            if self.forbidden_calls.fullmatch(prefix):
                return prefix
        return None

    def is_sensitive_path(self, text: str) -> bool:
        if text in _HARMLESS_DEVICE_PATHS:
            return False
        return any(text == prefix or text.startswith(prefix + "/") for prefix in self.sensitive_path_prefixes)


def _prefixes(name: str) -> Iterable[str]:
    parts = name.split(".")
    return (".".join(parts[:count]) for count in range(1, len(parts) + 1))


@lru_cache(maxsize=32)
def _compile(
    forbidden_imports: tuple[str, ...],
    forbidden_calls: tuple[str, ...],
    forbidden_attributes: tuple[str, ...],
    sensitive_path_prefixes: tuple[str, ...],
) -> CompiledPolicy:
    alternatives = "|".join(translate(pattern) for pattern in forbidden_calls) or "(?!)"
    return CompiledPolicy(
        forbidden_imports=frozenset(forbidden_imports),
        forbidden_calls=re.compile(alternatives),
        forbidden_bare_calls=frozenset(pattern for pattern in forbidden_calls if "." not in pattern),
        forbidden_attributes=frozenset(forbidden_attributes),
        sensitive_path_prefixes=tuple(prefix.rstrip("/") for prefix in sensitive_path_prefixes),
    )


def compile_policy(policy: CriticPolicy) -> CompiledPolicy:
    return _compile(
        tuple(policy.forbidden_imports),
        tuple(policy.forbidden_calls),
        tuple(policy.forbidden_attributes),
        tuple(policy.sensitive_path_prefixes),
    )


def _hint(name: str) -> str:
    root = name.split(".")[0]
    if root in {"eval", "exec", "compile"}:
        return "write the code directly instead of building it as a string"
    if root in {"__import__", "importlib", "builtins", "__builtin__"}:
        return "import modules with a plain import statement"
    if root in _NETWORK_ROOTS:
        return "the sandbox has no network access; work with the provided input files"
    if root in {"get_ipython", "IPython", "ipykernel", "jupyter_client"}:
        return "the kernel's shell and magics are not available; use plain Python"
    if root in _PROCESS_ROOTS:
        return "starting or signalling processes is not allowed; use Python libraries instead"
    return "the sandbox does not allow it"


class _PolicyChecker(ast.NodeVisitor):
    def __init__(self, bindings: Bindings, policy: CompiledPolicy) -> None:
        self.bindings = bindings
        self.policy = policy
        self.findings: list[Finding] = []

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self._check_imported_name(alias.name, node.lineno)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if node.level or not node.module:
            return
        if self._check_imported_name(node.module, node.lineno):
            return
        for alias in node.names:
            if alias.name != "*":
                self._check_imported_name(f"{node.module}.{alias.name}", node.lineno)

    def visit_Name(self, node: ast.Name) -> None:
        if isinstance(node.ctx, ast.Load) and node.id in self.policy.forbidden_bare_calls:
            # Reported even when the cell rebinds the name: the walk cannot tell which binding runs first.
            self._report("forbidden-call", f"`{node.id}` is not allowed: {_hint(node.id)}", node)
        elif node.id in self.policy.forbidden_attributes:
            self._report("forbidden-attribute", f"`{node.id}` is not allowed: {_hint(node.id)}", node)
        else:
            self._check_references(node)

    def visit_Attribute(self, node: ast.Attribute) -> None:
        # The whole chain is checked once: every check is by prefix, so `a.b` needs no check apart from `a.b.c`.
        self._check_references(node)
        base, attributes = _split_attribute_chain(node)
        for attribute in attributes:
            if attribute in self.policy.forbidden_attributes:
                self._report("forbidden-attribute", f"attribute `{attribute}` is not allowed: {_hint(attribute)}", node)
        self.visit(base)

    def visit_Call(self, node: ast.Call) -> None:
        self._check_references(node)
        self._check_dynamic_attribute_lookup(node)
        self.generic_visit(node)

    def visit_Subscript(self, node: ast.Subscript) -> None:
        if not self._check_references(node) and not _is_string_constant(node.slice):
            namespaces = self.bindings.resolve(node.value)
            if any(ref.imported and ref.name.endswith(".__dict__") for ref in namespaces):
                self._report(
                    "dynamic-attribute",
                    "module namespace indexed by a computed name; name the attribute directly",
                    node,
                    severity="warning",
                )
        self.generic_visit(node)

    def visit_Constant(self, node: ast.Constant) -> None:
        if not isinstance(node.value, str):
            return
        if node.value in self.policy.forbidden_attributes:
            self._report("forbidden-attribute", f"the name `{node.value}` is not allowed: {_hint(node.value)}", node)
        elif self.policy.is_sensitive_path(node.value):
            self._report(
                "sensitive-path",
                f"`{node.value}` is a system path; the inputs are in `inputs/` and outputs go to the working directory",
                node,
                severity="warning",
            )

    def _check_imported_name(self, name: str, line: int) -> bool:
        module = self.policy.forbidden_import_in(name)
        if module is not None:
            self._report_at("forbidden-import", f"importing `{module}` is not allowed: {_hint(module)}", line)
            return True
        call = self.policy.forbidden_call_in(name)
        if call is not None:
            self._report_at("forbidden-call", f"`{call}` is not allowed: {_hint(call)}", line)
            return True
        return False

    def _check_references(self, node: ast.expr) -> bool:
        """Report the first forbidden name `node` may stand for; True when one was reported."""
        for reference in sorted(self.bindings.resolve(node)):
            module = self.policy.forbidden_import_in(reference.name) if reference.imported else None
            if module is not None:
                self._report("forbidden-import", f"using `{module}` is not allowed: {_hint(module)}", node)
                return True
            call = self.policy.forbidden_call_in(reference.name)
            if call is not None:
                self._report("forbidden-call", f"`{call}` is not allowed: {_hint(call)}", node)
                return True
        return False

    def _check_dynamic_attribute_lookup(self, node: ast.Call) -> None:
        callee = {ref.name for ref in self.bindings.resolve(node.func)}
        if not callee & _ATTRIBUTE_LOOKUPS or len(node.args) < 2 or _string_argument(node, 1) is not None:
            return
        if any(ref.imported for ref in self.bindings.resolve(node.args[0])):
            self._report(
                "dynamic-attribute",
                "attribute of a module looked up by a computed name; name the attribute directly",
                node,
                severity="warning",
            )

    def _report(self, code: str, message: str, node: ast.AST, severity: Severity = "error") -> None:
        self._report_at(code, message, getattr(node, "lineno", None), severity)

    def _report_at(self, code: str, message: str, line: int | None, severity: Severity = "error") -> None:
        self.findings.append(Finding(tool="policy", code=code, message=message, line=line, severity=severity))


def check_policy(tree: ast.Module, policy: CriticPolicy, prior_trees: Sequence[ast.Module] = ()) -> list[Finding]:
    """Policy findings for `tree`; `prior_trees` are earlier cells of the same session, read only for their aliases."""
    checker = _PolicyChecker(collect_bindings([*prior_trees, tree]), compile_policy(policy))
    checker.visit(tree)
    return list(dict.fromkeys(checker.findings))
