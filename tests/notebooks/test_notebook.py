"""The two notebooks: committed without outputs, small, public names only, and run top to bottom.

The run tests execute each notebook with nbclient in a kernel on this interpreter, in a fast mode:
a cell injected after the one tagged `parameters` (papermill's convention) picks VGG16 with the
real weights file, tiny sizes and few steps, and an output folder in tmp_path. The notebooks'
own assert cells check the hand-written extractor, losses and loop against the package; the tests
read the values they leave in the kernel and the files they save.
"""

from __future__ import annotations

import ast
import json
import os
import re
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import CONTENT, ROOT, STYLE

NOTEBOOKS = {
    "main": ROOT / "notebooks" / "neural_style_transfer.ipynb",
    "further": ROOT / "notebooks" / "going_further.ipynb",
}
README = ROOT / "README.md"

# Fast mode: the values injected after each notebook's parameters cell (the weights file and the
# output folder are added by `fast_parameters`).
MAIN_FAST = {"MAX_DIM": 64, "STEPS": 12, "PREVIEW_DIM": 48, "PREVIEW_STEPS": 4}
FURTHER_FAST = {"MAX_DIM": 48, "STEPS": 4}
# Everything each notebook writes into its OUTPUT_DIR, and nothing else.
MAIN_FILES = ["result.png"]
FURTHER_FILES = ["mask.png", "painting.gif", "recipe_demo.png"]
# Words the main notebook's markdown may have ("about 1,500").
MAIN_WORDS = 1600

# Runs first, in the notebook's kernel: our own warnings (package or notebook code) become errors.
PRELUDE = f"""
import sys, warnings
assert sys.executable == {sys.executable!r}, f"the kernel runs {{sys.executable}}, not the venv's"
warnings.filterwarnings("error", module=r"(nst_helpers(\\.|$)|__main__$)")
"""

# Runs last: the values the main notebook leaves in its kernel, printed as one JSON line.
MAIN_REPORT = """
import json
pairs = {**package_content, **package_style}.items()
report = {
    "extractor_difference": max(float(np.abs(photo_features[n] - f).max()) for n, f in pairs),
    "hand_total": history["total"],
    "package_total": result.history["total"],
    "compared": sorted(runs),
    "saved": str(saved),
}
print("REPORT " + json.dumps(report))
"""

# A Python warning as printed in a cell's output: "path/file.py:12: UserWarning: message".
WARNING_LINE = re.compile(r"^(?P<file>\S[^\n]*?):\d+: (?P<category>\w*Warning): (?P<message>.*)$")
# Third-party warnings we accept in the notebooks' output: {regex on the message: why}.
ALLOWED_WARNINGS: dict[str, str] = {}


def load(name: str):
    import nbformat

    return nbformat.read(NOTEBOOKS[name], as_version=4)


def code_cells(notebook) -> list:
    return [cell for cell in notebook.cells if cell.cell_type == "code"]


def markdown_words(notebook) -> int:
    return sum(len(cell.source.split()) for cell in notebook.cells if cell.cell_type == "markdown")


# --- what is committed ------------------------------------------------------------------------


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_committed_notebook_has_no_outputs(name):
    cells = code_cells(load(name))
    assert cells
    for index, cell in enumerate(cells):
        assert cell.outputs == [], f"code cell {index} has outputs: clear them before committing"
        assert cell.execution_count is None, f"code cell {index} has an execution count"


def repository_constant(notebook) -> str:
    setup = "\n".join(cell.source for cell in code_cells(notebook))
    repo = re.search(r'^GITHUB_REPO = "([^"]+)"', setup, re.M)
    assert repo, "the notebook defines GITHUB_REPO"
    return repo.group(1)


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_colab_badges_match_the_repository_constant(name):
    """Each notebook's badge and the README's badge for it link to its GITHUB_REPO path."""
    notebook = load(name)
    repo = repository_constant(notebook)
    url = f"https://colab.research.google.com/github/{repo}/blob/main/notebooks/"
    url += NOTEBOOKS[name].name
    first = notebook.cells[0]
    assert first.cell_type == "markdown" and first.source.startswith("# ")
    assert url in first.source, f"the notebook's Colab badge should link to {url}"
    assert url in README.read_text(), f"the README should have a Colab badge linking to {url}"


def test_both_notebooks_name_the_same_repository():
    assert repository_constant(load("main")) == repository_constant(load("further"))


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_one_parameters_cell_of_plain_constants(name):
    """Papermill's convention: one cell tagged `parameters`, only names bound to literals."""
    cells = [c for c in code_cells(load(name)) if "parameters" in c.metadata.get("tags", [])]
    assert len(cells) == 1
    for statement in ast.parse(cells[0].source).body:
        assert isinstance(statement, ast.Assign), ast.unparse(statement)
        ast.literal_eval(statement.value)  # raises for anything but a plain constant
    assert "os.environ" not in "\n".join(c.source for c in code_cells(load(name)))


def test_main_notebook_stays_short():
    notebook = load("main")
    cells = code_cells(notebook)
    assert len(cells) <= 35
    for cell in cells:
        lines = len(cell.source.splitlines())
        assert lines <= 15, f"code cell {cell.id} has {lines} lines"
    assert markdown_words(notebook) <= MAIN_WORDS


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebooks_use_public_names_only(name):
    """No underscore names from nst_helpers, and every nst.X is an exported name."""
    import nst_helpers

    public = set(nst_helpers.__all__)
    for cell in code_cells(load(name)):
        tree = ast.parse(cell.source)
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("nst_helpers"):
                assert not any(part.startswith("_") for part in node.module.split("."))
                assert not any(alias.name.startswith("_") for alias in node.names)
            if (
                isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Name)
                and node.value.id == "nst"
            ):
                assert node.attr in public, f"nst.{node.attr} is not exported (cell {cell.id})"


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_failed_clone_in_colab_prints_one_line(name, tmp_path, monkeypatch, capsys):
    """In Colab (faked), a clone that fails says in one line what to set, without a traceback."""
    setup = next(c.source for c in code_cells(load(name)) if "GITHUB_REPO =" in c.source)
    monkeypatch.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))
    monkeypatch.chdir(tmp_path)
    calls = []

    def failing_clone(command, **kwargs):
        calls.append(command)
        return subprocess.CompletedProcess(command, 128, b"", b"fatal: repository not found")

    monkeypatch.setattr(subprocess, "run", failing_clone)
    exec(compile(setup, "setup", "exec"), {"__name__": "__main__"})
    assert calls and calls[0][:2] == ["git", "clone"]
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 1 and "GITHUB_REPO" in lines[0], lines
    assert Path.cwd() == tmp_path


# --- running them -----------------------------------------------------------------------------


def fast_parameters(values: dict, weights: Path, out: Path, **extra) -> str:
    """The cell injected after `parameters`: VGG16 with the weights file, tiny sizes."""
    values = {"ARCH": "vgg16", "WEIGHTS": str(weights), **values, **extra}
    values["OUTPUT_DIR"] = str(out)
    return "\n".join(f"{name} = {value!r}" for name, value in values.items())


def run(name: str, parameters: str, tmp_path: Path, monkeypatch, report: str = ""):
    """Executes a notebook in fast mode; returns it with its outputs."""
    import nbformat
    from nbclient import NotebookClient

    notebook = load(name)
    index = next(
        i for i, c in enumerate(notebook.cells) if "parameters" in c.metadata.get("tags", [])
    )
    notebook.cells.insert(index + 1, nbformat.v4.new_code_cell(parameters, id="fast-mode"))
    notebook.cells.insert(0, nbformat.v4.new_code_cell(PRELUDE, id="test-prelude"))
    if report:
        notebook.cells.append(nbformat.v4.new_code_cell(report, id="test-report"))
    # The kernel imports this checkout's package; a painting download (if any) lands in tmp_path.
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    monkeypatch.setenv("NST_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    folder = NOTEBOOKS[name].parent
    before = sorted(p.name for p in folder.iterdir())
    had_outputs = (ROOT / "outputs").exists()
    # jupyter_client starts the "python3" kernel with sys.executable: this venv's python.
    client = NotebookClient(
        notebook, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(folder)}}
    )
    client.execute()
    errors = [o for c in notebook.cells for o in c.get("outputs", []) if o.output_type == "error"]
    assert errors == []
    assert own_or_unknown_warnings(notebook) == []
    assert sorted(p.name for p in folder.iterdir()) == before, "wrote into notebooks/"
    assert (ROOT / "outputs").exists() == had_outputs, "wrote outputs/ into the repository"
    return notebook


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


def stderr_text(notebook, cell_id: str) -> str:
    cell = next(c for c in notebook.cells if c.get("id") == cell_id)
    return "".join(o.get("text", "") for o in cell.outputs if o.get("name") == "stderr")


def report_of(notebook) -> dict:
    text = "".join(o.get("text", "") for o in notebook.cells[-1].outputs)
    return json.loads(text.split("REPORT ", 1)[1])


@pytest.mark.slow
@pytest.mark.real_weights
def test_main_notebook_runs_top_to_bottom(tmp_path, weights_path, monkeypatch):
    out = tmp_path / "out"
    # No VGG19 weights exist offline: its cell runs VGG19 with random weights (the same code).
    parameters = fast_parameters(MAIN_FAST, weights_path, out, OTHER_WEIGHTS=None)
    notebook = run("main", parameters, tmp_path, monkeypatch, report=MAIN_REPORT)
    assert stderr_text(notebook, "imports") == "", "TensorFlow's start-up lines showed"
    assert sorted(p.name for p in out.iterdir()) == MAIN_FILES

    report = report_of(notebook)
    assert report["extractor_difference"] < 1e-3, "the hand-built extractor differs"
    hand, package = report["hand_total"], report["package_total"]
    assert len(hand) == len(package) == MAIN_FAST["STEPS"]
    np.testing.assert_allclose(hand, package, rtol=1e-3)  # every step, not just the ten checked
    assert report["compared"] == ["vgg16", "vgg19"], "the VGG16/VGG19 cell skipped a network"
    assert hand[-1] < hand[0], "the hand-written loop did not lower the loss"

    saved = Path(report["saved"])
    assert saved == out / "result.png"
    check_result_is_stylized(saved, weights_path)
    check_cli_reads_the_recipe(saved)


def check_result_is_stylized(path: Path, weights_path: Path) -> None:
    """The saved image differs from the photo and has Gram statistics closer to the style's."""
    import nst_helpers as nst

    with Image.open(path) as saved:
        result = saved.convert("RGB")
    size = MAIN_FAST["MAX_DIM"]
    assert max(result.size) == size
    photo, style = nst.load_image(CONTENT, max_dim=size), nst.load_image(STYLE, max_dim=size)
    assert photo.size == result.size
    change = np.abs(np.asarray(result, float) - np.asarray(photo, float)).mean() / 255
    assert change > 0.02, f"the result is nearly the photo (mean change {change:.4f})"

    extractor = nst.build_extractor("vgg16", weights_path)
    _, targets = nst.make_targets(extractor, nst.image_to_tensor(photo), nst.image_to_tensor(style))

    def style_distance(image: Image.Image) -> float:
        _, features = extractor(nst.image_to_tensor(image))
        return float(nst.style_loss(features, targets))

    before, after = style_distance(photo), style_distance(result)
    assert after < 0.5 * before, f"style loss {before:.3f} (photo) -> {after:.3f} (result)"


def check_cli_reads_the_recipe(path: Path) -> None:
    """`nst --recipe` prints the saved result's recipe: the sample files and the run's settings."""
    done = subprocess.run(
        [sys.executable, "-m", "nst_helpers", "--recipe", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert done.returncode == 0, done.stderr
    recipe = json.loads(done.stdout)
    assert recipe["inputs"]["content"]["name"] == CONTENT.name
    assert recipe["inputs"]["content"]["absolute"] == str(CONTENT)
    assert [style["name"] for style in recipe["inputs"]["styles"]] == [STYLE.name]
    assert recipe["settings"]["max_dim"] == MAIN_FAST["MAX_DIM"]
    assert recipe["settings"]["steps"] == MAIN_FAST["STEPS"]


@pytest.mark.slow
@pytest.mark.real_weights
def test_going_further_runs_top_to_bottom(tmp_path, weights_path, monkeypatch):
    import nst_helpers as nst

    out = tmp_path / "out"
    parameters = fast_parameters(FURTHER_FAST, weights_path, out)
    notebook = run("further", parameters, tmp_path, monkeypatch)
    assert stderr_text(notebook, "imports") == "", "TensorFlow's start-up lines showed"
    assert sorted(p.name for p in out.iterdir()) == FURTHER_FILES
    with Image.open(out / "painting.gif") as gif:
        assert gif.format == "GIF" and gif.n_frames > 1
    recipe = nst.read_recipe(out / "recipe_demo.png")
    assert recipe["settings"]["max_dim"] == FURTHER_FAST["MAX_DIM"]
    assert recipe["inputs"]["content"]["name"] == CONTENT.name
    with Image.open(out / "mask.png") as mask:
        assert mask.mode == "L" and mask.getextrema() == (0, 255)


def test_prelude_catches_our_warnings():
    """The warning filter the run tests install matches our modules and the notebook's cells."""
    import warnings

    pattern = re.search(r'module=r"([^"]+)"', PRELUDE)[1]
    for module, caught in [
        ("nst_helpers", True),
        ("nst_helpers.notebook.widgets", True),
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
