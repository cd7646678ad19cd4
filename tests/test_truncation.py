"""A file cut short: the verifier says it looks truncated, whatever its first failure."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fairnad_tools.verify.static import check_source
from fairnad_tools.verify.truncation import looks_truncated
from tests.conftest import run_cli

pytestmark = pytest.mark.timeout(120)

CUT_MID_NAME = """\
import torch
from torch import nn


class Net(nn.Module):
    def __init__(self, num_classes: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 16, 3, padding=1)
        self.head = nn.Line
"""

COMPLETE = """\
from torch import nn


class Net(nn.Sequential):
    pass


def build_model(num_classes: int) -> nn.Module:
    return nn.Sequential(nn.Conv2d(3, 8, 3), nn.Flatten(), nn.LazyLinear(num_classes))
"""


@pytest.mark.parametrize(
    "source,phrase",
    [
        (CUT_MID_NAME, "ends inside class Net"),
        ("def make(num_classes):\n    return num_cl", "ends inside function make"),
        ("import torch\n\ndef build_model(num_classes):\n    return torch.nn.Sequential(\n", "middle of a statement"),
        ('"""doc\n\nimport torch\n', "middle of a statement"),
        ("from torch import nn\n\ndef build_model(num_classes):\n    model = nn.Linear(3, 4)\n", "never returns"),
    ],
)
def test_cut_files_look_truncated(source, phrase):
    assert phrase in (looks_truncated(source) or "")


@pytest.mark.parametrize(
    "source", [COMPLETE, "", "x = (1 +\n2)\nprint(x y)\n", "def make(num_classes):\n    return num_classes\n"]
)
def test_complete_or_merely_broken_files_do_not(source):
    assert looks_truncated(source) is None


def test_static_report_says_truncated_whatever_its_code():
    report = check_source(CUT_MID_NAME)
    assert report is not None and report.code == "missing_entrypoint"
    assert "looks truncated" in report.message and "class Net" in report.message
    assert check_source(COMPLETE) is None


def test_fairnad_verify_json_says_the_file_looks_truncated(tmp_path):
    path = tmp_path / "model.py"
    path.write_text(CUT_MID_NAME, encoding="utf-8")
    result = run_cli("verify", str(path), "--json")
    report = json.loads(result.stdout)
    assert report["ok"] is False
    assert "looks truncated" in report["message"] and "produce the complete file" in report["message"]


CORPUS = Path(__file__).resolve().parent / "verifier_corpus"


def test_only_the_cut_files_of_the_verifier_corpus_look_truncated():
    flagged = {p.name for p in CORPUS.rglob("*.py") if looks_truncated(p.read_text(encoding="utf-8", errors="replace"))}
    assert flagged == {"truncated_after_def_header.py", "truncated_mid_expression.py", "unterminated_docstring.py"}
