"""Static checks of candidate source: no execution, only the syntax tree.

Catches what must never reach a Python interpreter: text that is not code (Markdown,
prose, a file cut off mid-way, bytes Python cannot decode), imports outside the
allowlist, and calls or attributes that reach outside the sandbox (files, processes,
sockets, introspection escapes). A file is decoded exactly as Python's import system
decodes it (:func:`fairnad_tools.io.read_python_source`: UTF-8 byte-order mark, PEP 263
coding declarations, CRLF and CR line ends), so what is checked is what would run.
"""

from __future__ import annotations

import ast
import os
import re

from fairnad_tools.io import SourceDecodeError, read_python_source
from fairnad_tools.verify.report import VerifyReport

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
)
FORBIDDEN_NAMES = frozenset(
    {
        "open",
        "exec",
        "eval",
        "compile",
        "__import__",
        "globals",
        "locals",
        "vars",
        "breakpoint",
        "input",
        "exit",
        "quit",
        "help",
        "memoryview",
        "__builtins__",
        "os",
        "sys",
        "subprocess",
        "socket",
    }
)
FORBIDDEN_ATTRIBUTES = frozenset(
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
        "f_globals",
        "f_locals",
        "f_back",
        "gi_frame",
        # modules reachable as attributes of allowed ones (torch.os, typing.sys, F.np, ...)
        "os",
        "sys",
        "_sys",
        "builtins",
        "ctypes",
        "glob",
        "importlib",
        "inspect",
        "platform",
        "threading",
        "_thread",
        "np",
        "types",
        "subprocess",
        "socket",
        "shutil",
        "pathlib",
        "pickle",
        "tempfile",
        "multiprocessing",
        "environ",
        "system",
        "popen",
        "from_file",
    }
)


_PROSE = re.compile(r"^[A-Z][A-Za-z']*[ ,!:.]+[A-Za-z]")
ESCAPE_STRINGS = ("__subclasses__", "__globals__", "__builtins__", "__import__", "__loader__", "__code__")


def _fail(code: str, message: str) -> VerifyReport:
    return VerifyReport(ok=False, code=code, message=message)  # type: ignore[arg-type]


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
    in a file saved as UTF-8 with one.
    """
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

    aliases: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                found = _check_import(alias.name, node.lineno)
                if found:
                    return found
                aliases[alias.asname or alias.name.split(".")[0]] = (
                    alias.name if alias.asname else alias.name.split(".")[0]
                )
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                return _fail(
                    "forbidden_import",
                    f"line {node.lineno}: relative import; a candidate is one standalone file",
                )
            module = node.module or ""
            found = _check_import(module, node.lineno)
            if found:
                return found
            for alias in node.names:
                full = f"{module}.{alias.name}"
                found = _check_path(full, node.lineno) or _check_import(full, node.lineno, True)
                if found:
                    return found
                aliases[alias.asname or alias.name] = full

    for node in ast.walk(tree):
        found = _check_dynamic_attribute(node, aliases)
        if found:
            return found
        if isinstance(node, ast.Name) and node.id in FORBIDDEN_NAMES:
            return _fail(
                "forbidden_call",
                f"line {node.lineno}: use of {node.id!r} is not allowed in a model file "
                "(no file, process, network or dynamic-code access)",
            )
        if isinstance(node, ast.Attribute):
            if node.attr in FORBIDDEN_ATTRIBUTES:
                return _fail(
                    "forbidden_call",
                    f"line {node.lineno}: attribute {node.attr!r} is not allowed (sandbox escape)",
                )
            dotted = _dotted(node)
            if dotted:
                head, _, rest = dotted.partition(".")
                resolved = aliases.get(head, head) + (f".{rest}" if rest else "")
                found = _check_path(resolved, node.lineno)
                if found:
                    return found
        if (
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and any(n in node.value for n in ESCAPE_STRINGS)
        ):
            return _fail("forbidden_call", f"line {node.lineno}: string naming an introspection escape is not allowed")

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


_ATTRIBUTE_FUNCTIONS = frozenset({"getattr", "setattr", "delattr", "hasattr"})


def _check_dynamic_attribute(node: ast.AST, aliases: dict[str, str]) -> VerifyReport | None:
    """``getattr(obj, name)``: the name must be a literal, and not one the sandbox forbids."""
    if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in _ATTRIBUTE_FUNCTIONS):
        return None
    if len(node.args) < 2 or not (isinstance(node.args[1], ast.Constant) and isinstance(node.args[1].value, str)):
        return _fail(
            "forbidden_call",
            f"line {node.lineno}: {node.func.id}() with a computed attribute name is not allowed; "
            "access attributes directly (obj.name) or with a literal string",
        )
    name = node.args[1].value
    if name in FORBIDDEN_ATTRIBUTES:
        return _fail("forbidden_call", f"line {node.lineno}: attribute {name!r} is not allowed (sandbox escape)")
    owner = _dotted(node.args[0])
    if owner:
        head, _, rest = owner.partition(".")
        resolved = aliases.get(head, head) + (f".{rest}" if rest else "") + f".{name}"
        return _check_path(resolved, node.lineno)
    return None


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
    for bad in FORBIDDEN_PATHS:
        if path == bad or path.startswith(bad + "."):
            return _fail(
                code,  # type: ignore[arg-type]
                f"line {lineno}: {path!r} is not allowed in a model file "
                "(no loading, saving, compiling extensions, processes or networking)",
            )
    return None
