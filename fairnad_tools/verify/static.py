"""Static checks of candidate source: no execution, only the syntax tree and its scopes.

Catches what must never reach a Python interpreter: text that is not code (Markdown,
prose, a file cut off mid-way, bytes Python cannot decode), imports outside the
allowlist, and calls or attributes that reach outside the sandbox (files, processes,
sockets, introspection escapes, code evaluated from strings). A file is decoded exactly as
Python's import system decodes it (:func:`fairnad_tools.io.read_python_source`: UTF-8
byte-order mark, PEP 263 coding declarations, CRLF and CR line ends), so what is checked is
what would run.

The rules, and why they hold:

* **Builtins by scope.** ``open``, ``exec``, ``eval``, ``input``, ``exit`` ... are refused
  only where the name really refers to the builtin, as the standard library's
  :mod:`symtable` computes scopes: a parameter, a local variable, a loop or comprehension
  variable, a name bound in an enclosing function shadows it for good (function scopes
  never fall back to builtins). A module-level binding counts only when it is an unconditional
  statement that comes before every use that could reach it (a module body looks names up
  at run time, so ``x = open; open = 1`` still hands out the builtin), and the name is never
  deleted. A class body's own binding never counts: a metaclass's namespace can drop it. ``__import__``, ``__builtins__`` and ``__annotations__`` are
  refused in every form.
* **Code from strings.** Whatever evaluates a string as code is refused, because the string
  can be assembled at run time where no check sees it: ``typing.get_type_hints``,
  ``ForwardRef`` and its evaluation, ``functools.singledispatch`` (it evaluates string
  annotations), writing or reading ``__annotations__``, dataclasses' function builder,
  ``operator.attrgetter``/``methodcaller``, TorchScript from source or strings
  (``torch.jit.script``, ``CompilationUnit``, ``define``), ``torch.fx`` code generation,
  ``torch.utils.benchmark`` (it runs statement strings). Names private to the allowed
  standard-library modules (``dataclasses._create_fn``, ``typing._eval_type``) and torch's
  private submodules (``torch._dynamo``, ``torch._C``, ``torch._jit_internal``; found on disk,
  not listed) are refused too. Annotations may only name types (names, attributes,
  subscripts, ``|``, constants); a string annotation is checked as the code it would be.
* **Modules reached as attributes** (``torch.os``, ``typing.sys``, ``F.np``): refused
  wherever the object could be a module, and allowed as a direct attribute of a method's own
  ``self``/``cls`` (``self.types``): reaching a module from there takes a further attribute,
  which is refused. Dunder escapes (``__subclasses__``, ``__globals__``, ``__self__``,
  ``__dict__`` ...) are refused everywhere. So is a metaclass (``metaclass=``, a subclass of
  ``type``): it can rewrite a class's namespace where no check sees. A method called unbound
  with a module as ``self`` (``Net.forward(torch, x)``) would still reach the module: the
  run-time guard stands there.
* **Docstrings** (the first string of a module, class or function) are never executed, so
  the words in them are not checked; every other string that names an escape is refused.

The static check is the first line; the run-time guard (:mod:`fairnad_tools.isolation.guard`) and
Landlock confine whatever it cannot see.
"""

from __future__ import annotations

import ast
import functools
import importlib.machinery
import importlib.util
import os
import re
import symtable
from dataclasses import dataclass, field
from pathlib import Path

from fairnad_tools.io import SourceDecodeError, read_python_source
from fairnad_tools.verify.report import VerifyReport
from fairnad_tools.verify.truncation import looks_truncated

__all__ = ["SourceDecodeError", "check_file", "check_source", "read_python_source"]

ALLOWED_MODULES = frozenset(
    {
        "__future__",
        "torch",
        "math",
        "functools",
        "itertools",
        "collections",
        "typing",
        "dataclasses",
        "operator",
        "numbers",
    }
)
_STDLIB_ALLOWED = ALLOWED_MODULES - {"torch", "__future__"}
FORBIDDEN_PATHS = (
    "torch.hub",
    "torch.load",
    "torch.save",
    "torch.jit.load",
    "torch.utils.cpp_extension",
    "torch.ops",
    "torch._C",
    "torch.multiprocessing",
    "torch.distributed",
    "torch.utils.data",
    "torch.utils.tensorboard",
    "torch.package",
    "torch.compile",
    "torch._dynamo",
    "torch._inductor",
    "torch.onnx",
    "torch.library",
    "torch.serialization",
    "torch.from_file",
    "torch.classes",
    "torch.cuda.memory",
    "operator.attrgetter",
    "operator.methodcaller",
    # code from strings or from source text read at run time
    "typing.get_type_hints",
    "typing.ForwardRef",
    "functools.singledispatch",
    "functools.singledispatchmethod",
    "torch.jit.script",
    "torch.jit.script_method",
    "torch.jit.interface",
    "torch.jit.CompilationUnit",
    "torch.jit.annotations",
    "torch.jit.frontend",
    "torch.fx",
    "torch.export",
    "torch.utils.benchmark",
    "torch.utils.bundled_inputs",
    "torch.testing._internal",
    "torch.cuda.jiterator",
    "torch.ao.quantization.quantize_fx",
    "torch.ao.quantization.fx",
    "torch.ao.ns",
)
# Names refused where they refer to the builtin (or, for module names, to nothing bound in the file).
BUILTIN_NAMES = frozenset(
    {
        "open",
        "exec",
        "eval",
        "compile",
        "globals",
        "locals",
        "vars",
        "breakpoint",
        "input",
        "exit",
        "quit",
        "help",
        "memoryview",
        "os",
        "sys",
        "subprocess",
        "socket",
    }
)
# Names refused in every form: loading, binding, deleting.
ALWAYS_FORBIDDEN_NAMES = frozenset(
    {
        "__import__",
        "__builtins__",
        "__annotations__",
        "__annotate__",
        "__loader__",
        "__spec__",
        "__dataclass_fields__",
        "__dataclass_params__",
    }
)
FORBIDDEN_NAMES = BUILTIN_NAMES | ALWAYS_FORBIDDEN_NAMES
# getattr and friends: only called directly, with a literal name (a reference could be called with any name).
_ATTRIBUTE_FUNCTIONS = frozenset({"getattr", "setattr", "delattr", "hasattr"})
# Attributes that reach the interpreter's internals: refused on any object.
ESCAPE_ATTRIBUTES = frozenset(
    {
        "__subclasses__",
        "__bases__",
        "__base__",
        "__mro__",
        "__globals__",
        "__code__",
        "__closure__",
        "__loader__",
        "__spec__",
        "__builtins__",
        "__dict__",
        "__getattribute__",
        "__getattr__",
        "__setattr__",
        "__delattr__",
        "__self__",
        "__dataclass_fields__",
        "__dataclass_params__",
        "__prepare__",
        "f_globals",
        "f_locals",
        "f_builtins",
        "f_back",
        "f_code",
        "gi_frame",
        "gi_code",
        "cr_frame",
        "cr_code",
        "ag_frame",
        "ag_code",
        "tb_frame",
    }
)
# Attributes that evaluate strings as code (or compile source text): refused on any object.
STRING_EVALUATORS = frozenset(
    {
        "__annotations__",
        "__annotate__",
        "__forward_code__",
        "get_type_hints",
        "ForwardRef",
        "_eval_type",
        "_evaluate",
        "evaluate_forward_ref",
        "get_annotations",
        "_create_fn",
        "_FuncBuilder",
        "singledispatch",
        "singledispatchmethod",
        "attrgetter",
        "methodcaller",
        "define",
        "_define",
        "CompilationUnit",
    }
)
# Modules reachable as attributes of allowed ones (torch.os, typing.sys, F.np, ...), and a few of
# their dangerous members: refused except as a direct attribute of a method's own self or cls.
MODULE_ATTRIBUTES = frozenset(
    {
        "os",
        "sys",
        "_sys",
        "builtins",
        "ctypes",
        "_ctypes",
        "glob",
        "importlib",
        "inspect",
        "platform",
        "threading",
        "_thread",
        "np",
        "types",
        "subprocess",
        "_posixsubprocess",
        "socket",
        "_socket",
        "ssl",
        "shutil",
        "pathlib",
        "pickle",
        "marshal",
        "tempfile",
        "multiprocessing",
        "gc",
        "io",
        "_io",
        "codecs",
        "linecache",
        "tokenize",
        "traceback",
        "logging",
        "posix",
        "resource",
        "mmap",
        "selectors",
        "asyncio",
        "urllib",
        "http",
        "runpy",
        "code",
        "codeop",
        "pdb",
        "zipfile",
        "tarfile",
        "sqlite3",
        "atexit",
        "site",
        "sysconfig",
        "faulthandler",
        "ast",
        "dis",
        "zipimport",
        "pkgutil",
        "_imp",
        "_frozen_importlib",
        "_frozen_importlib_external",
        "_bootstrap",
        "_bootstrap_external",
        "environ",
        "system",
        "popen",
        "from_file",
        "evaluate",  # ForwardRef.evaluate (Python 3.14)
    }
)
FORBIDDEN_ATTRIBUTES = ESCAPE_ATTRIBUTES | STRING_EVALUATORS | MODULE_ATTRIBUTES

_PROSE = re.compile(r"^[A-Z][A-Za-z']*[ ,!:.]+[A-Za-z]")
ESCAPE_STRINGS = (
    "__subclasses__",
    "__globals__",
    "__builtins__",
    "__import__",
    "__loader__",
    "__code__",
    "__annotations__",
    "__annotate__",
    "__self__",
    "__forward_code__",
    "__dataclass_fields__",
)
_SELF_NAMES = frozenset({"self", "cls"})


def _fail(code: str, message: str) -> VerifyReport:
    return VerifyReport(ok=False, code=code, message=message)


def _dotted(node: ast.AST) -> str | None:
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
        return ".".join(reversed(parts))
    return None


def _syntax_message(source: str, exc: SyntaxError) -> str:
    lines = source.splitlines()
    where = f"line {exc.lineno}" if exc.lineno else "unknown line"
    text = f"{exc.msg} at {where}"
    if "```" in source:
        return (
            f"{text}: the file contains Markdown code fences (```); it must be plain Python "
            "source with the fences and any prose around them removed"
        )
    last_code_line = len(lines)
    near_end = exc.lineno is not None and exc.lineno >= last_code_line - 1
    if near_end and any(key in exc.msg for key in ("was never closed", "unexpected EOF", "expected an indented block")):
        return f"{text}: the file looks truncated (it ends in the middle of a statement); produce the complete file"
    snippet = lines[exc.lineno - 1].strip() if exc.lineno and exc.lineno <= len(lines) else ""
    if _PROSE.match(snippet) and len(snippet.split()) >= 4:
        return (
            f"{text}: {snippet!r} looks like prose, not Python; the file must hold only the code, "
            "without any explanation around it"
        )
    return f"{text}: {snippet!r}" if snippet else text


def check_file(path: str | os.PathLike[str]) -> VerifyReport | None:
    """Decode a candidate file as Python would, then :func:`check_source`; ``None`` when it passes.

    A file Python cannot decode (bad bytes for its encoding, an unknown codec, UTF-16,
    NUL bytes) is a ``syntax_error`` whose message names the line, the problem and the
    fix. Raises ``OSError`` only when the file cannot be read at all.
    """
    try:
        source = read_python_source(path)
    except SourceDecodeError as exc:
        return _fail("syntax_error", f"the file cannot be decoded as Python source: {exc}")
    return check_source(source, filename=os.path.basename(path))


def check_source(source: str, filename: str = "model.py") -> VerifyReport | None:
    """Return a failing report, or ``None`` when the source passes every static check.

    ``source`` is decoded text; a leading byte-order mark (U+FEFF) is ignored, as it is
    in a file saved as UTF-8 with one. When several checks fail, an import is reported
    first, then the failure nearest the top of the file. Whatever the failure, when the file
    looks cut short (:func:`~fairnad_tools.verify.truncation.looks_truncated`) the message says so.
    """
    report = _check_source(source, filename)
    if report is not None and "truncated" not in report.message:
        reason = looks_truncated(source.removeprefix("\ufeff"))
        if reason is not None:
            report.message = f"{report.message}; the file looks truncated: {reason}; produce the complete file"
    return report


def _check_source(source: str, filename: str) -> VerifyReport | None:
    source = source.removeprefix("\ufeff")
    if "\x00" in source:
        line = source.count("\n", 0, source.index("\x00")) + 1
        return _fail(
            "syntax_error",
            f"line {line}: the source contains a NUL character (\\x00), which Python source cannot hold; "
            "remove it and save the file as plain UTF-8 text",
        )
    try:
        tree = ast.parse(source, filename=filename)
    except SyntaxError as exc:
        return _fail("syntax_error", _syntax_message(source, exc))
    except ValueError as exc:  # any other text the parser refuses
        return _fail("syntax_error", f"not Python source: {exc}")
    try:
        scopes = _Scopes(tree, source, filename)
    except SyntaxError as exc:  # what the parser accepts but scoping refuses (nonlocal at module level, ...)
        return _fail("syntax_error", _syntax_message(source, exc))

    found = _Checker(tree, scopes).run()
    if found:
        return found
    entry = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "build_model"]
    if not entry:
        return _fail(
            "missing_entrypoint",
            "no top-level function build_model(num_classes) -> torch.nn.Module; define it "
            "so that it returns the model for the given number of classes",
        )
    args = entry[-1].args
    positional = args.posonlyargs + args.args
    if not positional and not args.vararg:
        return _fail(
            "missing_entrypoint",
            f"line {entry[-1].lineno}: build_model takes no argument; it must accept num_classes",
        )
    return None


# -- scopes: which names refer to the builtins --------------------------------------------------
_FUNCTION_NODES = (ast.FunctionDef, ast.AsyncFunctionDef)
_COMPREHENSIONS = {
    ast.ListComp: "listcomp",
    ast.SetComp: "setcomp",
    ast.DictComp: "dictcomp",
    ast.GeneratorExp: "genexpr",
}


@dataclass(eq=False)
class _Scope:
    """One scope of the file: its syntax node and :mod:`symtable`'s table for it.

    ``table`` is ``None`` for a comprehension that Python 3.12+ inlines into the enclosing
    scope (``comp_locals`` then holds its own variables) and for a scope whose table could not
    be matched (``unknown``: every name in it is taken to reach the builtins).
    """

    node: ast.AST
    table: symtable.SymbolTable | None
    parent: _Scope | None
    comp_locals: frozenset[str] | None = None
    unknown: bool = False


@dataclass(eq=False)
class _Use:
    """One ``Name`` node, the scope it appears in, and the statement it belongs to in each module or class body."""

    node: ast.Name
    scope: _Scope
    stmt: dict[int, int] = field(default_factory=dict)  # id(Module or ClassDef node) -> index in its body


def _target_names(target: ast.AST) -> set[str]:
    if isinstance(target, ast.Name):
        return {target.id}
    if isinstance(target, ast.Tuple | ast.List):
        return set().union(*(_target_names(t) for t in target.elts)) if target.elts else set()
    if isinstance(target, ast.Starred):
        return _target_names(target.value)
    return set()


def _binds(stmt: ast.stmt, name: str) -> bool:
    """Whether ``stmt``, run, always binds ``name`` in the scope it is a statement of."""
    if isinstance(stmt, ast.Assign):
        return any(name in _target_names(t) for t in stmt.targets)
    if isinstance(stmt, ast.AnnAssign):
        return stmt.value is not None and isinstance(stmt.target, ast.Name) and stmt.target.id == name
    if isinstance(stmt, ast.Import):
        return any((a.asname or a.name.split(".")[0]) == name for a in stmt.names)
    if isinstance(stmt, ast.ImportFrom):
        return any((a.asname or a.name) == name for a in stmt.names)
    if isinstance(stmt, (*_FUNCTION_NODES, ast.ClassDef)):
        return stmt.name == name
    return False


def _table_type(table: symtable.SymbolTable) -> str:
    return str(getattr(table.get_type(), "value", table.get_type()))


class _Scopes:
    """Scope analysis of a file with :mod:`symtable`, tied to the syntax tree node by node.

    Each function, lambda, class and comprehension node is matched to its table by kind,
    name and line, in the order symtable creates them (defaults, annotations and decorators
    before the body; a comprehension's first iterable before the comprehension); a
    lambda or function whose parameters do not match makes its scope ``unknown``, which is
    the cautious answer.
    """

    def __init__(self, tree: ast.Module, source: str, filename: str) -> None:
        self.tree = tree
        self.module = _Scope(tree, symtable.symtable(source, filename, "exec"), None)
        self.uses: list[_Use] = []
        self.by_node: dict[int, _Use] = {}
        self._taken: dict[int, set[int]] = {}
        self._positions: dict[int, int] = {}
        self._global_cache: dict[str, bool] = {}
        self._body(tree.body, self.module, tree)

    # -- walking -------------------------------------------------------------------------------
    def _body(self, body: list[ast.stmt], scope: _Scope, owner: ast.AST) -> None:
        for index, stmt in enumerate(body):
            self._positions[id(owner)] = index
            self._visit(stmt, scope)
        self._positions.pop(id(owner), None)

    def _visit_all(self, nodes: list, scope: _Scope) -> None:
        for node in nodes:
            if node is not None:
                self._visit(node, scope)

    def _visit(self, node: ast.AST, scope: _Scope) -> None:
        if isinstance(node, ast.Name):
            use = _Use(node, scope, dict(self._positions))
            self.uses.append(use)
            self.by_node[id(node)] = use
        elif isinstance(node, _FUNCTION_NODES):
            args = node.args
            self._visit_all(args.defaults + args.kw_defaults, scope)
            every = args.posonlyargs + args.args + ([args.vararg] if args.vararg else []) + args.kwonlyargs
            every += [args.kwarg] if args.kwarg else []
            self._visit_all([a.annotation for a in every] + [node.returns], scope)
            self._visit_all(node.decorator_list, scope)
            child = self._child(scope, node, node.name, {a.arg for a in every})
            self._visit_all(node.body, child)
        elif isinstance(node, ast.Lambda):
            args = node.args
            self._visit_all(args.defaults + args.kw_defaults, scope)
            every = args.posonlyargs + args.args + ([args.vararg] if args.vararg else []) + args.kwonlyargs
            every += [args.kwarg] if args.kwarg else []
            self._visit(node.body, self._child(scope, node, "lambda", {a.arg for a in every}))
        elif isinstance(node, ast.ClassDef):
            self._visit_all(node.bases + [k.value for k in node.keywords] + node.decorator_list, scope)
            self._body(node.body, self._child(scope, node, node.name, None), node)
        elif type(node) in _COMPREHENSIONS:
            first, *rest = node.generators
            self._visit(first.iter, scope)
            table = None if scope.unknown else self._take(scope, _COMPREHENSIONS[type(node)], node.lineno, None)
            if table is not None:
                child = _Scope(node, table, scope)
            else:  # inlined (Python 3.12+): its variables are its own, the rest resolves outside
                names = set().union(*(_target_names(g.target) for g in node.generators))
                child = _Scope(node, None, scope, comp_locals=frozenset(names), unknown=scope.unknown)
            self._visit_all([first.target, *first.ifs], child)
            for gen in rest:
                self._visit_all([gen.target, gen.iter, *gen.ifs], child)
            if isinstance(node, ast.DictComp):
                self._visit_all([node.value, node.key], child)
            else:
                self._visit(node.elt, child)
        else:
            for child_node in ast.iter_child_nodes(node):
                self._visit(child_node, scope)

    def _tabled(self, scope: _Scope) -> _Scope | None:
        while scope is not None and scope.table is None and not scope.unknown:
            scope = scope.parent  # an inlined comprehension: its nested scopes are the enclosing table's children
        return scope

    def _take(self, scope: _Scope, name: str, lineno: int, params: set[str] | None) -> symtable.SymbolTable | None:
        owner = self._tabled(scope)
        if owner is None or owner.unknown or owner.table is None:
            return None
        taken = self._taken.setdefault(id(owner.table), set())
        for index, table in enumerate(owner.table.get_children()):
            if index in taken or table.get_name() != name or table.get_lineno() != lineno:
                continue
            taken.add(index)
            if params is not None and set(table.get_parameters()) != params:
                return None
            return table
        return None

    def _child(self, scope: _Scope, node: ast.AST, name: str, params: set[str] | None) -> _Scope:
        table = None if scope.unknown else self._take(scope, name, node.lineno, params)
        return _Scope(node, table, scope, unknown=table is None)

    # -- resolving -----------------------------------------------------------------------------
    def resolve(self, name: str, scope: _Scope) -> tuple[str, _Scope | None]:
        """Where ``name`` used in ``scope`` is looked up: ``local`` (a function's, or a comprehension's
        own variable), ``class`` (a class body's namespace, then globals and builtins) or ``global``
        (the module's namespace, then builtins)."""
        current: _Scope | None = scope
        crossed = False  # past a function boundary, class bodies are not visible
        while current is not None:
            if current.unknown:
                return "global", None
            if current.table is None:
                if name in (current.comp_locals or ()):
                    return "local", current
                current, crossed = current.parent, True
                continue
            kind = _table_type(current.table)
            try:
                symbol: symtable.Symbol | None = current.table.lookup(name)
            except KeyError:
                symbol = None
            if kind == "module":
                return "global", None
            if kind == "class":
                if crossed:
                    current = current.parent
                    continue
                if symbol is not None and symbol.is_local():
                    return "class", current
                if symbol is not None and symbol.is_free():
                    return "local", current
                return "global", None
            if symbol is None:
                return "global", None
            if symbol.is_local():
                return "local", current
            if symbol.is_free():
                current, crossed = current.parent, True
                continue
            return "global", None
        return "global", None

    def refers_to_builtin(self, use: _Use) -> bool:
        """Whether this use of a name can reach the builtin (or, for a name no builtin has, nothing bound)."""
        kind, _ = self.resolve(use.node.id, use.scope)
        if kind == "local":
            return False
        # A class body's own binding never counts: a metaclass's namespace (an enum's _ignore_, a
        # __prepare__ of the file's own) may drop it, and the lookup then falls through to the builtins.
        return not self._global_sound(use.node.id)

    def _sound(self, name: str, body: list[ast.stmt], owner: ast.AST, uses: list[_Use]) -> bool:
        """Whether ``name`` is bound in ``body`` before every one of ``uses`` runs, and never deleted.

        The first binding must be a statement of ``body`` itself (not under an ``if``, a loop or
        a ``try``); a use must come in a later statement, or inside the body of that statement
        when it is an undecorated ``def`` (which runs only after the name is bound).
        """
        first = next((i for i, stmt in enumerate(body) if _binds(stmt, name)), None)
        if first is None:
            return False
        for use in uses:
            if isinstance(use.node.ctx, ast.Del):
                return False
            if isinstance(use.node.ctx, ast.Store):
                continue
            index = use.stmt.get(id(owner))
            if index is None:
                return False
            if index > first:
                continue
            stmt = body[first]
            plain_def = isinstance(stmt, _FUNCTION_NODES) and not stmt.decorator_list
            if index == first and plain_def and any(s.node is stmt for s in self._chain(use.scope)):
                continue
            return False
        return True

    def _global_sound(self, name: str) -> bool:
        if name not in self._global_cache:
            reaching = [u for u in self.uses if u.node.id == name and self.resolve(name, u.scope)[0] != "local"]
            self._global_cache[name] = self._sound(name, self.tree.body, self.tree, reaching)
        return self._global_cache[name]

    @staticmethod
    def _chain(scope: _Scope | None) -> list[_Scope]:
        chain = []
        while scope is not None:
            chain.append(scope)
            scope = scope.parent
        return chain

    def is_method_self(self, node: ast.AST) -> bool:
        """Whether ``node`` is the ``self`` or ``cls`` of a method, as received: the first parameter of a
        function defined directly in a class body, not a static method, never rebound."""
        if not isinstance(node, ast.Name) or node.id not in _SELF_NAMES or id(node) not in self.by_node:
            return False
        kind, where = self.resolve(node.id, self.by_node[id(node)].scope)
        if kind != "local" or where is None or where.table is None or where.parent is None:
            return False
        method = where.node
        if not isinstance(method, _FUNCTION_NODES) or not isinstance(where.parent.node, ast.ClassDef):
            return False
        positional = method.args.posonlyargs + method.args.args
        if not positional or positional[0].arg != node.id:
            return False
        if any(_dotted(d) in ("staticmethod", "builtins.staticmethod") for d in method.decorator_list):
            return False
        if any(isinstance(n, ast.Nonlocal) and node.id in n.names for n in ast.walk(method)):
            return False
        symbol = where.table.lookup(node.id)
        return symbol.is_parameter() and not symbol.is_assigned()


# -- the checks ---------------------------------------------------------------------------------
_ANNOTATION_EXPRESSIONS = (ast.Name, ast.Attribute, ast.Subscript, ast.Constant, ast.Tuple, ast.List, ast.Starred)


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


@functools.lru_cache(maxsize=1)
def _torch_folders() -> tuple[Path, ...]:
    """Where the installed torch package lives (found without importing it)."""
    try:
        spec = importlib.util.find_spec("torch")
    except (ImportError, ValueError):
        return ()
    return tuple(Path(p) for p in (spec.submodule_search_locations or [])) if spec else ()


@functools.lru_cache(maxsize=4096)
def _torch_submodule(parts: tuple[str, ...]) -> bool:
    """Whether ``torch.<parts>`` is a module of the installed torch (a package folder or a module file)."""
    for folder in _torch_folders():
        base = folder.joinpath(*parts)
        if base.is_dir() or any(base.with_name(base.name + s).is_file() for s in importlib.machinery.all_suffixes()):
            return True
    return False


def _docstrings(tree: ast.Module) -> set[int]:
    """Ids of the docstring nodes: the first string expression of the module, of each class and function."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef) and node.body:
            first = node.body[0]
            if (
                isinstance(first, ast.Expr)
                and isinstance(first.value, ast.Constant)
                and isinstance(first.value.value, str)
            ):
                found.add(id(first.value))
    return found


def _attribute_problem(name: str) -> str | None:
    """Why an attribute of this name is refused on an object that could be anything, or ``None``."""
    if name in ESCAPE_ATTRIBUTES:
        return f"attribute {name!r} is not allowed (sandbox escape: it reaches the interpreter's internals)"
    if name in ("__annotations__", "__annotate__", "__forward_code__"):
        return (
            f"{name!r} is not allowed in a model file: annotations handled at run time are strings that typing "
            "evaluates as code, which no check can see; write annotations in the signature or class body"
        )
    if name in STRING_EVALUATORS:
        return (
            f"{name!r} is not allowed in a model file: it evaluates strings (or source text) as code, which "
            "no check can see; write the code or the types it would produce directly"
        )
    if name in MODULE_ATTRIBUTES:
        return (
            f"attribute {name!r} is not allowed (sandbox escape: it can reach the module {name!r} through "
            f"another module, as torch.os or typing.sys do); as your own attribute write self.{name} inside a "
            "method, or choose another name"
        )
    return None


class _Checker:
    """Runs every check over one parsed file; keeps the failures and reports the most telling one."""

    def __init__(self, tree: ast.Module, scopes: _Scopes) -> None:
        self.tree = tree
        self.scopes = scopes
        self.aliases: dict[str, str] = {}
        self.imports: list[tuple[int, int, VerifyReport]] = []
        self.others: list[tuple[int, int, VerifyReport]] = []
        self.docstrings = _docstrings(tree)
        self.called = {id(n.func) for n in ast.walk(tree) if isinstance(n, ast.Call)}

    def fail(self, node: ast.AST, code: str, message: str) -> None:
        lineno, col = getattr(node, "lineno", 0), getattr(node, "col_offset", 0)
        found = (lineno, col, _fail(code, f"line {lineno}: {message}"))
        (self.imports if code == "forbidden_import" else self.others).append(found)

    def run(self) -> VerifyReport | None:
        self._check_imports()
        for node in ast.walk(self.tree):
            if isinstance(node, ast.Attribute):
                self._check_attribute(node)
            elif isinstance(node, ast.Call):
                self._check_call(node)
            elif isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in self.docstrings:
                if any(n in node.value for n in ESCAPE_STRINGS):
                    self.fail(node, "forbidden_call", "string naming an introspection escape is not allowed")
            elif isinstance(node, ast.arg | ast.AnnAssign) and node.annotation is not None:
                self._check_annotation(node.annotation)
            elif isinstance(node, _FUNCTION_NODES) and node.returns is not None:
                self._check_annotation(node.returns)
            elif isinstance(node, ast.ClassDef):
                self._check_class(node)
        self._check_names()
        for found in (self.imports, self.others):
            if found:
                return min(found, key=lambda f: (f[0], f[1]))[2]
        return None

    # -- imports -------------------------------------------------------------------------------
    def _check_imports(self) -> None:
        for node in ast.walk(self.tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    self._report(node, _check_import(alias.name, node.lineno))
                    inner = next((p for p in alias.name.split(".")[1:] if _attribute_problem(p)), None)
                    if inner:
                        self.fail(
                            node,
                            "forbidden_import",
                            f"importing {alias.name!r} is not allowed: {inner!r} reaches outside the allowlist",
                        )
                    head = alias.name.split(".")[0]
                    self.aliases[alias.asname or head] = alias.name if alias.asname else head
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    self.fail(node, "forbidden_import", "relative import; a candidate is one standalone file")
                    continue
                module = node.module or ""
                self._report(node, _check_import(module, node.lineno))
                for alias in node.names:
                    if alias.name == "*":
                        self.fail(
                            node,
                            "forbidden_import",
                            f"'from {module} import *' is not allowed: it binds names no check can see; "
                            f"import the names you use (from {module} import ...)",
                        )
                        continue
                    full = f"{module}.{alias.name}"
                    problem = _attribute_problem(alias.name)
                    if alias.name in MODULE_ATTRIBUTES:
                        problem = f"it reaches {alias.name!r}, outside the allowlist, through {module}"
                    if problem:
                        self.fail(node, "forbidden_import", f"importing {full!r} is not allowed: {problem}")
                    self._report(node, _check_path(full, node.lineno) or _check_import(full, node.lineno, True))
                    self.aliases[alias.asname or alias.name] = full

    def _report(self, node: ast.AST, report: VerifyReport | None) -> None:
        if report is not None:
            found = (getattr(node, "lineno", 0), getattr(node, "col_offset", 0), report)
            (self.imports if report.code == "forbidden_import" else self.others).append(found)

    def _resolve(self, dotted: str) -> str:
        head, _, rest = dotted.partition(".")
        return self.aliases.get(head, head) + (f".{rest}" if rest else "")

    # -- attributes, calls, annotations ----------------------------------------------------------
    def _check_attribute(self, node: ast.Attribute) -> None:
        problem = _attribute_problem(node.attr)
        if problem and not (node.attr in MODULE_ATTRIBUTES and self.scopes.is_method_self(node.value)):
            self.fail(node, "forbidden_call", problem)
            return
        dotted = _dotted(node)
        if dotted:
            self._report(node, _check_path(self._resolve(dotted), node.lineno))

    def _builtin_call(self, node: ast.Call, names: frozenset[str] | set[str]) -> bool:
        func = node.func
        if not isinstance(func, ast.Name) or func.id not in names or id(func) not in self.scopes.by_node:
            return False
        return self.scopes.refers_to_builtin(self.scopes.by_node[id(func)])

    def _check_call(self, node: ast.Call) -> None:
        if self._builtin_call(node, _ATTRIBUTE_FUNCTIONS):
            self._check_attribute_function(node)
        elif self._builtin_call(node, {"type"}) and (
            len(node.args) > 1 or node.keywords or any(isinstance(a, ast.Starred) for a in node.args)
        ):
            self.fail(
                node,
                "forbidden_call",
                "type(name, bases, namespace) is not allowed: it builds a class from a dictionary no check can "
                "see; write a class statement",
            )

    def _check_class(self, node: ast.ClassDef) -> None:
        """No metaclass: its ``__new__`` or ``__prepare__`` rewrites the class namespace where no check sees."""
        builtin_type = any(
            isinstance(b, ast.Name) and b.id == "type" and self.scopes.refers_to_builtin(self.scopes.by_node[id(b)])
            for b in node.bases
            if id(b) in self.scopes.by_node
        )
        if builtin_type or any(k.arg == "metaclass" for k in node.keywords):
            self.fail(
                node,
                "forbidden_call",
                f"class {node.name}: a metaclass (metaclass=..., or a subclass of type) is not allowed in a model "
                "file; it rewrites class namespaces where no check sees. Use a plain class (nn.Module)",
            )

    def _check_attribute_function(self, node: ast.Call) -> None:
        """``getattr(obj, name)``: the name must be a literal, and not one the sandbox forbids."""
        func = node.func.id
        if len(node.args) < 2 or not (isinstance(node.args[1], ast.Constant) and isinstance(node.args[1].value, str)):
            self.fail(
                node,
                "forbidden_call",
                f"{func}() with a computed attribute name is not allowed; "
                "access attributes directly (obj.name) or with a literal string",
            )
            return
        name = node.args[1].value
        problem = _attribute_problem(name)
        if problem and not (name in MODULE_ATTRIBUTES and self.scopes.is_method_self(node.args[0])):
            self.fail(node, "forbidden_call", problem)
            return
        owner = _dotted(node.args[0])
        if owner:
            self._report(node, _check_path(f"{self._resolve(owner)}.{name}", node.lineno))

    def _check_annotation(self, annotation: ast.expr, text: str | None = None) -> None:
        """An annotation names a type: no call, no computed string, nothing a check of code would refuse."""
        where = f"the string annotation {text!r}" if text is not None else "an annotation"
        for node in ast.walk(annotation):
            if not isinstance(node, ast.expr):
                continue
            if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
                continue
            if not isinstance(node, _ANNOTATION_EXPRESSIONS):
                self.fail(
                    annotation,
                    "forbidden_call",
                    f"{where} computes a value ({ast.unparse(node)!r}); an annotation may only name a type "
                    "(names, attributes, subscripts such as Optional[int], X | None, string forward references)",
                )
                return
            if text is not None and isinstance(node, ast.Name) and node.id in FORBIDDEN_NAMES:
                self.fail(annotation, "forbidden_call", f"{where} names {node.id!r}, which is not allowed")
                return
            if text is not None and isinstance(node, ast.Attribute) and _attribute_problem(node.attr):
                self.fail(annotation, "forbidden_call", f"{where}: {_attribute_problem(node.attr)}")
                return
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                try:
                    parsed = ast.parse(node.value.strip(), mode="eval")
                except SyntaxError:
                    continue  # words, not an expression: nothing can evaluate it
                for inner in ast.walk(parsed):  # keep the outer line numbers in messages
                    if hasattr(inner, "lineno"):
                        inner.lineno, inner.col_offset = annotation.lineno, annotation.col_offset
                self._check_annotation(parsed.body, node.value)

    # -- names -----------------------------------------------------------------------------------
    def _check_names(self) -> None:
        for use in self.scopes.uses:
            name, ctx = use.node.id, use.node.ctx
            if name in ALWAYS_FORBIDDEN_NAMES:
                self.fail(
                    use.node,
                    "forbidden_call",
                    f"use of {name!r} is not allowed in a model file (no file, process, network or dynamic-code access)",
                )
            elif not isinstance(ctx, ast.Load):
                continue
            elif name in BUILTIN_NAMES and self.scopes.refers_to_builtin(use):
                self.fail(
                    use.node,
                    "forbidden_call",
                    f"use of {name!r} is not allowed in a model file (no file, process, network or dynamic-code "
                    f"access); a parameter or variable of that name is fine once it is bound",
                )
            elif (
                name in _ATTRIBUTE_FUNCTIONS and id(use.node) not in self.called and self.scopes.refers_to_builtin(use)
            ):
                self.fail(
                    use.node,
                    "forbidden_call",
                    f"{name} may only be called directly, with a literal attribute name ({name}(obj, 'name', ...)); "
                    "passed on as a value it could be called with any name",
                )


def _check_import(name: str, lineno: int, from_item: bool = False) -> VerifyReport | None:
    top = name.split(".")[0]
    if top not in ALLOWED_MODULES:
        if from_item:
            return None
        return _fail(
            "forbidden_import",
            f"line {lineno}: import of {name!r} is not allowed; a model may import only "
            f"{', '.join(sorted(ALLOWED_MODULES - {'__future__'}))}",
        )
    return _check_path(name, lineno, code="forbidden_import")


def _check_path(path: str, lineno: int, code: str = "forbidden_call") -> VerifyReport | None:
    """A dotted name, with imports resolved (``F.relu`` -> ``torch.nn.functional.relu``): refused when it
    is or lies below a forbidden path, names a private part of an allowed standard-library module, or a
    private torch submodule."""
    for bad in FORBIDDEN_PATHS:
        if path == bad or path.startswith(bad + "."):
            return _fail(
                code,
                f"line {lineno}: {path!r} is not allowed in a model file "
                "(no loading, saving, compiling, code from strings, processes or networking)",
            )
    parts = path.split(".")
    if parts[0] in _STDLIB_ALLOWED:
        private = next((p for p in parts[1:] if _private(p)), None)
        if private:
            return _fail(
                code,
                f"line {lineno}: {path!r} is not allowed: {private!r} is private to the standard library's "
                f"{parts[0]} module; use its public names",
            )
    elif parts[0] == "torch":
        for i in range(1, len(parts)):
            if _private(parts[i]) and _torch_submodule(tuple(parts[1 : i + 1])):
                return _fail(
                    code,
                    f"line {lineno}: {path!r} is not allowed: {'.'.join(parts[: i + 1])} is a private torch "
                    "module (internals, compilers, native bindings); use torch's public API",
                )
    return None
