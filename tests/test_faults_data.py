"""Datasets checked before a run starts (issue 8, kinds 7 and 8).

Kind 7: a CIFAR folder whose content training cannot read must be refused before the run exists,
and a folder torchvision's reader accepts (str or bytes keys) must train. Kind 8: a data folder
at the wrong level, an archive not extracted or the other CIFAR gets a message that says what
was found and the fix. Cases: ``tests/faults/cifar_py3_pickle_keys``,
``tests/faults/cifar_wrong_folder_level`` (inputs and ``expected.md`` as filed).
"""

from __future__ import annotations

import io
import os
import pickle
import struct
import subprocess
import sys
import tarfile
import tomllib
from pathlib import Path

import numpy as np
import pytest

from fairnad_tools.data import DataError, check_dataset, load_dataset
from fairnad_tools.data.cifar import check_stratified_halves, read_cifar, read_cifar_batch
from tests.conftest import ROOT, read_summary, run_cli

pytestmark = pytest.mark.timeout(300)

FAULTS = Path(__file__).resolve().parent / "faults"
PY3_CASE = FAULTS / "cifar_py3_pickle_keys"
LEVEL_CASE = FAULTS / "cifar_wrong_folder_level"
C10_FILES = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]


# -- writing fake CIFAR folders --------------------------------------------------------------------
def make_case_cifar(case: Path, root: Path, keys: str, per_batch: int = 40, test: int = 40) -> Path:
    """Run the case's own ``make_cifar.py`` as its run.sh does; returns ROOT/cifar-10-batches-py."""
    subprocess.run(
        [
            sys.executable,
            str(case / "make_cifar.py"),
            str(root),
            "--keys",
            keys,
            "--per-batch",
            str(per_batch),
            "--test",
            str(test),
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    return root / "cifar-10-batches-py"


class Py2Pickler(pickle._Pickler):
    """Writes what Python 2's cPickle wrote at protocol 2: every str, pixel payloads included, as a byte string."""

    dispatch = dict(pickle._Pickler.dispatch)

    def save_bytes(self, obj: bytes) -> None:
        if len(obj) < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([len(obj)]) + obj)
        else:
            self.write(pickle.BINSTRING + struct.pack("<i", len(obj)) + obj)
        self.memoize(obj)

    def save_str(self, obj: str) -> None:
        self.save_bytes(obj.encode("latin1"))

    dispatch[bytes] = save_bytes
    dispatch[str] = save_str


def dump_batch(path: Path, entry: dict, keys: str = "py3") -> None:
    """Pickle a batch dict with its keys as ``py3`` (str), ``bytes`` (Python 3 bytes), ``py2`` or ``official``.

    ``py2`` writes the keys as Python 2 byte strings (SHORT_BINSTRING), as the official archives
    hold them: ``encoding="latin1"`` reads them as str, ``encoding="bytes"`` as bytes.
    ``official`` writes every string that way, the arrays' pixel bytes too, as Python 2 did.
    """
    if keys == "official":
        buffer = io.BytesIO()
        Py2Pickler(buffer, protocol=2).dump(entry)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(buffer.getvalue())
        return
    if keys == "bytes":
        entry = {k.encode(): v for k, v in entry.items()}
    blob = pickle.dumps(entry, protocol=2)
    if keys == "py2":
        for key in entry:
            raw = key.encode()
            blob = blob.replace(b"X" + len(raw).to_bytes(4, "little") + raw, b"U" + bytes([len(raw)]) + raw)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(blob)


def batch(n: int, classes: int = 10, label_key: str = "labels", seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    return {"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8), label_key: [i % classes for i in range(n)]}


def make_cifar100(root: Path, keys: str = "py2", n_train: int = 200, n_test: int = 200) -> Path:
    """A tiny CIFAR-100 in torchvision's layout: ROOT/cifar-100-python/{train, test, meta}."""
    folder = root / "cifar-100-python"
    for name, n in (("train", n_train), ("test", n_test)):
        entry = batch(n, 100, "fine_labels", seed=len(name))
        entry["coarse_labels"] = [label // 5 for label in entry["fine_labels"]]
        dump_batch(folder / name, entry, keys)
    dump_batch(folder / "meta", {"fine_label_names": [f"c{i}" for i in range(100)]}, keys)
    return folder


def make_cifar10(root: Path, keys: str = "py3", per_batch: int = 20, test: int = 20) -> Path:
    folder = root / "cifar-10-batches-py"
    for name in C10_FILES:
        dump_batch(folder / name, batch(test if name == "test_batch" else per_batch, seed=len(name)), keys)
    return folder


def refusal(name: str, data_dir: Path) -> str:
    """The message of check_dataset's refusal; load_dataset (training's loader) must refuse alike."""
    with pytest.raises(DataError) as checked:
        check_dataset(name, data_dir)
    with pytest.raises(DataError) as loaded:
        load_dataset(name, data_dir)
    assert str(checked.value) == str(loaded.value)
    return str(checked.value)


def assert_refused_before_the_run(result: subprocess.CompletedProcess[str], run_dir: Path, *fragments: str) -> None:
    """A setup error: one ``error:`` line on stderr with every fragment, no traceback, no run directory.

    The exit code is the one ``graph/cli`` gives setup errors (1 or 2, never 0, which would
    mean a run took place); this file checks the refusal, the CLI's own tests its code.
    """
    assert result.returncode in (1, 2), result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    for fragment in fragments:
        assert fragment in lines[0], f"{fragment!r} not in {lines[0]!r}"
    assert not run_dir.exists()


def cli_run(
    cwd: Path, data_dir: str, run_dir: str, dataset: str = "cifar10", config: Path = LEVEL_CASE, timeout: float = 280
):
    """``fairnad run`` as the cases' run.sh types it: budget 1, 1 epoch, batch 32, 1 thread."""
    return run_cli(
        "run",
        "--config",
        str(config / "fairnad.toml"),
        "--dataset",
        dataset,
        "--data-dir",
        data_dir,
        "--budget",
        "1",
        "--epochs",
        "1",
        "--run-dir",
        run_dir,
        "-q",
        cwd=cwd,
        timeout=timeout,
    )


def assert_seed_trained(run_dir: Path) -> None:
    summary = read_summary(run_dir)
    assert summary["status"] == "finished" and summary["counted"] == 1, summary
    seed = summary["candidates"][0]
    assert seed["mutation_type"] == "seed" and seed["status"] == "trained", seed
    assert seed["val_acc"] is not None and seed["test_acc"] is not None


# -- case cifar_py3_pickle_keys --------------------------------------------------------------------
@pytest.mark.parametrize("keys", ["py3", "py2", "official"])
def test_fairnad_reads_what_torchvision_reads(tmp_path, keys):
    """expected.md: torchvision's reader loads the folder; FairNAD loads the same images and labels."""
    import torchvision.datasets.cifar as tv_cifar

    if keys == "official":
        folder = tmp_path / "cifar-10-batches-py"
        for i, name in enumerate(C10_FILES):
            dump_batch(folder / name, {**batch(40, seed=i), "batch_label": name, "filenames": ["a.png"] * 40}, keys)
        dump_batch(folder / "batches.meta", {"label_names": [f"c{i}" for i in range(10)], "num_vis": 3072}, keys)
    else:
        folder = make_case_cifar(PY3_CASE, tmp_path, keys)
    original = tv_cifar.check_integrity
    tv_cifar.check_integrity = lambda *a, **k: True  # fake files cannot match the official md5s
    try:
        train = tv_cifar.CIFAR10(str(tmp_path), train=True, download=False)
        test = tv_cifar.CIFAR10(str(tmp_path), train=False, download=False)
    finally:
        tv_cifar.check_integrity = original
    assert train.data.shape == (200, 32, 32, 3)
    arrays = read_cifar("cifar10", tmp_path)
    assert arrays.folder == folder
    assert np.array_equal(arrays.train_x.transpose(0, 2, 3, 1), train.data)
    assert arrays.train_y.tolist() == train.targets
    assert np.array_equal(arrays.test_x.transpose(0, 2, 3, 1), test.data)
    assert arrays.test_y.tolist() == test.targets
    check_dataset("cifar10", tmp_path)
    splits = load_dataset("cifar10", tmp_path)
    assert len(splits.train_x) == 100 and len(splits.valid_x) == 100 and len(splits.test_x) == 40


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_py3_keyed_cifar_trains_through_the_cli(tmp_path):
    """expected.md: the run starts and its seed is trained, not failed (budget 1, epochs 1)."""
    make_case_cifar(PY3_CASE, tmp_path / "data", "py3")
    result = cli_run(tmp_path, "data", "run", config=PY3_CASE, timeout=560)
    assert result.returncode == 0, result.stdout + result.stderr
    assert_seed_trained(tmp_path / "run")


@pytest.mark.parametrize(
    "keys",
    ["py2", "py3", "bytes", "mixed"],
)
def test_cifar100_with_keys_of_either_kind_loads(tmp_path, keys):
    folder = tmp_path / "cifar-100-python"
    for name in ("train", "test"):
        entry = batch(200, 100, "fine_labels")
        if keys == "mixed":  # bytes data, str labels: keys of both kinds in one dict
            blob = {b"data": entry["data"], "fine_labels": entry["fine_labels"], b"coarse_labels": [0] * 200}
            folder.mkdir(exist_ok=True)
            (folder / name).write_bytes(pickle.dumps(blob))
        else:
            dump_batch(folder / name, entry, keys)
    check_dataset("cifar100", tmp_path)
    splits = load_dataset("cifar100", tmp_path)
    assert len(splits.train_x) == 200 and len(splits.valid_x) == 100 and len(splits.test_x) == 100
    assert int(splits.train_y.max()) == 99


def test_labels_key_wins_over_fine_labels_as_in_torchvision(tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    for name in C10_FILES:
        entry = batch(20)
        entry["fine_labels"] = [99] * 20  # torchvision reads "labels" when both are there
        dump_batch(folder / name, entry, "py3")
    arrays = read_cifar("cifar10", tmp_path)
    assert arrays.train_y.max() == 9


def test_integer_pixels_other_than_uint8_are_accepted_when_lossless(tmp_path):
    folder = make_cifar10(tmp_path)
    entry = batch(20)
    entry["data"] = entry["data"].astype(np.int64).reshape(20, 3, 32, 32)
    dump_batch(folder / "data_batch_2", entry)
    images, labels = read_cifar_batch(folder / "data_batch_2", 10)
    assert images.dtype == np.uint8 and images.shape == (20, 3, 32, 32) and labels.dtype == np.int64
    assert np.array_equal(images.reshape(20, 3072), batch(20)["data"])


# -- kind 7: content refused before the run, named by file -----------------------------------------
def _corrupt(folder: Path, name: str, how: str) -> None:
    path = folder / name
    entry = batch(20, 10, "labels")
    if how == "truncated":
        path.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 2])
    elif how == "empty":
        path.write_bytes(b"")
    elif how == "png":
        path.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(100))
    elif how == "html":
        path.write_bytes(b"<!DOCTYPE html><html><body>Not found</body></html>")
    elif how == "gzip":
        path.write_bytes(b"\x1f\x8b\x08\x00" + bytes(100))
    elif how == "text":
        path.write_bytes(b"garbage, not a pickle at all")
    elif how == "labels_out_of_range":
        entry["labels"] = [i % 100 for i in range(20, 40)]
        dump_batch(path, entry)
    elif how == "negative_label":
        entry["labels"][3] = -1
        dump_batch(path, entry)
    elif how == "fewer_labels":
        entry["labels"] = entry["labels"][:19]
        dump_batch(path, entry)
    elif how == "wrong_shape":
        entry["data"] = entry["data"][:, :1024]
        dump_batch(path, entry)
    elif how == "channels_last":
        entry["data"] = entry["data"].reshape(20, 32, 32, 3)
        dump_batch(path, entry)
    elif how == "float_pixels":
        entry["data"] = entry["data"].astype(np.float32) / 255
        dump_batch(path, entry)
    elif how == "no_data":
        dump_batch(path, {"images": entry["data"], "labels": entry["labels"]})
    elif how == "no_labels":
        dump_batch(path, {"data": entry["data"], "targets": entry["labels"]})
    elif how == "a_list":
        path.write_bytes(pickle.dumps([entry["data"], entry["labels"]]))
    elif how == "float_labels":
        entry["labels"] = [float(v) for v in entry["labels"]]
        dump_batch(path, entry)
    else:
        raise AssertionError(how)


@pytest.mark.parametrize(
    ("how", "fragments"),
    [
        ("truncated", ["data_batch_3 is truncated", "extract the archive again"]),
        ("empty", ["data_batch_3 is empty (0 bytes)"]),
        ("png", ["data_batch_3 is not a CIFAR batch", "a PNG image"]),
        ("html", ["data_batch_3 is not a CIFAR batch", "HTML", "failed download"]),
        ("gzip", ["data_batch_3 is not a CIFAR batch", "gzip-compressed", "extract it"]),
        ("text", ["data_batch_3 is not a CIFAR batch", "b'garbage,'"]),
        ("labels_out_of_range", ["data_batch_3: labels run from 20 to 39, outside 0..9", "--dataset cifar100"]),
        ("negative_label", ["data_batch_3: labels run from -1 to 9, outside 0..9"]),
        ("fewer_labels", ["data_batch_3: 20 images but 19 labels"]),
        ("wrong_shape", ["data_batch_3: 'data' has shape (20, 1024); expected N x 3072"]),
        ("channels_last", ["(20, 32, 32, 3), channels last", "transpose(0, 3, 1, 2)"]),
        ("float_pixels", ["data_batch_3: 'data' is float32; expected uint8"]),
        ("no_data", ["data_batch_3 has no 'data' entry", "'images'"]),
        ("no_labels", ["data_batch_3 has neither 'labels'", "'targets'"]),
        ("a_list", ["data_batch_3 holds a pickled list, not a CIFAR batch"]),
        ("float_labels", ["data_batch_3: 'labels' holds float64 values; expected integer class indices"]),
    ],
)
def test_bad_cifar10_batches_are_named_with_the_reason(tmp_path, how, fragments):
    folder = make_cifar10(tmp_path)
    _corrupt(folder, "data_batch_3", how)
    message = refusal("cifar10", tmp_path)
    assert str(folder / "data_batch_3") in message
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in {message!r}"


def test_cifar100_with_a_truncated_train_file(tmp_path):
    folder = make_cifar100(tmp_path)
    blob = (folder / "train").read_bytes()
    (folder / "train").write_bytes(blob[: len(blob) - 5000])
    message = refusal("cifar100", tmp_path)
    assert f"{folder / 'train'} is truncated" in message


def test_cifar100_test_file_with_coarse_labels_only(tmp_path):
    folder = make_cifar100(tmp_path)
    dump_batch(folder / "test", {"data": batch(40)["data"], "coarse_labels": [i % 20 for i in range(40)]}, "py2")
    message = refusal("cifar100", tmp_path)
    assert f"{folder / 'test'} has neither 'labels' (CIFAR-10) nor 'fine_labels' (CIFAR-100)" in message
    assert "'coarse_labels'" in message


def test_a_pickle_that_names_a_function_is_refused_not_run(tmp_path):
    folder = make_cifar10(tmp_path)
    marker = tmp_path / "ran"

    class Payload:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    (folder / "test_batch").write_bytes(pickle.dumps({"data": Payload(), "labels": []}))
    message = refusal("cifar10", tmp_path)
    assert "test_batch refers to posix.system" in message or "test_batch refers to os.system" in message
    assert not marker.exists()


def test_labels_the_stratified_split_cannot_halve_are_refused_before_training(tmp_path):
    folder = make_cifar10(tmp_path, per_batch=4)
    for name in C10_FILES[:-1]:  # class 7 appears once in the whole train set
        entry = batch(4)
        entry["labels"] = [0, 1, 2, 7] if name == "data_batch_1" else [0, 1, 2, 3]
        dump_batch(folder / name, entry)
    message = refusal("cifar10", tmp_path)
    assert "cifar10 train set" in message and "only one image of class 7" in message


@pytest.mark.parametrize("seed", range(40))
def test_the_split_check_agrees_with_scikit_learn(seed):
    """check_stratified_halves refuses exactly the label sets that train_test_split refuses."""
    from sklearn.model_selection import train_test_split

    rng = np.random.default_rng(seed)
    labels = rng.integers(0, int(rng.integers(1, 12)), size=int(rng.integers(2, 30)))
    half = len(labels) // 2
    try:
        train_test_split(np.arange(len(labels)), train_size=half, stratify=labels, random_state=0)
        sklearn_ok = True
    except ValueError:
        sklearn_ok = False
    try:
        check_stratified_halves(labels, "set")
        ours_ok = True
    except DataError:
        ours_ok = False
    assert ours_ok == sklearn_ok, labels.tolist()


def test_the_pre_run_check_does_not_import_torch(tmp_path):
    make_cifar10(tmp_path)
    code = (
        "import sys; from fairnad_tools.data import check_dataset; "
        f"check_dataset('cifar10', {str(tmp_path)!r}); print(sorted(m for m in sys.modules if m.split('.')[0] "
        "in ('torch', 'sklearn', 'torchvision')))"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_cli_refuses_bad_content_before_the_run_directory(tmp_path):
    folder = make_cifar100(tmp_path / "data")
    blob = (folder / "train").read_bytes()
    (folder / "train").write_bytes(blob[:1000])
    result = cli_run(tmp_path, "data", "run", dataset="cifar100")
    assert_refused_before_the_run(result, tmp_path / "run", "data/cifar-100-python/train is truncated")
    make_cifar10(tmp_path / "c10")
    _corrupt(tmp_path / "c10" / "cifar-10-batches-py", "test_batch", "labels_out_of_range")
    result = cli_run(tmp_path, "c10", "run")
    assert_refused_before_the_run(
        result, tmp_path / "run", "c10/cifar-10-batches-py/test_batch: labels run from 20 to 39"
    )


# -- case cifar_wrong_folder_level -----------------------------------------------------------------
@pytest.fixture
def level_work(tmp_path: Path) -> Path:
    """The case's run.sh layout: work/nested/cifar10/cifar-10-batches-py, work/archive_only, work/c100."""
    work = tmp_path / "work"
    make_case_cifar(LEVEL_CASE, work / "nested" / "cifar10", "py2")
    (work / "archive_only").mkdir()
    with tarfile.open(work / "archive_only" / "cifar-10-python.tar.gz", "w:gz") as tar:
        tar.add(work / "nested" / "cifar10" / "cifar-10-batches-py", arcname="cifar-10-batches-py")
    (work / "c100" / "cifar-100-python").mkdir(parents=True)
    for name in ("train", "test", "meta"):
        (work / "c100" / "cifar-100-python" / name).touch()
    return tmp_path


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_a_data_dir_at_cifar_10_batches_py_itself_trains(level_work):
    """(a) --data-dir is cifar-10-batches-py itself: accepted, the run trains."""
    folder = level_work / "work/nested/cifar10/cifar-10-batches-py"
    assert read_cifar("cifar10", folder).folder == folder
    result = cli_run(level_work, "work/nested/cifar10/cifar-10-batches-py", "work/run_a", timeout=560)
    assert result.returncode == 0, result.stdout + result.stderr
    assert_seed_trained(level_work / "work/run_a")


@pytest.mark.parametrize(
    ("data_dir", "run_dir", "expected"),
    [
        ("work/nested", "work/run_b", "found cifar-10-batches-py under work/nested/cifar10: pass that folder"),
        ("work/archive_only", "work/run_c", "found cifar-10-python.tar.gz: extract it"),
        ("work/c100", "work/run_d", "this folder holds cifar-100-python: use --dataset cifar100"),
    ],
    ids=["b_one_level_too_high", "c_archive_not_extracted", "d_cifar100_for_cifar10"],
)
def test_wrong_folder_refused_before_the_run_with_what_was_found(level_work, data_dir, run_dir, expected):
    """(b), (c), (d): refused before any run directory is created, with what was found and the fix."""
    result = cli_run(level_work, data_dir, run_dir)
    assert_refused_before_the_run(result, level_work / run_dir, expected)


# -- kind 8: more folders of the wrong kind --------------------------------------------------------
@pytest.fixture
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Work in tmp_path with relative paths, as a user types them."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_two_levels_too_high_names_the_folder_to_pass(in_tmp):
    make_cifar10(Path("data/cifar/v1"))
    message = refusal("cifar10", Path("data"))
    assert "found cifar-10-batches-py under data/cifar/v1: pass that folder (--data-dir data/cifar/v1)" in message
    read_cifar("cifar10", Path("data/cifar/v1"))  # the fix works


def test_cifar100_one_level_too_high(in_tmp):
    make_cifar100(Path("datasets/c100"))
    message = refusal("cifar100", Path("datasets"))
    assert "found cifar-100-python under datasets/c100: pass that folder" in message


def test_batch_files_in_a_renamed_folder(in_tmp):
    for name in C10_FILES:
        dump_batch(Path("data/my_cifar") / name, batch(20))
    message = refusal("cifar10", Path("data"))
    assert "found the CIFAR-10 batch files (data_batch_1" in message and "in data/my_cifar: pass that folder" in message
    check_dataset("cifar10", Path("data/my_cifar"))


def test_cifar100_archive_not_extracted(in_tmp):
    make_cifar100(Path("src"))
    Path("dl").mkdir()
    with tarfile.open("dl/cifar-100-python.tar.gz", "w:gz") as tar:
        tar.add("src/cifar-100-python", arcname="cifar-100-python")
    message = refusal("cifar100", Path("dl"))
    assert "found cifar-100-python.tar.gz: extract it (tar -xzf dl/cifar-100-python.tar.gz -C dl)" in message
    subprocess.run(["tar", "-xzf", "dl/cifar-100-python.tar.gz", "-C", "dl"], check=True, timeout=60)
    check_dataset("cifar100", Path("dl"))  # the command in the message is the fix


def test_the_archive_file_itself_as_data_dir(in_tmp):
    make_cifar10(Path("src"))
    with tarfile.open("cifar-10-python.tar.gz", "w:gz") as tar:
        tar.add("src/cifar-10-batches-py", arcname="cifar-10-batches-py")
    message = refusal("cifar10", Path("cifar-10-python.tar.gz"))
    assert "cifar-10-python.tar.gz is the CIFAR-10 archive cifar-10-python.tar.gz, not a folder: extract it" in message
    message = refusal("cifar100", Path("cifar-10-python.tar.gz"))
    assert "--dataset cifar10" in message


def test_cifar10_folder_given_for_cifar100(in_tmp):
    make_cifar10(Path("c10"))
    message = refusal("cifar100", Path("c10"))
    assert "this folder holds cifar-10-batches-py: use --dataset cifar10 (it is CIFAR-10, not CIFAR-100)" in message
    message = refusal("cifar100", Path("c10/cifar-10-batches-py"))
    assert "this folder holds the CIFAR-10 batch files" in message and "use --dataset cifar10" in message


def test_cifar100_python_folder_itself_given_for_cifar10(in_tmp):
    make_cifar100(Path("c100"))
    message = refusal("cifar10", Path("c100/cifar-100-python"))
    assert "use --dataset cifar100 (it is CIFAR-100, not CIFAR-10)" in message
    message = refusal("cifar10", Path("."))
    assert "found cifar-100-python under c100: use --dataset cifar100 --data-dir c100" in message


def test_empty_folder(in_tmp):
    Path("empty").mkdir()
    message = refusal("cifar10", Path("empty"))
    assert "data folder empty is empty; FairNAD expects cifar-10-batches-py/ (data_batch_1" in message
    assert "cifar-10-python.tar.gz" in message


def test_a_file_instead_of_a_folder(in_tmp):
    Path("notes.txt").write_text("cifar")
    message = refusal("cifar10", Path("notes.txt"))
    assert "notes.txt is a file, not a folder; --data-dir takes a folder holding cifar-10-batches-py/" in message
    make_cifar10(Path("d"))
    message = refusal("cifar10", Path("d/cifar-10-batches-py/data_batch_1"))
    assert "is one CIFAR-10 batch file, not a folder: pass the folder that holds it" in message
    assert "--data-dir d/cifar-10-batches-py" in message


def test_image_folder_layout(in_tmp):
    for split in ("train", "test"):
        for cls in ("cat", "dog"):
            for i in range(3):
                path = Path("imgs") / split / cls / f"{i}.png"
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(b"\x89PNG\r\n\x1a\n")
    for name in ("cifar10", "cifar100"):
        message = refusal(name, Path("imgs"))
        assert "imgs holds 12 image files in 4 folder(s) (an image-folder layout)" in message
        assert "not image files" in message


def test_binary_version(in_tmp):
    for name in C10_FILES:
        path = Path("data/cifar-10-batches-bin") / f"{name}.bin"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(bytes(3073 * 2))
    message = refusal("cifar10", Path("data"))
    assert "found data/cifar-10-batches-bin, the binary version of CIFAR" in message
    assert "download cifar-10-python.tar.gz" in message
    message = refusal("cifar10", Path("data/cifar-10-batches-bin"))
    assert "binary version" in message
    for name in ("train", "test"):
        path = Path("d100/cifar-100-binary") / f"{name}.bin"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(bytes(3074 * 2))
    message = refusal("cifar100", Path("d100"))
    assert "binary version" in message and "cifar-100-python.tar.gz" in message


def test_incomplete_extraction_names_the_missing_files(in_tmp):
    folder = make_cifar10(Path("data"))
    (folder / "data_batch_5").unlink()
    (folder / "test_batch").unlink()
    message = refusal("cifar10", Path("data"))
    assert "data/cifar-10-batches-py lacks data_batch_5, test_batch" in message and "extract" in message


def test_an_archive_extracted_twice_names_the_inner_folder(in_tmp):
    make_cifar10(Path("data/cifar-10-batches-py"))  # data/cifar-10-batches-py/cifar-10-batches-py/...
    message = refusal("cifar10", Path("data"))
    assert (
        "found cifar-10-batches-py under data/cifar-10-batches-py: pass that folder "
        "(--data-dir data/cifar-10-batches-py)" in message
    ), message
    assert "incomplete" not in message
    read_cifar("cifar10", Path("data/cifar-10-batches-py"))  # the fix works


def test_an_empty_cifar_folder_inside_says_the_copy_is_incomplete(in_tmp):
    Path("data/cifar-10-batches-py").mkdir(parents=True)
    message = refusal("cifar10", Path("data"))
    assert "found cifar-10-batches-py under data" in message and "incomplete" in message, message


@pytest.mark.parametrize("value", [b"", bytes(range(5)), "", [], ()])
def test_plain_values_torchvision_reads_are_accepted(tmp_path, value):
    """Protocol 2 pickles an empty bytes value as a call of bytes(); torchvision's reader loads it."""
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    for name in C10_FILES:
        entry = {**batch(20, seed=len(name)), "batch_label": value, "filenames": [b"a.png"] * 20}
        (folder / name).write_bytes(pickle.dumps(entry, protocol=2))
    check_dataset("cifar10", tmp_path)
    import torchvision.datasets.cifar as tv

    entry = tv.pickle.load(open(folder / "data_batch_1", "rb"), encoding="latin1")  # noqa: SIM115
    assert len(entry["data"]) == 20


def test_cli_refuses_more_wrong_folders_before_the_run_directory(in_tmp):
    make_cifar10(Path("deep/a/b"))
    result = cli_run(in_tmp, "deep", "r1")
    assert_refused_before_the_run(result, in_tmp / "r1", "found cifar-10-batches-py under deep/a/b: pass that folder")
    Path("empty").mkdir()
    result = cli_run(in_tmp, "empty", "r2", dataset="cifar100")
    assert_refused_before_the_run(result, in_tmp / "r2", "data folder empty is empty", "cifar-100-python")
    result = cli_run(in_tmp, "deep/a/b", "r3", dataset="cifar100")
    assert_refused_before_the_run(result, in_tmp / "r3", "this folder holds cifar-10-batches-py: use --dataset cifar10")


# -- paths a run saves are absolute, so a resume typed in another folder finds the same files ------
@pytest.mark.timeout(600)
def test_a_run_started_with_relative_paths_resumes_from_another_folder(tmp_path):
    """--data-dir data and relative or ~ knowledge files are saved absolute; a resume from another
    folder (where data/ holds nothing, and ~ is elsewhere) reads the files the run started with."""
    work, home, other = tmp_path / "work", tmp_path / "home", tmp_path / "other"
    make_cifar10(work / "data")
    shipped = ROOT / "knowledge" / "data"
    home.mkdir()
    (home / "template.yaml").write_text((shipped / "template.yaml").read_text())
    (work / "ideas.yaml").write_text((shipped / "starter_ideas.yaml").read_text())
    (work / "fairnad.toml").write_text(
        '[train]\nbatch_size = 32\nthreads = 1\n[knowledge]\ntemplate = "~/template.yaml"\nideas = ["ideas.yaml"]\n'
    )
    result = run_cli(
        "run",
        "--config",
        "fairnad.toml",
        "--dataset",
        "cifar10",
        "--data-dir",
        "data",
        "--budget",
        "1",
        "--epochs",
        "1",
        "--run-dir",
        "runs/r",
        "-q",
        cwd=work,
        env={"HOME": str(home)},
        timeout=280,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    run_dir = work / "runs" / "r"
    saved = tomllib.loads((run_dir / "settings.toml").read_text())
    assert saved["data"]["data_dir"] == str(work / "data")
    assert saved["knowledge"]["template"] == str(home / "template.yaml")
    assert saved["knowledge"]["ideas"] == [str(work / "ideas.yaml")]

    (other / "data").mkdir(parents=True)  # another folder's data/ must never be read
    result = run_cli("resume", str(run_dir), "--budget", "2", "-q", cwd=other, env={"HOME": str(other)}, timeout=280)
    assert result.returncode == 0, result.stdout + result.stderr
    summary = read_summary(run_dir)
    assert summary["status"] == "finished" and summary["counted"] == 2, summary


# -- archives under the other names they arrive with: .tar (a browser stripped .gz), .tgz, .zip ----
def _pack(folder: Path, archive: Path) -> None:
    """``folder`` packed as the official archive packs it (the folder at the top), in ``archive``'s format."""
    if archive.name.endswith(".zip"):
        import zipfile

        with zipfile.ZipFile(archive, "w") as zf:
            for path in sorted(folder.rglob("*")):
                zf.write(path, str(path.relative_to(folder.parent)))
    else:
        with tarfile.open(archive, "w" if archive.name.endswith(".tar") else "w:gz") as tar:
            tar.add(folder, arcname=folder.name)


def _run_the_command(message: str) -> None:
    """Run the extract command the message gives (the first of its alternatives)."""
    command = message.split("extract it (", 1)[1].split(")", 1)[0].split(", or ")[0]
    if command.startswith("unzip "):  # the same command through Python where unzip is not installed
        parts = command.split()
        command = f"{sys.executable} -m zipfile -e {parts[1]} {parts[3]}"
    subprocess.run(command, shell=True, check=True, timeout=60)


@pytest.mark.parametrize("dataset", ["cifar10", "cifar100"])
@pytest.mark.parametrize(
    ("suffix", "command"),
    [(".tar", "tar -xf "), (".zip", "unzip "), (".tgz", "tar -xzf ")],
    ids=["tar", "zip", "tgz"],
)
def test_an_archive_under_another_name_gets_its_own_extract_command(in_tmp, dataset, suffix, command):
    """The folder given holds cifar-10-python.tar (or .zip, .tgz), or that file is given itself:
    the message names the archive and the command that extracts that format, and the command works."""
    made = make_cifar10(Path("src")) if dataset == "cifar10" else make_cifar100(Path("src"))
    stem = "cifar-10-python" if dataset == "cifar10" else "cifar-100-python"
    Path("dl").mkdir()
    archive = Path("dl") / f"{stem}{suffix}"
    _pack(made, archive)
    message = refusal(dataset, Path("dl"))
    assert f"found {archive.name}: extract it ({command}dl/{archive.name}" in message, message
    assert "then pass --data-dir dl" in message and "holds neither" not in message
    message = refusal(dataset, archive)
    assert (
        f"{archive} is the CIFAR-{dataset[5:]} archive {archive.name}, not a folder: extract it ({command}" in message
    )
    other = "cifar100" if dataset == "cifar10" else "cifar10"
    assert f"--dataset {dataset}" in refusal(other, Path("dl")) and f"--dataset {dataset}" in refusal(other, archive)
    _run_the_command(message)
    check_dataset(dataset, Path("dl"))  # the command in the message is the fix


def test_an_archive_of_another_name_in_the_folder_gets_the_extract_command(in_tmp):
    make_cifar10(Path("src"))
    Path("dl").mkdir()
    _pack(Path("src/cifar-10-batches-py"), Path("dl/cifar10-download.zip"))
    message = refusal("cifar10", Path("dl"))
    assert "but the archive cifar10-download.zip" in message and "unzip dl/cifar10-download.zip -d dl" in message
    message = refusal("cifar10", Path("dl/cifar10-download.zip"))
    assert "is an archive, not a folder: extract it (unzip dl/cifar10-download.zip -d dl" in message
    _run_the_command(message)
    check_dataset("cifar10", Path("dl"))


def test_cli_names_the_extract_command_of_an_uncompressed_tar(in_tmp):
    make_cifar10(Path("src"))
    Path("dl").mkdir()
    _pack(Path("src/cifar-10-batches-py"), Path("dl/cifar-10-python.tar"))
    result = cli_run(in_tmp, "dl", "r1")
    assert_refused_before_the_run(
        result, in_tmp / "r1", "found cifar-10-python.tar: extract it (tar -xf dl/cifar-10-python.tar -C dl)"
    )
