"""How long the main notebook takes top to bottom at its own parameters, on this machine.

    python benchmarks/notebook_time.py            # VGG16 with the offline weights (~5 min)
    python benchmarks/notebook_time.py --render   # NOTEBOOK_TIME.md again from its JSON

The notebook's defaults are VGG19 with ImageNet weights, which cannot download here: this runs
every other parameter as the notebook has it, with ARCH = "vgg16" and the offline VGG16 file
(and the VGG16/VGG19 cell's other network with random weights, the same speed). Each code cell
is timed (nbclient's start and end stamps); the page lists the slowest. `--smoke` runs it at
tiny sizes (for the tests).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parent
ROOT = BENCHMARKS.parent
sys.path.insert(0, str(BENCHMARKS))
import report  # noqa: E402
from tiles import WEIGHTS  # noqa: E402

JSON, MARKDOWN = "notebook_time.json", "NOTEBOOK_TIME.md"
NOTEBOOK = ROOT / "notebooks" / "neural_style_transfer.ipynb"
SMOKE = {"MAX_DIM": 64, "STEPS": 12, "PREVIEW_DIM": 48, "PREVIEW_STEPS": 4}
SHOWN = 6  # the slowest cells listed on the page


def cell_seconds(cell) -> float:
    stamps = cell.get("metadata", {}).get("execution", {})
    start, end = stamps.get("iopub.execute_input"), stamps.get("shell.execute_reply")
    if not (start and end):
        return 0.0
    parse = datetime.fromisoformat
    return (parse(end.replace("Z", "+00:00")) - parse(start.replace("Z", "+00:00"))).total_seconds()


def measure(smoke: bool) -> dict:
    import nbformat
    from nbclient import NotebookClient

    notebook = nbformat.read(NOTEBOOK, as_version=4)
    index = next(
        i for i, c in enumerate(notebook.cells) if "parameters" in c.metadata.get("tags", [])
    )
    with tempfile.TemporaryDirectory() as out:
        changes = {"ARCH": "vgg16", "WEIGHTS": WEIGHTS, "OTHER_WEIGHTS": None, "OUTPUT_DIR": out}
        changes |= SMOKE if smoke else {}
        injected = "\n".join(f"{name} = {value!r}" for name, value in changes.items())
        notebook.cells.insert(index + 1, nbformat.v4.new_code_cell(injected, id="timing"))
        os.environ["PYTHONPATH"] = os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])
        client = NotebookClient(notebook, timeout=1800, kernel_name="python3",
                                record_timing=True,
                                resources={"metadata": {"path": str(NOTEBOOK.parent)}})  # fmt: skip
        started = time.perf_counter()
        client.execute()
        seconds = time.perf_counter() - started
    parameters = notebook.cells[index]
    notebook.cells.pop(index + 1)  # the injected cell: the rest are numbered as shipped
    cells = [
        {
            "index": i,
            "first_line": c.source.splitlines()[0][:70],
            "seconds": round(cell_seconds(c), 1),
        }
        for i, c in enumerate(notebook.cells)
        if c.cell_type == "code" and c.source.strip()
    ]
    shown = injected.replace(out, "OUT").replace(str(ROOT.parent), "..")  # no machine's paths
    return {"parameters_cell": parameters.source, "injected": shown,
            "seconds": round(seconds, 1), "cells": cells}  # fmt: skip


def render(data: dict) -> str:
    slowest = sorted(data["cells"], key=lambda c: -c["seconds"])[:SHOWN]
    return "\n".join([
        "# The main notebook, top to bottom",
        "",
        f"Written by benchmarks/notebook_time.py from {JSON}. Measured "
        f"{report.measured_line(data['measured'])}: the notebook's own parameters, except these:",
        "",
        "```text",
        data["injected"],
        "```",
        "",
        f"All of it took **{data['seconds'] / 60:.1f} min** (the kernel's start included). The "
        "slowest cells:",
        "",
        report.table(["cell", "first line", "seconds"],
                     [[str(c["index"]), f"`{c['first_line']}`", f"{c['seconds']:.1f}"]
                      for c in slowest]),
        "",
    ])  # fmt: skip


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, few steps")
    parser.add_argument("--render", action="store_true", help="only rebuild the markdown")
    parser.add_argument("--folder", type=Path, default=BENCHMARKS, help="where results go")
    args = parser.parse_args(argv)
    measuring = None if args.render else lambda: measure(args.smoke)
    report.measure_or_load(args.folder, "notebook_time.py", (JSON, MARKDOWN), render, measuring)


if __name__ == "__main__":
    main()
