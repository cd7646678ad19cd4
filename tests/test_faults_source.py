"""Issue 8, kind 4: candidate source is decoded exactly as Python decodes it.

A file Python imports (UTF-8 byte-order mark, PEP 263 coding declaration, CRLF or CR line
ends) verifies like the same text saved plainly; a file Python cannot decode is a
``syntax_error`` whose message names the problem, the line and the fix.
"""

from __future__ import annotations

import codecs
import json
from pathlib import Path

import pytest

from fairnad_tools.io import SourceDecodeError, decode_python_source, read_python_source
from fairnad_tools.verify import verify_file
from fairnad_tools.verify.static import check_file, check_source
from tests.conftest import run_cli

pytestmark = pytest.mark.timeout(300)

CASE = Path(__file__).resolve().parent / "faults" / "bom_crlf_source"
PARAMS, FLOPS = 19_818, 19_759_424  # expected.md: plain conv/linear counts of the case's SmallResNet
PLAIN = (CASE / "model_bom_only.py").read_bytes().removeprefix(codecs.BOM_UTF8)  # the same model, UTF-8, LF


def test_case_files_are_what_the_case_says():
    """The fixtures keep their bytes (a checkout that converts line ends would hide the fault)."""
    both, bom, crlf = ((CASE / n).read_bytes() for n in ("model.py", "model_bom_only.py", "model_crlf_only.py"))
    assert both.startswith(codecs.BOM_UTF8) and b"\r\n" in both
    assert bom.startswith(codecs.BOM_UTF8) and b"\r\n" not in bom
    assert not crlf.startswith(codecs.BOM_UTF8) and crlf.count(b"\r\n") == crlf.count(b"\n")


@pytest.mark.parametrize("name", ["model.py", "model_bom_only.py", "model_crlf_only.py"])
def test_case_file_verifies_ok_through_the_cli(name):
    """As run.sh types it: ``fairnad verify FILE --json --input-shape 3,32,32 --num-classes 10``."""
    result = run_cli(
        "verify", str(CASE / name), "--json", "--input-shape", "3,32,32", "--num-classes", "10", "--timeout", "120"
    )  # run.sh's command; a limit far above the work: no race
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(result.stdout)
    assert report["ok"] is True and report["code"] == "ok", report
    assert (report["params"], report["flops"]) == (PARAMS, FLOPS)


def _variant(source: bytes, *, bom: bool = False, newline: bytes = b"\n", header: bytes = b"") -> bytes:
    text = source.replace(b"\r\n", b"\n")
    return (codecs.BOM_UTF8 if bom else b"") + header + text.replace(b"\n", newline)


# Further inputs of the same kind that Python imports: each must verify exactly like the plain file.
ACCEPTED = {
    "cr_only_newlines": _variant(PLAIN, newline=b"\r"),
    "bom_and_cr": _variant(PLAIN, bom=True, newline=b"\r"),
    "latin1_declaration": _variant(
        PLAIN.replace(b'"""A small', b'"""Caf\xe9 \xb5-net: a small'), header=b"# -*- coding: latin-1 -*-\n"
    ),
    "cp1252_declaration_on_line_2_crlf": _variant(
        PLAIN.replace(b"import torch\n", b"import torch\nLABEL = '\x80 \x93quoted\x94'\n", 1),
        header=b"#!/usr/bin/env python\n# vim: set fileencoding=cp1252 :\n",
        newline=b"\r\n",
    ),
    "bom_with_utf8_declaration": _variant(PLAIN, bom=True, header=b"# -*- coding: utf-8 -*-\n"),
    "euc_jp_declaration": _variant(
        PLAIN.replace(b"import torch\n", "import torch\nNAME = '小さい残差網'\n".encode("euc-jp"), 1),
        header=b"# coding: euc-jp\n",
    ),
}


@pytest.mark.parametrize("name", sorted(ACCEPTED))
def test_files_python_imports_verify_ok(tmp_path, name):
    data = ACCEPTED[name]
    compile(data, "model.py", "exec")  # Python itself accepts the bytes
    path = tmp_path / "model.py"
    path.write_bytes(data)
    report = verify_file(path, timeout_s=120)
    assert report.ok, f"{name}: {report.code}: {report.message}"
    assert (report.params, report.flops) == (PARAMS, FLOPS)


# Further inputs that Python cannot decode: (bytes, line the message must name, words it must contain).
REFUSED = {
    "utf16_with_bom": (PLAIN.decode().encode("utf-16"), 1, ("UTF-16", "save the file as UTF-8")),
    "utf16_without_bom": (PLAIN.decode().encode("utf-16-le"), 1, ("UTF-16", "save the file as UTF-8")),
    "utf32": (PLAIN.decode().encode("utf-32"), 1, ("UTF-32", "save the file as UTF-8")),
    "latin1_without_declaration": (
        PLAIN.replace(b"import torch\n", b"import torch\nNAME = 'caf\xe9'\n", 1),
        3,
        ("0xE9", "not valid UTF-8", "coding: latin-1"),
    ),
    "unknown_codec": (_variant(PLAIN, header=b"# -*- coding: klingon -*-\n"), 1, ("'klingon'", "does not know")),
    "not_a_text_codec": (_variant(PLAIN, header=b"# coding: rot13\n"), 1, ("'rot13'", "not a text encoding")),
    "utf16_declared": (_variant(PLAIN, header=b"# coding: utf-16\n"), 1, ("utf-16", "not ASCII-compatible")),
    "bom_but_latin1_declared": (
        _variant(PLAIN, bom=True, header=b"# coding: latin-1\n"),
        1,
        ("byte-order mark", "declares 'latin-1'"),
    ),
    "ascii_declared_but_utf8": (
        _variant(
            PLAIN.replace(b"import torch\n", "import torch\nNAME = 'é'\n".encode(), 1), header=b"# coding: ascii\n"
        ),
        4,
        ("0xC3", "ascii", "declared on line 1"),
    ),
    "nul_byte_crlf": (
        _variant(PLAIN.replace(b"import torch\n", b"import torch\x00\n", 1), newline=b"\r\n"),
        2,
        ("NUL byte",),
    ),
    "declaration_too_late": (
        _variant(PLAIN.replace(b"import torch\n", b"import torch\n# coding: latin-1\nNAME = 'caf\xe9'\n", 1)),
        4,
        ("0xE9", "line 3 is ignored"),
    ),
}


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_files_python_cannot_decode_are_syntax_errors_that_name_line_problem_and_fix(tmp_path, name):
    data, line, words = REFUSED[name]
    with pytest.raises((SyntaxError, ValueError)):
        compile(data, "model.py", "exec")  # Python itself refuses the bytes
    path = tmp_path / "model.py"
    path.write_bytes(data)
    report = verify_file(path)
    assert report.code == "syntax_error", f"{name}: {report.code}: {report.message}"
    assert f"line {line}:" in report.message, report.message
    assert "save" in report.message or "declare" in report.message or "remove" in report.message, report.message
    for word in words:
        assert word in report.message, (word, report.message)


def test_utf16_file_through_the_cli_is_a_syntax_error_with_exit_1(tmp_path):
    path = tmp_path / "model.py"
    path.write_bytes(PLAIN.decode().encode("utf-16"))
    result = run_cli("verify", str(path), "--json")
    assert result.returncode == 1, result.stdout + result.stderr
    report = json.loads(result.stdout)
    assert report["code"] == "syntax_error" and "UTF-16" in report["message"] and "line 1" in report["message"]


# -- the helper itself, against Python's own compiler ------------------------------------------
DECODE_CASES = {
    **{name: data for name, data in ACCEPTED.items()},
    **{name: data for name, (data, _, _) in REFUSED.items()},
    "invalid_utf8_in_a_comment_only": b"# caf\xe9\nx = 1\n",  # CPython's compiler ignores comment bytes
    "invalid_utf8_in_a_string": b"x = 1\ns = '\xff'\n",
    "truncated_utf8_at_end_of_comment": b"x = 1\n# \xe2\x82",
    "cr_lf_mixed": b"x = 1\r\ny = 2\rz = 3\n",
    "empty": b"",
    "only_bom": codecs.BOM_UTF8,
}


@pytest.mark.parametrize("name", sorted(DECODE_CASES))
def test_decoder_accepts_exactly_what_python_compiles(name):
    data = DECODE_CASES[name]
    try:
        compile(data, "model.py", "exec")
        python_ok = True
    except (SyntaxError, ValueError):
        python_ok = False
    try:
        text = decode_python_source(data)
    except SourceDecodeError as exc:
        assert not python_ok, f"{name}: Python compiles it, FairNAD says {exc}"
        assert exc.lineno >= 1 and str(exc).startswith(f"line {exc.lineno}: ")
        return
    assert "\r" not in text and not text.startswith("\ufeff")
    if python_ok:
        compile(text, "model.py", "exec")  # the text compiles as the bytes did
    else:  # decodable but not Python (a syntax error of its own): the static check says so
        assert check_source(text) is not None


def test_decoded_text_equals_the_plain_text():
    """Byte-order mark gone, CRLF turned into LF: below the first comment line the three files read alike."""
    expected = PLAIN.decode().splitlines()[1:]
    for name in ("model.py", "model_bom_only.py", "model_crlf_only.py"):
        text = read_python_source(CASE / name)
        assert text.startswith("# Saved by") and "\r" not in text and text.splitlines()[1:] == expected, name
    assert decode_python_source(b"# coding: latin-1\r\nx = '\xe9'\r\n") == "# coding: latin-1\nx = '\u00e9'\n"


def test_check_file_and_check_source_agree_on_text_with_a_bom(tmp_path):
    path = tmp_path / "model.py"
    path.write_bytes(codecs.BOM_UTF8 + PLAIN)
    assert check_file(path) is None
    assert check_source("\ufeff" + PLAIN.decode()) is None  # text that will be saved as UTF-8 with a BOM
    nul = check_source("import torch\nx = 1\x00\n")
    assert nul is not None and nul.code == "syntax_error" and "line 2" in nul.message


def test_run_store_reads_a_parent_model_as_the_verifier_decoded_it(tmp_path):
    """The mutation role's prompt gets the parent's text without a byte-order mark or CR characters."""
    from graph.store import RunStore

    store = RunStore(tmp_path / "run")
    folder = store.candidate_dir("0003")
    folder.mkdir(parents=True)
    raw = (CASE / "model.py").read_bytes()  # byte-order mark and CRLF
    (folder / "model.py").write_bytes(raw)
    text = store.read_text("0003", "model.py")
    assert text == raw.removeprefix(codecs.BOM_UTF8).decode("utf-8").replace("\r\n", "\n")
    assert "\ufeff" not in text and "\r" not in text
    assert store.read_text("0003", "absent.py") is None
