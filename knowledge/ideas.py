"""The idea bank: design ideas, each tied to one sub-category of the template and a source."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from knowledge.template import Template, TemplateError, read_yaml

BANK_SCHEMA_VERSION = 1


class Source(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    title: str
    authors: str = ""
    year: int | None = None
    venue: str | None = None
    arxiv: str | None = None


class Idea(BaseModel):
    """One design idea, e.g. "squeeze-and-excitation after each residual branch"."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]*$", max_length=96)
    sub_category: str
    title: str
    description: str
    source: Source

    def text(self) -> str:
        """What is embedded for similarity search."""
        return f"{self.title}. {self.description}"


class IdeaBank:
    """Ideas validated against a template, indexed by sub-category."""

    def __init__(self, ideas: list[Idea], template: Template) -> None:
        seen: set[str] = set()
        for idea in ideas:
            template.check(idea.sub_category)
            if idea.id in seen:
                raise TemplateError(f"idea id {idea.id!r} appears twice in the idea bank")
            seen.add(idea.id)
        self.ideas = list(ideas)
        self.template = template
        self._by_id = {idea.id: idea for idea in ideas}
        grouped: dict[str, list[Idea]] = defaultdict(list)
        for idea in ideas:
            grouped[idea.sub_category].append(idea)
        self.by_sub_category: dict[str, list[Idea]] = dict(grouped)

    def __len__(self) -> int:
        return len(self.ideas)

    def get(self, idea_id: str) -> Idea:
        try:
            return self._by_id[idea_id]
        except KeyError:
            raise KeyError(f"no idea with id {idea_id!r} in the idea bank") from None

    def empty_sub_categories(self) -> list[str]:
        """Template slugs no idea of the bank names, in template order."""
        return [slug for slug in self.template.slugs if slug not in self.by_sub_category]

    def sub_category_map(self) -> dict[str, str]:
        """``idea id -> sub-category slug`` for every idea, in bank order."""
        return {idea.id: idea.sub_category for idea in self.ideas}

    def to_json(self) -> dict[str, Any]:
        """The whole bank (template and ideas) as JSON data; :meth:`from_json` reads it back."""
        return {
            "schema": BANK_SCHEMA_VERSION,
            "template": self.template.model_dump(mode="json"),
            "ideas": [idea.model_dump(mode="json") for idea in self.ideas],
        }

    @classmethod
    def from_json(cls, data: Any, where: str = "the idea bank") -> IdeaBank:
        """A bank from :meth:`to_json` data; raises :class:`TemplateError` naming ``where`` when malformed."""
        if not isinstance(data, dict) or data.get("schema") != BANK_SCHEMA_VERSION:
            raise TemplateError(f"{where} is not a FairNAD idea bank (schema {BANK_SCHEMA_VERSION})")
        try:
            template = Template.model_validate(data["template"])
            ideas = [Idea.model_validate(raw) for raw in data["ideas"]]
        except (KeyError, TypeError, ValidationError) as exc:
            raise TemplateError(f"{where} is malformed: {exc}") from exc
        return cls(ideas, template)


def load_ideas(paths: list[Path], template: Template) -> IdeaBank:
    """Load idea files (the shipped starter ideas when ``paths`` is empty)."""
    ideas: list[Idea] = []
    for path in paths or [None]:
        data, where = read_yaml(path, "starter_ideas.yaml")
        if not isinstance(data, dict) or not isinstance(data.get("ideas"), list):
            raise TemplateError(f"{where}: expected a mapping with an 'ideas' list")
        for index, raw in enumerate(data["ideas"]):
            try:
                idea = Idea.model_validate(raw)
                template.check(idea.sub_category)
            except ValidationError as exc:
                first = exc.errors()[0]
                loc = ".".join(str(p) for p in first["loc"])
                raise TemplateError(f"{where}: ideas[{index}].{loc}: {first['msg']}") from exc
            except TemplateError as exc:
                raise TemplateError(f"{where}: ideas[{index}]: {exc}") from exc
            ideas.append(idea)
    return IdeaBank(ideas, template)
