"""The attribute template and the starter idea bank (shipped data)."""

from __future__ import annotations

import re

import pytest

from knowledge.ideas import load_ideas
from knowledge.template import TemplateError, load_template


def test_template_has_three_levels_fifteen_categories_fifty_five_sub_categories():
    template = load_template()
    assert [level.slug for level in template.levels] == ["operation", "block", "network"]
    assert len(template.categories) == 15
    assert len(template.slugs) == 55
    assert "operation.spatial_mixing.depthwise_conv" in template.slugs
    assert all(re.fullmatch(r"[a-z_]+\.[a-z_]+\.[a-z0-9_]+", slug) for slug in template.slugs)
    assert template.category_of("block.recalibration.squeeze_excitation") == "block.recalibration"


def test_unknown_slug_suggests_the_closest():
    template = load_template()
    with pytest.raises(TemplateError, match="did you mean operation.spatial_mixing.depthwise_conv"):
        template.check("operation.spatial_mixing.depthwise_convolution")


def test_starter_ideas_cover_every_sub_category_with_sources():
    template = load_template()
    bank = load_ideas([], template)
    assert len(bank) >= 110
    assert bank.empty_sub_categories() == []
    for idea in bank.ideas:
        assert idea.source.title and idea.source.year and idea.description


def test_bad_idea_file_names_the_problem(tmp_path):
    template = load_template()
    bad = tmp_path / "ideas.yaml"
    bad.write_text(
        "ideas:\n  - id: x\n    sub_category: operation.nope.nothing\n    title: t\n    description: d\n"
        "    source: {title: s}\n"
    )
    with pytest.raises(TemplateError, match=r"ideas\[0\].*unknown sub-category"):
        load_ideas([bad], template)
    bad.write_text("ideas: [1, 2")
    with pytest.raises(TemplateError, match="not valid YAML"):
        load_ideas([bad], template)


def test_bad_template_file(tmp_path):
    path = tmp_path / "t.yaml"
    path.write_text("levels:\n  - slug: Operation\n    name: x\n    categories: []\n")
    with pytest.raises(TemplateError, match="levels.0"):
        load_template(path)
    with pytest.raises(TemplateError, match="does not exist"):
        load_template(tmp_path / "missing.yaml")
