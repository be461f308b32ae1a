"""The main notebook's time claim: measured by benchmarks/notebook_time.py, stored, and quoted."""

from __future__ import annotations

import json
import sys

import pytest

from conftest import ROOT

sys.path.insert(0, str(ROOT / "benchmarks"))
import notebook_time  # noqa: E402


@pytest.mark.slow
@pytest.mark.real_weights
def test_a_smoke_run_times_every_code_cell_and_renders_the_page(tmp_path, weights_path):
    notebook_time.main(["--smoke", "--folder", str(tmp_path)])
    data = json.loads((tmp_path / "notebook_time.json").read_text())
    assert "MAX_DIM = 64" in data["injected"] and "ARCH = 'vgg16'" in data["injected"]
    assert len(data["cells"]) > 20 and all(cell["seconds"] >= 0 for cell in data["cells"])
    assert 0 < sum(cell["seconds"] for cell in data["cells"]) <= data["seconds"]
    assert (tmp_path / "NOTEBOOK_TIME.md").read_text() == notebook_time.render(data)


def test_the_notebook_quotes_the_stored_time():
    stored = json.loads((ROOT / "benchmarks" / "notebook_time.json").read_text())
    page = (ROOT / "benchmarks" / "NOTEBOOK_TIME.md").read_text()
    assert page == notebook_time.render(stored)
    assert "MAX_DIM" not in stored["injected"], "the stored run is not at the notebook's sizes"
    notebook = json.loads(notebook_time.NOTEBOOK.read_text())
    text = " ".join("".join(c["source"]) for c in notebook["cells"] if c["cell_type"] == "markdown")
    claim = f"about {round(stored['seconds'] / 60)} minutes"
    assert claim in " ".join(text.split()), f"the notebook should say {claim!r}"
    assert "benchmarks/NOTEBOOK_TIME.md" in text
