"""Pulling code and search/replace edits out of LLM replies, as real servers write them."""

from __future__ import annotations

import pytest

from agents.answers import (
    AnswerError,
    Edit,
    apply_edits,
    code_structure_hash,
    extract_code,
    extract_json,
    parse_edits,
    strip_think,
)

pytestmark = pytest.mark.timeout(30)

FILE = """\
import torch
from torch import nn


class Block(nn.Module):
    def __init__(self, ch: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(ch, ch, 3, padding=1)
        self.act = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.conv(x))


def build_model(num_classes: int) -> nn.Module:
    return nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), Block(16), Block(16), nn.AdaptiveAvgPool2d(1),
                         nn.Flatten(), nn.Linear(16, num_classes))
"""


# -- extract_code ---------------------------------------------------------------------------------


def test_python_fence_with_prose_around_it():
    answer = extract_code(f"Here is the new model:\n\n```python\n{FILE}```\n\nIt adds a block.", "stop")
    assert answer.usable and answer.code == FILE


def test_unlabelled_fence_and_the_fence_with_build_model_wins():
    text = f"First the helper:\n```python\nx = 1\n```\nand the file:\n```\n{FILE}```\n"
    assert extract_code(text).code == FILE


def test_unfenced_reply_drops_prose_before_and_after():
    answer = extract_code(f"Sure! The model below uses a block.\n{FILE}\nThis keeps the budget.\n")
    assert answer.usable and answer.code == FILE


def test_think_block_is_removed():
    answer = extract_code(f"<think>I should add ```python\nclass Bad:\n``` maybe</think>\n```python\n{FILE}```")
    assert answer.usable and answer.code == FILE


def test_length_finish_reason_is_truncated_even_when_the_code_parses():
    answer = extract_code(f"```python\n{FILE}```", "length")
    assert answer.truncated and "length limit" in answer.problem


def test_unterminated_fence_is_truncated():
    cut = FILE[: FILE.index("def build_model")]
    answer = extract_code(f"```python\n{cut}")
    assert answer.truncated and "never closed" in answer.problem


def test_unbalanced_brackets_are_truncated():
    answer = extract_code(f"```python\n{FILE[:-30]}\n```")
    assert answer.truncated and "middle of a statement" in answer.problem


def test_file_cut_inside_a_class_parses_but_is_truncated():
    cut = FILE[: FILE.index("self.act = nn.ReLU()") + len("self.act = nn.Re")]
    answer = extract_code(cut)
    assert answer.truncated and "ends inside class Block" in answer.problem


def test_no_code():
    answer = extract_code("I cannot help with that architecture, sorry.")
    assert answer.code == "" and not answer.truncated and "no Python code" in answer.problem
    cut_while_thinking = extract_code("<think>long reasoning that never ends", "length")
    assert cut_while_thinking.truncated and cut_while_thinking.code == ""


def test_strip_think_and_extract_json_still_work():
    assert strip_think("<think>x</think> answer") == "answer"
    assert extract_json('<think>{"no": 1}</think> ```json\n{"choice": 2, "reason": "r"}\n```') == {
        "choice": 2,
        "reason": "r",
    }


def test_structure_hash_ignores_formatting_comments_and_docstrings():
    reformatted = FILE.replace("import torch\n", '"""A model."""\nimport torch  # tensors\n').replace(
        "nn.Conv2d(ch, ch, 3, padding=1)", "nn.Conv2d(\n            ch, ch, 3, padding=1\n        )"
    )
    assert code_structure_hash(reformatted) == code_structure_hash(FILE)
    assert code_structure_hash(FILE.replace("3, padding=1)\n        self.act", "5, padding=2)\n        self.act")) != (
        code_structure_hash(FILE)
    )


# -- search/replace edits -------------------------------------------------------------------------

DIFF = """\
I will add dropout.

```python
<<<<<<< SEARCH
        self.act = nn.ReLU()
=======
        self.act = nn.ReLU()
        self.drop = nn.Dropout(0.1)
>>>>>>> REPLACE
```

```python
<<<<<<< SEARCH
        return self.act(self.conv(x))
=======
        return self.drop(self.act(self.conv(x)))
>>>>>>> REPLACE
```
"""


def test_parse_and_apply_fenced_edits():
    edits = parse_edits(DIFF)
    assert [e.number for e in edits] == [1, 2]
    new = apply_edits(FILE, edits)
    assert "self.drop = nn.Dropout(0.1)" in new and "return self.drop(self.act(self.conv(x)))" in new
    assert new.count("\n") == FILE.count("\n") + 1


def test_whitespace_tolerant_match_reindents_the_replacement():
    edit = Edit(search="self.act = nn.ReLU()\n", replace="self.act = nn.GELU()\nself.gate = nn.Identity()", number=1)
    new = apply_edits(FILE, [edit])
    assert "        self.act = nn.GELU()\n        self.gate = nn.Identity()\n" in new


def test_edit_that_is_absent_names_the_edit_and_the_reason():
    edits = [Edit("self.act = nn.ReLU()", "self.act = nn.GELU()", 1), Edit("self.norm = nn.BatchNorm2d(ch)", "", 2)]
    with pytest.raises(AnswerError, match=r"edit 2: the SEARCH text is not in the file .*self.norm"):
        apply_edits(FILE, edits)


def test_ambiguous_edit_is_refused():
    with pytest.raises(AnswerError, match="edit 1: the SEARCH text occurs 2 times"):
        apply_edits(FILE, [Edit("Block(16)", "Block(32)", 1)])
    loose = Edit("   nn.Flatten()  ", "nn.Identity()", 1)
    doubled = FILE + "\n\nnn.Flatten()\n  nn.Flatten()\n"
    with pytest.raises(AnswerError, match="edit 1: the SEARCH text"):
        apply_edits(doubled, [loose])


def test_unclosed_block_is_an_error_naming_it():
    with pytest.raises(AnswerError, match=r"edit 1: .*REPLACE.*cut short"):
        parse_edits("<<<<<<< SEARCH\nx = 1\n=======\nx = 2\n")
    assert parse_edits("no edits here") == []


def test_html_entities_a_small_model_writes_are_decoded_only_when_that_makes_the_code_parse():
    escaped = "```python\nimport torch\n\n\ndef build_model(num_classes: int) -&gt; torch.nn.Module:\n    return torch.nn.Linear(3, num_classes)\n```"
    answer = extract_code(escaped)
    assert "-> torch.nn.Module" in answer.code and not answer.truncated
    literal = '```python\nNAME = "a &gt; b"\n\n\ndef build_model(num_classes):\n    return NAME\n```'
    assert '"a &gt; b"' in extract_code(literal).code  # parses as written: left alone


def test_edits_with_html_entities_apply_to_a_source_without_them():
    source = "def f(x: int) -> int:\n    return x\n"
    edits = [Edit("def f(x: int) -&gt; int:", "def f(x: int) -&gt; float:", 1)]
    assert apply_edits(source, edits) == "def f(x: int) -> float:\n    return x\n"
