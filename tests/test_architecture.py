"""The package's shape: layers that only import downwards, no import circles (lazy imports
included), no module named like a public function, and public names that survive every module
being imported."""

from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil
from pathlib import Path

import pytest

import nst_helpers

PACKAGE = Path(nst_helpers.__file__).parent

# The floors, ground first: a module may import its own floor or any floor below, never above.
# A dotted name (core.losses) puts that module on its own floor, apart from its folder's.
LAYERS = [
    ("errors", "checks", "machine", "_version"),
    ("files",),
    ("core.losses", "core.style_losses"),  # the formulas and the style losses' registry
    ("runs",),
    ("core",),
    ("scale",),
    ("show",),
    ("api", "folder", "sweeps"),
    ("notebook",),
    ("cli", "__main__"),
]


def floor(module: str) -> int:
    """The floor of a dotted module name under nst_helpers (the package itself: the top)."""
    parts = module.split(".")
    if parts == ["nst_helpers"]:
        return len(LAYERS)
    for length in (2, 1):  # the module itself (core.losses), else its folder (core)
        name = ".".join(parts[1 : 1 + length])
        for i, names in enumerate(LAYERS):
            if name in names:
                return i
    raise LookupError(f"{module} is on no floor of LAYERS")


def modules() -> list[str]:
    names = ["nst_helpers"]
    for info in pkgutil.walk_packages([str(PACKAGE)], "nst_helpers."):
        names.append(info.name)
    return sorted(names)


def source_of(module: str) -> Path:
    path = PACKAGE.joinpath(*module.split(".")[1:])
    return path / "__init__.py" if path.is_dir() else path.with_suffix(".py")


def imports_of(module: str) -> set[str]:
    """Every nst_helpers module `module` imports, at the top or inside a function (lazily)."""
    tree = ast.parse(source_of(module).read_text())
    package = module if source_of(module).name == "__init__.py" else module.rpartition(".")[0]
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: from . import x
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1])
                base = f"{base}.{node.module}" if node.module else base
            for alias in node.names:  # from nst_helpers.files import images: a module
                submodule = f"{base}.{alias.name}"
                found.add(submodule if submodule in ALL else base)
    return {name for name in found if name in ALL and name != module}


ALL = set(modules())
GRAPH = {module: imports_of(module) for module in ALL}


def test_every_module_is_on_a_floor():
    for module in ALL:
        floor(module)  # raises LookupError for a module outside LAYERS


def test_a_module_named_on_its_own_floor_leaves_its_folder():
    assert floor("nst_helpers.core.losses") < floor("nst_helpers.runs.settings")
    assert floor("nst_helpers.core.optimize") > floor("nst_helpers.runs.settings")


def test_no_module_imports_from_a_higher_floor():
    climbs = [
        f"{module} (floor {floor(module)}) imports {target} (floor {floor(target)})"
        for module, targets in GRAPH.items()
        for target in targets
        if module != "nst_helpers" and floor(target) > floor(module)
    ]
    assert not climbs, "\n".join(climbs)


def find_circle(graph: dict[str, set[str]]) -> list[str] | None:
    """A circle of imports as [a, b, ..., a], or None (depth-first search)."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for target in sorted(graph.get(node, ())):
            if state.get(target) == 1:
                return path[path.index(target) :] + [target]
            if target not in state and (circle := visit(target)):
                return circle
        state[node] = 2
        path.pop()
        return None

    for node in sorted(graph):
        if node not in state and (circle := visit(node)):
            return circle
    return None


def test_find_circle_finds_a_circle_and_passes_a_tree():
    assert find_circle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_circle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) is None


def test_the_import_graph_has_no_circle():
    graph = {m: t for m, t in GRAPH.items() if m != "nst_helpers"}  # the root imports lazily
    assert find_circle(graph) is None


def test_the_walk_sees_lazy_imports():
    # api imports the tiled run at the top; tile_jobs imports the optimizer inside a function.
    assert "nst_helpers.scale.tiled_run" in GRAPH["nst_helpers.api"]
    assert "nst_helpers.core.optimize" in GRAPH["nst_helpers.scale.tile_jobs"]


def test_no_module_shares_a_name_with_a_public_name():
    names = {module.rpartition(".")[2] for module in ALL}
    assert not names & set(nst_helpers.__all__)


def test_every_public_name_survives_importing_every_module():
    first = {name: getattr(nst_helpers, name) for name in nst_helpers.__all__}
    for module in sorted(ALL):
        importlib.import_module(module)
    for name, value in first.items():
        now = getattr(nst_helpers, name)
        assert now is value, f"nst_helpers.{name} became {now!r} after importing every module"
        assert not inspect.ismodule(now), name


@pytest.mark.slow
def test_public_functions_called_twice_after_importing_every_module(tmp_path):
    """The going-further notebook's trap: `nst.sweep(...)` run twice, after every import."""
    from PIL import Image

    for module in sorted(ALL):
        importlib.import_module(module)
    settings = nst_helpers.Settings.preset(
        "tutorial", arch="vgg16", weights=None, max_dim=32, steps=1, style_layers=("block1_conv1",)
    )
    content = Image.new("RGB", (40, 32), (200, 90, 40))
    style = Image.new("RGB", (32, 32), (20, 60, 200))
    for _ in range(2):
        results = nst_helpers.sweep(content, style, settings, "style_weight", [1.0, 10.0])
        assert len(results) == 2
        result = nst_helpers.stylize(content, style, settings.replace(optimizer="lbfgs"))
        assert result.best_image.size == (32, 26)
        assert nst_helpers.plan_run(content, style, settings).size == (32, 26)
        assert nst_helpers.gram_matrix is not None and nst_helpers.layer_names("vgg16")


def test_runs_import_without_tensorflow():
    import subprocess
    import sys

    below = ("nst_helpers.runs", "nst_helpers.files", "nst_helpers.core.losses",
             "nst_helpers.core.style_losses")  # fmt: skip
    runs = sorted(m for m in ALL if m.startswith(below))
    code = "import sys\n" + "".join(f"import {m}\n" for m in runs)
    code += "print(sorted(m for m in ('tensorflow', 'keras') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.slow
def test_stylize_reaches_the_loss_in_six_hops(monkeypatch, small_pair, tiny_extractor,
                                              tiny_settings):  # fmt: skip
    """The path docs/architecture.md draws, as the code takes it (Adam on plain pixels)."""
    import sys

    from nst_helpers.core import objective

    real, paths = objective.compute_losses, []

    def spy(*args, **kwargs):
        frames, frame = [], sys._getframe(1)
        while frame is not None:
            if Path(frame.f_code.co_filename).is_relative_to(PACKAGE):
                frames.append(frame.f_code.co_name)
            frame = frame.f_back
        paths.append(frames[::-1])
        return real(*args, **kwargs)

    monkeypatch.setattr(objective, "compute_losses", spy)
    nst_helpers.stylize(*small_pair, tiny_settings.replace(steps=2), extractor=tiny_extractor)
    hops = ["stylize", "optimize_levels", "optimize_level", "run", "_adam_step", "adam_step"]
    assert paths[0] == hops  # then compute_losses itself: six hops from stylize
