"""Does a candidate file look cut short? A pure check of the text, shared by the verifier and the agents.

An LLM answer that hits its length limit stops wherever the limit falls. Often the file then
does not parse (an open bracket, an unterminated string), but it can also stop at a point where
what came before is complete Python: in the middle of a name inside a class, after a method, with
no ``build_model`` yet. Such a file parses, so its first failure would read as a missing entry
point or an unknown name; the verifier adds that the file looks truncated, so a person or an LLM
asked to repair it knows to produce the whole file rather than patch a line.
"""

from __future__ import annotations

import ast

__all__ = ["looks_truncated"]

# Parser messages that mean the text ended before a construct was closed.
_OPEN_AT_END = (
    "was never closed",
    "unexpected EOF",
    "unterminated triple-quoted string",
    "unterminated string literal",
    "expected an indented block",
)


def looks_truncated(source: str) -> str | None:
    """Why ``source`` looks cut short, or ``None`` when it looks complete (or is not code at all).

    A file looks truncated when it ends inside an open bracket, string or block (the parser's
    complaint is at its last lines); when it parses, has no top-level ``build_model`` and ends
    in a class or function that looks cut (the text stops mid-line; a module class with
    ``__init__`` but no ``forward``, a ``forward`` with no ``return``, a bare name as the last
    statement); or when ``build_model`` is the last statement and never returns. The reason is a short phrase for a message ("it ends inside class Net
    ..."). Never raises.
    """
    text = source.removeprefix("\ufeff")
    if not text.strip():
        return None
    lines = text.rstrip().splitlines()
    try:
        tree = ast.parse(text)
    except SyntaxError as exc:
        message = exc.msg or ""
        near_end = exc.lineno is None or exc.lineno >= len(lines) - 1 or "triple-quoted" in message
        if near_end and any(key in message for key in _OPEN_AT_END):
            where = f" at line {exc.lineno}" if exc.lineno else ""
            return f"it ends in the middle of a statement ({message}{where})"
        return None
    except (ValueError, RecursionError):  # NUL bytes, absurd nesting: not a truncation question
        return None
    if not tree.body:
        return None
    last = tree.body[-1]
    entry = [n for n in tree.body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef) and n.name == "build_model"]
    # A complete file ends with its entry point; one that stops inside a class never got there. A
    # file with a misnamed entry point also lacks build_model, so the end must look cut as well.
    ends_mid_line = not text.endswith("\n")
    if not entry and isinstance(last, ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
        cut = ends_mid_line or (isinstance(last, ast.ClassDef) and _class_looks_cut(last))
        if cut:
            kind = "class" if isinstance(last, ast.ClassDef) else "function"
            return (
                f"it ends inside {kind} {last.name} (line {last.lineno}, last line {len(lines)}: "
                f"{lines[-1].strip()[:60]!r}) and defines no build_model"
            )
    if entry and last is entry[-1] and not any(isinstance(n, ast.Return) for n in ast.walk(last)):
        return f"build_model (line {last.lineno}) is the last definition and never returns a model"
    return None


def _class_looks_cut(node: ast.ClassDef) -> bool:
    """A module class with ``__init__`` but no ``forward``, a ``forward`` that never returns, or a
    body ending in a bare name (``nn.Line``)."""
    methods = {n.name: n for n in node.body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)}
    bases = " ".join(ast.unparse(b) for b in node.bases)
    if "Module" in bases and "ModuleList" not in bases and "__init__" in methods and "forward" not in methods:
        return True
    forward = methods.get("forward")
    if forward is not None and not any(isinstance(n, ast.Return) for n in ast.walk(forward)):
        return True
    tail: ast.stmt = node.body[-1]
    while isinstance(tail, ast.FunctionDef | ast.AsyncFunctionDef) and tail.body:
        tail = tail.body[-1]
    return isinstance(tail, ast.Expr) and isinstance(tail.value, ast.Name | ast.Attribute)
