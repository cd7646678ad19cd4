"""Pulling usable content out of an LLM's reply: reasoning blocks, JSON objects, code, edits.

Real servers wrap answers in prose, Markdown fences and, for reasoning models such as Qwen3,
a ``<think>…</think>`` block before the answer (DESIGN.md §5, LLM traps). A small model also
stops mid-file when it reaches its answer limit; :func:`extract_code` says so instead of
handing a cut file to the verifier. Everything here is pure text processing: no LLM, no I/O.

Search/replace edits (:func:`parse_edits`, :func:`apply_edits`) use the conflict-marker
format most code models know::

    <<<<<<< SEARCH
    lines copied exactly from the current file
    =======
    the lines that replace them
    >>>>>>> REPLACE
"""

from __future__ import annotations

import ast
import hashlib
import html
import json
import re
from dataclasses import dataclass
from typing import Any

from fairnad_tools.verify.truncation import looks_truncated

__all__ = [
    "AnswerError",
    "CodeAnswer",
    "Edit",
    "apply_edits",
    "code_structure_hash",
    "extract_code",
    "extract_json",
    "parse_edits",
    "strip_think",
]

_THINK = re.compile(r"<think>.*?(?:</think>|\Z)", re.DOTALL | re.IGNORECASE)
_FENCE = re.compile(r"```[A-Za-z0-9_+-]*[ \t]*\n(.*?)(?:\n```|\Z)", re.DOTALL)


class AnswerError(ValueError):
    """A reply holds no usable answer of the kind asked for; the message says what is wrong."""


def strip_think(text: str) -> str:
    """``text`` without ``<think>…</think>`` blocks (an unclosed block runs to the end)."""
    return _THINK.sub("", text).strip()


def extract_json(text: str) -> dict[str, Any]:
    """The first JSON object in ``text``: the whole reply, a fenced block, or the first ``{…}`` span.

    Raises :class:`AnswerError` when no JSON object can be decoded (the message quotes the
    decoder's complaint, which is what a re-ask tells the LLM).
    """
    body = strip_think(text)
    tries = [body, *(m.group(1) for m in _FENCE.finditer(body))]
    start = body.find("{")
    if start >= 0:
        tries.append(body[start:])
    last = "the reply holds no '{'"
    decoder = json.JSONDecoder()
    for chunk in tries:
        chunk = chunk.strip()
        brace = chunk.find("{")
        if brace < 0:
            continue
        try:
            value, _ = decoder.raw_decode(chunk[brace:])
        except json.JSONDecodeError as exc:
            last = f"invalid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
            continue
        if isinstance(value, dict):
            return value
        last = f"expected a JSON object, got {type(value).__name__}"
    raise AnswerError(f"no JSON object in the reply ({last})")


# -- code -----------------------------------------------------------------------------------------

_FENCE_OPEN = re.compile(r"^[ \t]*```[ \t]*([A-Za-z0-9_+.-]*)[ \t]*$")
_FENCE_CLOSE = re.compile(r"^[ \t]*```[ \t]*$")
_PYTHON_TAGS = frozenset({"python", "py", "python3"})
# The first line of an unfenced file: an import, a definition, a decorator, a docstring, a comment
# or an assignment; prose before it is dropped.
_CODE_START = re.compile(
    r"^(?:from\s+\S+\s+import\b|import\s+\w|class\s+\w|def\s+\w|@\w|\"\"\"|\'\'\'|#|[A-Za-z_]\w*\s*(?::[^=]+)?=)"
)
_PROSE_LINE = re.compile(r"^[A-Z][A-Za-z']*[ ,!:.]+[A-Za-z]")
_NO_CODE = (
    "the reply holds no Python code; answer with the complete model.py in one ```python block, "
    "with nothing else around it"
)


@dataclass(frozen=True)
class CodeAnswer:
    """A code answer pulled out of a reply.

    ``code`` is the Python source ('' when none was found); ``truncated`` is true when the reply
    was cut short (length limit, an unterminated fence, an open bracket or string, a file that
    stops inside a class with no ``build_model``); ``problem`` says what is wrong in words meant
    for the LLM on a retry (``None`` when the code looks usable).
    """

    code: str
    truncated: bool
    problem: str | None

    @property
    def usable(self) -> bool:
        """Whether the code can go to the verifier (found, and not cut short)."""
        return bool(self.code.strip()) and not self.truncated and self.problem is None


@dataclass
class _Fence:
    tag: str
    body: str
    closed: bool


def _fences(text: str) -> list[_Fence]:
    fences: list[_Fence] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        opening = _FENCE_OPEN.match(lines[i])
        if not opening:
            i += 1
            continue
        body: list[str] = []
        i += 1
        closed = False
        while i < len(lines):
            if _FENCE_CLOSE.match(lines[i]):
                closed = True
                break
            body.append(lines[i])
            i += 1
        fences.append(_Fence(opening.group(1).lower(), "\n".join(body), closed))
        i += 1
    return fences


def _parses(code: str) -> bool:
    try:
        ast.parse(code)
    except (SyntaxError, ValueError, RecursionError):
        return False
    return True


def _unfenced(text: str) -> str:
    lines = text.splitlines()
    start = next((i for i, line in enumerate(lines) if _CODE_START.match(line)), None)
    if start is None:
        return ""
    code_lines = lines[start:]
    # drop trailing prose ("This model adds ...") until the rest parses
    while code_lines and not _parses("\n".join(code_lines)) and _PROSE_LINE.match(code_lines[-1].strip() or "X y"):
        code_lines.pop()
        while code_lines and not code_lines[-1].strip():
            code_lines.pop()
    code = "\n".join(code_lines)
    looks_like_python = _parses(code) or any(
        line.startswith(("import ", "from ", "class ", "def ")) for line in code_lines
    )
    return code if looks_like_python else ""


_HTML_ENTITY = re.compile(r"&(?:gt|lt|amp|quot|#39|#x27);")


def _unescape_html(code: str) -> str:
    """``code`` with HTML entities decoded when only that makes it parse.

    Some small models write ``-&gt;`` for ``->`` (seen with a quantised Qwen2.5-Coder-0.5B on
    llama.cpp); a file that parses as written is never changed (an entity inside a string
    literal stays as written).
    """
    if not _HTML_ENTITY.search(code) or _parses(code):
        return code
    decoded = html.unescape(code)
    return decoded if _parses(decoded) else code


def extract_code(text: str, finish_reason: str | None = None) -> CodeAnswer:
    """The Python file in an LLM reply: a ```python fence, any fence, or an unfenced reply.

    ``<think>`` blocks are removed first, and HTML entities (``-&gt;``) are decoded when only
    that makes the code parse. Among several fences the one defining ``build_model``
    wins (then the longest). The answer is ``truncated`` when ``finish_reason == "length"``, the
    chosen fence is never closed, or the code looks cut short
    (:func:`fairnad_tools.verify.truncation.looks_truncated`); ``problem`` then says so. A
    reply with no code gives ``code == ""`` and a ``problem``. Never raises.
    """
    body = strip_think(text)
    fences = [f for f in _fences(body) if f.body.strip()]
    chosen = [f for f in fences if f.tag in _PYTHON_TAGS or f.tag in ("", "text")] or fences
    fence: _Fence | None = None
    if chosen:
        fence = max(chosen, key=lambda f: ("def build_model" in f.body, f.tag in _PYTHON_TAGS, len(f.body)))
        code = fence.body
    else:
        code = _unfenced(body)
    code = code.strip("\n")
    code = code + "\n" if code else ""
    code = _unescape_html(code)
    cut_off = finish_reason == "length"
    if not code:
        if cut_off:
            return CodeAnswer(
                "",
                True,
                "the answer was cut off by the length limit before any code (finish_reason 'length'); "
                "skip explanations and give only the complete model.py",
            )
        return CodeAnswer("", False, _NO_CODE)
    reasons: list[str] = []
    if cut_off:
        reasons.append("it stopped at the answer length limit (finish_reason 'length')")
    if fence is not None and not fence.closed:
        reasons.append("its ``` code block is never closed")
    shape = looks_truncated(code)
    if shape:
        reasons.append(shape)
    if reasons:
        return CodeAnswer(
            code,
            True,
            "the answer was cut short: "
            + "; ".join(reasons)
            + ". Give the complete file, keeping it short: no comments or explanations",
        )
    return CodeAnswer(code, False, None)


def code_structure_hash(source: str) -> str:
    """A hash of ``source``'s syntax tree without docstrings: equal for reformatted or re-commented code.

    Used as the structure hash of code-only candidates (no spec). Text that does not parse is
    hashed with its whitespace collapsed. 16 hex digits.
    """
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError, RecursionError):
        return hashlib.sha256(" ".join(source.split()).encode()).hexdigest()[:16]
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            first = body[0] if body else None
            if (
                isinstance(first, ast.Expr)
                and isinstance(first.value, ast.Constant)
                and isinstance(first.value.value, str)
            ):
                node.body = body[1:] or [ast.Pass()]
    return hashlib.sha256(ast.dump(tree, annotate_fields=False).encode()).hexdigest()[:16]


# -- search/replace edits -------------------------------------------------------------------------

_SEARCH = re.compile(r"^[ \t]*<{5,9}[ \t]*SEARCH[ \t]*$")
_DIVIDER = re.compile(r"^[ \t]*={5,9}[ \t]*$")
_REPLACE = re.compile(r"^[ \t]*>{5,9}[ \t]*REPLACE[ \t]*$")


@dataclass(frozen=True)
class Edit:
    """One search/replace block: ``search`` is replaced by ``replace``; ``number`` counts from 1."""

    search: str
    replace: str
    number: int


def parse_edits(text: str) -> list[Edit]:
    """The SEARCH/REPLACE blocks of a reply, in order (``[]`` when there are none).

    ``<think>`` blocks are removed; Markdown fences and prose around the blocks are ignored.
    Raises :class:`AnswerError` for a block that is not closed (no ``=======`` or no
    ``>>>>>>> REPLACE``): the reply was cut short or mangled; the message names the block.
    """
    lines = strip_think(text).splitlines()
    edits: list[Edit] = []
    i = 0
    while i < len(lines):
        if not _SEARCH.match(lines[i]):
            i += 1
            continue
        number = len(edits) + 1
        search: list[str] = []
        replace: list[str] = []
        i += 1
        while i < len(lines) and not _DIVIDER.match(lines[i]):
            if _SEARCH.match(lines[i]) or _REPLACE.match(lines[i]):
                raise AnswerError(f"edit {number}: the SEARCH block has no '=======' line before the next marker")
            search.append(lines[i])
            i += 1
        if i >= len(lines):
            raise AnswerError(
                f"edit {number}: the SEARCH block is never followed by '=======' (the reply is cut short)"
            )
        i += 1
        while i < len(lines) and not _REPLACE.match(lines[i]):
            if _SEARCH.match(lines[i]) or _DIVIDER.match(lines[i]):
                raise AnswerError(f"edit {number}: the block has no '>>>>>>> REPLACE' line before the next marker")
            replace.append(lines[i])
            i += 1
        if i >= len(lines):
            raise AnswerError(f"edit {number}: the block never ends with '>>>>>>> REPLACE' (the reply is cut short)")
        i += 1
        edits.append(Edit("\n".join(_unfence(search)), "\n".join(_unfence(replace)), number))
    return edits


def _unfence(lines: list[str]) -> list[str]:
    """Lines inside a block without a fence the model put around the block's own text."""
    if lines and _FENCE_OPEN.match(lines[0]):
        lines = lines[1:]
    if lines and _FENCE_CLOSE.match(lines[-1]):
        lines = lines[:-1]
    return lines


def _norm(line: str) -> str:
    return " ".join(line.split())


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" \t"))


def _reindent(lines: list[str], shift: int) -> list[str]:
    if shift > 0:
        return [(" " * shift + line) if line.strip() else line for line in lines]
    if shift < 0:
        return [line[min(-shift, _indent(line)) :] for line in lines]
    return lines


def apply_edits(source: str, edits: list[Edit]) -> str:
    """``source`` with ``edits`` applied in order (each on the result of the ones before).

    An edit's search text must occur exactly once: first as exact text, else as whole lines
    compared with whitespace collapsed (the replacement is then re-indented by the difference
    in indentation). HTML entities in an edit (``-&gt;``) are decoded when the source has none.
    Raises :class:`AnswerError` naming the edit and why when its search text is empty, absent or
    occurs more than once.
    """
    text = source
    for edit in edits:
        if _HTML_ENTITY.search(edit.search + edit.replace) and not _HTML_ENTITY.search(source):
            # a model that writes ``-&gt;`` for ``->``: the file has no entities, so neither do its edits
            edit = Edit(html.unescape(edit.search), html.unescape(edit.replace), edit.number)
        search = edit.search.strip("\n")
        if not search.strip():
            raise AnswerError(f"edit {edit.number}: the SEARCH part is empty; copy the lines to replace from the file")
        exact = text.count(search)
        if exact == 1:
            at = text.index(search)
            indent = text[text.rfind("\n", 0, at) + 1 : at]
            if not (indent and not indent.strip() and "\n" in edit.replace.strip("\n")):
                text = text.replace(search, edit.replace.strip("\n"), 1)
                continue
            # whole lines given without their indentation: the line match below re-indents them
        elif exact > 1:
            raise AnswerError(
                f"edit {edit.number}: the SEARCH text occurs {exact} times in the file; include more "
                "surrounding lines so it matches exactly once"
            )
        text = _apply_loose(text, search, edit)
    return text


def _apply_loose(text: str, search: str, edit: Edit) -> str:
    lines = text.split("\n")
    wanted = [_norm(line) for line in search.split("\n")]
    while wanted and not wanted[0]:
        wanted.pop(0)
    found = [
        i for i in range(len(lines) - len(wanted) + 1) if [_norm(line) for line in lines[i : i + len(wanted)]] == wanted
    ]
    if len(found) > 1:
        raise AnswerError(
            f"edit {edit.number}: the SEARCH text matches {len(found)} places in the file (lines "
            f"{', '.join(str(i + 1) for i in found[:5])}); include more surrounding lines so it matches once"
        )
    if not found:
        first = next((line.strip() for line in search.split("\n") if line.strip()), "")
        near = [i + 1 for i, line in enumerate(lines) if _norm(line) == _norm(first)]
        hint = (
            f"its first line {first!r} is at line {near[0]}, but the lines after it differ"
            if near
            else f"no line of the file reads {first!r}"
        )
        raise AnswerError(
            f"edit {edit.number}: the SEARCH text is not in the file ({hint}); copy the lines to replace "
            "exactly from the current file"
        )
    start = found[0]
    search_lines = [line for line in search.split("\n")]
    search_lines = search_lines[next(i for i, line in enumerate(search_lines) if line.strip()) :]
    shift = _indent(lines[start]) - _indent(search_lines[0])
    replacement = _reindent(edit.replace.strip("\n").split("\n"), shift) if edit.replace.strip() else []
    return "\n".join(lines[:start] + replacement + lines[start + len(wanted) :])
