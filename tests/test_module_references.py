"""Every `nst_helpers.…` name in pyproject.toml, benchmarks/, docs/ and the README resolves.

Modules move (`nst_helpers.distributed` became `nst_helpers.scale.distributed`) and prose that
names them does not fail when they do. This reads each dotted name, and each `module:function`
entry point in [project.scripts], and checks that its longest importable prefix is a module and
the rest are attributes found on it in turn. The failure lists every name that does not resolve,
with the file it is in.
"""

from __future__ import annotations

import importlib
import importlib.util
import re
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
FILES = ["pyproject.toml", "README.md", "benchmarks/*.py", "benchmarks/*.sh", "docs/*.md"]
NAME = re.compile(r"\bnst_helpers(?:\.[A-Za-z_]\w*)+")
# benchmarks/startup.py also times checkouts from before the re-housing into subpackages: its
# fallback import names the old flat layout on purpose.
OLD_LAYOUT = {("benchmarks/startup.py", "nst_helpers.terminal")}


def resolves(name: str) -> bool:
    """Whether `name` is a module, or a module followed by attributes found on it in turn."""
    parts = name.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            if importlib.util.find_spec(".".join(parts[:cut])) is not None:
                break
        except ModuleNotFoundError:  # a prefix is a module, not a package
            continue
    found = importlib.import_module(".".join(parts[:cut]))
    for attribute in parts[cut:]:
        if not hasattr(found, attribute):
            return False
        found = getattr(found, attribute)
    return True


def test_every_module_path_named_outside_the_package_resolves():
    named = set()
    for pattern in FILES:
        for path in sorted(ROOT.glob(pattern)):
            where = path.relative_to(ROOT).as_posix()
            named |= {(where, name) for name in NAME.findall(path.read_text())}
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    named |= {("pyproject.toml", target.replace(":", ".")) for target in scripts.values()}
    assert len(named) > 20 and OLD_LAYOUT.issubset(named)  # the scan works; no stale exception
    unresolved = sorted(ref for ref in named - OLD_LAYOUT if not resolves(ref[1]))
    assert not unresolved, "names that do not resolve:\n" + "\n".join(
        f"  {where}: {name}" for where, name in unresolved
    )
