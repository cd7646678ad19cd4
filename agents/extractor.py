"""Extractor role: fills the attribute template with design ideas and stores them.

Reads: the ``[knowledge]`` settings (template file, idea files, embedding model).
Writes: the Chroma idea store (``knowledge/`` in the run directory unless configured).
Decides: which ideas enter the bank; every idea must name a sub-category of the template.

Built-in policy (no LLM): load the shipped (or configured) template and idea files,
validate them, and upsert the ideas into the store. Reading papers with an LLM is
added by the knowledge-base issue.
"""

from __future__ import annotations

import time
from pathlib import Path

from agents.base import ExtractorRole
from agents.records import KnowledgeSummary
from agents.registry import register_role
from knowledge.ideas import IdeaBank, load_ideas
from knowledge.template import load_template

__all__ = ["BuiltinExtractor", "KnowledgeSummary"]


@register_role("extractor")
class BuiltinExtractor(ExtractorRole):
    """The offline extractor: the shipped (or configured) template and idea files, no paper reading."""

    summary = "turns papers into template-structured design ideas in the idea store"
    reads = "[knowledge] settings: template, idea files, embedding model"
    writes = "the Chroma idea store"
    decides = "which ideas enter the bank, each tied to one template sub-category"

    def load_bank(self) -> IdeaBank:
        """The validated idea bank (no store access)."""
        settings = self.context.settings.knowledge
        template = load_template(settings.template)
        return load_ideas(list(settings.ideas), template)

    def build(self, store_dir: Path) -> tuple[IdeaBank, KnowledgeSummary]:
        """Load the bank and upsert it into the store at ``store_dir`` (or the server)."""
        from knowledge.store import IdeaStore

        start = time.monotonic()
        settings = self.context.settings.knowledge
        bank = self.load_bank()
        store = IdeaStore(settings.store_dir or store_dir, url=settings.chroma_url, model=settings.embedding_model)
        if store.count() < len(bank):
            store.add(bank.ideas)
        empty = bank.empty_sub_categories()
        return bank, KnowledgeSummary(
            ideas=len(bank),
            sub_categories=len(bank.template.slugs),
            covered_sub_categories=len(bank.template.slugs) - len(empty),
            empty_sub_categories=empty,
            store_count=store.count(),
            store=settings.chroma_url or str(settings.store_dir or store_dir),
            seconds=round(time.monotonic() - start, 2),
        )
