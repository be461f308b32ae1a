"""requirements.txt: the notebooks' local set-up stays consistent with pyproject.toml.

pyproject.toml is the one place that names the package's dependencies and their versions;
requirements.txt installs this checkout with its notebook extra and adds only Jupyter, with
lower bounds that Google Colab's versions (constraints-colab.txt) satisfy.
"""

from __future__ import annotations

import re
import sys

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from conftest import ROOT

if sys.version_info >= (3, 11):
    import tomllib
else:  # Python 3.10: the same parser, as a package (in the test extra)
    import tomli as tomllib

PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def requirement_lines() -> list[str]:
    text = (ROOT / "requirements.txt").read_text()
    return [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")]


def other_requirements() -> list[Requirement]:
    return [Requirement(line) for line in requirement_lines() if not line.startswith("-e")]


def colab_versions() -> dict[str, str]:
    """{package: version} from constraints-colab.txt (a trailing ".*" dropped)."""
    versions = {}
    for line in (ROOT / "constraints-colab.txt").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            requirement = Requirement(line)
            (spec,) = requirement.specifier
            versions[canonicalize_name(requirement.name)] = spec.version.removesuffix(".*")
    return versions


def test_installs_this_checkout_with_its_notebook_extra():
    editable = [line for line in requirement_lines() if line.startswith("-e")]
    assert editable == ["-e .[notebook]"]
    assert "notebook" in PYPROJECT["optional-dependencies"]


def test_adds_jupyter_and_no_dependency_of_the_package():
    """Versions of the package's own dependencies live in pyproject.toml only."""
    names = {canonicalize_name(r.name) for r in other_requirements()}
    assert "notebook" in names
    declared = PYPROJECT["dependencies"] + PYPROJECT["optional-dependencies"]["notebook"]
    ours = {canonicalize_name(Requirement(entry).name) for entry in declared}
    assert names.isdisjoint(ours), f"repeated from pyproject.toml: {names & ours}"


def test_lower_bounds_only():
    for requirement in other_requirements():
        operators = {spec.operator for spec in requirement.specifier}
        assert operators == {">="}, f"{requirement}: give a lower bound (>=) and nothing else"


def test_lower_bounds_are_at_or_below_colabs_versions():
    colab = colab_versions()
    assert colab, "constraints-colab.txt lists Colab's versions"
    entries = PYPROJECT["dependencies"] + PYPROJECT["optional-dependencies"]["notebook"]
    requirements = [Requirement(entry) for entry in entries] + other_requirements()
    for requirement in requirements:
        version = colab.get(canonicalize_name(requirement.name))
        if version is not None:
            assert requirement.specifier.contains(Version(version)), (requirement, version)


def test_every_lower_bound_is_the_version_ci_tests():
    """The package's lower bounds are not promises of versions never installed: each is the
    version the README's test command installs (constraints-colab.txt)."""
    tested = colab_versions()
    for entry in PYPROJECT["dependencies"]:
        requirement = Requirement(entry)
        (spec,) = requirement.specifier
        assert spec.operator == ">=", entry
        name = canonicalize_name(requirement.name)
        assert name in tested, f"{name} is not pinned in constraints-colab.txt, so not tested"
        low, pinned = Version(spec.version).release, Version(tested[name]).release
        assert pinned[: len(low)] == low, f"{entry}: CI tests {tested[name]}"


def test_readme_shows_the_requirements_path():
    readme = (ROOT / "README.md").read_text()
    assert re.search(r"pip install -r requirements\.txt", readme)
