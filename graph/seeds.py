"""The first candidate: a seed of the search space, a ``spec.json`` or your own ``model.py``.

``search.seed_model`` (``fairnad run --seed-model``) names a built-in seed of the configured
space (``resnet32``, ...), or a path: a ``.json`` file is a spec of the space (it works with
or without an LLM); a ``.py`` file is any model that passes ``fairnad verify`` (it is trained
as candidate 0000 and then mutated as code, so it needs an LLM: the built-in policy edits
specs only).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from agents.answers import code_structure_hash
from agents.records import MutationResult
from fairnad_tools.io import read_python_source
from fairnad_tools.spaces import SearchSpace
from graph.settings import FairNADSettings, SettingsError

SeedKind = Literal["builtin", "code", "spec"]


def seed_kind(value: str) -> SeedKind:
    """``code`` for a ``.py`` path, ``spec`` for a ``.json`` path, else ``builtin`` (a seed name)."""
    suffix = Path(value).suffix.lower()
    if suffix == ".py":
        return "code"
    if suffix == ".json":
        return "spec"
    return "builtin"


def check_seed(settings: FairNADSettings, space: SearchSpace, *, llm: bool) -> None:
    """Refuse a seed the run cannot start from, before any run folder exists.

    A built-in name must be a seed of the space; a ``.json`` must load as a spec of the space;
    a ``.py`` must exist, pass the verifier (budgets included) and have an LLM to mutate it.
    Raises :class:`SettingsError` naming the problem and the fix.
    """
    value = settings.search.seed_model
    kind = seed_kind(value)
    if Path(value).expanduser().is_dir():
        raise SettingsError(
            f"bad value for 'search.seed_model': {value} is a folder; give a model.py or spec.json file, "
            f"or a built-in seed ({', '.join(space.seeds())})"
        )
    if kind == "builtin":
        if value not in space.seeds():
            raise SettingsError(
                f"bad value for 'search.seed_model': {value!r} is not a seed of the {settings.search.space!r} "
                f"search space; valid: {', '.join(space.seeds())}, or a path to a model.py or spec.json"
            )
        return
    path = Path(value).expanduser()
    if not path.is_file():
        raise SettingsError(f"bad value for 'search.seed_model': {path} does not exist (give a model.py or spec.json)")
    if kind == "spec":
        _load_spec(path, space, settings.search.space)
        return
    if not llm:
        raise SettingsError(
            f"--seed-model {path}: a model.py seed is mutated as code, which needs an LLM (the built-in "
            "policy edits specs only); give --llm MODEL --llm-base-url URL, or seed from a spec.json or a "
            "built-in seed (" + ", ".join(space.seeds()) + ")"
        )
    from fairnad_tools.data import dataset_info
    from fairnad_tools.verify import verify_file

    shape = dataset_info(settings.data.dataset).input_shape
    report = verify_file(
        path,
        input_shape=shape,
        num_classes=dataset_info(settings.data.dataset).num_classes,
        max_params=settings.verify.max_params,
        max_flops=settings.verify.flops_budget(shape),
    )
    if not report.ok:
        raise SettingsError(
            f"--seed-model {path} does not pass 'fairnad verify' ({report.code}): {report.message}; "
            f"check it with: fairnad verify {path}"
        )


def _load_spec(path: Path, space: SearchSpace, space_name: str) -> Any:
    try:
        return space.load(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError, KeyError) as exc:
        raise SettingsError(f"--seed-model {path} is not a spec of the {space_name!r} search space: {exc}") from None


def given_seed(settings: FairNADSettings, space: SearchSpace) -> MutationResult | None:
    """Candidate 0000 made from a seed file (``None`` for a built-in seed: the mutation role makes it)."""
    value = settings.search.seed_model
    kind = seed_kind(value)
    if kind == "builtin":
        return None
    path = Path(value).expanduser()
    if kind == "spec":
        arch = _load_spec(path, space, settings.search.space)
        return MutationResult(
            spec=space.dump(arch),
            source=space.render(arch),
            transformation=f"seed({path.name})",
            structure_hash=space.structure_hash(arch),
            mode="builtin",
        )
    source = read_python_source(path)
    return MutationResult(
        spec=None,
        source=source,
        transformation=f"seed({path.name})",
        structure_hash=code_structure_hash(source),
        mode="code",
    )
