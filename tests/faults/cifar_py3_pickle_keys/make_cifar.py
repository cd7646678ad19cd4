"""Write a tiny fake CIFAR-10 in torchvision's python-pickle layout.

    python make_cifar.py ROOT [--per-batch N] [--test N] [--keys py2|py3]

ROOT/cifar-10-batches-py/{data_batch_1..5, test_batch, batches.meta}, random uint8 images,
labels cycling 0..9 (balanced). Dicts hold data (N x 3072 uint8), labels, batch_label, filenames.

--keys py2 (default): keys stored as Python 2 byte strings, exactly like the official archive
  (pickle.load(..., encoding="bytes") gives b"data"; encoding="latin1", as torchvision uses,
  gives "data").
--keys py3: the dicts pickled by Python 3 with ordinary str keys, as any script that builds a
  CIFAR subset or a custom dataset "in CIFAR format" with pickle.dump writes them.
"""

import argparse
import pickle
from pathlib import Path

import numpy as np

KEYS = ("data", "labels", "batch_label", "filenames", "num_cases_per_batch", "label_names", "num_vis")


def dump(obj, path: Path, keys: str) -> None:
    blob = pickle.dumps(obj, protocol=2)
    if keys == "py2":
        # Python 3 writes str keys as BINUNICODE; Python 2 wrote its str as SHORT_BINSTRING.
        for k in KEYS:
            raw = k.encode()
            blob = blob.replace(b"X" + len(raw).to_bytes(4, "little") + raw, b"U" + bytes([len(raw)]) + raw)
    path.write_bytes(blob)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("root", type=Path)
    ap.add_argument("--per-batch", type=int, default=40)
    ap.add_argument("--test", type=int, default=40)
    ap.add_argument("--keys", choices=("py2", "py3"), default="py2")
    args = ap.parse_args()
    folder = args.root / "cifar-10-batches-py"
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    for name in names:
        n = args.test if name == "test_batch" else args.per_batch
        batch = {
            "batch_label": f"fake {name}",
            "labels": [i % 10 for i in range(n)],
            "data": rng.integers(0, 256, size=(n, 3072), dtype=np.uint8),
            "filenames": [f"img_{i:05d}.png" for i in range(n)],
        }
        dump(batch, folder / name, args.keys)
    meta = {
        "num_cases_per_batch": args.per_batch,
        "num_vis": 3072,
        "label_names": ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"],
    }
    dump(meta, folder / "batches.meta", args.keys)
    print(f"wrote {folder} ({args.keys} keys, {args.per_batch} x 5 train, {args.test} test)")


if __name__ == "__main__":
    main()
