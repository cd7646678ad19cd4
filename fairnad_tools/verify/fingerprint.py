"""A structure hash for code-only candidates: equal for sources that differ only in layout.

Spec candidates are hashed by their space (:meth:`fairnad_tools.spaces.SearchSpace.structure_hash`);
a candidate written as code has no spec, so its hash is taken over the parsed program instead:
comments, blank lines, formatting and docstrings do not change it; any change to the code does.
"""

from __future__ import annotations

import ast
import hashlib

__all__ = ["code_fingerprint"]


def _drop_docstrings(tree: ast.AST) -> ast.AST:
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            first = body[0].value if body and isinstance(body[0], ast.Expr) else None
            if isinstance(first, ast.Constant) and isinstance(first.value, str):
                node.body = body[1:] or [ast.Pass()]
    return tree


def code_fingerprint(source: str) -> str:
    """``"code:"`` plus 16 hex digits of the SHA-256 of the normalised syntax tree of ``source``.

    A source that does not parse is hashed as text (the verifier rejects it anyway).
    """
    try:
        text = ast.dump(_drop_docstrings(ast.parse(source)))
    except (SyntaxError, ValueError):
        text = source
    return "code:" + hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]
