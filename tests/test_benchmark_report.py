"""benchmarks/report.py's model-card curve: compute per stage (hours and crops), the least-squares trend of
CBSD68 PSNR against crops seen, and what reaching the target would take."""

from __future__ import annotations

import pytest

from conftest import bench_module


@pytest.fixture()
def report():
    yield from bench_module("report")


def _stage(name: str, first_step: int) -> dict:
    return {"config": {"out": f"runs/{name}", "batch_size": 8}, "first_step": first_step}


def _curve(report, monkeypatch, psnrs: dict[str, float]) -> str:
    """The curve's text for v1 (0-2500, 2 h) and v2 (2500-4500, 1 h), with the given test-set PSNRs."""
    records = [_stage("natural-v1", 0), _stage("natural-v2", 2500)]
    spans = [report.Span(0, 2500, 0.0, 2.0, 0.0, 8), report.Span(2500, 4500, 2.0, 1.0, 20000.0, 8)]
    monkeypatch.setattr(report, "stage_psnr25", lambda record: psnrs.get(report.stage_weights(record)))
    return "\n".join(report.what_it_would_take(spans, records))


def test_span_counts_hours_and_crops_pro_rata(report):
    span = report.Span(2500, 4500, 2.0, 1.0, 20000.0, 8)
    assert span.hours_at(3500) == pytest.approx(2.5) and span.crops_at(3500) == 28000
    assert span.hours_at(2000) == 2.0 and span.crops_at(4500) == 36000


def test_curve_extrapolates_in_crops_and_converts_at_the_last_stage_speed(report, monkeypatch):
    text = _curve(report, monkeypatch, {"restora-natural-v1.safetensors": 29.19,
                                        "restora-natural-v2.safetensors": 29.54})
    # slope 0.35 dB over log2(36000 / 20000) = 0.848 doublings; 0.35 dB to go is 0.848 doublings more:
    # 36000 * 1.8 = 64800 crops in all, 28800 more, at 16000 crops per hour
    assert "| `restora-natural-v2` | 3.00 | 36000 | 29.54 |" in text
    assert "+0.41 dB per doubling" in text
    assert ("about 65 k crops in all, 29 k more: 1.8 h at the last stage's speed (16.0 k crops per hour)"
            in text)


def test_curve_says_when_the_target_is_reached_or_the_trend_is_flat(report, monkeypatch):
    reached = _curve(report, monkeypatch, {"restora-natural-v1.safetensors": 29.19,
                                           "restora-natural-v2.safetensors": 29.95})
    assert "(29.89 dB) is reached: 29.95 dB" in reached
    flat = _curve(report, monkeypatch, {"restora-natural-v1.safetensors": 29.19,
                                        "restora-natural-v2.safetensors": 29.10})
    assert "0.79 dB away and the curve is not rising" in flat


def test_no_curve_without_a_measurement_of_the_last_stage(report, monkeypatch):
    assert _curve(report, monkeypatch, {"restora-natural-v1.safetensors": 29.19}) == ""


def _quality(prior: str, rows: list[tuple[str, str, float]], size: int = 256) -> dict:
    settings = {"inpaint": {"steps": 25, "lam": 1.0, "zeta": 1.0}}
    return {"meta": {"images": ["0000", "0001"], "size": size, "sigma_y": 0.05, "samples": 4,
                     "settings": {f"diffpir@{prior}": settings}, "runtime": {prior: {"dtype": "fp32"}}},
            "rows": [{"task": t, "method": m, "psnr": v, "ssim": 0.5} for t, m, v in rows]}


def test_restoration_check_sets_the_new_rows_beside_the_main_table_only_when_comparable(report, monkeypatch):
    v4 = "diffpir@restora-natural-v4"
    main = _quality("default", [("inpaint-box", "classical", 21.19), ("inpaint-box", "dpir@default", 19.0),
                                ("inpaint-box", "diffpir@default", 19.69), ("sr4", "classical", 23.7)])
    mine = _quality("restora-natural-v4", [("inpaint-box", "classical", 21.19),
                                           ("inpaint-box", "diffpir", 20.5),
                                           ("inpaint-box", "diffpir mean of 4", 21.4)])
    main["meta"]["settings"]["diffpir@default"]["sr"] = {"steps": 25, "lam": 1.0}  # a family not rerun
    monkeypatch.setattr(report, "read", lambda folder: {report.MAIN_TABLE: main, "next": mine}.get(folder))
    version = report.Version(report.WEIGHTS, 4, "restora-natural-v4", "next", ("denoise-next", "v4"), "next")
    table = [line for line in report.restoration_check(version) if line.startswith("| inpaint-box")]
    assert table == ["| inpaint-box | classical | 21.19 | 0.500 |",
                     "| inpaint-box | diffpir@default | 19.69 | 0.500 |",
                     f"| inpaint-box | {v4} | 20.50 | 0.500 |",
                     f"| inpaint-box | {v4} mean of 4 | 21.40 | 0.500 |"]
    mine["meta"]["size"] = 128
    assert "not compared" in report.restoration_check(version)[0]


def test_box_check_sets_the_bundled_rows_beside_the_classical_fill_and_the_previous_version(report,
                                                                                          monkeypatch):
    def table(rows, prior):
        data = _quality("default", rows)
        data["meta"]["environment"] = {"bundled_prior": f"{prior}.safetensors"}
        return data

    now = table([("inpaint-box", "classical", 21.19), ("inpaint-box", "diffpir@default", 20.1),
                 ("inpaint-box", "diffpir@default mean of 4", 21.3), ("sr4", "diffpir@default", 24.0)],
                report.WEIGHTS.stem)
    before = table([("inpaint-box", "classical", 21.19), ("inpaint-box", "diffpir@default", 19.69),
                    ("inpaint-box", "dpir@default", 19.0)], "restora-natural-v2")
    monkeypatch.setattr(report, "read", lambda folder: now if folder == report.MAIN_TABLE else None)
    monkeypatch.setattr(report, "read_at", lambda folder, commit: before)
    records = [_stage("natural-v1", 0), _stage("natural-v2", 2500), _stage("natural-v3", 4500)]
    spans = [report.Span(0, 2500, 0.0, 2.0, 0.0, 8), report.Span(2500, 4500, 2.0, 1.0, 20000.0, 8),
             report.Span(4500, 6500, 3.0, 1.0, 36000.0, 8)]
    card = report.box_check(report.BUNDLED, records, spans)
    table_rows = [line for line in card if line.startswith("| inpaint")]
    stem = report.WEIGHTS.stem
    assert "about 21.79 dB (bias" in "\n".join(card)
    assert not any(line.startswith("What it would take") for line in card)  # no mean of 4 before
    assert table_rows == ["| inpaint-box | - | classical | 21.19 | 0.500 |",
                          f"| inpaint-box | {stem} | diffpir@default | 20.10 | 0.500 |",
                          f"| inpaint-box | {stem} | diffpir@default mean of 4 | 21.30 | 0.500 |",
                          "| inpaint-box | restora-natural-v2 | diffpir@default | 19.69 | 0.500 |"]
    before["meta"]["size"] = 128  # other crops: no comparison
    assert report.box_check(report.BUNDLED, records, spans) == []
    before["meta"]["size"] = 256
    now["meta"]["environment"]["bundled_prior"] = "restora-natural-v2.safetensors"
    assert report.box_check(report.BUNDLED, records, spans) == []  # the main table is not yet rerun


def test_box_trend_extrapolates_each_estimate_to_the_classical_fill_in_crops_and_hours(report):
    spans = [report.Span(0, 2500, 0.0, 2.0, 0.0, 8), report.Span(2500, 5000, 2.0, 1.0, 20000.0, 8)]
    now = {"classical": 21.1, "diffpir@default": 19.7, "diffpir@default mean of 4": 20.7}
    then = {"diffpir@default": 19.7, "diffpir@default mean of 4": 20.5}
    lines = report.box_trend(now, then, ("v1", "v2"), ("diffpir@default", "diffpir@default mean of 4"), 4,
                             spans)
    rows = {line.split(" | ")[0]: line for line in lines if line.startswith("| ")}
    # 20000 -> 40000 crops is one doubling; the mean of 4 gains 0.2 dB per doubling and needs 0.4 dB more:
    # two doublings, 160000 crops in all, 120000 more at the last stage's 20000 crops per hour
    assert rows["| mean of 4"] == "| mean of 4 | 20.50 | 20.70 | +0.200 | 0.2 M | 6 |"
    assert rows["| one draw"].endswith("| +0.000 | not rising | - |")
    limit_now = report.averaging_limit(19.7, 20.7, 4)
    assert f"| {limit_now:.2f} |" in rows["| average of infinitely many (fit)"]
    assert "(0.97 dB)" in lines[-2] and "1.25 times" in lines[-2]


def test_best_of_draws_says_whether_keeping_the_better_fitting_draw_paid(report):
    def rows(one, best):
        return [{"task": "phase-retrieval", "method": "HIO", "psnr": 14.0},
                {"task": "phase-retrieval", "method": "dps@default", "psnr": one},
                {"task": "phase-retrieval", "method": "dps@default best of 2", "psnr": best}]
    assert "-0.03 dB: the residual does not tell" in report.best_of_draws(rows(13.73, 13.70))
    assert "+1.23 dB: with no ground truth" in report.best_of_draws(rows(13.39, 14.62))
    assert report.best_of_draws(rows(13.0, 13.0)[:2]) == ""
