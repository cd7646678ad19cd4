"""Reading the verifier corpus: model files whose header says what the verifier must answer."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from fairnad_tools.settings import parse_count

CORPUS = Path(__file__).resolve().parent / "verifier_corpus"
_HEADER = re.compile(r"^#\s*([a-z-]+):\s*(.+?)\s*$")


@dataclass(frozen=True)
class Case:
    path: Path
    expect: str
    about: str
    parent: Path | None
    input_shape: tuple[int, int, int]
    num_classes: int
    max_params: int
    max_flops: int
    timeout_s: float

    @property
    def name(self) -> str:
        return f"{self.path.parent.name}/{self.path.name}"


def read_case(path: Path) -> Case:
    fields: dict[str, str] = {}
    for line in path.read_text(errors="replace").splitlines():
        match = _HEADER.match(line)
        if not match:
            break
        fields[match.group(1)] = match.group(2)
    if "expect" not in fields:
        raise ValueError(f"{path} has no '# expect: <code>' header")
    shape = tuple(int(v) for v in fields.get("input-shape", "3,32,32").split(","))
    return Case(
        path=path,
        expect=fields["expect"],
        about=fields.get("about", ""),
        parent=(path.parent / fields["parent"]).resolve() if "parent" in fields else None,
        input_shape=shape,
        num_classes=int(fields.get("num-classes", "10")),
        max_params=int(parse_count(fields.get("max-params", "1.5M"))),
        max_flops=int(parse_count(fields.get("max-flops", "200M"))),
        timeout_s=float(fields.get("timeout", "20")),
    )


def cases(kind: str | None = None) -> list[Case]:
    folders = [CORPUS / kind] if kind else [CORPUS / "valid", CORPUS / "broken"]
    return [read_case(p) for folder in folders for p in sorted(folder.glob("*.py"))]
