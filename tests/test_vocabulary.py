"""Each vocabulary of the architecture space is spelled once: the spec's ``Literal`` types.

The wiring registries must have exactly the spec's values as keys, and the tables derived from
the spec (block kinds -> mixers, the swap tables of the edits) only its values; a value added
in one place and not the other fails here, naming the value.
"""

from __future__ import annotations

import pytest

from fairnad_tools.arch import spec as S
from fairnad_tools.arch.edits import SWAP_DOWNSAMPLES, SWAPS
from fairnad_tools.arch.wiring import VOCABULARIES, vocabulary_gaps


@pytest.mark.parametrize("name", sorted(VOCABULARIES))
def test_each_spec_literal_matches_its_registry(name):
    values, registry = VOCABULARIES[name]
    missing = [v for v in values if v not in registry]
    extra = [k for k in registry if k not in values]
    assert not missing, f"{name}: in the spec but not in the registry: {missing}"
    assert not extra, f"{name}: in the registry but not in the spec: {extra}"


def test_no_vocabulary_gaps():
    assert vocabulary_gaps() == []


FIELD_VOCABULARY = {
    "kind": "BlockKind",
    "mixer": "Mixer",
    "branches": "Branches",
    "norm": "Norm",
    "activation": "Activation",
    "recalibration": "Recalibration",
    "attention": "AttentionKind",
    "fusion": "Fusion",
}
WIRING_ONLY = {"shortcut"}  # chosen by the wiring's logic (identity, projection, dense), not looked up by name


def test_every_named_block_choice_has_a_registry():
    for name, field in S.BlockSpec.model_fields.items():
        values = S.choices(field.annotation)
        if not values or not all(isinstance(v, str) for v in values) or name in WIRING_ONLY:
            continue
        assert name in FIELD_VOCABULARY, f"BlockSpec.{name} is a named choice without a registry in wiring.py"
        assert set(VOCABULARIES[FIELD_VOCABULARY[name]][0]) == set(values) - {"none", "single"}


def test_mixers_by_kind_uses_only_spec_values():
    assert set(S.MIXERS_BY_KIND) == set(S.choices(S.BlockKind)), "MIXERS_BY_KIND needs one entry per block kind"
    for kind, mixers in S.MIXERS_BY_KIND.items():
        unknown = mixers - set(S.choices(S.Mixer))
        assert not unknown, f"MIXERS_BY_KIND[{kind!r}] holds values the spec does not know: {sorted(unknown)}"
    assert set().union(*S.MIXERS_BY_KIND.values()) == set(S.choices(S.Mixer)), "a mixer no block kind can hold"
    assert set(S.choices(S.BlockKind)) >= S.STRIDING_KINDS


def test_swap_tables_are_the_spec_values():
    fields = S.BlockSpec.model_fields
    for field, values in SWAPS.items():
        allowed = set(S.choices(fields[field].annotation))
        assert set(values) <= allowed, f"SWAPS[{field!r}] holds {sorted(set(values) - allowed)}, not in the spec"
        assert len(values) >= len(allowed) - 1, f"SWAPS[{field!r}] leaves out {sorted(allowed - set(values))}"
    assert set(SWAP_DOWNSAMPLES) == set(VOCABULARIES["Downsample"][1])


def test_a_value_missing_from_a_registry_is_named(monkeypatch):
    values, registry = VOCABULARIES["Norm"]
    monkeypatch.setitem(VOCABULARIES, "Norm", ((*values, "instance"), registry))
    assert vocabulary_gaps() == ["Norm: 'instance' is in the spec but not in the registry"]
