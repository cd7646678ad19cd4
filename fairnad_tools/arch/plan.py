"""Construction plans: one description of a model that can be built or written out.

A plan is a tree of calls on library classes and torch objects. :meth:`Plan.build`
evaluates it into modules; :meth:`Plan.render` writes it as the body of
``build_model(num_classes)`` and copies the library classes it uses. Both walk the same
tree in the same order, so a model built from a spec and the rendered ``model.py`` have
the same parameters and, under the same seed, the same outputs.
"""

from __future__ import annotations

import functools
import inspect
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from torch import nn

from fairnad_tools.arch import library

Node = Any  # Ref | Call | Var | Splat | int | float | str | bool | None | list | tuple
WIDTH = 120


@dataclass(frozen=True)
class Ref:
    """A class or function the model uses: a library class, ``nn.X`` or ``partial``."""

    obj: Any
    text: str


@dataclass(frozen=True)
class Call:
    fn: Node
    args: tuple[Node, ...] = ()
    kwargs: tuple[tuple[str, Node], ...] = ()


@dataclass(frozen=True)
class Var:
    name: str


@dataclass(frozen=True)
class Splat:
    """Inside a list: ``*[node for _ in range(times)]`` (builds ``times`` separate modules)."""

    node: Node
    times: int


def lib(cls: type) -> Ref:
    return Ref(cls, cls.__name__)


def torch_nn(name: str) -> Ref:
    return Ref(getattr(nn, name), f"nn.{name}")


PARTIAL = Ref(functools.partial, "partial")


def _without_defaults(fn: Node, kwargs: dict[str, Node]) -> dict[str, Node]:
    """Drop keyword arguments equal to the library class's own defaults (shorter, same model)."""
    if not (isinstance(fn, Ref) and isinstance(fn.obj, type) and fn.obj.__module__ == library.__name__):
        return kwargs
    params = inspect.signature(fn.obj).parameters
    return {
        k: v
        for k, v in kwargs.items()
        if not (
            k in params
            and params[k].default is not inspect.Parameter.empty
            and params[k].default == v
            and type(params[k].default) is type(v)
        )
    }


def call(fn: Node, *args: Node, **kwargs: Node) -> Call:
    return Call(fn, tuple(args), tuple(_without_defaults(fn, kwargs).items()))


def partial(fn: Node, **kwargs: Node) -> Node:
    """``partial(fn, **kwargs)``, or ``fn`` itself when there is nothing to bind."""
    kwargs = _without_defaults(fn, kwargs)
    return Call(PARTIAL, (fn,), tuple(kwargs.items())) if kwargs else fn


NUM_CLASSES = Var("num_classes")


@dataclass
class Plan:
    root: Node
    lets: list[tuple[str, Node]] = field(default_factory=list)

    # -- building ------------------------------------------------------------------------------
    def build(self, num_classes: int) -> nn.Module:
        env: dict[str, Any] = {"num_classes": num_classes}
        for name, node in self.lets:
            env[name] = _evaluate(node, env)
        return _evaluate(self.root, env)

    # -- rendering -----------------------------------------------------------------------------
    def refs(self) -> Iterator[Ref]:
        for node in [n for _, n in self.lets] + [self.root]:
            yield from _refs(node)

    def render(self, docstring: str) -> str:
        """The whole ``model.py``: docstring, imports, the library classes used, ``build_model``."""
        classes: list[type] = []
        for ref in self.refs():
            if isinstance(ref.obj, type) and ref.obj.__module__ == library.__name__ and ref.obj not in classes:
                classes.append(ref.obj)
        order = {name: i for i, name in enumerate(vars(library))}
        classes.sort(key=lambda c: order[c.__name__])
        sources = [inspect.getsource(c) for c in classes]
        body = "\n\n".join(sources)
        uses_partial = any(ref.obj is functools.partial for ref in self.refs())
        imports = []
        if "math." in body:
            imports.append("import math")
        if uses_partial:
            imports.append("from functools import partial")
        if imports:
            imports.append("")
        imports.append("import torch")
        if "F." in body:
            imports.append("import torch.nn.functional as F")
        imports.append("from torch import nn")
        lines = [f'"""{docstring}"""', "", *imports, "", ""]
        if sources:
            lines += [body.rstrip("\n"), "", ""]
        lines.append("def build_model(num_classes: int) -> nn.Module:")
        for name, node in self.lets:
            lines.append(_format(node, indent=4, prefix=f"    {name} = "))
        lines.append(_format(self.root, indent=4, prefix="    return "))
        text = "\n".join(lines) + "\n"
        if "torch." not in text.split("from torch import nn", 1)[1]:
            text = text.replace("import torch\n", "", 1)
        return text


def _refs(node: Node) -> Iterator[Ref]:
    if isinstance(node, Ref):
        yield node
    elif isinstance(node, Call):
        yield from _refs(node.fn)
        for arg in node.args:
            yield from _refs(arg)
        for _, value in node.kwargs:
            yield from _refs(value)
    elif isinstance(node, Splat):
        yield from _refs(node.node)
    elif isinstance(node, list | tuple):
        for item in node:
            yield from _refs(item)


def _evaluate(node: Node, env: dict[str, Any]) -> Any:
    if isinstance(node, Ref):
        return node.obj
    if isinstance(node, Var):
        return env[node.name]
    if isinstance(node, Call):
        fn = _evaluate(node.fn, env)
        args = _evaluate_items(node.args, env)
        kwargs = {key: _evaluate(value, env) for key, value in node.kwargs}
        return fn(*args, **kwargs)
    if isinstance(node, list):
        return _evaluate_items(node, env)
    if isinstance(node, tuple):
        return tuple(_evaluate_items(node, env))
    return node


def _evaluate_items(items: Any, env: dict[str, Any]) -> list[Any]:
    values: list[Any] = []
    for item in items:
        if isinstance(item, Splat):
            values.extend(_evaluate(item.node, env) for _ in range(item.times))
        else:
            values.append(_evaluate(item, env))
    return values


def _literal(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return repr(value)
    if isinstance(value, float):
        if math.isfinite(value) and value == int(value) and abs(value) < 1e6:
            return f"{value:.1f}"
        return repr(value)
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return repr(value)


def _inline(node: Node) -> str:
    if isinstance(node, Ref):
        return node.text
    if isinstance(node, Var):
        return node.name
    if isinstance(node, Splat):
        return f"*[{_inline(node.node)} for _ in range({node.times})]"
    if isinstance(node, Call):
        parts = [_inline(a) for a in node.args] + [f"{k}={_inline(v)}" for k, v in node.kwargs]
        return f"{_inline(node.fn)}({', '.join(parts)})"
    if isinstance(node, list):
        return "[" + ", ".join(_inline(n) for n in node) + "]"
    if isinstance(node, tuple):
        inner = ", ".join(_inline(n) for n in node)
        return f"({inner},)" if len(node) == 1 else f"({inner})"
    return _literal(node)


def _format(node: Node, indent: int, prefix: str, suffix: str = "") -> str:
    """Pretty-print: one line when it fits in WIDTH, else one argument per line."""
    flat = prefix + _inline(node) + suffix
    if len(flat) <= WIDTH or not isinstance(node, Call | list | Splat):
        return flat
    pad = " " * (indent + 4)
    if isinstance(node, Splat):
        inner = _format(node.node, indent + 4, pad, f" for _ in range({node.times})")
        return f"{prefix}*[\n{inner}\n{' ' * indent}]{suffix}"
    if isinstance(node, list):
        items = [_format(n, indent + 4, pad, ",") for n in node]
        return prefix + "[\n" + "\n".join(items) + f"\n{' ' * indent}]" + suffix
    items = [_format(a, indent + 4, pad, ",") for a in node.args]
    items += [_format(v, indent + 4, f"{pad}{k}=", ",") for k, v in node.kwargs]
    return f"{prefix}{_inline(node.fn)}(\n" + "\n".join(items) + f"\n{' ' * indent}){suffix}"
