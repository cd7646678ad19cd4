"""The verifier's basics (the verifier issue adds the full corpus) and `fairnad verify`."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from fairnad_tools.arch import render
from fairnad_tools.arch.seeds import resnet32
from fairnad_tools.verify import verify_file
from tests.conftest import cli_env, run_cli

HEAD = "import torch\nfrom torch import nn\n\n"


def model(tmp_path: Path, body: str, name: str = "model.py") -> Path:
    path = tmp_path / name
    path.write_text(HEAD + textwrap.dedent(body))
    return path


SMALL = """
def build_model(num_classes):
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 8, 3, padding=1), nn.ReLU(),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, num_classes))
"""

CASES = {
    "ok": SMALL,
    "syntax_error": "def build_model(num_classes):\n    return nn.Sequential(nn.Conv2d(3, 8, 3),\n",
    "forbidden_import": "import os\n" + SMALL,
    "forbidden_call": SMALL + "\nopen('/etc/passwd').read()\n",
    "missing_entrypoint": "def make(num_classes):\n    return nn.Linear(3, num_classes)\n",
    "build_error": "def build_model(num_classes):\n    return nn.Conv2d(3, 8, kernel_size=None)\n",
    "forward_error": "def build_model(num_classes):\n    return nn.Sequential(nn.Conv2d(3, 8, 3), nn.Flatten(), nn.Linear(8, num_classes))\n",
    "bad_output_shape": "def build_model(num_classes):\n    return nn.Sequential(nn.Conv2d(3, 8, 3), nn.Conv2d(8, 8, 3), nn.Conv2d(8, 4, 3))\n",
    "non_finite": SMALL.replace("nn.Linear(8, num_classes))", "nn.Linear(8, num_classes), Inf())")
    + "\nclass Inf(nn.Module):\n    def forward(self, x):\n        return x * float('inf')\n",
    "over_param_budget": "def build_model(num_classes):\n    return nn.Sequential(nn.Conv2d(3, 8, 3), nn.Conv2d(8, 8, 3), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 2000), nn.Linear(2000, 2000), nn.Linear(2000, num_classes))\n",
    "too_shallow": "def build_model(num_classes):\n    return nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(3, num_classes))\n",
    "timeout": "def build_model(num_classes):\n    while True:\n        pass\n",
    "out_of_memory": "def build_model(num_classes):\n    buffer = torch.empty(10**12)\n    return nn.Linear(3, num_classes)\n",
}


@pytest.mark.parametrize("code", sorted(CASES))
def test_each_case_gets_its_code(tmp_path, code):
    report = verify_file(model(tmp_path, CASES[code]), timeout_s=8)
    assert report.code == code, report.message
    assert report.ok == (code == "ok")
    assert report.message


def test_truncated_and_markdown_files_are_explained(tmp_path):
    cut = model(tmp_path, SMALL[: SMALL.index("nn.ReLU(), nn.Conv2d")])
    assert "truncated" in verify_file(cut).message
    fenced = tmp_path / "fenced.py"
    fenced.write_text("Here is the model:\n```python\n" + HEAD + SMALL + "```\n")
    report = verify_file(fenced)
    assert report.code == "syntax_error" and "Markdown" in report.message


def test_flops_budget_and_not_modified(tmp_path):
    seed = tmp_path / "seed.py"
    seed.write_text(render(resnet32()))
    report = verify_file(seed, max_flops=50_000_000)
    assert report.code == "over_flops_budget" and "69.125M" in report.message
    renamed = tmp_path / "renamed.py"
    renamed.write_text(seed.read_text().replace("BasicBlock", "ResidualUnit").replace("# ", "# note "))
    report = verify_file(renamed, parent=seed)
    assert report.code == "not_modified"


def test_cli_json_contract_and_exit_codes(tmp_path):
    good = model(tmp_path, SMALL)
    result = run_cli("verify", str(good), "--json", "--input-shape", "3,16,16")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert {"ok", "code", "message", "params", "flops", "seconds"} <= set(report)
    assert report["ok"] is True and report["params"] > 0 and report["flops"] > 0
    bad = model(tmp_path, CASES["forward_error"], "bad.py")
    result = run_cli("verify", str(bad), "--json")
    assert result.returncode == 1 and json.loads(result.stdout)["code"] == "forward_error"
    result = run_cli("verify", str(tmp_path / "missing.py"))
    assert result.returncode == 2 and "does not exist" in result.stderr and "Traceback" not in result.stderr
    result = run_cli("verify", str(good), "--max-params", "lots")
    assert result.returncode == 2 and "--max-params" in result.stderr


def test_verify_does_not_import_langchain_or_chroma(tmp_path):
    good = model(tmp_path, SMALL)
    probe = (
        "import sys\nfrom graph.cli import run_cli\n"
        "try:\n    run_cli(['verify', sys.argv[1], '--json'])\nexcept SystemExit:\n    pass\n"
        "heavy = [m for m in ('langchain_core', 'langgraph', 'chromadb', 'sentence_transformers') if m in sys.modules]\n"
        "print('HEAVY', heavy)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe, str(good)], capture_output=True, text=True, env=cli_env(), timeout=120
    )
    assert "HEAVY []" in result.stdout, result.stdout + result.stderr
