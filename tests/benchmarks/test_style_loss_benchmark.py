"""benchmarks/style_loss.py: its default rule, its page rendered from the stored JSON alone, and
a smoke run with the real weights and judge."""

from __future__ import annotations

import json
import sys

import pytest

from conftest import ROOT

sys.path.insert(0, str(ROOT / "benchmarks"))
import style_loss  # noqa: E402


def record(**modes) -> dict:
    """A pair's record: {mode: [(content, style, style_w2) at each checkpoint]} (one run)."""
    runs = {
        mode: [{"at": {str(t): dict(zip(style_loss.DISTANCES, p, strict=True))
                       for t, p in zip((60, 240), points, strict=True)}}]
        for mode, points in modes.items()
    }  # fmt: skip
    return {"pair": "a x b", "photo": {"content": 0.0, "style": 1, "style_w2": 1}, "runs": runs}


def test_a_w2_mode_is_chosen_only_at_or_below_gram_on_every_distance_pair_and_time():
    gram = [(1.0, 0.3, 0.3), (1.0, 0.2, 0.2)]
    better = [(1.0, 0.3, 0.2), (0.9, 0.2, 0.1)]
    worse_content = [(1.0, 0.2, 0.2), (1.1, 0.1, 0.1)]  # more stylized, less of the photo
    data = {"setting": {"at": (60, 240)}}
    names = list(style_loss.MODES)
    two = {names[0]: gram, names[1]: better, names[2]: worse_content}
    assert style_loss.verdict({**data, "pairs": [record(**two)]}) == f"yes ({names[1]})"
    one_bad_pair = record(**{names[0]: gram, names[1]: worse_content, names[2]: worse_content})
    assert style_loss.verdict({**data, "pairs": [record(**two), one_bad_pair]}) == "no"


def test_committed_page_is_rendered_from_its_json():
    data = json.loads(style_loss.RESULTS.read_text())
    assert data["setting"]["max_dim"] == 512 and len(data["pairs"]) == 4
    page = (style_loss.RESULTS.parent / "STYLE_LOSS.md").read_text()
    assert page == style_loss.render(data)
    for pair in data["pairs"]:
        assert (style_loss.RESULTS.parent / pair["side_by_side"]).is_file()
        assert set(pair["runs"]) == set(style_loss.MODES)


@pytest.mark.slow
@pytest.mark.real_weights
def test_smoke_run_judges_every_mode_on_three_distances(weights_path, tmp_path):
    import judge

    if not judge.HED_WEIGHTS.is_file():
        pytest.fail(f"the judge needs {judge.HED_WEIGHTS}")
    out = tmp_path / "sl.json"
    args = ["--setting", "smoke", "--repeats", "1", "--weights", str(weights_path)]
    assert style_loss.main([*args, "--out", str(out)]) == 0
    (pair,) = json.loads(out.read_text())["pairs"]
    for mode in style_loss.MODES:
        (run,) = pair["runs"][mode]
        last = run["last"]  # the checkpoints may come before a slow machine's first judgement
        assert set(style_loss.DISTANCES) <= set(last) and last["style"] < pair["photo"]["style"]
    assert (tmp_path / "sl.md").read_text() == style_loss.render(json.loads(out.read_text()))
    assert (tmp_path / pair["side_by_side"]).is_file()
    # --resume adds runs up to --repeats and keeps the stored ones and their date.
    first = json.loads(out.read_text())
    assert style_loss.main([*args[:2], "--repeats", "2", *args[4:], "--out", str(out),
                            "--resume"]) == 0  # fmt: skip
    resumed = json.loads(out.read_text())
    (pair,) = resumed["pairs"]
    for mode in style_loss.MODES:
        assert pair["runs"][mode][0] == first["pairs"][0]["runs"][mode][0]
        assert len(pair["runs"][mode]) == 2
    assert resumed["measured"] == first["measured"] and len(resumed["resumed"]) == 1
    assert "Runs added later (`--resume`)" in (tmp_path / "sl.md").read_text()
    # Resumed again with nothing left to run, it runs nothing and keeps the side-by-side image.
    sheet = (tmp_path / pair["side_by_side"]).read_bytes()
    assert style_loss.main([*args[:2], "--repeats", "2", *args[4:], "--out", str(out),
                            "--resume"]) == 0  # fmt: skip
    assert json.loads(out.read_text()) == resumed  # nothing ran, so nothing was written
    assert (tmp_path / pair["side_by_side"]).read_bytes() == sheet


def test_resume_runs_only_the_pairs_short_of_the_repeats(monkeypatch, tmp_path):
    """A stored run cut short (3, 3, 3 and 2 runs): only the fourth pair runs again."""
    stored = {"setting": style_loss.SETTINGS["full"], "measured": {"date": "then"}, "pairs": []}
    for i, (content, style) in enumerate(style_loss.ttq.PAIRS[:4]):
        runs = {mode: [{"n": n} for n in range(3 if i < 3 else 2)] for mode in style_loss.MODES}
        stored["pairs"].append({"pair": f"{content} x {style}", "runs": runs})
    out = tmp_path / "sl.json"
    out.write_text(json.dumps(stored))
    calls = []

    def run_pair(content, style, setting, weights, judge, repeats, folder, record):
        calls.append((content, style, repeats))
        for runs in record["runs"].values():
            runs.append({"n": "new"})
        return record

    monkeypatch.setattr(style_loss, "run_pair", run_pair)
    monkeypatch.setattr(style_loss, "Judge", lambda: None)
    monkeypatch.setattr(style_loss, "render", lambda data: "page")
    assert style_loss.main(["--resume", "--repeats", "3", "--out", str(out)]) == 0
    assert calls == [(*style_loss.ttq.PAIRS[3], 3)]
    saved = json.loads(out.read_text())
    assert [len(p["runs"]["gram"]) for p in saved["pairs"]] == [3, 3, 3, 3]
    assert saved["measured"] == {"date": "then"} and len(saved["resumed"]) == 1
