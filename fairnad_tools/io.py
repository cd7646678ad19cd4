"""File helpers: crash-safe writes (a temporary file, then a rename) and reading Python source as Python does."""

from __future__ import annotations

import codecs
import json
import os
import tempfile
from pathlib import Path
from typing import Any


def atomic_write_text(path: str | os.PathLike[str], text: str) -> Path:
    """Write ``text`` to ``path`` so that readers see the old file or the new one, never half."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    return target


def atomic_write_json(path: str | os.PathLike[str], data: Any) -> Path:
    """Write ``data`` as indented JSON, atomically."""
    return atomic_write_text(path, json.dumps(data, indent=2, sort_keys=False) + "\n")


def read_json(path: str | os.PathLike[str]) -> Any:
    """Read a JSON file; raises ``FileNotFoundError`` or ``ValueError`` with the path named."""
    p = Path(path)
    try:
        return json.loads(p.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ValueError(f"{p} is not valid JSON ({exc.msg} at line {exc.lineno})") from exc


# -- Python source ---------------------------------------------------------------------------
class SourceDecodeError(ValueError):
    """A file Python cannot decode as source; ``str(exc)`` names the line, the problem and the fix."""

    def __init__(self, lineno: int, problem: str, fix: str) -> None:
        self.lineno, self.problem, self.fix = lineno, problem, fix
        super().__init__(f"line {lineno}: {problem}; {fix}")


_SAVE_AS_UTF8 = "save the file as UTF-8 (the default encoding of Python source)"
_WIDE_BOMS = (
    (codecs.BOM_UTF32_LE, "UTF-32"),
    (codecs.BOM_UTF32_BE, "UTF-32"),
    (codecs.BOM_UTF16_LE, "UTF-16"),
    (codecs.BOM_UTF16_BE, "UTF-16"),
)  # UTF-32 first: its little-endian mark begins with UTF-16's


def decode_python_source(data: bytes, filename: str = "model.py") -> str:
    """Decode source bytes exactly as Python's import system does; raises :class:`SourceDecodeError`.

    Uses the standard library's own decoder (``importlib.util.decode_source``: a UTF-8
    byte-order mark, a PEP 263 coding declaration on line 1 or 2, universal newlines, so
    CRLF and CR become LF). Where that decoder is stricter than the compiler (CPython
    ignores undecodable bytes inside comments), the compiler's verdict wins and those
    bytes become U+FFFD. NUL bytes, which no Python source may hold, are refused too.
    Returns the text with a leading byte-order mark removed and ``\\n`` line ends.
    """
    import importlib.util

    try:
        text = importlib.util.decode_source(data)
    except (SyntaxError, ValueError, LookupError) as exc:  # ValueError: UnicodeDecodeError among others
        problem: BaseException = exc
    else:
        if "\x00" in text:
            raise _nul_error(data)
        if not _ascii_compatible(_declared_encoding(data)[0]) and not _python_compiles(data, filename):
            raise _decode_error(data, None)  # decoded, but as a wide encoding the declaration itself breaks
        return text
    if not _python_compiles(data, filename):
        raise _decode_error(data, problem) from problem
    # Python accepts the file: the undecodable bytes lie in comments, where the compiler ignores them
    encoding = _declared_encoding(data)[0] or "utf-8"
    raw = data[len(codecs.BOM_UTF8) :] if data.startswith(codecs.BOM_UTF8) else data
    return raw.decode(encoding, errors="replace").replace("\r\n", "\n").replace("\r", "\n")


def read_python_source(path: str | os.PathLike[str]) -> str:
    """Read a Python file as Python would decode it (see :func:`decode_python_source`).

    Raises ``OSError`` when the file cannot be read and :class:`SourceDecodeError` when
    Python could not decode it (its message names the file's line, the problem and the fix).
    """
    p = Path(path)
    return decode_python_source(p.read_bytes(), p.name)


def _python_compiles(data: bytes, filename: str) -> bool:
    """Whether CPython's compiler parses these bytes (parse only: nothing is executed)."""
    import ast

    try:
        compile(data, filename, "exec", ast.PyCF_ONLY_AST, dont_inherit=True)
    except (SyntaxError, ValueError):
        return False
    return True


def _declared_encoding(data: bytes) -> tuple[str | None, int]:
    """The PEP 263 declaration of line 1 or 2 (as written) and its line, or ``(None, 0)``."""
    import tokenize

    body = data[len(codecs.BOM_UTF8) :] if data.startswith(codecs.BOM_UTF8) else data
    for number, raw in enumerate(body.split(b"\n", 2)[:2], 1):
        match = tokenize.cookie_re.match(raw.decode("latin-1"))
        if match:
            return match.group(1), number
        if not tokenize.blank_re.match(raw):
            break  # a declaration on line 2 counts only below a comment or blank line 1
    return None, 0


def _ascii_compatible(encoding: str | None) -> bool:
    """Whether ``encoding`` writes ASCII text as ASCII bytes (UTF-16 and UTF-32 do not)."""
    if encoding is None:
        return True
    try:
        return "\n# x = 1".encode(encoding) == b"\n# x = 1"
    except (LookupError, UnicodeError):
        return True  # an unknown or non-text codec fails elsewhere, with its own message


def _line_of(data: bytes, offset: int) -> int:
    return data.count(b"\n", 0, offset) + 1


def _nul_error(data: bytes) -> SourceDecodeError:
    nul = data.find(b"\x00")
    even, odd = data[0::2].count(0), data[1::2].count(0)
    if max(even, odd) * 4 >= len(data) // 2 and min(even, odd) * 4 < max(even, odd):
        return SourceDecodeError(
            1,
            "every other byte is NUL: the file looks like UTF-16 without a byte-order mark, "
            "which Python cannot read as source",
            _SAVE_AS_UTF8,
        )
    return SourceDecodeError(
        _line_of(data, nul),
        "the file contains a NUL byte (\\x00), which Python source cannot hold",
        "remove it (a binary file or a file saved in a non-UTF-8 editor mode); " + _SAVE_AS_UTF8,
    )


def _decode_error(data: bytes, exc: BaseException | None) -> SourceDecodeError:
    for bom, name in _WIDE_BOMS:
        if data.startswith(bom):
            return SourceDecodeError(
                1,
                f"the file is {name} (it starts with a {name} byte-order mark); Python reads source only "
                "in ASCII-compatible encodings",
                _SAVE_AS_UTF8,
            )
    if b"\x00" in data:
        return _nul_error(data)
    declared, cookie_line = _declared_encoding(data)
    if declared is not None:
        try:
            info = codecs.lookup(declared)
        except LookupError:
            return SourceDecodeError(
                cookie_line,
                f"the coding declaration names {declared!r}, an encoding Python does not know",
                "declare a real encoding such as utf-8 or latin-1 (PEP 263), or remove the declaration and "
                + _SAVE_AS_UTF8,
            )
        if isinstance(exc, LookupError):
            return SourceDecodeError(
                cookie_line,
                f"the coding declaration names {declared!r}, which is not a text encoding",
                "declare the file's real text encoding (PEP 263), or remove the declaration and " + _SAVE_AS_UTF8,
            )
        if not _ascii_compatible(info.name):
            return SourceDecodeError(
                cookie_line,
                f"the file declares {declared!r}, an encoding that is not ASCII-compatible, so Python "
                "cannot read it as source",
                "remove the declaration and " + _SAVE_AS_UTF8,
            )
        if data.startswith(codecs.BOM_UTF8) and info.name not in ("utf-8", "utf-8-sig"):
            return SourceDecodeError(
                cookie_line,
                f"the file starts with a UTF-8 byte-order mark but declares {declared!r}",
                "a file with a byte-order mark is UTF-8: remove the declaration or declare utf-8",
            )
    if isinstance(exc, UnicodeDecodeError):
        offset = exc.start + (len(codecs.BOM_UTF8) if data.startswith(codecs.BOM_UTF8) else 0)
        byte = data[offset : offset + 1].hex().upper() or "??"
        encoding = declared or "utf-8"
    else:  # detect_encoding: lines 1-2 are not UTF-8 and declare nothing
        offset = _first_bad_utf8(data)
        byte = data[offset : offset + 1].hex().upper()
        encoding = "utf-8"
    if declared is None:
        late = _late_declaration(data)
        return SourceDecodeError(
            _line_of(data, offset),
            f"byte 0x{byte} is not valid UTF-8, and the file declares no other encoding"
            + (
                f" (the declaration on line {late} is ignored: Python reads one only on line 1, or on line 2 below a "
                "comment or blank line)"
                if late
                else ""
            ),
            _SAVE_AS_UTF8 + ", or declare its encoding in a comment on line 1 or 2 (PEP 263), e.g. "
            "'# -*- coding: latin-1 -*-'",
        )
    return SourceDecodeError(
        _line_of(data, offset),
        f"byte 0x{byte} cannot be decoded as {encoding}, the encoding declared on line {cookie_line}",
        "declare the encoding the file is really saved in, or " + _SAVE_AS_UTF8 + " and declare utf-8",
    )


def _late_declaration(data: bytes) -> int:
    """The line of a coding declaration Python ignores (too far down), 0 when there is none."""
    import tokenize

    lines = data.split(b"\n")
    first = 2 if tokenize.blank_re.match(lines[0]) else 1  # line 2 counts only below a comment or blank line
    for number, raw in enumerate(lines[first:12], first + 1):
        if tokenize.cookie_re.match(raw.decode("latin-1")):
            return number
    return 0


def _first_bad_utf8(data: bytes) -> int:
    try:
        data.decode("utf-8-sig" if data.startswith(codecs.BOM_UTF8) else "utf-8")
    except UnicodeDecodeError as exc:
        return exc.start + (len(codecs.BOM_UTF8) if data.startswith(codecs.BOM_UTF8) else 0)
    return 0
