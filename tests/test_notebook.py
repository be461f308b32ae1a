"""The tutorial notebook: committed without outputs, and runs top to bottom in its fast mode.

The run test executes the notebook with nbclient in a kernel on this interpreter, with the
environment variables of its parameters cell set for a quick VGG16 run on the real weights, and
checks the files it saves. On 2 CPU cores it takes about a minute.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import ROOT

NOTEBOOK = ROOT / "notebooks" / "neural_style_transfer.ipynb"
# The notebook's default pair (CONTENT and STYLE in its parameters cell).
CONTENT, STYLE = ROOT / "images" / "content" / "cat.jpg", ROOT / "images" / "style" / "swirl.jpg"
FAST_MAX_DIM = 96  # the notebook's MAX_DIM when NST_FAST is set
FAST_PREVIEW_DIM = 64  # its PREVIEW.max_dim then
# Everything the notebook writes into its output folder (NST_OUTPUT_DIR), and nothing else.
OUTPUT_FILES = ["mask.png", "progress.gif", "quick_preview.png", "result.png"]

# Runs first, in the notebook's kernel: our own warnings (package or notebook code) become errors.
PRELUDE = f"""
import sys, warnings
assert sys.executable == {sys.executable!r}, f"the kernel runs {{sys.executable}}, not the venv's"
warnings.filterwarnings("error", module=r"(nst_helpers(\\.|$)|__main__$)")
"""

# A Python warning as printed in a cell's output: "path/file.py:12: UserWarning: message".
WARNING_LINE = re.compile(r"^(?P<file>\S[^\n]*?):\d+: (?P<category>\w*Warning): (?P<message>.*)$")
# Third-party warnings we accept in the notebook's output: {regex on the message: why}.
ALLOWED_WARNINGS: dict[str, str] = {}


def load_notebook():
    import nbformat

    return nbformat.read(NOTEBOOK, as_version=4)


def test_committed_notebook_has_no_outputs():
    notebook = load_notebook()
    code_cells = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert code_cells
    for index, cell in enumerate(code_cells):
        assert cell.outputs == [], f"code cell {index} has outputs: clear them before committing"
        assert cell.execution_count is None, f"code cell {index} has an execution count"


def test_colab_badge_matches_the_repository_constant():
    notebook = load_notebook()
    setup = "\n".join(cell.source for cell in notebook.cells if cell.cell_type == "code")
    repo = re.search(r'^GITHUB_REPO = "([^"]+)"', setup, re.M)
    assert repo, "the notebook defines GITHUB_REPO"
    badge = notebook.cells[0].source
    assert notebook.cells[0].cell_type == "markdown" and badge.startswith("# ")
    expected = (
        f"https://colab.research.google.com/github/{repo.group(1)}/blob/main/"
        "notebooks/neural_style_transfer.ipynb"
    )
    assert expected in badge, f"the Colab badge should link to {expected}"


def own_or_unknown_warnings(notebook) -> list[str]:
    """Warning lines in the outputs that come from our code or are not allow-listed."""
    found = []
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            text = output.get("text", "") if output.output_type == "stream" else ""
            for line in text.splitlines():
                match = WARNING_LINE.match(line)
                if not match:
                    continue
                ours = "nst_helpers" in match["file"] or "ipykernel_" in match["file"]
                allowed = any(re.search(rx, match["message"]) for rx in ALLOWED_WARNINGS)
                if ours or not allowed:
                    found.append(line)
    return found


@pytest.mark.slow
@pytest.mark.real_weights
def test_notebook_runs_top_to_bottom(tmp_path, weights_path, monkeypatch):
    import nbformat
    from nbclient import NotebookClient

    notebooks_dir = NOTEBOOK.parent
    before = sorted(p.name for p in notebooks_dir.iterdir())
    had_outputs_dir = (ROOT / "outputs").exists()
    out = tmp_path / "out"
    for name, value in {
        "NST_FAST": "1",
        "NST_ARCH": "vgg16",
        "NST_WEIGHTS": str(weights_path),
        "NST_OUTPUT_DIR": str(out),
        "NST_CACHE_DIR": str(tmp_path / "cache"),  # a painting download (if online) lands here
        "TF_CPP_MIN_LOG_LEVEL": "2",
    }.items():
        monkeypatch.setenv(name, value)
    for name in ("NST_MAX_DIM", "NST_STEPS"):
        monkeypatch.delenv(name, raising=False)

    notebook = load_notebook()
    notebook.cells.insert(0, nbformat.v4.new_code_cell(PRELUDE, id="test-prelude"))
    # jupyter_client starts the "python3" kernel with sys.executable: this venv's python.
    client = NotebookClient(
        notebook,
        timeout=600,
        kernel_name="python3",
        resources={"metadata": {"path": str(notebooks_dir)}},
    )
    client.execute()

    errors = [o for c in notebook.cells for o in c.get("outputs", []) if o.output_type == "error"]
    assert errors == []
    assert own_or_unknown_warnings(notebook) == []
    assert sorted(p.name for p in notebooks_dir.iterdir()) == before, "wrote into notebooks/"
    assert (ROOT / "outputs").exists() == had_outputs_dir, "wrote outputs/ into the repository"

    result_path = out / "result.png"
    assert result_path.is_file()
    with Image.open(result_path) as saved:
        result = saved.convert("RGB")
    assert max(result.size) == FAST_MAX_DIM
    check_result_is_stylised(result, weights_path)
    check_demo_outputs(out)


def check_demo_outputs(out: Path) -> None:
    """The "Go further" demos saved an animated GIF, a PNG that carries its recipe, and a mask."""
    from nst_helpers.recipe import read_recipe

    assert sorted(p.name for p in out.iterdir()) == OUTPUT_FILES
    with Image.open(out / "progress.gif") as gif:
        assert gif.format == "GIF" and gif.n_frames > 1
    recipe = read_recipe(out / "quick_preview.png")
    assert recipe["settings"]["max_dim"] == FAST_PREVIEW_DIM
    assert recipe["inputs"]["content"]["name"] == CONTENT.name
    assert [entry["name"] for entry in recipe["inputs"]["styles"]] == [STYLE.name]
    with Image.open(out / "mask.png") as mask:
        assert mask.mode == "L" and mask.getextrema() == (0, 255)


def check_result_is_stylised(result: Image.Image, weights_path: Path) -> None:
    """The saved image differs from the photo and has Gram statistics closer to the style's."""
    from nst_helpers import losses
    from nst_helpers.images import image_to_tensor, load_image, prepare_images
    from nst_helpers.model import build_extractor
    from nst_helpers.settings import Settings

    settings = Settings(arch="vgg16", weights=str(weights_path), max_dim=max(result.size))
    content, style = prepare_images(load_image(CONTENT), load_image(STYLE), settings)
    assert content.size == result.size
    change = np.abs(np.asarray(result, float) - np.asarray(content, float)).mean() / 255
    assert change > 0.02, f"the result is nearly the photo (mean change {change:.4f})"

    extractor = build_extractor("vgg16", weights_path)
    _, style_features = extractor(image_to_tensor(style))
    target_grams = {name: losses.gram_matrix(f) for name, f in style_features.items()}

    def style_distance(image: Image.Image) -> float:
        _, features = extractor(image_to_tensor(image))
        return float(losses.style_loss(features, target_grams))

    before, after = style_distance(content), style_distance(result)
    assert after < 0.5 * before, f"style loss {before:.3f} (photo) -> {after:.3f} (result)"


def test_prelude_catches_our_warnings():
    """The warning filter the run test installs matches our modules and the notebook's cells."""
    import warnings

    pattern = re.search(r'module=r"([^"]+)"', PRELUDE)[1]
    for module, caught in [
        ("nst_helpers", True),
        ("nst_helpers.widgets", True),
        ("__main__", True),
        ("nst_helpers_extra", False),
        ("matplotlib.figure", False),
    ]:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # only the prelude's filter, not pytest's "error"
            warnings.filterwarnings("error", module=pattern)
            try:
                warnings.warn_explicit("test", UserWarning, "file.py", 1, module=module)
            except UserWarning:
                assert caught, module
            else:
                assert not caught, module
