"""benchmarks/memory_fit.py: its page rendered from the stored JSON alone, and the stored peaks
within the 25 % the README promises of the estimate."""

from __future__ import annotations

import json
import sys

from conftest import ROOT

sys.path.insert(0, str(ROOT / "benchmarks"))
import memory_fit  # noqa: E402


def test_the_page_is_rendered_from_the_stored_json():
    data = json.loads((ROOT / "benchmarks" / memory_fit.JSON).read_text())
    page = (ROOT / "benchmarks" / memory_fit.MARKDOWN).read_text()
    assert memory_fit.render(data) == page


def test_every_stored_peak_is_within_a_quarter_of_its_estimate():
    data = json.loads((ROOT / "benchmarks" / memory_fit.JSON).read_text())
    ratios = [run["peak"] / run["estimate"] for run in data["runs"]]
    assert len(ratios) == 3 * len(memory_fit.MODES) and all(0.75 <= r <= 1.25 for r in ratios)
