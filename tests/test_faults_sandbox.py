"""Issue 8, kind 6 and the stdout flood: printing is harmless, and output never blocks or fills a disk.

Torch imports modules lazily on first use (tensor repr, error formatting, dispatch helpers);
the sandbox guard must let the import system load them while still refusing code loaded by
anyone else. A candidate that prints megabytes per forward must verify ``ok`` in the one-shot
path (a plain subprocess, as ``fairnad verify`` runs) and through the fork server (as runs
do), and its training log is capped to its head and tail.
"""

from __future__ import annotations

import json
import os
import textwrap
from pathlib import Path

import pytest

from fairnad_tools.isolation import forkserver
from fairnad_tools.isolation.launch import run_python_module
from fairnad_tools.isolation.proc import CappedOutput, child_env
from fairnad_tools.train import TrainJob, train_candidate
from fairnad_tools.verify import verify_file
from tests.conftest import run_cli
from tests.test_sandbox import run_probe

pytestmark = pytest.mark.timeout(300)

CASE = Path(__file__).resolve().parent / "faults" / "stdout_flood"
FILES = ["model_bigstr.py", "model_print_small.py", "model.py"]
PARAMS, FLOPS = 19_818, 19_759_424  # expected.md: plain conv/linear counts of the case's SmallResNet
BASE = (CASE / "model_print_small.py").read_text()
PRINT_LINE = '        print("first activations:", x[0, 0, 0, :4])  # a 4-element tensor, default print options\n'
assert PRINT_LINE in BASE


def with_forward(lines: str) -> str:
    """The case's SmallResNet with ``lines`` (8-space indented) in place of its debug print."""
    return BASE.replace(PRINT_LINE, textwrap.indent(textwrap.dedent(lines), " " * 8))


@pytest.fixture
def fork_server():
    server = forkserver.get_server()
    assert server is not None, "the fork server did not start; these tests check the path runs take"
    return server


# -- the case, as run.sh runs it, and through the fork server ----------------------------------
# model.py formats two whole activation tensors per forward (about 1 s each on a loaded 2-core machine) and
# the verifier runs several forwards: the tests give it a time limit far above that, so their verdict cannot
# depend on the machine's speed (run.sh keeps the default 20 s).
SLOW_OK = 120


@pytest.mark.parametrize("name", FILES)
def test_case_file_verifies_ok_through_the_cli(name):
    """One-shot path: ``fairnad verify`` runs the worker in a plain subprocess, as run.sh types it."""
    result = run_cli(
        "verify",
        str(CASE / name),
        "--json",
        "--input-shape",
        "3,32,32",
        "--num-classes",
        "10",
        "--timeout",
        str(SLOW_OK),
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    report = json.loads(result.stdout)
    assert report["code"] == "ok", report
    assert (report["params"], report["flops"]) == (PARAMS, FLOPS)


@pytest.mark.parametrize("name", FILES)
def test_case_file_verifies_ok_through_the_fork_server(fork_server, name):
    report = verify_file(CASE / name, input_shape=(3, 32, 32), num_classes=10, timeout_s=SLOW_OK)
    assert report.code == "ok", report.message
    assert (report.params, report.flops) == (PARAMS, FLOPS)


# -- further inputs of kind 6: ordinary code that makes torch import lazily ---------------------
LAZY_OK = {
    "module_repr_and_dtypes": """
        print(self)  # nn.Module repr
        print(x > 0, x.argmax(1)[0, :2, :2], x[0, 0, :2, :2].half(), x[0, 0, 0, :2].bfloat16())
        print(f"{x.mean():.4f} {x.shape} {x.dtype} {x.norm(dim=1).max().item():.2f}")
    """,
    "tensor_in_a_caught_exception_message": """
        try:
            raise ValueError(f"activations out of range: {x.abs().amax(dim=(2, 3))}")
        except ValueError as exc:
            print("recovered from", exc)
    """,
    "full_print_options_and_nan": """
        torch.set_printoptions(profile="full", sci_mode=False)
        print(torch.where(x[0, :2] > 1, float("nan"), x[0, :2]))
        torch.set_printoptions(profile="default")
    """,
}


@pytest.mark.parametrize("name", sorted(LAZY_OK))
def test_printing_and_formatting_tensors_is_allowed(fork_server, tmp_path, name):
    path = tmp_path / "model.py"
    path.write_text(with_forward(LAZY_OK[name]))
    report = verify_file(path, timeout_s=SLOW_OK)
    assert report.code == "ok", f"{name}: {report.message}"
    assert (report.params, report.flops) == (PARAMS, FLOPS)


LAZY_ERRORS = {
    "tensor_formatted_into_a_raised_error": (
        'raise RuntimeError(f"bad statistics {x.mean(dim=(0, 2, 3))[:3]}")\n',
        ("bad statistics tensor([",),
    ),
    "shape_mismatch_in_a_linear_layer": (
        "x = nn.functional.linear(x.flatten(1), torch.ones(10, 7))\n",
        ("shapes cannot be multiplied",),
    ),
    "torch_check_with_a_tensor_message": (
        'torch._check(bool(x.sum() < 0), lambda: f"sum {x.sum()} is not negative")\n',
        ("is not negative",),
    ),
}


@pytest.mark.parametrize("name", sorted(LAZY_ERRORS))
def test_errors_that_format_tensors_are_forward_errors_not_sandbox_refusals(fork_server, tmp_path, name):
    line, words = LAZY_ERRORS[name]
    path = tmp_path / "model.py"
    path.write_text(with_forward(line))
    report = verify_file(path, timeout_s=SLOW_OK)
    assert report.code == "forward_error", f"{name}: {report.code}: {report.message}"
    assert "sandbox" not in report.message
    for word in words:
        assert word in report.message, report.message


def test_a_tensor_formatted_into_an_error_through_the_cli(tmp_path):
    path = tmp_path / "model.py"
    path.write_text(with_forward(LAZY_ERRORS["tensor_formatted_into_a_raised_error"][0]))
    result = run_cli("verify", str(path), "--json", "--timeout", str(SLOW_OK))
    report = json.loads(result.stdout)
    assert result.returncode == 1 and report["code"] == "forward_error", report
    assert "bad statistics tensor([" in report["message"]


# A fresh interpreter as a one-shot training worker has it: torch imported, no warm-up, then the
# guard; then ordinary model code. Audit hooks added before and after the guard count each event
# the guard saw and each it let through: the difference is what it refused.
LAZY_PROBE = textwrap.dedent(
    """
    import contextlib, copy, io, json, sys, warnings
    from collections import Counter
    import torch
    from torch import nn
    import torch.nn.functional as F
    import torch.utils.checkpoint
    from fairnad_tools.isolation.guard import MARK, install_guard

    seen, passed = Counter(), Counter()  # every audit event, before the guard and after it
    sys.addaudithook(lambda ev, args: seen.update([ev]))
    install_guard(read=[sys.argv[1]], write=[sys.argv[1]])
    sys.addaudithook(lambda ev, args: passed.update([ev]))
    seen.clear()
    passed.clear()
    before = set(sys.modules)
    x = torch.randn(2, 3, 8, 8)
    seq = torch.randn(2, 4, 8)
    OPS = {
        "print tensor": lambda: print(x),
        "repr dtypes": lambda: [repr(x.to(d)) for d in (torch.bool, torch.int64, torch.float16, torch.bfloat16,
                                                       torch.complex64, torch.float64)],
        "repr grad and param": lambda: (repr(x.requires_grad_() * 2), repr(nn.Parameter(torch.ones(2)))),
        "repr special values": lambda: repr(torch.tensor([float("nan"), float("inf"), 1e12, 1e-12])),
        "full print options": lambda: (torch.set_printoptions(profile="full"), repr(torch.randn(40, 40)),
                                       torch.set_printoptions(profile="default")),
        "format": lambda: (f"{x.mean():.3f}", f"{x[0, 0, 0]}", str(x.shape), str(x.dtype), x.tolist()),
        "module repr": lambda: repr(nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.LSTM(4, 4),
                                                  nn.TransformerEncoderLayer(8, 2), nn.MultiheadAttention(8, 2))),
        "shape mismatch": lambda: torch.ones(2, 3) @ torch.ones(4, 5),
        "conv mismatch": lambda: nn.Conv2d(4, 4, 3)(x),
        "cat mismatch": lambda: torch.cat([torch.ones(2, 3), torch.ones(3, 4)]),
        "view error": lambda: x.permute(0, 2, 3, 1).view(-1),
        "raise with tensor": lambda: (_ for _ in ()).throw(ValueError(f"bad {x.mean()}")),
        "torch._check": lambda: torch._check(False, lambda: f"bad {x.sum()}"),
        "bool of tensor": lambda: bool(torch.ones(3)),
        "interpolate": lambda: (F.interpolate(x, scale_factor=2, mode="bilinear"), F.interpolate(x, size=(5, 5))),
        "grid_sample": lambda: F.grid_sample(x, torch.zeros(2, 4, 4, 2), align_corners=False),
        "pad reflect": lambda: F.pad(x, (1, 1, 1, 1), mode="reflect"),
        "unfold": lambda: F.fold(F.unfold(x, 2), (8, 8), 2),
        "sdpa": lambda: F.scaled_dot_product_attention(seq[:, None], seq[:, None], seq[:, None]),
        "mha eval fast path": lambda: nn.MultiheadAttention(8, 2, batch_first=True).eval()(seq, seq, seq),
        "transformer eval nested": lambda: nn.TransformerEncoder(nn.TransformerEncoderLayer(8, 2, batch_first=True),
                                                                 2).eval()(seq, src_key_padding_mask=torch.zeros(2, 4, dtype=torch.bool)),
        "transformer decoder": lambda: nn.Transformer(8, 2, 1, 1, 16, batch_first=True)(seq, seq),
        "checkpoint": lambda: torch.utils.checkpoint.checkpoint(nn.Linear(8, 8), seq.requires_grad_(),
                                                                use_reentrant=False).sum().backward(),
        "weight and spectral norm": lambda: (nn.utils.parametrizations.weight_norm(nn.Linear(3, 3))(torch.ones(3)),
                                             nn.utils.parametrizations.spectral_norm(nn.Linear(3, 3))(torch.ones(3))),
        "deepcopy": lambda: copy.deepcopy(nn.Linear(3, 3)),
        "vmap and func.grad": lambda: (torch.vmap(torch.sin)(x), torch.func.grad(lambda t: t.sin().sum())(torch.ones(3))),
        "autocast bf16": lambda: torch.autocast("cpu", dtype=torch.bfloat16).__enter__(),
        "distributions": lambda: torch.distributions.Normal(0, 1).sample((3,)),
        "fft and linalg": lambda: (torch.fft.rfft2(x).abs(), torch.linalg.svd(torch.randn(3, 3))),
        "init": lambda: (nn.init.trunc_normal_(torch.empty(3, 3)), nn.init.orthogonal_(torch.empty(3, 3))),
        "warning": lambda: warnings.warn("a warning from forward"),
    }
    sink = io.StringIO()
    for name, op in OPS.items():
        with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
            try:
                op()
            except PermissionError as exc:
                print("REFUSED", name, exc, file=sys.__stdout__)
            except Exception as exc:
                if MARK in repr(exc) or MARK in repr(exc.__context__):
                    print("REFUSED", name, exc, file=sys.__stdout__)
    lazy = set(sys.modules) - before
    # the rule, not a list: any installed module may still be imported (by torch) under the guard
    import torch._numpy, email.mime.text, xml.dom.minidom, statistics
    later = set(sys.modules) - before - lazy
    refused = {ev: seen[ev] - passed[ev] for ev in seen if seen[ev] != passed[ev]}
    print(json.dumps({"refused": refused, "lazy": sorted(lazy), "later": len(later),
                      "bytecode_loads": passed["marshal.loads"]}))
    """
)


def test_torch_lazy_imports_of_ordinary_model_code_pass_the_guard(tmp_path):
    stdout = run_probe(LAZY_PROBE, tmp_path)
    assert "REFUSED" not in stdout, stdout
    result = json.loads(stdout.strip().splitlines()[-1])
    assert result["refused"] == {}, result
    # the battery made torch import lazily under the guard (tensor repr), and more installed modules load too
    assert "torch._subclasses.schema_check_mode" in result["lazy"], result
    assert result["later"] >= 10 and result["bytecode_loads"] >= 10, result


REFUSAL_PROBE = textwrap.dedent(
    """
    import importlib.machinery, importlib.util, marshal, os, py_compile, sys
    from importlib import _bootstrap_external
    from pathlib import Path
    from fairnad_tools.isolation.guard import MARK, install_guard

    work = Path(sys.argv[1])
    (work / "planted.py").write_text("VALUE = 'from source'\\n")
    py_compile.compile(str(work / "planted.py"), doraise=True)  # a .pyc in a folder the candidate can write
    sys.path.insert(0, str(work))
    code = compile("VALUE = 'crafted'", "<bytes>", "exec")
    blob = marshal.dumps(code)
    stdlib_py = os.path.join(os.path.dirname(os.__file__), "colorsys.py")  # trusted source, not imported yet
    stat = os.stat(stdlib_py)
    crafted_pyc = bytes(_bootstrap_external._code_to_timestamp_pyc(code, stat.st_mtime, stat.st_size))

    class OwnLoader(importlib.machinery.SourceFileLoader):
        def get_data(self, path):  # hands the standard get_code bytes of its own for the trusted file
            return crafted_pyc if path.endswith(".pyc") else super().get_data(path)

    def load_with(loader, name):
        spec = importlib.util.spec_from_file_location(name, loader.path, loader=loader)
        module = importlib.util.module_from_spec(spec)
        loader.exec_module(module)
        return module

    install_guard(read=[], write=[work])
    attempts = {
        "marshal.loads by candidate code": lambda: marshal.loads(blob),
        "the loader's own function called directly": lambda: _bootstrap_external._compile_bytecode(blob),
        "pyc of a planted module": lambda: load_with(
            importlib.machinery.SourceFileLoader("planted", str(work / "planted.py")), "planted"),
        "a loader subclass": lambda: load_with(OwnLoader("colorsys_copy", stdlib_py), "colorsys_copy"),
        "putenv outside an import": lambda: os.putenv("FAIRNAD_PROBE", "1"),
        "os.environ outside an import": lambda: os.environ.__setitem__("FAIRNAD_PROBE", "1"),
    }
    for what, attempt in attempts.items():
        try:
            attempt()
        except PermissionError as exc:
            print("refused" if MARK in str(exc) else f"OTHER {exc}", what)
        else:
            print("ALLOWED", what)
    try:
        import planted
        print("ALLOWED import from a writable folder", planted.VALUE)
    except ModuleNotFoundError:
        print("refused import from a writable folder (not on sys.path)")
    import colorsys  # the standard library, through the import system
    print("stdlib import ok", colorsys.rgb_to_hsv(1, 0, 0))
    """
)


def test_code_loaded_by_anyone_but_the_import_system_stays_refused(tmp_path):
    stdout = run_probe(REFUSAL_PROBE, tmp_path)
    assert "ALLOWED" not in stdout and "OTHER" not in stdout, stdout
    assert stdout.count("refused") == 7, stdout
    assert "stdlib import ok" in stdout, stdout


ABOVE_INSTALLATION_PROBE = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    import torch
    from fairnad_tools.isolation.guard import install_guard

    # a candidate saved in a folder that holds the Python installation (a project with its .venv)
    above = Path(sys.prefix).resolve().parent
    install_guard(read=[above], write=[sys.argv[1]])
    print(torch.arange(3))  # lazily imports torch._subclasses.schema_check_mode
    import colorsys
    print("ok", "torch._subclasses.schema_check_mode" in sys.modules)
    """
)


def test_a_candidate_folder_above_the_installation_does_not_revoke_it(tmp_path):
    stdout = run_probe(ABOVE_INSTALLATION_PROBE, tmp_path)
    assert "tensor([0, 1, 2])" in stdout and "ok True" in stdout, stdout


# -- stdout floods: verification ------------------------------------------------------------------
FLOODS = {
    "many_small_prints": 'for i in range(100_000):\n    print("step", i, "ok")\n',  # about 1.3 MB in tiny writes
    "one_huge_line_without_newline": 'print("z" * 20_000_000, end="")\n',  # 20 MB, no line break at all
}


@pytest.mark.parametrize("name", sorted(FLOODS))
def test_flooding_candidates_verify_ok_through_the_fork_server(fork_server, tmp_path, name):
    path = tmp_path / "model.py"
    path.write_text(with_forward(FLOODS[name]))
    report = verify_file(path, timeout_s=SLOW_OK)
    assert report.code == "ok", f"{name}: {report.message}"
    assert (report.params, report.flops) == (PARAMS, FLOPS)


def test_a_flooding_candidate_verifies_ok_through_the_cli(tmp_path):
    path = tmp_path / "model.py"
    path.write_text(with_forward(FLOODS["one_huge_line_without_newline"]))
    result = run_cli("verify", str(path), "--json", "--timeout", str(SLOW_OK))
    report = json.loads(result.stdout)
    assert result.returncode == 0 and report["code"] == "ok", report


def test_a_candidate_that_floods_forever_is_a_timeout_not_a_hang(fork_server, tmp_path):
    path = tmp_path / "model.py"
    path.write_text(with_forward('while True:\n    print("spam " * 10_000)\n'))
    report = verify_file(path, timeout_s=3)
    assert report.code == "timeout", report.message


# -- stdout floods: training logs keep their head and tail ----------------------------------------
def _flood_job(tmp_path: Path) -> TrainJob:
    folder = tmp_path / "cand"
    folder.mkdir()
    (folder / "model.py").write_bytes((CASE / "model_bigstr.py").read_bytes())  # 3 MB of text per forward
    return TrainJob(
        candidate_id="0001",
        model_path=folder / "model.py",
        out_dir=folder,
        dataset="digits",
        epochs=1,
        batch_size=128,
        lr=0.05,
        device="cpu",
        time_limit_s=240,
    )


def _assert_capped_log(job: TrainJob) -> None:
    text = job.log_path.read_bytes()
    # 12 forwards (8 steps, 4 evaluation batches) wrote about 36 MB: the log keeps 1 MiB + 1 MiB and says so
    assert len(text) < (2 << 20) + 4096, len(text)
    assert b"candidate 0001: digits on cpu" in text[:4096]  # the head
    assert b"bytes of output dropped here" in text and b"the first" in text
    assert b"val_acc" in text[-4096:]  # the tail: the worker's last lines


@pytest.mark.timeout(600)
def test_training_a_flooding_candidate_through_the_fork_server_caps_its_log(fork_server, tmp_path):
    job = _flood_job(tmp_path)
    result = train_candidate(job)
    assert result.status == "trained", result.reason
    _assert_capped_log(job)


@pytest.mark.timeout(600)
def test_training_a_flooding_candidate_in_a_fresh_process_caps_its_log(tmp_path, monkeypatch):
    monkeypatch.setattr(forkserver, "_enabled", False)
    job = _flood_job(tmp_path)
    result = train_candidate(job)
    assert result.status == "trained", result.reason
    _assert_capped_log(job)


# -- the cap itself ------------------------------------------------------------------------------
def test_capped_output_keeps_head_and_tail_on_line_boundaries(tmp_path):
    log = tmp_path / "out.log"
    sink = CappedOutput(log, head_bytes=1000, tail_bytes=1000)
    lines = [f"line {i:05d} ".encode() + b"x" * 40 + b"\n" for i in range(10_000)]  # 52 bytes each
    for start in range(0, len(lines), 7):
        sink.write(b"".join(lines[start : start + 7]))
    sink.close()
    text = log.read_bytes()
    assert text.startswith(lines[0]) and text.endswith(lines[-1])
    assert len(text) < 2000 + 400
    head, marker, rest = text.partition(b"[FairNAD: this process's output passed 1,000 bytes")
    assert marker and head == b"".join(lines[:19])  # 19 whole lines, cut at the last line end before the cap
    assert sink.total == 520_000 and sink.dropped > 515_000
    assert f"{sink.dropped:,} bytes of output dropped here".encode() in rest
    kept_tail = rest.split(b"are kept]\n", 1)[1]
    assert kept_tail.startswith(b"line ") and kept_tail in b"".join(lines)
    assert sink.tail_text(60) == b"".join(lines)[-60:].decode()


def test_capped_output_under_the_cap_is_written_whole(tmp_path):
    log = tmp_path / "out.log"
    log.write_bytes(b"earlier attempt\n")
    sink = CappedOutput(log, head_bytes=1000, tail_bytes=1000)
    sink.write(b"short\n")
    sink.write(b"output\n")
    sink.close()
    assert log.read_bytes() == b"earlier attempt\nshort\noutput\n"  # appended, nothing added
    assert sink.dropped == 0 and sink.tail_text(100) == "short\noutput\n"


FLOODER = textwrap.dedent(
    """
    import sys
    n = int(sys.argv[1])
    for i in range(n if n >= 0 else 10**12):
        print(f"line {i:07d} " + "x" * 90)
    print("a line on stderr", file=sys.stderr)
    print("THE END")
    """
)


def _flooder_env(tmp_path: Path) -> dict[str, str]:
    (tmp_path / "flooder.py").write_text(FLOODER)
    env = child_env()
    env["PYTHONPATH"] = f"{tmp_path}{os.pathsep}{env['PYTHONPATH']}"
    return env


def test_a_fresh_child_that_floods_is_drained_and_its_log_capped(tmp_path):
    log = tmp_path / "child.log"
    result = run_python_module(
        "flooder",
        ["200000"],
        timeout=240,
        cwd=tmp_path,
        log_path=log,
        env=_flooder_env(tmp_path),
        head_bytes=20_000,
        tail_bytes=20_000,
    )
    assert result.returncode == 0 and not result.timed_out, result.output_tail
    assert result.output_tail.endswith("THE END\n") and "a line on stderr" in result.output_tail
    text = log.read_bytes()
    assert text.startswith(b"line 0000000 ") and text.endswith(b"THE END\n")
    assert len(text) < 40_000 + 1000 and b"bytes of output dropped here" in text


def test_a_fresh_child_that_floods_forever_is_stopped_at_its_time_limit(tmp_path):
    log = tmp_path / "child.log"
    result = run_python_module(
        "flooder",
        ["-1"],
        timeout=3,
        cwd=tmp_path,
        log_path=log,
        env=_flooder_env(tmp_path),
        head_bytes=10_000,
        tail_bytes=10_000,
    )
    assert result.timed_out  # however much it printed before the limit, the log holds at most head and tail
    assert log.stat().st_size < 20_000 + 1000
