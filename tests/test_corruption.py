"""Valid models corrupted automatically, the way generated code goes wrong: each corruption
must be rejected with a plausible code (the parent is the uncorrupted file)."""

from __future__ import annotations

import ast
from collections.abc import Callable
from pathlib import Path

import pytest

from fairnad_tools.arch import render
from fairnad_tools.arch.seeds import resnet32
from fairnad_tools.verify import verify_file
from tests.corpus import cases

pytestmark = pytest.mark.timeout(300)


def _self_attr(node: ast.AST) -> str | None:
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "self":
        return node.attr
    return None


def _layer_assignment(tree: ast.Module) -> tuple[ast.FunctionDef, ast.Assign] | None:
    """An ``self.x = nn.Something(...)`` in an ``__init__`` whose ``x`` the class's forward uses."""
    for cls in (n for n in tree.body if isinstance(n, ast.ClassDef)):
        methods = {f.name: f for f in cls.body if isinstance(f, ast.FunctionDef)}
        if "__init__" not in methods or "forward" not in methods:
            continue
        used = {_self_attr(n) for n in ast.walk(methods["forward"])} - {None}
        for stmt in methods["__init__"].body:
            if (
                isinstance(stmt, ast.Assign)
                and len(stmt.targets) == 1
                and _self_attr(stmt.targets[0]) in used
                and isinstance(stmt.value, ast.Call)
            ):
                return methods["__init__"], stmt
    return None


def delete_layer_line(source: str) -> str | None:
    tree = ast.parse(source)
    found = _layer_assignment(tree)
    if found is None:
        return None
    init, stmt = found
    init.body.remove(stmt)
    if not init.body:
        init.body.append(ast.Pass())
    return ast.unparse(tree)


def delete_return_of_build_model(source: str) -> str | None:
    tree = ast.parse(source)
    build = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "build_model")
    if not isinstance(build.body[-1], ast.Return):
        return None
    build.body[-1] = ast.Expr(build.body[-1].value) if build.body[-1].value is not None else ast.Pass()
    return ast.unparse(tree)


def change_channel_count(source: str) -> str | None:
    tree = ast.parse(source)
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in ("Conv2d", "Linear")
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, int)
        ):
            node.args[0] = ast.Constant(node.args[0].value + 5)
            return ast.unparse(tree)
    return None


def drop_classifier(source: str) -> str | None:
    tree = ast.parse(source)
    linears = [
        n
        for n in ast.walk(tree)
        if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and n.func.attr == "Linear"
    ]
    if not linears:
        return None
    last = max(linears, key=lambda n: (n.lineno, n.col_offset))
    last.func.attr, last.args, last.keywords = "Identity", [], []
    return ast.unparse(tree)


def rename_used_layer(source: str) -> str | None:
    tree = ast.parse(source)
    found = _layer_assignment(tree)
    if found is None:
        return None
    found[1].targets[0].attr += "_renamed"
    return ast.unparse(tree)


def insert_import(source: str) -> str | None:
    return "import os\n" + source


CORRUPTIONS: dict[str, tuple[Callable[[str], str | None], set[str]]] = {
    "delete_layer_line": (delete_layer_line, {"forward_error", "build_error"}),
    "delete_return_of_build_model": (delete_return_of_build_model, {"build_error"}),
    "change_channel_count": (change_channel_count, {"forward_error", "build_error"}),
    "drop_classifier": (drop_classifier, {"bad_output_shape", "forward_error"}),
    "rename_used_layer": (rename_used_layer, {"forward_error", "build_error"}),
    "insert_import": (insert_import, {"forbidden_import"}),
}


def sources(tmp_root: Path) -> list[Path]:
    seed = tmp_root / "resnet32.py"
    seed.write_text(render(resnet32()))
    valid = [c.path for c in cases("valid") if c.input_shape == (3, 32, 32) and c.num_classes == 10]
    return [seed, *valid]


def test_every_corruption_of_every_valid_model_is_rejected(tmp_path):
    applied, failures = 0, []
    for original in sources(tmp_path):
        source = original.read_text()
        for kind, (corrupt, plausible) in CORRUPTIONS.items():
            corrupted = corrupt(source)
            if corrupted is None:
                continue
            path = tmp_path / f"{original.stem}__{kind}.py"
            path.write_text(corrupted)
            report = verify_file(path, parent=original, timeout_s=10)
            applied += 1
            if report.ok or report.code not in plausible:
                failures.append(f"{path.name}: {report.code}: {report.message[:200]}")
    assert applied >= 40, applied
    assert not failures, "\n".join(failures)
