"""``cifar10`` / ``cifar100``: the CIFAR reader, the pre-run check and the diagnosis of a wrong folder.

Read from a local folder in torchvision's format (``cifar-10-batches-py/`` or
``cifar-100-python/``, or that folder itself) by :func:`read_cifar`, the reader the pre-run
check uses too, so the check and training cannot disagree about what a valid folder is. Split
as NAS-Bench-201 does for search: CIFAR-10's train set halved into 25k train / 25k valid, the
10k test set for test; CIFAR-100 the full 50k train set, the test set halved into 5k valid /
5k test. Reading needs numpy and pickle only; torch is imported by :meth:`Cifar.load` alone.

The format is torchvision's "python version" of CIFAR (``torchvision/datasets/cifar.py``):
pickled dicts read with ``pickle.load(f, encoding="latin1")``, ``entry["data"]`` an N x 3072
uint8 array (rows channel-major: 1024 red, 1024 green, 1024 blue values of a 32x32 image) and
``entry["labels"]`` if present, else ``entry["fine_labels"]``. Keys may be the Python 2 byte
strings of the official archive or ordinary ``str`` keys written by Python 3. FairNAD reads
the same arrays (tested against torchvision's reader) but unpickles only plain data: a pickle
that names any function other than numpy's array reconstruction is refused, not run.
"""

from __future__ import annotations

import importlib
import logging
import os
import pickle
import shlex
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from fairnad_tools.data.registry import (
    DataError,
    Dataset,
    DatasetInfo,
    Splits,
    dataset_info,
    register_dataset,
    stratified_split,
)

logger = logging.getLogger(__name__)

CIFAR_URL = "https://www.cs.toronto.edu/~kriz/cifar.html"
# what a downloaded archive is called once a browser or a tool has renamed or repacked it: the
# official .tar.gz, .tgz, a .tar (browsers often strip .gz) or a .zip
ARCHIVE_SUFFIXES = (".tar.gz", ".tgz", ".tar", ".zip")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm")


@dataclass(frozen=True)
class CifarLayout:
    """The files of one CIFAR dataset as its official archives hold them (names from torchvision)."""

    dataset: str  # FairNAD's name, the value of --dataset
    title: str  # as people write it
    folder: str  # what the python archive extracts to
    archive: str  # the python archive
    train_files: tuple[str, ...]
    test_files: tuple[str, ...]
    meta_file: str
    other_versions: tuple[str, ...]  # folders and archives of the binary and MATLAB versions

    @property
    def files(self) -> tuple[str, ...]:
        return self.train_files + self.test_files

    def describe(self) -> str:
        return f"{self.folder}/ ({', '.join(self.files)}), as extracted from {self.archive}"

    @property
    def archive_names(self) -> tuple[str, ...]:
        """The python archive under each name it arrives with (``cifar-10-python.tar``, ``.zip``, ...)."""
        stem = self.archive.removesuffix(".tar.gz")
        return tuple(stem + suffix for suffix in ARCHIVE_SUFFIXES)


CIFAR_LAYOUTS: dict[str, CifarLayout] = {
    "cifar10": CifarLayout(
        "cifar10",
        "CIFAR-10",
        "cifar-10-batches-py",
        "cifar-10-python.tar.gz",
        tuple(f"data_batch_{i}" for i in range(1, 6)),
        ("test_batch",),
        "batches.meta",
        ("cifar-10-batches-bin", "cifar-10-binary.tar.gz", "cifar-10-batches-mat", "cifar-10-matlab.tar.gz"),
    ),
    "cifar100": CifarLayout(
        "cifar100",
        "CIFAR-100",
        "cifar-100-python",
        "cifar-100-python.tar.gz",
        ("train",),
        ("test",),
        "meta",
        ("cifar-100-binary", "cifar-100-binary.tar.gz", "cifar-100-matlab", "cifar-100-matlab.tar.gz"),
    ),
}


@dataclass
class CifarArrays:
    """A CIFAR dataset as read from disk: images (N, 3, 32, 32) uint8, labels (N,) int64."""

    folder: Path
    train_x: np.ndarray
    train_y: np.ndarray
    test_x: np.ndarray
    test_y: np.ndarray


def read_cifar(name: str, data_dir: Path | None) -> CifarArrays:
    """Locate and read a CIFAR dataset in torchvision's python format, fully validated.

    Returns every train and every test image, (N, 3, 32, 32) uint8, with int64 labels in
    ``0 .. num_classes - 1``. Raises :class:`DataError` (see :meth:`Cifar.check`).
    """
    info = dataset_info(name)
    layout = CIFAR_LAYOUTS[name]
    folder = locate_cifar(name, data_dir)
    train = [read_cifar_batch(folder / f, info.num_classes, name) for f in layout.train_files]
    test = [read_cifar_batch(folder / f, info.num_classes, name) for f in layout.test_files]
    arrays = CifarArrays(
        folder=folder,
        train_x=np.concatenate([x for x, _ in train]),
        train_y=np.concatenate([y for _, y in train]),
        test_x=np.concatenate([x for x, _ in test]),
        test_y=np.concatenate([y for _, y in test]),
    )
    # the split that Cifar.load makes: CIFAR-10's train set halved, CIFAR-100's test set
    split, labels = ("train", arrays.train_y) if name == "cifar10" else ("test", arrays.test_y)
    check_stratified_halves(labels, f"{name} {split} set in {folder}")
    return arrays


def check_stratified_halves(labels: np.ndarray, what: str) -> None:
    """Raise :class:`DataError` where a stratified split of ``labels`` into halves is impossible.

    ``labels``: (N,) integers. The halves are ``N // 2`` and ``N - N // 2``; the conditions are
    scikit-learn's ``StratifiedShuffleSplit`` (which ``train_test_split(stratify=...)`` uses):
    every class present has at least 2 members and each half holds at least one per class.
    """
    classes, counts = np.unique(labels, return_counts=True)
    if len(classes) and counts.min() < 2:
        single = classes[counts < 2].tolist()
        shown = ", ".join(map(str, single[:10])) + (" ..." if len(single) > 10 else "")
        raise DataError(
            f"the {what} has only one image of class {shown}; the fixed stratified split into halves needs "
            "at least 2 images of every class present: add images of those classes or remove the single ones"
        )
    half = len(labels) // 2
    if min(half, len(labels) - half) < len(classes):
        raise DataError(
            f"the {what} holds {len(labels)} images of {len(classes)} classes; a stratified split into halves "
            f"needs at least {2 * len(classes)} images (one per class in each half): add images"
        )


# -- finding the folder ----------------------------------------------------------------------------
def locate_cifar(name: str, data_dir: Path | None) -> Path:
    """The folder that holds the batch files of ``name``, given the user's ``--data-dir``.

    Accepted: a folder holding ``cifar-10-batches-py/`` (``cifar-100-python/``), or that folder
    itself. Anything else raises :class:`DataError` with what was found there (the folder one or
    more levels down, the archive, the other CIFAR, another version, images, nothing) and the fix.
    """
    layout = CIFAR_LAYOUTS[name]
    if data_dir is None:
        raise DataError(
            f"dataset {name!r} needs --data-dir: a folder holding {layout.describe()} "
            f"(torchvision's format; download from {CIFAR_URL})"
        )
    root = Path(data_dir).expanduser()
    if not root.exists():
        raise DataError(f"data folder {root} does not exist; it should hold {layout.describe()}")
    if not root.is_dir():
        raise DataError(_diagnose_file(root, layout))
    for base in (root / layout.folder, root):
        if base.is_dir() and all((base / f).is_file() for f in layout.files):
            return base
    for base in (root / layout.folder, root):
        present = [f for f in layout.files if (base / f).is_file()]
        if base.is_dir() and present:
            missing = [f for f in layout.files if f not in present]
            raise DataError(
                f"{base} lacks {', '.join(missing)} (it holds {_listing(base)}): the copy is incomplete; "
                f"extract {layout.archive} again (tar -xzf {layout.archive})"
            )
    raise DataError(_diagnose_folder(root, layout))


def _diagnose_file(path: Path, layout: CifarLayout) -> str:
    parent = path.parent
    for other in CIFAR_LAYOUTS.values():
        if path.name in other.archive_names:
            fix = f"extract it ({_extract(path, parent)}) and pass --data-dir {_q(parent)}"
            if other is not layout:
                fix += f" --dataset {other.dataset}"
            return f"{path} is the {other.title} archive {path.name}, not a folder: {fix}"
        siblings = set(other.files) | {other.meta_file}
        if path.name in siblings and (parent.name == other.folder or all((parent / f).is_file() for f in other.files)):
            fix = f"pass the folder that holds it, --data-dir {_q(parent)}"
            if other is not layout:
                fix += f" --dataset {other.dataset}"
            return f"{path} is one {other.title} batch file, not a folder: {fix}"
    if path.name.lower().endswith(ARCHIVE_SUFFIXES):
        return (
            f"{path} is an archive, not a folder: extract it ({_extract(path, parent)}) and pass the folder "
            f"that holds {layout.folder}/ (FairNAD expects {layout.describe()})"
        )
    return f"{path} is a file, not a folder; --data-dir takes a folder holding {layout.describe()}"


@dataclass
class _Findings:
    """What a bounded walk below the data folder saw (paths as the user's path joined with names)."""

    folders: dict[str, list[Path]]  # dataset -> parents of folders named as its archive names them
    loose: dict[str, list[Path]]  # dataset -> folders of other names that hold its batch files
    archives: dict[str, list[Path]]  # dataset -> archive files
    versions: list[Path]  # binary or MATLAB versions
    images: int
    image_dirs: set[Path]
    complete: bool = True  # False when the walk stopped at its entry limit


def _walk(root: Path, max_depth: int = 3, max_entries: int = 20000) -> _Findings:
    """Look up to ``max_depth`` levels below ``root`` (hidden folders skipped, at most ``max_entries``)."""
    found = _Findings(
        {k: [] for k in CIFAR_LAYOUTS}, {k: [] for k in CIFAR_LAYOUTS}, {k: [] for k in CIFAR_LAYOUTS}, [], 0, set()
    )
    archives = {name: key for key, lay in CIFAR_LAYOUTS.items() for name in lay.archive_names}
    versions = {v for lay in CIFAR_LAYOUTS.values() for v in lay.other_versions}
    queue: deque[tuple[Path, int]] = deque([(root, 0)])
    seen = 0
    while queue:
        if seen >= max_entries:
            found.complete = False
            break
        folder, depth = queue.popleft()
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError:
            continue
        files = {e.name for e in entries if _is_file(e)}
        for key, lay in CIFAR_LAYOUTS.items():
            # loose CIFAR-100 files are called train, test, meta: ask for all three before naming them
            if folder.name == lay.folder:
                found.folders[key].append(folder.parent)
            elif set(lay.files) <= files and (key == "cifar10" or lay.meta_file in files):
                found.loose[key].append(folder)
            versioned = any(f"{f}{ext}" in files for f in lay.files for ext in (".bin", ".mat"))
            if versioned and folder not in found.versions:
                found.versions.append(folder)  # the binary or MATLAB files, the folder given or a renamed one
        for entry in entries:
            seen += 1
            path = folder / entry.name
            if entry.name in archives and _is_file(entry):
                found.archives[archives[entry.name]].append(path)
            elif entry.name in versions:
                found.versions.append(path)
            elif entry.name.lower().endswith(IMAGE_SUFFIXES) and _is_file(entry):
                found.images += 1
                found.image_dirs.add(folder)
            elif depth < max_depth and not entry.name.startswith(".") and entry.name != "__MACOSX" and _is_dir(entry):
                queue.append((path, depth + 1))
    return found


def _diagnose_folder(root: Path, layout: CifarLayout) -> str:
    expects = f"FairNAD expects {layout.describe()} (torchvision's python version, from {CIFAR_URL})"
    found = _walk(root)
    own = found.folders[layout.dataset]
    complete = [p for p in own if all((p / layout.folder / f).is_file() for f in layout.files)]
    if complete:  # the folder holding the files, also when an archive was extracted twice (X/f/f/...)
        return f"found {layout.folder} under {_paths(complete)}: pass that folder (--data-dir {_q(complete[0])})"
    if own:
        deepest = own[-1] / layout.folder
        return (
            f"found {layout.folder} under {_paths(own)}, but it lacks the batch files "
            f"({', '.join(layout.files)}; it holds {_listing(deepest)}): the copy is incomplete; "
            f"extract {layout.archive} again (tar -xzf {layout.archive})"
        )
    own = found.loose[layout.dataset]
    if own:
        return (
            f"found the {layout.title} batch files ({', '.join(layout.files)}) in {_paths(own)}: "
            f"pass that folder (--data-dir {_q(own[0])})"
        )
    if found.archives[layout.dataset]:
        archive = found.archives[layout.dataset][0]
        return (
            f"found {archive.name}: extract it ({_extract(archive, archive.parent)}), "
            f"then pass --data-dir {_q(archive.parent)}"
        )
    for other in CIFAR_LAYOUTS.values():
        if other is layout:
            continue
        not_this = f"it is {other.title}, not {layout.title}"
        where, loose = found.folders[other.dataset], found.loose[other.dataset]
        files = f"the {other.title} batch files ({', '.join(other.files)})"
        if root in where:
            return f"this folder holds {other.folder}: use --dataset {other.dataset} ({not_this})"
        if root in loose or root.name == other.folder:
            return f"this folder holds {files}: use --dataset {other.dataset} ({not_this})"
        if where:
            return (
                f"found {other.folder} under {_paths(where)}: use --dataset {other.dataset} "
                f"--data-dir {_q(where[0])} ({not_this})"
            )
        if loose:
            return (
                f"found {files} in {_paths(loose)}: use --dataset {other.dataset} --data-dir {_q(loose[0])} "
                f"({not_this})"
            )
        if found.archives[other.dataset]:
            archive = found.archives[other.dataset][0]
            return (
                f"found {archive.name} in {archive.parent} ({not_this}): to search {other.title}, extract it "
                f"({_extract(archive, archive.parent)}) and use --dataset {other.dataset}; for {layout.title}, "
                f"{expects}"
            )
    if found.versions:
        path = found.versions[0]
        matlab = "matlab" in path.name or path.name.endswith("-mat") or path.is_dir() and any(path.glob("*.mat"))
        kind = "MATLAB" if matlab else "binary"
        return (
            f"found {path}, the {kind} version of CIFAR; FairNAD reads the python version, as torchvision does: "
            f"download {layout.archive} and extract it ({layout.describe()})"
        )
    if found.images:
        count = f"{found.images}{'' if found.complete else '+'}"
        return (
            f"{root} holds {count} image files in {len(found.image_dirs)} folder(s) (an image-folder layout); "
            f"FairNAD reads CIFAR as pickled batches, not image files: {expects}"
        )
    if not any(root.iterdir()):
        return f"data folder {root} is empty; {expects}"
    archives = sorted(p for p in root.iterdir() if p.name.lower().endswith(ARCHIVE_SUFFIXES) and p.is_file())
    if archives:  # an archive under another name: say how to open it, then what must come out
        return (
            f"{root} holds neither {layout.folder}/ nor its files, but the archive {archives[0].name}: if it "
            f"holds {layout.title}, extract it ({_extract(archives[0], root)}) and pass the folder that holds "
            f"{layout.folder}/; {expects}"
        )
    return f"{root} holds neither {layout.folder}/ nor its files (it holds {_listing(root)}); {expects}"


def _is_file(entry: os.DirEntry[str]) -> bool:
    try:
        return entry.is_file()
    except OSError:
        return False


def _is_dir(entry: os.DirEntry[str]) -> bool:
    try:
        return entry.is_dir()  # symlinked data folders are common; the depth limit stops loops
    except OSError:
        return False


def _q(path: Path) -> str:
    return shlex.quote(str(path))


def _extract(archive: Path, into: Path) -> str:
    """The command that extracts ``archive`` into ``into``, by its suffix (a .tar is not gzipped)."""
    name = archive.name.lower()
    if name.endswith(".zip"):
        return f"unzip {_q(archive)} -d {_q(into)}, or python -m zipfile -e {_q(archive)} {_q(into)}"
    if name.endswith(".tar"):
        return f"tar -xf {_q(archive)} -C {_q(into)}"
    return f"tar -xzf {_q(archive)} -C {_q(into)}"


def _paths(paths: list[Path]) -> str:
    shown = ", ".join(str(p) for p in paths[:3])
    return shown + (f" and {len(paths) - 3} more" if len(paths) > 3 else "")


def _listing(folder: Path, limit: int = 8) -> str:
    try:
        names = sorted(p.name + ("/" if p.is_dir() else "") for p in folder.iterdir())
    except OSError as exc:
        return f"nothing readable: {exc.strerror}"
    if not names:
        return "nothing"
    return ", ".join(names[:limit]) + (f" and {len(names) - limit} more" if len(names) > limit else "")


# -- reading one batch -----------------------------------------------------------------------------
_PICKLE_GLOBALS = {
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "scalar"),
    ("numpy._core.numeric", "_frombuffer"),
    ("_codecs", "encode"),  # bytes pickled by Python 3 at protocol 2
    # plain data types: protocol 2 writes an empty bytes value as a call of bytes()
    ("builtins", "bytes"),
    ("builtins", "str"),
    ("builtins", "int"),
    ("builtins", "float"),
    ("builtins", "list"),
    ("builtins", "tuple"),
    ("builtins", "dict"),
    ("builtins", "bytearray"),
    ("builtins", "set"),
    ("builtins", "frozenset"),
    ("collections", "OrderedDict"),
}

_MAGIC = (
    (b"\x1f\x8b", "gzip-compressed (an archive?): extract it"),
    (b"PK\x03\x04", "a zip archive: extract it"),
    (b"\x89PNG", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"\x93NUMPY", "a NumPy .npy file"),
    (b"\x89HDF", "an HDF5 file"),
)


# First opcodes of a pickled dict or list: PROTO (protocol 2+), EMPTY_DICT, MARK, EMPTY_LIST,
# GLOBAL (protocol 0/1); any other first byte means the file is something else.
_PICKLE_STARTS = {b"\x80", b"}", b"(", b"]", b"c"}


class _DataUnpickler(pickle.Unpickler):
    """Unpickles plain data only: dicts, lists, strings, numbers and numpy arrays.

    A pickle may name any function, which unpickling calls; a CIFAR batch needs only numpy's
    array reconstruction, so any other global is refused instead of run.
    """

    def find_class(self, module: str, name: str) -> Any:
        fixed = {"__builtin__": "builtins", "copy_reg": "copyreg"}.get(module, module)
        if fixed.startswith("numpy.core."):  # pickles written by numpy 1.x
            fixed = "numpy._core." + fixed[len("numpy.core.") :]
        if (fixed, name) not in _PICKLE_GLOBALS:
            raise _ForbiddenGlobal(f"{module}.{name}")
        return getattr(importlib.import_module(fixed), name)


class _ForbiddenGlobal(pickle.UnpicklingError):
    pass


def read_cifar_batch(path: Path, num_classes: int, dataset: str = "") -> tuple[np.ndarray, np.ndarray]:
    """Read one CIFAR batch file as torchvision does, checked: images (N, 3, 32, 32) uint8, labels (N,) int64.

    Accepted: a pickled dict with ``data`` (N x 3072 or N x 3 x 32 x 32 integers in 0..255) and
    ``labels`` or else ``fine_labels`` (N integers in ``0 .. num_classes - 1``), keys as bytes or
    str. Raises :class:`DataError` naming the file and what is wrong: empty, truncated, not a
    pickle (and what it is instead), a refused global, missing keys, wrong shape or type, label
    count or range.
    """
    entry = _load_pickle(path)
    if not isinstance(entry, dict):
        raise DataError(
            f"{path} holds a pickled {type(entry).__name__}, not a CIFAR batch; expected a dict with "
            "'data' (N x 3072 uint8) and 'labels' (or 'fine_labels')"
        )
    entry = _str_keys(entry, path)
    if "data" not in entry:
        raise DataError(f"{path} has no 'data' entry (keys: {_keys(entry)}); a CIFAR batch holds 'data' and 'labels'")
    label_key = "labels" if "labels" in entry else "fine_labels"  # torchvision's order
    if label_key not in entry:
        raise DataError(f"{path} has neither 'labels' (CIFAR-10) nor 'fine_labels' (CIFAR-100) (keys: {_keys(entry)})")
    images = _images(entry["data"], path)
    labels = _labels(entry[label_key], path, label_key)
    if len(images) != len(labels):
        raise DataError(f"{path}: {len(images)} images but {len(labels)} {label_key}; each image needs one label")
    if len(labels) and (labels.min() < 0 or labels.max() >= num_classes):
        hint = ""
        if dataset == "cifar10" and labels.min() >= 0 and labels.max() < 100:
            hint = "; if this is CIFAR-100 data use --dataset cifar100"
        raise DataError(
            f"{path}: {label_key} run from {labels.min()} to {labels.max()}, outside "
            f"0..{num_classes - 1} ({num_classes} classes{f' of {dataset}' if dataset else ''}){hint}"
        )
    return images, labels


def _load_pickle(path: Path) -> Any:
    try:
        with open(path, "rb") as handle:
            head = handle.read(16)
            size = os.fstat(handle.fileno()).st_size
    except OSError as exc:
        raise DataError(f"{path} cannot be read: {exc.strerror or exc}") from None
    if size == 0:
        raise DataError(
            f"{path} is empty (0 bytes): the download or extraction was cut short; extract the archive again"
        )
    what = _sniff(head)
    if what:
        raise DataError(f"{path} is not a CIFAR batch: it is {what}, not a pickle")
    try:
        with open(path, "rb") as handle:
            # "bytes", not torchvision's "latin1": Python 2 strings (the official files' pixel
            # payloads) stay bytes instead of being decoded to str and re-encoded by numpy, the
            # same arrays six times faster; byte-string keys are decoded in _str_keys
            return _DataUnpickler(handle, encoding="bytes").load()
    except _ForbiddenGlobal as exc:
        raise DataError(
            f"{path} refers to {exc}, which a CIFAR batch never needs; FairNAD unpickles only plain data "
            "(dicts, lists, numbers, numpy arrays): write the batch with those"
        ) from None
    except OSError as exc:
        raise DataError(f"{path} cannot be read: {exc.strerror or exc}") from None
    except Exception as exc:  # noqa: BLE001 - a damaged pickle raises almost anything
        text = f"{type(exc).__name__}: {exc}"
        if isinstance(exc, EOFError) or "truncated" in str(exc) or "smaller than requested" in str(exc):
            raise DataError(
                f"{path} is truncated ({size:,} bytes; the pickle ends early: {text}): the copy is incomplete; "
                "extract the archive again"
            ) from None
        if isinstance(exc, pickle.UnpicklingError) and "invalid load key" in str(exc):
            raise DataError(f"{path} is not a CIFAR batch: it is not a pickle (it starts with {head[:8]!r})") from None
        raise DataError(
            f"{path} is not a CIFAR batch: unpickling fails with {text}; extract the archive again"
        ) from None


def _sniff(head: bytes) -> str | None:
    """What a file that cannot hold a pickled dict is, from its first bytes; None if it may be a pickle."""
    for magic, what in _MAGIC:
        if head.startswith(magic):
            return what
    if head.lstrip()[:1] == b"<":
        return "an HTML or XML page (a failed download?)"
    if head[:1] not in _PICKLE_STARTS:
        return f"a file that starts with {head[:8]!r}"
    return None


def _str_keys(entry: dict[Any, Any], path: Path) -> dict[Any, Any]:
    out: dict[Any, Any] = {}
    for key, value in entry.items():
        name = key.decode("latin1") if isinstance(key, bytes) else key
        if name in out:
            raise DataError(f"{path} holds the key {name!r} twice, as bytes and as str; keep one")
        out[name] = value
    return out


def _keys(entry: dict[Any, Any]) -> str:
    return ", ".join(repr(k) for k in list(entry)[:10]) or "none"


def _images(value: Any, path: Path) -> np.ndarray:
    try:
        data = np.asarray(value)
    except (ValueError, TypeError) as exc:
        raise DataError(f"{path}: 'data' is not an array ({exc}); expected N x 3072 uint8") from None
    if data.ndim == 4 and data.shape[1:] == (32, 32, 3):
        raise DataError(
            f"{path}: 'data' has shape {data.shape}, channels last; CIFAR's format is N x 3072, channel-major: "
            "write data.transpose(0, 3, 1, 2).reshape(len(data), 3072)"
        )
    if not (data.ndim == 2 and data.shape[1] == 3072 or data.ndim == 4 and data.shape[1:] == (3, 32, 32)):
        raise DataError(
            f"{path}: 'data' has shape {data.shape}; expected N x 3072 (N images of 3 x 32 x 32 values, "
            "channel-major, as in the official files)"
        )
    if len(data) == 0:
        raise DataError(f"{path}: 'data' holds no images")
    if data.dtype != np.uint8:
        if data.dtype.kind not in "iu":
            raise DataError(f"{path}: 'data' is {data.dtype}; expected uint8 pixel values 0..255")
        low, high = int(data.min()), int(data.max())
        if low < 0 or high > 255:
            raise DataError(f"{path}: 'data' ({data.dtype}) runs from {low} to {high}; expected pixel values 0..255")
        data = data.astype(np.uint8)
    return data.reshape(-1, 3, 32, 32)


def _labels(value: Any, path: Path, key: str) -> np.ndarray:
    try:
        labels = np.asarray(value)
    except (ValueError, TypeError) as exc:
        raise DataError(f"{path}: '{key}' is not a list of integers ({exc})") from None
    if labels.ndim != 1:
        raise DataError(f"{path}: '{key}' has shape {labels.shape}; expected one integer per image")
    if len(labels) and labels.dtype.kind not in "iu":
        raise DataError(f"{path}: '{key}' holds {labels.dtype} values; expected integer class indices")
    return labels.astype(np.int64)


# -- the datasets -----------------------------------------------------------------------------------
class Cifar(Dataset):
    """A CIFAR dataset read from ``--data-dir`` (3x32x32 inputs, flips preserve labels)."""

    def check(self, data_dir: Path | None) -> None:
        """Find the batch folder, read every batch (about a second for the real 60k images) and
        check the fixed stratified split can be made. Raises :class:`DataError` saying what was
        found and how to fix it: a folder at the wrong level, an archive not extracted, the other
        CIFAR, the binary version, images in folders, truncated or malformed batches by file.
        """
        arrays = read_cifar(self.info.name, data_dir)
        logger.info(
            "%s: %d train and %d test images in %s",
            self.info.name,
            len(arrays.train_y),
            len(arrays.test_y),
            arrays.folder,
        )

    def load(self, data_dir: Path | None) -> Splits:
        """The NAS-Bench-201 search splits (see the module docstring); raises as :meth:`check` does."""
        import torch

        arrays = read_cifar(self.info.name, data_dir)  # checks the halves below can be made
        tx, ty, sx, sy = arrays.train_x, arrays.train_y, arrays.test_x, arrays.test_y

        def t(a: np.ndarray) -> torch.Tensor:
            return torch.from_numpy(np.ascontiguousarray(a))

        if self.info.name == "cifar10":
            half = len(ty) // 2
            tr, va = stratified_split(ty, [half, len(ty) - half])
            return Splits(t(tx[tr]), t(ty[tr]), t(tx[va]), t(ty[va]), t(sx), t(sy))
        half = len(sy) // 2
        va, te = stratified_split(sy, [half, len(sy) - half])
        return Splits(t(tx), t(ty), t(sx[va]), t(sy[va]), t(sx[te]), t(sy[te]))


@register_dataset
class Cifar10(Cifar):
    """CIFAR-10: 10 classes; train set halved into train and valid, the test set for test."""

    info = DatasetInfo("cifar10", (3, 32, 32), 10, True, 200, 256, 0.1, True)


@register_dataset
class Cifar100(Cifar):
    """CIFAR-100: 100 classes; the full train set, the test set halved into valid and test."""

    info = DatasetInfo("cifar100", (3, 32, 32), 100, True, 200, 256, 0.1, True)
