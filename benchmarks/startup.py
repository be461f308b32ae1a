"""Start-up of one CLI run: seconds from the process start to the first step, and how many times
each input file is decoded on the way.

Each run is a fresh process (`nst CONTENT STYLE --steps 1`, the real VGG16 weights), so the time
includes importing TensorFlow and building the network, as a user waits for it. The first step is
the first call of `tf.GradientTape.gradient` (the first step's tracing starts there); a decode is
a Pillow image opened from the file whose pixels are then loaded (header reads don't count).

    python benchmarks/startup.py                                  # this checkout
    python benchmarks/startup.py before=../old after=.            # two checkouts, in turn

Writes benchmarks/startup.json (an entry per label, replaced on a rerun) and STARTUP.md from it.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CONTENT = ROOT / "images" / "content" / "cat.jpg"
STYLE = ROOT / "images" / "style" / "swirl.jpg"
WEIGHTS = ROOT.parent / "shared" / "weights" / "vgg16_tv_imagenet_notop.weights.h5"
RESULTS = Path(__file__).with_name("startup.json")
PAGE = Path(__file__).with_name("STARTUP.md")

# Runs in the child process: patches Pillow and TensorFlow to watch, then runs the CLI's main.
CHILD = r"""
import json, os, sys, time
started = time.perf_counter()
from PIL import Image
watched = {os.path.realpath(p): 0 for p in sys.argv[1:3]}
first_step = []
real_open = Image.open

def counting_open(fp, *args, **kwargs):
    img = real_open(fp, *args, **kwargs)
    name = os.path.realpath(fp if isinstance(fp, (str, os.PathLike)) else getattr(fp, "name", ""))
    if name in watched:
        load, done = img.load, []

        def counted_load(*a, **k):
            if not done:
                done.append(1)
                watched[name] += 1
            return load(*a, **k)

        img.load = counted_load
    return img

Image.open = counting_open
try:
    from nst_helpers.cli.terminal import import_tensorflow_quietly
except ImportError:  # the flat layout before the re-housing
    from nst_helpers.terminal import import_tensorflow_quietly
import_tensorflow_quietly()
import tensorflow as tf
real_gradient = tf.GradientTape.gradient

def gradient(self, *args, **kwargs):
    if not first_step:
        first_step.append(time.perf_counter() - started)
    return real_gradient(self, *args, **kwargs)

tf.GradientTape.gradient = gradient
try:
    from nst_helpers.cli.command import main
except ImportError:  # the flat layout before the re-housing
    from nst_helpers.cli import main
code = main(sys.argv[1:])
import nst_helpers
package = os.path.dirname(nst_helpers.__file__)
print(json.dumps({"code": code, "package": package,
                  "first_step_s": first_step[0] if first_step else None,
                  "total_s": time.perf_counter() - started,
                  "decodes": list(watched.values())}))
"""


def one_run(code_dir: Path, content: Path, max_dim: int, weights: Path, out: Path) -> dict:
    env = {**os.environ, "PYTHONPATH": str(code_dir), "TF_CPP_MIN_LOG_LEVEL": "3"}
    args = [str(content), str(STYLE), "-o", str(out), "--max-dim", str(max_dim), "--steps", "1"]
    args += ["--arch", "vgg16", "--weights", str(weights)]  # not -q: the memory note too
    # cwd: the output's folder, so `python -c` finds the package on PYTHONPATH, not in the cwd.
    done = subprocess.run([sys.executable, "-c", CHILD, *args], env=env, capture_output=True,
                          text=True, check=False, cwd=out.parent)  # fmt: skip
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode or not lines or json.loads(lines[-1])["code"] != 0:
        raise SystemExit(f"the run failed ({done.returncode}):\n{done.stderr[-2000:]}")
    run = json.loads(lines[-1])
    if Path(run["package"]).resolve() != (code_dir / "nst_helpers").resolve():
        raise SystemExit(f"ran the package in {run['package']}, not the one in {code_dir}")
    return run


def photo(folder: Path, megapixels: float) -> Path:
    """cat.jpg enlarged to about `megapixels` million pixels, saved as a JPEG in `folder`."""
    from PIL import Image

    with Image.open(CONTENT) as img:
        scale = (megapixels * 1e6 / (img.width * img.height)) ** 0.5
        big = img.convert("RGB").resize((round(img.width * scale), round(img.height * scale)))
    path = folder / "photo.jpg"
    big.save(path, quality=90)
    return path


def render(data: dict) -> str:
    rows = [
        "# Start-up: from `nst` to the first step",
        "",
        "Rendered by `benchmarks/startup.py` from [startup.json](startup.json). Each row: the",
        "median of its runs, each a fresh process running `nst CONTENT swirl.jpg --steps 1",
        "--arch vgg16` (not quiet: the memory note is printed) with the real VGG16 weights",
        "(TensorFlow's import and the network's build included). Decodes: how many times the",
        "content and the style file were decoded (header reads not counted).",
        "",
        "| code | content | max_dim | runs | to the first step, s (median) | each run, s |"
        " content decodes | style decodes |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for label, entry in data["runs"].items():
        times = entry["first_step_s"]
        rows.append(
            f"| {label} | {entry['content']} | {entry['max_dim']} | {len(times)} | "
            f"{statistics.median(times):.2f} | "
            f"{', '.join(f'{t:.2f}' for t in times)} | {entry['decodes'][0]} | "
            f"{entry['decodes'][1]} |"
        )
    rows += ["", f"Machine: {data['machine']}. {data.get('note', '')}".rstrip(), ""]
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "codes",
        nargs="*",
        default=[f"this={ROOT}"],
        help="LABEL=CHECKOUT pairs, run in turn (default: this=this checkout)",
    )
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--max-dim", type=int, default=512)
    parser.add_argument("--weights", type=Path, default=WEIGHTS)
    parser.add_argument(
        "--megapixels",
        type=float,
        default=0,
        help="content: cat.jpg enlarged "
        "to a JPEG photo of this many megapixels (default 0: cat.jpg itself)",
    )
    parser.add_argument("--note", default=None, help="a line for the page, e.g. the commits")
    args = parser.parse_args(argv)
    codes = dict(code.split("=", 1) for code in args.codes)
    runs: dict[str, list] = {label: [] for label in codes}
    with tempfile.TemporaryDirectory() as tmp:
        content = CONTENT if not args.megapixels else photo(Path(tmp), args.megapixels)
        for i in range(args.repeats):  # interleaved: each code sees the same machine
            for label, code in codes.items():
                out = Path(tmp) / f"{label}{i}.png"
                runs[label].append(
                    one_run(Path(code).resolve(), content, args.max_dim, args.weights, out)
                )
                print(label, runs[label][-1], flush=True)
    data = json.loads(RESULTS.read_text()) if RESULTS.exists() else {"runs": {}}
    cores = f"{os.cpu_count()} cores, {platform.machine()}"
    data["machine"] = f"{cores}, Python {platform.python_version()}"
    if args.note:
        data["note"] = args.note
    for label, done in runs.items():
        data["runs"][label + (f", {args.megapixels:g} MP photo" if args.megapixels else "")] = {
            "content": content.name
            if not args.megapixels
            else f"cat.jpg at {args.megapixels:g} MP",
            "max_dim": args.max_dim,
            "first_step_s": [round(r["first_step_s"], 3) for r in done],
            "total_s": [round(r["total_s"], 3) for r in done],
            "decodes": done[0]["decodes"],
        }
    RESULTS.write_text(json.dumps(data, indent=1) + "\n")
    PAGE.write_text(render(data))
    print(render(data))
    return 0


if __name__ == "__main__":
    sys.exit(main())
