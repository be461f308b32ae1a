"""The benchmarks' judge (a second VGG16): its distances on analytic cases, and the Pareto rule."""

from __future__ import annotations

import sys

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from conftest import CONTENT, ROOT, STYLE, gradient_image

sys.path.insert(0, str(ROOT / "benchmarks"))
import judge  # noqa: E402


def test_relative_distance_is_zero_for_equal_and_invariant_to_scale():
    rng = np.random.default_rng(0)
    target, value = rng.random((3, 5)), rng.random((3, 5))
    assert judge.relative_distance(target, target) == 0.0
    # ||v - t|| / ||t||, by hand
    expected = np.linalg.norm(value - target) / np.linalg.norm(target)
    assert judge.relative_distance(value, target) == pytest.approx(expected, rel=1e-12)
    # Scaling both (a judge with k-times larger activations) changes nothing.
    assert judge.relative_distance(7.0 * value, 7.0 * target) == pytest.approx(expected)


def test_gram_scaling_leaves_the_style_distance_unchanged():
    import nst_helpers as nst

    features = tf.random.stateless_uniform((1, 6, 5, 4), seed=(1, 2))
    other = tf.random.stateless_uniform((1, 6, 5, 4), seed=(3, 4))
    plain = judge.relative_distance(nst.gram_matrix(other), nst.gram_matrix(features))
    scaled = judge.relative_distance(nst.gram_matrix(3 * other), nst.gram_matrix(3 * features))
    assert nst.gram_matrix(3 * features).numpy() == pytest.approx(9 * nst.gram_matrix(features))
    assert scaled == pytest.approx(plain, rel=1e-6)


def test_pareto_rule_needs_both_distances():
    base = judge.Scores(content=0.5, style=0.4)
    assert judge.Scores(0.5, 0.4).at_or_below(base)  # equal counts
    assert judge.Scores(0.4, 0.3).at_or_below(base)
    assert not judge.Scores(0.4, 0.5).at_or_below(base)  # more stylized is not enough
    assert not judge.Scores(0.6, 0.1).at_or_below(base)


def test_content_scores_zero_content_and_the_style_image_scores_zero_style():
    rater = judge.Judge(weights=None)  # random weights: the identities hold for any network
    content, style = gradient_image(48, 40, seed=0), gradient_image(60, 60, seed=1)
    photo = rater.score(content, content, style)
    assert photo.content == 0.0 and photo.style > 0.05 and photo.style_w2 > 0.05
    # The style image, as the result, at the content's size (the judge resizes both to it).
    painting = style.resize(content.size, Image.Resampling.LANCZOS)
    scores = rater.score(painting, content, style)
    assert scores.style == pytest.approx(0.0, abs=1e-6)
    # a square root of float32 rounding (W2^2 is a difference of traces of ~1e-9 relative
    # error): 3.4e-5 with TF 2.21 on one CPU
    assert scores.style_w2 == pytest.approx(0.0, abs=1e-4)
    # Arrays in [0, 1] score the same as the PIL image they make.
    array = np.asarray(content, np.float32) / 255.0
    assert rater.score(array, content, style) == photo


def test_other_families_score_zero_where_the_result_is_the_photo_or_the_painting():
    rater = judge.Judge(weights=None)  # random weights: the identities hold for any network
    content, style = gradient_image(48, 40, seed=0), gradient_image(60, 60, seed=1)
    photo = rater.other_families(content, content, style)
    assert photo["content_self_similarity"] == 0.0
    assert photo["style_sw"] > 0.01 and photo["style_nn"] > 0 and photo["chroma"] > 0
    painting = rater.other_families(judge._resized(style, content.size), content, style)
    for name in ("style_sw", "style_nn", "style_nn_back"):
        assert painting[name] == pytest.approx(0.0, abs=1e-12), name
    assert painting["chroma"] == pytest.approx(0.0, abs=1e-7)
    assert painting["content_self_similarity"] > 0.0


@pytest.mark.real_weights
def test_hed_judge_ranks_a_stylized_image_between_photo_and_painting(weights_path):
    if not judge.HED_WEIGHTS.is_file():
        pytest.fail(f"the judge needs {judge.HED_WEIGHTS}")
    rater = judge.Judge()
    content, style = Image.open(CONTENT).convert("RGB"), Image.open(STYLE).convert("RGB")
    size = (128, 85)
    content = content.resize(size)
    photo = rater.score(content, content, style)
    mixed = Image.blend(content, style.resize(size), 0.5)
    half = rater.score(mixed, content, style)
    assert photo.content == 0.0
    assert half.content > 0.0 and half.style < photo.style
    assert half.style_w2 < photo.style_w2  # the second style distance agrees


def test_w2_distance_is_scale_free_and_the_root_of_the_closed_form():
    from nst_helpers.core.losses import gaussian_moments

    # One channel: N(1, 2^2) against N(4, 0.5^2) has W2^2 = 9 + 2.25; E|f_target|^2 = 16 + 0.25.
    rng = np.random.default_rng(0)
    raw = rng.standard_normal(4096)
    unit = (raw - raw.mean()) / raw.std()

    def moments(mean, sd, scale=1.0):
        values = scale * (mean + sd * unit)
        return gaussian_moments(tf.constant(values[None, :, None, None], tf.float64))

    expected = (11.25 / 16.25) ** 0.5
    assert judge.w2_distance(moments(1, 2), moments(4, 0.5)) == pytest.approx(expected, rel=1e-4)
    scaled = judge.w2_distance(moments(1, 2, 30.0), moments(4, 0.5, 30.0))
    assert scaled == pytest.approx(expected, rel=1e-4)


def test_default_mode_is_the_one_with_the_best_slowest_pair_ratio():
    import time_to_quality as ttq

    def record(**ratios):
        return {"modes": {name: {"ratio": ratio} for name, ratio in ratios.items()}}

    records = [record(a=20.0, b=30.0, c=50.0), record(a=16.0, b=12.0, c=None)]
    # c is fastest on one pair but never reaches the target on the other: it can't be default;
    # of a (slowest pair 16x) and b (slowest pair 12x), a, though b is faster on the first pair.
    assert ttq.choose_default(records) == "a"
    # The rule is the slowest pair, not the sum or the mean: e (10x, 40x) beats neither.
    assert ttq.choose_default([record(a=20.0, e=40.0), record(a=16.0, e=10.0)]) == "a"
    assert ttq.choose_default([record(a=None), record(a=2.0)]) is None
    # d is fastest where it ran, but it did not run on the second pair.
    assert ttq.choose_default([record(a=20.0, d=99.0), record(a=16.0)]) == "a"


def test_the_cli_default_has_the_best_slowest_pair_median_of_the_stored_runs():
    import json

    import time_to_quality as ttq
    import ttq_tuning

    from nst_helpers.runs.presets import CLI_PRESET

    # The committed repeats: 3 runs of each mode on every pair, against a full run's targets.
    data = json.loads((ttq.RESULTS.parent / "ttq_tuning_noise.json").read_text())
    assert data["setting"]["max_dim"] == 512 and len(data["pairs"]) >= 4
    winner = ttq.choose_default(data["pairs"])
    assert winner is not None, "no mode reached the target on every pair"
    assert all(len(record["modes"][winner]["runs"]) >= 3 for record in data["pairs"])
    # What was measured is what the script still names so.
    measured_as = [record["modes"][winner]["changes"] for record in data["pairs"]]
    assert measured_as == [ttq_tuning.CANDIDATES[winner]] * len(data["pairs"])
    # The CLI's preset is the winner's settings, on the plain loop's objective.
    plain = ttq.plain_settings(data["setting"], "weights.h5")
    measured = ttq.mode_settings(plain, ttq_tuning.CANDIDATES[winner], data["setting"])
    assert ttq.mode_settings(plain, {"preset": CLI_PRESET}, data["setting"]) == measured
    # The time-to-quality script measures it as its first mode.
    assert next(iter(ttq.MODES.values())) == {"preset": CLI_PRESET}


def test_scores_at_a_time_are_the_last_judged_before_it():
    import time_to_quality as ttq

    trace = [
        {"seconds": s, "content": c, "style": 1.0} for s, c in ((5, 0.1), (50, 0.2), (70, 0.3))
    ]
    assert ttq.at_time(trace, 60)["content"] == 0.2
    assert ttq.at_time(trace, 4) is None


@pytest.mark.slow
@pytest.mark.real_weights
def test_time_to_quality_smoke_run_writes_json_markdown_and_a_side_by_side(weights_path, tmp_path):
    import json

    import time_to_quality as ttq

    out = tmp_path / "ttq.json"
    assert ttq.main(["--setting", "smoke", "--weights", str(weights_path), "--out", str(out)]) == 0
    data = json.loads(out.read_text())
    (record,) = data["pairs"]
    assert record["pair"] == "cat x swirl" and record["plain_steps"] == 6
    assert (
        record["photo"]["content"] == 0.0 and record["photo"]["style"] > record["target"]["style"]
    )
    assert set(record["modes"]) == set(ttq.MODES)
    page = (tmp_path / "TTQ.md").read_text()  # named after the JSON file
    assert page == ttq.render(data) and "cat x swirl" in page
    assert (tmp_path / record["side_by_side"]).is_file()
    (tmp_path / "TTQ.md").unlink()
    assert ttq.main(["--render", "--out", str(out)]) == 0  # the markdown from the JSON alone
    assert (tmp_path / "TTQ.md").read_text() == page


@pytest.mark.slow
@pytest.mark.real_weights
def test_tuning_runs_candidates_against_a_stored_target_until_reached_or_capped(
    weights_path, tmp_path
):
    import json
    import time

    import report
    import time_to_quality as ttq
    import ttq_tuning

    stored, measured = tmp_path / "full.json", report.measured(time.time())
    pair = {"pair": "cat x swirl", "plain_seconds": 120.0}
    reachable = {**pair, "target": {"content": 10.0, "style": 10.0}}  # any image is at or below
    stored.write_text(json.dumps({"setting": ttq.SETTINGS["smoke"], "measured": measured,
                                  "pairs": [reachable]}))  # fmt: skip
    out = tmp_path / "tuning.json"
    name = "style weight 15"
    argv = ["--only", name, "--weights", str(weights_path), "--against", str(stored)]
    assert ttq_tuning.main([*argv, "--out", str(out), "--min-ratio", "40", "--repeats", "2"]) == 0
    mode = json.loads(out.read_text())["pairs"][0]["modes"][name]
    assert len(mode["runs"]) == 2 and mode["seconds_to_target"] in mode["runs"]
    every = min(ttq.LBFGS_EVERY, ttq.SETTINGS["smoke"]["every"])
    assert mode["steps_to_target"] == every  # its first judged image is at the target
    assert mode["ratio"] == pytest.approx(120.0 / mode["seconds_to_target"])
    assert mode["cap"] == 3.0 and mode["changes"]["style_weight"] == 15.0

    unreachable = {**pair, "target": {"content": -1.0, "style": -1.0}}
    stored.write_text(json.dumps({"setting": ttq.SETTINGS["smoke"], "measured": measured,
                                  "pairs": [unreachable]}))  # fmt: skip
    assert ttq_tuning.main([*argv, "--out", str(out), "--min-ratio", "40"]) == 0
    mode = json.loads(out.read_text())["pairs"][0]["modes"][name]
    assert mode["ratio"] is None and 2.5 < mode["last"]["seconds"] <= 3.5  # stopped at the cap
    page = (tmp_path / "TUNING.md").read_text()
    assert "not in 3 s" in page and "(target -1.000 / -1.000)" in page


@pytest.mark.slow
@pytest.mark.real_weights
def test_gpu_check_runs_on_a_cpu_at_a_tiny_size(weights_path, tmp_path):
    import json

    import gpu_check

    out = tmp_path / "gpu_check.json"
    args = ["--weights", str(weights_path), "--sizes", "32", "--archs", "vgg16", "--steps", "1"]
    args += ["--match-steps", "3", "--match-dim", "48", "--skip-judged", "--out", str(out)]
    assert gpu_check.main(args) == 0
    data = json.loads(out.read_text())
    configs = {(row["precision"], row["xla"]) for row in data["steps"]}
    assert configs == {("float32", False), ("float32", True), ("float16", False), ("float16", True)}
    assert all(row["seconds_per_step"] > 0 for row in data["steps"])
    match = data["float16"]
    assert match["float32"]["nan"] is False and isinstance(match["matches"], bool)
    assert "GPU check" in (tmp_path / "GPU_CHECK.md").read_text()


def test_gpu_check_hands_time_to_quality_the_cli_default_and_the_plain_loop(monkeypatch, tmp_path):
    """The wiring only (no network runs: the real run is time_to_quality's own smoke test)."""
    import gpu_check
    import time_to_quality as ttq

    from nst_helpers.runs.presets import CLI_PRESET

    calls = []
    monkeypatch.setattr(ttq, "run_pair", lambda *args: calls.append(args) or {"pair": "x"})
    monkeypatch.setattr(judge, "Judge", lambda: "the judge")
    (tmp_path / "hed.weights.h5").write_bytes(b"")
    monkeypatch.setattr(judge, "HED_WEIGHTS", tmp_path / "hed.weights.h5")  # a file that exists
    assert gpu_check.judged("weights.h5", 512, cap=60) == {"pair": "x"}
    ((content, style, setting, weights, rater, _folder, modes),) = calls
    assert (content, style, weights, rater) == ("cat", "swirl", "weights.h5", "the judge")
    assert setting["max_dim"] == 512 and setting["cap"] == 60 and setting["plain_steps"] == 1000
    assert list(modes.values()) == [{"preset": CLI_PRESET}]


def test_committed_time_to_quality_pages_are_rendered_from_their_json():
    import json

    import time_to_quality as ttq
    import ttq_tuning

    folder = ttq.RESULTS.parent  # superseded runs are kept, still rendered, in archive/
    runs = ("time_to_quality.json", "time_to_quality_second.json",
            "archive/time_to_quality_rerun.json")  # fmt: skip
    pages = dict.fromkeys(runs, ttq.render)
    tuning = (
        "archive/ttq_tuning.json",
        "archive/ttq_tuning_rerun.json",
        "archive/ttq_tuning_repeats.json",
        "ttq_tuning_noise.json",
    )
    pages |= dict.fromkeys(tuning, ttq_tuning.render)
    for name, render in pages.items():
        data = json.loads((folder / name).read_text())
        assert ttq.markdown_path(folder / name).read_text() == render(data), name


def test_tuning_takes_the_median_run_and_counts_a_miss_as_slowest():
    import ttq_tuning

    def runs(*seconds):
        return [{"seconds_to_target": t, "id": i} for i, t in enumerate(seconds)]

    assert ttq_tuning.median_run(runs(30.0, None, 10.0))["id"] == 0  # 10, 30, miss
    assert ttq_tuning.median_run(runs(None, None, 5.0))["id"] in (0, 1)  # the median missed
    assert ttq_tuning.median_run(runs(8.0, 4.0))["id"] == 0  # even count: the upper one
    assert ttq_tuning.median_run(runs(7.0))["id"] == 0


def test_tuning_refuses_zero_repeats_and_an_unknown_pair(capsys):
    import ttq_tuning

    with pytest.raises(SystemExit):
        ttq_tuning.main(["--repeats", "0"])
    assert "--repeats must be at least 1, got 0." in capsys.readouterr().err
    with pytest.raises(SystemExit):
        ttq_tuning.main(["--pairs", "cat x mosaic"])
    err = capsys.readouterr().err
    assert "['cat x mosaic'] not in time_to_quality.json" in err and "'cat x swirl'" in err
