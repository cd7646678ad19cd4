"""The attribute template: three levels, main categories and sub-categories, each with a slug.

Slugs (``level.category.sub_category``, e.g. ``operation.spatial_mixing.depthwise_conv``)
are stable identifiers that the idea bank, the planner and the mutation table key on.
"""

from __future__ import annotations

import difflib
from functools import cached_property
from importlib import resources
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

SLUG_PATTERN = r"^[a-z][a-z0-9_]*$"


class TemplateError(ValueError):
    """The template file is missing or malformed, or a slug is unknown."""


class SubCategory(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    slug: str = Field(pattern=SLUG_PATTERN)
    name: str
    description: str = ""


class Category(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    slug: str = Field(pattern=SLUG_PATTERN)
    name: str
    description: str = ""
    sub_categories: list[SubCategory] = Field(min_length=1)


class Level(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    slug: str = Field(pattern=SLUG_PATTERN)
    name: str
    description: str = ""
    categories: list[Category] = Field(min_length=1)


class Template(BaseModel):
    """The whole template; ``slugs`` lists the full sub-category slugs in file order."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    version: int = 1
    levels: list[Level] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique(self) -> Template:
        seen: set[str] = set()
        for slug in self._iter_slugs():
            if slug in seen:
                raise ValueError(f"sub-category slug {slug!r} appears twice")
            seen.add(slug)
        return self

    def _iter_slugs(self) -> list[str]:
        return [
            f"{level.slug}.{cat.slug}.{sub.slug}"
            for level in self.levels
            for cat in level.categories
            for sub in cat.sub_categories
        ]

    @cached_property
    def slugs(self) -> list[str]:
        return self._iter_slugs()

    @cached_property
    def categories(self) -> list[str]:
        return [f"{level.slug}.{cat.slug}" for level in self.levels for cat in level.categories]

    def category_of(self, slug: str) -> str:
        """``operation.spatial_mixing.depthwise_conv`` -> ``operation.spatial_mixing``."""
        self.check(slug)
        return slug.rsplit(".", 1)[0]

    def check(self, slug: str) -> str:
        """Return ``slug`` if it is a sub-category, else raise naming the closest ones."""
        if slug in self.slugs:
            return slug
        close = difflib.get_close_matches(slug, self.slugs, n=3, cutoff=0.5)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise TemplateError(
            f"unknown sub-category {slug!r}{hint} (slugs look like level.category.sub_category, e.g. {self.slugs[0]})"
        )

    def describe(self, slug: str) -> SubCategory:
        level_slug, cat_slug, sub_slug = self.check(slug).split(".")
        level = next(lv for lv in self.levels if lv.slug == level_slug)
        cat = next(c for c in level.categories if c.slug == cat_slug)
        return next(s for s in cat.sub_categories if s.slug == sub_slug)


def read_yaml(path: Path | None, default_name: str) -> tuple[object, str]:
    if path is None:
        text = resources.files("knowledge").joinpath("data", default_name).read_text(encoding="utf-8")
        where = f"the shipped {default_name}"
    else:
        path = Path(path).expanduser()
        if not path.is_file():
            raise TemplateError(f"{path} does not exist (knowledge setting)")
        text = path.read_text(encoding="utf-8")
        where = str(path)
    try:
        return yaml.safe_load(text), where
    except yaml.YAMLError as exc:
        raise TemplateError(f"{where} is not valid YAML: {exc}") from exc


def load_template(path: Path | None = None) -> Template:
    """Load and validate the template (the shipped one when ``path`` is None)."""
    data, where = read_yaml(path, "template.yaml")
    try:
        return Template.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(p) for p in first["loc"])
        raise TemplateError(f"{where}: {loc}: {first['msg']}") from exc
