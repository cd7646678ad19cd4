"""The Chroma idea store with the bundled offline embedding model (no download)."""

from __future__ import annotations

import pytest

from knowledge.ideas import load_ideas
from knowledge.store import IdeaStore
from knowledge.template import load_template


@pytest.mark.timeout(240)
def test_store_is_idempotent_and_searchable_offline(tmp_path):
    bank = load_ideas([], load_template())
    store = IdeaStore(tmp_path / "store")
    store.add(bank.ideas)
    store.add(bank.ideas)  # upsert by id: no duplicates
    assert store.count() == len(bank)
    hits = store.search("squeeze and excitation channel gating with a reduction ratio", k=5)
    assert any(h["sub_category"].startswith("block.recalibration") for h in hits[:3]), hits
    scoped = store.search("attention", k=3, sub_category="operation.attention.windowed_attention")
    assert {h["sub_category"] for h in scoped} == {"operation.attention.windowed_attention"}
    reopened = IdeaStore(tmp_path / "store")
    assert reopened.count() == len(bank)
