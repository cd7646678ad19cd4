"""The verifier corpus: every broken file gets its exact code, every valid file passes."""

from __future__ import annotations

from collections import Counter
from typing import get_args

import pytest

from fairnad_tools.verify import verify_file
from fairnad_tools.verify.report import ErrorCode
from tests.corpus import Case, cases

pytestmark = pytest.mark.timeout(120)
ALL = cases()


def test_corpus_covers_every_code_and_is_big_enough():
    broken = cases("broken")
    valid = cases("valid")
    assert len(broken) >= 40 and len(valid) >= 10
    assert all(c.expect == "ok" for c in valid)
    counts = Counter(c.expect for c in broken)
    missing = set(get_args(ErrorCode)) - {"ok"} - set(counts)
    assert not missing, f"no corpus file expects {sorted(missing)}"


@pytest.mark.parametrize("case", ALL, ids=[c.name for c in ALL])
def test_corpus_file(case: Case):
    report = verify_file(
        case.path,
        parent=case.parent,
        input_shape=case.input_shape,
        num_classes=case.num_classes,
        max_params=case.max_params,
        max_flops=case.max_flops,
        timeout_s=case.timeout_s,
    )
    assert report.code == case.expect, f"{case.about}: got {report.code}: {report.message}"
    assert report.ok == (case.expect == "ok")
    assert report.message and len(report.message) < 1500
    if report.ok:
        assert report.params > 0 and report.flops > 0 and report.weighted_layers >= 3
